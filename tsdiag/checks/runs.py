"""The run check (``tsdiag compare``): tsdiag run folders (or checkpoints) side by side, W judged."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from tsdiag.checks.interface import CheckResult
from tsdiag.findings import Evidence
from tsdiag.thresholds import Thresholds

NAME = "runs"
COMMAND = "compare"


def run(paths: Sequence[Path], *, thresholds: Thresholds) -> CheckResult:
    """Read each run, compare weighted runs with their matched standard run, judge each run's own record."""
    from tsdiag.compare import read_summary
    from tsdiag.train_rules import compare_findings, run_findings

    summaries = [read_summary(path) for path in paths]
    findings = compare_findings(summaries, thresholds)
    for summary in summaries:
        if summary.run:
            findings += run_findings(summary.run, subject=summary.path)
    check = CheckResult(NAME, ", ".join(s.name for s in summaries), summaries, findings)
    for s in summaries:
        if s.objective == "weighted" and s.ratio is not None:
            check.measure("W", Evidence("article/other loss ratio", s.ratio, "", f"{s.name}: {s.ratio_source}"))
        elif s.objective == "standard":
            check.measure("W", Evidence("objective", "standard cross-entropy", "", f"{s.name}: run.json recipe"))
        if s.run.get("nonfinite_steps") is not None:
            check.measure("H3", Evidence("non-finite steps", len(s.run.get("nonfinite_steps") or []), "steps",
                                         f"{s.name}: run.json nonfinite_steps"), conclusive=False,
                          missing="--log or --checkpoint with the lr")
    return check
