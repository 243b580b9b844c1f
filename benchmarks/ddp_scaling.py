"""`tsdiag retrain` and llama2.c's train.py under torchrun on 1, 2 and 4 GPUs: scaling efficiency.

Config (b) of `bench_retrain.py` (dim 768, 8 layers, seq 512, vocab 10000, 64 x 4 = 131,072 tokens
per optimizer step) with the same global batch at every size: `--grad-accum 4` counts micro-batches
over all processes in tsdiag, and llama2.c's train.py divides its gradient_accumulation_steps by the
world size. Per size and trainer: median ms/step after 5 warm-up steps, tokens/s, and scaling
efficiency = tokens/s at N / (N x tokens/s at 1). NVLink multicast stays off in every process
(NCCL_NVLS_ENABLE=0, TORCH_SYMM_MEM_DISABLE_MULTICAST=1, NVSHMEM_DISABLE_NVLS=1).

    python3 benchmarks/ddp_scaling.py --gpus 1,2,4            # needs 4 GPUs and .anchors/llama2c
    python3 benchmarks/ddp_scaling.py --tiny --gpus 1,2       # tsdiag on 2 CPU processes (gloo); llama2.c
                                                              # is skipped: its train.py hard-codes NCCL

JSON goes to $OUT/ddp_scaling.json when OUT is set.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_retrain import (CONFIGS, DEFAULT_ANCHOR, REPO, TINY, _LLAMA2C_ITER, WARMUP_STEPS, child_env, llama2c_command,  # noqa: E402
                           stream, tsdiag_command, zipf_shards)

NO_MULTICAST = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "NVSHMEM_DISABLE_NVLS": "1"}


def torchrun(n: int) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}"]


def run_tsdiag(anchor: Path, c: dict, n: int, steps: int, tmp: Path, tiny: bool, log: Path | None) -> list[float]:
    import csv

    work = Path(tempfile.mkdtemp(dir=tmp))
    cmd = tsdiag_command(zipf_shards(anchor, c["vocab"]), work / "run", c, steps, 0.0, tiny=tiny)
    cmd = torchrun(n) + cmd[1:] if n > 1 else cmd
    rc, lines = stream(cmd, cwd=REPO, env={**child_env(work), **NO_MULTICAST}, log=log)
    metrics = work / "run" / "standard" / "metrics.csv"
    if rc not in (0, 1) or not metrics.exists():
        raise RuntimeError(f"tsdiag failed ({rc}): " + " | ".join(t for _, t in lines[-4:]))
    with open(metrics, newline="") as fh:
        return [float(r["ms_per_step"]) for r in csv.DictReader(fh) if int(r["step"]) > WARMUP_STEPS]


def run_llama2c(anchor: Path, c: dict, n: int, steps: int, tmp: Path, log: Path | None) -> list[float]:
    zipf_shards(anchor, c["vocab"])
    work = Path(tempfile.mkdtemp(dir=tmp))
    cmd = llama2c_command(anchor, c, steps, 0.0, tiny=False, extra=[f"--out_dir={work / 'out'}"])
    cmd = torchrun(n) + cmd[1:] if n > 1 else cmd
    rc, lines = stream(cmd, cwd=anchor, env={**child_env(work), **NO_MULTICAST}, log=log)
    ms = [float(m.group(3)) for m in (_LLAMA2C_ITER.match(t) for _, t in lines) if m and int(m.group(1)) >= WARMUP_STEPS]
    if rc != 0 or not ms:
        raise RuntimeError(f"llama2.c failed ({rc}): " + " | ".join(t for _, t in lines[-4:]))
    return ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpus", default="1,2,4")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--anchor", type=Path, default=DEFAULT_ANCHOR)
    parser.add_argument("--tiny", action="store_true", help="CPU processes over gloo, tsdiag only")
    args = parser.parse_args()
    c = TINY if args.tiny else CONFIGS["b"]
    tokens = c["batch"] * c["accum"] * c["seq_len"]
    out = Path(os.environ["OUT"]) if os.environ.get("OUT") else None
    log = out / "ddp_runs.log" if out else None
    trainers = ["tsdiag"] if args.tiny else ["llama2.c", "tsdiag"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(g) for g in args.gpus.split(",")):
            for trainer in trainers:
                row = {"trainer": trainer, "processes": n}
                try:
                    ms = (run_tsdiag(args.anchor, c, n, args.steps, Path(tmp), args.tiny, log) if trainer == "tsdiag"
                          else run_llama2c(args.anchor, c, n, args.steps, Path(tmp), log))
                    row.update(median_ms=statistics.median(ms), steps_timed=len(ms),
                               tokens_per_s=tokens / (statistics.median(ms) / 1000))
                except RuntimeError as exc:
                    row["error"] = str(exc)
                rows.append(row)
                if out:
                    (out / "ddp_scaling.json").write_text(json.dumps(rows, indent=2))
    print(f"\n{'trainer':<10} {'processes':>9} {'median ms/step':>14} {'tokens/s':>12} {'efficiency':>10}")
    for r in rows:
        if "error" in r:
            print(f"{r['trainer']:<10} {r['processes']:>9} FAILED: {r['error'][:200]}")
            continue
        one = next((x for x in rows if x["trainer"] == r["trainer"] and x["processes"] == 1 and "error" not in x), None)
        eff = f"{r['tokens_per_s'] / (r['processes'] * one['tokens_per_s']):.2f}" if one else "-"
        print(f"{r['trainer']:<10} {r['processes']:>9} {r['median_ms']:>14.1f} {r['tokens_per_s']:>12,.0f} {eff:>10}")


if __name__ == "__main__":
    main()
