"""Column and key names of tabular logs, recognised by meaning.

CSV headers, JSONL keys and Hugging Face ``log_history`` entries name the
same quantities in different words (``iter`` / ``global_step``,
``eval_loss`` / ``val_loss``, ``train/loss`` from W&B exports).  Names are
compared after lower-casing and turning ``/``, ``-``, ``.`` and spaces into
``_``.  tsdiag's own ``metrics.csv`` (step, loss, article_loss, other_loss,
ratio, lr, val_loss, …) is covered by the plain names.
"""

from __future__ import annotations

import re
from typing import Iterable

from tsdiag.logs.facts import LossCurve, Series

STEP = "step"
# meaning -> the names that carry it
NAMES: dict[str, tuple[str, ...]] = {
    STEP: ("step", "steps", "iter", "iters", "iter_num", "iteration", "global_step", "train_global_step",
           "trainer_global_step", "_step"),
    "loss": ("loss", "train_loss", "training_loss"),
    "val_loss": ("val_loss", "eval_loss", "validation_loss", "valid_loss", "val_loss_epoch"),
    "lr": ("lr", "learning_rate", "train_lr", "train_learning_rate"),
    "article_loss": ("article_loss", "train_article_loss"),
    "other_loss": ("other_loss", "train_other_loss", "non_article_loss"),
    "ratio": ("ratio", "article_ratio", "article_other_ratio", "loss_ratio"),
}
# meaning -> the LossCurve series it fills
SERIES: dict[str, str] = {
    "loss": "train", "val_loss": "val", "lr": "lr",
    "article_loss": "article_loss", "other_loss": "other_loss", "ratio": "ratio",
}
LOSSES = frozenset({"loss", "val_loss"})

_SEPARATORS = re.compile(r"[/\-. ]+")
_MEANING = {name: meaning for meaning, names in NAMES.items() for name in names}


def meaning_of(name: str) -> str | None:
    """``"train/loss"`` -> ``"loss"``; None for a name tsdiag does not use."""
    return _MEANING.get(_SEPARATORS.sub("_", name.strip().lower()))


def roles(names: Iterable[str]) -> dict[str, str]:
    """name -> meaning for the names that carry one (the first name wins per meaning)."""
    found: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        meaning = meaning_of(name)
        if meaning is not None and meaning not in taken:
            found[name] = meaning
            taken.add(meaning)
    return found


def describes_losses(names: Iterable[str]) -> bool:
    """True when the names include a step and at least one loss."""
    meanings = set(roles(names).values())
    return STEP in meanings and bool(meanings & LOSSES)


def series_for(curve: LossCurve) -> dict[str, Series]:
    """meaning -> the series of ``curve`` that values of that meaning go to."""
    return {meaning: getattr(curve, attribute) for meaning, attribute in SERIES.items()}


def expected_names() -> str:
    """For error messages: which names count as a step and as a loss."""
    return (f"a step column ({', '.join(NAMES[STEP][:6])}, …) and a loss column "
            f"({', '.join(NAMES['loss'] + NAMES['val_loss'][:2])}, …)")
