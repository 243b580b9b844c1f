"""The objectives against hand-computed values, and where their gradients go."""

from __future__ import annotations

import math

import pytest
import torch

from tsdiag.loss import LossBreakdown, article_weighted_loss, standard_loss

# One sequence of four targets over a vocabulary of three; id 1 plays the article.
LOGITS = torch.tensor([[[2.0, 0.0, 0.0],
                        [0.0, 1.0, 0.0],
                        [0.0, 0.0, 3.0],
                        [1.0, 1.0, 1.0]]])
TARGETS = torch.tensor([[0, 1, 1, 2]])


def _ce(row, target):
    """-log softmax(row)[target], by hand."""
    return -(row[target] - math.log(sum(math.exp(v) for v in row)))


CE = [_ce(LOGITS[0, i].tolist(), int(TARGETS[0, i])) for i in range(4)]
#  CE[0] = -(2 - ln(e^2 + 2)), CE[1] = -(1 - ln(e + 2)), CE[2] = -(0 - ln(2 + e^3)), CE[3] = ln 3


def test_standard_loss_is_the_mean_cross_entropy():
    bd = standard_loss(LOGITS, TARGETS)
    assert bd.total.item() == pytest.approx(sum(CE) / 4, rel=1e-6)
    assert bd.total.item() == pytest.approx(torch.nn.functional.cross_entropy(LOGITS[0], TARGETS[0]).item(), rel=1e-6)


def test_weighted_loss_by_hand_both_normalisations():
    w = 5.0
    weights = [1.0, w, w, 1.0]
    weighted_sum = sum(c * x for c, x in zip(CE, weights))
    by_weights = article_weighted_loss(LOGITS, TARGETS, [1], w, normalize="weights")
    by_tokens = article_weighted_loss(LOGITS, TARGETS, [1], w, normalize="tokens")
    assert by_weights.total.item() == pytest.approx(weighted_sum / sum(weights), rel=1e-6)
    assert by_tokens.total.item() == pytest.approx(weighted_sum / 4, rel=1e-6)
    # the breakdown is the plain mean per class, whatever the weight
    for bd in (by_weights, by_tokens):
        values = bd.to_dict()
        assert values["article_loss"] == pytest.approx((CE[1] + CE[2]) / 2, rel=1e-6)
        assert values["other_loss"] == pytest.approx((CE[0] + CE[3]) / 2, rel=1e-6)
        assert values["article_tokens"] == 2 and values["other_tokens"] == 2
        assert bd.ratio == pytest.approx((CE[1] + CE[2]) / (CE[0] + CE[3]), rel=1e-6)


@pytest.mark.parametrize("normalize", ["weights", "tokens"])
def test_weight_one_is_the_standard_loss_bit_for_bit(normalize):
    torch.manual_seed(0)
    logits = torch.randn(3, 7, 11)
    targets = torch.randint(0, 11, (3, 7))
    targets[0, 2] = -100
    standard = standard_loss(logits, targets, article_ids=[1, 4])
    weighted = article_weighted_loss(logits, targets, [1, 4], 1.0, normalize=normalize)
    assert torch.equal(standard.total, weighted.total)
    assert torch.equal(standard.article_loss, weighted.article_loss)


def test_ignore_index_is_left_out():
    targets = TARGETS.clone()
    targets[0, 3] = -100
    bd = article_weighted_loss(LOGITS, targets, [1], 5.0, normalize="tokens")
    assert bd.total.item() == pytest.approx((CE[0] + 5 * CE[1] + 5 * CE[2]) / 3, rel=1e-6)
    assert bd.to_dict()["other_tokens"] == 1
    custom = standard_loss(LOGITS, torch.tensor([[0, 1, 99, 2]]), ignore_index=99)
    assert custom.total.item() == pytest.approx((CE[0] + CE[1] + CE[3]) / 3, rel=1e-6)


def test_batch_without_articles_is_finite_and_has_no_ratio():
    logits = LOGITS.clone().requires_grad_(True)
    targets = torch.tensor([[0, 0, 2, 2]])
    bd = article_weighted_loss(logits, targets, [1], 5.0)
    bd.total.backward()
    values = bd.to_dict()
    assert values["article_tokens"] == 0 and values["article_loss"] is None and values["ratio"] is None
    assert bd.article_loss.item() == 0.0 and torch.isfinite(logits.grad).all()
    assert bd.total.item() == pytest.approx(standard_loss(LOGITS, targets).total.item(), rel=1e-6)


def test_all_targets_ignored_gives_zero_not_nan():
    logits = LOGITS.clone().requires_grad_(True)
    bd = article_weighted_loss(logits, torch.full((1, 4), -100), [1], 5.0)
    bd.total.backward()
    assert bd.total.item() == 0.0 and torch.isfinite(logits.grad).all() and not logits.grad.any()


def test_gradients_flow_only_through_total_and_by_weight():
    logits = LOGITS.clone().requires_grad_(True)
    targets = TARGETS.clone()
    targets[0, 0] = -100
    bd = article_weighted_loss(logits, targets, [1], 5.0, normalize="weights")
    assert not bd.article_loss.requires_grad and not bd.other_loss.requires_grad
    bd.total.backward()
    probs = torch.softmax(LOGITS[0], dim=-1)
    onehot = torch.nn.functional.one_hot(TARGETS[0], 3).float()
    weights = torch.tensor([0.0, 5.0, 5.0, 1.0])
    expected = weights[:, None] / weights.sum() * (probs - onehot)
    assert torch.allclose(logits.grad[0], expected, atol=1e-6)
    assert not logits.grad[0, 0].any()  # the ignored position gets nothing


def test_bf16_logits_are_reduced_in_float32():
    bd = article_weighted_loss(LOGITS.bfloat16(), TARGETS, [1], 5.0)
    assert bd.total.dtype == torch.float32 and bd.article_loss.dtype == torch.float32
    assert bd.total.item() == pytest.approx(article_weighted_loss(LOGITS, TARGETS, [1], 5.0).total.item(), rel=1e-2)


def test_bad_arguments():
    with pytest.raises(ValueError):
        article_weighted_loss(LOGITS, TARGETS, [1], 5.0, normalize="mean")
    with pytest.raises(ValueError):
        article_weighted_loss(LOGITS, TARGETS, [1], -1.0)
    assert isinstance(standard_loss(LOGITS, TARGETS), LossBreakdown)
