"""``Step N | Loss: X`` logs of hand-written trainers (the article-weighted kind).

The project that started tsdiag logged, through Python's ``logging``::

    2025-10-26 02:12:34 - INFO - main - Step 10 | Loss: 8.1552 (↓ Improving)
    2025-10-26 02:12:34 - INFO - main - Article Loss: 4.55 | Other Loss: 10.10 | Ratio: 0.45x

Any prefix before ``Step`` is allowed (timestamps, levels, logger names).
``Article Loss / Other Loss / Ratio`` lines belong to the ``Step`` line before
them; so do ``Val Loss:`` / ``Eval Loss:`` lines.  ``Step 10/5000`` states the
planned number of steps; ``LR: 3e-4`` on a step line gives the schedule.
Article, val and lr figures may also follow the loss on the Step line itself.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

from tsdiag.logs.facts import LossCurve, Recorded
from tsdiag.logs.interface import FLOAT, TextLogFormat

# One match per line: a Step line with whatever follows it, or an Article/Val line.
# No anchor at the line start: the prefix is skipped by the regex engine itself.
_ENTRY = re.compile(
    rf"Step[ \t]+(\d+)(?:/(\d+))?[ \t]*\|[ \t]*Loss:[ \t]*({FLOAT})([^\n]*)"
    rf"|Article Loss:[ \t]*({FLOAT})[ \t]*\|[ \t]*Other Loss:[ \t]*({FLOAT})(?:[ \t]*\|[ \t]*Ratio:[ \t]*({FLOAT}))?[^\n]*"
    rf"|(?:Val|Validation|Eval) Loss:[ \t]*({FLOAT})[^\n]*")
# fields that may follow the loss on a Step line
_LR = re.compile(rf"\b(?:LR|lr|Learning Rate|learning_rate)[ \t]*[:=][ \t]*({FLOAT})")
_ARTICLE = re.compile(
    rf"Article Loss:[ \t]*({FLOAT})[ \t]*\|[ \t]*Other Loss:[ \t]*({FLOAT})(?:[ \t]*\|[ \t]*Ratio:[ \t]*({FLOAT}))?")
_VAL = re.compile(rf"(?:Val|Validation|Eval) Loss:[ \t]*({FLOAT})")


def _add_articles(curve: LossCurve, at: float, article: str, other: str, ratio: str | None) -> None:
    curve.article_loss.add(at, float(article))
    curve.other_loss.add(at, float(other))
    if ratio is not None:
        curve.ratio.add(at, float(ratio))


def _add_step_extras(curve: LossCurve, at: float, rest: str) -> None:
    """LR, article/other and val figures written on the Step line itself, after the loss."""
    if "LR" in rest or "lr" in rest or "ate" in rest:  # cheap filter before the regex
        rate = _LR.search(rest)
        if rate is not None:
            curve.lr.add(at, float(rate.group(1)))
    if "Article Loss:" in rest:
        article = _ARTICLE.search(rest)
        if article is not None:
            _add_articles(curve, at, *article.groups())
    if "l Loss:" in rest:
        val = _VAL.search(rest)
        if val is not None:
            curve.val.add(at, float(val.group(1)))


class StepPipeFormat(TextLogFormat):
    name = "step-pipe"
    description = "'Step N | Loss: X' lines, with 'Article Loss | Other Loss | Ratio' lines"

    def sniff(self, path: Path, head_lines: Sequence[str]) -> float:
        return 1.0 if any(_ENTRY.search(line) for line in head_lines) else 0.0

    def consume(self, block: str, curve: LossCurve) -> int:
        add_step, add_loss = curve.train.steps.append, curve.train.values.append
        at = curve.train.steps[-1] if len(curve.train) else None  # the Step line later lines belong to
        matched = 0
        for match in _ENTRY.finditer(block):
            step, planned, loss, rest, article, other, ratio, val = match.groups()
            if step is not None:
                at = float(step)
                add_step(at)
                add_loss(float(loss))
                if planned is not None and "planned_steps" not in curve.settings:
                    curve.settings["planned_steps"] = Recorded(
                        int(planned), f"{Path(curve.path).name}: 'Step {step}/{planned}'")
                if len(rest) > 3:
                    _add_step_extras(curve, at, rest)
            elif at is None:
                continue  # article/val figures before any Step line cannot be placed
            elif article is not None:
                _add_articles(curve, at, article, other, ratio)
            else:
                curve.val.add(at, float(val))
            matched += 1
        return matched
