"""Tiny artifacts for the data/tokenizer tests: stories, tokenizers, shards of every kind.

Everything is built from text written here.  Tokenizers are trained once per
test session (module-level cache keyed by the session's temp folder) because
a sentencepiece training run is the slowest step of these tests.
"""

from __future__ import annotations

import pickle
import random
import re
import string
from pathlib import Path

import numpy as np
import pytest

ARTICLES = ("a", "an", "the")

_SUBJECTS = ["the cat", "a dog", "an owl", "the little girl", "a boy named Tom", "the old man", "an apple tree",
             "The sun", "A bird", "An ant", "Lily", "Tom and Mia", "the other kids", "their mother"]
_VERBS = ["saw", "found", "liked", "wanted", "took", "gave them", "played with", "ran to", "looked at", "made"]
_OBJECTS = ["a ball", "an egg", "the park", "the ant hill", "another toy", "a big red box", "an animal",
            "the theater", "them", "a banana", "the sea", "an idea", "anything", "the anthem", "a hat"]
_ENDINGS = [".", "!", ".", ". Then they smiled.", ", and it was fun.", ". \"The end,\" said Mom.",
            ". There was an answer.", ". They ate 12 apples."]


def make_stories(n: int = 60, seed: int = 7) -> list[str]:
    """Short stories with articles as words, articles inside words (another, theater, anthem), and case."""
    rng = random.Random(seed)
    stories = []
    for _ in range(n):
        sentences = []
        for _ in range(rng.randint(3, 6)):
            s = f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}{rng.choice(_ENDINGS)}"
            sentences.append(s[0].upper() + s[1:])
        text = " ".join(sentences)
        if rng.random() < 0.3:
            text = text.replace(". ", ".\n", 1)
        stories.append("Once upon a time, " + text[0].lower() + text[1:])
    return stories


STORIES = make_stories()


def count_article_words(text: str, words=ARTICLES) -> int:
    """Independent word-level count: letter runs of the text equal to an article (any case)."""
    wanted = {w.lower() for w in words}
    return sum(1 for w in re.findall(r"[^\W\d_]+", text) if w.lower() in wanted)


def count_words(text: str) -> int:
    return len(re.findall(r"[^\W\d_]+", text))


_CACHE: dict[str, Path] = {}


def _cached(name: str, factory, build):
    if name not in _CACHE or not _CACHE[name].exists():
        folder = factory.mktemp(name)
        _CACHE[name] = build(folder)
    return _CACHE[name]


def build_sp_model(folder: Path, vocab_size: int = 320, stories=STORIES) -> Path:
    """A sentencepiece BPE model trained the llama2.c way (byte fallback, digits split)."""
    import sentencepiece as spm

    prefix = folder / f"sp{vocab_size}"
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(stories * 3), model_prefix=str(prefix), model_type="bpe", vocab_size=vocab_size,
        byte_fallback=True, split_digits=True, character_coverage=1.0, normalization_rule_name="identity",
        allow_whitespace_only_pieces=True, unk_surface=r" \342\201\207 ", hard_vocab_limit=False,
        num_threads=1, minloglevel=2,
    )
    return prefix.with_suffix(".model")


def build_hf_json(folder: Path, stories=STORIES) -> Path:
    """A byte-level BPE tokenizer.json (GPT-2 style, ``<|endoftext|>`` as its only special token)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(stories, trainer=trainer)
    path = folder / "tokenizer.json"
    tok.save(str(path))
    return path


def build_char_meta(folder: Path, stories=STORIES) -> Path:
    chars = sorted(set("".join(stories)) | set(string.ascii_letters + string.digits + string.punctuation + " \n"))
    meta = {"vocab_size": len(chars), "itos": dict(enumerate(chars)), "stoi": {c: i for i, c in enumerate(chars)}}
    path = folder / "meta.pkl"
    path.write_bytes(pickle.dumps(meta))
    return path


@pytest.fixture
def sp_model(tmp_path_factory) -> Path:
    return _cached("sp_model", tmp_path_factory, build_sp_model)


@pytest.fixture
def hf_json(tmp_path_factory) -> Path:
    return _cached("hf_json", tmp_path_factory, build_hf_json)


@pytest.fixture
def char_meta(tmp_path_factory) -> Path:
    return _cached("char_meta", tmp_path_factory, build_char_meta)


def encode_corpus(tokenizer, stories=STORIES, dtype=np.uint16) -> np.ndarray:
    """Stories as one token stream with a BOS per story (llama2.c pretokenize), EOS when there is no BOS."""
    ids: list[int] = []
    for s in stories:
        if tokenizer.bos_id is not None:
            ids += tokenizer.encode(s, bos=True)
        elif tokenizer.eos_id is not None:
            ids += tokenizer.encode(s, eos=True)
        else:
            ids += tokenizer.encode(s)
    return np.asarray(ids, dtype=dtype)


def write_shard(folder: Path, kind: str, tokenizer, stories=STORIES, name: str = "shard") -> Path:
    """``stories`` as a shard of ``kind``; token kinds hold exactly :func:`encode_corpus`'s stream."""
    import json

    ids = encode_corpus(tokenizer, stories)
    per_story = [encode_corpus(tokenizer, [s]) for s in stories]
    if kind == "bin":
        path = folder / f"{name}.bin"
        ids.astype(np.uint16).tofile(path)
    elif kind == "bin32":
        path = folder / f"{name}.bin"
        ids.astype(np.uint32).tofile(path)
    elif kind == "npy":
        path = folder / f"{name}.npy"
        np.save(path, ids.astype(np.int32))
    elif kind == "pt":
        import torch

        path = folder / f"{name}.pt"
        torch.save({"tokens": torch.from_numpy(ids.astype(np.int64))}, path)
    elif kind in ("parquet", "arrow"):
        import pyarrow as pa

        table = pa.table({"input_ids": [p.tolist() for p in per_story], "text": stories})
        if kind == "parquet":
            import pyarrow.parquet as pq

            path = folder / f"{name}.parquet"
            pq.write_table(table, path, row_group_size=7)
        else:
            path = folder / f"{name}.arrow"
            with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
                writer.write_table(table, max_chunksize=9)
    elif kind == "jsonl_ids":
        path = folder / f"{name}.jsonl"
        path.write_text("".join(json.dumps({"input_ids": p.tolist()}) + "\n" for p in per_story))
    elif kind == "jsonl_text":
        path = folder / f"{name}.jsonl"
        path.write_text("".join(json.dumps({"text": s}) + "\n" for s in stories))
    elif kind == "json_story":
        path = folder / f"{name}.json"
        path.write_text(json.dumps([{"story": s, "instruction": {}} for s in stories]))
    elif kind == "txt":
        path = folder / f"{name}.txt"
        path.write_text("".join(s + "\n<|endoftext|>\n" for s in stories))
    else:
        raise ValueError(kind)
    return path


SHARD_KINDS = ("bin", "bin32", "npy", "pt", "parquet", "arrow", "jsonl_ids", "jsonl_text", "json_story", "txt")
