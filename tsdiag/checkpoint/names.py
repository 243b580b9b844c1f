"""What a checkpoint's file name says: latest, best, an epoch, a step.

Trainers encode their intent in names (``checkpoint_latest.pth``,
``checkpoint_best_loss.pth``, ``checkpoint_epoch_5.pth``, Lightning's
``epoch=2-step=1200.ckpt``, Hugging Face's ``checkpoint-500/``).  These are
weaker evidence than recorded values and are labelled "file name".
"""

from __future__ import annotations

import re
from pathlib import Path

from tsdiag.checkpoint.facts import FileFacts

_STEP = re.compile(r"(?:^|[^a-z])(?:step|steps|iter|iters|iteration|global_step|checkpoint|ckpt)[=_\-]?(\d+)(?!\d)",
                   re.IGNORECASE)
_EPOCH = re.compile(r"(?:^|[^a-z])(?:epoch|ep)[=_\-]?(\d+)(?!\d)", re.IGNORECASE)
_ROLES = (("best", re.compile(r"(?:^|[^a-z])best(?:[^a-z]|$)", re.I)),
          ("latest", re.compile(r"(?:^|[^a-z])(?:latest|last)(?:[^a-z]|$)", re.I)),
          ("final", re.compile(r"(?:^|[^a-z])final(?:[^a-z]|$)", re.I)))


def parse_name(name: str) -> tuple[str | None, int | None, int | None]:
    """(role, step, epoch) from a file or folder name."""
    stem = re.sub(r"\.(pt|pth|ckpt|bin|safetensors|tar)$", "", name, flags=re.I)
    role = next((r for r, pattern in _ROLES if pattern.search(stem)), None)
    step = _STEP.search(stem)
    epoch = _EPOCH.search(stem)
    return role, int(step.group(1)) if step else None, int(epoch.group(1)) if epoch else None


def file_facts(path: Path) -> FileFacts:
    stat = path.stat()
    size = stat.st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    role, step, epoch = parse_name(path.name)
    return FileFacts(path=path, size_bytes=size, mtime=stat.st_mtime, role=role, step_from_name=step,
                     epoch_from_name=epoch)
