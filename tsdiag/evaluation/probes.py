"""Probes for trainer bugs no metadata shows, each run on a few windows of the user's data.

* ``label_shift`` — loss against the token at offset 0, 1 and 2 from each position: a correct model
  fits offset 1; one trained on labels shifted twice fits offset 2, one trained on unshifted labels 0.
* ``future_visible`` — loss with the causal mask lifted: a model trained with a mask that leaked the
  future learned to read the next token off it and scores near zero; a causal model gains nothing.
* ``causal`` — changing the tokens after position t must not change the logits at t (the loaded model).
* ``dropout`` — loss in train mode at the checkpoint's own dropout vs in eval mode: what a trainer
  that forgot ``model.eval()`` would have recorded as its val loss.
* ``tied`` — llama2.c and nanoGPT tie the output layer to the token embedding; a file where the two
  differ lost the tie in a save/load (and trained them apart).
* ``final_norm`` — a final norm still at its init (all ones) while the blocks' norms moved was never
  trained (left out of the optimizer, or replaced on load).
"""

from __future__ import annotations

import contextlib
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from tsdiag.evaluation.facts import Probe
from tsdiag.evaluation.models import LoadedModel, head_and_embedding, norm_weights, set_dropout
from tsdiag.evaluation.scoring import autocast_for

PROBE_WINDOWS = 8        # windows each probe reads: enough for a clear signal, cheap on a CPU
DROPOUT_PASSES = 4       # train-mode passes averaged (dropout makes each one random)
DROPOUT_SEED = 0


def run_probes(loaded: LoadedModel, windows: np.ndarray, *, device="cpu", dropout: float | None = None) -> dict[str, Probe]:
    """Every probe on ``windows`` (an int64 array of shape (n, span))."""
    batch = torch.from_numpy(windows[:PROBE_WINDOWS]).to(device)
    model = loaded.model
    return {
        "label_shift": _label_shift(model, batch, device),
        "future_visible": _future_visible(loaded, batch, device),
        "causal": _causal(model, batch, device),
        "dropout": _dropout(model, batch, device, dropout),
        "tied": _tied(loaded),
        "final_norm": _final_norm(loaded),
    }


def _logits(model, inputs, device) -> torch.Tensor:
    with torch.inference_mode(), autocast_for(device):
        return model(inputs).float()


def _mean_nll(logits: torch.Tensor, targets: torch.Tensor) -> float:
    return float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)))


def _label_shift(model, batch, device) -> Probe:
    inputs = batch[:, :-1]
    if inputs.shape[1] < 3:
        return Probe("label_shift", False, note="windows too short to compare offsets")
    logits = _logits(model, inputs, device)
    T = inputs.shape[1] - 1  # positions that have a token at offset 2 inside the window
    losses = {f"offset_{k}": _mean_nll(logits[:, :T], batch[:, k:k + T]) for k in (0, 1, 2)}
    best = min(losses, key=losses.get)
    return Probe("label_shift", True, {**losses, "best_offset": int(best[-1])},
                 "mean nats/token against the token at each offset; a correct model fits offset 1")


@contextlib.contextmanager
def attention_without_causal_mask():
    """Every ``scaled_dot_product_attention`` call of tsdiag's decoders sees the whole window."""
    original = F.scaled_dot_product_attention

    def unmasked(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, **kwargs):
        return original(q, k, v, attn_mask=None, dropout_p=dropout_p, is_causal=False, **kwargs)

    F.scaled_dot_product_attention = unmasked
    try:
        yield
    finally:
        F.scaled_dot_product_attention = original


def _future_visible(loaded: LoadedModel, batch, device) -> Probe:
    if not loaded.reference:
        return Probe("future_visible", False, note="runs on tsdiag's own decoders only (their mask can be lifted)")
    inputs, targets = batch[:, :-1], batch[:, 1:]
    causal = _mean_nll(_logits(loaded.model, inputs, device), targets)
    with attention_without_causal_mask():
        visible = _mean_nll(_logits(loaded.model, inputs, device), targets)
    return Probe("future_visible", True, {"causal_loss": causal, "future_visible_loss": visible},
                 "mean nats/token with the causal mask, and with every position seeing the whole window")


def _causal(model, batch, device) -> Probe:
    inputs = batch[:, :-1]
    if torch.device(device).type != "cpu":
        return Probe("causal", False, note="run on the CPU (float32), where logits compare exactly")
    cut = inputs.shape[1] // 2
    changed = inputs.clone()
    changed[:, cut + 1:] = torch.roll(inputs[:, cut + 1:], shifts=1, dims=0 if len(inputs) > 1 else 1)
    before, after = _logits(model, inputs, device)[:, :cut + 1], _logits(model, changed, device)[:, :cut + 1]
    diff = float((before - after).abs().max())
    return Probe("causal", True, {"position": cut, "max_logit_change": diff},
                 "largest change of the logits at or before the position when every later token changes")


def _dropout(model, batch, device, p: float | None) -> Probe:
    if p is None or p <= 0:
        return Probe("dropout", False, note="the checkpoint records no dropout above 0: train and eval mode agree")
    inputs, targets = batch[:, :-1], batch[:, 1:]
    eval_loss = _mean_nll(_logits(model, inputs, device), targets)
    set_dropout(model, float(p))
    model.train()
    try:
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(DROPOUT_SEED)
        train_loss = float(np.mean([_mean_nll(_logits(model, inputs, device), targets) for _ in range(DROPOUT_PASSES)]))
        torch.random.set_rng_state(generator_state)
    finally:
        model.eval()
        set_dropout(model, 0.0)
    return Probe("dropout", True, {"dropout": float(p), "eval_mode_loss": eval_loss, "train_mode_loss": train_loss,
                                   "train_minus_eval": train_loss - eval_loss},
                 f"mean nats/token on {len(batch)} windows in eval mode and in train mode (dropout {p:g}, "
                 f"{DROPOUT_PASSES} passes)")


def _tied(loaded: LoadedModel) -> Probe:
    if loaded.family not in ("llama2.c", "nanogpt") or not loaded.reference:
        return Probe("tied", False, note=f"the {loaded.family} layout does not tie its head by construction")
    pair = head_and_embedding(loaded.model)
    if pair is None:
        return Probe("tied", False, note="no output layer and embedding found")
    head, embedding = pair
    if head.data_ptr() == embedding.data_ptr() or torch.equal(head, embedding):
        return Probe("tied", True, {"tied": True, "max_abs_difference": 0.0})
    diff = (head - embedding).abs()
    return Probe("tied", True, {"tied": False, "max_abs_difference": float(diff.max()),
                                "relative_difference": float(diff.norm() / embedding.norm().clamp_min(1e-12))},
                 "the file's output layer and token embedding differ")


def _final_norm(loaded: LoadedModel) -> Probe:
    if not loaded.reference:
        return Probe("final_norm", False, note="runs on tsdiag's own decoders only")
    final, blocks = norm_weights(loaded.model)
    if final is None:
        return Probe("final_norm", False, note="no final norm found")
    moved = [float((b - 1).abs().mean()) for b in blocks]
    return Probe("final_norm", True, {"final_norm_mean_abs_from_one": float((final - 1).abs().mean()),
                                      "block_norms_mean_abs_from_one": float(np.mean(moved)) if moved else None},
                 "how far the norms' scales moved from their init (1)")


