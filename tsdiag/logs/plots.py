"""``--plot``: the loss curves of one or more logs in one PNG.

Top panel: train loss (line) and val loss (dots) per log; the lr schedule on a second axis and, when
the curve's facts are given, the points the rules looked at (the window the end-of-curve trend was
fitted on, spikes, the first non-finite loss, the minimum).  A second panel appears when any log has
article/other losses.  Drawn with matplotlib's Agg backend (no display needed) and written atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from tsdiag.fileio import atomic_path
from tsdiag.logs.facts import CurveFacts, LossCurve, Series
from tsdiag.textfit import short_names

# A line of more points than this is thinned (every n-th point) for drawing only.
MAX_DRAWN_POINTS = 20_000


def _xy(series: Series):
    steps, values = series.arrays()
    stride = max(1, len(values) // MAX_DRAWN_POINTS)
    return steps[::stride], values[::stride]


def _mark_detected(ax, facts: CurveFacts, color) -> None:
    """What the rules measured, drawn where it happened on the curve."""
    if facts.tail is not None:
        ax.axvspan(facts.tail.start_step, facts.tail.end_step, color=color or "grey", alpha=0.08,
                   label=f"end-of-curve window (slope {facts.tail.slope_per_1k:.3g}/1k steps)")
    if facts.spikes:
        ax.plot([s.start_step for s in facts.spikes], [s.peak_loss for s in facts.spikes], "x", color="#cc3311",
                markersize=7, label=f"spikes ({len(facts.spikes)})")
    if facts.first_nonfinite is not None:
        ax.axvline(facts.first_nonfinite.step, color="#cc3311", linestyle=":",
                   label=f"first non-finite loss (step {facts.first_nonfinite.step:g})")
    if facts.min is not None:
        ax.plot([facts.min.step], [facts.min.value], "v", color=color or "black", markersize=6,
                label=f"min {facts.min.value:.4g}")


def _draw_lr(ax, curves: Sequence[LossCurve], facts: Sequence[CurveFacts] | None) -> None:
    """The lr schedule on a right-hand axis (dashed), with the detected warmup end."""
    with_lr = [(i, c) for i, c in enumerate(curves) if len(c.lr)]
    if not with_lr:
        return
    twin = ax.twinx()
    for i, curve in with_lr:
        twin.plot(*_xy(curve.lr), "--", linewidth=0.8, color="#777777", label="lr" if i == with_lr[0][0] else None)
        lr = facts[i].lr if facts is not None else None
        if lr is not None and lr.warmup_steps:
            twin.axvline(lr.warmup_steps, color="#777777", linewidth=0.6, linestyle="-.",
                         label=f"warmup ends (step {lr.warmup_steps:g})")
    twin.set_ylabel("learning rate", color="#555555")
    twin.legend(fontsize=8, loc="upper center")


def plot_curves(curves: Sequence[LossCurve], target: str | Path, facts: Sequence[CurveFacts] | None = None) -> Path:
    """Draw ``curves`` (and, with their ``facts`` in the same order, what was detected) into the PNG
    ``target``; returns its path."""
    from matplotlib.figure import Figure

    target = Path(target)
    with_articles = any(len(c.article_loss) or len(c.other_loss) for c in curves)
    fig = Figure(figsize=(9, 7 if with_articles else 4.5), layout="constrained")
    axes = fig.subplots(2 if with_articles else 1, 1, sharex=True, squeeze=False)[:, 0]
    several = len(curves) > 1
    names = short_names([c.path for c in curves])
    for i, (curve, name_of_curve) in enumerate(zip(curves, names)):
        label = name_of_curve if several else ""
        color = None
        for name, series in (("train", curve.train), ("train (eval)", curve.eval_train)):
            if len(series):
                line, = axes[0].plot(*_xy(series), linewidth=0.9, color=color, label=f"{label} {name}".strip())
                color = line.get_color()
                break
        if len(curve.val):
            axes[0].plot(*_xy(curve.val), "o", markersize=3.5, color=color, label=f"{label} val".strip())
        if facts is not None:
            _mark_detected(axes[0], facts[i], color)
        if with_articles:
            for name, series, style in (("article", curve.article_loss, "-"), ("other", curve.other_loss, "--")):
                if len(series):
                    axes[1].plot(*_xy(series), style, linewidth=0.9, color=color, label=f"{label} {name}".strip())
    axes[0].set_ylabel("loss (nats/token)")
    axes[0].set_title(", ".join(names) if several else
                      f"{Path(curves[0].path).name} ({curves[0].format})")
    if with_articles:
        axes[1].set_ylabel("article / other loss")
        axes[1].legend(fontsize=8)
    axes[-1].set_xlabel("step")
    axes[0].legend(fontsize=8)
    _draw_lr(axes[0], curves, facts)
    for ax in axes:
        ax.grid(alpha=0.3)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return target
