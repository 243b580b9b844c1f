"""What ``tsdiag eval`` measured, as plain values with units and sources (JSON keys: docs/eval.md)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0       # fixed: the same windows give the same interval
CONFIDENCE = 0.95


@dataclass(frozen=True)
class LossEstimate:
    """Mean loss per target over the windows, with a bootstrap interval over windows."""

    nats: float
    low: float
    high: float
    windows: int
    targets: int

    @classmethod
    def of(cls, window_nll, targets_per_window: int) -> "LossEstimate":
        per_window = np.asarray(window_nll, dtype=np.float64) / max(targets_per_window, 1)
        mean = float(per_window.mean())
        if len(per_window) < 2:
            return cls(mean, mean, mean, len(per_window), len(per_window) * targets_per_window)
        rng = np.random.default_rng(BOOTSTRAP_SEED)
        means = per_window[rng.integers(0, len(per_window), (BOOTSTRAP_RESAMPLES, len(per_window)))].mean(axis=1)
        tail = (1 - CONFIDENCE) / 2 * 100
        low, high = np.percentile(means, [tail, 100 - tail])
        return cls(mean, float(low), float(high), len(per_window), len(per_window) * targets_per_window)

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def to_dict(self) -> dict:
        return {"nats_per_token": self.nats, "interval": [self.low, self.high], "confidence": CONFIDENCE,
                "windows": self.windows, "targets": self.targets}


@dataclass(frozen=True)
class ArticleFigures:
    """The symptom measured on text: losses on article targets vs others, and the article slots."""

    article_loss: float | None     # nats per article-word target
    other_loss: float | None       # nats per other target
    article_targets: int
    other_targets: int
    slots: int                     # targets that are a whole one-token article word
    slot_probability: float | None  # mean P(any article token) at the slots
    slot_top1_article: float | None  # share of slots whose top-1 prediction is an article token
    slot_skips: float | None       # share of slots whose top-1 prediction is the word after the article
    article_share: float | None    # share of all targets that are one-token article words (a unigram's P)

    @classmethod
    def of(cls, totals) -> "ArticleFigures":
        def ratio(a, b):
            return a / b if b else None

        return cls(ratio(totals.article_nll, totals.article_targets), ratio(totals.other_nll, totals.other_targets),
                   totals.article_targets, totals.other_targets, totals.slots,
                   ratio(totals.slot_probability, totals.slots), ratio(totals.slot_top1_article, totals.slots),
                   ratio(totals.slot_top1_skips, totals.slots_with_next), ratio(totals.slots, totals.targets))

    def to_dict(self) -> dict:
        return {"article_loss": self.article_loss, "other_loss": self.other_loss,
                "article_targets": self.article_targets, "other_targets": self.other_targets,
                "slots": self.slots, "slot_probability": self.slot_probability,
                "slot_top1_article": self.slot_top1_article, "slot_skips": self.slot_skips,
                "article_share": self.article_share}


@dataclass(frozen=True)
class TextScore:
    """One body of text scored: the loss, what a context-free model would score, and the article figures."""

    name: str                      # "data" or "reference"
    source: str                    # the files, or the bundled text
    loss: LossEstimate
    unigram_entropy: float         # nats/token of the targets' own unigram distribution
    articles: ArticleFigures | None

    def to_dict(self) -> dict:
        return {"source": self.source, "loss": self.loss.to_dict(), "unigram_entropy": self.unigram_entropy,
                "articles": self.articles.to_dict() if self.articles else None}


def unigram_entropy(counts: np.ndarray) -> float:
    """Entropy (nats) of the targets' own frequencies: the loss of the best model that ignores context."""
    counts = counts[counts > 0].astype(np.float64)
    if not len(counts):
        return math.nan
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


@dataclass(frozen=True)
class RecordedLoss:
    """A loss the run itself recorded, to compare the evaluation with."""

    kind: str        # "checkpoint" (the val loss saved with the weights) or "log" (the log's last loss)
    value: float     # nats/token
    source: str
    split: str       # "val" or "train"
    step: float | None = None

    def to_dict(self) -> dict:
        return {"kind": self.kind, "value": self.value, "source": self.source, "split": self.split, "step": self.step}


@dataclass(frozen=True)
class Probe:
    """One bug probe: what it measured, and whether it could run."""

    name: str
    ran: bool
    values: dict = field(default_factory=dict)
    note: str = ""   # why it did not run, or what the values mean

    def to_dict(self) -> dict:
        return {"ran": self.ran, "values": self.values, "note": self.note}


@dataclass
class EvalFacts:
    checkpoint: str
    family: str
    data: list[str]
    tokenizer: str | None
    layout: str
    seq_len: int
    plan: object                    # tsdiag.evaluation.windows.WindowPlan
    device: str
    precision: str
    scores: dict[str, TextScore]    # "data", and "reference" when a tokenizer gave the bundled text
    bytes_per_token: object = None  # tsdiag.units.BytesPerToken
    recorded: list[RecordedLoss] = field(default_factory=list)
    probes: dict[str, Probe] = field(default_factory=dict)
    recipe: dict = field(default_factory=dict)   # what the checkpoint records of its objective and dropout
    against: "EvalFacts | None" = None
    seconds: float = 0.0

    @property
    def data_score(self) -> TextScore:
        return self.scores["data"]

    def to_dict(self) -> dict:
        from tsdiag.units import bits_per_byte

        loss = self.data_score.loss
        bpt = self.bytes_per_token
        return {
            "checkpoint": self.checkpoint, "family": self.family, "data": self.data, "tokenizer": self.tokenizer,
            "layout": self.layout, "seq_len": self.seq_len, "device": self.device, "precision": self.precision,
            "windows": {"evaluated": self.plan.windows, "available": self.plan.available,
                        "targets_per_window": self.plan.targets_per_window},
            "loss": loss.to_dict(),
            "bits_per_byte": None if bpt is None else bits_per_byte(loss.nats, bpt),
            "bytes_per_token": None if bpt is None else bpt.to_dict(),
            "scores": {k: v.to_dict() for k, v in self.scores.items()},
            "recorded": [r.to_dict() for r in self.recorded],
            "probes": {k: v.to_dict() for k, v in self.probes.items()},
            "recipe": self.recipe,
            "against": self.against.to_dict() if self.against is not None else None,
            "seconds": self.seconds,
        }
