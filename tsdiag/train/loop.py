"""The training loop of a reference run.

Read it top to bottom like llama2.c's ``train.py``: build the model, the
optimizer and the objective, then step.  What differs is what makes it fast
and safe:

* no host synchronisation inside a step: per-step metrics (loss sums, counts,
  grad norm, a non-finite flag) stay on the device in a small buffer that is
  read once every ``log_interval`` steps; step times come from CUDA events;
* a non-finite loss or gradient never reaches the weights: the fused AdamW
  step is skipped on the device (``found_inf``, the mechanism GradScaler
  uses), and the run stops at the next read-out with the last good weights;
* the objective (model trunk, final norm, output layer, loss) is one module,
  so ``torch.compile`` fuses the loss into the output layer's epilogue and DDP
  wraps everything; ``compile="regional"`` compiles one block (reused by all
  layers) plus the head, which cuts cold-start time;
* the micro-batches of an optimizer step run as one forward pass when the
  activations fit (``merge_micro_batches``): a quarter of the kernel launches
  and larger matmuls, with each micro-batch still normalised on its own
  (``groups`` in :mod:`tsdiag.loss`), so the gradient is the accumulated one;
* batches are gathered and pinned in a background thread.
"""

from __future__ import annotations

import contextlib
import math
import signal
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
import torch.nn as nn

from tsdiag import __version__
from tsdiag.errors import InputError
from tsdiag.loss import article_weighted_loss, standard_loss
from tsdiag.model import build_model
from tsdiag.recipes import TrainConfig, learning_rate_at
from tsdiag.train import runfolder
from tsdiag.train.data import BatchPrefetcher, TokenSplit, sources_label, to_device_batch, val_batch
from tsdiag.train.runtime import Runtime, all_reduce_sum, setup_runtime

Reporter = Callable[[str, Mapping[str, Any]], None]

_PROVISIONAL_ITERS = 1_000_000   # schedule length while a time budget is still being converted to steps
_TIMED_STEPS_FOR_ESTIMATE = 3    # steps after the first (compile) step timed before estimating max_iters
_WARMUP_STEPS_EXCLUDED = 5       # steps left out of the throughput median (compile, allocator warm-up)
_EVAL_FORWARD_SHARE = 1 / 3      # a forward pass costs about a third of forward + backward
# Activation memory a forward pass keeps for backward under bf16 autocast, bytes per token: per layer
# 34 per model dim (fp32 residual in and out, bf16 norm outputs, q/k/v before and after RoPE, attention
# output) + 10 per feed-forward unit (the two up-projections, the gate, their product), and 8 per
# vocabulary entry (bf16 logits, the softmax's fp32 work, bf16 logit gradient). It overestimates
# what inductor keeps (config (b) of benchmarks/bench_retrain.py: 59 GB estimated, 32 GB measured merged).
_ACTIVATION_BYTES = {"per_dim": 34, "per_hidden": 10, "per_vocab": 8}
_MERGE_MEMORY_SHARE = 0.8        # share of the free GPU memory merged activations may take
_OPTIMIZER_BYTES_PER_PARAM = 12  # fp32 gradient + AdamW's two moments, allocated at the first step
_CPU_MERGE_BUDGET = 2 << 30      # bytes: on a CPU, merge only small models (tests, smoke runs)


@dataclass
class ArticleSetup:
    """Which target ids the objective treats as articles, and where they came from."""

    ids: list[int]
    pieces: list[str]
    source: str                      # "tokenizer", "--article-ids" or "none"
    tokenizer_ids: list[int] | None = None  # the tokenizer's own article ids, when a tokenizer is known


@dataclass
class RunResult:
    out_dir: Path
    status: str                # completed, interrupted, nonfinite or time_budget (the same on every process)
    run: dict[str, Any]        # the run.json record (empty on processes other than rank 0)


class Objective(nn.Module):
    """Model and loss as one module: ``forward(x, y)`` → (loss to backpropagate, 5 statistics).

    The statistics (objective total, article CE sum, article count, other CE
    sum, other count) are detached fp32 values that stay on the device.
    """

    def __init__(self, model: nn.Module, article_ids: list[int], article_weight: float, normalize: str,
                 weighted: bool, residual_dtype: torch.dtype | None = None):
        super().__init__()
        self.model = model
        self.register_buffer("article_ids", torch.tensor(article_ids, dtype=torch.long), persistent=False)
        self.article_weight, self.normalize, self.weighted = article_weight, normalize, weighted
        self.residual_dtype = residual_dtype
        self.head_loss = self._head_loss

    def _head_loss(self, h, targets, groups: int):
        logits = self.model.head(h)
        if self.weighted:
            bd = article_weighted_loss(logits, targets, self.article_ids, self.article_weight, self.normalize,
                                       groups=groups)
        else:
            bd = standard_loss(logits, targets, article_ids=self.article_ids, groups=groups)
        total = bd.total * groups  # the sum of the micro-batch losses, as accumulation would add them
        stats = torch.stack([
            total.detach(), bd.article_loss * bd.article_tokens, bd.article_tokens.float(),
            bd.other_loss * bd.other_tokens, bd.other_tokens.float(),
        ])
        return total, stats

    def forward(self, x, y, groups: int = 1):
        """``x``/``y`` hold ``groups`` micro-batches of equal size, each normalised on its own."""
        return self.head_loss(self.model.trunk(x, self.residual_dtype), y, groups)


def model_config(config: TrainConfig) -> dict[str, Any]:
    """The architecture part of a TrainConfig in the model family's own names."""
    if config.arch == "nanogpt":
        if config.n_kv_heads not in (None, config.n_heads):
            raise InputError("--n-kv-heads", "the nanoGPT architecture has no grouped-query attention")
        return dict(n_embd=config.dim, n_layer=config.n_layers, n_head=config.n_heads, vocab_size=config.vocab_size,
                    block_size=config.max_seq_len, dropout=config.dropout, bias=config.bias)
    return dict(dim=config.dim, n_layers=config.n_layers, n_heads=config.n_heads, n_kv_heads=config.n_kv_heads,
                vocab_size=config.vocab_size, hidden_dim=config.hidden_dim, multiple_of=config.multiple_of,
                max_seq_len=config.max_seq_len, dropout=config.dropout, tie_embeddings=config.tie_embeddings)


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices and embeddings (≥2-D) only, fused kernel."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.learning_rate, betas=(config.beta1, config.beta2), fused=True)


@dataclass
class _State:
    step: int = 0
    best_val_loss: float = math.inf
    val_history: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    nonfinite_steps: list[int] = field(default_factory=list)
    planned_iters: int | None = None
    status: str = "running"


class _StopRequest:
    """First Ctrl-C asks the loop to save and stop at the next step boundary; a second one aborts."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def retrain(
    config: TrainConfig,
    split: TokenSplit,
    out_dir: str | Path,
    *,
    article: ArticleSetup,
    data_info: Mapping[str, Any],
    resume: bool = False,
    reporter: Reporter | None = None,
    runtime: Runtime | None = None,
) -> RunResult:
    """Train ``config`` on ``split`` and write the run folder ``out_dir``; see the module docstring."""
    started = time.perf_counter()
    out_dir = Path(out_dir)
    rt = runtime or setup_runtime(config.device)
    report = reporter if (reporter is not None and rt.is_main) else (lambda kind, info: None)
    if config.gradient_accumulation_steps % rt.world_size:
        raise InputError("--grad-accum", f"{config.gradient_accumulation_steps} must divide by the "
                                         f"{rt.world_size} processes of this torchrun")
    micro_steps = config.gradient_accumulation_steps // rt.world_size
    if config.vocab_size is None or split.max_id >= config.vocab_size:
        raise InputError(sources_label(data_info.get("sources", [])),
                         f"the data hold id {split.max_id}, the model has {config.vocab_size} embedding rows "
                         "(wrong --dtype or --tokenizer, or raise --vocab-size)")

    torch.manual_seed(config.seed)
    model = build_model(config.arch, model_config(config)).to(rt.device)
    optimizer = make_optimizer(model, config)
    state = _State(planned_iters=config.max_iters)
    if resume:
        _restore(out_dir, model, optimizer, state, split, rt)

    residual = torch.bfloat16 if (config.residual_dtype == "bfloat16" and rt.autocast_dtype is torch.bfloat16) \
        else None
    objective = Objective(model, article.ids, config.article_weight, config.normalize,
                          weighted=config.objective == "weighted", residual_dtype=residual).to(rt.device)
    merge = micro_batches_per_forward(model, config, micro_steps, rt)
    forwards = micro_steps // merge
    _compile(objective, config.compile if rt.device.type == "cuda" else "none")
    trained = objective
    if rt.distributed:
        trained = nn.parallel.DistributedDataParallel(
            objective, device_ids=[rt.device.index] if rt.device.type == "cuda" else None)

    tokens_per_step = config.tokens_per_step()
    flops_per_step = model.flops_per_token(config.max_seq_len) * tokens_per_step
    params = [p for p in model.parameters()]
    max_norm = config.grad_clip if config.grad_clip > 0 else math.inf
    is_cuda = rt.device.type == "cuda"
    log_every = max(1, config.log_interval)
    buffer = torch.zeros(log_every, 7, device=rt.device)  # per step: 5 loss stats, grad norm, non-finite flag
    pending: list[tuple[int, float, Any]] = []             # (step, lr, end marker) not yet read out
    last_marker = _marker(is_cuda)
    step_ms: list[float] = []
    timings = {"setup_s": 0.0, "first_step_s": None, "eval_s": 0.0}
    session_start_step = state.step
    budget_deadline = (started + config.time_budget) if config.time_budget else None

    execution = {"compile": config.compile if is_cuda else "none", "micro_batches_per_forward": merge,
                 "residual_dtype": str(residual or next(model.parameters()).dtype).removeprefix("torch.")}
    run_info = dict(config=config, split=split, article=article, data_info=data_info, rt=rt, model=model,
                    tokens_per_step=tokens_per_step, execution=execution)
    report("start", {"step": state.step, "max_iters": state.planned_iters, "out_dir": str(out_dir),
                     "device": rt.device_name, "precision": rt.precision, "world_size": rt.world_size,
                     "n_params": sum(p.numel() for p in params), "tokens_per_step": tokens_per_step,
                     "micro_batches_per_forward": merge})

    def flush() -> None:
        """Read the buffered steps back (the one host sync), log them, decide whether to stop."""
        nonlocal last_marker
        if not pending:
            return
        rows = all_reduce_sum(buffer[:len(pending)].clone(), rt).tolist()
        times = []
        for _, _, marker in pending:
            times.append(_elapsed_ms(last_marker, marker, is_cuda))
            last_marker = marker
        for (step, lr, _), values, ms in zip(pending, rows, times):
            loss_sum, art_sum, art_n, oth_sum, oth_n, norm_sum, bad = values
            world = rt.world_size
            row = {
                "step": step, "tokens": step * tokens_per_step, "loss": loss_sum / (micro_steps * world),
                "article_loss": art_sum / art_n if art_n else None,
                "other_loss": oth_sum / oth_n if oth_n else None,
                "lr": lr, "grad_norm": norm_sum / world, "ms_per_step": ms,
                "tokens_per_s": tokens_per_step / (ms / 1000) if ms > 0 else None,
            }
            row["ratio"] = _ratio(row["article_loss"], row["other_loss"])
            row["mfu"] = (flops_per_step / (ms / 1000) / (rt.peak_flops * world)) if (rt.peak_flops and ms > 0) \
                else None
            if bad > 0:
                state.nonfinite_steps.append(step)
            state.metrics.append(row)
            if step > session_start_step + 1:
                step_ms.append(ms)
            else:
                timings["first_step_s"] = time.perf_counter() - started
        pending.clear()
        report("log", state.metrics[-1])

    def evaluate() -> None:
        eval_started = time.perf_counter()
        val = _evaluate(objective, split, config, rt, merge)
        timings["eval_s"] += time.perf_counter() - eval_started
        entry = {"step": state.step, **val}
        state.val_history.append(entry)
        if state.metrics and state.metrics[-1]["step"] == state.step:
            state.metrics[-1].update({f"val_{k}" if k != "val_loss" else k: v for k, v in val.items()})
        state.best_val_loss = min(state.best_val_loss, val["val_loss"])
        report("eval", entry)

    prefetch = BatchPrefetcher(split.train, config.batch_size, config.max_seq_len, seed=config.seed, rank=rt.rank,
                               start_step=state.step, micro_steps=micro_steps, device=rt.device, merge=merge)
    timings["setup_s"] = time.perf_counter() - started
    try:
        with _StopRequest() as stop:
            while state.planned_iters is None or state.step < state.planned_iters:
                schedule_iters = state.planned_iters or _PROVISIONAL_ITERS
                lr = learning_rate_at(state.step, config, schedule_iters)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                stats = torch.zeros(5, device=rt.device)
                for forward in range(forwards):
                    x, y = next(prefetch)
                    sync = trained.no_sync() if (rt.distributed and forward < forwards - 1) else contextlib.nullcontext()
                    with sync:
                        with rt.autocast():
                            total, micro_stats = trained(x, y, merge)
                        (total / micro_steps).backward()
                    stats += micro_stats
                grad_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
                bad = ~(torch.isfinite(stats[0]) & torch.isfinite(grad_norm))
                optimizer.found_inf = bad.float()  # the fused AdamW skips the update on the device
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                buffer[len(pending)] = torch.cat([stats, grad_norm.reshape(1).float(), bad.reshape(1).float()])
                state.step += 1
                pending.append((state.step, lr, _marker(is_cuda)))

                first_of_session = state.step == session_start_step + 1
                eval_due = state.step % config.eval_interval == 0 or state.step == state.planned_iters
                if len(pending) == log_every or first_of_session or eval_due:
                    flush()
                    reason = _stop_reason(state, stop.requested, budget_deadline, rt)
                    if state.planned_iters is None and len(step_ms) >= _TIMED_STEPS_FOR_ESTIMATE:
                        state.planned_iters = _estimate_iters(state.step, step_ms, config, started, micro_steps, rt)
                        report("planned", {"max_iters": state.planned_iters})
                    if reason:
                        state.status = reason
                        break
                if eval_due:
                    evaluate()
                    _save(out_dir, run_info, optimizer, state, timings, step_ms, started, final=False)
    finally:
        prefetch.close()

    flush()
    if state.status == "running":
        state.status = "completed"
    if not state.val_history or state.val_history[-1]["step"] != state.step:
        evaluate()
    _save(out_dir, run_info, optimizer, state, timings, step_ms, started, final=True)
    run = runfolder.read_run(out_dir) if rt.is_main else {}
    report("end", run)
    return RunResult(out_dir=out_dir, status=state.status, run=run)


# --------------------------------------------------------------------------- helpers of the loop

def micro_batches_per_forward(model: nn.Module, config: TrainConfig, micro_steps: int, rt: Runtime) -> int:
    """How many of a step's ``micro_steps`` micro-batches one forward pass takes (a divisor of it).

    The most whose estimated activations fit: on CUDA a share of the memory free once the model is
    built, less what the optimizer will still allocate; on a CPU a fixed small budget.
    """
    if not config.merge_micro_batches or micro_steps == 1:
        return 1
    if rt.device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(rt.device)
        n_params = sum(p.numel() for p in model.parameters())
        budget = _MERGE_MEMORY_SHARE * free - _OPTIMIZER_BYTES_PER_PARAM * n_params
    else:
        budget = _CPU_MERGE_BUDGET
    per_micro = _activation_bytes_per_token(model) * config.batch_size * config.max_seq_len
    return max(m for m in range(1, micro_steps + 1) if micro_steps % m == 0 and (m == 1 or m * per_micro <= budget))


def _activation_bytes_per_token(model: nn.Module) -> float:
    c = model.config_dict()
    if model.family == "llama2c":
        dim, hidden, layers = c["dim"], c["hidden_dim"], c["n_layers"]
    else:
        dim, hidden, layers = c["n_embd"], 4 * c["n_embd"], c["n_layer"]
    b = _ACTIVATION_BYTES
    return layers * (b["per_dim"] * dim + b["per_hidden"] * hidden) + b["per_vocab"] * c["vocab_size"]


def _compile(objective: Objective, mode: str) -> None:
    if mode == "full":
        objective.compile()
    elif mode == "regional":
        for block in objective.model.blocks:
            block.compile()
        objective.head_loss = torch.compile(objective._head_loss, options=_HEAD_OPTIONS)


# torch <= 2.11's mix-order reduction fusion can fail on the loss's reductions (pytorch/pytorch#174379);
# the head has no reduction it would speed up, so it is off there wherever the option exists
_HEAD_OPTIONS = {"triton.mix_order_reduction": False} \
    if hasattr(torch._inductor.config.triton, "mix_order_reduction") else None


def _marker(is_cuda: bool):
    if is_cuda:
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event
    return time.perf_counter()


def _elapsed_ms(start, end, is_cuda: bool) -> float:
    return start.elapsed_time(end) if is_cuda else (end - start) * 1000


def _ratio(article: float | None, other: float | None) -> float | None:
    return article / other if (article is not None and other) else None


def _stop_reason(state: _State, interrupted: bool, deadline: float | None, rt: Runtime) -> str | None:
    """Non-finite loss, Ctrl-C or an exhausted time budget; all processes agree on the answer."""
    flags = torch.tensor([
        float(bool(state.nonfinite_steps)), float(interrupted),
        float(deadline is not None and time.perf_counter() > deadline),
    ], device=rt.device)
    nonfinite, interrupted_any, out_of_time = (v > 0 for v in all_reduce_sum(flags, rt).tolist())
    if nonfinite:
        return "nonfinite"
    if interrupted_any:
        return "interrupted"
    if out_of_time:
        return "time_budget"
    return None


def _estimate_iters(step: int, step_ms: list[float], config: TrainConfig, started: float, micro_steps: int,
                    rt: Runtime) -> int:
    """How many steps fit the time budget at the measured pace, evaluation included (rank 0 decides)."""
    step_s = statistics.median(step_ms) / 1000
    eval_share = config.eval_iters / (config.eval_interval * micro_steps * rt.world_size) * _EVAL_FORWARD_SHARE
    remaining = config.time_budget - (time.perf_counter() - started)
    estimate = torch.tensor([step + max(1, int(remaining / (step_s * (1 + eval_share))))], device=rt.device)
    if rt.distributed:
        torch.distributed.broadcast(estimate, src=0)
    return int(estimate.item())


@torch.no_grad()
def _evaluate(objective: Objective, split: TokenSplit, config: TrainConfig, rt: Runtime,
              merge: int) -> dict[str, float | None]:
    """Plain cross-entropy on the held-out batches (the same ones every time), split by token class.

    ``merge`` batches go through one forward pass, the shape training compiled for.
    """
    objective.eval()
    sums = torch.zeros(4, device=rt.device)
    indices = list(range(rt.rank, config.eval_iters, rt.world_size))
    for start in range(0, len(indices), merge):
        chunk = indices[start:start + merge]
        windows = np.concatenate([val_batch(split.val, config.batch_size, config.max_seq_len, seed=config.seed,
                                            index=index) for index in chunk])
        x, y = to_device_batch(windows, rt.device)
        with rt.autocast():
            _, stats = objective(x, y, len(chunk))
        sums += stats[1:]
    objective.train()
    art_sum, art_n, oth_sum, oth_n = all_reduce_sum(sums, rt).tolist()
    article_loss = art_sum / art_n if art_n else None
    other_loss = oth_sum / oth_n if oth_n else None
    return {"val_loss": (art_sum + oth_sum) / (art_n + oth_n), "article_loss": article_loss,
            "other_loss": other_loss, "ratio": _ratio(article_loss, other_loss)}


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _throughput(step_ms: list[float], tokens_per_step: int, flops_per_token: float, rt: Runtime) -> dict:
    timed = step_ms[_WARMUP_STEPS_EXCLUDED - 1:] if len(step_ms) >= _WARMUP_STEPS_EXCLUDED + 3 else step_ms
    ms = _median(timed)
    tokens_per_s = tokens_per_step / (ms / 1000) if ms else None
    mfu = flops_per_token * tokens_per_s / (rt.peak_flops * rt.world_size) if (tokens_per_s and rt.peak_flops) \
        else None
    return {"ms_per_step": ms, "tokens_per_s": tokens_per_s, "mfu": mfu, "steps_timed": len(timed),
            "device": rt.device_name, "peak_flops": rt.peak_flops, "precision": rt.precision,
            "world_size": rt.world_size}


def _save(out_dir: Path, info: Mapping[str, Any], optimizer, state: _State, timings: dict, step_ms: list[float],
          started: float, *, final: bool) -> None:
    """Write the whole run folder at ``state.step`` (rank 0 only)."""
    rt: Runtime = info["rt"]
    if not rt.is_main:
        return
    config: TrainConfig = info["config"]
    model: nn.Module = info["model"]
    out_dir.mkdir(parents=True, exist_ok=True)
    last_val = state.val_history[-1] if state.val_history else {}
    val_loss = last_val.get("val_loss")
    best = state.best_val_loss if math.isfinite(state.best_val_loss) else None
    model_state = model.state_dict()
    runfolder.write_checkpoint(out_dir, {
        "model": model_state, "optimizer": optimizer.state_dict(), "model_args": model.config_dict(),
        "iter_num": state.step, "best_val_loss": best, "val_loss": val_loss,
        "config": config.resolved_dict(state.planned_iters or state.step),
    })
    runfolder.write_model(out_dir, model_state, {
        "step": str(state.step), "val_loss": str(val_loss), "best_val_loss": str(best), "recipe": config.recipe,
        "format": "tsdiag-run", "family": model.family, "model_args": model.config_dict(),
    })
    runfolder.write_metrics(out_dir, state.metrics)
    runfolder.write_run(out_dir, _run_record(info, state, timings, step_ms, started, val_loss, best))
    if final:
        runfolder.plot_run(out_dir, state.metrics, f"{config.recipe} ({config.objective} objective)")


def _run_record(info, state: _State, timings, step_ms, started, val_loss, best) -> dict[str, Any]:
    config: TrainConfig = info["config"]
    model: nn.Module = info["model"]
    split: TokenSplit = info["split"]
    article: ArticleSetup = info["article"]
    rt: Runtime = info["rt"]
    last_val = state.val_history[-1] if state.val_history else {}
    last_train = state.metrics[-1] if state.metrics else {}
    return {
        "schema": runfolder.RUN_SCHEMA,
        "kind": "tsdiag-run",
        "tsdiag_version": __version__,
        "recipe": config.recipe,
        "objective": config.objective,
        "article_weight": config.article_weight,
        "normalize": config.normalize,
        "article_ids": article.ids,
        "article_pieces": article.pieces,
        "article_ids_source": article.source,
        "architecture": {"family": model.family, **model.config_dict(),
                         "n_params": sum(p.numel() for p in model.parameters())},
        "config": config.to_dict(),
        # the values the schedule ran with where config leaves them to be derived (null there)
        "schedule": {k: v for k, v in config.resolved_dict(state.planned_iters or state.step).items()
                     if k in ("max_iters", "warmup_iters", "lr_decay_iters", "min_lr")},
        "provenance": dict(config.provenance),
        "status": state.status,
        "step": state.step,
        "max_iters": state.planned_iters,
        "tokens_per_step": info["tokens_per_step"],
        "tokens_seen": state.step * info["tokens_per_step"],
        "nonfinite_steps": state.nonfinite_steps,
        "val_loss": val_loss,
        "best_val_loss": best,
        "final": {
            "val_loss": val_loss,
            "article_loss": last_val.get("article_loss"),
            "other_loss": last_val.get("other_loss"),
            "ratio": last_val.get("ratio"),
            "train_loss": last_train.get("loss"),
            "train_article_loss": last_train.get("article_loss"),
            "train_other_loss": last_train.get("other_loss"),
            "train_ratio": last_train.get("ratio"),
        },
        "val_history": state.val_history,
        "throughput": _throughput(step_ms, info["tokens_per_step"],
                                  model.flops_per_token(config.max_seq_len), rt),
        "execution": info["execution"],
        "data": {
            **info["data_info"],
            "fingerprint": split.fingerprint,
            "train_tokens": int(len(split.train)),
            "val_tokens": int(len(split.val)),
        },
        "seed": config.seed,
        "timings": {**timings, "total_s": time.perf_counter() - started},
        "files": {"model": runfolder.MODEL_FILE, "checkpoint": runfolder.CHECKPOINT_FILE,
                  "metrics": runfolder.METRICS_FILE, "plot": runfolder.PLOT_FILE},
    }


def _restore(out_dir: Path, model: nn.Module, optimizer, state: _State, split: TokenSplit, rt: Runtime) -> None:
    """Load ckpt.pt, run.json and metrics.csv of ``out_dir`` to continue at the saved step."""
    run = runfolder.read_run(out_dir)
    if run["data"].get("fingerprint") != split.fingerprint:
        raise InputError(out_dir, f"the data differ from the run being resumed (fingerprint "
                                  f"{split.fingerprint}, saved {run['data'].get('fingerprint')})")
    ckpt_path = out_dir / runfolder.CHECKPOINT_FILE
    if not ckpt_path.is_file():
        raise InputError(ckpt_path, "cannot resume: the run folder has no checkpoint")
    from tsdiag.checkpoint.safe_torch import load_tensors

    ckpt = load_tensors(ckpt_path)  # weights only, and an unreadable file is an InputError naming it
    if not isinstance(ckpt, dict) or not {"model", "optimizer", "iter_num"} <= set(ckpt):
        raise InputError(ckpt_path, "cannot resume: not a tsdiag run checkpoint (no model, optimizer, iter_num)")
    try:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
    except (RuntimeError, ValueError, KeyError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(ckpt_path, f"cannot resume: the checkpoint does not fit this run ({detail})") from None
    state.step = int(ckpt["iter_num"])
    best = ckpt.get("best_val_loss")
    state.best_val_loss = float(best) if best is not None else math.inf
    state.val_history = [v for v in run.get("val_history", []) if v["step"] <= state.step]
    metrics_path = out_dir / runfolder.METRICS_FILE
    if metrics_path.is_file():
        state.metrics = [r for r in runfolder.read_metrics(metrics_path) if r["step"] <= state.step]
    if state.planned_iters is not None and state.step >= state.planned_iters:
        raise InputError(out_dir, f"the run is already at step {state.step}; raise --max-iters to continue")
