"""One check per kind of input; every command calls its check and ``diagnose`` walks them all.

=============  =================  ===========================================
check          command            inputs
=============  =================  ===========================================
checkpoint     ``inspect``        a checkpoint (+ config, tokenizer)
data           ``audit-data``     shards or text (+ tokenizer)
tokenizer      ``audit-tokenizer`` a tokenizer (+ text)
log            ``logs``           a training log (+ vocab size, tokenizer)
runs           ``compare``        tsdiag run folders or checkpoints
sample         ``sample``         a checkpoint and its tokenizer
eval           ``eval``           a checkpoint and data (+ tokenizer, log)
crosscheck     (diagnose only)    a checkpoint and its run's log together
=============  =================  ===========================================

Each module has ``NAME``, ``COMMAND`` and ``run(...) -> CheckResult``; see
:mod:`tsdiag.checks.interface` for what a result holds.
"""

from __future__ import annotations

from tsdiag.checks import checkpoint, crosscheck, data, logs, runs, sample, tokenizer
from tsdiag.checks import eval as eval_check
from tsdiag.checks.interface import CheckResult, Measurement

CHECKS = {module.NAME: module for module in (checkpoint, data, tokenizer, logs, runs, sample, eval_check, crosscheck)}

__all__ = ["CHECKS", "CheckResult", "Measurement"]
