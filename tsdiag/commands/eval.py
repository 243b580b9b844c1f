"""``tsdiag eval``: the checkpoint run on the data, teacher-forced, with its trainer's windows."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, Optional

import typer

from tsdiag.commands._common import OutputOptions, emit, existing_paths, report_command


@report_command
def eval_command(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint (llama2.c, nanoGPT, HF Llama / GPT-2 / GPT-Neo, or a tsdiag run folder).")],
    data: Annotated[list[Path], typer.Option("--data", "-d", help="Shards or text to evaluate on (as for audit-data). Repeatable.")],
    tokenizer: Annotated[Optional[Path], typer.Option("--tokenizer", "-t", help="The model's tokenizer: needed for text data, article figures and bits per byte.")] = None,
    layout: Annotated[str, typer.Option("--layout", help="How the trainer packed windows: llama2c, nanogpt or contiguous.")] = "llama2c",
    seq_len: Annotated[Optional[int], typer.Option("--seq-len", min=2, help="Tokens per window (default: the model's context).")] = None,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=1, help="Targets to score at most, spread evenly over the data.")] = 262_144,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", min=1, help="Windows per forward pass (default: about 16K tokens on CPU, 128K on CUDA).")] = None,
    dtype: Annotated[str, typer.Option("--dtype", help="Token dtype of .bin shards: uint16, uint32, int32 or int64.")] = "uint16",
    text_column: Annotated[str, typer.Option("--text-column", help="Column holding the text in jsonl/parquet/arrow data.")] = "text",
    device: Annotated[Optional[str], typer.Option("--device", help="cpu or cuda (default: cuda when available).")] = None,
    n_heads: Annotated[Optional[int], typer.Option("--n-heads", min=1, help="Attention heads, if the checkpoint does not record them.")] = None,
    log: Annotated[Optional[Path], typer.Option("--log", "-l", help="The run's training log: its last val loss is compared with the evaluated one.")] = None,
    against: Annotated[Optional[Path], typer.Option("--against", help="A matched standard run's checkpoint, evaluated on the same windows.")] = None,
    reference: Annotated[bool, typer.Option("--reference/--no-reference", help="Also score tsdiag's bundled stories (article slots on normal text).")] = True,
    probes: Annotated[bool, typer.Option("--probes/--no-probes", help="Run the bug probes (label shift, causal mask, dropout, ties, final norm).")] = True,
    article_words: Annotated[str, typer.Option("--article-words", help="Comma-separated words counted as articles.")] = "a,an,the",
    out: OutputOptions = None,
) -> None:
    """Run the checkpoint on your data, teacher-forced: loss with an interval against what the run
    recorded, how it treats articles where the text has them, and probes for trainer bugs
    (labels shifted twice, a leaking causal mask, dropout at eval, an untied head).

    Examples:

      tsdiag eval out/ckpt.pt --data data/tok512/data00.bin --tokenizer data/tok512.model

      tsdiag eval out/ckpt.pt -d val.bin --layout nanogpt --log train.log --json

      tsdiag eval runs/weighted -d stories.txt -t tok512.model --against runs/standard
    """
    from tsdiag.checks import eval_check
    from tsdiag.commands.diagnose import existing_data
    from tsdiag.evaluation.present import eval_report

    existing_paths([checkpoint] + [p for p in (tokenizer, log, against) if p is not None])
    words = tuple(w.strip() for w in article_words.split(",") if w.strip())
    if not words:
        from tsdiag.errors import InputError

        raise InputError("--article-words", "needs at least one word")
    with _progress(out.interactive) as progress:
        check = eval_check.run(checkpoint, existing_data(data), thresholds=out.thresholds(), tokenizer=tokenizer,
                               layout=layout, seq_len=seq_len, max_tokens=max_tokens, batch_size=batch_size,
                               dtype=dtype, text_column=text_column, device=device, n_heads=n_heads, log=log,
                               against=against, reference=reference, probes=probes, article_words=words,
                               progress=progress)
    from tsdiag.evaluation.plots import article_slot_plot

    plot = article_slot_plot(check.facts)
    emit([eval_report(check.facts, check.findings)], out, plots=[plot] if plot is not None else [])


@contextlib.contextmanager
def _progress(enabled: bool):
    """A progress bar over windows for a person at a terminal; nothing in pipes and CI logs."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("scoring windows"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  transient=True) as bar:
        task = bar.add_task("eval", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)
