"""tsdiag: forensics for small language-model training runs that went wrong.

The command line (``tsdiag …``) is a thin layer over this package.  Heavy
modules (torch, datasets, matplotlib) are imported only when a function that
needs them is called, so ``import tsdiag`` and ``tsdiag --help`` stay fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it (resolved on first access)
_LAZY_API = {
    "audit_shards": "tsdiag.data.audit",
    "load_tokenizer": "tsdiag.tokenizer",
    "inspect_checkpoint": "tsdiag.checkpoint",
    "inspect_directory": "tsdiag.checkpoint",
    "load_state_dict": "tsdiag.checkpoint",
    "standard_loss": "tsdiag.loss",
    "article_weighted_loss": "tsdiag.loss",
    "LossBreakdown": "tsdiag.loss",
    "retrain": "tsdiag.train.loop",
    "read_summary": "tsdiag.compare",
    "parse_log": "tsdiag.logs",
    "analyze_curve": "tsdiag.logs",
    "sample_checkpoint": "tsdiag.sample",
    "evaluate": "tsdiag.evaluation",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY_API:
        return getattr(importlib.import_module(_LAZY_API[name]), name)
    raise AttributeError(f"module 'tsdiag' has no attribute {name!r}")


__all__ = ["__version__", *_LAZY_API]
