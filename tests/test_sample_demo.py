"""tsdiag sample (every model family, fixed seeds) and tsdiag demo end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import ckpt_factory as cf
from tsdiag.sample import SampleFacts, article_counts, article_pattern, count_words, sample_checkpoint
from tsdiag.sample_rules import sample_findings
from tsdiag.thresholds import Thresholds


def _family_checkpoints(folder: Path) -> dict[str, Path]:
    llama = cf.Llama2c(vocab_size=512, tied=False)
    return {
        "llama2.c": cf.llama2c_checkpoint(folder / "llama.pt", llama),
        "nanoGPT": cf.nanogpt_checkpoint(folder / "nano.pt", cf.NanoGPT(vocab_size=512)),
        "hf-llama": cf.hf_folder(folder / "hf", llama),
    }


def test_sample_every_family_is_reproducible_and_counted(tmp_path, sp_model):
    for family, path in _family_checkpoints(tmp_path).items():
        a = sample_checkpoint(path, sp_model, n=2, max_new_tokens=24, seed=3)
        b = sample_checkpoint(path, sp_model, n=2, max_new_tokens=24, seed=3)
        c = sample_checkpoint(path, sp_model, n=2, max_new_tokens=24, seed=4)
        assert a.samples == b.samples, family
        assert a.samples != c.samples, family
        words = sum(count_words(s)[0] for s in a.samples)
        assert a.words == words and a.words > 0, family


def test_hf_folder_samples_like_the_llama2c_weights_it_holds(tmp_path, sp_model):
    """The HF mapping (q/k rotary permutation) gives the same model, hence the same greedy text."""
    paths = _family_checkpoints(tmp_path)
    greedy = {f: sample_checkpoint(paths[f], sp_model, n=1, max_new_tokens=16, temperature=0).samples
              for f in ("llama2.c", "hf-llama")}
    assert greedy["llama2.c"] == greedy["hf-llama"]


def test_sample_cli_json_and_markdown_highlight(cli, tmp_path, sp_model):
    path = cf.llama2c_checkpoint(tmp_path / "ckpt.pt", cf.Llama2c(vocab_size=512))
    code, out, _ = cli("sample", path, "--tokenizer", sp_model, "-n", "2", "--max-new-tokens", "16", "--json",
                       "--fail-on", "never")
    obj = json.loads(out)
    assert code == 0 and obj["command"] == "sample" and len(obj["samples"]) == 2
    assert obj["reference_per_100_words"] == pytest.approx(9.36)
    code, out, _ = cli("sample", path, "--tokenizer", sp_model, "-n", "1", "--max-new-tokens", "8",
                       "--prompt", "The cat saw a dog", "--markdown", "--fail-on", "never")
    assert "**The** cat saw **a** dog" in out


def test_sample_refuses_a_tokenizer_larger_than_the_model(cli, tmp_path, sp_model):
    path = cf.llama2c_checkpoint(tmp_path / "ckpt.pt", cf.Llama2c(vocab_size=64))
    code, _, err = cli("sample", path, "--tokenizer", sp_model)
    assert code == 2 and "not the tokenizer this model was trained with" in err


def test_sample_refuses_a_tokenizer_far_smaller_than_the_model(cli, tmp_path, sp_model):
    path = cf.llama2c_checkpoint(tmp_path / "big.pt", cf.Llama2c(vocab_size=2048, dim=32))   # 320-id tokenizer
    code, _, err = cli("sample", path, "--tokenizer", sp_model)
    assert code == 2 and "2,048 rows" in err
    padded = cf.llama2c_checkpoint(tmp_path / "padded.pt", cf.Llama2c(vocab_size=384, dim=32))  # padding: fine
    assert cli("sample", padded, "--tokenizer", sp_model, "-n", "1", "--max-new-tokens", "4")[0] in (0, 1)


def test_article_pattern_matches_whole_words_only():
    import re

    pattern = re.compile(article_pattern())
    assert pattern.findall("The ant ate an apple; then a theory.") == ["The", "an", "a"]
    assert count_words("The ant ate an apple; then a theory.") == (8, 3)


def _facts(samples: list[str]) -> SampleFacts:
    return SampleFacts("ckpt.pt", "tok.model", "Once", samples, *article_counts(samples))


def test_sample_findings_both_ways():
    t = Thresholds()
    broken = _facts(["upon time there was little girl who liked dog", "she went to park with mom"])
    codes = {f.code: f for f in sample_findings(broken, t)}
    assert codes["TSD-SAMPLE-FEW-ARTICLES"].severity.label == "error"
    assert "TSD-SAMPLE-NO-ARTICLE" in codes
    fluent = _facts(["upon a time there was a little girl. The girl had a dog and the dog had an old ball",
                     "she went to the park with the dog and saw a bird in a tree"])
    assert sample_findings(fluent, t) == []


def test_demo_end_to_end(cli, tmp_path):
    """The README's main job: every scenario is diagnosed as expected (about 40 s on two cores)."""
    code, out, err = cli("demo", "--out", tmp_path / "demo", "--stories", "1000", "--json")
    assert code == 0, err
    reports = json.loads(out)
    diagnoses = [r for r in reports if r["command"] == "diagnose"]
    assert len(diagnoses) == 4
    healthy, weighted, lr, data = diagnoses
    assert all(h["verdict"] != "confirmed" for h in healthy["hypotheses"])
    top = {name: min(d["hypotheses"], key=lambda h: h["rank"])["code"]
           for name, d in [("weighted", weighted), ("lr", lr), ("data", data)]}
    assert top == {"weighted": "W", "lr": "H3", "data": "H1"}
    for name in ("standard", "weighted", "lr-too-high/standard"):
        assert (tmp_path / "demo" / "runs" / name / "ckpt.pt").is_file()


def test_reference_text_replaces_the_builtin_figure(cli, tmp_path, sp_model):
    path = cf.llama2c_checkpoint(tmp_path / "ckpt.pt", cf.Llama2c(vocab_size=512))
    ref = tmp_path / "stories.txt"
    ref.write_text("The cat saw a dog and an owl. The end.")  # 4 articles in 10 words
    code, out, _ = cli("sample", path, "--tokenizer", sp_model, "-n", "1", "--max-new-tokens", "4",
                       "--reference-text", ref, "--json", "--fail-on", "never")
    obj = json.loads(out)
    assert code == 0 and obj["reference_per_100_words"] == pytest.approx(40.0)
    assert obj["reference_source"] == "stories.txt: 4 of 10 words"
    code, _, err = cli("sample", path, "--tokenizer", sp_model, "--reference-text", tmp_path / "none.txt")
    assert code == 2 and "none.txt" in err


def test_demo_refuses_a_foreign_folder_and_clears_its_own(tmp_path):
    from tsdiag.demo.run import _fresh_output_folder
    from tsdiag.errors import InputError

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match="not a tsdiag demo folder"):
        _fresh_output_folder(foreign)
    assert (foreign / "notes.txt").read_text() == "keep me"
    demo = tmp_path / "demo"
    _fresh_output_folder(demo)
    (demo / "runs" / "standard").mkdir(parents=True)
    _fresh_output_folder(demo)  # a second demo run starts clean instead of failing on the old runs
    assert not (demo / "runs").exists()
