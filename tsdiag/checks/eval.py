"""The eval check (``tsdiag eval``): the checkpoint run on the data, teacher-forced.

Its measurements are what ``diagnose`` could not get from metadata: H5 from the checkpoint's loss on the
data against its run's logged end, H1 from the article slots on normal text (an article-starved model
avoids articles wherever it is asked) and from the loss against the val loss saved with the file, W
from a weighted model scored beside its matched standard run on the same windows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from tsdiag.checks.interface import CheckResult
from tsdiag.findings import Evidence
from tsdiag.thresholds import Thresholds

NAME = "eval"
COMMAND = "eval"


def run(checkpoint: Path, data: Sequence[Path], *, thresholds: Thresholds, **options) -> CheckResult:
    """Evaluate ``checkpoint`` on ``data`` (options as :func:`tsdiag.evaluation.evaluate`) and judge it."""
    from tsdiag.evaluation import evaluate

    return measured(evaluate(checkpoint, data, vocab_padding_max=thresholds.vocab_padding_max, **options), thresholds)


def measured(facts, t: Thresholds) -> CheckResult:
    """The check result of an evaluation already made."""
    from tsdiag.evaluation.rules import eval_findings, loss_evidence, recorded_evidence

    check = CheckResult(NAME, facts.checkpoint, facts, eval_findings(facts, t))
    loss = loss_evidence(facts)
    logged = [r for r in facts.recorded if r.kind == "log" and r.split == "val"]
    if logged:  # a stale checkpoint scores its own run's data worse than the log ended: this could find it
        check.measure("H5", loss, recorded_evidence(logged[0]))
    saved = [r for r in facts.recorded if r.kind == "checkpoint"]
    if saved:  # the file's own val loss reproduced on this data: not proof the training data was sound
        check.measure("H1", loss, recorded_evidence(saved[0]), conclusive=False,
                      missing="--data with --tokenizer (the shards the model was trained on)")
    for score in (facts.scores.get("reference"), facts.data_score):
        a = score.articles if score is not None else None
        if a is not None and a.slots >= t.eval_min_slots and a.slot_probability is not None:
            # article-starved training shows at the slots of any normal text: a conclusive H1 measurement
            check.measure("H1", Evidence("P(article) at article slots", round(a.slot_probability, 4), "probability",
                                         f"tsdiag eval on {score.source}: {a.slots:,} slots"),
                          Evidence("articles' share of targets", round(a.article_share, 4), "share", score.source),
                          conclusive=score.name == "reference")
            break
    if facts.against is not None and facts.recipe.get("article_weight", 1.0) > 1.0:
        check.measure("W", loss, loss_evidence(facts.against))
    return check
