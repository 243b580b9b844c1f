"""`tsdiag retrain` against llama2.c's own train.py, side by side in one run on one GPU.

For each configuration and dropout, the two trainers run one after the other in fresh processes
(cold torch.compile caches, as a user's first run), alternating, on the same Zipf-distributed
uint16 token shards, with the same model, batch, sequence, vocabulary and dropout:

  (a) dim 288, 6 layers, 6 heads, seq 256, vocab 32000, batch 128 x 4 (llama2.c's stories15M)
  (b) dim 768, 8 layers, 8 heads, seq 512, vocab 10000, batch 64 x 4

llama2.c runs unmodified from a copy of ``../shared/anchors/llama2c`` (``--anchor``), with its
defaults (bf16, compile, log every iteration) and its data loader; tsdiag runs ``retrain --standard``
with the defaults a user gets, plus any ``--variant NAME='extra options'`` asked for.

Reported per run, from that run's own output only: time to first step (from process start to the
first logged step, measured here the same way for both: the time the line appears), the median
ms per optimizer step after a warm-up of 5 steps (llama2.c: the ms it prints per iteration; tsdiag:
metrics.csv, CUDA-event timed), tokens/s, MFU (the same FLOP count for both, PaLM's 6N + 12·L·d·T,
against the GPU's dense bf16 peak) and the ratios to the llama2.c run of the same config and dropout.

Usage:

    cp -r ../shared/anchors .anchors                            # once; .anchors/ is git-ignored
    python3 benchmarks/bench_retrain.py                         # a, b at dropout 0 and 0.2 (GPU)
    python3 benchmarks/bench_retrain.py --configs a --dropouts 0 --variant full='--compile-mode full'
    python3 benchmarks/bench_retrain.py --tiny                  # the whole script on a CPU in a minute

JSON of every run goes to $OUT/bench_retrain.json when OUT is set (rewritten after each run).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]  # children import this checkout's tsdiag, installed or not
sys.path.insert(0, str(REPO))
DEFAULT_ANCHOR = REPO / ".anchors" / "llama2c"
CONFIGS = {
    "a": dict(dim=288, n_layers=6, n_heads=6, seq_len=256, vocab=32000, batch=128, accum=4),
    "b": dict(dim=768, n_layers=8, n_heads=8, seq_len=512, vocab=10000, batch=64, accum=4),
}
# --tiny: both trainers at a size a CPU runs in seconds, in float32 without compile (checks the script)
TINY = dict(dim=32, n_layers=2, n_heads=4, seq_len=32, vocab=512, batch=4, accum=2)
WARMUP_STEPS = 5
SHARD_TOKENS, SHARDS = 8_000_000, 3
_LLAMA2C_ITER = re.compile(r"(\d+) \| loss ([\d.]+) \| lr \S+ \| ([\d.]+)ms")


# --------------------------------------------------------------------------- data and commands

def zipf_shards(anchor: Path, vocab: int, n: int = SHARDS, tokens: int = SHARD_TOKENS) -> list[Path]:
    """Zipf(1.2) token shards where llama2.c's train.py looks for them (the first one is its val split)."""
    folder = anchor / "data" / ("TinyStories_all_data" if vocab == 32000 else f"tok{vocab}")
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"data{i:02d}.bin" for i in range(n)]
    if not all(p.exists() for p in paths):
        rng = np.random.default_rng(0)
        for p in paths:
            (rng.zipf(1.2, size=tokens) % (vocab - 3) + 3).astype(np.uint16).tofile(p)
    return paths


def llama2c_command(anchor: Path, c: dict, steps: int, dropout: float, *, tiny: bool, extra=()) -> list[str]:
    """train.py with the config's shape and llama2.c's own defaults for everything else."""
    vocab = ["--vocab_source=llama2"] if c["vocab"] == 32000 else ["--vocab_source=custom",
                                                                   f"--vocab_size={c['vocab']}"]
    device = ["--device=cpu", "--compile=False", "--dtype=float32"] if tiny else ["--compile=True"]
    return [sys.executable, str(anchor / "train.py"), *vocab, f"--dim={c['dim']}", f"--n_layers={c['n_layers']}",
            f"--n_heads={c['n_heads']}", f"--n_kv_heads={c['n_heads']}", f"--max_seq_len={c['seq_len']}",
            f"--batch_size={c['batch']}", f"--gradient_accumulation_steps={c['accum']}", f"--dropout={dropout}",
            f"--max_iters={steps}", "--eval_iters=1", "--eval_interval=100000", "--log_interval=1",
            "--warmup_iters=10", *device, *extra]


def tsdiag_command(data: list[Path], out: Path, c: dict, steps: int, dropout: float, *, tiny: bool,
                   extra=(), recipe: str = "--standard") -> list[str]:
    return [sys.executable, "-m", "tsdiag", "retrain", recipe, *[a for p in data for a in ("--data", str(p))],
            "--vocab-size", str(c["vocab"]), "--dim", str(c["dim"]), "--n-layers", str(c["n_layers"]),
            "--n-heads", str(c["n_heads"]), "--seq-len", str(c["seq_len"]), "--batch-size", str(c["batch"]),
            "--grad-accum", str(c["accum"]), "--dropout", str(dropout), "--max-iters", str(steps),
            "--eval-every", str(steps), "--eval-iters", "1", "--out", str(out), "--json",
            *(["--device", "cpu"] if tiny else []), *extra]


def child_env(cache: Path) -> dict:
    """A fresh torch.compile cache per process (a cold start, as a user's first run) and this checkout first."""
    return dict(os.environ, TORCHINDUCTOR_CACHE_DIR=str(cache / "inductor"), TRITON_CACHE_DIR=str(cache / "triton"),
                PYTHONUNBUFFERED="1",
                PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))


def stream(cmd: list[str], *, cwd: Path, env: dict, log: Path | None = None) -> tuple[int, list[tuple[float, str]]]:
    """Run ``cmd`` and return its exit code and every output line with the seconds since it was started.

    ``log``: a file the timestamped lines are appended to, after the command.
    """
    started = time.perf_counter()
    lines: list[tuple[float, str]] = []
    with subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as p:
        for line in p.stdout:
            lines.append((time.perf_counter() - started, line.rstrip("\n")))
    if log is not None:
        with open(log, "a") as fh:
            fh.write(f"$ {shlex.join(cmd)}\n" + "".join(f"{t:8.2f} {text}\n" for t, text in lines) + "\n")
    return p.returncode, lines


# --------------------------------------------------------------------------- one run of each trainer

def run_llama2c(anchor: Path, c: dict, steps: int, dropout: float, tmp: Path, *, tiny: bool, log: Path | None) -> dict:
    zipf_shards(anchor, c["vocab"])
    with tempfile.TemporaryDirectory(dir=tmp) as work:
        work = Path(work)
        cmd = llama2c_command(anchor, c, steps, dropout, tiny=tiny, extra=[f"--out_dir={work / 'out'}"])
        rc, lines = stream(cmd, cwd=anchor, env=child_env(work), log=log)
    iters = [(t, m) for t, m in ((t, _LLAMA2C_ITER.match(text)) for t, text in lines) if m]
    if rc != 0 or not iters:
        raise RuntimeError(f"llama2.c train.py failed ({rc}): " + " | ".join(text for _, text in lines[-5:]))
    step_ms = [float(m.group(3)) for _, m in iters if int(m.group(1)) >= WARMUP_STEPS]
    return {"first_step_s": iters[0][0], "step_ms": step_ms, "final_loss": float(iters[-1][1].group(2))}


def run_tsdiag(anchor: Path, c: dict, steps: int, dropout: float, tmp: Path, *, tiny: bool, extra: list[str],
               log: Path | None) -> dict:
    data = zipf_shards(anchor, c["vocab"])
    with tempfile.TemporaryDirectory(dir=tmp) as work:
        work = Path(work)
        cmd = tsdiag_command(data, work / "run", c, steps, dropout, tiny=tiny, extra=extra)
        rc, lines = stream(cmd, cwd=REPO, env=child_env(work), log=log)
        folder = work / "run" / "standard"
        if rc not in (0, 1) or not (folder / "run.json").exists():
            raise RuntimeError(f"tsdiag retrain failed ({rc}): " + " | ".join(text for _, text in lines[-5:]))
        run = json.loads((folder / "run.json").read_text())
        with open(folder / "metrics.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
    first = next(t for t, text in lines if re.search(r"retrain standard step \d+:", text))
    step_ms = [float(r["ms_per_step"]) for r in rows if int(r["step"]) > WARMUP_STEPS]
    return {"first_step_s": first, "step_ms": step_ms, "final_loss": run["final"]["train_loss"],
            "execution": run.get("execution"), "device": run["throughput"]["device"]}


# --------------------------------------------------------------------------- the table

def summarise(r: dict, c: dict, peak: float | None) -> dict:
    from tsdiag.model import ModelArgs, Transformer

    ms = statistics.median(r["step_ms"])
    tokens = c["batch"] * c["accum"] * c["seq_len"]
    model = Transformer(ModelArgs(dim=c["dim"], n_layers=c["n_layers"], n_heads=c["n_heads"], vocab_size=c["vocab"],
                                  max_seq_len=c["seq_len"]))
    tokens_per_s = tokens / (ms / 1000)
    return {**r, "median_ms_per_step": ms, "steps_timed": len(r["step_ms"]), "tokens_per_s": tokens_per_s,
            "mfu": model.flops_per_token(c["seq_len"]) * tokens_per_s / peak if peak else None}


def gpu_peak() -> tuple[str, float | None]:
    import torch

    from tsdiag.train.runtime import peak_bf16_flops

    if not torch.cuda.is_available():
        return "cpu", None
    name = torch.cuda.get_device_name()
    return name, peak_bf16_flops(name)


def print_table(results: list[dict], rows: list[dict] | None = None, *, header: bool = True) -> None:
    """``rows`` (default: all results), each with its ratios to the llama2.c run of its config and dropout."""
    if header:
        print(f"\n{'config':<6} {'dropout':>7} {'trainer':<24} {'first step s':>12} {'median ms':>10} {'steps':>5} "
              f"{'tokens/s':>12} {'MFU':>6} {'tok/s vs llama2.c':>17} {'first step vs':>13}")
    for r in results if rows is None else rows:
        if "error" in r:
            print(f"{r['config']:<6} {r['dropout']:>7} {r['trainer']:<24} FAILED: {r['error'][:200]}")
            continue
        ref = next((x for x in results if x["config"] == r["config"] and x["dropout"] == r["dropout"]
                    and x["trainer"] == "llama2.c" and "error" not in x), None)
        speed = f"{r['tokens_per_s'] / ref['tokens_per_s']:.2f}x" if ref else "-"
        start = f"{r['first_step_s'] / ref['first_step_s']:.2f}x" if ref else "-"
        mfu = f"{r['mfu']:.1%}" if r.get("mfu") else "-"
        print(f"{r['config']:<6} {r['dropout']:>7} {r['trainer']:<24} {r['first_step_s']:>12.1f} "
              f"{r['median_ms_per_step']:>10.1f} {r['steps_timed']:>5} {r['tokens_per_s']:>12,.0f} {mfu:>6} "
              f"{speed:>17} {start:>13}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default="a,b")
    parser.add_argument("--dropouts", default="0,0.2")
    parser.add_argument("--steps", type=int, default=30, help="optimizer steps per run (>= 26 for 20 timed steps)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat every pair this many times, order flipped")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=OPTIONS",
                        help="also time tsdiag with these extra retrain options (at the first dropout)")
    parser.add_argument("--anchor", type=Path, default=DEFAULT_ANCHOR, help="a copy of ../shared/anchors/llama2c")
    parser.add_argument("--tiny", action="store_true", help="CPU-sized models for both trainers (checks the script)")
    args = parser.parse_args()
    if not (args.anchor / "train.py").exists():
        sys.exit(f"{args.anchor}/train.py not found: cp -r ../shared/anchors .anchors (see the docstring)")
    configs = {name: (TINY if args.tiny else CONFIGS[name]) for name in args.configs.split(",")}
    dropouts = [float(d) for d in args.dropouts.split(",")]
    variants = [("tsdiag", [])] + [(f"tsdiag {v.split('=', 1)[0]}", shlex.split(v.split("=", 1)[1]))
                                   for v in args.variant]
    out = Path(os.environ["OUT"]) if os.environ.get("OUT") else None
    device, peak = gpu_peak()
    print(f"device: {device}; peak bf16 {peak / 1e12 if peak else 0:.0f} TFLOP/s", flush=True)
    results: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, c in configs.items():
            for dropout in dropouts:
                trainers = [("llama2.c", None)] + [v for v in variants if dropout == dropouts[0] or not v[1]]
                for round_ in range(args.rounds):
                    for trainer, extra in (trainers if round_ % 2 == 0 else trainers[::-1]):
                        log = out / "runs.log" if out else None
                        row = {"config": name, "dropout": dropout, "trainer": trainer, "round": round_,
                               "options": extra, "device": device}
                        try:
                            r = (run_llama2c(args.anchor, c, args.steps, dropout, Path(tmp), tiny=args.tiny, log=log)
                                 if extra is None else
                                 run_tsdiag(args.anchor, c, args.steps, dropout, Path(tmp), tiny=args.tiny,
                                            extra=extra, log=log))
                            row.update(summarise(r, c, peak))
                        except (RuntimeError, StopIteration, ValueError) as exc:
                            row["error"] = str(exc) or type(exc).__name__
                        results.append(row)
                        print_table(results, results[-1:], header=len(results) == 1)
                        if out:
                            (out / "bench_retrain.json").write_text(json.dumps(results, indent=2))
    print_table(results)


if __name__ == "__main__":
    main()
