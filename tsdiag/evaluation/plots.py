"""The eval article-slot figures as one picture (``--html``): each text scored, and --against beside it."""

from __future__ import annotations

from pathlib import Path

from tsdiag.evaluation.facts import EvalFacts

# (label, ArticleFigures attribute): what the model does where the text has an article
_BARS = (("P(article) at a slot", "slot_probability"), ("top-1 is an article", "slot_top1_article"),
         ("top-1 skips the article", "slot_skips"), ("articles' share of targets", "article_share"))


def article_slot_plot(facts: EvalFacts):
    """A :class:`tsdiag.report.Plot` of the article-slot shares of every text scored (None without any)."""
    from tsdiag.report import Plot

    columns = [(f"{name}", s) for name, s in facts.scores.items() if s.articles and s.articles.slots]
    if facts.against is not None:
        columns += [(f"against: {name}", s) for name, s in facts.against.scores.items() if s.articles and s.articles.slots]
    if not columns:
        return None

    def draw(path: Path) -> None:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt
        import numpy as np

        fig, ax = plt.subplots(figsize=(9, 3.8), constrained_layout=True)
        width = 0.8 / len(columns)
        x = np.arange(len(_BARS))
        for i, (name, score) in enumerate(columns):
            values = [100 * (getattr(score.articles, attr) or 0.0) for _, attr in _BARS]
            ax.bar(x + i * width, values, width, label=f"{name} ({score.articles.slots:,} slots)")
        ax.set_xticks(x + width * (len(columns) - 1) / 2, [label for label, _ in _BARS])
        ax.set_ylabel("%")
        ax.set_title(f"article slots: {Path(facts.checkpoint).name}")
        ax.legend(fontsize=8)
        fig.savefig(path, dpi=110)
        plt.close(fig)

    return Plot("Article slots (tsdiag eval)", draw)
