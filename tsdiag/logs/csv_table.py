"""CSV (or TSV) tables with a header row: one row per logged step.

Columns are recognised by meaning (see :mod:`tsdiag.logs.columns`), so
tsdiag's own ``metrics.csv``, W&B and TensorBoard exports and hand-written
tables all read the same way.  Empty cells are missing values; ``nan`` and
``inf`` cells are logged values.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterator, Sequence

from tsdiag.errors import InputError
from tsdiag.logs import columns
from tsdiag.logs.facts import LossCurve
from tsdiag.logs.interface import LogFormat, note_partial_last_line

_DELIMITERS = ",\t;"
_SUFFIXES = {".csv": ",", ".tsv": "\t"}


def _delimiter(path: Path, header: str) -> str:
    """The suffix's delimiter when the header holds it, else the candidate the header holds most of."""
    expected = _SUFFIXES.get(path.suffix.lower())
    if expected is not None and expected in header:
        return expected
    return max(_DELIMITERS, key=header.count)


def _header(path: Path, line: str) -> tuple[str, list[str]]:
    delimiter = _delimiter(path, line)
    return delimiter, next(csv.reader([line], delimiter=delimiter), [])


class CsvFormat(LogFormat):
    name = "csv"
    description = "CSV/TSV with step and loss columns"

    def sniff(self, path: Path, head_lines: Sequence[str]) -> float:
        if not head_lines or not any(d in head_lines[0] for d in _DELIMITERS):
            return 0.0
        _, names = _header(path, head_lines[0])
        if not columns.describes_losses(names):
            return 0.0
        return 1.0 if path.suffix.lower() in _SUFFIXES else 0.9

    def parse(self, path: Path) -> LossCurve:
        curve = LossCurve(str(path), self.name)
        targets = columns.series_for(curve)
        with open(path, "r", encoding="utf-8", errors="replace", newline="") as fh:
            delimiter, names = _header(path, fh.readline())
            roles = columns.roles(names)
            if not columns.describes_losses(names):
                raise InputError(path, f"header has no {columns.expected_names()}: {names[:12]}")
            index = {meaning: names.index(name) for name, meaning in roles.items()}
            step_at = index.pop(columns.STEP)
            # (column, steps.append, values.append): bound methods, as this loop runs once per row
            plan = [(i, targets[meaning].steps.append, targets[meaning].values.append)
                    for meaning, i in index.items() if meaning in targets]
            total = skipped = 0
            for row in csv.reader(_whole_lines(fh), delimiter=delimiter):
                if not row:
                    continue
                total += 1
                try:
                    step = float(row[step_at])
                except (IndexError, ValueError):
                    skipped += 1
                    continue
                added = False
                for i, add_step, add_value in plan:
                    cell = row[i] if i < len(row) else ""
                    if cell:
                        try:
                            value = float(cell)
                        except ValueError:
                            continue
                        add_step(step)
                        add_value(value)
                        added = True
                skipped += not added
        curve.total_lines, curve.skipped_lines = total, skipped
        note_partial_last_line(path, curve)
        return curve


def _whole_lines(fh) -> Iterator[str]:
    """The file's remaining lines, less a last one without a line end (see ``partial_last_line``)."""
    for line in fh:
        if line.endswith(("\n", "\r")):
            yield line
