"""The log check (``tsdiag logs``): a training log's loss curve, judged."""

from __future__ import annotations

from pathlib import Path

from tsdiag.checks.interface import CheckResult
from tsdiag.findings import Evidence
from tsdiag.thresholds import Thresholds

NAME = "log"
COMMAND = "logs"


def run(path: Path, *, thresholds: Thresholds, format_hint: str | None = None, vocab_size: int | None = None,
        planned_steps=None, tokenizer=None, bytes_per_token=None, article_ids=None, curve=None) -> CheckResult:
    """Parse and judge one log.

    ``planned_steps`` (a :class:`tsdiag.logs.facts.Recorded`, e.g. a checkpoint's max_iters) fills in a
    planned length the log does not state; ``tokenizer`` gives bits per byte and decodes ``article_ids``
    (a (ids, source) pair) that a weighted run used.
    """
    from tsdiag.logs import analyze_curve, parse_log

    curve = curve if curve is not None else parse_log(path, format_hint)
    if planned_steps is not None and "planned_steps" not in curve.settings:
        curve.settings["planned_steps"] = planned_steps
    if tokenizer is not None and bytes_per_token is None:
        from tsdiag.units import reference_bytes_per_token

        bytes_per_token = reference_bytes_per_token(tokenizer)
    facts, findings = analyze_curve(curve, thresholds, vocab_size=vocab_size, bytes_per_token=bytes_per_token)
    if _objective_beside(Path(path)) == "standard":
        # a standard run's low article/other ratio is the order in which any model learns (articles are
        # easy tokens), not the weighted objective's harm
        findings = [f for f in findings if f.code != "TSD-W-LOG-RATIO"]
    findings = _with_weighted_ids(findings, article_ids, tokenizer)
    check = CheckResult(NAME, str(path), facts, findings)
    _measure(check, facts, thresholds)
    return check


RATIO_CODE = "TSD-W-LOG-RATIO"


def _with_weighted_ids(findings: list, article_ids, tokenizer) -> list:
    """Judge the weighted ids when both they and the tokenizer are known, and say so on the ratio finding.

    Ids that are not articles turn the logged 'article' loss into the loss of other tokens: the ratio
    finding is dropped (TSD-RUN-ARTICLE-IDS says why) rather than read as evidence about articles.
    """
    import dataclasses

    if article_ids is None or tokenizer is None:
        note = " (whether the weighted ids are articles was not checked: give --article-ids and --tokenizer)"
        return [dataclasses.replace(f, message=f.message + note) if f.code == RATIO_CODE else f for f in findings]
    from tsdiag.train_rules import weighted_id_findings

    ids, source = article_ids
    wrong = weighted_id_findings(ids, source, tokenizer)
    if wrong:
        return [f for f in findings if f.code != RATIO_CODE] + wrong
    note = f" (the weighted ids, {source}, are articles in {tokenizer.path.name})"
    return [dataclasses.replace(f, message=f.message + note) if f.code == RATIO_CODE else f for f in findings]


def _measure(check: CheckResult, facts, t: Thresholds) -> None:
    name = Path(facts.path).name
    if facts.tail is not None:
        from tsdiag.units import loss_evidence

        evidence = loss_evidence("loss at the end", facts.end_loss, f"{name}: step {facts.last.step}",
                                 facts.bytes_per_token)
        evidence.append(Evidence("slope over the last window", facts.tail.slope_per_1k, "nats per 1k steps", name))
        if facts.tail.per_doubling is not None:
            evidence.append(Evidence("gain per doubling of the steps", round(-facts.tail.per_doubling, 4),
                                     "nats/token", name))
        check.measure("H2", *evidence)
    if facts.diverged is not None:
        evidence = [Evidence("loss spikes", len(facts.spikes), "", name), Evidence("diverged", facts.diverged, "", name)]
        if facts.lr is not None:
            evidence.append(Evidence("peak lr", facts.lr.peak.value, "", f"{name}: step {facts.lr.peak.step}"))
        # a curve shows the lr and its effects, never the rest of the recipe (dropout, batch size, weight decay):
        # only a checkpoint's or a config's settings can rule H3 out
        check.measure("H3", *evidence, conclusive=False,
                      missing="--checkpoint with its config, or --config (dropout and the rest of the recipe)")
    if facts.val is not None and facts.val.min is not None and facts.val.points >= t.log_tail_min_points:
        check.measure("H1", Evidence("val loss above its best at the end", round(facts.val.last.value
                                                                                  - facts.val.min.value, 4),
                                     "nats/token", f"{name}: val loss"),
                      conclusive=False, missing="--data with --tokenizer (article counts)")
    if facts.articles is not None:
        # a standard run's article loss is below its other loss too (articles are easy tokens): the ratio
        # alone can show a weighted run's imbalance, never that the weighting did no harm
        check.measure("W", Evidence("article/other loss ratio at the end", facts.articles.ratio.last.value, "",
                                    f"{name}: step {facts.articles.ratio.last.step}"), conclusive=False,
                      missing="a matched standard run (tsdiag retrain --both --from CKPT, then --run both)")


def _objective_beside(path: Path) -> str | None:
    """The objective a tsdiag run.json next to the log records (None without one, or when it is unreadable:
    the runs check reports that file)."""
    from tsdiag.errors import InputError
    from tsdiag.train import runfolder

    folder = path.parent
    if not (folder / runfolder.RUN_FILE).is_file():
        return None
    try:
        return runfolder.read_run(folder).get("objective")
    except InputError:
        return None
