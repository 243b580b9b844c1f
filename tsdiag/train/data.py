"""Tokens for a reference run: a held-out split, deterministic batches, prepared ahead.

Batches are random windows of ``seq_len + 1`` tokens, as llama2.c and nanoGPT
draw them.  Which windows a micro-batch holds depends only on (seed, step,
micro-batch index within the step), never on what ran before or on how many
processes share the step: a resumed run sees exactly the batches an
uninterrupted one would have, a torchrun of N processes the batches of a
single process, and two recipes given the same seed the same data in the same
order.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch

from tsdiag.errors import InputError

_FINGERPRINT_BLOCK = 1 << 20  # bytes hashed at the start and the end
_FINGERPRINT_SAMPLES = 64     # evenly spaced blocks of 64 KiB in between


@dataclass
class TokenSplit:
    """The training tokens and the held-out tail used for validation."""

    train: np.ndarray
    val: np.ndarray
    fingerprint: str
    max_id: int


def fingerprint_tokens(tokens: np.ndarray) -> str:
    """sha256 of the length, dtype, first and last MiB and 64 sampled blocks of a token array.

    Content-based (the same tokens under another file name match), and cheap
    on arrays of billions of tokens because it reads a few MiB.
    """
    raw = tokens.reshape(-1).view(np.uint8)
    digest = hashlib.sha256(f"{tokens.dtype.str}:{tokens.size}".encode())
    digest.update(raw[:_FINGERPRINT_BLOCK].tobytes())
    digest.update(raw[-_FINGERPRINT_BLOCK:].tobytes())
    sample = 1 << 16
    if raw.size > 2 * _FINGERPRINT_BLOCK + sample:
        for start in np.linspace(_FINGERPRINT_BLOCK, raw.size - _FINGERPRINT_BLOCK - sample, _FINGERPRINT_SAMPLES):
            digest.update(raw[int(start):int(start) + sample].tobytes())
    return digest.hexdigest()[:16]


def sources_label(sources: Sequence[str]) -> str:
    """The data files as one name for an error message: the file, or the first and how many more."""
    if not sources:
        return "--data"
    return str(sources[0]) if len(sources) == 1 else f"{sources[0]} (+{len(sources) - 1} more --data files)"


def split_tokens(tokens: np.ndarray, val_fraction: float, seq_len: int, source: str) -> TokenSplit:
    """Hold out the last ``val_fraction`` of the tokens; both parts must fit a window."""
    tokens = tokens.reshape(-1)
    n_val = int(len(tokens) * val_fraction)
    need = seq_len + 2
    if len(tokens) - n_val < need or n_val < need:
        raise InputError(source, f"{len(tokens):,} tokens are too few for seq_len {seq_len} with "
                                 f"{val_fraction:.0%} held out (each part needs at least {need})")
    max_id = int(tokens.max()) if len(tokens) else -1
    return TokenSplit(tokens[:-n_val], tokens[-n_val:], fingerprint_tokens(tokens), max_id)


def window_batch(tokens: np.ndarray, batch_size: int, seq_len: int, rng: np.random.Generator) -> np.ndarray:
    """(batch_size, seq_len + 1) int64 windows at random starts."""
    starts = rng.integers(0, len(tokens) - seq_len - 1, size=batch_size)
    return np.stack([tokens[s:s + seq_len + 1] for s in starts]).astype(np.int64)


def train_batch(tokens, batch_size, seq_len, *, seed: int, step: int, micro: int) -> np.ndarray:
    """Micro-batch ``micro`` (counted over all processes) of optimizer step ``step``."""
    return window_batch(tokens, batch_size, seq_len, np.random.default_rng([seed, step, micro]))


def val_batch(tokens, batch_size, seq_len, *, seed: int, index: int) -> np.ndarray:
    """The ``index``-th validation batch: the same windows at every evaluation and in every run."""
    return window_batch(tokens, batch_size, seq_len, np.random.default_rng([seed, 1 << 30, index]))


class BatchPrefetcher:
    """Prepares training batches in a background thread, pinned for non-blocking copies.

    Yields ``(x, y)`` on ``device`` in (step, micro) order from ``start_step``;
    with ``merge`` > 1, each item holds ``merge`` consecutive micro-batches of
    the step stacked along the batch dimension (the same windows, fewer items).
    Numpy's window gathering releases the GIL, so the thread overlaps the
    GPU's work instead of stalling the loop between steps.
    """

    def __init__(self, tokens, batch_size, seq_len, *, seed, rank, start_step, micro_steps, device, merge=1,
                 depth=8):
        if micro_steps % merge:
            raise ValueError(f"{micro_steps} micro-batches per step do not split into groups of {merge}")
        self._device = device
        self._pin = device.type == "cuda"
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        args = (tokens, batch_size, seq_len, seed, rank, start_step, micro_steps, merge)
        self._thread = threading.Thread(target=self._produce, args=args, daemon=True)
        self._thread.start()

    def _produce(self, tokens, batch_size, seq_len, seed, rank, start_step, micro_steps, merge):
        step = start_step
        try:
            while not self._stop.is_set():
                for first in range(rank * micro_steps, (rank + 1) * micro_steps, merge):
                    batch = torch.from_numpy(np.concatenate([
                        train_batch(tokens, batch_size, seq_len, seed=seed, step=step, micro=micro)
                        for micro in range(first, first + merge)]))
                    if self._pin:
                        batch = batch.pin_memory()
                    while not self._stop.is_set():
                        try:
                            self._queue.put(batch, timeout=0.1)
                            break
                        except queue.Full:
                            continue
                step += 1
        except BaseException as exc:  # surfaced in the training thread by next()
            self._queue.put(exc)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        window = item.to(self._device, non_blocking=True)
        return window[:, :-1], window[:, 1:]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def to_device_batch(batch: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    window = torch.from_numpy(batch).to(device)
    return window[:, :-1], window[:, 1:]
