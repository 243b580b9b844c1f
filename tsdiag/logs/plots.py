"""``--plot``: the loss curves of one or more logs in one PNG.

Top panel: train loss (line) and val loss (dots) per log.  A second panel
appears when any log has article/other losses.  Drawn with matplotlib's Agg
backend (no display needed) and written atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from tsdiag.fileio import atomic_path
from tsdiag.logs.facts import LossCurve, Series

# A line of more points than this is thinned (every n-th point) for drawing only.
MAX_DRAWN_POINTS = 20_000


def _xy(series: Series):
    steps, values = series.arrays()
    stride = max(1, len(values) // MAX_DRAWN_POINTS)
    return steps[::stride], values[::stride]


def short_names(paths: Sequence[str]) -> list[str]:
    """The shortest path tails that tell the files apart (runs/standard/metrics.csv -> standard/metrics.csv)."""
    parts = [Path(p).parts for p in paths]
    for depth in range(1, max(map(len, parts)) + 1):
        names = ["/".join(p[-depth:]) for p in parts]
        if len(set(names)) == len(names):
            return names
    return [str(p) for p in paths]


def plot_curves(curves: Sequence[LossCurve], target: str | Path) -> Path:
    """Draw ``curves`` into the PNG ``target``; returns its path."""
    from matplotlib.figure import Figure

    target = Path(target)
    with_articles = any(len(c.article_loss) or len(c.other_loss) for c in curves)
    fig = Figure(figsize=(9, 7 if with_articles else 4.5), layout="constrained")
    axes = fig.subplots(2 if with_articles else 1, 1, sharex=True, squeeze=False)[:, 0]
    several = len(curves) > 1
    names = short_names([c.path for c in curves])
    for curve, name_of_curve in zip(curves, names):
        label = name_of_curve if several else ""
        color = None
        for name, series in (("train", curve.train), ("train (eval)", curve.eval_train)):
            if len(series):
                line, = axes[0].plot(*_xy(series), linewidth=0.9, color=color, label=f"{label} {name}".strip())
                color = line.get_color()
                break
        if len(curve.val):
            axes[0].plot(*_xy(curve.val), "o", markersize=3.5, color=color, label=f"{label} val".strip())
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
    for ax in axes:
        ax.grid(alpha=0.3)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return target
