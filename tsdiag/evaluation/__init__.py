"""``tsdiag eval``: the checkpoint run on the data, teacher-forced, as forensic evidence.

=================  ==========================================================
module             job
=================  ==========================================================
``windows``        windows cut as the trainer's layout cuts them, spread evenly
``models``         the model: tsdiag's decoders, or transformers for HF folders
``scoring``        the batched forward pass: losses, article targets and slots
``probes``         label shift, a leaked causal mask, dropout, ties, final norm
``facts``          the measured values with units and sources (the JSON)
``rules``          findings from those values
``run``            :func:`evaluate`, the API the command and ``diagnose`` call
=================  ==========================================================
"""

from __future__ import annotations

from tsdiag.evaluation.facts import EvalFacts
from tsdiag.evaluation.run import evaluate

__all__ = ["EvalFacts", "evaluate"]
