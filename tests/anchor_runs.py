"""Tiny runs of the peers' own, unmodified trainers (../shared/anchors), for tests on real artifacts.

Each helper copies the trainer into a tmp folder, writes the data it reads from the real TinyStories
text and runs it as a subprocess (a few seconds on a CPU); tests using them skip without ../shared.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import accuracy_cases as ac  # noqa: E402


def need_shared() -> None:
    if not ac.shared_available():
        pytest.skip("../shared (the peers' trainers and the TinyStories text) is not here")


def nanogpt_char_run(folder: Path, *, chars: int = 200_000, **train) -> Path:
    """nanoGPT's train.py on the first ``chars`` characters of the real stories, prepare_char.py's format
    (train.bin/val.bin 90/10, meta.pkl with stoi/itos) in data/c; returns the folder (out/ckpt.pt, train.log)."""
    need_shared()
    folder.mkdir(parents=True, exist_ok=True)
    ac.copy_anchor("nanogpt", folder)
    data = folder / "data" / "c"
    data.mkdir(parents=True, exist_ok=True)
    text = ac.TRAIN_TEXT.read_text(encoding="utf-8")[:chars]
    alphabet = sorted(set(text))
    stoi = {c: i for i, c in enumerate(alphabet)}
    cut = int(len(text) * 0.9)
    np.array([stoi[c] for c in text[:cut]], dtype=np.uint16).tofile(data / "train.bin")
    np.array([stoi[c] for c in text[cut:]], dtype=np.uint16).tofile(data / "val.bin")
    with open(data / "meta.pkl", "wb") as fh:
        pickle.dump({"vocab_size": len(alphabet), "itos": dict(enumerate(alphabet)), "stoi": stoi}, fh)
    steps = train.pop("max_iters", 200)
    settings = dict(dataset="c", n_layer=1, n_head=2, n_embd=32, block_size=64, batch_size=8, learning_rate=3e-3,
                    max_iters=steps, lr_decay_iters=steps, min_lr=1e-4, warmup_iters=5, eval_interval=steps,
                    eval_iters=2, always_save_checkpoint=True)
    settings.update(train)
    ac.Recorder(folder).run(ac.nano_train(**settings))
    return folder
