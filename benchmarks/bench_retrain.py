"""Time `tsdiag retrain` on the two reference configurations of issue 4 (GPU).

Each configuration processes 131,072 tokens per optimizer step:

  (a) dim 288, 6 layers, 6 heads, seq 256, vocab 32000, batch 128 x 4 accumulation (llama2.c's stories15M)
  (b) dim 768, 8 layers, 8 heads, seq 512, vocab 10000, batch 64 x 4 accumulation

on synthetic uniform token data of the right vocabulary, with the article-weighted
objective (the heavier of the two recipes: it also computes the article mask).
Every run is a fresh process with an empty torch.compile cache, so "time to
first step" includes a cold compile, as a user's first run would.

Reported per run: time to first step (from the start of training setup to the end
of step 1, compile included), the median ms per optimizer step over the steps
after a warm-up of 5 (CUDA-event timed), tokens/s and MFU against the GPU's
dense bf16 peak, and the speed-up over llama2.c's train.py measured on one H100
(torch 2.11, bf16, compile): (a) 72-97 ms/step, (b) 147-150 ms/step after
44-52 s of compile (the faster end is used, so the ratio is conservative).

Usage:

    python3 benchmarks/bench_retrain.py                      # both configs, regional compile
    python3 benchmarks/bench_retrain.py --compile regional,full --steps 40
    python3 benchmarks/bench_retrain.py --configs a --smoke-ddp 2   # also a 2-GPU torchrun run

A JSON copy of the table goes to $OUT/bench_retrain.json when OUT is set.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CONFIGS = {
    "a": dict(dim=288, n_layers=6, n_heads=6, seq_len=256, vocab=32000, batch=128, accum=4),
    "b": dict(dim=768, n_layers=8, n_heads=8, seq_len=512, vocab=10000, batch=64, accum=4),
}
# llama2.c train.py on one H100: best ms/step of the reported range, and compile seconds
LLAMA2C_REFERENCE = {"a": (72.0, 44.0), "b": (147.0, 52.0)}
# --tiny: the same code path at a size a CPU runs in seconds, to check the script itself
TINY = dict(dim=32, n_layers=2, n_heads=4, seq_len=32, vocab=512, batch=4, accum=2)
WARMUP_STEPS = 5
REPO = Path(__file__).resolve().parents[1]  # children import this checkout's tsdiag, installed or not
SYNTHETIC_TOKENS = 16_000_000


def synthetic_tokens(folder: Path, vocab: int, seed: int = 0) -> Path:
    path = folder / f"synthetic_v{vocab}.bin"
    if not path.exists():
        rng = np.random.default_rng(seed)
        rng.integers(0, vocab, size=SYNTHETIC_TOKENS, dtype=np.uint16).tofile(path)
    return path


def retrain_command(name: str, data: Path, out: Path, steps: int, compile_mode: str, nproc: int = 1) -> list[str]:
    c = CONFIGS[name]
    device = ["--device", "cpu"] if c is TINY else []
    launcher = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}", "-m", "tsdiag"] \
        if nproc > 1 else [sys.executable, "-m", "tsdiag"]
    cmd = launcher + [
        "retrain", "--weighted", "--data", str(data), "--vocab-size", str(c["vocab"]),
        "--article-ids", "100,200,300", "--dim", str(c["dim"]), "--n-layers", str(c["n_layers"]),
        "--n-heads", str(c["n_heads"]), "--seq-len", str(c["seq_len"]), "--batch-size", str(c["batch"]),
        "--grad-accum", str(c["accum"]), "--max-iters", str(steps), "--eval-every", str(steps),
        "--eval-iters", "1", "--out", str(out), "--json", *device,
    ]
    return cmd + (["--no-compile"] if compile_mode == "none" else ["--compile-mode", compile_mode])


def measure(name: str, data: Path, steps: int, compile_mode: str, nproc: int = 1) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=str(Path(tmp) / "inductor"), PYTHONUNBUFFERED="1",
                   PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        started = time.perf_counter()
        proc = subprocess.run(retrain_command(name, data, out, steps, compile_mode, nproc), env=env,
                              capture_output=True, text=True)
        wall = time.perf_counter() - started
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"retrain failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
        run = json.loads((out / "weighted" / "run.json").read_text())
        with open(out / "weighted" / "metrics.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
    timed = rows[WARMUP_STEPS:]
    step_ms = [float(r["ms_per_step"]) for r in timed]
    median_ms = statistics.median(step_ms)
    tokens_per_s = run["tokens_per_step"] / (median_ms / 1000)
    mfu = statistics.median(float(r["mfu"]) for r in timed) if timed[0]["mfu"] else None
    ref_ms, ref_compile = LLAMA2C_REFERENCE[name]
    return {
        "config": name, "compile": compile_mode, "processes": nproc, "device": run["throughput"]["device"],
        "first_step_s": run["timings"]["first_step_s"], "process_wall_s": wall,
        "median_ms_per_step": median_ms, "steps_timed": len(step_ms),
        "min_ms_per_step": min(step_ms), "max_ms_per_step": max(step_ms),
        "tokens_per_s": tokens_per_s, "mfu": mfu,
        "speedup_vs_llama2c": ref_ms / median_ms, "llama2c_ms_per_step": ref_ms,
        "llama2c_compile_s": ref_compile, "final_train_loss": run["final"]["train_loss"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default="a,b")
    parser.add_argument("--compile", default="regional", help="comma-separated: regional, full, none")
    parser.add_argument("--steps", type=int, default=30, help="optimizer steps per run (>= 25)")
    parser.add_argument("--smoke-ddp", type=int, default=0, help="also run each config under torchrun with N GPUs")
    parser.add_argument("--tiny", action="store_true", help="shrink every config to a CPU-sized model (checks the script)")
    args = parser.parse_args()
    if args.tiny:
        CONFIGS.update({name: TINY for name in CONFIGS})

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.configs.split(","):
            data = synthetic_tokens(Path(tmp), CONFIGS[name]["vocab"])
            for mode in args.compile.split(","):
                results.append(measure(name, data, args.steps, mode))
                _print_row(results[-1])
            if args.smoke_ddp > 1:
                results.append(measure(name, data, args.steps, args.compile.split(",")[0], nproc=args.smoke_ddp))
                _print_row(results[-1])

    print("\nconfig compile  procs  first step s  median ms/step  tokens/s      MFU    vs llama2.c")
    for r in results:
        _print_row(r)
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "bench_retrain.json").write_text(json.dumps(results, indent=2))


def _print_row(r: dict) -> None:
    mfu = f"{r['mfu']:.1%}" if r["mfu"] else "-"
    print(f"{r['config']:<6} {r['compile']:<8} {r['processes']:>5}  {r['first_step_s']:>11.1f}  "
          f"{r['median_ms_per_step']:>14.1f}  {r['tokens_per_s']:>12,.0f}  {mfu:>6}  "
          f"{r['speedup_vs_llama2c']:>8.2f}x   ({r['device']})", flush=True)


if __name__ == "__main__":
    main()
