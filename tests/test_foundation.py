"""Findings, thresholds, reports and the CLI conventions every command shares."""

from __future__ import annotations

import json

import pytest

from tsdiag.errors import InputError
from tsdiag.findings import Evidence, Rule, Severity, exit_code, select_findings, sort_findings
from tsdiag.report import Report, Table, make_console, render_json, render_markdown, render_rich
from tsdiag.thresholds import Thresholds, load_thresholds

RULE_A = Rule("TSD-H4-TEST", "a test rule", Severity.WARNING, "why", "fix it", "H4")
RULE_B = Rule("TSD-H2-TEST", "another", Severity.ERROR, "why", "train longer", "H2")


def _finding(rule=RULE_A, **kw):
    return rule.finding("message", [Evidence("vocab_size", 32000, "tokens", "ckpt.pt: model_args")], **kw)


def test_finding_requires_evidence():
    with pytest.raises(ValueError):
        RULE_A.finding("no evidence", [])


def test_finding_defaults_and_overrides():
    f = _finding()
    assert f.severity is Severity.WARNING and f.fix == "fix it" and f.hypothesis == "H4"
    with pytest.raises(ValueError, match="not documented"):
        _finding(severity=Severity.ERROR)  # a rule emits only the severities it documents
    assert f.strength == 0.5  # a warning without a measured strength
    g = RULE_B.finding("m", [Evidence("x", 1)], fix="other")
    assert g.fix == "other"
    assert str(f.evidence[0]) == "vocab_size 32,000 tokens (ckpt.pt: model_args)"


def test_select_ignore_prefixes():
    fs = [_finding(), _finding(RULE_B)]
    assert [f.code for f in select_findings(fs, select=["TSD-H4"])] == ["TSD-H4-TEST"]
    assert [f.code for f in select_findings(fs, ignore=["TSD-H4-"])] == ["TSD-H2-TEST"]
    assert select_findings(fs, select=["TSD-H"]) == []  # a prefix must end at a dash boundary
    assert [f.code for f in sort_findings(fs)] == ["TSD-H2-TEST", "TSD-H4-TEST"]


def test_exit_code_policy():
    fs = [_finding()]  # one warning
    assert exit_code(fs, Severity.ERROR) == 0
    assert exit_code(fs, Severity.WARNING) == 1
    assert exit_code(fs, None) == 0
    assert exit_code([], Severity.INFO) == 0


def test_thresholds_override_from_pyproject(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.tsdiag.thresholds]\nval_loss_high = 2.5\nvocab_reference = 8000\n")
    t = load_thresholds(search_from=tmp_path)
    assert t.val_loss_high == 2.5 and t.vocab_reference == 8000 and isinstance(t.vocab_reference, int)
    assert t.lr_max == Thresholds().lr_max


def test_thresholds_unknown_key_is_an_input_error(tmp_path):
    p = tmp_path / "pyproject.toml"
    p.write_text("[tool.tsdiag.thresholds]\nval_los_high = 2.5\n")
    with pytest.raises(InputError, match="unknown threshold 'val_los_high'"):
        load_thresholds(p)
    p.write_text("[tool.tsdiag.thresholds]\nval_loss_high = 'x'\n")
    with pytest.raises(InputError, match="must be a number"):
        load_thresholds(p)


def test_every_threshold_documents_unit_and_reason():
    for name, default, unit, why in Thresholds.fields_doc():
        assert unit and len(why) > 20, name


def _report():
    return Report(
        command="demo",
        title="demo report",
        tables=[Table("facts", ["key", "value"], [["vocab", "32,000"], ["pipe|cell", "x"]])],
        findings=[_finding(), _finding(RULE_B)],
        data={"vocab_size": 32000, "loss": float("nan")},
    )


def test_render_json_is_versioned_and_valid():
    obj = json.loads(render_json([_report()]))
    assert obj["schema"] == 1 and obj["command"] == "demo" and obj["vocab_size"] == 32000
    assert obj["loss"] == "nan"  # never invalid JSON
    assert [f["code"] for f in obj["findings"]] == ["TSD-H2-TEST", "TSD-H4-TEST"]
    assert obj["findings"][0]["evidence"][0]["source"] == "ckpt.pt: model_args"
    two = json.loads(render_json([_report(), _report()]))
    assert isinstance(two, list) and len(two) == 2


def test_render_markdown_escapes_and_lists_findings():
    md = render_markdown([_report()])
    assert "## demo report" in md and "pipe\\|cell" in md
    assert "`TSD-H2-TEST`" in md and "error" in md


def test_equal_findings_about_two_subjects_name_their_subject(tmp_path):
    two = Report(command="demo", title="two runs", findings=[_finding(subject="runs/a"), _finding(subject="runs/b")],
                 data={})
    md = render_markdown([two])
    assert "runs/a: message" in md and "runs/b: message" in md
    one = Report(command="demo", title="one run", findings=[_finding(subject="runs/a")], data={})
    assert "runs/a: message" not in render_markdown([one])
    path = tmp_path / "out.txt"
    with open(path, "w") as fh:
        render_rich([two], make_console(fh, plain=True))
    assert "runs/b: message" in path.read_text()


def test_render_rich_without_terminal_is_plain(tmp_path):
    path = tmp_path / "out.txt"
    with open(path, "w") as fh:
        render_rich([_report()], make_console(fh, plain=True))
    text = path.read_text()
    assert "\x1b[" not in text  # no colour or cursor codes in files/CI logs
    assert "TSD-H4-TEST" in text and "evidence: vocab_size 32,000 tokens" in text
    assert max(len(line) for line in text.splitlines()) <= 100


def test_cli_version_help_and_rules(cli):
    code, out, _ = cli("--version")
    assert code == 0 and out.startswith("tsdiag ")
    code, out, _ = cli("--help")
    assert code == 0 and "rules" in out


def test_cli_unknown_rule_is_one_line_exit_2(cli):
    code, out, err = cli("rules", "TSD-NOPE")
    assert code == 2
    assert err.strip().startswith("tsdiag: error: TSD-NOPE") and len(err.strip().splitlines()) == 1


def test_atomic_write_replaces_whole_file_with_normal_permissions(tmp_path):
    import os

    from tsdiag.fileio import atomic_path, write_text_atomic

    target = tmp_path / "report.json"
    write_text_atomic(target, "first")
    assert target.read_text() == "first"
    mask = os.umask(0)
    os.umask(mask)
    assert (target.stat().st_mode & 0o777) == (0o666 & ~mask)
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "first"  # the old file survives a failed write
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temp file left behind


def test_docs_findings_md_is_generated_from_the_registry(cli):
    """docs/findings.md documents every code; regenerate with `tsdiag rules --format markdown`."""
    import re
    from pathlib import Path

    from tsdiag.findings import all_rules

    rules = all_rules()
    assert len(rules) > 30
    for code, rule in rules.items():
        assert re.fullmatch(r"TSD-[A-Z0-9]+(-[A-Z0-9]+)+", code), code
        assert rule.summary[0].isupper() and not rule.summary.endswith("."), code
        assert len(rule.why) > 30 and len(rule.fix) > 15, code
    code, out, _ = cli("rules", "--format", "markdown")
    doc = Path(__file__).resolve().parents[1] / "docs" / "findings.md"
    assert code == 0 and doc.read_text() == out, "docs/findings.md is stale: tsdiag rules --format markdown > docs/findings.md"


def test_rules_explains_one_code(cli):
    code, out, _ = cli("rules", "TSD-H4-VOCAB")
    assert code == 0 and "why it matters" in out and "llama2.c" in out


def test_public_api_names_resolve():
    import tsdiag

    for name in tsdiag._LAZY_API:
        assert callable(getattr(tsdiag, name)), name
        assert callable(getattr(tsdiag, name)), name  # still the function once its module is imported
    with pytest.raises(AttributeError):
        tsdiag.not_a_thing


def test_rules_markdown_flag_matches_format_markdown(cli):
    assert cli("rules", "--markdown")[1] == cli("rules", "--format", "markdown")[1]
    assert json.loads(cli("rules", "--json")[1])["tsdiag_version"]
