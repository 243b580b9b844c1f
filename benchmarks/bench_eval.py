"""Speed of `tsdiag eval` against a bare forward pass over the same windows, in one process.

The model is llama2.c's 15M shape (dim 288, 6 layers, 6 heads, vocab 32000, seq 256) with random weights,
saved as a llama2.c checkpoint; the data is a random uint16 shard. Measured, alternating, `--repeats`
times each:

* bare forward: `model(x)` under `torch.no_grad()` (bf16 autocast on CUDA) over the windows eval reads,
  in batches of the size eval uses;
* eval core: `tsdiag.evaluation.scoring.score_windows` (cross-entropy, per-window sums, article slots);
* eval end to end: `tsdiag.evaluate(...)` with `--probes`/`--no-probes` as given, reference text off
  (it scores extra text, a different amount of work), from the checkpoint file to the facts.

Prints a table of median seconds and the ratios to the bare forward.

    python benchmarks/bench_eval.py --tokens 32768                       # CPU
    python benchmarks/bench_eval.py --device cuda --tokens 1048576 --tokenizer tok.model
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tokens", type=int, default=32_768, help="targets evaluated per measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tokenizer", type=Path, default=None, help="a 32000-piece tokenizer (article slots on)")
    parser.add_argument("--probes", action=argparse.BooleanOptionalAction, default=False)
    args = parser.parse_args()

    from tsdiag.evaluation import evaluate
    from tsdiag.evaluation.models import load_model
    from tsdiag.evaluation.scoring import ArticleSlots, autocast_for, score_windows
    from tsdiag.evaluation.run import BATCH_TOKENS
    from tsdiag.evaluation.windows import iter_windows, plan_windows
    from tsdiag.model import ModelArgs, Transformer

    seq_len, vocab = 256, 32000
    torch.manual_seed(0)
    model_args = dict(dim=288, n_layers=6, n_heads=6, n_kv_heads=6, vocab_size=vocab, multiple_of=32,
                      max_seq_len=seq_len, dropout=0.0)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt, shard = Path(tmp) / "ckpt.pt", Path(tmp) / "data.bin"
        torch.save({"model": Transformer(ModelArgs(**model_args)).state_dict(), "model_args": model_args,
                    "iter_num": 1}, ckpt)
        n = (args.tokens // seq_len + 2) * seq_len
        np.random.default_rng(0).integers(0, vocab, n, dtype=np.uint16).tofile(shard)
        data = np.memmap(shard, dtype=np.uint16, mode="r")
        plan = plan_windows([len(data)], "llama2c", seq_len, args.tokens)
        batch = max(1, BATCH_TOKENS[torch.device(args.device).type] // plan.span)
        loaded = load_model(ckpt)
        model = loaded.model.to(args.device)
        slots = None
        if args.tokenizer is not None:
            from tsdiag.tokenizer import load_tokenizer

            slots = ArticleSlots.build(load_tokenizer(args.tokenizer), ("a", "an", "the"))

        def sync():
            if torch.device(args.device).type == "cuda":
                torch.cuda.synchronize()

        def bare():
            with torch.no_grad():
                for windows in iter_windows([data], plan, batch):
                    x = torch.from_numpy(windows).to(args.device, non_blocking=True)[:, :-1]
                    with autocast_for(args.device):
                        model(x)
            sync()

        def core():
            score_windows(model, iter_windows([data], plan, batch), vocab_size=vocab, device=args.device,
                          articles=slots)
            sync()

        def end_to_end():
            evaluate(ckpt, [shard], tokenizer=args.tokenizer, seq_len=seq_len, max_tokens=args.tokens,
                     device=args.device, reference=False, probes=args.probes)
            sync()

        cases = {"bare forward": bare, "eval core (score_windows)": core, "eval end to end": end_to_end}
        for fn in cases.values():  # warm-up: kernels, allocator, page cache
            fn()
        times = {name: [] for name in cases}
        for _ in range(args.repeats):
            for name, fn in cases.items():
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    base = statistics.median(times["bare forward"])
    device = torch.cuda.get_device_name() if torch.device(args.device).type == "cuda" else "cpu"
    print(f"eval vs bare forward: llama2.c 15M shape, {plan.windows} windows x {plan.targets_per_window} targets, "
          f"batch {batch}, {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"article slots {'on' if slots else 'off'}, probes {'on' if args.probes else 'off'}")
    print(f"{'measurement':<28}{'median s':>10}{'tokens/s':>12}{'x bare':>8}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<28}{median:>10.3f}{plan.windows * plan.targets_per_window / median:>12,.0f}{median / base:>8.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
