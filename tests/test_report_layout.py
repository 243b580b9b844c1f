"""Readable at 100 columns and in CI: no cell splits a word, no line ends in spaces, diagnose opens with one
screen, Markdown folds the detail, runs are told apart by their shortest distinguishing path."""

from __future__ import annotations

import io
import json

from tsdiag.checks.interface import CheckResult
from tsdiag.diagnose import Diagnosis, decide, diagnosis_report
from tsdiag.findings import Evidence, Rule, Severity
from tsdiag.report import Report, Table, make_console, render_markdown, render_rich
from tsdiag.textfit import ELLIPSIS, column_widths, fit_line, short_names, shorten_left, wrapped_lines

LONG = "/home/someone/experiments/tinystories/run_2026_12_03_lr_sweep/checkpoints/checkpoint_epoch_1.pth"
TENSOR = "model.layers.11.self_attn.q_proj.weight"
EVIDENCE = ("val loss 3.512 nats/token (trainer_state.json: log_history[-1].eval_loss at step 1,250); "
            "the curve was still falling 0.31 nats per 1k steps over its last 20% of steps")


def _plain(reports, verbose=False) -> str:
    buffer = io.StringIO()
    render_rich(reports, make_console(buffer, plain=True), verbose=verbose)
    return buffer.getvalue()


def _words(reports) -> set[str]:
    cells = [c for r in reports for t in r.summary + r.tables for row in [t.columns, *t.rows, [t.title, t.note]]
             for c in row]
    return {w for c in cells for w in str(c).split()} | {"No", "findings.", "(--verbose", "adds", "the", "columns", "modified)"}


def _assert_no_split(text: str, words: set[str]) -> None:
    """Every token printed is a whole input word or the left-shortened tail of one ('…' + its end)."""
    for line in text.splitlines():
        for token in line.split():
            if set(token) <= set("─━-"):
                continue
            if token.startswith(ELLIPSIS):
                assert any(w.endswith(token[1:]) for w in words), token
            else:
                assert token in words, f"{token!r} is not a whole word of the table: {line!r}"


def test_shorten_left_keeps_the_distinguishing_end():
    assert shorten_left("runs/standard/ckpt.pt", 12) == "…ard/ckpt.pt"
    assert shorten_left("ckpt.pt", 12) == "ckpt.pt"
    assert len(fit_line(f"tsdiag inspect {LONG}", 60)) == 60 and fit_line(f"tsdiag inspect {LONG}", 60).startswith(
        "tsdiag inspect …")
    assert short_names(["out_a/ckpt.pt", "out_b/ckpt.pt"]) == ["out_a/ckpt.pt", "out_b/ckpt.pt"]
    assert short_names(["x/runs/a/metrics.csv", "x/runs/b/metrics.csv"]) == ["a/metrics.csv", "b/metrics.csv"]


def test_widths_fit_the_screen_and_give_room_to_the_long_column():
    columns = [["#", "1"], ["verdict", "CONFIRMED"], ["evidence", EVIDENCE]]
    widths = column_widths(columns, 90)
    assert sum(widths) <= 90
    assert widths[:2] == [1, 9]  # short columns keep one line
    assert wrapped_lines(EVIDENCE, widths[2]) == wrapped_lines(EVIDENCE, 90 - 10)  # as few lines as the room allows


def test_no_cell_splits_a_word_and_no_line_ends_in_spaces_at_100_columns():
    table = Table("Files", ["file", "step", "modified", "size", "evidence", "next action"], [
        [LONG, "1,250", "2026-12-03 17:09:19", "1.6 MB", EVIDENCE, "Retrain with a longer schedule."],
        ["trainer_state.json", "1,250", "2026-12-03 17:09:19", "12 KB", EVIDENCE, "Nothing to do."],
    ], verbose_columns=("modified",))
    tensors = Table("Per tensor", ["tensor", "shape", "dtype", "std", "verdict"],
                    [[TENSOR, "4096x4096", "bfloat16", "0.0201", "trained (std 1.15x init; spectral ratio 3.13)"]])
    report = Report("inspect", f"tsdiag inspect {LONG}", tables=[table, tensors], data={})
    for verbose in (False, True):
        text = _plain([report], verbose)
        assert max(len(line) for line in text.splitlines()) <= 100
        assert not [line for line in text.splitlines() if line != line.rstrip()]
        _assert_no_split("\n".join(text.splitlines()[1:]), _words([report]))  # the title rule is checked below
        assert TENSOR in text and "trainer_state.json" in text
        assert ("2026-12-03" in text) is verbose  # the modified column waits for --verbose
    assert "…/checkpoints/checkpoint_epoch_1.pth" in _plain([report]) or "checkpoint_epoch_1.pth" in _plain([report])
    assert "--verbose adds the columns modified" in _plain([report])
    assert len(_plain([report]).splitlines()[0]) <= 100


RULE_LR = Rule("TSD-H3-TEST-LR", "lr too high", Severity.ERROR, "why", "Lower the lr to 5e-4. Then retrain.", "H3")
RULE_STEPS = Rule("TSD-H2-TEST-SHORT", "short", Severity.WARNING, "why", "Train longer.", "H2")


def _diagnosis() -> Diagnosis:
    log = CheckResult("log", "runs/a/train.log", findings=[
        RULE_LR.finding("peak lr 0.08 is 80x the ceiling", [Evidence("peak lr", 0.08, "", "train.log: lr, step 1"),
                                                             Evidence("threshold lr_max", 0.001)], strength=1.0),
        RULE_STEPS.finding("still falling", [Evidence("slope", -2.7, "nats per 1k steps", "train.log: fit")]),
    ])
    log.measure("H5", Evidence("weight matrices at init", 0), conclusive=True)
    return Diagnosis({"log": ["runs/a/train.log"]}, [log], decide([log]))


def test_diagnose_opens_with_one_screen_of_ranked_causes():
    report = diagnosis_report(_diagnosis())
    brief = _plain([report])
    lines = brief.splitlines()
    assert len(lines) <= 25
    assert "\nRanked causes\n" in brief and "\nDecision matrix\n" not in brief
    assert "H3 wrong hyperparameters" in brief and "CONFIRMED" in brief
    assert "peak lr 0.08 (train.log: lr, step 1)" in brief  # the strongest evidence line, with its source
    assert "next: Lower the lr to 5e-4." in brief and "Then retrain" not in brief
    assert "ruled out (measured, nothing fired): H5 wrong checkpoint" in brief
    assert "--verbose adds: Inputs, Decision matrix" in brief
    full = _plain([report], verbose=True)
    assert "\nDecision matrix\n" in full and "TSD-H2-TEST-SHORT" in full and "evidence: slope -2.7" in full
    assert full.index("Ranked causes") < full.index("Decision matrix")


def test_markdown_puts_the_summary_on_top_and_the_detail_in_details():
    md = render_markdown([diagnosis_report(_diagnosis())])
    assert md.index("### Ranked causes") < md.index("<details>") < md.index("### Decision matrix")
    assert md.index("### Findings") < md.index("</details>")
    assert "<summary>Inputs, Decision matrix, Checks that ran, 2 findings with evidence and fix</summary>\n\n" in md
    inspect_like = Report("inspect", "tsdiag inspect ckpt.pt", [Table("Architecture", ["", ""], [["dim", "64"]])],
                          findings=list(_diagnosis().findings), data={})
    md = render_markdown([inspect_like])
    assert md.index("- 🔴 error `TSD-H3-TEST-LR`") < md.index("<details>") < md.index("### Architecture")


def test_compare_labels_runs_by_their_shortest_distinguishing_path(cli, tmp_path):
    import ckpt_factory as cf

    for name in ("out_a", "out_b"):
        (tmp_path / name).mkdir()
        cf.llama2c_checkpoint(tmp_path / name / "ckpt.pt", cf.Llama2c(vocab_size=64))
    code, out, _ = cli("compare", tmp_path / "out_a" / "ckpt.pt", tmp_path / "out_b" / "ckpt.pt")
    assert "out_a/ckpt.pt" in out and "out_b/ckpt.pt" in out
    code, out, _ = cli("inspect", tmp_path / "out_a" / "ckpt.pt", tmp_path / "out_b" / "ckpt.pt", "--no-health")
    header = next(line for line in out.splitlines() if "out_a/ckpt.pt" in line)
    assert "out_b/ckpt.pt" in header


def test_diagnose_json_carries_the_checkpoint_facts(cli, tmp_path):
    import ckpt_factory as cf

    ckpt = cf.llama2c_checkpoint(tmp_path / "ckpt.pt", cf.Llama2c(vocab_size=64))
    code, out, _ = cli("diagnose", "--checkpoint", ckpt, "--json", "--fail-on", "never")
    obj = json.loads(out)
    assert [c["path"] for c in obj["checkpoints"]] == [str(ckpt)]
    assert obj["checkpoints"][0]["architecture"]["vocab_size"] == 64


def test_every_reporting_command_offers_html_and_verbose(cli):
    for command in ("diagnose", "inspect", "audit-data", "logs", "compare"):
        code, out, _ = cli(command, "--help")
        assert code == 0 and "--html" in out and "--verbose" in out, command
