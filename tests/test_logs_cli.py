"""``tsdiag logs`` end to end: JSON keys, several files, exit codes, --plot, the Python API."""

from __future__ import annotations

import json
import math

import tsdiag
from test_logs_formats import LLAMA2C_LOG, ORIGIN_ARTICLE, PREFIX

REQUIRED_KEYS = {"schema", "command", "format", "steps", "first_loss", "last_loss", "min_loss", "still_improving",
                 "findings"}


def _healthy_log(path, steps=3000):
    """A llama2.c log that warms up, decays to lr/10 and flattens out."""
    lines = ["Overriding: vocab_size = 512"]
    for i in range(0, steps + 1, 10):
        lr = 5e-4 * min(1.0, i / 100) if i < 100 else 5e-5 + 0.5 * (1 + math.cos(math.pi * (i - 100) / (steps - 100))) * 4.5e-4
        loss = 1.3 + 4.94 * math.exp(-i / 200) + 0.01 * math.sin(i)
        lines.append(f"{i} | loss {loss:.4f} | lr {lr:e} | 80.00ms | mfu 40.00%")
        if i % 1000 == 0:
            lines.append(f"step {i}: train loss {loss:.4f}, val loss {loss + 0.05:.4f}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _weighted_log(path):
    lines = []
    for i in range(10, 1010, 10):
        lines.append(f"{PREFIX}Step {i} | Loss: {3 + 7 * math.exp(-i / 200):.4f} (↓ Improving)")
        lines.append(PREFIX + ORIGIN_ARTICLE)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_json_keys_and_a_healthy_log_passes(cli, tmp_path):
    code, out, _ = cli("logs", _healthy_log(tmp_path / "train.log"), "--json")
    assert code == 0
    obj = json.loads(out)
    assert REQUIRED_KEYS <= obj.keys()
    assert obj["command"] == "logs" and obj["format"] == "llama2c" and obj["steps"] == 3000
    assert obj["still_improving"] is False and obj["diverged"] is False
    assert obj["min_loss"] <= obj["last_loss"] < obj["first_loss"]
    assert obj["lr"]["decays_to_min_lr_ratio"] is True and obj["lr"]["warmup_steps"] == 100
    assert obj["vocab"]["size"] == 512 and obj["vocab"]["starts_fresh"] is True
    assert obj["val"]["points"] == 4 and obj["lines"]["skipped"] == 1
    assert [f["code"] for f in obj["findings"]] == ["TSD-LOG-FRESH-START"]


def test_one_json_object_per_file_and_exit_code(cli, tmp_path):
    short = tmp_path / "short.log"
    short.write_text(LLAMA2C_LOG)
    code, out, _ = cli("logs", _healthy_log(tmp_path / "a.log"), short, "--json")
    objs = json.loads(out)
    assert isinstance(objs, list) and [o["path"] for o in objs] == [str(tmp_path / "a.log"), str(short)]
    # the short log never leaves ln(512): an error, so exit 1
    assert code == 1 and "TSD-H2-LOG-AT-CHANCE" in {f["code"] for f in objs[1]["findings"]}
    code, _, _ = cli("logs", short, "--ignore", "TSD-H5", "--ignore", "TSD-H2", "--json")
    assert code == 0


def test_weighted_log_in_markdown_with_vocab(cli, tmp_path):
    code, out, _ = cli("logs", _weighted_log(tmp_path / "run.log"), "--vocab-size", "32000", "--markdown")
    assert code == 1
    assert "Loss curve" in out and "step-pipe" in out and "`TSD-W-LOG-RATIO`" in out and "ln(32,000)" in out


def test_unknown_format_is_one_line_exit_2(cli, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("just some notes\nnothing to see\n")
    code, out, err = cli("logs", path)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tsdiag: error:")
    assert all(f"{name} (" in lines[0] for name in ("llama2c", "nanogpt", "step-pipe", "hf-trainer", "csv", "jsonl"))
    code, _, err = cli("logs", path, "--format-hint", "nope")
    assert code == 2 and "unknown log format" in err


def test_format_hint_from_the_cli(cli, tmp_path):
    path = tmp_path / "evals.log"
    path.write_text("step 0: train loss 4.2, val loss 4.3\nstep 500: train loss 2.0, val loss 2.1\n"
                    "step 1000: train loss 1.5, val loss 1.6\n")
    code, out, _ = cli("logs", path, "--format-hint", "nanogpt", "--json")
    obj = json.loads(out)
    assert obj["format"] == "nanogpt" and obj["curve"] == "eval_train" and obj["val"]["last"] == 1.6


def test_plot_writes_a_png(cli, tmp_path):
    target = tmp_path / "curves.png"
    code, _, _ = cli("logs", _healthy_log(tmp_path / "a.log"), _weighted_log(tmp_path / "w.log"),
                     "--plot", target, "--fail-on", "never")
    assert code == 0
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and target.stat().st_size > 10_000
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files left


def test_python_api(tmp_path):
    curve = tsdiag.parse_log(_healthy_log(tmp_path / "train.log"))
    facts, findings = tsdiag.analyze_curve(curve, vocab_size=512)
    assert facts.format == "llama2c" and facts.last.step == 3000
    assert facts.vocab.size == 512 and facts.vocab.source == "--vocab-size / vocab_size argument"
    assert [f.code for f in findings] == ["TSD-LOG-FRESH-START"]


def test_plot_labels_tell_files_of_the_same_name_apart():
    from tsdiag.logs.plots import short_names

    assert short_names(["runs/standard/metrics.csv", "runs/weighted/metrics.csv"]) == \
        ["standard/metrics.csv", "weighted/metrics.csv"]
    assert short_names(["a.log", "b/c.log"]) == ["a.log", "c.log"]


def test_a_run_folder_is_read_through_its_metrics_csv(cli, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.csv").write_text("step,loss\n1,6.2\n2,6.0\n3,5.9\n")
    code, out, _ = cli("logs", tmp_path / "run", "--json", "--fail-on", "never")
    assert code == 0 and json.loads(out)["path"].endswith("metrics.csv")
