"""How fast could `retrain` get on one GPU? Time training-step variants and a bandwidth floor.

`bench_retrain.py` times the product as shipped. This script answers the next question a
reviewer asks when a config misses its target: which changes would move ms/step, and what
is the lowest ms/step this model could reach on this card while keeping llama2.c's numerics
(bf16 matmuls under autocast, fp32 weights and fp32 residual stream)?

Variants, all in one process, on the same synthetic tokens and the article-weighted objective:

  regional          the product: torch.compile of each block and of the head + loss
  full              torch.compile of the whole model + loss as one graph
  regional+merged   the 4 micro-batches of a step run as one batch (same tokens per optimizer
                    step, about 4x the activation memory; the product does this when it fits)
  full+bf16res      the residual stream in bf16 (changes the numerics being reproduced)
  full+bf16res+merged   everything above at once

The floor is an estimate, printed with its parts: the matmul and attention kernels at the
time the profiler measured for them in the `regional` run, plus every memory-bound
operation (RMSNorm + residual add, RoPE, SwiGLU, cross-entropy, weight casts, gradient
accumulation, AdamW) fused down to the bytes it must read and write once, moved at the
device-to-device copy rate measured here, with no idle time between kernels.

Usage (CUDA only):

    python3 benchmarks/retrain_ceiling.py                  # config (b), every variant
    python3 benchmarks/retrain_ceiling.py --configs a,b --variants regional,full

A JSON copy goes to $OUT/retrain_ceiling.json when OUT is set.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_retrain import CONFIGS  # noqa: E402

from tsdiag.model import ModelArgs, Transformer  # noqa: E402
from tsdiag.recipes import TrainConfig  # noqa: E402
from tsdiag.train.loop import _HEAD_OPTIONS, Objective, make_optimizer  # noqa: E402

VARIANTS = ("regional", "full", "regional+merged", "full+bf16res", "full+bf16res+merged")
ARTICLE_IDS = [100, 200, 300]
WARMUP_STEPS, TIMED_STEPS = 5, 20


def build(cfg: dict, variant: str):
    torch.manual_seed(0)
    model = Transformer(model_args(cfg)).cuda()
    residual = torch.bfloat16 if "bf16res" in variant else None
    objective = Objective(model, ARTICLE_IDS, 5.0, "weights", weighted=True, residual_dtype=residual).cuda()
    if variant.startswith("full"):
        objective.compile()
    else:
        for block in model.layers:
            block.compile()
        objective.head_loss = torch.compile(objective._head_loss, options=_HEAD_OPTIONS)
    return model, objective, make_optimizer(model, TrainConfig())


def time_variant(cfg: dict, variant: str) -> dict:
    torch._dynamo.reset()
    model, objective, optimizer = build(cfg, variant)
    params = list(model.parameters())
    # merged: the product's path (one forward pass, each micro-batch normalised on its own)
    groups = cfg["accum"] if "merged" in variant else 1
    batch, accum = cfg["batch"] * groups, cfg["accum"] // groups
    gen = torch.Generator(device="cuda").manual_seed(0)
    data = torch.randint(0, cfg["vocab"], (3 * accum, batch, cfg["seq_len"] + 1), device="cuda", generator=gen)

    def step(i: int) -> None:
        for micro in range(accum):
            window = data[(i * accum + micro) % len(data)]
            with torch.autocast("cuda", torch.bfloat16):
                total, _ = objective(window[:, :-1], window[:, 1:], groups)
            (total / cfg["accum"]).backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    step(0)
    torch.cuda.synchronize()
    first_step_s = time.perf_counter() - started
    for i in range(1, WARMUP_STEPS):
        step(i)
    events = [torch.cuda.Event(enable_timing=True) for _ in range(TIMED_STEPS + 1)]
    events[0].record()
    for i in range(TIMED_STEPS):
        step(WARMUP_STEPS + i)
        events[i + 1].record()
    torch.cuda.synchronize()
    step_ms = [events[i].elapsed_time(events[i + 1]) for i in range(TIMED_STEPS)]
    kernels = profile_categories(step)
    result = {"variant": variant, "first_step_s": first_step_s, "median_ms": statistics.median(step_ms),
              "min_ms": min(step_ms), "max_ms": max(step_ms), "kernel_ms": kernels,
              "peak_memory_gb": torch.cuda.max_memory_allocated() / 1e9}
    return result


def profile_categories(step) -> dict[str, float]:
    """Kernel time of one step by kind (ms): matmul, attention, everything else."""
    activity = torch.profiler.ProfilerActivity.CUDA
    with torch.profiler.profile(activities=[activity]) as prof:
        step(0)
        torch.cuda.synchronize()
    totals = {"matmul": 0.0, "attention": 0.0, "other": 0.0}
    for event in prof.key_averages():
        name = event.key.lower()
        kind = ("matmul" if any(s in name for s in ("nvjet", "gemm", "cutlass", "xmma")) else
                "attention" if any(s in name for s in ("sdpa", "flash", "fmha", "cudnn")) else "other")
        totals[kind] += event.self_device_time_total / 1000
    return totals


def copy_bandwidth() -> float:
    """Device-to-device copy rate in bytes/s, counting bytes read and written (median of 10)."""
    src = torch.empty(1 << 30, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    times = []
    for _ in range(12):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        dst.copy_(src)
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1000)
    del src, dst
    return 2 * (1 << 30) / statistics.median(times[2:])


def model_args(cfg: dict) -> ModelArgs:
    return ModelArgs(dim=cfg["dim"], n_layers=cfg["n_layers"], n_heads=cfg["n_heads"],
                     vocab_size=cfg["vocab"], max_seq_len=cfg["seq_len"])


def memory_floor_bytes(cfg: dict, n_params: int) -> dict[str, float]:
    """Bytes every memory-bound op must move per optimizer step, each fused to one read and write.

    Per layer and token (fp32 residual x, bf16 activations): two RMSNorms with the residual add
    folded in, forward 12·dim bytes each (read x and the branch output, write x and the normed
    copy) and backward 14·dim (read the incoming gradient, x and the residual gradient, write dx);
    RoPE on q and k, 8·dim each way; SwiGLU, forward 6·hidden and backward 10·hidden.
    """
    dim, vocab, hidden = cfg["dim"], cfg["vocab"], model_args(cfg).hidden_dim
    tokens = cfg["batch"] * cfg["accum"] * cfg["seq_len"]
    per_layer_token = 2 * (12 + 14) * dim + 2 * 8 * dim + (6 + 10) * hidden
    return {
        "blocks": per_layer_token * cfg["n_layers"] * tokens,
        "cross_entropy": 4 * vocab * tokens,  # read bf16 logits once, write their bf16 gradient once
        # per micro-step: fp32 -> bf16 weight cast (6 B) and bf16 grad folded into fp32 .grad (10 B);
        # per step: clip (12 B) and fused AdamW (28 B)
        "weights_and_optimizer": n_params * (cfg["accum"] * 16 + 40),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default="b")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("retrain_ceiling.py needs a CUDA GPU")
    torch.backends.cuda.matmul.allow_tf32 = True
    bandwidth = copy_bandwidth()
    device = torch.cuda.get_device_name()
    print(f"{device}: device-to-device copy {bandwidth / 1e12:.2f} TB/s (read + write)")
    report = {"device": device, "copy_bytes_per_s": bandwidth, "configs": {}}
    for name in args.configs.split(","):
        cfg = CONFIGS[name]
        print(f"\nconfig {name}: {cfg}   (llama2.c's train.py side by side: bench_retrain.py)")
        print(f"{'variant':<22} {'first step s':>12} {'median ms':>10} "
              f"{'matmul':>7} {'attn':>6} {'other':>6} {'mem GB':>7}")
        rows = []
        for variant in args.variants.split(","):
            r = time_variant(cfg, variant)
            torch.cuda.empty_cache()  # the variant's model and optimizer are gone once it returns
            rows.append(r)
            k = r["kernel_ms"]
            print(f"{variant:<22} {r['first_step_s']:>12.1f} {r['median_ms']:>10.1f} "
                  f"{k['matmul']:>7.1f} {k['attention']:>6.1f} "
                  f"{k['other']:>6.1f} {r['peak_memory_gb']:>7.1f}", flush=True)
        floor = floor_estimate(cfg, rows, bandwidth)
        if floor:
            parts = ", ".join(f"{k} {v:.1f}" for k, v in floor["parts_ms"].items())
            print(f"floor (estimate, fp32 residual): {floor['ms']:.1f} ms/step "
                  f"[{parts}]")
        report["configs"][name] = {"config": cfg, "variants": rows, "floor": floor}
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "retrain_ceiling.json").write_text(json.dumps(report, indent=2))


def floor_estimate(cfg: dict, rows: list[dict], bandwidth: float) -> dict | None:
    baseline = next((r for r in rows if r["variant"] == "regional"), None)
    if baseline is None:
        return None
    n_params = sum(p.numel() for p in Transformer(model_args(cfg)).parameters())
    parts = {"matmul (measured)": baseline["kernel_ms"]["matmul"],
             "attention (measured)": baseline["kernel_ms"]["attention"]}
    for key, n_bytes in memory_floor_bytes(cfg, n_params).items():
        parts[key] = n_bytes / bandwidth * 1000
    return {"ms": sum(parts.values()), "parts_ms": parts}


if __name__ == "__main__":
    main()
