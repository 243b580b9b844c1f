"""Curve facts as a :class:`~tsdiag.report.Report`: display rows and the JSON payload.

Only formatting happens here; every number comes from
:class:`~tsdiag.logs.facts.CurveFacts`.  The JSON keys are documented in
``docs/logs.md``.
"""

from __future__ import annotations

import math

from typing import Any

from tsdiag.findings import Finding, format_value
from tsdiag.logs.facts import CurveFacts, Point, SeriesSummary
from tsdiag.logs.registry import format_description
from tsdiag.report import Plot, Report, key_value_table

MAX_SPIKES_IN_JSON = 20


def _at(point: Point | None) -> str:
    if point is None:
        return "unknown (no finite value)"
    return f"{format_value(point.value)} (step {format_value(point.step)})"


def _yes_no(value: bool | None, unknown: str = "unknown") -> str:
    return unknown if value is None else format_value(value)


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _series_text(summary: SeriesSummary | None, what: str = "") -> str:
    if summary is None:
        return "not logged"
    return (f"{what}last {_at(summary.last)}, min {_at(summary.min)}, first {_at(summary.first)}; "
            f"{summary.points:,} points")


def _rows(facts: CurveFacts) -> list[tuple[str, str]]:
    rows = [
        ("format", f"{facts.format} ({format_description(facts.format) or 'custom'}); "
                   f"{facts.total_lines:,} lines or records, {facts.skipped_lines:,} skipped"),
        ("curve", f"{facts.curve.replace('_', ' ')} loss, {facts.points:,} points, steps "
                  f"{format_value(facts.first.step)}-{format_value(facts.last.step)}"
                  + (f" (last of {facts.segments} runs in the log)" if facts.segments > 1 else "")),
        *([("last line left out", f"{_clip(facts.partial_last_line)!r} has no line end (log still being "
                                   "written, or cut mid-line), so its numbers may be incomplete")]
          if facts.partial_last_line is not None else []),
        ("first loss", _at(facts.first)),
        ("last loss", _at(facts.last)),
        ("min loss", _at(facts.min)),
    ]
    tail = facts.tail
    if tail is None:
        rows.append(("end of curve", "unknown (too few points for a window)"))
    else:
        spread = "" if tail.slope_stderr_per_1k is None else f" ± {format_value(tail.slope_stderr_per_1k)}"
        before = "" if facts.ends_finite else " (finite values before the end)"
        rows.append(("end of curve", f"median {format_value(tail.median)} nats/token over steps "
                                     f"{format_value(tail.start_step)}-{format_value(tail.end_step)}; slope "
                                     f"{format_value(tail.slope_per_1k)}{spread} nats per 1k steps{before}"
                                     + (f"; {format_value(-tail.per_doubling)} nats per doubling of the steps"
                                        if tail.per_doubling is not None else "")))
    bpt = facts.bytes_per_token
    if bpt is not None and math.isfinite(facts.end_loss):
        rows.append((f"end of curve per {'character' if bpt.per_character else 'byte'}",
                     f"{format_value(facts.per_byte(facts.end_loss))} {bpt.unit} ({format_value(bpt.value)} "
                     f"{'chars' if bpt.per_character else 'bytes'}/token, {bpt.source})"))
    rows += [
        ("still improving", _yes_no(facts.still_improving)),
        ("diverged", _yes_no(facts.diverged)),
        ("non-finite losses", "none" if not facts.nonfinite_points else
         f"{facts.nonfinite_points:,} (first at step {format_value(facts.first_nonfinite.step)})"),
        ("spikes", "none" if not facts.spikes else
         f"{len(facts.spikes):,} ({facts.spike_points:,} points), first at step {format_value(facts.spikes[0].start_step)}"),
        ("val loss", _series_text(facts.val)),
    ]
    if facts.eval_train is not None:
        rows.append(("train loss at evals", _series_text(facts.eval_train)))
    lr = facts.lr
    if lr is None:
        rows.append(("learning rate", "not logged"))
    else:
        warmup = "unknown" if lr.warmup_steps is None else f"{format_value(lr.warmup_steps)} steps"
        rows.append(("learning rate", f"peak {_at(lr.peak)}, final {_at(lr.final)} = {format_value(lr.final_over_peak)} x peak; "
                                      f"warmup {warmup}; constant {format_value(lr.constant)}; "
                                      f"decays to ~lr/10 {format_value(lr.decays_to_min_lr_ratio)}"))
    a = facts.articles
    if a is None:
        rows.append(("article/other loss", "not logged"))
    else:
        rows.append(("article/other ratio", _series_text(a.ratio, f"({a.ratio_source}) ")))
        rows.append(("article loss", _series_text(a.article_loss)))
        rows.append(("other-token loss", _series_text(a.other_loss)))
    v = facts.vocab
    rows.append(("vocabulary", "unknown (pass --vocab-size to compare the loss with ln(vocab))" if v is None else
                 f"{v.size:,} from {v.source}; ln(vocab) {v.ln_vocab:.3f}; first loss = "
                 f"{v.first_loss_over_ln_vocab:.0%} of it"))
    p = facts.planned_steps
    rows.append(("planned steps", "not stated in the log" if p is None else f"{p.value:,} ({p.source})"))
    return rows


def _point_json(point: Point | None, key: str) -> dict[str, Any]:
    return {key: None if point is None else point.value, f"{key}_step": None if point is None else point.step}


def _summary_json(summary: SeriesSummary | None) -> dict[str, Any] | None:
    if summary is None:
        return None
    return {"points": summary.points, **_point_json(summary.first, "first"), **_point_json(summary.last, "last"),
            **_point_json(summary.min, "min")}


def curve_data(facts: CurveFacts) -> dict[str, Any]:
    """The JSON payload of one log (see docs/logs.md for every key)."""
    tail, lr, a, v, p = facts.tail, facts.lr, facts.articles, facts.vocab, facts.planned_steps
    return {
        "path": facts.path,
        "format": facts.format,
        "curve": facts.curve,
        "steps": facts.last.step,
        "first_step": facts.first.step,
        "points": facts.points,
        **_point_json(facts.first, "first_loss"),
        **_point_json(facts.last, "last_loss"),
        **_point_json(facts.min, "min_loss"),
        "end_loss": facts.end_loss,
        "end_bits_per_byte": facts.per_byte(facts.end_loss) if math.isfinite(facts.end_loss) else None,
        "units": None if facts.bytes_per_token is None else facts.bytes_per_token.to_dict(),
        "overfit": None if facts.overfit is None else {
            "best_val_loss": facts.overfit.best_val.value, "best_val_step": facts.overfit.best_val.step,
            "last_val_loss": facts.overfit.last_val.value, "last_val_step": facts.overfit.last_val.step,
            "gap": facts.overfit.gap},
        "tail": None if tail is None else {
            "start_step": tail.start_step, "end_step": tail.end_step, "points": tail.points,
            "slope_per_1k_steps": tail.slope_per_1k, "slope_stderr_per_1k_steps": tail.slope_stderr_per_1k,
            "median": tail.median,
        },
        "still_improving": facts.still_improving,
        "diverged": facts.diverged,
        "nonfinite_points": facts.nonfinite_points,
        "first_nonfinite_step": None if facts.first_nonfinite is None else facts.first_nonfinite.step,
        "spikes": {
            "count": len(facts.spikes),
            "points": facts.spike_points,
            "events": [{"start_step": s.start_step, "end_step": s.end_step, "points": s.points,
                        "peak_loss": s.peak_loss, "running_min": s.running_min}
                       for s in facts.spikes[:MAX_SPIKES_IN_JSON]],
        },
        "val": _summary_json(facts.val),
        "eval_train": _summary_json(facts.eval_train),
        "lr": None if lr is None else {
            "points": lr.points, **_point_json(lr.first, "first"), **_point_json(lr.peak, "peak"),
            **_point_json(lr.final, "final"), "final_over_peak": lr.final_over_peak,
            "warmup_steps": lr.warmup_steps, "constant": lr.constant,
            "decays_to_min_lr_ratio": lr.decays_to_min_lr_ratio,
        },
        "articles": None if a is None else {
            "ratio_source": a.ratio_source, "ratio": _summary_json(a.ratio),
            "article_loss": _summary_json(a.article_loss), "other_loss": _summary_json(a.other_loss),
        },
        "vocab": None if v is None else {
            "size": v.size, "source": v.source, "ln_vocab": v.ln_vocab,
            "first_loss_over_ln_vocab": v.first_loss_over_ln_vocab,
            "starts_fresh": v.starts_fresh, "ends_at_chance": v.ends_at_chance,
        },
        "planned_steps": None if p is None else {"value": p.value, "source": p.source},
        "segments": facts.segments,
        "resumes": [r.to_dict() for r in facts.resumes],
        "lines": {"total": facts.total_lines, "skipped": facts.skipped_lines,
                  "partial_last_line": facts.partial_last_line},
    }


def curve_report(facts: CurveFacts, findings: list[Finding]) -> Report:
    """One report per log file."""
    return Report(
        command="logs",
        title=f"tsdiag logs: {facts.path}",
        tables=[key_value_table("Loss curve", _rows(facts), note="losses in nats/token as the log states them")],
        findings=list(findings),
        data=curve_data(facts),
    )


def curve_plot(curves, facts: list[CurveFacts]) -> Plot:
    """The loss curves with the lr schedule and what the rules detected, for ``--html``."""
    from tsdiag.logs.plots import plot_curves

    return Plot(f"loss curve with lr schedule and detected points: {', '.join(f.path for f in facts)}",
                lambda target: plot_curves(curves, target, facts))
