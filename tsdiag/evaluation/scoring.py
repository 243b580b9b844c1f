"""Teacher-forced scoring: one forward pass per batch of windows, and what it says about articles.

Per window the summed negative log-likelihood of every target (nats) is kept, so the loss gets a
bootstrap interval over windows. Targets are split into those that belong to an article word (the
word-level scanner of :mod:`tsdiag.data.articles`, not a list of ids) and the rest. An *article slot*
is a target that is a whole article word in one token ("▁the", "▁a"); there the model's probability
of any article token, whether its top-1 guess is an article, and whether its top-1 guess is instead
the word that follows the article (it skips the article: "there was little girl") are counted.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np


@dataclass
class ScoreTotals:
    """Running sums over the windows scored so far."""

    window_nll: list[float] = field(default_factory=list)   # nats, summed over each window's targets
    targets_per_window: int = 0
    article_nll: float = 0.0
    article_targets: int = 0
    other_nll: float = 0.0
    other_targets: int = 0
    slots: int = 0                 # targets that are a whole one-token article word
    slot_probability: float = 0.0  # sum over slots of P(any article token)
    slot_top1_article: int = 0     # slots where the top-1 prediction is an article token
    slot_top1_skips: int = 0       # slots where the top-1 prediction is the token after the article
    slots_with_next: int = 0       # slots whose following token is inside the window (the skip's denominator)
    target_counts: np.ndarray | None = None  # occurrences of each id among the targets (unigram baseline)

    @property
    def windows(self) -> int:
        return len(self.window_nll)

    @property
    def targets(self) -> int:
        return self.windows * self.targets_per_window


@dataclass(frozen=True)
class ArticleSlots:
    """What the scorer needs to find article words: the scanner's tables and the one-token article ids."""

    tables: object             # tsdiag.data.articles.ArticleTables
    start_ids: np.ndarray      # ids that are a whole article word and start it ("▁the", "▁A")

    @classmethod
    def build(cls, tokenizer, words) -> "ArticleSlots":
        from tsdiag.data.articles import ArticleTables, article_word_ids

        ids, _ = article_word_ids(tokenizer, None, words)  # by piece shape: the ids that start a word
        return cls(ArticleTables.build(tokenizer, words), np.asarray(ids, dtype=np.int64))


def autocast_for(device) -> object:
    """bf16 autocast on CUDA (as the trainers evaluate); float32 on the CPU."""
    import torch

    if torch.device(device).type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def score_windows(model, batches: Iterable[np.ndarray], *, vocab_size: int, device="cpu",
                  articles: ArticleSlots | None = None,
                  on_batch: Callable[[int], None] | None = None) -> ScoreTotals:
    """Teacher-forced losses of ``model`` over ``batches`` of windows (inputs = w[:-1], targets = w[1:])."""
    import torch
    import torch.nn.functional as F

    totals = ScoreTotals(target_counts=np.zeros(vocab_size, dtype=np.int64))
    start_ids = torch.as_tensor(articles.start_ids, device=device) if articles is not None else None
    with torch.inference_mode():
        for batch in batches:
            windows = torch.from_numpy(batch).to(device, non_blocking=True)
            inputs, targets = windows[:, :-1], windows[:, 1:]
            with autocast_for(device):
                logits = model(inputs)
            logits = logits.float()
            nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                  reduction="none").view(targets.shape)
            totals.window_nll.extend(nll.sum(dim=1).double().cpu().tolist())
            totals.targets_per_window = targets.shape[1]
            targets_np = batch[:, 1:]
            totals.target_counts += np.bincount(targets_np.reshape(-1), minlength=vocab_size)[:vocab_size]
            if articles is not None:
                _score_articles(totals, articles, start_ids, batch, logits, nll)
            if on_batch is not None:
                on_batch(len(batch))
    return totals


def _score_articles(totals: ScoreTotals, articles: ArticleSlots, start_ids, batch: np.ndarray, logits, nll) -> None:
    import torch

    from tsdiag.data.articles import article_mask

    # the scanner needs each target's neighbours: mask the whole window, then drop the first (an input only)
    in_article = torch.from_numpy(article_mask(articles.tables, batch)[:, 1:]).to(nll.device)
    totals.article_nll += float(nll[in_article].sum())
    totals.article_targets += int(in_article.sum())
    totals.other_nll += float(nll[~in_article].sum())
    totals.other_targets += int((~in_article).sum())
    if start_ids is None or not len(start_ids):
        return
    targets = torch.from_numpy(batch[:, 1:]).to(nll.device)
    slot = in_article & torch.isin(targets, start_ids)
    rows, cols = slot.nonzero(as_tuple=True)
    if not len(rows):
        return
    at = logits[rows, cols]                                   # (slots, V)
    log_total = torch.logsumexp(at, dim=-1)
    p_article = torch.exp(torch.logsumexp(at[:, start_ids], dim=-1) - log_total)
    top1 = at.argmax(dim=-1)
    totals.slots += len(rows)
    totals.slot_probability += float(p_article.sum())
    totals.slot_top1_article += int(torch.isin(top1, start_ids).sum())
    has_next = cols + 1 < targets.shape[1]
    following = targets[rows[has_next], cols[has_next] + 1]
    totals.slots_with_next += int(has_next.sum())
    totals.slot_top1_skips += int((top1[has_next] == following).sum())
