"""Cross-checks (``diagnose`` only): what no single input can say, from a checkpoint and its run's log.

A checkpoint far behind the log of its own run is not the run's end: the user is looking at an
earlier state than the run reached (H5), which neither the checkpoint nor the log shows alone.
"""

from __future__ import annotations

from tsdiag.checks.interface import CheckResult, sourced_evidence
from tsdiag.findings import Evidence, Severity, define_rule, format_value
from tsdiag.thresholds import Thresholds

NAME = "crosscheck"
COMMAND = None  # needs a checkpoint and a log together: diagnose only

BEHIND_LOG = define_rule(
    "TSD-H5-BEHIND-LOG",
    "The checkpoint is far behind the log of its run: it is not the state the run ended in",
    Severity.WARNING,
    escalation="the log reaches at least twice the checkpoint's step and ends at a lower loss, or logs a val loss "
               "below the checkpoint's after its step",
    why=("A trainer that saves at every evaluation leaves its last checkpoint near the log's last step; one that "
         "saves only on a new best val loss (llama2.c by default, nanoGPT with always_save_checkpoint=False) "
         "saves again whenever the logged val loss improves. A checkpoint far behind the log, or with a val loss "
         "the log later beat, is an earlier state (a copy made mid-run, a stale file, a resumed run saved "
         "elsewhere): judging the run by it shows an undertrained model. A best-only saver's checkpoint that is "
         "older than an overfitting run's end is its best one, and is left alone."),
    fix="Find the checkpoint the run wrote at its last evaluation (its out_dir, or a later copy) and use it.",
    hypothesis="H5",
)
RULES = (BEHIND_LOG,)


def run(inspection, curve_facts, *, thresholds: Thresholds) -> CheckResult:
    """Compare one checkpoint with one log believed to be its run's (same vocabulary when both say)."""
    t = thresholds
    check = CheckResult(NAME, f"{inspection.path} vs {curve_facts.path}")
    step = inspection.training.step
    if step is None or not isinstance(step.value, (int, float)):
        return check
    best_only = inspection.hyperparameters.get("always_save_checkpoint")
    last = curve_facts.last.step
    evidence = [sourced_evidence("checkpoint step", step),
                Evidence("last step in the log", last, "", f"{curve_facts.path}: {curve_facts.curve} loss")]
    if best_only is not None and best_only.value is False:
        return _best_only(check, inspection, curve_facts, evidence, t)
    check.measure("H5", *evidence)
    if step.value >= t.early_stop_fraction * last:
        return check
    end = curve_facts.end_loss
    decisive = last >= 2 * step.value and curve_facts.min is not None and curve_facts.min.step > step.value
    check.findings.append(BEHIND_LOG.finding(
        f"the checkpoint is at step {format_value(step.value)}, the log of its run goes on to step "
        f"{format_value(last)} (loss {format_value(end)} there)", evidence,
        severity=Severity.ERROR if decisive else Severity.WARNING, subject=str(inspection.path)))
    return check


def _best_only(check: CheckResult, inspection, curve_facts, evidence: list, t: Thresholds) -> CheckResult:
    """A best-val-only saver: behind the log only if the log beat the checkpoint's val loss after its step."""
    step, val = inspection.training.step, inspection.training.val_loss or inspection.training.best_val_loss
    logged = curve_facts.val
    if val is None or not isinstance(val.value, (int, float)) or logged is None or logged.min is None:
        return check  # without both val losses nothing says whether the trainer had reason to save again
    evidence = [*evidence, sourced_evidence("checkpoint val loss", val, "nats/token"),
                Evidence("best val loss in the log", logged.min.value, "nats/token",
                         f"{curve_facts.path}: val loss, step {format_value(logged.min.step)}")]
    check.measure("H5", *evidence)
    if logged.min.step > step.value and logged.min.value < float(val.value) - t.stale_val_loss_margin:
        check.findings.append(BEHIND_LOG.finding(
            f"the checkpoint is at step {format_value(step.value)} with val loss {float(val.value):.4g}; its run's log "
            f"reaches val loss {logged.min.value:.4g} at step {format_value(logged.min.step)}, which this trainer "
            f"(it saves on every new best) would have saved: this is not the run's best or last checkpoint",
            evidence, severity=Severity.ERROR, subject=str(inspection.path)))
    return check
