"""``tsdiag audit-data``: article frequency in packed sequences, vocabulary coverage, shard integrity."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tsdiag.commands._common import OutputOptions, emit, report_command


@report_command
def audit_data(
    shards: Annotated[list[str], typer.Argument(help="Token shards: files, folders or glob patterns (.bin, .npy, .pt, .parquet, .arrow, .jsonl, .json, .txt, dataset folders).")],
    tokenizer: Annotated[Optional[Path], typer.Option("--tokenizer", "-t", help="sentencepiece .model, tokenizer.json or meta.pkl; needed for article statistics and for text inputs.")] = None,
    seq_len: Annotated[int, typer.Option("--seq-len", help="Tokens per training sequence (llama2.c max_seq_len, nanoGPT block_size).")] = 512,
    layout: Annotated[str, typer.Option("--layout", help="How the trainer packs windows: llama2c (per shard, seq_len+1 reads), nanogpt (per file), contiguous (all files back to back).")] = "llama2c",
    sample: Annotated[Optional[int], typer.Option("--sample", help="Audit N random windows instead of all.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for --sample.")] = 0,
    dtype: Annotated[str, typer.Option("--dtype", help="Token type of .bin files: uint16 (llama2.c, nanoGPT), uint32, int32 or int64.")] = "uint16",
    vocab_size: Annotated[Optional[int], typer.Option("--vocab-size", help="Model vocabulary size; ids at or past it are out of range.")] = None,
    reference_text: Annotated[Optional[Path], typer.Option("--reference-text", help="Raw text to compare article rates with (tokenized with --tokenizer). Default: the built-in TinyStories word-level rate.")] = None,
    article_words: Annotated[str, typer.Option("--article-words", help="Comma-separated words counted as articles.")] = "a,an,the",
    text_column: Annotated[str, typer.Option("--text-column", help="Column/key holding the text in parquet/arrow/jsonl/json inputs.")] = "text",
    val: Annotated[Optional[list[Path]], typer.Option("--val", help="Validation shards to compare with the training ones story by story (default: llama2.c's first sorted shard, nanoGPT's val.bin beside train.bin).")] = None,
    workers: Annotated[int, typer.Option("--workers", "-j", help="Processes reading shards in parallel.")] = 1,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Write the article histogram and coverage curve to this .png/.svg/.pdf.")] = None,
    *,
    out: OutputOptions,
) -> None:
    """Audit token shards as the trainer packs them: articles per sequence, coverage, integrity.

    Articles are counted as words ("a", "an", "the" bounded by non-letters), however the
    tokenizer spells them; the naive count (every id whose piece is an article) is shown too.

    Examples:

      tsdiag audit-data data/TinyStories_all_data/data00.bin -t tokenizer.model

      tsdiag audit-data 'data/tok512/*.bin' -t data/tok512.model --seq-len 256 --json

      tsdiag audit-data train.bin --layout nanogpt --sample 2000 --vocab-size 50304

      tsdiag audit-data stories.jsonl -t tokenizer.json --reference-text raw.txt --plot audit.png

      tsdiag audit-data data/train.bin --val data/val.bin --layout nanogpt -t tok.model
    """
    from tsdiag.checks import data as data_check
    from tsdiag.data.present import audit_data_report, audit_plot
    from tsdiag.errors import InputError
    from tsdiag.tokenizer import load_tokenizer

    if workers < 1:
        raise InputError("--workers", f"must be at least 1, got {workers}")
    words = [w.strip() for w in article_words.split(",") if w.strip()]
    if not words:
        raise InputError("--article-words", "needs at least one word")
    if plot is not None and not plot.parent.is_dir() and str(plot.parent):
        raise InputError(plot, f"output folder {plot.parent} does not exist")
    thresholds = out.thresholds()
    tok = load_tokenizer(tokenizer) if tokenizer is not None else None

    with _progress(out.interactive) as progress:
        check = data_check.run(
            shards, tokenizer=tok, seq_len=seq_len, layout=layout, sample=sample, seed=seed, dtype=dtype,
            vocab_size=vocab_size, reference_text=reference_text, article_words=words, text_column=text_column,
            workers=workers, thresholds=thresholds, progress=progress.tokens, on_source=progress.source, val=val,
        )
    result = check.facts
    report = audit_data_report(result, check.findings)
    figure = audit_plot(result)
    if plot is not None:
        figure.draw(plot)
        report.notes.append(f"Plot written to {plot}.")
    emit([report], out, plots=[figure])


class _progress:
    """A rich progress bar over tokens (and a line per input read), only for a person at a terminal."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._bar = None
        self._task = None

    def __enter__(self):
        if self.enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                                 TimeRemainingColumn(), transient=True)
            self._bar.__enter__()
            self._task = self._bar.add_task("reading inputs", total=None)
        return self

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def source(self, source) -> None:
        if self._bar is not None:
            self._bar.update(self._task, description=f"read {Path(source.path).name}")

    def tokens(self, done: int, total: int) -> None:
        if self._bar is not None:
            self._bar.update(self._task, description="auditing tokens", completed=done, total=total)
