"""``tsdiag diagnose``: every check the inputs allow, answered as a ranked decision matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tsdiag.commands._common import OutputOptions, emit, existing_paths, parse_ids, report_command


def existing_data(paths: list[Path]) -> list[Path]:
    """A --data path without glob characters must exist (a typo is exit 2, not a 'could not read' row)."""
    existing_paths([p for p in paths if not any(ch in str(p) for ch in "*?[")])
    return list(paths)


@report_command
def diagnose(
    checkpoint: Annotated[Optional[list[Path]], typer.Option("--checkpoint", "-c", help="Checkpoint under test (file or HF folder). Repeatable.")] = None,
    checkpoint_dir: Annotated[Optional[Path], typer.Option("--checkpoint-dir", help="Folder of checkpoints; its newest one is inspected when no --checkpoint is given.")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="Training config (yaml/json) with hyperparameters the checkpoint lacks.")] = None,
    data: Annotated[Optional[list[Path]], typer.Option("--data", "-d", help="Training shards or text (as for audit-data). Repeatable.")] = None,
    tokenizer: Annotated[Optional[Path], typer.Option("--tokenizer", "-t", help="Tokenizer of the data: sentencepiece .model, tokenizer.json or meta.pkl.")] = None,
    log: Annotated[Optional[list[Path]], typer.Option("--log", "-l", help="Training log (llama2.c, nanoGPT, origin format, trainer_state.json, CSV/JSONL). Repeatable.")] = None,
    run: Annotated[Optional[list[Path]], typer.Option("--run", "-r", help="tsdiag run folder from `tsdiag retrain`. Repeatable; a weighted and a standard run are compared.")] = None,
    seq_len: Annotated[int, typer.Option("--seq-len", min=1, help="Packed sequence length of the data.")] = 512,
    layout: Annotated[str, typer.Option("--layout", help="How the trainer packs windows: llama2c, nanogpt or contiguous.")] = "llama2c",
    dtype: Annotated[str, typer.Option("--dtype", help="Token dtype of .bin shards: uint16, uint32, int32 or int64.")] = "uint16",
    vocab_size: Annotated[Optional[int], typer.Option("--vocab-size", min=2, help="Vocabulary size, when no checkpoint or tokenizer says it.")] = None,
    article_ids: Annotated[Optional[str], typer.Option("--article-ids", help="Comma-separated ids a weighted loss up-weighted (default: the ones a checkpoint's config records); checked against --tokenizer.")] = None,
    evaluate: Annotated[bool, typer.Option("--eval/--no-eval", help="Run the checkpoint on --data (tsdiag eval): its loss against the log's end, its article slots, bug probes.")] = True,
    unsafe_pickle: Annotated[bool, typer.Option("--unsafe-pickle", help="DANGEROUS: unpickle arbitrary objects in checkpoints you trust.")] = False,
    out: OutputOptions = None,
) -> None:
    """Run every applicable check and rank the hypotheses: H1 data, H2 stopped early,
    H3 hyperparameters, H4 vocabulary, H5 wrong checkpoint, W weighted loss.

    Examples:

      tsdiag diagnose --checkpoint out/ckpt.pt --log train.log

      tsdiag diagnose --checkpoint-dir out/ --data data/train.bin --tokenizer tok512.model

      tsdiag diagnose --run runs/standard --run runs/weighted --markdown >> $GITHUB_STEP_SUMMARY

      tsdiag diagnose --run runs/lr-too-high/standard --html diagnosis.html --verbose
    """
    import sys

    from tsdiag.diagnose import DiagnoseInputs, diagnose as run_diagnosis, diagnosis_plots, diagnosis_report
    from tsdiag.errors import InputError
    from tsdiag.report import make_console

    inputs = DiagnoseInputs(
        checkpoints=existing_paths(checkpoint or []),
        checkpoint_dir=existing_paths([checkpoint_dir])[0] if checkpoint_dir else None,
        config=existing_paths([config])[0] if config else None,
        data=existing_data(data or []),
        tokenizer=existing_paths([tokenizer])[0] if tokenizer else None,
        logs=existing_paths(log or []),
        runs=existing_paths(run or []),
        seq_len=seq_len, layout=layout, dtype=dtype, vocab_size=vocab_size,
        article_ids=parse_ids(article_ids) if article_ids is not None else None,
        allow_unsafe_pickle=unsafe_pickle, evaluate=evaluate,
    )
    from tsdiag.data.audit import LAYOUTS
    from tsdiag.data.shards import DTYPES

    if layout not in LAYOUTS:  # checked even without --data: a typo must not pass silently
        raise InputError("--layout", f"{layout!r} is not a layout (use {', '.join(LAYOUTS)})")
    if dtype not in DTYPES:
        raise InputError("--dtype", f"{dtype!r} is not supported (use {', '.join(DTYPES)})")
    if not inputs.describe():
        raise InputError("diagnose", "nothing to diagnose: give --checkpoint, --checkpoint-dir, --data, --log or --run")
    if unsafe_pickle:
        make_console(stderr=True).print("WARNING: --unsafe-pickle unpickles arbitrary objects; a malicious "
                                        "checkpoint can run code on this machine.", style="bold red")
    status = make_console(stderr=True)
    progress = (lambda msg: status.print(f"… {msg}", style="dim")) if out.interactive and sys.stderr.isatty() else None
    diagnosis = run_diagnosis(inputs, out.thresholds(), progress=progress, select=out.select, ignore=out.ignore)
    # an unreadable input is a row of the report and exit code 2 (bad input), not the end of the diagnosis
    emit([diagnosis_report(diagnosis)], out, unreadable=[c.error for c in diagnosis.unreadable],
         plots=diagnosis_plots(diagnosis))
