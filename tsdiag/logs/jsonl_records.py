"""JSON Lines: one JSON object per logged step (``{"step": 100, "loss": 2.1}``).

Keys are recognised by meaning, like CSV columns (see
:mod:`tsdiag.logs.columns`); W&B-style ``train/loss`` works.  Lines that are
not JSON objects or carry no step are counted as skipped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from tsdiag.logs import columns
from tsdiag.logs.facts import LossCurve, Series
from tsdiag.logs.interface import LogFormat, iter_line_blocks, note_partial_last_line

_SUFFIXES = {".jsonl", ".ndjson"}


def _object(line: str) -> dict | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


_NUMBER = frozenset({int, float})


def _plan(keys: tuple, targets: dict[str, Series]) -> tuple[str | None, list]:
    """For records with these keys: the step key and (key, steps.append, values.append) per value key."""
    roles = columns.roles(keys)
    step_key = next((k for k, meaning in roles.items() if meaning == columns.STEP), None)
    return step_key, [(k, targets[meaning].steps.append, targets[meaning].values.append)
                      for k, meaning in roles.items() if meaning in targets]


def _records(block: str) -> list:
    """The block's lines as parsed JSON values (None for a line that is not JSON).

    One ``json.loads`` over the whole block (as an array) is about twice as
    fast as one call per line; a block with a blank or broken line falls back
    to line by line.
    """
    try:
        return json.loads("[" + block.rstrip("\n").replace("\n", ",") + "]")
    except ValueError:
        return [_object(line) for line in block.splitlines() if line.strip()]


class JsonlFormat(LogFormat):
    name = "jsonl"
    description = "JSON Lines with step and loss keys"

    def sniff(self, path: Path, head_lines: Sequence[str]) -> float:
        first = next((line for line in head_lines if line.strip()), "")
        record = _object(first) if first.lstrip().startswith("{") else None
        if record is None or not columns.describes_losses(record):
            return 0.0
        return 1.0 if path.suffix.lower() in _SUFFIXES else 0.9

    def parse(self, path: Path) -> LossCurve:
        curve = LossCurve(str(path), self.name)
        targets = columns.series_for(curve)
        plans: dict[tuple, tuple[str | None, list]] = {}  # key tuple -> _plan(keys); records mostly share keys
        total = skipped = 0
        for block in iter_line_blocks(path):
            for record in _records(block):
                total += 1
                if not isinstance(record, dict):
                    skipped += 1
                    continue
                keys = tuple(record)
                plan = plans.get(keys)
                if plan is None:
                    plan = plans[keys] = _plan(keys, targets)
                step_key, fields = plan
                step = record[step_key] if step_key is not None else None
                added = False
                if type(step) in _NUMBER:
                    for key, add_step, add_value in fields:
                        value = record[key]
                        if type(value) in _NUMBER:  # bool and None are not values
                            add_step(step)
                            add_value(value)
                            added = True
                skipped += not added
        curve.total_lines, curve.skipped_lines = total, skipped
        note_partial_last_line(path, curve)
        return curve
