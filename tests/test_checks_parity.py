"""One check per input: a command and `diagnose` give the same findings on the same input, and every
hypothesis a rule can name is measured by some check (so 'ruled out' can rest on a measurement)."""

from __future__ import annotations

import inspect
import json

import pytest

import ckpt_factory as cf
from test_compare import make_run
from test_diagnose import healthy_checkpoint, llama2c_log, origin_log, shard
from tsdiag import checks
from tsdiag.findings import HYPOTHESES, Evidence, Rule, Severity, all_rules
from tsdiag.train import runfolder


def _findings(report_json: str) -> list[tuple]:
    obj = json.loads(report_json)
    reports = obj if isinstance(obj, list) else [obj]
    return sorted((f["code"], f["severity"], f["message"], f["strength"]) for r in reports for f in r["findings"])


def _without_tokenizer_check(report_json: str) -> list[tuple]:
    """diagnose's findings less those of its tokenizer check (it audits the --tokenizer it was given)."""
    codes = {c for check in json.loads(report_json)["checks"] if check["check"] == "tokenizer"
             for c in check["findings"]}
    return [f for f in _findings(report_json) if f[0] not in codes]


def test_inspect_and_diagnose_agree_on_a_checkpoint(cli, tmp_path):
    ckpt = cf.custom_trainer_checkpoint(tmp_path / "checkpoint_best_loss.pth")
    _, alone, _ = cli("inspect", ckpt, "--json")
    _, together, _ = cli("diagnose", "--checkpoint", ckpt, "--json")
    assert _findings(alone) == _findings(together) != []


def test_logs_and_diagnose_agree_on_a_log(cli, tmp_path):
    log = llama2c_log(tmp_path / "train.log", lr=5e-3, diverge=True)
    _, alone, _ = cli("logs", log, "--json")
    _, together, _ = cli("diagnose", "--log", log, "--json")
    assert _findings(alone) == _findings(together) != []


def test_logs_and_diagnose_agree_with_a_tokenizer_and_weighted_ids(cli, tmp_path, sp_model):
    log = origin_log(tmp_path / "train.log", ratio=0.3)
    args = ("--tokenizer", sp_model, "--article-ids", "5,6")
    _, alone, _ = cli("logs", log, *args, "--json")
    _, together, _ = cli("diagnose", "--log", log, *args, "--json")
    assert _findings(alone) == _without_tokenizer_check(together)
    assert "TSD-RUN-ARTICLE-IDS" in {f[0] for f in _findings(alone)}  # ids 5 and 6 are not articles


def test_audit_data_and_diagnose_agree_on_shards(cli, tmp_path, sp_model):
    bins = shard(tmp_path, sp_model, strip_articles=True)
    _, alone, _ = cli("audit-data", bins, "--tokenizer", sp_model, "--seq-len", 64, "--json")
    _, together, _ = cli("diagnose", "--data", bins, "--tokenizer", sp_model, "--seq-len", 64, "--json")
    assert _findings(alone) == _without_tokenizer_check(together) != []


def test_compare_and_diagnose_agree_on_a_run_that_went_non_finite(cli, tmp_path):
    """The bug that made this stage: compare exited 1 with an H3 error, diagnose called H3 ruled out."""
    run = make_run(tmp_path / "standard")
    record = runfolder.read_run(run)
    record["nonfinite_steps"] = [120, 121]
    runfolder.write_run(run, record)
    code_alone, alone, _ = cli("compare", run, "--json")
    code_together, together, _ = cli("diagnose", "--run", run, "--json")
    assert ("TSD-RUN-NONFINITE", "error") in {f[:2] for f in _findings(alone)}
    assert set(_findings(alone)) <= set(_findings(together))
    assert code_alone == code_together == 1
    h3 = next(h for h in json.loads(together)["hypotheses"] if h["code"] == "H3")
    assert h3["verdict"] == "confirmed"


def test_an_unreadable_input_is_one_row_not_the_end(cli, tmp_path):
    good = llama2c_log(tmp_path / "train.log", lr=5e-4, diverge=False)
    broken = tmp_path / "broken.json"
    broken.write_text("{ this is not json")
    code, out, err = cli("diagnose", "--log", good, "--log", broken, "--json")
    obj = json.loads(out)  # the whole report, with the good log diagnosed
    assert [u["input"] for u in obj["unreadable"]] == [str(broken)]
    assert obj["checks"] and obj["checks"][0]["subject"] == str(good)
    # and exit 2 with one line naming the file, as for any bad input
    assert code == 2 and err.strip().startswith("tsdiag: error:") and "broken.json" in err
    assert len(err.strip().splitlines()) == 1
    code, out, err = cli("diagnose", "--log", broken)  # nothing readable: nothing to report
    assert code == 2 and out == "" and "broken.json" in err


def test_every_hypothesis_a_rule_names_is_measured_by_some_check():
    measured = set()
    for module in checks.CHECKS.values():
        source = inspect.getsource(module)
        measured |= {h for h in HYPOTHESES if f'measure("{h}"' in source}
    named = {r.hypothesis for r in all_rules().values() if r.hypothesis}
    assert named <= measured, f"rules name {sorted(named - measured)} but no check measures them"


def test_emitted_severities_are_the_documented_ones():
    plain = Rule("TSD-H2-PLAIN", "s", Severity.WARNING, "why", "fix", "H2")
    escalating = Rule("TSD-H2-ESC", "s", Severity.WARNING, "why", "fix", "H2", escalation="far past it")
    evidence = [Evidence("x", 1)]
    with pytest.raises(ValueError, match="not documented"):
        plain.finding("m", evidence, severity=Severity.ERROR)
    assert escalating.finding("m", evidence, severity=Severity.ERROR).severity is Severity.ERROR
    for rule in all_rules().values():  # the registry documents every escalation it allows
        assert (rule.escalation is None) == (rule.severities == (rule.severity,))


@pytest.mark.parametrize("saves_every_eval", [True, False])
def test_a_checkpoint_far_behind_its_runs_log(tmp_path, saves_every_eval):
    """Every-eval savers leave their last checkpoint near the log's end; best-val-only savers may not."""
    from tsdiag.diagnose import DiagnoseInputs, diagnose

    model, optimizer, _ = cf.trained_llama(tied=True)
    ckpt = cf.llama2c_checkpoint(tmp_path / "ckpt.pt", model, optimizer=optimizer, iter_num=300, max_iters=2000,
                                 always_save_checkpoint=saves_every_eval)
    log = llama2c_log(tmp_path / "train.log", lr=5e-4, diverge=False)  # goes on to step 2,000
    d = diagnose(DiagnoseInputs(checkpoints=[ckpt], logs=[log]))
    behind = [f for f in d.findings if f.code == "TSD-H5-BEHIND-LOG"]
    if saves_every_eval:
        assert behind and behind[0].severity is Severity.ERROR and d.hypotheses[0].code == "H5"
    else:
        assert not behind


def test_each_rules_module_lists_its_rules_once():
    import importlib

    from tsdiag.findings import RULE_MODULES

    listed = [rule.code for module in RULE_MODULES for rule in importlib.import_module(module).RULES]
    assert sorted(listed) == sorted(all_rules()) and len(listed) == len(set(listed))


def test_audit_tokenizer_and_diagnose_agree_on_a_tokenizer(cli, sp_model):
    _, alone, _ = cli("audit-tokenizer", sp_model, "--json")
    _, together, _ = cli("diagnose", "--tokenizer", sp_model, "--json")
    obj = json.loads(together)
    assert _findings(alone) == _findings(together)
    assert [c["check"] for c in obj["checks"]] == ["tokenizer"]


def test_a_best_val_only_checkpoint_beaten_by_its_log(tmp_path):
    """llama2.c saves on every new best val loss: a log that later logs a better val loss means a newer file."""
    from tsdiag.diagnose import DiagnoseInputs, diagnose

    model, optimizer, _ = cf.trained_llama(tied=True)
    ckpt = cf.llama2c_checkpoint(tmp_path / "ckpt.pt", model, optimizer=optimizer, iter_num=100, best_val_loss=5.2,
                                 max_iters=600, always_save_checkpoint=False)
    lines = [f"{s} | loss {5.0 - s / 300:.4f} | lr 5.000000e-04 | 80.00ms | mfu 1.00%" for s in range(0, 601, 10)]
    lines += [f"step {s}: train loss {5.0 - s / 300:.4f}, val loss {5.2 - s / 500:.4f}" for s in range(100, 601, 100)]
    log = tmp_path / "train.log"
    log.write_text("\n".join(lines) + "\n")
    d = diagnose(DiagnoseInputs(checkpoints=[ckpt], logs=[log]))
    behind = [f for f in d.findings if f.code == "TSD-H5-BEHIND-LOG"]
    assert behind and behind[0].severity is Severity.ERROR and d.hypotheses[0].code == "H5"
