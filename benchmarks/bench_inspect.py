"""How fast and how lean is ``tsdiag inspect`` on a big checkpoint, against ``import torch`` and a full load?

Builds a llama2.c-layout checkpoint (weights + AdamW state, ``_orig_mod.``
names, as train.py writes it) of at least ``--size-gb`` in ``--dir``, then
times in fresh subprocesses, ``--repeats`` times each:

* ``python -c 'import torch'`` (the floor every torch-reading tool pays);
* ``tsdiag inspect FILE --json`` (everything: safety scan, facts, health, NaN/Inf scan of every weight);
* ``tsdiag inspect FILE --json --no-health`` (facts only: reads no tensor data);
* a plain full ``torch.load(FILE, weights_only=True)`` (no mmap: what hand-written snippets do).

Repeats are interleaved (one of each command per round). Wall time and peak
RSS (``ru_maxrss`` of a wrapper's child) are reported as medians with ratios, next to the issue's targets: inspect at most 1 s more
than ``import torch`` and under 500 MB peak RSS, however large the file.

    python benchmarks/bench_inspect.py --dir /tmp/bench --size-gb 1.0
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

WRAPPER = (
    "import resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode\n"
    "wall = time.perf_counter() - t\n"
    "print(rc, wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)
TARGET_EXTRA_WALL_S = 1.0
TARGET_RSS_MB = 500


def build(path: Path, size_gb: float, vocab: int = 32000) -> dict:
    """A llama2.c train.py checkpoint: model + AdamW (exp_avg, exp_avg_sq) + model_args + config.

    The Llama 2 vocabulary with dim 768 (stories110M's width) and as many layers as the size needs;
    below 0.5 GB dim 256 keeps the embedding from exceeding the requested size.
    """
    import torch

    dim = 768 if size_gb >= 0.5 else 256

    hidden = 32 * ((int(2 * 4 * dim / 3) + 31) // 32)
    per_layer = 4 * dim * dim + 3 * dim * hidden + 2 * dim
    target_params = size_gb * (1 << 30) / 12          # 4 bytes x (weight + 2 AdamW moments)
    n_layers = max(1, math.ceil((target_params - vocab * dim - dim) / per_layer))
    shapes = {"tok_embeddings.weight": (vocab, dim)}
    for i in range(n_layers):
        p = f"layers.{i}."
        shapes.update({p + "attention.wq.weight": (dim, dim), p + "attention.wk.weight": (dim, dim),
                       p + "attention.wv.weight": (dim, dim), p + "attention.wo.weight": (dim, dim),
                       p + "feed_forward.w1.weight": (hidden, dim), p + "feed_forward.w2.weight": (dim, hidden),
                       p + "feed_forward.w3.weight": (hidden, dim), p + "attention_norm.weight": (dim,),
                       p + "ffn_norm.weight": (dim,)})
    shapes["norm.weight"] = (dim,)
    g = torch.Generator().manual_seed(0)
    model, state = {}, {}
    for index, (name, shape) in enumerate(shapes.items()):
        w = torch.ones(shape) if len(shape) == 1 else torch.randn(shape, generator=g) * 0.02
        model["_orig_mod." + name] = w
        state[index] = {"step": torch.tensor(5000.0), "exp_avg": torch.randn(shape, generator=g) * 1e-4,
                        "exp_avg_sq": torch.rand(shape, generator=g) * 1e-8}
    model["_orig_mod.output.weight"] = model["_orig_mod.tok_embeddings.weight"]   # tied, one storage
    n_matrices = sum(len(s) == 2 for s in shapes.values())
    optimizer = {"state": state, "param_groups": [
        {"lr": 3e-4, "betas": (0.9, 0.95), "eps": 1e-8, "weight_decay": 0.1, "params": list(range(n_matrices))},
        {"lr": 3e-4, "betas": (0.9, 0.95), "eps": 1e-8, "weight_decay": 0.0,
         "params": list(range(n_matrices, len(shapes)))}]}
    model_args = dict(dim=dim, n_layers=n_layers, n_heads=dim // 64, n_kv_heads=dim // 64, vocab_size=vocab, multiple_of=32,
                      max_seq_len=1024, dropout=0.0)
    config = dict(batch_size=32, max_seq_len=1024, vocab_source="llama2", vocab_size=vocab, learning_rate=5e-4,
                  max_iters=100000, weight_decay=0.1, beta1=0.9, beta2=0.95, warmup_iters=1000,
                  gradient_accumulation_steps=4, **{k: v for k, v in model_args.items() if k in ("dim", "n_layers")})
    torch.save({"model": model, "optimizer": optimizer, "model_args": model_args, "iter_num": 5000,
                "best_val_loss": torch.tensor(1.5), "config": config}, path)
    return {"n_layers": n_layers, "params": sum(math.prod(s) for s in shapes.values())}


def measure(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of one fresh run of ``cmd``."""
    out = subprocess.run([sys.executable, "-c", WRAPPER, *cmd], capture_output=True, text=True, check=True).stdout
    rc, wall, rss_kb = out.split()
    if rc not in ("0", "1"):   # inspect exits 1 when findings reach --fail-on
        raise SystemExit(f"command failed with exit code {rc}: {' '.join(cmd)}")
    return float(wall), int(rss_kb) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, required=True, help="folder for the generated checkpoint")
    parser.add_argument("--size-gb", type=float, default=1.0, help="checkpoint size to build (default 1.0)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the checkpoint afterwards")
    args = parser.parse_args()

    args.dir.mkdir(parents=True, exist_ok=True)
    path = args.dir / "ckpt.pt"
    t0 = time.perf_counter()
    info = build(path, args.size_gb)
    size_mb = path.stat().st_size / (1 << 20)
    print(f"built {path}: {size_mb:,.0f} MB, {info['params']:,} parameters, {info['n_layers']} layers "
          f"({time.perf_counter() - t0:.1f} s)")
    python = sys.executable
    commands = {
        "import torch": [python, "-c", "import torch"],
        "tsdiag inspect --json": [python, "-m", "tsdiag", "inspect", str(path), "--json"],
        "... --no-health": [python, "-m", "tsdiag", "inspect", str(path), "--json", "--no-health"],
        "torch.load (full)": [python, "-c", f"import torch; torch.load({str(path)!r}, weights_only=True, "
                                            f"map_location='cpu')"],
    }
    subprocess.run(commands["tsdiag inspect --json"], capture_output=True)   # warm the page cache
    runs: dict[str, list] = {name: [] for name in commands}
    for _ in range(args.repeats):  # interleaved, so that machine noise hits every command alike
        for name, cmd in commands.items():
            runs[name].append(measure(cmd))
    results = {name: (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs))
               for name, rs in runs.items()}
    base_wall, base_rss = results["import torch"]
    print(f"\n{'command':<24}{'wall s (median)':>16}{'x import':>10}{'peak RSS MB':>13}{'x import':>10}")
    for name, (wall, rss) in results.items():
        print(f"{name:<24}{wall:>16.2f}{wall / base_wall:>10.2f}{rss:>13.0f}{rss / base_rss:>10.2f}")
    inspect_wall, inspect_rss = results["tsdiag inspect --json"]
    load_wall, load_rss = results["torch.load (full)"]
    extra = inspect_wall - base_wall
    print(f"\nfile {size_mb:,.0f} MB, {args.repeats} repeats each; inspect vs full load: "
          f"{load_wall / inspect_wall:.1f}x faster, {load_rss / inspect_rss:.1f}x less memory")
    print(f"target wall: inspect - import torch = {extra:.2f} s <= {TARGET_EXTRA_WALL_S} s: "
          f"{'PASS' if extra <= TARGET_EXTRA_WALL_S else 'FAIL'}")
    print(f"target RSS: {inspect_rss:.0f} MB < {TARGET_RSS_MB} MB: {'PASS' if inspect_rss < TARGET_RSS_MB else 'FAIL'}")
    print(json.dumps({"size_mb": round(size_mb), "results": {k: {"wall_s": w, "rss_mb": r}
                                                             for k, (w, r) in results.items()}}))
    if not args.keep:
        path.unlink()


if __name__ == "__main__":
    main()
