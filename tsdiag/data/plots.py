"""``--plot``: the per-sequence article histogram and the vocabulary coverage curve in one figure.

matplotlib runs with the Agg backend (no display needed) and the file is
written atomically; the format follows the file's suffix (.png, .svg, .pdf).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tsdiag.data.audit import COVERAGE_TOPS, AuditResult
from tsdiag.errors import InputError
from tsdiag.fileio import atomic_path

FORMATS = ("png", "svg", "pdf")


def write_plot(result: AuditResult, target: str | Path) -> Path:
    target = Path(target)
    fmt = target.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise InputError(target, f"plot format must be one of {', '.join(FORMATS)}")
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    a = result.articles
    if a is not None and a.histogram:
        shares = 100 * np.arange(len(a.histogram)) / result.seq_len
        left.bar(shares, a.histogram, width=100 / result.seq_len, color="#4477aa", label="sequences")
        if result.reference is not None and result.reference.token_rate is not None:
            left.axvline(100 * result.reference.token_rate, color="#cc6677", ls="--",
                         label=f"reference {100 * result.reference.token_rate:.1f}%")
        left.axvline(100 * a.per_sequence_mean, color="#222222", ls="-", lw=1,
                     label=f"mean {100 * a.per_sequence_mean:.1f}%")
        left.axvline(100 * a.naive_per_sequence_mean, color="#999933", ls=":",
                     label=f"naive mean {100 * a.naive_per_sequence_mean:.1f}%")
        left.legend()
    else:
        left.text(0.5, 0.5, "no tokenizer or no full window:\narticle statistics unknown",
                  ha="center", va="center", transform=left.transAxes)
    left.set_xlabel("article tokens per sequence (%)")
    left.set_ylabel("sequences")
    left.set_title(f"{result.sequences:,} sequences of {result.seq_len} tokens ({result.layout})")

    counts = np.sort(result.counts[:-1])[::-1]
    counts = counts[counts > 0]
    if counts.size:
        cum = np.cumsum(counts) / result.counts.sum()
        ranks = np.arange(1, counts.size + 1)
        right.plot(ranks, 100 * cum, color="#4477aa")
        for k in COVERAGE_TOPS:
            if k <= counts.size:
                right.plot(k, 100 * cum[k - 1], "o", color="#cc6677", ms=3)
        right.set_xscale("log")
    vocab = result.coverage.vocab_size
    if vocab:
        right.axvline(vocab, color="#999999", ls="--", label=f"vocab {vocab:,}")
        right.legend(loc="lower right")
    right.set_xlabel("most frequent ids (rank)")
    right.set_ylabel("share of tokens covered (%)")
    right.set_title("vocabulary coverage")
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format=fmt, dpi=120)
    plt.close(fig)
    return target
