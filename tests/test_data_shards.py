"""Shard readers: every kind gives back the same token stream; bad files are one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
from data_factory import SHARD_KINDS, STORIES, encode_corpus, write_shard

from tsdiag.data.shards import expand_paths, load_token_array, open_sources
from tsdiag.errors import InputError, UnsafeInputError
from tsdiag.tokenizer import load_tokenizer


@pytest.fixture
def tok(sp_model):
    return load_tokenizer(sp_model)


@pytest.mark.parametrize("kind", SHARD_KINDS)
def test_every_kind_reads_the_same_stream(kind, tok, tmp_path):
    path = write_shard(tmp_path, kind, tok)
    expected = encode_corpus(tok)
    dtype = "uint32" if kind == "bin32" else "uint16"
    got = load_token_array(path, dtype=dtype, tokenizer=tok)
    assert got.tolist() == expected.tolist()
    sources = open_sources([path], dtype=dtype, tokenizer=tok, workdir=tmp_path)
    assert len(sources) == 1 and sources[0].tokens == expected.size
    assert sources[0].open().tolist() == expected.tolist()


def test_flat_files_stay_memory_mapped(tok, tmp_path):
    assert isinstance(load_token_array(write_shard(tmp_path, "bin", tok), tokenizer=tok), np.memmap)
    assert isinstance(load_token_array(write_shard(tmp_path, "npy", tok), tokenizer=tok), np.memmap)


def test_hf_dataset_folder(tok, tmp_path):
    datasets = pytest.importorskip("datasets")
    per_story = [encode_corpus(tok, [s]).tolist() for s in STORIES]
    datasets.Dataset.from_dict({"input_ids": per_story}).save_to_disk(str(tmp_path / "ds"))
    assert load_token_array(tmp_path / "ds").tolist() == encode_corpus(tok).tolist()
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": STORIES})}).save_to_disk(str(tmp_path / "dd"))
    assert load_token_array(tmp_path / "dd", tokenizer=tok).tolist() == encode_corpus(tok).tolist()


def test_globs_folders_and_concatenation(tok, tmp_path):
    a = write_shard(tmp_path, "bin", tok, STORIES[:10], name="data00")
    b = write_shard(tmp_path, "bin", tok, STORIES[10:20], name="data01")
    assert expand_paths([tmp_path / "data*.bin"]) == [a, b]
    assert expand_paths([tmp_path]) == [a, b]
    both = load_token_array([str(tmp_path / "data*.bin")])
    assert both.tolist() == encode_corpus(tok, STORIES[:20]).tolist()


def test_text_column_choice(tok, tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"body": "A cat sat."}\n')
    with pytest.raises(InputError, match="no 'input_ids' or 'text' column .*body"):
        load_token_array(path, tokenizer=tok)
    assert load_token_array(path, tokenizer=tok, text_column="body").tolist() == encode_corpus(tok, ["A cat sat."]).tolist()
    with pytest.raises(InputError, match="pass --tokenizer"):
        load_token_array(path, text_column="body")
    by_path = load_token_array(path, tokenizer=str(tok.path), text_column="body")
    assert by_path.tolist() == encode_corpus(tok, ["A cat sat."]).tolist()


def test_bad_inputs(tmp_path):
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty.bin: empty file"):
        load_token_array(empty)
    with pytest.raises(InputError, match="no such file"):
        load_token_array(tmp_path / "nope.bin")
    with pytest.raises(InputError, match="pattern matches no files"):
        expand_paths([str(tmp_path / "*.parquet")])
    odd = tmp_path / "odd.bin"
    odd.write_bytes(b"\x01\x00\x02")
    (source,) = open_sources([odd])
    assert source.tokens == 1 and source.trailing_bytes == 1
    floats = tmp_path / "f.npy"
    np.save(floats, np.ones(4, dtype=np.float32))
    with pytest.raises(InputError, match="float32 values, not integer token ids"):
        load_token_array(floats)
    pickled = tmp_path / "obj.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="obj.npy"):
        load_token_array(pickled)
    garbage = tmp_path / "g.parquet"
    garbage.write_bytes(b"definitely not parquet")
    with pytest.raises(InputError, match="g.parquet"):
        load_token_array(garbage)
    (tmp_path / "x.unknown").write_bytes(b"12")
    with pytest.raises(InputError, match="unknown shard kind"):
        load_token_array(tmp_path / "x.unknown")


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


def test_pt_needs_no_unpickling(tmp_path):
    import torch

    evil = tmp_path / "evil.pt"
    torch.save({"tokens": torch.arange(4), "x": _Evil()}, evil)
    with pytest.raises(UnsafeInputError):
        load_token_array(evil)
    floats = tmp_path / "f.pt"
    torch.save(torch.ones(3), floats)
    with pytest.raises(InputError, match="not integer token ids"):
        load_token_array(floats)
