"""``tsdiag logs``: read training logs into loss curves and judge them.

No ``from __future__ import annotations`` here: ``@report_command`` hands
Typer this function's annotations as they are, and Typer needs the
``Annotated[…, typer.Option(…)]`` objects, not strings, to see the help texts.
"""

from pathlib import Path
from typing import Annotated, Optional

import typer

from tsdiag.commands._common import OutputOptions, emit, existing_paths, report_command


@report_command
def logs(
    files: Annotated[list[Path], typer.Argument(help="Training logs: text logs, trainer_state.json (or its folder), CSV, JSONL.")],
    format_hint: Annotated[Optional[str], typer.Option(
        "--format-hint", help="Skip detection: llama2c, nanogpt, step-pipe, hf-trainer, csv or jsonl.")] = None,
    vocab_size: Annotated[Optional[int], typer.Option(
        "--vocab-size", min=2, help="Vocabulary size, to compare the loss with ln(vocab) (overrides one the log states).")] = None,
    plot: Annotated[Optional[Path], typer.Option(
        "--plot", help="Also draw the loss curves (all files in one figure) into this PNG.")] = None,
    tokenizer: Annotated[Optional[Path], typer.Option(
        "--tokenizer", "-t", help="Tokenizer of the run: losses are also judged in bits per byte, --article-ids are decoded.")] = None,
    article_ids: Annotated[Optional[str], typer.Option(
        "--article-ids", help="Comma-separated ids the run's weighted loss up-weighted; checked against --tokenizer.")] = None,
    planned_steps: Annotated[Optional[int], typer.Option(
        "--planned-steps", min=1, help="Steps the run planned (max_iters), when the log does not say.")] = None,
    *,
    out: OutputOptions,
) -> None:
    """Parse training logs into loss curves: first/last/min loss, whether the loss was still
    falling at the end, spikes, divergence, NaN, the lr schedule and the article/other loss ratio.

    Formats (detected from the first lines; --format-hint forces one):

      llama2c     100 | loss 2.1000 | lr 5.000000e-04 | 80.00ms | mfu 40.00%

                  step 2000: train loss 1.2000, val loss 1.3000

      nanogpt     iter 100: loss 2.1234, time 80.00ms, mfu 40.00%

      step-pipe   Step 10 | Loss: 8.1552 (↓ Improving)

                  Article Loss: 4.55 | Other Loss: 10.10 | Ratio: 0.45x

                  (any prefix such as "2025-10-26 02:12:34 - INFO - main - ")

      hf-trainer  trainer_state.json: log_history with loss, eval_loss, learning_rate, step

      csv, jsonl  a step column (step/iter/global_step) and loss/val_loss columns;

                  lr, article_loss, other_loss, ratio are read too (tsdiag's metrics.csv)

    Examples:

      tsdiag logs out/train.log

      tsdiag logs runs/standard/metrics.csv runs/weighted/metrics.csv --plot curves.png

      tsdiag logs checkpoint-5000/trainer_state.json --vocab-size 32000 --json

      tsdiag logs train.log --tokenizer tok512.model --article-ids 262,263,278
    """
    from tsdiag.checks import logs as log_check
    from tsdiag.commands._common import load_optional_tokenizer, parse_ids
    from tsdiag.logs import parse_log
    from tsdiag.logs.facts import Recorded
    from tsdiag.logs.present import curve_plot, curve_report

    thresholds = out.thresholds()
    ids = (parse_ids(article_ids), "--article-ids") if article_ids is not None else None
    tok = load_optional_tokenizer(tokenizer)
    planned = Recorded(planned_steps, "--planned-steps") if planned_steps is not None else None
    curves, facts, reports = [], [], []
    for path in existing_paths(files):
        curve = parse_log(path, format_hint)
        check = log_check.run(path, thresholds=thresholds, vocab_size=vocab_size, curve=curve, tokenizer=tok,
                              planned_steps=planned, article_ids=ids)
        curves.append(curve)
        facts.append(check.facts)
        reports.append(curve_report(check.facts, check.findings))
    figure = curve_plot(curves, facts)
    if plot is not None:
        figure.draw(plot)
        reports[-1].notes.append(f"plot written to {plot}")
    emit(reports, out, plots=[figure])
