"""``tsdiag retrain``: short reference runs with the standard and/or the article-weighted recipe.

No ``from __future__ import annotations`` here: Typer needs the real
``Annotated[…]`` objects to build the options.
"""

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from tsdiag.commands._common import parse_ids, OutputOptions, emit, report_command

_TRAINING = "Training"
_MODEL = "Model"
_OBJECTIVE = "Objective"
_DATA = "Data"


def parse_duration(text: str) -> float:
    """Seconds from "90", "90s", "15m" or "1.5h"."""
    text = text.strip().lower()
    scale = {"s": 1, "m": 60, "h": 3600}.get(text[-1:], None)
    try:
        return float(text[:-1]) * scale if scale else float(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a duration (e.g. 600, 90s, 15m, 1.5h)", param_hint="--time-budget") from None


@report_command
def retrain(
    standard: Annotated[bool, typer.Option("--standard", help="Train the standard recipe (llama2.c's).", rich_help_panel=_OBJECTIVE)] = False,
    weighted: Annotated[bool, typer.Option("--weighted", help="Train the article-weighted recipe.", rich_help_panel=_OBJECTIVE)] = False,
    both: Annotated[bool, typer.Option("--both", help="Same as --standard --weighted: the matched pair, then the comparison.", rich_help_panel=_OBJECTIVE)] = False,
    data: Annotated[Optional[list[Path]], typer.Option("--data", help="Token shards (.bin/.npy/.pt/parquet/…) or story text; repeatable, globs work.", rich_help_panel=_DATA)] = None,
    tokenizer: Annotated[Optional[Path], typer.Option("--tokenizer", help="Tokenizer (.model, tokenizer.json, meta.pkl): tokenizes text, gives vocab size and article ids.", rich_help_panel=_DATA)] = None,
    dtype: Annotated[str, typer.Option("--dtype", help="Token dtype of .bin shards: uint16, uint32, int32 or int64.", rich_help_panel=_DATA)] = "uint16",
    text_column: Annotated[str, typer.Option("--text-column", help="Column holding text in jsonl/parquet data.", rich_help_panel=_DATA)] = "text",
    from_: Annotated[Optional[Path], typer.Option("--from", help="Copy architecture and hyperparameters of a suspect run: a checkpoint or a yaml/json training config.", rich_help_panel=_TRAINING)] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Run folders go to OUT/standard and OUT/weighted.", rich_help_panel=_TRAINING)] = Path("runs/retrain"),
    max_iters: Annotated[Optional[int], typer.Option("--max-iters", min=1, help="Optimizer steps (default 2000).", rich_help_panel=_TRAINING)] = None,
    time_budget: Annotated[Optional[str], typer.Option("--time-budget", help="Training time per run (600, 90s, 15m, 1.5h); without --max-iters the steps are estimated from it.", rich_help_panel=_TRAINING)] = None,
    eval_every: Annotated[Optional[int], typer.Option("--eval-every", min=1, help="Steps between validation passes and checkpoints (default 200).", rich_help_panel=_TRAINING)] = None,
    eval_iters: Annotated[Optional[int], typer.Option("--eval-iters", min=1, help="Validation batches per pass (default 20).", rich_help_panel=_TRAINING)] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", min=1, help="Sequences per micro-batch (default 128).", rich_help_panel=_TRAINING)] = None,
    grad_accum: Annotated[Optional[int], typer.Option("--grad-accum", min=1, help="Micro-batches per optimizer step, over all processes (default 4).", rich_help_panel=_TRAINING)] = None,
    seq_len: Annotated[Optional[int], typer.Option("--seq-len", min=2, help="Tokens per sequence (default 256).", rich_help_panel=_TRAINING)] = None,
    lr: Annotated[Optional[float], typer.Option("--lr", help="Peak learning rate (default 5e-4; min_lr = lr/10).", rich_help_panel=_TRAINING)] = None,
    warmup_iters: Annotated[Optional[int], typer.Option("--warmup-iters", min=0, help="Warmup steps (default 5% of the steps, at most 1000).", rich_help_panel=_TRAINING)] = None,
    dropout: Annotated[Optional[float], typer.Option("--dropout", min=0.0, max=1.0, help="Dropout (default 0).", rich_help_panel=_TRAINING)] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Seed of weights and batches (default 1337).", rich_help_panel=_TRAINING)] = None,
    arch: Annotated[Optional[str], typer.Option("--arch", help="llama2c (default) or nanogpt.", rich_help_panel=_MODEL)] = None,
    dim: Annotated[Optional[int], typer.Option("--dim", min=1, help="Model width (default 288).", rich_help_panel=_MODEL)] = None,
    n_layers: Annotated[Optional[int], typer.Option("--n-layers", min=1, help="Layers (default 6).", rich_help_panel=_MODEL)] = None,
    n_heads: Annotated[Optional[int], typer.Option("--n-heads", min=1, help="Attention heads (default 6).", rich_help_panel=_MODEL)] = None,
    n_kv_heads: Annotated[Optional[int], typer.Option("--n-kv-heads", min=1, help="Key/value heads (default: n_heads).", rich_help_panel=_MODEL)] = None,
    vocab_size: Annotated[Optional[int], typer.Option("--vocab-size", min=2, help="Embedding rows (default: the tokenizer's size, else the data's largest id + 1).", rich_help_panel=_MODEL)] = None,
    article_weight: Annotated[Optional[float], typer.Option("--article-weight", min=0.0, help="Weight of article targets in the weighted recipe (default 5).", rich_help_panel=_OBJECTIVE)] = None,
    article_ids: Annotated[Optional[str], typer.Option("--article-ids", help="Comma-separated ids to weight instead of the tokenizer's article pieces (checked against the tokenizer).", rich_help_panel=_OBJECTIVE)] = None,
    normalize: Annotated[Optional[str], typer.Option("--normalize", help="weights: Σw·ce/Σw (the origin project's), tokens: Σw·ce/N.", rich_help_panel=_OBJECTIVE)] = None,
    device: Annotated[Optional[str], typer.Option("--device", help="auto (default), cuda, cuda:1 or cpu.", rich_help_panel=_TRAINING)] = None,
    no_compile: Annotated[bool, typer.Option("--no-compile", help="Skip torch.compile on CUDA (CPU never compiles).", rich_help_panel=_TRAINING)] = False,
    compile_mode: Annotated[Optional[str], typer.Option("--compile-mode", help="regional (default: one block compiled once, reused by every layer; fast start) or full (the whole model and loss).", rich_help_panel=_TRAINING)] = None,
    no_merge: Annotated[bool, typer.Option("--no-merge", help="One forward pass per micro-batch even when merging a step's micro-batches would fit in memory (the default merges; the gradient is the same).", rich_help_panel=_TRAINING)] = False,
    residual_dtype: Annotated[Optional[str], typer.Option("--residual-dtype", help="Residual stream under bf16 autocast: float32 (default, llama2.c's) or bfloat16 (less memory traffic).", rich_help_panel=_TRAINING)] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the runs in --out at their saved step (optimizer state too).", rich_help_panel=_TRAINING)] = False,
    *,
    out: OutputOptions,
) -> None:
    """Train short reference runs: the standard recipe, the article-weighted one, or the matched pair.

    The standard recipe is llama2.c's; the weighted one weights article targets
    (--article-weight, default 5).  --both (or --standard --weighted) trains the
    pair with the same seed, data and budget and ends with their comparison.

    Each run writes OUT/<recipe>/: model.safetensors, ckpt.pt (llama2.c layout),
    run.json, metrics.csv and loss.png.  On CUDA it trains in bf16 with
    torch.compile and fused AdamW; under `torchrun --nproc_per_node N` it runs
    data-parallel.  Ctrl-C saves and stops; --resume continues.

    Examples:

      tsdiag retrain --both --data stories.txt --tokenizer tokenizer.model --max-iters 2000

      tsdiag retrain --weighted --from out/ckpt.pt --data data/*.bin --tokenizer tok.model --time-budget 15m

      tsdiag retrain --standard --data train.bin --vocab-size 512 --dim 64 --n-layers 4 --n-heads 4 --device cpu

      torchrun --nproc_per_node 2 -m tsdiag retrain --both --data data/*.bin --tokenizer tok.model
    """
    from tsdiag.compare import compare_report, read_summary
    from tsdiag.errors import InputError
    from tsdiag.recipes import read_suspect
    from tsdiag.train.pair import run_recipes
    from tsdiag.train.progress import ProgressReporter
    from tsdiag.train.setup import prepare_data
    from tsdiag.train_rules import compare_findings

    recipes = [name for name, chosen in (("standard", standard or both), ("weighted", weighted or both)) if chosen]
    recipes = recipes or ["standard"]
    if "weighted" not in recipes and (article_weight is not None or normalize is not None):
        raise InputError("--article-weight" if article_weight is not None else "--normalize",
                         "applies to the weighted recipe only: add --weighted (or --both)")
    options = {
        "max_iters": max_iters, "time_budget": parse_duration(time_budget) if time_budget is not None else None,
        "eval_interval": eval_every, "eval_iters": eval_iters, "batch_size": batch_size,
        "gradient_accumulation_steps": grad_accum, "max_seq_len": seq_len, "learning_rate": lr,
        "warmup_iters": warmup_iters, "dropout": dropout, "seed": seed, "arch": arch, "dim": dim,
        "n_layers": n_layers, "n_heads": n_heads, "n_kv_heads": n_kv_heads, "vocab_size": vocab_size,
        "article_weight": article_weight, "article_ids": parse_ids(article_ids) if article_ids is not None else None,
        "normalize": normalize, "device": device, "compile": "none" if no_compile else compile_mode,
        "merge_micro_batches": False if no_merge else None, "residual_dtype": residual_dtype,
    }
    suspect = read_suspect(from_) if from_ is not None else None
    prepared = prepare_data(data or [], tokenizer_path=tokenizer, dtype=dtype, text_column=text_column)
    thresholds = out.thresholds()

    def reporter_for(recipe: str):
        return ProgressReporter(f"retrain {recipe}", interactive=out.interactive)

    outcomes = run_recipes(recipes, prepared, out_dir, suspect=suspect, options=options, resume=resume,
                           reporter_for=reporter_for)
    if int(os.environ.get("RANK", "0")) != 0:
        return  # under torchrun only rank 0 reports
    not_started = recipes[len(outcomes):]
    if not_started:
        from tsdiag.report import make_console

        make_console(stderr=True).print(
            f"tsdiag retrain: stopped before the {' and '.join(not_started)} run started; the same command with "
            "--resume continues the stopped run and then trains it", highlight=False)
    reports = [_run_report(o) for o in outcomes]
    summaries = [read_summary(o.result.out_dir) for o in outcomes]
    if len(summaries) > 1:
        reports.append(compare_report(summaries, compare_findings(summaries, thresholds)))
    emit(reports, out)


def _run_report(outcome):
    from tsdiag.findings import format_value
    from tsdiag.report import Report, Table, key_value_table
    from tsdiag.train_rules import run_findings

    run, config = outcome.result.run, outcome.config
    final, throughput = run["final"], run["throughput"]

    def show(value, unit=""):
        return "-" if value is None else f"{format_value(value)}{unit}"

    article = outcome.article
    ids_text = ", ".join(f"{i} {p!r}" for i, p in zip(article.ids[:12], article.pieces[:12]))
    if len(article.ids) > 12:
        ids_text += f", … ({len(article.ids)} ids)"
    pairs = [
        ("recipe", f"{run['recipe']} ({run['objective']} objective"
                   + (f", article weight {format_value(run['article_weight'])}, normalize {run['normalize']})"
                      if run["objective"] == "weighted" else ")")),
        ("status", run["status"]),
        ("steps", f"{run['step']:,} of {show(run['max_iters'])}"),
        ("tokens seen", f"{run['tokens_seen']:,} ({run['tokens_per_step']:,} per step)"),
        ("val loss", f"{show(run['val_loss'])} (best {show(run['best_val_loss'])})"),
        ("val article / other loss", f"{show(final['article_loss'])} / {show(final['other_loss'])}"),
        ("article/other ratio", show(final["ratio"])),
        ("article ids", f"{ids_text or 'none'} (from {article.source})"),
        ("article share of data", show(run["data"].get("article_token_share"))),
        ("throughput", f"{show(throughput['tokens_per_s'])} tokens/s, {show(throughput['ms_per_step'])} ms/step"
                       + (f", MFU {throughput['mfu']:.1%}" if throughput.get("mfu") else "")),
        ("device", f"{throughput['device']} ({throughput['precision']}, {throughput['world_size']} process(es))"),
        ("time to first step", show(run["timings"].get("first_step_s"), " s")),
        ("run folder", str(outcome.result.out_dir)),
    ]
    tables = [key_value_table(f"Reference run: {run['recipe']}", pairs)]
    copied = [(k, v) for k, v in config.provenance.items() if not v.startswith("command line")]
    if copied:
        used = {**run.get("schedule", {}), "max_iters": run["max_iters"]}  # values the run resolved
        tables.append(Table(title="Settings not given on the command line (--from, estimates, a resumed run)",
                            columns=["setting", "value", "source"],
                            rows=[[k, show(used[k] if getattr(config, k, None) is None and k in used
                                           else getattr(config, k, None)), v] for k, v in copied]))
    data = {
        "recipe": run["recipe"], "objective": run["objective"], "article_weight": run["article_weight"],
        "normalize": run["normalize"], "out_dir": str(outcome.result.out_dir), "status": run["status"],
        "step": run["step"], "max_iters": run["max_iters"], "tokens_seen": run["tokens_seen"],
        "val_loss": run["val_loss"], "best_val_loss": run["best_val_loss"], "article_loss": final["article_loss"],
        "other_loss": final["other_loss"], "ratio": final["ratio"], "tokens_per_s": throughput["tokens_per_s"],
        "ms_per_step": throughput["ms_per_step"], "mfu": throughput["mfu"], "article_ids": article.ids,
        "article_pieces": article.pieces, "article_ids_source": article.source,
        "copied_from_suspect": {k: v for k, v in copied}, "timings": run["timings"],
    }
    findings = outcome.findings + run_findings(run, subject=str(outcome.result.out_dir))
    return Report(command="retrain", title=f"tsdiag retrain: {run['recipe']}", tables=tables,
                  findings=findings, data=data)
