"""Findings work like linter diagnostics.

A :class:`Rule` is declared once (stable code, default severity, one-line
summary, why it matters, how to fix) and documented in ``docs/findings.md``.
Rule functions elsewhere in the package look at facts and create
:class:`Finding` objects from a rule; a finding cannot be created without
evidence, so "no finding without evidence" is enforced by construction.

Codes follow ``TSD-<group>-<NAME>`` where the group is the hypothesis the
finding speaks to (``H1`` data, ``H2`` stopped early, ``H3`` hyperparameters,
``H4`` vocabulary, ``H5`` wrong checkpoint, ``W`` weighted loss) or a
technical group (``CKPT``, ``DATA``, ``TOK``, ``RUN``, ``LOG``).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence


class Severity(enum.IntEnum):
    """Ordered so that ``severity >= fail_on`` decides the exit code."""

    INFO = 10
    WARNING = 20
    ERROR = 30

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> "Severity":
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r} (use info, warning or error)") from None


HYPOTHESES = {
    "H1": "wrong or broken data",
    "H2": "stopped too early",
    "H3": "wrong hyperparameters",
    "H4": "vocabulary too large",
    "H5": "wrong checkpoint",
    "W": "the article-weighted loss harms",
}


@dataclass(frozen=True)
class Rule:
    """A documented check. ``hypothesis`` links it to the decision matrix."""

    code: str
    summary: str
    severity: Severity
    why: str
    fix: str
    hypothesis: str | None = None
    escalation: str | None = None

    @property
    def severities(self) -> tuple[Severity, ...]:
        """The severities a finding of this rule can have: its own, and error when it documents an escalation."""
        return (self.severity, Severity.ERROR) if self.escalation else (self.severity,)

    def finding(
        self,
        message: str,
        evidence: Sequence["Evidence"],
        *,
        severity: Severity | None = None,
        strength: float | None = None,
        fix: str | None = None,
        subject: str = "",
    ) -> "Finding":
        """Create a finding of this rule; refuses to do so without evidence or at an undocumented severity.

        ``strength`` (0-1, see :func:`strength_past`) says how far past its threshold the evidence is;
        without it a finding is as strong as its severity says (error 1, warning 0.5, info 0).
        """
        if not evidence:
            raise ValueError(f"{self.code}: a finding needs evidence")
        severity = self.severity if severity is None else severity
        if severity not in self.severities:
            raise ValueError(f"{self.code}: severity {severity.label} is not documented for this rule")
        if strength is None:
            strength = DEFAULT_STRENGTH[severity]
        return Finding(
            rule=self,
            message=message,
            evidence=tuple(evidence),
            severity=severity,
            fix=self.fix if fix is None else fix,
            subject=subject,
            strength=round(min(1.0, max(0.0, float(strength))), 2),  # as shown, so the band agrees
        )


# A finding's strength when its rule does not measure one: an error-level fact (NaN in the weights, a
# later checkpoint beside this one) is decisive, a warning suggestive, an info note no evidence at all.
DEFAULT_STRENGTH = {Severity.ERROR: 1.0, Severity.WARNING: 0.5, Severity.INFO: 0.0}

# Strength bands: a hypothesis is confirmed only by an error-level finding at least this strong.
STRONG = 0.75


def strength_past(value: float, threshold: float, strong: float) -> float:
    """How far ``value`` is past ``threshold`` on a log scale: 0.25 just past it, 1 at ``strong`` or beyond.

    Works in either direction (``strong`` below ``threshold`` for "too low" rules). A value on the
    wrong side of the threshold has strength 0: it is no evidence at all.
    """
    if value is None or threshold <= 0 or strong <= 0 or strong == threshold:
        return 0.0
    if value <= 0:  # nothing at all: the strongest "too low", no evidence for "too high"
        return 1.0 if strong < threshold else 0.0
    span = math.log(strong / threshold)
    past = math.log(value / threshold) / span
    if past <= 0:
        return 0.0
    return min(1.0, 0.25 + 0.75 * past)


RULES: dict[str, Rule] = {}

# Modules that define rules at import time; ``all_rules`` imports them so that
# ``tsdiag rules`` and docs/findings.md see every code.
RULE_MODULES: tuple[str, ...] = (
    "tsdiag.checkpoint.rules",
    "tsdiag.train_rules",
    "tsdiag.logs.rules",
    "tsdiag.data.rules",
    "tsdiag.sample_rules",
    "tsdiag.checks.crosscheck",
    "tsdiag.evaluation.rules",
)


def all_rules() -> dict[str, Rule]:
    """Every registered rule, sorted by code."""
    import importlib

    for module in RULE_MODULES:
        importlib.import_module(module)
    return dict(sorted(RULES.items()))


def define_rule(
    code: str,
    summary: str,
    severity: Severity,
    *,
    why: str,
    fix: str,
    hypothesis: str | None = None,
    escalation: str | None = None,
) -> Rule:
    """Register a rule under a unique, stable code.

    ``escalation`` documents when a finding of this rule is raised to error level (shown by ``tsdiag
    rules`` and docs/findings.md); a rule without one always emits its own severity.
    """
    if code in RULES:
        raise ValueError(f"rule code {code} defined twice")
    if hypothesis is not None and hypothesis not in HYPOTHESES:
        raise ValueError(f"{code}: unknown hypothesis {hypothesis}")
    if escalation is not None and severity >= Severity.ERROR:
        raise ValueError(f"{code}: an error-level rule cannot escalate")
    rule = Rule(code, summary, severity, why, fix, hypothesis, escalation)
    RULES[code] = rule
    return rule


def format_value(value: Any) -> str:
    """Numbers as a person reads them: 4 significant digits, thousands separators."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if value != 0 and abs(value) < 1e-3:
            return f"{value:.3g}"
        return f"{value:.4g}"
    return str(value)


@dataclass(frozen=True)
class Evidence:
    """One number (or fact) with its unit and where it came from."""

    name: str
    value: Any
    unit: str = ""
    source: str = ""

    def brief(self) -> str:
        """Name, value and unit without the source: for tables where space is short."""
        text = f"{self.name} {format_value(self.value)}"
        if self.unit:
            text += f" {self.unit}" if not self.unit.startswith("%") else self.unit
        return text

    def __str__(self) -> str:
        return f"{self.brief()} ({self.source})" if self.source else self.brief()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "unit": self.unit, "source": self.source}


@dataclass(frozen=True)
class Finding:
    rule: Rule
    message: str
    evidence: tuple[Evidence, ...]
    severity: Severity
    fix: str
    subject: str = ""
    strength: float = 0.0

    @property
    def code(self) -> str:
        return self.rule.code

    @property
    def hypothesis(self) -> str | None:
        return self.rule.hypothesis

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity.label,
            "hypothesis": self.hypothesis,
            "message": self.message,
            "evidence": [e.to_dict() for e in self.evidence],
            "fix": self.fix,
            "subject": self.subject,
            "strength": self.strength,
        }


def code_matches(code: str, patterns: Iterable[str]) -> bool:
    """Prefix match like ruff: ``TSD-H4`` selects ``TSD-H4-VOCAB``."""
    return any(code == p or code.startswith(p.rstrip("-") + "-") for p in patterns)


def select_findings(
    findings: Iterable[Finding],
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
) -> list[Finding]:
    """Keep findings whose code matches ``select`` (all when empty) and not ``ignore``."""
    kept = []
    for f in findings:
        if select and not code_matches(f.code, select):
            continue
        if ignore and code_matches(f.code, ignore):
            continue
        kept.append(f)
    return kept


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Most severe first, then by code, so reports read top-down by importance."""
    return sorted(findings, key=lambda f: (-int(f.severity), f.code, f.subject))


def exit_code(findings: Iterable[Finding], fail_on: Severity | None) -> int:
    """0 when nothing reaches ``fail_on`` (``None`` = never fail), else 1."""
    if fail_on is None:
        return 0
    return 1 if any(f.severity >= fail_on for f in findings) else 0
