"""Hugging Face ``Trainer`` state: ``trainer_state.json``.

The Trainer writes it into every ``checkpoint-N`` folder and the output
folder.  ``log_history`` holds one entry per logging step (``loss``,
``learning_rate``, ``grad_norm``, ``epoch``, ``step``), one per evaluation
(``eval_loss``, …) and a closing summary (``train_runtime``, ``train_loss`` as
a run average, which is not a point of the curve).  ``max_steps`` is the
planned length of the run.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

from tsdiag.errors import InputError
from tsdiag.logs import columns
from tsdiag.logs.facts import LossCurve, Recorded
from tsdiag.logs.interface import LogFormat

FILENAME = "trainer_state.json"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


class HFTrainerStateFormat(LogFormat):
    name = "hf-trainer"
    description = "Hugging Face Trainer trainer_state.json"

    def sniff(self, path: Path, head_lines: Sequence[str]) -> float:
        if path.name == FILENAME:
            return 1.0
        return 0.9 if any('"log_history"' in line for line in head_lines) else 0.0

    def parse(self, path: Path) -> LossCurve:
        try:
            with open(path, "r", encoding="utf-8") as fh:
                state = json.load(fh)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(path, f"not valid JSON ({exc}); a trainer_state.json may be truncated") from None
        history = state.get("log_history") if isinstance(state, dict) else None
        if not isinstance(history, list):
            raise InputError(path, "no log_history list: not a Hugging Face trainer_state.json")
        curve = LossCurve(str(path), self.name, total_lines=len(history))
        targets = columns.series_for(curve)
        skipped = 0
        for entry in history:
            step = _number(entry.get("step")) if isinstance(entry, dict) else None
            if step is None or "train_runtime" in entry:
                skipped += 1
                continue
            added = False
            for key, meaning in columns.roles(entry).items():
                value = _number(entry[key])
                if meaning in targets and value is not None:
                    targets[meaning].add(step, value)
                    added = added or meaning in columns.LOSSES
            skipped += not added
        curve.skipped_lines = skipped
        planned = _number(state.get("max_steps"))
        if planned is not None and planned > 0 and math.isfinite(planned):
            curve.settings["planned_steps"] = Recorded(int(planned), f"{path.name}: max_steps")
        return curve
