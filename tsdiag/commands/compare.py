"""``tsdiag compare``: reference runs (or checkpoints) side by side, with the W findings.

No ``from __future__ import annotations`` here: Typer needs the real
``Annotated[…]`` objects to build the options.
"""

from pathlib import Path
from typing import Annotated, Optional

import typer

from tsdiag.commands._common import OutputOptions, emit, existing_paths, report_command


@report_command
def compare(
    runs: Annotated[list[Path], typer.Argument(help="Run folders of `tsdiag retrain` (or their run.json), or any checkpoint `tsdiag inspect` reads.")],
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Draw overlaid loss and article/other ratio curves into this PNG.")] = None,
    *,
    out: OutputOptions,
) -> None:
    """Compare reference runs (or checkpoints) side by side and judge the weighted objective.

    The table shows recipe, objective, steps, tokens seen, final and best val
    loss, article and other-token loss, their ratio and tokens/s.

    A weighted run is checked against the standard run most like it: a ratio
    far below 1 (TSD-W-RATIO-LOW) and an other-token loss above the standard
    run's (TSD-W-OTHER-LOSS) are the signature of the article-weighted loss
    doing harm; runs that differ in more than the objective are flagged
    (TSD-RUN-UNMATCHED).

    Examples:

      tsdiag compare runs/retrain/standard runs/retrain/weighted

      tsdiag compare runs/retrain/* --plot compare.png --markdown

      tsdiag compare runs/retrain/standard out/ckpt.pt --json
    """
    from tsdiag.checks import runs as run_check
    from tsdiag.compare import compare_report, comparison_plots, plot_comparison

    check = run_check.run(existing_paths(runs), thresholds=out.thresholds())
    summaries, findings = check.facts, check.findings
    if plot is not None:
        plot_comparison(summaries, plot)
    emit([compare_report(summaries, findings, plot)], out, plots=comparison_plots(summaries))
