"""Fitting text into a fixed width without ever splitting a word.

A console (100 columns in CI) cannot show every path and tensor name in full, but a name cut in the
middle ("checkpoint_epoch_1.p" / "th") reads as two wrong names.  So a word is either whole or
shortened *from the left* with an ellipsis ("…/runs/standard/ckpt.pt"): the end of a path or a tensor
name is what tells it from its neighbours.  JSON and Markdown keep the full text; only the console
shortens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

ELLIPSIS = "…"
MIN_WORD = 8  # a column is never squeezed below this many characters per word (…/ckpt.pt stays legible)


def shorten_left(word: str, width: int) -> str:
    """``word`` if it fits, else an ellipsis and its last ``width - 1`` characters."""
    if len(word) <= width:
        return word
    return ELLIPSIS + word[len(word) - max(width - 1, 0):] if width > 0 else ""


def fit_words(text: str, width: int) -> str:
    """``text`` with every word (between spaces) at most ``width`` long; lines and spacing are kept."""
    return "\n".join(" ".join(shorten_left(w, width) for w in line.split(" ")) for line in text.split("\n"))


def fit_line(text: str, width: int) -> str:
    """One line of at most ``width`` characters: its longest words are shortened from the left first."""
    words = text.split(" ")
    while len(" ".join(words)) > width:
        i = max(range(len(words)), key=lambda k: len(words[k]))
        excess = len(" ".join(words)) - width
        if len(words[i]) <= MIN_WORD:
            return shorten_left(" ".join(words), width)
        words[i] = shorten_left(words[i], max(len(words[i]) - excess, MIN_WORD))
    return " ".join(words)


def longest_word(text: str) -> int:
    return max((len(w) for line in text.split("\n") for w in line.split(" ")), default=0)


def longest_line(text: str) -> int:
    return max((len(line) for line in text.split("\n")), default=0)


def wrapped_lines(text: str, width: int) -> int:
    """How many lines ``text`` takes word-wrapped at ``width`` (a word longer than the width takes its own)."""
    count = 0
    for line in text.split("\n"):
        count += 1
        used = 0
        for word in line.split():
            if used and used + 1 + len(word) > width:
                count += 1
                used = len(word)
            else:
                used += len(word) + (1 if used else 0)
    return count


SHORT_COLUMN = 16  # a column whose longest cell is at most this wide is never wrapped while others can be
SAMPLE_ROWS = 200  # rows a width allocation looks at: a long listing is laid out like its first rows


def column_widths(columns: Sequence[Sequence[str]], available: int) -> list[int]:
    """Widths, one per column (its cells, header included), that add up to at most ``available``.

    Content that fits gets its natural width.  Otherwise every column first gets its longest word
    (capped at a common level when even the words do not fit, so the longest names are shortened,
    never split); the remaining room then goes, a few characters at a time, to the column where it
    saves the most table lines: the evidence column of a matrix gets it, a verdict column that
    already fits on one line does not.
    """
    import numpy as np

    natural = [max(1, max((longest_line(c) for c in cells), default=1)) for cells in columns]
    if sum(natural) <= available:
        return natural
    words = [max(1, max((longest_word(c) for c in cells), default=1)) for cells in columns]
    cap = _level(words, available)
    widths = [min(w, cap) for w in words]
    short = [n if n <= SHORT_COLUMN else w for n, w in zip(natural, widths)]
    if sum(short) <= available:  # "not checked", "why it matters": one line each, never two
        widths = short
    spare = available - sum(widths)
    if spare <= 0:
        return widths
    # lines[c][k, r]: row r's lines in column c at width widths[c] + k
    lines = [np.array([[wrapped_lines(cell, w + k) for cell in cells[:SAMPLE_ROWS]]
                       for k in range(max(0, min(spare, n - w)) + 1)])
             for cells, w, n in zip(columns, widths, natural)]
    extra = [0] * len(columns)

    def height(ext: list[int]) -> int:
        """Table lines first; then every cell's own lines, so that room which only shortens one cell of a row
        still counts (two columns widened one after the other can save a row's line together)."""
        cells = np.stack([lines[c][ext[c]] for c in range(len(columns))])
        return int(cells.max(axis=0).sum()) * 1000 + int(cells.sum())

    current = height(extra)
    while spare > 0:
        best = None  # (lines saved per character, characters, column)
        for c in range(len(columns)):
            for d in range(1, min(spare, len(lines[c]) - 1 - extra[c]) + 1):
                trial = extra.copy()
                trial[c] += d
                saved = current - height(trial)
                if saved > 0:
                    if best is None or saved / d > best[0]:
                        best = (saved / d, d, c)
                    break
        if best is None:
            break
        _, d, c = best
        extra[c] += d
        spare -= d
        current = height(extra)
    widths = [w + e for w, e in zip(widths, extra)]
    for c in sorted(range(len(widths)), key=lambda k: natural[k]):  # room that saves no line: whole cells
        if natural[c] - widths[c] <= spare:
            spare -= natural[c] - widths[c]
            widths[c] = natural[c]
    return widths


def _level(words: Sequence[int], available: int) -> int:
    """The largest cap (at least MIN_WORD) with ``sum(min(word, cap)) <= available``."""
    cap = max(words)
    while cap > MIN_WORD and sum(min(w, cap) for w in words) > available:
        cap -= 1
    return cap


def short_names(paths: Sequence[str | Path]) -> list[str]:
    """The shortest path tails that tell the files apart (runs/standard/metrics.csv -> standard/metrics.csv)."""
    parts = [Path(p).parts for p in paths]
    for depth in range(1, max(map(len, parts), default=0) + 1):
        names = ["/".join(p[-depth:]) for p in parts]
        if len(set(names)) == len(names):
            return names
    return [str(p) for p in paths]
