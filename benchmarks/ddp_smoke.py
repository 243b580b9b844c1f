"""Multi-GPU smoke test: `tsdiag retrain` unchanged under torchrun, against one process.

Builds the demo corpus, a 512-piece tokenizer and a uint16 shard, then trains
the same standard run (same seed, same global batch) once in one process and
once under ``torchrun --nproc_per_node N``; prints a table of status, world
size, final train/val loss and tokens/s, and checks that rank 0 alone wrote the
run folder and that the two runs agree.

    python benchmarks/ddp_smoke.py --gpus 2 --out /tmp/ddp      # needs N CUDA devices
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build_data(folder: Path) -> tuple[Path, Path]:
    import numpy as np

    from tsdiag.data.shards import load_token_array
    from tsdiag.demo.storygen import corpus_text, generate_corpus
    from tsdiag.tokenizer import load_tokenizer
    from tsdiag.tokenizer_train import train_sentencepiece

    folder.mkdir(parents=True, exist_ok=True)
    text = folder / "stories.txt"
    text.write_text(corpus_text(generate_corpus(4000)), encoding="utf-8")
    model = train_sentencepiece([text], folder / "tok512.model", vocab_size=512).model
    shard = folder / "train.bin"
    np.asarray(load_token_array([text], tokenizer=load_tokenizer(model)), dtype=np.uint16).tofile(shard)
    return shard, model


def retrain(launcher: list[str], shard: Path, tokenizer: Path, out: Path, steps: int) -> dict:
    cmd = launcher + ["retrain", "--standard", "--data", str(shard), "--tokenizer", str(tokenizer), "--out", str(out),
                      "--max-iters", str(steps), "--eval-every", str(steps), "--dim", "256", "--n-layers", "4",
                      "--n-heads", "4", "--seq-len", "256", "--batch-size", "32", "--grad-accum", "4",
                      "--device", "cuda", "--json"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-3000:], sep="\n")
        raise SystemExit(f"{' '.join(launcher)} failed with exit code {done.returncode}")
    return json.loads((out / "standard" / "run.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpus", type=int, default=2)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("/tmp/tsdiag-ddp"))
    args = parser.parse_args()

    import torch

    if torch.cuda.device_count() < args.gpus:
        raise SystemExit(f"needs {args.gpus} CUDA devices, found {torch.cuda.device_count()}")
    shard, tokenizer = build_data(args.out / "data")
    single = retrain([sys.executable, "-m", "tsdiag"], shard, tokenizer, args.out / "one", args.steps)
    multi = retrain([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.gpus}",
                     "-m", "tsdiag"], shard, tokenizer, args.out / "ddp", args.steps)

    print(f"\n{'run':<10}{'status':>11}{'world':>7}{'step':>6}{'train loss':>12}{'val loss':>10}{'tokens/s':>12}")
    for name, run in (("1 process", single), (f"{args.gpus} GPUs", multi)):
        t = run["throughput"]
        print(f"{name:<10}{run['status']:>11}{t['world_size']:>7}{run['step']:>6}"
              f"{run['final']['train_loss']:>12.4f}{run['val_loss']:>10.4f}{t['tokens_per_s']:>12,.0f}")
    files = sorted(p.name for p in (args.out / "ddp" / "standard").iterdir())
    gap = abs(single["val_loss"] - multi["val_loss"])
    print(f"\nrun folder written once by rank 0: {files}")
    print(f"val loss 1 process vs {args.gpus} GPUs: {single['val_loss']:.4f} vs {multi['val_loss']:.4f} "
          f"(|diff| {gap:.4f}; same seed and global batch, bf16 reductions differ in order)")
    print(f"speed-up: {multi['throughput']['tokens_per_s'] / single['throughput']['tokens_per_s']:.2f}x")


if __name__ == "__main__":
    main()
