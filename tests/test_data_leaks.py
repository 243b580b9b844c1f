"""Train/val leaks and repeated stories (tsdiag.data.leaks) on shards in llama2.c's and nanoGPT's formats,
written from the real TinyStories text by llama2.c's pretokenize convention (BOS 1 before each story)."""

from __future__ import annotations

import json
import shutil

import pytest

from anchor_runs import ac, need_shared
from tsdiag.data.leaks import resolve_splits


@pytest.fixture
def stories():
    need_shared()
    return ac.read_stories(ac.TRAIN_TEXT)


def test_llama2c_first_shard_that_holds_training_stories_is_a_leak(cli, tmp_path, sp_model, stories):
    folder = tmp_path / "tok"
    ac.write_llama2c_shards(folder, sp_model, stories[:120], stories[:20])     # val = 20 training stories
    code, out, _ = cli("audit-data", folder, "-t", sp_model, "--seq-len", "64", "--json", "--fail-on", "error")
    obj = json.loads(out)
    assert obj["splits"]["how"].startswith("llama2.c") and obj["splits"]["val"][0].endswith("data00.bin")
    assert obj["splits"]["val_stories_in_train"] == obj["splits"]["val_stories"] == 20
    leak = next(f for f in obj["findings"] if f["code"] == "TSD-H1-VAL-LEAK")
    assert leak["severity"] == "error" and leak["hypothesis"] == "H1" and code == 1


def test_a_clean_split_and_nanogpt_val_bin(cli, tmp_path, sp_model, stories):
    folder = tmp_path / "tok"
    ac.write_llama2c_shards(folder, sp_model, stories[:120], stories[120:140])
    code, out, _ = cli("audit-data", folder / "data01.bin", folder / "data02.bin", "-t", sp_model,
                       "--seq-len", "64", "--json")
    obj = json.loads(out)   # only the training shards named: the folder's first shard is still val
    assert obj["splits"]["val"][0].endswith("data00.bin") and obj["splits"]["val_stories_in_train"] == 0
    assert not {f["code"] for f in obj["findings"]} & {"TSD-H1-VAL-LEAK", "TSD-H1-DUPLICATE-STORIES"}
    nano = tmp_path / "nano"
    nano.mkdir()
    shutil.copyfile(folder / "data01.bin", nano / "train.bin")
    shutil.copyfile(folder / "data01.bin", nano / "val.bin")           # val.bin copied from train
    splits = resolve_splits([nano / "train.bin"], None, "nanogpt")
    assert splits is not None and splits.how.startswith("nanoGPT")
    _, out, _ = cli("audit-data", nano / "train.bin", "--layout", "nanogpt", "--seq-len", "64", "--json",
                    "-t", sp_model, "--fail-on", "never")
    obj = json.loads(out)
    assert obj["splits"]["val_leak_share"] == 1.0 and obj["splits"]["val_windows_in_train"] > 0
    assert obj["splits"]["separator_source"].endswith("BOS/EOS id")


def test_repeated_stories_that_are_not_window_aligned(cli, tmp_path, sp_model, stories):
    folder = tmp_path / "tok"
    # the same 30 stories twice, after one odd story: the copies sit at other window offsets
    ac.write_llama2c_shards(folder, sp_model, stories[:1] + stories[1:31] + stories[1:31], stories[200:210],
                            n_train_shards=1)
    _, out, _ = cli("audit-data", folder, "-t", sp_model, "--seq-len", "64", "--json", "--fail-on", "never")
    obj = json.loads(out)
    codes = {f["code"] for f in obj["findings"]}
    assert obj["splits"]["train_repeated_stories"] == 30 and "TSD-H1-DUPLICATE-STORIES" in codes


def test_explicit_val_and_skipped_stories_are_said(cli, tmp_path, sp_model, stories):
    import numpy as np

    train, val = tmp_path / "a.bin", tmp_path / "b.bin"
    np.arange(2, 300, dtype=np.uint16).tofile(train)          # no separator anywhere
    np.arange(2, 300, dtype=np.uint16).tofile(val)
    _, out, _ = cli("audit-data", train, "--val", val, "--layout", "nanogpt", "--seq-len", "32", "--markdown",
                    "--fail-on", "never")
    assert "stories not compared: no --tokenizer and no GPT-2" in out and "--val" in out
    _, out, _ = cli("audit-data", train, "--layout", "nanogpt", "--seq-len", "32", "--markdown", "--fail-on", "never")
    assert "Train/val leaks not checked" in out


def test_a_char_vocabulary_compares_windows_only(cli, tmp_path, stories):
    """nanoGPT's char data: no separator id exists, and lines of real text recur across a 90/10 split."""
    from anchor_runs import nanogpt_char_data

    data = nanogpt_char_data(tmp_path / "nano")
    _, out, _ = cli("audit-data", data / "train.bin", "--layout", "nanogpt", "-t", data / "meta.pkl",
                    "--seq-len", "64", "--json", "--fail-on", "never")
    obj = json.loads(out)
    assert obj["splits"]["skipped"].startswith("stories not compared") and obj["splits"]["val_windows"] > 0
    assert "TSD-H1-VAL-LEAK" not in {f["code"] for f in obj["findings"]}
