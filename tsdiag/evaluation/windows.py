"""The windows an evaluation reads: cut as the trainer cut them, spread evenly over the data.

A trainer's windows are planned from :mod:`tsdiag.data.layouts`; when there are more than
``max_tokens`` allow, every k-th one is taken (k constant), so the evaluation sees the whole data
rather than its first shard. Windows are read from the memory-mapped arrays batch by batch, so memory
stays flat however large the data is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from tsdiag.data.layouts import Layout, per_file, window_count


@dataclass(frozen=True)
class WindowPlan:
    """Which windows of which inputs are evaluated."""

    layout: Layout
    seq_len: int
    span: int                      # tokens read per window: inputs plus the targets' one extra token
    starts: tuple[tuple[int, int], ...]  # (input index, token offset); for contiguous, input 0 is the whole stream
    available: int                 # windows the trainer's layout cuts from the data

    @property
    def windows(self) -> int:
        return len(self.starts)

    @property
    def targets_per_window(self) -> int:
        return self.span - 1


def window_span(layout: Layout, seq_len: int) -> int:
    """Tokens a trainer reads per window: llama2.c and nanoGPT read seq_len + 1, HF's group_texts seq_len."""
    return seq_len if layout == "contiguous" else seq_len + 1


def plan_windows(lengths: Sequence[int], layout: Layout, seq_len: int, max_tokens: int) -> WindowPlan:
    """Windows of inputs of ``lengths`` tokens, at most ``max_tokens`` targets, evenly spread."""
    span = window_span(layout, seq_len)
    if per_file(layout):
        every = [(i, w * seq_len) for i, n in enumerate(lengths) for w in range(window_count(layout, n, seq_len))]
    else:
        every = [(0, w * seq_len) for w in range(window_count(layout, sum(lengths), seq_len))]
    wanted = max(1, max_tokens // (span - 1))
    if len(every) > wanted:
        picks = np.linspace(0, len(every) - 1, wanted).round().astype(int)
        chosen = tuple(every[i] for i in np.unique(picks))
    else:
        chosen = tuple(every)
    return WindowPlan(layout, seq_len, span, chosen, len(every))


def iter_windows(arrays: Sequence[np.ndarray], plan: WindowPlan, batch_size: int) -> Iterator[np.ndarray]:
    """Batches of windows as int64 arrays of shape (batch, span), in plan order."""
    stream = _Concatenated(arrays) if not per_file(plan.layout) else None
    for lo in range(0, plan.windows, batch_size):
        rows = []
        for index, start in plan.starts[lo:lo + batch_size]:
            source = stream if stream is not None else arrays[index]
            rows.append(np.asarray(source[start:start + plan.span], dtype=np.int64))
        yield np.stack(rows)


class _Concatenated:
    """Several memory-mapped arrays read as one, without copying them (for the contiguous layout)."""

    def __init__(self, arrays: Sequence[np.ndarray]):
        self.arrays = arrays
        self.offsets = np.cumsum([0] + [len(a) for a in arrays])

    def __getitem__(self, window: slice) -> np.ndarray:
        lo, hi = window.start, window.stop
        parts = []
        for a, begin in zip(self.arrays, self.offsets[:-1]):
            end = begin + len(a)
            if hi <= begin or lo >= end:
                continue
            parts.append(np.asarray(a[max(lo - begin, 0):min(hi, end) - begin], dtype=np.int64))
        return np.concatenate(parts)
