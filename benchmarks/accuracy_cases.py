"""The accuracy corpus: real training runs, made by the peers' own unmodified trainers, with known faults.

Every case is a folder ``.bench/accuracy/cases/<name>/`` holding what a user of that trainer would
have after the run: the trainer's code (llama2.c / nanoGPT copied unmodified from ``../shared/anchors``,
or the script the user wrote), the shards and tokenizer it read, the checkpoint folder it wrote and its
stdout+stderr as ``train.log``.  ``case.json`` records the commands, their wall time, the steps reached
and the final losses; a ``done`` file marks a complete folder (it is not rebuilt unless asked).

Nothing here copies llama2.c or nanoGPT code into the project: their folders are copied into the
(git-ignored) cache at build time and run there as subprocesses.

    from accuracy_cases import CASES, build_case
    folder = build_case("llama2c_stopped_early")
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED = Path(__file__).resolve().parents[2] / "shared"  # ../shared beside the checkout
ANCHORS = SHARED / "anchors"
TEXTS = SHARED / "data" / "tinystories"
TRAIN_TEXT = TEXTS / "mini_gpt_stories.txt"
VALID_TEXT = TEXTS / "valid_excerpt_stories.txt"
LLAMA2_TOKENIZER = SHARED / "data" / "tokenizers" / "llama2_tokenizer.model"
CACHE = REPO / ".bench" / "accuracy"
CASES_DIR = CACHE / "cases"
COMMON = CACHE / "common"
DONE = "done"
SEPARATOR = "<|endoftext|>"
ARTICLE_PIECES = ("▁a", "▁an", "▁the", "▁A", "▁An", "▁The")
COMMAND_TIMEOUT = 600


class SharedMissing(RuntimeError):
    """../shared (the anchors and the real text) is not beside this checkout."""


def shared_available() -> bool:
    return (ANCHORS / "llama2c" / "train.py").is_file() and (ANCHORS / "nanogpt" / "train.py").is_file() \
        and TRAIN_TEXT.is_file() and VALID_TEXT.is_file()


def missing_shared_message() -> str:
    return (f"skipping the accuracy corpus: {SHARED} (anchors/llama2c, anchors/nanogpt, data/tinystories) "
            "is absent; it sits beside the checkout on the development machine only")


# ----------------------------------------------------------------------------------------------
# subprocesses

def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", PYTHONUNBUFFERED="1",
               TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               HF_DATASETS_OFFLINE="1", WANDB_MODE="disabled", CUDA_VISIBLE_DEVICES="")
    return env


@dataclass
class Recorder:
    """The commands a case ran (as a user would type them, relative to the case folder) and their time."""
    folder: Path
    commands: list[dict] = field(default_factory=list)

    def run(self, argv: Sequence[str], *, log: str | None = "train.log", append: bool = False,
            kill_when: Callable[[str], bool] | None = None, timeout: float = COMMAND_TIMEOUT,
            check: bool = True) -> dict:
        """Run ``argv`` in the case folder; stdout and stderr go to ``log`` (and are kept in memory).

        ``kill_when(line)`` returning True kills the process with SIGKILL right after that line,
        as a cluster time limit or an OOM killer would."""
        argv = [str(a) for a in argv]
        shown = " ".join("python" if a == sys.executable else shlex.quote(_rel(a, self.folder)) for a in argv)
        started = time.perf_counter()
        sink = open(self.folder / log, "a" if append else "w", encoding="utf-8") if log else None
        lines: list[str] = []
        killed = False
        proc = subprocess.Popen(argv, cwd=self.folder, env=child_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, encoding="utf-8", errors="replace",
                                start_new_session=True)
        timed_out = threading.Event()

        def on_timeout() -> None:
            timed_out.set()
            _kill_group(proc)

        watchdog = threading.Timer(timeout, on_timeout)
        watchdog.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line)
                if sink:
                    sink.write(line)
                    sink.flush()
                if kill_when is not None and not killed and kill_when(line):
                    _kill_group(proc)
                    killed = True
            rc = proc.wait()
        finally:
            watchdog.cancel()
            if proc.poll() is None:
                _kill_group(proc)
                proc.wait()
            if sink:
                sink.close()
        if timed_out.is_set():
            raise RuntimeError(f"{shown} ran past {timeout:.0f} s in {self.folder}; killed")
        wall = round(time.perf_counter() - started, 1)
        entry = {"command": shown, "rc": rc, "wall_s": wall, "killed": killed, "log": log}
        self.commands.append(entry)
        if check and rc != 0 and not (killed and kill_when is not None):
            tail = "".join(lines[-30:])
            raise RuntimeError(f"{shown} exited {rc} in {self.folder}:\n{tail}")
        entry["output"] = "".join(lines)
        return entry


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the trainer and its children (it runs in its own session, started by us)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _rel(arg: str, folder: Path) -> str:
    """An absolute path shown relative to the case folder, or as <repo>/... / <shared>/..."""
    p = Path(arg)
    if not p.is_absolute():
        return arg
    for base, prefix in ((folder, ""), (SHARED, "<shared>/"), (REPO, "<repo>/")):
        try:
            return prefix + str(p.relative_to(base))
        except ValueError:
            continue
    return arg


def flags(**kw) -> list[str]:
    """``--key=value`` arguments for llama2.c's / nanoGPT's configurator (literal_eval types)."""
    out = []
    for key, value in kw.items():
        if isinstance(value, bool):
            text = "True" if value else "False"
        elif isinstance(value, float):
            text = repr(value)
        else:
            text = str(value)
        out.append(f"--{key}={text}")
    return out


# ----------------------------------------------------------------------------------------------
# text, tokenizers, shards

def read_stories(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    stories = re.split(rf"^{re.escape(SEPARATOR)}[ \t]*$", text, flags=re.M)
    return [s.strip() for s in stories if s.strip()]


_ARTICLE_WORD = re.compile(r"\b(?:a|an|the)\b[ \t]*", re.I)


def strip_articles(text: str) -> str:
    """Every standalone 'a', 'an', 'the' (any case) removed, with the space after it."""
    return _ARTICLE_WORD.sub("", text)


def tok512() -> Path:
    """The 512-piece tokenizer trained with ``tsdiag train-tokenizer`` on the training stories (cached)."""
    model = COMMON / "tok512.model"
    if not model.is_file():
        COMMON.mkdir(parents=True, exist_ok=True)
        rec = Recorder(COMMON)
        partial = f"tok512.{os.getpid()}.model"  # renamed into place: concurrent builders never see half a file
        rec.run([sys.executable, "-m", "tsdiag", "train-tokenizer", TRAIN_TEXT, "--vocab-size", "512",
                 "--model", partial, "--threads", "1", "--fail-on", "never"], log=f"train-tokenizer.{os.getpid()}.log")
        os.replace(COMMON / partial, model)
        os.replace(COMMON / f"train-tokenizer.{os.getpid()}.log", COMMON / "train-tokenizer.log")
        (COMMON / "train-tokenizer.json").write_text(
            json.dumps([{k: v for k, v in c.items() if k != "output"} for c in rec.commands], indent=1))
    return model


def encode_stories(model: Path, stories: Sequence[str], bos: bool = True):
    """llama2.c's pretokenize: each story stripped, encoded, BOS (id 1) before it; uint16."""
    import numpy as np
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(model))
    ids: list[int] = []
    for story in stories:
        if bos:
            ids.append(sp.bos_id())
        ids.extend(sp.encode(story.strip()))
    arr = np.array(ids, dtype=np.uint16)
    assert int(arr.max()) < 65536
    return arr


def write_llama2c_shards(folder: Path, model: Path, train: Sequence[str], val: Sequence[str],
                         n_train_shards: int = 2) -> list[Path]:
    """data00.bin = validation (llama2.c uses the first sorted shard as val), data01.. = training."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "data00.bin"]
    encode_stories(model, val).tofile(paths[0])
    per = -(-len(train) // n_train_shards)
    for i in range(n_train_shards):
        path = folder / f"data{i + 1:02d}.bin"
        encode_stories(model, train[i * per:(i + 1) * per]).tofile(path)
        paths.append(path)
    return paths


def article_ids(model: Path) -> list[int]:
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(model))
    ids = []
    for piece in ARTICLE_PIECES:
        i = sp.piece_to_id(piece)
        if i != sp.unk_id() and sp.id_to_piece(i) == piece:
            ids.append(i)
    return ids


def piece_ids(model: Path, pieces: Sequence[str]) -> list[int]:
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(model))
    return [sp.piece_to_id(p) for p in pieces]


def copy_anchor(name: str, dest: Path) -> None:
    """The peer's trainer folder, unmodified, into the case folder (our own helper script excluded)."""
    for src in sorted((ANCHORS / name).iterdir()):
        if src.is_file() and src.name != "run_anchor.py":
            shutil.copyfile(src, dest / src.name)


# ----------------------------------------------------------------------------------------------
# reading back what a run produced (for case.json and the report)

_EVAL = re.compile(r"^step (\d+): train loss ([0-9.naif+-]+), val loss ([0-9.naif+-]+)", re.M)
_L2C_ITER = re.compile(r"^(\d+) \| loss ([0-9.naif+-]+) \|", re.M)
_NANO_ITER = re.compile(r"^iter (\d+): loss ([0-9.naif+-]+),", re.M)


def karpathy_log_summary(log: Path, kind: str) -> dict:
    text = log.read_text(encoding="utf-8", errors="replace")
    evals = [(int(s), float(t), float(v)) for s, t, v in _EVAL.findall(text)]
    iters = [(int(s), float(l)) for s, l in (_L2C_ITER if kind == "llama2c" else _NANO_ITER).findall(text)]
    out: dict = {}
    if iters:
        out["last_logged_iter"] = iters[-1][0]
        out["last_logged_train_loss"] = iters[-1][1]
    if evals:
        out["last_eval"] = {"step": evals[-1][0], "train": evals[-1][1], "val": evals[-1][2]}
        best = min(evals, key=lambda e: e[2] if e[2] == e[2] else float("inf"))
        out["best_val"] = {"step": best[0], "val": best[2]}
    out["saves"] = text.count("saving checkpoint")
    return out


def checkpoint_summary(path: Path) -> dict:
    import torch

    ck = torch.load(path, map_location="cpu", weights_only=False)
    out: dict = {"file": path.name, "bytes": path.stat().st_size}
    for key in ("iter_num", "step", "global_step", "best_val_loss", "epoch"):
        if key in ck:
            value = ck[key]
            out[key] = float(value) if hasattr(value, "item") else value
    cfg = ck.get("config") or ck.get("hyper_parameters") or {}
    if isinstance(cfg, dict):
        for key in ("max_iters", "max_steps", "learning_rate", "lr", "warmup_iters", "vocab_size"):
            if key in cfg:
                out[f"config.{key}"] = cfg[key]
    return out


# ----------------------------------------------------------------------------------------------
# llama2.c cases

L2C_BASE = dict(device="cpu", compile=False, dtype="float32", vocab_source="custom", vocab_size=512,
                dim=64, n_layers=2, n_heads=4, n_kv_heads=4, max_seq_len=128, batch_size=8,
                gradient_accumulation_steps=1, learning_rate=5e-4, eval_iters=10, log_interval=10)
SHORT_ITERS = 600          # the fault cases' step budget
HEALTHY_ITERS = 1500       # the healthy run's


def l2c_train(**over) -> list[str]:
    return [sys.executable, "train.py", *flags(**{**L2C_BASE, **over})]


def l2c_folder(d: Path, *, articles: bool = True) -> None:
    """A llama2.c checkout with data/tok512.model and data/tok512/*.bin from the real stories."""
    copy_anchor("llama2c", d)
    tok = tok512()
    (d / "data").mkdir(exist_ok=True)
    shutil.copyfile(tok, d / "data" / "tok512.model")
    train, val = read_stories(TRAIN_TEXT), read_stories(VALID_TEXT)
    if not articles:
        train, val = [strip_articles(s) for s in train], [strip_articles(s) for s in val]
    write_llama2c_shards(d / "data" / "tok512", d / "data" / "tok512.model", train, val)


L2C_DATA = ("--data", "data/tok512/data00.bin", "--data", "data/tok512/data01.bin",
            "--data", "data/tok512/data02.bin", "--tokenizer", "data/tok512.model",
            "--seq-len", "128", "--layout", "llama2c")


def l2c_summary(d: Path, rec: Recorder, ckpt: str = "out/ckpt.pt") -> dict:
    return {"log": karpathy_log_summary(d / "train.log", "llama2c"), "checkpoint": checkpoint_summary(d / ckpt)}


def build_llama2c_healthy(d: Path, rec: Recorder) -> dict:
    l2c_folder(d)
    rec.run(l2c_train(max_iters=HEALTHY_ITERS, warmup_iters=75, eval_interval=100))
    return l2c_summary(d, rec)


def build_llama2c_stopped_early(d: Path, rec: Recorder) -> dict:
    l2c_folder(d)
    seen = {"wrote": 0}

    def after_second_save(line: str) -> bool:
        if line.startswith("wrote out/model.bin"):
            seen["wrote"] += 1
        return seen["wrote"] >= 2

    entry = rec.run(l2c_train(max_iters=2000, warmup_iters=100, eval_interval=50), kill_when=after_second_save)
    info = l2c_summary(d, rec)
    info["killed"] = entry["killed"]
    return info


def build_llama2c_lr_high(d: Path, rec: Recorder) -> dict:
    l2c_folder(d)
    rec.run(l2c_train(max_iters=SHORT_ITERS, learning_rate=5e-2, warmup_iters=0, eval_interval=100))
    return l2c_summary(d, rec)


def build_llama2c_lr_extreme(d: Path, rec: Recorder) -> dict:
    l2c_folder(d)
    rec.run(l2c_train(max_iters=SHORT_ITERS, learning_rate=0.5, warmup_iters=0, eval_interval=100))
    return l2c_summary(d, rec)


def build_llama2c_no_articles(d: Path, rec: Recorder) -> dict:
    l2c_folder(d, articles=False)
    rec.run(l2c_train(max_iters=SHORT_ITERS, warmup_iters=30, eval_interval=100))
    return l2c_summary(d, rec)


def build_llama2c_vocab32k(d: Path, rec: Recorder) -> dict:
    """vocab_source=llama2: the Llama 2 tokenizer (32000) and its shards beside the (absent) json files."""
    copy_anchor("llama2c", d)
    shutil.copyfile(LLAMA2_TOKENIZER, d / "tokenizer.model")  # where llama2.c keeps it
    write_llama2c_shards(d / "data" / "TinyStories_all_data", d / "tokenizer.model",
                         read_stories(TRAIN_TEXT), read_stories(VALID_TEXT))
    # 32000 logits per position make every step ~10x slower on this CPU: batch 4 and 150 steps
    rec.run(l2c_train(vocab_source="llama2", vocab_size=32000, batch_size=4, max_iters=150,
                      warmup_iters=10, eval_interval=50, eval_iters=5))
    return l2c_summary(d, rec)


def build_llama2c_early_ckpt(d: Path, rec: Recorder) -> dict:
    """Train to 100, keep a copy ckpt_100.pt, resume to 600 (ckpt.pt later and better)."""
    l2c_folder(d)
    rec.run(l2c_train(max_iters=100, warmup_iters=10, eval_interval=50))
    shutil.copy2(d / "out" / "ckpt.pt", d / "out" / "ckpt_100.pt")
    rec.commands.append({"command": "cp -p out/ckpt.pt out/ckpt_100.pt", "rc": 0, "wall_s": 0.0})
    rec.run(l2c_train(max_iters=SHORT_ITERS, warmup_iters=30, eval_interval=100, init_from="resume"),
            append=True)
    info = l2c_summary(d, rec)
    info["tested_checkpoint"] = checkpoint_summary(d / "out" / "ckpt_100.pt")
    return info


def build_llama2c_val_leak(d: Path, rec: Recorder) -> dict:
    """The val shard (data00.bin, llama2.c's first sorted shard) made from 20 of the training stories: a split
    cut from overlapping text. The val loss then tracks the train loss and says nothing of generalisation."""
    copy_anchor("llama2c", d)
    (d / "data").mkdir(exist_ok=True)
    shutil.copyfile(tok512(), d / "data" / "tok512.model")
    train = read_stories(TRAIN_TEXT)
    write_llama2c_shards(d / "data" / "tok512", d / "data" / "tok512.model", train, train[:20])
    rec.run(l2c_train(max_iters=SHORT_ITERS, warmup_iters=30, eval_interval=100))
    return l2c_summary(d, rec)


FORGET_OPTIMIZER = """import torch
ck = torch.load("out/ckpt.pt", map_location="cpu", weights_only=False)
ck["optimizer"]["state"] = {}
torch.save(ck, "out/ckpt.pt")
"""


def build_llama2c_resume_lost_optimizer(d: Path, rec: Recorder) -> dict:
    """The recipe's 600 steps, killed after the step-200 save; the checkpoint's AdamW moments are dropped (as by a
    trainer that saves the model and a fresh optimizer), and llama2.c's own init_from=resume carries on to 600."""
    l2c_folder(d)
    seen = {"saves": 0}

    def after_step_200_save(line: str) -> bool:
        seen["saves"] += line.startswith("saving checkpoint")
        return seen["saves"] >= 2

    run = dict(max_iters=SHORT_ITERS, warmup_iters=30, eval_interval=100)
    rec.run(l2c_train(**run), kill_when=after_step_200_save)
    (d / "forget_optimizer.py").write_text(FORGET_OPTIMIZER, encoding="utf-8")
    rec.run([sys.executable, "forget_optimizer.py"], log=None)
    rec.run(l2c_train(**run, init_from="resume"), append=True)
    return l2c_summary(d, rec)


def build_llama2c_dropout_high(d: Path, rec: Recorder) -> dict:
    l2c_folder(d)
    rec.run(l2c_train(max_iters=SHORT_ITERS, warmup_iters=30, eval_interval=100, dropout=0.6))
    return l2c_summary(d, rec)


def build_llama2c_copied_early_ckpt(d: Path, rec: Recorder) -> dict:
    """llama2c_early_ckpt's step-100 copy, put alone into another folder as out/ckpt.pt, beside the run's log:
    no later checkpoint in sight, only the log says the run went on (to step 600, val 4.03)."""
    src = CASES_DIR / "llama2c_early_ckpt"
    (d / "out").mkdir(parents=True)
    shutil.copy2(src / "out" / "ckpt_100.pt", d / "out" / "ckpt.pt")
    shutil.copytree(src / "data", d / "data")
    shutil.copyfile(src / "train.log", d / "train.log")
    rec.commands.append({"command": "cp -p ../llama2c_early_ckpt/out/ckpt_100.pt out/ckpt.pt", "rc": 0,
                         "wall_s": 0.0})
    return {"tested_checkpoint": checkpoint_summary(d / "out" / "ckpt.pt"),
            "log": karpathy_log_summary(d / "train.log", "llama2c")}


def build_llama2c_export_bin(d: Path, rec: Recorder) -> dict:
    """The healthy run's checkpoint exported by llama2.c's export.py (legacy version 0); only the .bin,
    the log and the data are kept, as when a model is shipped for run.c."""
    src = CASES_DIR / "llama2c_healthy"
    copy_anchor("llama2c", d)
    shutil.copytree(src / "data", d / "data")
    shutil.copyfile(src / "train.log", d / "train.log")
    rec.run([sys.executable, "export.py", "model.bin", "--version", "0", "--checkpoint",
             str(src / "out" / "ckpt.pt")], log="export.log")
    return {"log": karpathy_log_summary(d / "train.log", "llama2c"),
            "exported_from": checkpoint_summary(src / "out" / "ckpt.pt"),
            "bin_bytes": (d / "model.bin").stat().st_size}


# ----------------------------------------------------------------------------------------------
# nanoGPT cases

NANO_BASE = dict(device="cpu", compile=False, dtype="float32", gradient_accumulation_steps=1,
                 log_interval=10, eval_iters=10, bias=False, dropout=0.0)


def nano_train(**over) -> list[str]:
    return [sys.executable, "train.py", *flags(**{**NANO_BASE, **over})]


def nano_summary(d: Path) -> dict:
    return {"log": karpathy_log_summary(d / "train.log", "nanogpt"),
            "checkpoint": checkpoint_summary(d / "out" / "ckpt.pt")}


def build_nanogpt_overfit_bestval(d: Path, rec: Recorder) -> dict:
    """12 stories of training text, a 4-layer 128-wide model, 300 steps: val loss bottoms out early and
    rises; always_save_checkpoint=False keeps ckpt.pt at the best-val step, long before the last one."""
    import numpy as np

    copy_anchor("nanogpt", d)
    tok = tok512()
    shutil.copyfile(tok, d / "tok512.model")
    data = d / "data" / "stories512"
    data.mkdir(parents=True)
    train = read_stories(TRAIN_TEXT)[:12]
    encode_stories(d / "tok512.model", train).tofile(data / "train.bin")
    encode_stories(d / "tok512.model", read_stories(VALID_TEXT)).tofile(data / "val.bin")
    with open(data / "meta.pkl", "wb") as f:
        pickle.dump({"vocab_size": 512, "tokenizer": "tok512.model"}, f)
    rec.run(nano_train(dataset="stories512", always_save_checkpoint=False, n_layer=4, n_head=4, n_embd=128,
                       block_size=64, batch_size=16, learning_rate=1e-3, max_iters=300, lr_decay_iters=300,
                       min_lr=1e-4, warmup_iters=20, eval_interval=25))
    info = nano_summary(d)
    info["train_tokens"] = int(np.fromfile(data / "train.bin", dtype=np.uint16).size)
    return info


def nano_char_data(d: Path) -> int:
    """prepare_char.py's format written from our text (it would download Shakespeare): the whole
    file (separator lines included) as input.txt, 90/10 split, meta.pkl with stoi/itos/vocab_size."""
    import numpy as np

    copy_anchor("nanogpt", d)
    data = d / "data" / "stories_char"
    data.mkdir(parents=True)
    text = TRAIN_TEXT.read_text(encoding="utf-8")
    (data / "input.txt").write_text(text, encoding="utf-8")
    chars = sorted(set(text))
    stoi = {ch: i for i, ch in enumerate(chars)}
    itos = {i: ch for i, ch in enumerate(chars)}
    n = len(text)
    np.array([stoi[c] for c in text[:int(n * 0.9)]], dtype=np.uint16).tofile(data / "train.bin")
    np.array([stoi[c] for c in text[int(n * 0.9):]], dtype=np.uint16).tofile(data / "val.bin")
    with open(data / "meta.pkl", "wb") as f:
        pickle.dump({"vocab_size": len(chars), "itos": itos, "stoi": stoi}, f)
    return len(chars)


def build_nanogpt_char_degenerate(d: Path, rec: Recorder) -> dict:
    """nanoGPT char-level, max_iters 2000, killed after its first checkpoint (step 200): greedy text loops on one
    word ("he he he"), the symptom users report; `tsdiag sample --temperature 0` is recorded in sample.json."""
    nano_char_data(d)
    seen = {"saved": False}

    def after_first_save(line: str) -> bool:
        seen["saved"] = seen["saved"] or line.startswith("saving checkpoint")
        return seen["saved"] and line.startswith("iter ")

    rec.run(nano_train(dataset="stories_char", n_layer=2, n_head=4, n_embd=64, block_size=128, batch_size=16,
                       learning_rate=1e-3, max_iters=2000, lr_decay_iters=2000, min_lr=1e-4, warmup_iters=40,
                       eval_interval=200), kill_when=after_first_save)
    rec.run([sys.executable, "-m", "tsdiag", "sample", "out/ckpt.pt", "--tokenizer", "data/stories_char/meta.pkl",
             "-n", "2", "--temperature", "0", "--json", "--fail-on", "never"], log="sample.json")
    sample = json.loads((d / "sample.json").read_text(encoding="utf-8"))
    info = nano_summary(d)
    info["greedy_sample"] = {"text": sample["samples"][0][:200], "repetition": sample["repetition"],
                             "findings": [f["code"] for f in sample["findings"]]}
    return info


def build_nanogpt_char(d: Path, rec: Recorder) -> dict:
    chars = nano_char_data(d)
    rec.run(nano_train(dataset="stories_char", n_layer=2, n_head=4, n_embd=64, block_size=128, batch_size=16,
                       learning_rate=1e-3, max_iters=800, lr_decay_iters=800, min_lr=1e-4, warmup_iters=40,
                       eval_interval=100))
    info = nano_summary(d)
    info["vocab_size"] = chars
    return info


# ----------------------------------------------------------------------------------------------
# tsdiag retrain, the custom trainer

RETRAIN_ITERS = 400


def build_weighted_real_articles(d: Path, rec: Recorder) -> dict:
    l2c_folder(d)
    rec.run([sys.executable, "-m", "tsdiag", "retrain", "--both", "--data", "data/tok512/data00.bin",
             "--data", "data/tok512/data01.bin", "--data", "data/tok512/data02.bin",
             "--tokenizer", "data/tok512.model", "--device", "cpu", "--dim", "64", "--n-layers", "2",
             "--n-heads", "4", "--seq-len", "128", "--batch-size", "8", "--grad-accum", "1",
             "--max-iters", str(RETRAIN_ITERS), "--eval-every", "100", "--eval-iters", "10",
             "--out", "runs", "--fail-on", "never"])
    info: dict = {}
    for recipe in ("standard", "weighted"):
        run = json.loads((d / "runs" / recipe / "run.json").read_text())
        info[recipe] = {"step": run.get("step"), "status": run.get("status"), "final": run.get("final")}
    return info


def custom_folder(d: Path) -> None:
    (d / "data").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tok512(), d / "data" / "tok512.model")
    write_llama2c_shards(d / "data" / "tok512", d / "data" / "tok512.model",
                         read_stories(TRAIN_TEXT), read_stories(VALID_TEXT))
    shutil.copyfile(HERE / "custom_trainer.py", d / "custom_trainer.py")


_STEP = re.compile(r"Step (\d+) \| Loss: ([0-9.]+)")
_ART = re.compile(r"Article Loss: ([0-9.]+) \| Other Loss: ([0-9.]+) \| Ratio: ([0-9.]+)x")
_VAL = re.compile(r"Validation Loss: ([0-9.]+)")


def custom_summary(d: Path, ids: list[int]) -> dict:
    text = (d / "train.log").read_text(encoding="utf-8")
    steps, arts, vals = _STEP.findall(text), _ART.findall(text), _VAL.findall(text)
    return {"weighted_ids": ids, "last_step": int(steps[-1][0]), "last_loss": float(steps[-1][1]),
            "last_val_loss": float(vals[-1]) if vals else None,
            "article_loss_zero_lines": sum(1 for a in arts if float(a[0]) == 0.0), "article_lines": len(arts),
            "last_ratio": float(arts[-1][2]) if arts else None,
            "checkpoint": checkpoint_summary(d / "out" / "ckpt.pt")}


def custom_run(d: Path, rec: Recorder, ids: list[int]) -> dict:
    custom_folder(d)
    rec.run([sys.executable, "custom_trainer.py", "--data", "data/tok512/*.bin", "--vocab-size", "512",
             "--dim", "64", "--n-layers", "2", "--n-heads", "4", "--seq-len", "64", "--batch-size", "8",
             "--max-iters", "600", "--lr", "1e-3", "--warmup", "30", "--eval-interval", "100",
             "--article-ids", ",".join(map(str, ids)), "--article-weight", "5", "--out", "out"])
    return custom_summary(d, ids)


def build_custom_weighted_non_articles(d: Path, rec: Recorder) -> dict:
    # '!' and '?': not articles; rare enough (about 2 per 512-target batch) that some logged batches
    # have none of them, so the log shows the real 'Article Loss: 0.0000' quirk
    return custom_run(d, rec, piece_ids(tok512(), ["!", "?"]))


def build_custom_weighted_real_articles(d: Path, rec: Recorder) -> dict:
    return custom_run(d, rec, article_ids(tok512()))


# ----------------------------------------------------------------------------------------------
# Lightning and Hugging Face (only when installed)

LIGHTNING_SCRIPT = '''\
"""Train TinyLM (custom_trainer.py's model) with PyTorch Lightning on llama2.c-style shards."""
import glob, math
import numpy as np
import torch
import torch.nn.functional as F
import lightning as L
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from custom_trainer import TinyLM

SEQ = 128

class Windows(torch.utils.data.Dataset):
    def __init__(self, paths):
        self.tokens = np.concatenate([np.fromfile(p, dtype=np.uint16) for p in paths]).astype(np.int64)
        self.n = (len(self.tokens) - 1) // SEQ
    def __len__(self):
        return self.n
    def __getitem__(self, i):
        chunk = torch.from_numpy(self.tokens[i * SEQ:i * SEQ + SEQ + 1])
        return chunk[:-1], chunk[1:]

class LitLM(L.LightningModule):
    def __init__(self, vocab_size=512, dim=64, n_layers=2, n_heads=4, seq_len=SEQ, lr=1e-3,
                 warmup_steps=50, max_steps=5000, weight_decay=0.1, batch_size=8):
        super().__init__()
        self.save_hyperparameters()
        self.model = TinyLM(vocab_size, dim, n_layers, n_heads, seq_len)
    def loss(self, batch):
        x, y = batch
        return F.cross_entropy(self.model(x).flatten(0, 1), y.flatten())
    def training_step(self, batch, i):
        loss = self.loss(batch)
        self.log("train_loss", loss)
        return loss
    def validation_step(self, batch, i):
        self.log("val_loss", self.loss(batch))
    def configure_optimizers(self):
        hp = self.hparams
        opt = torch.optim.AdamW(self.parameters(), lr=hp.lr, weight_decay=hp.weight_decay, betas=(0.9, 0.95))
        def factor(step):
            if step < hp.warmup_steps:
                return (step + 1) / hp.warmup_steps
            progress = min(1.0, (step - hp.warmup_steps) / (hp.max_steps - hp.warmup_steps))
            return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

if __name__ == "__main__":
    L.seed_everything(1337)
    shards = sorted(glob.glob("data/tok512/*.bin"))
    train = torch.utils.data.DataLoader(Windows(shards[1:]), batch_size=8, shuffle=True, drop_last=True)
    val = torch.utils.data.DataLoader(Windows(shards[:1]), batch_size=8)
    trainer = L.Trainer(max_steps=5000, max_time={"seconds": 30}, accelerator="cpu", devices=1,
                        logger=CSVLogger("logs", name="tinylm"), log_every_n_steps=10,
                        val_check_interval=100, check_val_every_n_epoch=None, limit_val_batches=10,
                        callbacks=[ModelCheckpoint(dirpath="checkpoints", every_n_train_steps=100, save_last=True),
                                   LearningRateMonitor(logging_interval="step")],
                        enable_progress_bar=False, gradient_clip_val=1.0)
    trainer.fit(LitLM(), train, val)
'''

HF_SCRIPT = '''\
"""Train a tiny GPT-2 (transformers) with the HF Trainer on llama2.c-style shards."""
import glob
import numpy as np
import torch
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments, set_seed

SEQ = 128

class Chunks(torch.utils.data.Dataset):
    def __init__(self, paths):
        self.tokens = np.concatenate([np.fromfile(p, dtype=np.uint16) for p in paths]).astype(np.int64)
        self.n = len(self.tokens) // SEQ
    def __len__(self):
        return self.n
    def __getitem__(self, i):
        ids = torch.from_numpy(self.tokens[i * SEQ:(i + 1) * SEQ])
        return {"input_ids": ids, "labels": ids.clone()}

if __name__ == "__main__":
    set_seed(1337)
    shards = sorted(glob.glob("data/tok512/*.bin"))
    config = GPT2Config(vocab_size=512, n_positions=SEQ, n_embd=64, n_layer=2, n_head=4,
                        bos_token_id=1, eos_token_id=2)
    model = GPT2LMHeadModel(config)
    args = TrainingArguments(output_dir="hf_out", max_steps=600, per_device_train_batch_size=8,
                             per_device_eval_batch_size=8, learning_rate=1e-3, warmup_steps=30,
                             lr_scheduler_type="cosine", weight_decay=0.1, logging_steps=10,
                             eval_strategy="steps", eval_steps=100, save_strategy="steps", save_steps=200,
                             use_cpu=True, report_to=[], seed=1337, dataloader_num_workers=0,
                             disable_tqdm=True, max_grad_norm=1.0)
    trainer = Trainer(model=model, args=args, train_dataset=Chunks(shards[1:]), eval_dataset=Chunks(shards[:1]))
    trainer.train()
'''


def build_lightning_time_limit(d: Path, rec: Recorder) -> dict:
    """max_steps=5000 but a 30-second max_time: Lightning stops cleanly after a few hundred steps."""
    import csv

    custom_folder(d)
    (d / "train_lightning.py").write_text(LIGHTNING_SCRIPT, encoding="utf-8")
    rec.run([sys.executable, "train_lightning.py"])
    rows = list(csv.DictReader(open(d / "logs" / "tinylm" / "version_0" / "metrics.csv")))
    train = [r for r in rows if r.get("train_loss")]
    val = [r for r in rows if r.get("val_loss")]
    return {"last_step": int(train[-1]["step"]) if train else None,
            "last_train_loss": float(train[-1]["train_loss"]) if train else None,
            "last_val_loss": float(val[-1]["val_loss"]) if val else None,
            "checkpoints": sorted(p.name for p in (d / "checkpoints").iterdir()),
            "checkpoint": checkpoint_summary(d / "checkpoints" / "last.ckpt")}


def build_hf_trainer_healthy(d: Path, rec: Recorder) -> dict:
    custom_folder(d)
    (d / "custom_trainer.py").unlink()
    (d / "train_hf.py").write_text(HF_SCRIPT, encoding="utf-8")
    rec.run([sys.executable, "train_hf.py"])
    state = json.loads((d / "hf_out" / "checkpoint-600" / "trainer_state.json").read_text())
    train = [h for h in state["log_history"] if "loss" in h]
    val = [h for h in state["log_history"] if "eval_loss" in h]
    return {"global_step": state.get("global_step"), "max_steps": state.get("max_steps"),
            "last_train_loss": train[-1]["loss"] if train else None,
            "last_eval_loss": val[-1]["eval_loss"] if val else None,
            "checkpoints": sorted(p.name for p in (d / "hf_out").iterdir() if p.name.startswith("checkpoint-"))}


# ----------------------------------------------------------------------------------------------
# the corpus

@dataclass(frozen=True)
class Case:
    name: str
    expected: str                      # H1..H5, W, or "none"
    build: Callable[[Path, Recorder], dict]
    diagnose: tuple[str, ...]          # tsdiag diagnose arguments, relative to the case folder
    trainer: str
    note: str = ""
    requires: tuple[str, ...] = ()     # importable modules the build needs
    depends: tuple[str, ...] = ()      # cases whose folders this one reads
    # error-level findings that are right for this case although no hypothesis is its cause (a
    # misconfiguration tsdiag should fail CI on, such as weighted ids that are not articles)
    expected_errors: tuple[str, ...] = ()


L2C_CKPT = ("--checkpoint", "out/ckpt.pt", "--log", "train.log") + L2C_DATA
# the custom trainer's runs: the same shards read in 64-token windows, nanoGPT-style
CUSTOM_ARGS = ("--checkpoint", "out/ckpt.pt", "--log", "train.log") + L2C_DATA[:8] + (
    "--seq-len", "64", "--layout", "nanogpt")

CASES: dict[str, Case] = {c.name: c for c in [
    Case("llama2c_stopped_early", "H2", build_llama2c_stopped_early, L2C_CKPT, "llama2.c",
         "max_iters=2000, eval_interval=50; SIGKILLed right after the second checkpoint save (step 100)."),
    Case("llama2c_lr_high", "H3", build_llama2c_lr_high, L2C_CKPT, "llama2.c",
         "learning_rate=5e-2 (100x the recipe's 5e-4), warmup_iters=0."),
    Case("llama2c_lr_extreme", "H3", build_llama2c_lr_extreme, L2C_CKPT, "llama2.c",
         "learning_rate=0.5 (1000x), warmup_iters=0: the loss sticks near the unigram level (~5) while "
         "the lr is high (lr 5e-2 alone does no visible harm at this size, see llama2c_lr_high)."),
    Case("llama2c_vocab32k", "H4", build_llama2c_vocab32k,
         ("--checkpoint", "out/ckpt.pt", "--log", "train.log", "--data", "data/TinyStories_all_data/data00.bin",
          "--data", "data/TinyStories_all_data/data01.bin", "--data", "data/TinyStories_all_data/data02.bin",
          "--tokenizer", "tokenizer.model", "--seq-len", "128", "--layout", "llama2c"), "llama2.c",
         "vocab_source=llama2 (32000) on a dim-64 model; H4 is a contributing factor: the run is also "
         "short (150 steps at batch 4, forced by 32000-way logits on this CPU), so H2 is a defensible second."),
    Case("llama2c_no_articles", "H1", build_llama2c_no_articles, L2C_CKPT, "llama2.c",
         "every standalone a/an/the removed from train and val text before tokenizing; tokenizer trained "
         "on the original text."),
    Case("llama2c_early_ckpt", "H5", build_llama2c_early_ckpt,
         ("--checkpoint", "out/ckpt_100.pt", "--checkpoint-dir", "out", "--log", "train.log") + L2C_DATA,
         "llama2.c", "ckpt_100.pt (step 100) tested while out/ckpt.pt (step 600, lower val loss) sits beside it."),
    Case("llama2c_val_leak", "H1", build_llama2c_val_leak, L2C_CKPT, "llama2.c",
         "val shard data00.bin made of 20 training stories (a split cut from overlapping text), otherwise the "
         "recipe, 600 steps: the val loss is optimistic and measures memory."),
    Case("llama2c_resume_lost_optimizer", "H3", build_llama2c_resume_lost_optimizer, L2C_CKPT, "llama2.c",
         "killed after the step-200 save, AdamW state dropped from the checkpoint, resumed to 600 with "
         "init_from=resume: the optimizer restarts at lr 5e-4 with no moments (a training-procedure fault, H3)."),
    Case("llama2c_dropout_high", "H3", build_llama2c_dropout_high, L2C_CKPT, "llama2.c",
         "dropout=0.6 (llama2.c pretrains with 0.0), otherwise the recipe, 600 steps."),
    Case("llama2c_copied_early_ckpt", "H5", build_llama2c_copied_early_ckpt, L2C_CKPT, "llama2.c",
         "the step-100 checkpoint of llama2c_early_ckpt copied alone into another folder with the run's log "
         "(which goes on to step 600 with a lower val loss): only the checkpoint-vs-log cross-check can see it.",
         depends=("llama2c_early_ckpt",)),
    Case("nanogpt_overfit_bestval", "H1", build_nanogpt_overfit_bestval,
         ("--checkpoint", "out/ckpt.pt", "--log", "train.log", "--data", "data/stories512/train.bin",
          "--tokenizer", "tok512.model", "--seq-len", "64", "--layout", "nanogpt"), "nanoGPT",
         "overfitting: 12 stories (2.6k tokens) for a 0.85M-parameter model; ckpt.pt is nanoGPT's best-val "
         "checkpoint (always_save_checkpoint=False), older than the last step by design. The cause is too "
         "little data (H1; H3 - too many steps/too big a model for the data - is the other defensible "
         "reading). H2 (stopped early) and H5 (wrong checkpoint) are wrong."),
    Case("llama2c_healthy", "none", build_llama2c_healthy, L2C_CKPT, "llama2.c",
         "1500 steps, warmup 75, cosine decay, the recipe's lr 5e-4."),
    Case("nanogpt_char", "none", build_nanogpt_char,
         ("--checkpoint", "out/ckpt.pt", "--log", "train.log", "--data", "data/stories_char/train.bin",
          "--tokenizer", "data/stories_char/meta.pkl", "--seq-len", "128", "--layout", "nanogpt"), "nanoGPT",
         "char-level (prepare_char.py format), 800 steps; losses are per character."),
    Case("nanogpt_char_degenerate", "H2", build_nanogpt_char_degenerate,
         ("--checkpoint", "out/ckpt.pt", "--log", "train.log", "--data", "data/stories_char/train.bin",
          "--tokenizer", "data/stories_char/meta.pkl", "--seq-len", "128", "--layout", "nanogpt"), "nanoGPT",
         "degenerate sampler output: char-level, max_iters 2000, killed after the step-200 checkpoint; greedy "
         "text is one word looping (sample.json: TSD-SAMPLE-REPETITIVE). The cause is the short run (H2)."),
    Case("weighted_real_articles", "W", build_weighted_real_articles,
         ("--run", "runs/weighted", "--run", "runs/standard") + L2C_DATA, "tsdiag retrain",
         "tsdiag retrain --both (weight 5 on the tokenizer's article ids), matched standard run."),
    Case("custom_weighted_non_articles", "none", build_custom_weighted_non_articles,
         CUSTOM_ARGS, "custom",
         "weight 5 on '!' and '?' (not articles): no article is up-weighted, so W (which is about articles) "
         "is not supported; the run is otherwise a healthy 600-step run -> expected none. The log has "
         "'Article Loss: 0.0000' lines for batches without '!'/'?' and a ratio that is not about articles. "
         "The misconfigured ids themselves are an error worth failing CI on (TSD-RUN-ARTICLE-IDS).",
         expected_errors=("TSD-RUN-ARTICLE-IDS",)),
    Case("custom_weighted_real_articles", "W", build_custom_weighted_real_articles,
         CUSTOM_ARGS, "custom",
         "weight 5 on the tokenizer's article pieces."),
    Case("lightning_time_limit", "H2", build_lightning_time_limit,
         ("--checkpoint", "checkpoints/last.ckpt", "--log", "logs/tinylm/version_0/metrics.csv",
          "--data", "data/tok512/data01.bin", "--data", "data/tok512/data02.bin",
          "--tokenizer", "data/tok512.model", "--seq-len", "128", "--layout", "contiguous"), "Lightning",
         "max_steps=5000 with max_time=30 s: stopped after a few hundred steps.", requires=("lightning",)),
    Case("hf_trainer_healthy", "none", build_hf_trainer_healthy,
         ("--checkpoint", "hf_out/checkpoint-600", "--log", "hf_out/checkpoint-600/trainer_state.json",
          "--data", "data/tok512/data01.bin", "--data", "data/tok512/data02.bin",
          "--tokenizer", "data/tok512.model", "--seq-len", "128", "--layout", "contiguous"), "HF Trainer",
         "tiny GPT-2 (64 wide, 2 layers), 600 steps, cosine, warmup 30.", requires=("transformers", "accelerate")),
    Case("llama2c_export_bin", "none", build_llama2c_export_bin,
         ("--checkpoint", "model.bin", "--log", "train.log") + L2C_DATA, "llama2.c export.py",
         "llama2c_healthy's ckpt.pt exported with export.py --version 0 (legacy .bin).",
         depends=("llama2c_healthy",)),
]}


# cases that build in well under a minute each and depend on no other case (for tests)
FAST_CASES = ("llama2c_stopped_early", "custom_weighted_non_articles", "custom_weighted_real_articles")


# modules the peers' unmodified code imports beyond tsdiag's own dependencies (llama2.c's tinystories.py)
TRAINER_REQUIRES = {"llama2.c": ("requests", "tqdm")}


def missing_requirements(case: Case) -> list[str]:
    import importlib.util

    needed = (*case.requires, *TRAINER_REQUIRES.get(case.trainer, ()))
    return [m for m in needed if importlib.util.find_spec(m) is None]


def case_dir(name: str) -> Path:
    return CASES_DIR / name


def is_built(name: str) -> bool:
    return (case_dir(name) / DONE).is_file()


def build_case(name: str, rebuild: bool = False, log: Callable[[str], None] | None = None) -> Path:
    """Build the case folder (unless complete and not ``rebuild``) and return it."""
    if not shared_available():
        raise SharedMissing(missing_shared_message())
    case = CASES[name]
    missing = missing_requirements(case)
    if missing:
        raise RuntimeError(f"{name} needs {', '.join(missing)} (pip install --no-deps ...)")
    for dep in case.depends:
        build_case(dep, log=log)
    d = case_dir(name)
    if is_built(name) and not rebuild:
        return d
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    if log:
        log(f"building {name} ({case.trainer}) ...")
    rec = Recorder(d)
    started = time.perf_counter()
    info = case.build(d, rec)
    build_s = round(time.perf_counter() - started, 1)
    record = {"name": name, "expected": case.expected, "trainer": case.trainer, "note": case.note,
              "build_s": build_s, "commands": [{k: v for k, v in c.items() if k != "output"} for c in rec.commands],
              "diagnose": ["tsdiag", "diagnose", *case.diagnose], "result": info}
    (d / "case.json").write_text(json.dumps(record, indent=1, default=str), encoding="utf-8")
    (d / DONE).write_text(time.strftime("%Y-%m-%d %H:%M:%S\n"))
    if log:
        log(f"built {name} in {build_s:.1f} s")
    return d
