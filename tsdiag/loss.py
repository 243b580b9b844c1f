"""Training objectives: the standard next-token loss and the article-weighted one.

Both go through one per-token cross-entropy pass (``F.cross_entropy`` with
``reduction="none"`` on fp32-upcast logits; under ``torch.compile`` the upcast
fuses into the softmax kernel, so no fp32 copy of the logits is kept) and one
set of masked sums.  Both return a :class:`LossBreakdown`: ``total`` is the
scalar to call ``backward()`` on; the article/other losses are the plain
(unweighted) mean cross-entropy of each token class, for logging and
comparison.

The article-weighted objective gives every target token a weight ``w``:
``article_weight`` for targets in ``article_ids``, 1 for the rest, 0 for
``ignore_index``.  Two normalisations exist, and they train differently:

``normalize="weights"``  total = Σ w·ce / Σ w
    A weighted mean, as in the original failing project.  The loss stays on
    the scale of a per-token cross-entropy, but the denominator grows with the
    article count, so every non-article token's gradient shrinks by N/Σw
    (0.71 with 10% articles at weight 5) and the shrink factor changes from
    batch to batch with the number of articles in it.

``normalize="tokens"``   total = Σ w·ce / N   (N = non-ignored targets)
    Non-article tokens keep exactly the gradient of the standard loss and
    article tokens get ``article_weight`` times theirs; the total is no longer
    a per-token loss (it sits above the standard loss) and the larger gradient
    norm meets the gradient clip sooner.

With ``article_weight=1`` both reduce to the standard loss through the same
arithmetic, so the totals are bit-for-bit equal.

``groups=g`` evaluates a batch that holds ``g`` micro-batches of equal size
(a reference run merges the micro-batches of one optimizer step into one
forward pass when memory allows): each micro-batch is normalised on its own
and ``total`` is the mean of the ``g`` totals, so its gradient is exactly the
one gradient accumulation over those micro-batches gives, for both
normalisations (one weighted mean over the merged batch would not be).

Article ids are token ids (every id whose piece is an article word, from
``tsdiag.tokenizer.article_piece_ids``): a loss can only weight what it sees,
token by token, exactly as the project it reproduces did.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

NORMALIZATIONS = ("weights", "tokens")


@dataclass(frozen=True)
class LossBreakdown:
    """One objective evaluation.

    ``total`` carries the graph; every other field is detached.  Losses are
    0-d fp32 tensors, counts 0-d int64 tensors, so building a breakdown never
    waits for the GPU.  A class with no tokens in the batch has loss 0 and
    count 0 (never NaN); :attr:`ratio` is then ``None``.  Without article ids
    every target counts as "other" and the article fields stay at zero.
    """

    total: torch.Tensor
    article_loss: torch.Tensor
    other_loss: torch.Tensor
    article_tokens: torch.Tensor
    other_tokens: torch.Tensor

    @property
    def ratio(self) -> float | None:
        """article_loss / other_loss, or ``None`` when either class is empty (reads the GPU)."""
        values = self.to_dict()
        return values["ratio"]

    def to_dict(self) -> dict[str, float | int | None]:
        """Plain Python numbers; a loss of an empty class is ``None`` (one device sync)."""
        numbers = torch.stack([
            self.total.detach().float(), self.article_loss, self.other_loss,
            self.article_tokens.float(), self.other_tokens.float(),
        ]).tolist()
        total, article, other, n_article, n_other = numbers
        article_loss = article if n_article > 0 else None
        other_loss = other if n_other > 0 else None
        ratio = article_loss / other_loss if article_loss is not None and other_loss else None
        return {
            "total": total,
            "article_loss": article_loss,
            "other_loss": other_loss,
            "article_tokens": int(n_article),
            "other_tokens": int(n_other),
            "ratio": ratio,
        }


def per_token_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """Cross-entropy of every target, in fp32, flattened; 0 where ``targets == ignore_index``."""
    return F.cross_entropy(
        logits.reshape(-1, logits.size(-1)).float(),
        targets.reshape(-1),
        ignore_index=ignore_index,
        reduction="none",
    )


def _article_mask(targets: torch.Tensor, article_ids) -> torch.Tensor:
    if article_ids is None:
        return torch.zeros_like(targets, dtype=torch.bool)
    ids = torch.as_tensor(article_ids, dtype=targets.dtype, device=targets.device)
    return torch.isin(targets, ids)


def _safe_divide(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """numerator / denominator, 0 (with a finite gradient) when the denominator is 0."""
    return numerator / denominator.clamp(min=torch.finfo(numerator.dtype).tiny)


def _breakdown(
    logits: torch.Tensor,
    targets: torch.Tensor,
    article_ids,
    article_weight: float,
    normalize: str,
    ignore_index: int,
    groups: int = 1,
) -> LossBreakdown:
    if targets.numel() % groups:
        raise ValueError(f"{targets.numel()} targets do not split into {groups} equal micro-batches")
    ce = per_token_cross_entropy(logits, targets, ignore_index)
    flat_targets = targets.reshape(-1)
    valid = flat_targets != ignore_index
    article = _article_mask(flat_targets, article_ids) & valid
    other = valid & ~article

    weights = torch.where(article, article_weight, 1.0) * valid
    weighted = ce * weights
    counted = weights if normalize == "weights" else valid.float()
    total = _safe_divide(_group_sums(weighted, groups), _group_sums(counted, groups)).mean()

    ce_detached = ce.detach()
    n_article, n_other = _group_sums(article, groups).sum(), _group_sums(other, groups).sum()
    article_loss = _safe_divide(_group_sums(ce_detached * article, groups).sum(), n_article.float())
    other_loss = _safe_divide(_group_sums(ce_detached * other, groups).sum(), n_other.float())
    return LossBreakdown(total, article_loss, other_loss, n_article, n_other)


def _group_sums(values: torch.Tensor, groups: int) -> torch.Tensor:
    """The sum of each micro-batch's share of the flat ``values`` (shape ``(groups,)``).

    Every reduction over the tokens goes through here, so all of them have one shape: inductor
    (torch <= 2.11) fails to fuse a per-group reduction with a whole-batch one over the same values
    ("AssertionError: 4 v.s. 1", pytorch/pytorch#174379).
    """
    return values.reshape(groups, -1).sum(1)


def standard_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    ignore_index: int = -100,
    *,
    article_ids: Sequence[int] | torch.Tensor | None = None,
    groups: int = 1,
) -> LossBreakdown:
    """Mean next-token cross-entropy over non-ignored targets (per micro-batch with ``groups``).

    ``article_ids`` changes nothing in ``total``; it only splits the logged
    loss into article and other tokens, so a standard run can be compared with
    a weighted one class by class.
    """
    return _breakdown(logits, targets, article_ids, 1.0, "weights", ignore_index, groups)


def article_weighted_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    article_ids: Sequence[int] | torch.Tensor,
    article_weight: float,
    normalize: str = "weights",
    ignore_index: int = -100,
    groups: int = 1,
) -> LossBreakdown:
    """Cross-entropy with article targets weighted ``article_weight`` times (see the module docstring)."""
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {NORMALIZATIONS}, not {normalize!r}")
    article_weight = float(article_weight)
    if not (article_weight >= 0.0 and article_weight != float("inf")):
        raise ValueError(f"article_weight must be a finite number >= 0, not {article_weight}")
    return _breakdown(logits, targets, article_ids, article_weight, normalize, ignore_index, groups)
