"""Merged micro-batches: one forward pass gives the gradient accumulation gives, on the same windows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tsdiag.model import ModelArgs, Transformer
from tsdiag.recipes import TrainConfig
from tsdiag.train.data import BatchPrefetcher
from tsdiag.train.loop import Objective, micro_batches_per_forward
from tsdiag.train.runtime import Runtime


def _model() -> Transformer:
    torch.manual_seed(0)
    return Transformer(ModelArgs(dim=32, n_layers=2, n_heads=4, vocab_size=300, max_seq_len=16)).double()


@pytest.mark.parametrize("weighted,normalize", [(False, "weights"), (True, "weights"), (True, "tokens")])
def test_merged_forward_gives_the_accumulated_gradient(weighted, normalize):
    model = _model()
    objective = Objective(model, [5, 6, 7], 5.0, normalize, weighted=weighted)
    windows = torch.randint(0, 300, (4 * 3, 17), generator=torch.Generator().manual_seed(1))
    windows[:5, 1::3] = 6  # article counts differ between micro-batches: a merged weighted mean would differ
    stats_acc = torch.zeros(5)
    for i in range(4):
        total, stats = objective(windows[3 * i:3 * i + 3, :-1], windows[3 * i:3 * i + 3, 1:])
        (total / 4).backward()
        stats_acc += stats
    accumulated = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    total, stats_merged = objective(windows[:, :-1], windows[:, 1:], 4)
    (total / 4).backward()
    for a, b in zip(accumulated, (p.grad for p in model.parameters())):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(stats_acc, stats_merged.float(), rtol=1e-6, atol=1e-6)


def test_merged_batches_hold_the_same_windows():
    tokens = np.arange(5000, dtype=np.uint16)
    kwargs = dict(seed=3, rank=0, start_step=2, micro_steps=4, device=torch.device("cpu"))
    single, merged = BatchPrefetcher(tokens, 2, 8, **kwargs), BatchPrefetcher(tokens, 2, 8, merge=2, **kwargs)
    try:
        singles = [next(single)[0] for _ in range(8)]
        merges = [next(merged)[0] for _ in range(4)]
    finally:
        single.close()
        merged.close()
    assert torch.equal(torch.cat(singles), torch.cat(merges))
    assert merges[0].shape == (4, 8)


def test_merge_follows_the_memory_budget_and_the_option():
    cpu = Runtime(device=torch.device("cpu"))
    small = TrainConfig(batch_size=4, max_seq_len=16, gradient_accumulation_steps=4)
    assert micro_batches_per_forward(_model(), small, 4, cpu) == 4
    assert micro_batches_per_forward(_model(), TrainConfig(merge_micro_batches=False), 4, cpu) == 1
    huge = TrainConfig(batch_size=100_000, max_seq_len=256)  # ~40 GB of activations per micro-batch
    assert micro_batches_per_forward(_model(), huge, 4, cpu) == 1
    assert micro_batches_per_forward(_model(), small, 6, cpu) == 6 and micro_batches_per_forward(_model(), small, 1, cpu) == 1
