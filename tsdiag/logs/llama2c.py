"""karpathy/llama2.c ``train.py`` output.

Every ``log_interval`` steps it prints ``100 | loss 2.1000 | lr 5.000000e-04 |
80.00ms | mfu 40.00%``; every ``eval_interval`` steps ``step 2000: train loss
1.2000, val loss 1.3000``.  The lr on each step line gives the schedule.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

from tsdiag.logs.facts import LossCurve
from tsdiag.logs.interface import EVAL_LINE, FLOAT, TextLogFormat, first_match

_STEP_LINE = rf"(\d+)[ \t]*\|[ \t]*loss[ \t]+({FLOAT})(?:[ \t]*\|[ \t]*lr[ \t]+({FLOAT}))?"
_LINE = re.compile(rf"^[ \t]*(?:{_STEP_LINE}|{EVAL_LINE})", re.MULTILINE)
_SNIFF_STEP = re.compile(rf"[ \t]*{_STEP_LINE}")
_SNIFF_EVAL = re.compile(rf"[ \t]*{EVAL_LINE}")


class Llama2cFormat(TextLogFormat):
    name = "llama2c"
    description = "llama2.c train.py output"

    def sniff(self, path: Path, head_lines: Sequence[str]) -> float:
        if first_match(_SNIFF_STEP, head_lines):
            return 1.0
        # the eval line alone is shared with nanoGPT
        return 0.5 if first_match(_SNIFF_EVAL, head_lines) else 0.0

    def consume(self, block: str, curve: LossCurve) -> int:
        # bound appends: this loop runs once per logged step
        train_steps, train_losses = curve.train.steps.append, curve.train.values.append
        lr_steps, lrs = curve.lr.steps.append, curve.lr.values.append
        eval_train, val = curve.eval_train.add, curve.val.add
        matched = 0
        for match in _LINE.finditer(block):
            step, loss, rate, eval_step, train_loss, val_loss = match.groups()
            if step is not None:
                at = float(step)
                train_steps(at)
                train_losses(float(loss))
                if rate is not None:
                    lr_steps(at)
                    lrs(float(rate))
            else:
                at = float(eval_step)
                eval_train(at, float(train_loss))
                val(at, float(val_loss))
            matched += 1
        return matched
