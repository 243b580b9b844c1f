"""What every training-log format implements, and the text helpers they share.

A format is a small class behind :class:`LogFormat`: it scores how well the
first lines of a file fit it (:meth:`LogFormat.sniff`) and turns the whole
file into a :class:`~tsdiag.logs.facts.LossCurve` (:meth:`LogFormat.parse`).
Supporting a new trainer is one new module plus its entry in
:mod:`tsdiag.logs.registry`.

Text formats read the file in blocks of whole lines and run one compiled,
multi-line regular expression over each block (``finditer``), so lines that
do not match cost no Python work at all and memory stays flat on long logs.
"""

from __future__ import annotations

import abc
import re
from pathlib import Path
from typing import Iterator, Sequence

from tsdiag.logs.facts import LossCurve, Recorded

# A logged number as Python prints it, NaN and infinities included
# (``float()`` accepts every spelling this allows).
FLOAT = r"[-+]?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|[nN]a[nN]|[iI]nf(?:inity)?)"

# The evaluation line llama2.c and nanoGPT both print every eval_interval steps.
EVAL_LINE = rf"step (\d+): train loss ({FLOAT}), val loss ({FLOAT})"

_EMPTY_LINE = re.compile(r"\n(?=\n)")  # the newline before an empty line
_BLOCK_CHARS = 4 << 20
_TAIL_BYTES = 4096       # how far from the end a partial last line is looked for


class LogFormat(abc.ABC):
    """One way a trainer writes its loss down."""

    #: short name used by ``--format-hint`` and in reports
    name: str
    #: a few words for the unknown-format error and the report's format row
    description: str

    @abc.abstractmethod
    def sniff(self, path: Path, head_lines: Sequence[str]) -> float:
        """How well the file fits this format, from 0 (not at all) to 1 (certain).

        ``head_lines`` are the first lines of the file (without newlines);
        the file suffix may count too.  Sniffing never reads the file itself.
        """

    @abc.abstractmethod
    def parse(self, path: Path) -> LossCurve:
        """Read the whole file; lines that do not fit are counted, not fatal."""


class TextLogFormat(LogFormat):
    """A line-oriented log: the shared read loop, the format supplies :meth:`consume`."""

    @abc.abstractmethod
    def consume(self, block: str, curve: LossCurve) -> int:
        """Add every point in ``block`` (whole lines) to ``curve``; return how many lines matched."""

    def parse(self, path: Path) -> LossCurve:
        curve = LossCurve(str(path), self.name)
        matched = total = 0
        for number, block in enumerate(iter_line_blocks(path)):
            if number == 0:
                curve.settings.update(scan_settings(block, path))
            total += count_lines(block)
            matched += self.consume(block, curve)
        curve.total_lines, curve.skipped_lines = total, total - matched
        note_partial_last_line(path, curve)
        return curve


def partial_last_line(path: Path) -> str | None:
    """The last line of a file that does not end with a line end, else None.

    Such a line belongs to a log still being written or one cut mid-line:
    ``loss 2.3`` may be the first digits of ``loss 2.3417``, so it is never read as a value.
    """
    size = path.stat().st_size
    if not size:
        return None
    with open(path, "rb") as fh:
        fh.seek(max(0, size - _TAIL_BYTES))
        tail = fh.read()
    if tail.endswith((b"\n", b"\r")):
        return None
    line = re.split(rb"[\r\n]", tail)[-1].decode("utf-8", errors="replace").strip()
    return line or None


def note_partial_last_line(path: Path, curve: LossCurve) -> None:
    """Record the held-back last line (see :func:`partial_last_line`) and count it as skipped."""
    curve.partial_last_line = partial_last_line(path)
    if curve.partial_last_line is not None:
        curve.total_lines += 1
        curve.skipped_lines += 1


def iter_line_blocks(path: Path, block_chars: int = _BLOCK_CHARS) -> Iterator[str]:
    """The file's text in blocks of whole lines, each ending with a newline.

    Universal newlines turn ``\\r`` progress-bar updates and Windows line ends
    into ``\\n``; undecodable bytes become U+FFFD instead of failing the read.
    A last line without a line end is left out (:func:`partial_last_line`).
    """
    with open(path, "r", encoding="utf-8", errors="replace") as fh:
        carry = ""
        while True:
            block = fh.read(block_chars)
            if not block:
                break
            block = carry + block
            cut = block.rfind("\n")
            if cut < 0:
                carry = block
                continue
            carry = block[cut + 1:]
            yield block[: cut + 1]


def count_lines(block: str) -> int:
    """Non-empty lines in a block from :func:`iter_line_blocks` (plain counts, no per-line work)."""
    return block.count("\n") - len(_EMPTY_LINE.findall(block)) - block.startswith("\n")


def first_match(pattern: re.Pattern[str], lines: Sequence[str]) -> re.Match[str] | None:
    """The first of ``lines`` that ``pattern`` matches (used by sniffers)."""
    for line in lines:
        match = pattern.match(line)
        if match:
            return match
    return None


# Run settings that trainers print before the first step: llama2.c's and
# nanoGPT's configurator ("Overriding: max_iters = 5000"), nanoGPT's
# "found vocab_size = 65 (inside …)" / "defaulting to vocab_size of GPT-2 to
# 50304", and config dicts dumped as text ("'vocab_size': 32000").
_SETTINGS = {
    "vocab_size": re.compile(r"^.*?\bvocab_size(?:['\"]?\s*[=:]\s*| of GPT-2 to )(\d+)", re.MULTILINE),
    "planned_steps": re.compile(r"^.*?\bmax_(?:iters|steps)['\"]?\s*[=:]\s*(\d+)", re.MULTILINE),
}
_SOURCE_CHARS = 80


def scan_settings(block: str, path: Path) -> dict[str, Recorded]:
    """Settings the log prints about its own run; the last statement in ``block`` wins."""
    found: dict[str, Recorded] = {}
    for key, pattern in _SETTINGS.items():
        match = None
        for match in pattern.finditer(block):
            pass
        if match is not None:
            line = match.group(0).strip()[:_SOURCE_CHARS]
            found[key] = Recorded(int(match.group(1)), f"{path.name}: '{line}'")
    return found
