"""``tsdiag demo``: train, break and diagnose tiny runs on a bundled story corpus (no downloads)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tsdiag.commands._common import OutputFormat, OutputOptions, emit


def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the corpus, tokenizer, shards and runs.")] = Path("tsdiag-demo"),
    steps: Annotated[int, typer.Option("--steps", min=20, help="Optimizer steps per training run (below the default the healthy runs stay undertrained, and are rightly diagnosed H2).")] = 300,
    stories: Annotated[int, typer.Option("--stories", min=100, help="Stories in the generated corpus.")] = 2000,
    device: Annotated[str, typer.Option("--device", help="cpu, cuda or auto.")] = "cpu",
    json_: Annotated[bool, typer.Option("--json", help="Print the diagnoses and the comparison as JSON.")] = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print them as Markdown.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Each scenario's full decision matrix and findings, not only its ranked causes.")] = False,
    html: Annotated[Optional[Path], typer.Option("--html", help="Also write every scenario, with its plots, to one self-contained HTML page.")] = None,
) -> None:
    """Generate a story corpus, train a tokenizer and three tiny runs (standard, article-weighted,
    learning rate too high), damage a copy of the data, then diagnose each scenario.

    Exits 0 when every scenario's diagnosis names the expected cause first, 1 otherwise.

    Examples:

      tsdiag demo

      tsdiag demo --out /tmp/demo --markdown > demo.md

      tsdiag demo --html demo.html
    """
    import sys

    from tsdiag.compare import compare_report
    from tsdiag.demo.run import run_demo
    from tsdiag.diagnose import diagnosis_plots, diagnosis_report
    from tsdiag.fileio import check_output_target
    from tsdiag.report import Report, Table, make_console

    if html is not None:
        check_output_target(html)  # before minutes of training
    fmt = OutputFormat.json if json_ else OutputFormat.markdown if markdown else OutputFormat.rich
    status = make_console(stderr=True)
    result = run_demo(out_dir, steps=steps, stories=stories, device=device,
                      say=lambda msg: status.print(f"tsdiag demo: {msg}", style="dim", highlight=False))
    reports, plots = [], []
    for scenario in result.scenarios:
        plots += diagnosis_plots(scenario.diagnosis)
        report = diagnosis_report(scenario.diagnosis)
        report.title = f"Scenario: {scenario.name} ({scenario.story})"
        report.notes.append(f"reproduce: {scenario.command}")
        reports.append(report)
    reports.append(compare_report(result.summaries, result.compare_findings))
    summary = Table("What the demo shows", ["scenario", "expected first", "ranked first", "verdict", "ok"], [
        [s.name, s.expected or "no confirmed cause", f"{s.top.code} {s.top.title}", s.top.verdict,
         "yes" if s.as_expected else "NO"] for s in result.scenarios])
    reports.append(Report("demo", "tsdiag demo: summary", [summary],
                          notes=[f"everything is in {result.out}/ (data/, runs/)"]))
    emit(reports, OutputOptions(format=fmt, fail_on="never", verbose=verbose, html=html), plots=plots)
    if not all(s.as_expected for s in result.scenarios):
        print("tsdiag demo: a scenario was not diagnosed as expected (see the summary)", file=sys.stderr)
        raise typer.Exit(1)
