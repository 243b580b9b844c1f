"""Degenerate generated text (loops, repeated 4-grams, too many articles) and control bytes in samples."""

from __future__ import annotations

import json
import re

import pytest

from tsdiag.sample import SampleFacts, article_counts
from tsdiag.sample_rules import sample_findings
from tsdiag.sample_text import escape_controls, longest_loop, repetition, words_of
from tsdiag.thresholds import Thresholds


def _facts(samples: list[str]) -> SampleFacts:
    return SampleFacts("ckpt.pt", "tok.model", "Once", samples, *article_counts(samples))


def test_loops_and_repeats_are_measured():
    assert longest_loop(words_of("and and and then")) == (3, "and")
    assert longest_loop(words_of("x a b a b a y")) == (5, "a b")
    assert longest_loop(words_of("one two three")) == (0, "")
    rep = repetition(["the cat the cat the cat the cat", "the cat the cat the cat the cat", "a dog ran"])
    assert rep.words == 11   # the identical copy counts once
    assert rep.repeated_ngram_share == pytest.approx(3 / 5)
    assert rep.longest_loop_words == 8 and rep.loop_unit == "the cat" and rep.loop_sample == 1
    assert rep.distinct_1 == pytest.approx(5 / 11)
    assert repetition([" " * 100]).longest_loop_chars == 100


def test_real_stories_are_not_degenerate(shared_data):
    """The thresholds hold on real TinyStories text cut like samples (about 100 words, 8 at a time)."""
    text = (shared_data / "tinystories" / "valid_excerpt_stories.txt").read_text(encoding="utf-8")
    words = text.replace("<|endoftext|>", " ").split()
    chunks = [" ".join(words[i:i + 100]) for i in range(0, len(words) - 100, 100)]
    assert len(chunks) >= 16
    for start in range(0, len(chunks) - 8, 8):
        codes = {f.code for f in sample_findings(_facts(chunks[start:start + 8]), Thresholds())}
        assert not codes & {"TSD-SAMPLE-REPETITIVE", "TSD-SAMPLE-MANY-ARTICLES"}, start


def test_too_many_articles_is_a_symptom():
    looping = _facts(["the the the to the the and the the a the " * 6])
    codes = {f.code: f for f in sample_findings(looping, Thresholds())}
    assert codes["TSD-SAMPLE-MANY-ARTICLES"].severity.label == "error"
    assert codes["TSD-SAMPLE-REPETITIVE"].severity.label == "error"
    assert "TSD-SAMPLE-FEW-ARTICLES" not in codes


def test_greedy_nanogpt_char_model_loops(cli, tmp_path):
    """nanoGPT's own train.py, 200 steps on real stories (char level): greedy text is one word looping."""
    from anchor_runs import nanogpt_char_run

    run = nanogpt_char_run(tmp_path / "nano")
    args = ("sample", run / "out" / "ckpt.pt", "--tokenizer", run / "data" / "c" / "meta.pkl", "-n", "2",
            "--temperature", "0", "--max-new-tokens", "200", "--fail-on", "never")
    code, out, _ = cli(*args, "--json")
    obj = json.loads(out)
    assert code == 0 and obj["distinct_samples"] == 1 and len(obj["samples"]) == 2
    found = {f["code"]: f for f in obj["findings"]}
    assert found["TSD-SAMPLE-REPETITIVE"]["severity"] == "error", obj["samples"][0]
    loop = obj["repetition"]["longest_loop_words"] or obj["repetition"]["longest_loop_chars"]
    assert loop >= 24


def test_control_bytes_are_escaped_in_text_but_kept_in_json(cli, tmp_path, sp_model, monkeypatch):
    import ckpt_factory as cf
    import tsdiag.sample as sample_module

    raw = " a cat\x1b[31m saw\x07 a\x00 dog"
    monkeypatch.setattr(sample_module, "generate", lambda *a, **k: [raw])
    path = cf.llama2c_checkpoint(tmp_path / "ckpt.pt", cf.Llama2c(vocab_size=512))
    base = ("sample", path, "--tokenizer", sp_model, "-n", "1", "--fail-on", "never")
    for fmt in ((), ("--markdown",)):
        _, out, _ = cli(*base, *fmt)
        assert not re.search(r"[\x00\x07\x1b]", out)
        assert r"\x1b[31m" in out and r"\x07" in out and r"\x00" in out
    _, out, _ = cli(*base, "--json")
    assert json.loads(out)["samples"] == [raw]
    assert escape_controls("a\tb\nc\x7f") == "a\tb\nc\\x7f"


def test_identical_greedy_samples_are_shown_once(cli, tmp_path, sp_model, monkeypatch):
    import ckpt_factory as cf
    import tsdiag.sample as sample_module

    monkeypatch.setattr(sample_module, "generate", lambda *a, **k: [" a cat sat"] * 3)
    path = cf.llama2c_checkpoint(tmp_path / "ckpt.pt", cf.Llama2c(vocab_size=512))
    _, out, _ = cli("sample", path, "--tokenizer", sp_model, "-n", "3", "--temperature", "0", "--markdown",
                    "--fail-on", "never")
    assert "| 1 (x3) |" in out and "identical samples are shown once (greedy" in out
    assert out.count("cat sat") == 1
