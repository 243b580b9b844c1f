"""Token data: shard readers, word-level article detection, the audit, top-K remapping.

``audit_shards`` (and its result type) are resolved lazily so that importing
:mod:`tsdiag.data.shards` alone stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {"audit_shards": "tsdiag.data.audit", "AuditResult": "tsdiag.data.audit"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tsdiag.data' has no attribute {name!r}")


__all__ = list(_LAZY)
