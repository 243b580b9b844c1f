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
    """
    from tsdiag.logs import analyze_curve, parse_log
    from tsdiag.logs.present import curve_report

    thresholds = out.thresholds()
    curves, reports = [], []
    for path in existing_paths(files):
        curve = parse_log(path, format_hint)
        facts, findings = analyze_curve(curve, thresholds, vocab_size)
        if plot is not None:
            curves.append(curve)
        reports.append(curve_report(facts, findings))
    if plot is not None:
        from tsdiag.logs.plots import plot_curves

        plot_curves(curves, plot)
        reports[-1].notes.append(f"plot written to {plot}")
    emit(reports, out)
