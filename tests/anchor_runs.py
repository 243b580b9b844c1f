"""Tiny runs of the peers' own, unmodified trainers (../shared/anchors), for tests on real artifacts.

Each helper copies the trainer into a tmp folder, writes the data it reads from the real TinyStories
text and runs it as a subprocess (a few seconds on a CPU); tests using them skip without ../shared.
"""

from __future__ import annotations

import pickle
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import accuracy_cases as ac  # noqa: E402


def need_shared() -> None:
    if not ac.shared_available():
        pytest.skip("../shared (the peers' trainers and the TinyStories text) is not here")


def nanogpt_char_data(folder: Path, chars: int = 200_000) -> Path:
    """The first ``chars`` characters of the real stories in prepare_char.py's format (train.bin/val.bin 90/10,
    meta.pkl with stoi/itos) in folder/data/c, beside a copy of nanoGPT; returns data/c."""
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
    return data


def nanogpt_char_run(folder: Path, *, chars: int = 200_000, **train) -> Path:
    """nanoGPT's train.py on :func:`nanogpt_char_data`; returns the folder (out/ckpt.pt, train.log)."""
    nanogpt_char_data(folder, chars)
    steps = train.pop("max_iters", 200)
    settings = dict(dataset="c", n_layer=1, n_head=2, n_embd=32, block_size=64, batch_size=8, learning_rate=3e-3,
                    max_iters=steps, lr_decay_iters=steps, min_lr=1e-4, warmup_iters=5, eval_interval=steps,
                    eval_iters=2, always_save_checkpoint=True)
    settings.update(train)
    ac.Recorder(folder).run(ac.nano_train(**settings))
    return folder


def llama2c_resumed_run(folder: Path, *, forget_optimizer: bool) -> Path:
    """llama2.c's train.py for 20 steps (its checkpoint kept as out/ckpt_20.pt), then ``init_from=resume`` to 40
    into the same train.log; with ``forget_optimizer`` the checkpoint's AdamW state is emptied in between
    (benchmarks' FORGET_OPTIMIZER)."""
    import sys as _sys

    need_shared()
    folder.mkdir(parents=True, exist_ok=True)
    ac.l2c_folder(folder)
    rec = ac.Recorder(folder)
    small = dict(eval_interval=10, eval_iters=2, log_interval=2, warmup_iters=4, always_save_checkpoint=True)
    rec.run(ac.l2c_train(max_iters=20, **small))
    shutil.copy2(folder / "out" / "ckpt.pt", folder / "out" / "ckpt_20.pt")   # saved by train.py, state intact
    if forget_optimizer:
        (folder / "forget_optimizer.py").write_text(ac.FORGET_OPTIMIZER, encoding="utf-8")
        rec.run([_sys.executable, "forget_optimizer.py"], log=None)
    rec.run(ac.l2c_train(max_iters=40, init_from="resume", **small), append=True)
    return folder
