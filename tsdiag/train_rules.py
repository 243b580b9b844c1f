"""Findings of reference runs (``TSD-RUN-*``) and of weighted-vs-standard comparisons (``TSD-W-*``).

Pure functions over facts: a run's ``run.json`` record, the article-id setup
of a run, and :class:`tsdiag.compare.RunSummary` objects.  Nothing here reads
a file.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from tsdiag.findings import Evidence, Finding, Severity, define_rule, strength_past
from tsdiag.thresholds import Thresholds

RUN_NONFINITE = define_rule(
    "TSD-RUN-NONFINITE",
    "The loss or a gradient became NaN/Inf during a reference run",
    Severity.ERROR,
    why="A non-finite loss means the recipe diverged (learning rate too high, no warmup, fp16 overflow). "
        "The run stopped there; its updates from the first non-finite step on were skipped, so the saved "
        "weights are the last finite ones.",
    fix="Lower --lr (llama2.c's 5e-4 is a safe start) or lengthen the warmup, then start a new run; "
        "--resume continues from the saved last-good state.",
    hypothesis="H3",
)
RUN_INTERRUPTED = define_rule(
    "TSD-RUN-INTERRUPTED",
    "A reference run stopped before its planned steps (Ctrl-C or the time budget)",
    Severity.INFO,
    why="Its numbers describe a shorter run than planned; a comparison with a finished run is not like for like.",
    fix="Continue it with `tsdiag retrain … --resume --out SAME_FOLDER`.",
)
RUN_ARTICLE_IDS = define_rule(
    "TSD-RUN-ARTICLE-IDS",
    "The weighted ids (--article-ids, or a run's recorded article_ids) include ids that are not articles in this tokenizer",
    Severity.ERROR,
    why="Hard-coded ids from another tokenizer (or a guess) weight random tokens instead of 'a', 'an', 'the': "
        "the weighted objective then reproduces nothing and its article/other losses measure the wrong tokens. "
        "It names no hypothesis: a run that weights no articles says nothing about whether weighting articles "
        "harms (W), so its ratio findings are dropped.",
    fix="Drop --article-ids so the ids come from the tokenizer, or give the ids the evidence lists as articles.",
)
W_RATIO_LOW = define_rule(
    "TSD-W-RATIO-LOW",
    "An article-weighted run's article/other loss ratio is far below 1",
    Severity.WARNING,
    why="The origin project's weighted run fell to a ratio of 0.34: the objective pushes the model to fit the "
        "three article words while the rest of the language (which decides whether it writes stories) lags.",
    fix="Compare with a matched standard run (`tsdiag retrain --standard --weighted`); if the other-token loss "
        "is worse, train with the standard objective.",
    hypothesis="W",
)
W_OTHER_LOSS = define_rule(
    "TSD-W-OTHER-LOSS",
    "The weighted run's loss on non-article tokens is above the matched standard run's",
    Severity.WARNING,
    escalation="the gap is at least other_loss_strong_margin: the matched pair leaves no doubt",
    why="Weighting articles buys a lower article loss with a higher loss on every other token; the matched "
        "standard run shows the same data and budget did better on the text as a whole.",
    fix="Train with the standard objective (`tsdiag retrain --standard`): articles come out of a well-trained "
        "model on their own, as llama2.c's published TinyStories models show.",
    hypothesis="W",
)
RUN_UNMATCHED = define_rule(
    "TSD-RUN-UNMATCHED",
    "The runs compared differ in data, seed, architecture or length",
    Severity.WARNING,
    why="A weighted-vs-standard verdict is only fair when everything but the objective is the same.",
    fix="Rerun the pair with `tsdiag retrain --standard --weighted` (same seed, data and budget).",
)

# every rule this module defines
RULES = (RUN_NONFINITE, RUN_INTERRUPTED, RUN_ARTICLE_IDS, W_RATIO_LOW, W_OTHER_LOSS, RUN_UNMATCHED,)


# --------------------------------------------------------------------------- one run

def weighted_id_findings(ids: Sequence[int], source: str, tokenizer) -> list[Finding]:
    """TSD-RUN-ARTICLE-IDS for ids recorded by a run or given with --article-ids, decoded with ``tokenizer``."""
    from tsdiag.tokenizer import article_piece_ids

    size = tokenizer.vocab_size
    pieces = [tokenizer.id_to_piece(i) if 0 <= i < size else f"<past the vocabulary of {size:,}>" for i in ids]
    return article_id_findings(list(ids), pieces, [int(i) for i in article_piece_ids(tokenizer)],
                               str(tokenizer.path), source)


def article_id_findings(
    explicit_ids: Sequence[int] | None,
    pieces: Sequence[str],
    tokenizer_article_ids: Sequence[int] | None,
    tokenizer_path: str | None,
    source: str = "--article-ids",
) -> list[Finding]:
    """Explicit ids that are not among the tokenizer's article ids (``source``: where the ids came from)."""
    findings = []
    if explicit_ids and tokenizer_article_ids is not None:
        known = set(tokenizer_article_ids)
        wrong = [(i, p) for i, p in zip(explicit_ids, pieces) if i not in known]
        if wrong:
            shown = ", ".join(f"{i}={p!r}" for i, p in wrong[:10])
            findings.append(RUN_ARTICLE_IDS.finding(
                f"{len(wrong)} of {len(explicit_ids)} weighted ids ({source}) are not articles in this tokenizer: "
                f"{shown}",
                [Evidence("ids that are not articles", [i for i, _ in wrong], source=source),
                 Evidence("their pieces", [p for _, p in wrong], source=f"{tokenizer_path}: id_to_piece"),
                 Evidence("the tokenizer's article ids", sorted(known), source=f"{tokenizer_path}: article pieces")],
                fix=None if source == "--article-ids" else (
                    f"Fix the ids the trainer weights ({source}): take them from the tokenizer's article pieces "
                    f"({', '.join(map(str, sorted(known)[:8]))}), or drop the weighting."),
                subject=tokenizer_path or "",
            ))
    return findings


def run_findings(run: Mapping[str, Any], subject: str = "") -> list[Finding]:
    """Findings about one finished (or stopped) run, from its run.json record."""
    findings = []
    if run.get("nonfinite_steps"):
        steps = run["nonfinite_steps"]
        findings.append(RUN_NONFINITE.finding(
            f"non-finite loss or gradient at step {steps[0]} ({len(steps)} step(s) affected); run stopped at "
            f"step {run['step']} with the last finite weights",
            [Evidence("first non-finite step", steps[0], source="run.json: nonfinite_steps"),
             Evidence("learning rate", run["config"]["learning_rate"], source="run.json: config.learning_rate")],
            subject=subject,
        ))
    if run.get("status") in ("interrupted", "time_budget"):
        findings.append(RUN_INTERRUPTED.finding(
            f"run stopped at step {run['step']} of {run.get('max_iters')} ({run['status'].replace('_', ' ')})",
            [Evidence("step", run["step"], source="run.json: step"),
             Evidence("planned steps", run.get("max_iters"), source="run.json: max_iters")],
            subject=subject,
        ))
    return findings


# --------------------------------------------------------------------------- comparisons

def ratio_findings(summary, thresholds: Thresholds, standard=None) -> list[Finding]:
    """A weighted run whose article/other ratio fell below ``weighted_ratio_low``."""
    if summary.objective != "weighted" or summary.ratio is None or summary.ratio >= thresholds.weighted_ratio_low:
        return []
    evidence = [
        Evidence("article/other loss ratio", summary.ratio, source=f"{summary.name}: {summary.ratio_source}"),
        Evidence("threshold weighted_ratio_low", thresholds.weighted_ratio_low, source="thresholds"),
        Evidence("other-token loss", summary.other_loss, "nats/token", source=f"{summary.name}: {summary.ratio_source}"),
    ]
    if standard is not None and standard.ratio is not None:
        evidence.append(Evidence("standard run's ratio", standard.ratio,
                                 source=f"{standard.name}: {standard.ratio_source}"))
    return [W_RATIO_LOW.finding(
        f"weighted run {summary.name}: article/other loss ratio {summary.ratio:.2f} with other-token loss "
        f"{summary.other_loss:.3g}", evidence, subject=summary.path)]


def compare_findings(summaries: Sequence, thresholds: Thresholds) -> list[Finding]:
    """W findings for each weighted run against the standard run(s) compared with it."""
    findings: list[Finding] = []
    standards = [s for s in summaries if s.objective == "standard"]
    for weighted in (s for s in summaries if s.objective == "weighted"):
        standard = _best_match(weighted, standards)
        findings += ratio_findings(weighted, thresholds, standard)
        if standard is None:
            continue
        differences = weighted.differences(standard)
        if differences:
            findings.append(RUN_UNMATCHED.finding(
                f"{weighted.name} and {standard.name} differ in {', '.join(d[0] for d in differences)}",
                [Evidence(name, f"{a} vs {b}", source="run.json") for name, a, b in differences],
                subject=weighted.path,
            ))
        if differences or weighted.other_loss is None or standard.other_loss is None:
            continue  # runs that differ in more than the objective cannot blame the objective
        gap = weighted.other_loss - standard.other_loss
        if gap > thresholds.other_loss_margin:
            ratio = f"ratio {weighted.ratio:.2f} with " if weighted.ratio is not None else ""
            strength = strength_past(gap, thresholds.other_loss_margin, thresholds.other_loss_strong_margin)
            findings.append(W_OTHER_LOSS.finding(
                f"weighted run: {ratio}other-token loss {weighted.other_loss:.3g} above the standard run's "
                f"{standard.other_loss:.3g} (+{gap:.3g} nats/token)",
                [Evidence("weighted other-token loss", weighted.other_loss, "nats/token",
                          source=f"{weighted.name}: {weighted.ratio_source}"),
                 Evidence("standard other-token loss", standard.other_loss, "nats/token",
                          source=f"{standard.name}: {standard.ratio_source}"),
                 Evidence("threshold other_loss_margin", thresholds.other_loss_margin, "nats/token",
                          source="thresholds"),
                 Evidence("weighted val loss", weighted.final_val_loss, "nats/token", source=f"{weighted.name}: val_loss"),
                 Evidence("standard val loss", standard.final_val_loss, "nats/token", source=f"{standard.name}: val_loss")],
                severity=Severity.ERROR if gap >= thresholds.other_loss_strong_margin else Severity.WARNING,
                strength=strength, subject=weighted.path,
            ))
    return findings


def _best_match(weighted, standards: Sequence):
    """The standard run most like ``weighted``: fewest differences, then the same data."""
    if not standards:
        return None
    return min(standards, key=lambda s: len(weighted.differences(s)))
