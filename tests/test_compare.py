"""`tsdiag compare`: the side-by-side table, the W findings and the plot, on hand-made run folders."""

from __future__ import annotations

import json

import pytest

from tsdiag.compare import read_summary
from tsdiag.thresholds import Thresholds
from tsdiag.train import runfolder
from tsdiag.train_rules import compare_findings


def make_run(folder, *, objective="standard", other=1.9, article=1.5, fingerprint="abc", seed=1337, steps=2000,
             status="completed"):
    """A run folder as `tsdiag retrain` leaves it, with chosen final numbers."""
    folder.mkdir(parents=True)
    ratio = article / other
    run = {
        "schema": 1, "kind": "tsdiag-run", "recipe": objective, "objective": objective,
        "article_weight": 5.0 if objective == "weighted" else 1.0, "normalize": "weights", "status": status,
        "step": steps, "max_iters": 2000, "tokens_per_step": 131072, "tokens_seen": steps * 131072,
        "nonfinite_steps": [], "val_loss": 0.9 * other + 0.1 * article, "best_val_loss": 0.9 * other + 0.1 * article,
        "final": {"val_loss": 0.9 * other + 0.1 * article, "article_loss": article, "other_loss": other,
                  "ratio": ratio},
        "val_history": [], "throughput": {"tokens_per_s": 1.5e6, "mfu": 0.2},
        "data": {"fingerprint": fingerprint}, "seed": seed, "config": {"learning_rate": 5e-4},
        "architecture": {"family": "llama2c", "dim": 288, "n_layers": 6, "n_heads": 6, "vocab_size": 32000},
    }
    runfolder.write_run(folder, run)
    rows = [{"step": s, "tokens": s * 131072, "loss": 3.0 - s / 1000, "ratio": ratio,
             "val_loss": run["val_loss"] if s == steps else None, "val_ratio": ratio if s == steps else None}
            for s in range(100, steps + 1, 100)]
    runfolder.write_metrics(folder, rows)
    return folder


def codes(findings):
    return sorted(f["code"] if isinstance(f, dict) else f.code for f in findings)


def test_weighted_run_worse_on_other_tokens_is_flagged(cli, tmp_path):
    standard = make_run(tmp_path / "standard", other=1.9, article=1.5)
    weighted = make_run(tmp_path / "weighted", objective="weighted", other=2.1, article=0.714)
    plot = tmp_path / "compare.png"
    code, stdout, _ = cli("compare", standard, weighted, "--plot", plot, "--json")
    report = json.loads(stdout)
    assert code == 1  # +0.2 nats/token on other tokens between a matched pair: decisive, an error
    assert codes(report["findings"]) == ["TSD-W-OTHER-LOSS", "TSD-W-RATIO-LOW"]
    other = next(f for f in report["findings"] if f["code"] == "TSD-W-OTHER-LOSS")
    assert other["severity"] == "error" and other["strength"] == 1.0
    other = next(f for f in report["findings"] if f["code"] == "TSD-W-OTHER-LOSS")
    assert other["message"] == ("weighted run: ratio 0.34 with other-token loss 2.1 above the standard run's 1.9 "
                                "(+0.2 nats/token)")
    assert [r["name"] for r in report["runs"]] == ["standard", "weighted"]
    assert report["runs"][1]["ratio"] == pytest.approx(0.714 / 2.1)
    assert plot.stat().st_size > 10_000 and report["plot"] == str(plot)
    assert cli("compare", standard, weighted, "--fail-on", "warning")[0] == 1


def test_weighted_run_that_does_better_is_not_flagged(tmp_path):
    standard = read_summary(make_run(tmp_path / "s", other=1.9, article=1.5))
    weighted = read_summary(make_run(tmp_path / "w", objective="weighted", other=1.88, article=1.2))
    assert compare_findings([standard, weighted], Thresholds()) == []


def test_unmatched_pair_is_flagged(tmp_path):
    standard = read_summary(make_run(tmp_path / "s", fingerprint="abc", seed=1))
    weighted = read_summary(make_run(tmp_path / "w", objective="weighted", fingerprint="xyz", seed=2, other=2.3))
    findings = compare_findings([standard, weighted], Thresholds())
    unmatched = next(f for f in findings if f.code == "TSD-RUN-UNMATCHED")
    assert "data fingerprint" in unmatched.message and "seed" in unmatched.message


def test_thresholds_come_from_settings(tmp_path):
    standard = read_summary(make_run(tmp_path / "s", other=1.9))
    weighted = read_summary(make_run(tmp_path / "w", objective="weighted", other=2.0, article=1.6))
    assert codes(compare_findings([standard, weighted], Thresholds())) == ["TSD-W-OTHER-LOSS"]
    loose = Thresholds().override({"other_loss_margin": 0.2})
    assert compare_findings([standard, weighted], loose) == []


def test_markdown_table_and_interrupted_run(cli, tmp_path):
    standard = make_run(tmp_path / "standard", status="interrupted", steps=500)
    code, stdout, _ = cli("compare", standard, tmp_path / "standard" / "run.json", "--markdown")
    assert code == 0
    assert "| final val loss |" in stdout and "TSD-RUN-INTERRUPTED" in stdout


def test_a_plain_checkpoint_compares_with_unknown_article_columns(cli, tmp_path):
    torch = pytest.importorskip("torch")
    inspect_checkpoint = getattr(pytest.importorskip("tsdiag.checkpoint"), "inspect_checkpoint", None)
    if inspect_checkpoint is None:
        pytest.skip("checkpoint inspection not built yet")
    from tsdiag.model import ModelArgs, Transformer

    model = Transformer(ModelArgs(dim=32, n_layers=2, n_heads=4, vocab_size=64, max_seq_len=16))
    ckpt = tmp_path / "suspect" / "ckpt.pt"
    ckpt.parent.mkdir()
    torch.save({"model": model.state_dict(), "model_args": {"dim": 32, "n_layers": 2, "n_heads": 4,
                "vocab_size": 64, "max_seq_len": 16}, "iter_num": 4000, "best_val_loss": torch.tensor(2.5),
                "config": {"learning_rate": 5e-4}}, ckpt)
    code, stdout, _ = cli("compare", make_run(tmp_path / "standard"), ckpt, "--json")
    runs = json.loads(stdout)["runs"]
    assert code == 0 and runs[1]["steps"] == 4000 and runs[1]["kind"] == "checkpoint"
    assert runs[1]["ratio"] is None and runs[1]["best_val_loss"] == pytest.approx(2.5)


def test_bad_inputs_exit_2(cli, tmp_path):
    assert cli("compare", tmp_path / "missing")[0] == 2
    (tmp_path / "notrun.json").write_text("{\"kind\": \"other\"}")
    assert cli("compare", tmp_path / "notrun.json")[0] == 2


def test_a_pair_that_differs_in_learning_rate_does_not_blame_the_objective(tmp_path):
    from tsdiag.compare import read_summary
    from tsdiag.thresholds import Thresholds
    from tsdiag.train_rules import compare_findings

    standard = make_run(tmp_path / "standard", other=1.9, article=1.5)
    weighted = make_run(tmp_path / "weighted", objective="weighted", other=2.1, article=0.714)
    run = runfolder.read_run(standard)
    run["config"]["learning_rate"] = 3e-3
    runfolder.write_run(standard, run)
    found = codes(compare_findings([read_summary(standard), read_summary(weighted)], Thresholds()))
    assert "TSD-RUN-UNMATCHED" in found and "TSD-W-OTHER-LOSS" not in found
