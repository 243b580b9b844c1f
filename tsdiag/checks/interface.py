"""What a check is: one kind of input read -> facts -> rules -> findings, plus what it measured.

A check is the single place where a command's judgement is made. ``tsdiag inspect`` and ``diagnose
--checkpoint`` both call :func:`tsdiag.checks.checkpoint.run`, so the two can never disagree on the same
file; ``diagnose`` walks :data:`tsdiag.checks.CHECKS` and only decides the matrix.

Besides findings, a check records per hypothesis what it *measured* (:class:`Measurement`). A
measurement is ``conclusive`` when it could have found the hypothesis had it been true (article
counts per window can find article-starved data; an id-range check cannot): only a conclusive
measurement with no finding rules a hypothesis out, anything else leaves it "not checked" and names
the input that would check it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tsdiag.findings import Evidence, Finding


@dataclass(frozen=True)
class Measurement:
    """Numbers a check measured about one hypothesis, and whether they could have found it."""

    evidence: tuple[Evidence, ...]
    conclusive: bool = True
    missing: str = ""  # when not conclusive: the input that would make it so

    def to_dict(self) -> dict:
        return {"evidence": [e.to_dict() for e in self.evidence], "conclusive": self.conclusive,
                "missing": self.missing}


@dataclass
class CheckResult:
    """One check that ran on one subject.

    ``facts`` is the check's own facts object (an inspection, an audit result, curve facts, run
    summaries, sample facts): the command renders it, ``diagnose`` reads only findings and
    ``measured``. ``error`` is set when the input could not be read; such a result has no findings
    and becomes one "could not read" row of the diagnosis.
    """

    check: str
    subject: str
    facts: Any = None
    findings: list[Finding] = field(default_factory=list)
    measured: dict[str, list[Measurement]] = field(default_factory=dict)
    error: str | None = None
    problem: Exception | None = field(default=None, repr=False)  # the InputError behind ``error``

    def measure(self, hypothesis: str, *evidence: Evidence, conclusive: bool = True, missing: str = "") -> None:
        """Record what was measured about ``hypothesis`` (see :class:`Measurement`)."""
        if evidence:
            self.measured.setdefault(hypothesis, []).append(Measurement(tuple(evidence), conclusive, missing))

    def to_dict(self) -> dict:
        from tsdiag.checks import CHECKS

        command = CHECKS[self.check].COMMAND if self.check in CHECKS else None
        return {"check": self.check, "command": command, "subject": self.subject, "error": self.error,
                "findings": [f.code for f in self.findings],
                "measured": {h: [m.to_dict() for m in ms] for h, ms in self.measured.items()}}


def sourced_evidence(name: str, sourced, unit: str = "", where: str = "") -> Evidence:
    """Evidence from a :class:`~tsdiag.checkpoint.facts.Sourced` value.

    ``where`` (the checkpoint's folder) goes before a source that names only the file: two runs'
    ckpt.pt must not read alike in the matrix.
    """
    return Evidence(name, sourced.value, unit, f"{where}/{sourced.source}" if where else sourced.source)
