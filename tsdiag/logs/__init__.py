"""Training logs -> loss curves -> facts -> findings (``tsdiag logs``).

    >>> from tsdiag.logs import parse_log, analyze_curve
    >>> curve = parse_log("train.log")                  # format detected from the first lines
    >>> facts, findings = analyze_curve(curve, vocab_size=32000)

Formats live one per module behind :class:`~tsdiag.logs.interface.LogFormat`;
:data:`~tsdiag.logs.registry.FORMATS` lists them.
"""

from __future__ import annotations

from typing import NamedTuple

from tsdiag.findings import Finding
from tsdiag.logs.facts import CurveFacts, LossCurve, measure_curve
from tsdiag.logs.registry import FORMATS, detect_format, format_names, parse_log
from tsdiag.thresholds import Thresholds


class CurveAnalysis(NamedTuple):
    facts: CurveFacts
    findings: list[Finding]


def analyze_curve(curve: LossCurve, thresholds: Thresholds | None = None,
                  vocab_size: int | None = None, bytes_per_token=None) -> CurveAnalysis:
    """Facts about ``curve`` and the findings they support; ``vocab_size`` overrides one the log states;
    ``bytes_per_token`` (:class:`tsdiag.units.BytesPerToken`) judges its losses per byte."""
    from tsdiag.logs.rules import evaluate

    t = thresholds or Thresholds()
    facts = measure_curve(curve, t, vocab_size, bytes_per_token)
    return CurveAnalysis(facts, evaluate(facts, t))


__all__ = ["FORMATS", "CurveAnalysis", "CurveFacts", "LossCurve", "analyze_curve", "detect_format",
           "format_names", "parse_log"]
