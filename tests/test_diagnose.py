"""tsdiag diagnose: every hypothesis both ways on real artifacts, the ranking, the JSON schema, the CI example."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ckpt_factory as cf
from data_factory import STORIES, encode_corpus
from tsdiag.diagnose import PRIORITY, Check, DiagnoseInputs, decide, diagnose
from tsdiag.findings import HYPOTHESES, Evidence, Rule, Severity
from tsdiag.tokenizer import load_tokenizer

REPO = Path(__file__).resolve().parents[1]
GOOD_CONFIG = dict(max_iters=2000, learning_rate=5e-4, min_lr=5e-5, lr_decay_iters=2000, warmup_iters=100)


def verdicts(d) -> dict[str, str]:
    return {h.code: h.verdict for h in d.hypotheses}


def first(d) -> str:
    return d.hypotheses[0].code


# ------------------------------------------------------------------ artifacts

def healthy_checkpoint(folder: Path, *, vocab_size: int = 512, name: str = "ckpt.pt", iter_num: int = 2000,
                       best_val_loss: float = 1.2) -> Path:
    model = cf.Llama2c(vocab_size=vocab_size, tied=False)
    steps = 60 if vocab_size <= 512 else 15  # a 32K output layer is slow on a CPU; 15 steps move the weights
    optimizer, _ = cf.train(model, steps, used_tokens=min(vocab_size, 512))  # every row of a 512 vocab is seen
    folder.mkdir(parents=True, exist_ok=True)
    return cf.llama2c_checkpoint(folder / name, model, optimizer=optimizer, iter_num=iter_num,
                                 best_val_loss=best_val_loss, **GOOD_CONFIG)


def llama2c_log(path: Path, *, lr: float, diverge: bool) -> Path:
    """llama2.c train.py lines; a healthy curve flattens out, a diverging one climbs after step 600."""
    lines = []
    for step in range(0, 2001, 10):
        loss = 1.2 + 5.0 * np.exp(-step / 150)
        if diverge and step > 600:
            loss = 2.0 + (step - 600) / 100
        lines.append(f"{step} | loss {loss:.4f} | lr {lr:e} | 80.00ms | mfu 1.00%")
    path.write_text("\n".join(lines) + "\n")
    return path


def origin_log(path: Path, *, ratio: float) -> Path:
    """The origin project's format, with its logging prefix: article/other loss lines after each step."""
    lines = []
    for step in range(10, 1010, 10):
        other = 2.6 + 4.0 * np.exp(-step / 200)
        lines.append(f"2025-10-26 02:12:34 - INFO - main - Step {step} | Loss: {other:.4f} (↓ Improving)")
        lines.append(f"2025-10-26 02:12:34 - INFO - main - Article Loss: {ratio * other:.2f} | "
                     f"Other Loss: {other:.2f} | Ratio: {ratio:.2f}x")
    path.write_text("\n".join(lines) + "\n")
    return path


def shard(folder: Path, tokenizer_path: Path, *, strip_articles: bool) -> Path:
    stories = STORIES
    if strip_articles:
        stories = [re.sub(r"\b(?:a|an|the)\s+", "", s, flags=re.IGNORECASE) for s in STORIES]
    path = folder / ("no_articles.bin" if strip_articles else "train.bin")
    encode_corpus(load_tokenizer(tokenizer_path), stories).tofile(path)
    return path


# ------------------------------------------------------------------ the matrix logic

def _check_with(hypothesis: str, severity: Severity | None) -> Check:
    check = Check("synthetic", "x")
    check.measure(hypothesis, Evidence("measured", 1, "", "x"))
    if severity is not None:
        rule = Rule(f"TSD-{hypothesis}-SYNTH", "s", severity, "why", "do this", hypothesis)
        check.findings.append(rule.finding("m", [Evidence("e", 1, "", "x")]))
    return check


@pytest.mark.parametrize("hypothesis", list(HYPOTHESES))
def test_decide_verdict_follows_the_strongest_finding(hypothesis):
    for severity, verdict in [(Severity.ERROR, "confirmed"), (Severity.WARNING, "likely"),
                              (Severity.INFO, "ruled_out"), (None, "ruled_out")]:
        rows = {r.code: r for r in decide([_check_with(hypothesis, severity)])}
        assert rows[hypothesis].verdict == verdict, (hypothesis, severity)
        others = [r.verdict for c, r in rows.items() if c != hypothesis]
        assert set(others) == {"not_checked"}
    row = {r.code: r for r in decide([_check_with(hypothesis, Severity.ERROR)])}[hypothesis]
    assert row.rank == 1 and row.action == "do this"
    assert row.evidence[0].name == "e"  # a confirmed row quotes its finding's evidence


def test_decide_ranks_by_verdict_then_causal_priority():
    checks = [_check_with("H4", Severity.ERROR), _check_with("H2", Severity.WARNING),
              _check_with("H1", Severity.WARNING), _check_with("H3", None)]
    rows = decide(checks)
    assert [r.code for r in rows][:3] == ["H4", "H1", "H2"]  # confirmed first, then likely by priority
    assert [r.verdict for r in rows][-1] == "ruled_out"
    assert [r.rank for r in rows] == list(range(1, 7))
    assert set(PRIORITY) == set(HYPOTHESES)


def test_not_checked_names_the_missing_input():
    rows = {r.code: r for r in decide([])}
    assert all(r.verdict == "not_checked" for r in rows.values())
    assert "--data" in rows["H1"].action and "--tokenizer" in rows["H1"].action


# ------------------------------------------------------------------ each hypothesis, both ways, on real inputs

def test_h1_article_starved_shard_is_first_and_a_healthy_shard_rules_it_out(tmp_path, sp_model):
    bad = diagnose(DiagnoseInputs(data=[shard(tmp_path, sp_model, strip_articles=True)], tokenizer=sp_model,
                                  seq_len=64))
    assert first(bad) == "H1" and verdicts(bad)["H1"] == "confirmed"
    good = diagnose(DiagnoseInputs(data=[shard(tmp_path, sp_model, strip_articles=False)], tokenizer=sp_model,
                                   seq_len=64))
    assert verdicts(good)["H1"] == "ruled_out"
    assert verdicts(good)["H2"] == "not_checked"


def test_h2_unfinished_checkpoint_and_a_finished_one(tmp_path):
    early = healthy_checkpoint(tmp_path / "a", iter_num=400, best_val_loss=2.7)
    d = diagnose(DiagnoseInputs(checkpoints=[early]))
    assert first(d) == "H2" and verdicts(d)["H2"] in ("likely", "confirmed")
    done = healthy_checkpoint(tmp_path / "b")
    assert verdicts(diagnose(DiagnoseInputs(checkpoints=[done])))["H2"] == "ruled_out"


def test_h3_too_high_lr_log_is_first_and_a_sane_log_leaves_the_recipe_open(tmp_path):
    bad = diagnose(DiagnoseInputs(logs=[llama2c_log(tmp_path / "bad.log", lr=5e-3, diverge=True)]))
    assert first(bad) == "H3" and verdicts(bad)["H3"] == "confirmed"
    good = diagnose(DiagnoseInputs(logs=[llama2c_log(tmp_path / "good.log", lr=5e-4, diverge=False)]))
    # a clean curve says nothing of dropout and the rest of the recipe: only a checkpoint or config rules H3 out
    h3 = next(h for h in good.hypotheses if h.code == "H3")
    assert h3.verdict == "not_checked" and "--config" in h3.action
    with_ckpt = diagnose(DiagnoseInputs(checkpoints=[healthy_checkpoint(tmp_path / "out")],
                                        logs=[tmp_path / "good.log"]))
    assert verdicts(with_ckpt)["H3"] == "ruled_out"


def test_h4_32k_vocabulary_is_first_and_512_rules_it_out(tmp_path):
    big = diagnose(DiagnoseInputs(checkpoints=[healthy_checkpoint(tmp_path / "big", vocab_size=32000)]))
    assert first(big) == "H4" and verdicts(big)["H4"] == "likely"  # a contributing factor: never alone an error
    small = diagnose(DiagnoseInputs(checkpoints=[healthy_checkpoint(tmp_path / "small")]))
    assert verdicts(small)["H4"] == "ruled_out"


def test_h5_early_checkpoint_beside_a_newer_one_is_first(tmp_path):
    folder = tmp_path / "out"
    early = healthy_checkpoint(folder, name="ckpt_500.pt", iter_num=500, best_val_loss=2.6)
    healthy_checkpoint(folder, name="ckpt_2000.pt", iter_num=2000, best_val_loss=1.2)
    d = diagnose(DiagnoseInputs(checkpoints=[early]))
    assert first(d) == "H5" and verdicts(d)["H5"] in ("likely", "confirmed")
    # --checkpoint-dir alone inspects the newest, which rules H5 out
    newest = diagnose(DiagnoseInputs(checkpoint_dir=folder))
    assert verdicts(newest)["H5"] == "ruled_out"


def test_h5_checkpoint_elsewhere_is_compared_with_its_checkpoint_dir(tmp_path):
    folder = tmp_path / "out"
    healthy_checkpoint(folder, name="ckpt_2000.pt", iter_num=2000, best_val_loss=1.2)
    copied = healthy_checkpoint(tmp_path / "sampling", name="model.pt", iter_num=500, best_val_loss=2.6)
    alone = diagnose(DiagnoseInputs(checkpoints=[copied]))
    assert "TSD-H5-NOT-LATEST" not in {f.code for f in alone.findings}   # nothing beside it to compare with
    d = diagnose(DiagnoseInputs(checkpoints=[copied], checkpoint_dir=folder))
    assert "TSD-H5-NOT-LATEST" in {f.code for f in d.findings} and first(d) == "H5"


def test_ignored_findings_do_not_confirm_a_hypothesis(tmp_path):
    model = cf.Llama2c(tied=False)
    optimizer, _ = cf.train(model, 0)
    path = cf.llama2c_checkpoint(tmp_path / "ckpt.pt", model, optimizer=optimizer, **GOOD_CONFIG)
    d = diagnose(DiagnoseInputs(checkpoints=[path]), ignore=["TSD-H5"])
    assert verdicts(d)["H5"] == "not_checked" and not [f for f in d.findings if f.code.startswith("TSD-H5")]


def test_h5_weights_at_init_are_confirmed(tmp_path):
    model = cf.Llama2c(tied=False)
    optimizer, _ = cf.train(model, 0)
    path = cf.llama2c_checkpoint(tmp_path / "ckpt.pt", model, optimizer=optimizer, **GOOD_CONFIG)
    d = diagnose(DiagnoseInputs(checkpoints=[path]))
    assert first(d) == "H5" and verdicts(d)["H5"] == "confirmed"


def test_w_low_article_ratio_log_and_a_balanced_one(tmp_path):
    bad = diagnose(DiagnoseInputs(logs=[origin_log(tmp_path / "weighted.log", ratio=0.34)]))
    assert verdicts(bad)["W"] in ("likely", "confirmed")
    good = diagnose(DiagnoseInputs(logs=[origin_log(tmp_path / "standard.log", ratio=0.95)]))
    # a balanced ratio is no proof the weighting did no harm: only a matched standard run can rule W out
    row = next(h for h in good.hypotheses if h.code == "W")
    assert row.verdict == "not_checked" and "matched standard run" in row.action


# ------------------------------------------------------------------ CLI and JSON

def test_json_schema(cli, tmp_path):
    log = llama2c_log(tmp_path / "bad.log", lr=5e-3, diverge=True)
    code, out, _ = cli("diagnose", "--log", log, "--json")
    assert code == 1  # an error-level finding, default --fail-on error
    obj = json.loads(out)
    assert obj["schema"] == 1 and obj["command"] == "diagnose"
    assert [h["code"] for h in sorted(obj["hypotheses"], key=lambda h: h["code"])] == sorted(HYPOTHESES)
    for h in obj["hypotheses"]:
        assert set(h) >= {"code", "verdict", "rank", "evidence", "action"}
        assert h["verdict"] in ("confirmed", "likely", "ruled_out", "not_checked")
    assert sorted(h["rank"] for h in obj["hypotheses"]) == list(range(1, 7))
    assert obj["findings"] and all({"code", "severity", "evidence"} <= set(f) for f in obj["findings"])
    assert obj["checks"][0]["check"] == "log" and obj["checks"][0]["command"] == "logs"
    assert cli("diagnose", "--log", log, "--json", "--fail-on", "never")[0] == 0


def test_no_input_and_missing_file_exit_2(cli, tmp_path):
    code, _, err = cli("diagnose")
    assert code == 2 and "nothing to diagnose" in err
    code, _, err = cli("diagnose", "--log", tmp_path / "missing.log")
    assert code == 2 and "missing.log" in err and len(err.strip().splitlines()) == 1


def test_markdown_has_the_matrix(cli, tmp_path):
    log = llama2c_log(tmp_path / "good.log", lr=5e-4, diverge=False)
    code, out, _ = cli("diagnose", "--log", log, "--markdown")
    assert code == 0 and "### Decision matrix" in out and "| H1 wrong or broken data | not checked |" in out


def test_example_ci_workflow_command_runs(tmp_path, sp_model):
    """Run the exact shell step of examples/ci/tsdiag.yml against artifacts at the paths it names."""
    import yaml

    workflow = yaml.safe_load((REPO / "examples" / "ci" / "tsdiag.yml").read_text())
    step = next(s for s in workflow["jobs"]["diagnose"]["steps"] if "tsdiag diagnose" in s.get("run", ""))
    healthy_checkpoint(tmp_path / "out")
    (tmp_path / "data" / "tok512").mkdir(parents=True)
    shutil.copy(sp_model, tmp_path / "data" / "tok512.model")
    shutil.copy(shard(tmp_path, sp_model, strip_articles=True), tmp_path / "data" / "tok512" / "train.bin")
    (tmp_path / "logs").mkdir()
    llama2c_log(tmp_path / "logs" / "train.log", lr=5e-4, diverge=False)
    summary = tmp_path / "summary.md"
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(summary),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(["bash", "-c", step["run"]], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1, done.stderr  # the article-starved shard is an error: the job fails
    text = summary.read_text()
    assert "### Decision matrix" in text and "CONFIRMED" in text and "TSD-H1-" in text


def test_two_checkpoints_evidence_names_their_folder(tmp_path):
    a = healthy_checkpoint(tmp_path / "standard", iter_num=2000, best_val_loss=1.2)
    b = healthy_checkpoint(tmp_path / "weighted", iter_num=2000, best_val_loss=2.4)
    d = diagnose(DiagnoseInputs(checkpoints=[a, b]))
    measured = [e for c in d.checks for m in c.measured.get("H2", []) for e in m.evidence if e.name == "val loss"]
    assert {e.source.split("/")[0] for e in measured} == {"standard", "weighted"}
