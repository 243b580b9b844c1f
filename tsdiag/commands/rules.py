"""``tsdiag rules``: what each finding code means, like ``ruff rule``."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from tsdiag.commands._common import OutputFormat
from tsdiag.errors import InputError


def rules(
    code: Annotated[Optional[str], typer.Argument(help="A finding code (or prefix such as TSD-H4) to explain.")] = None,
    format_: Annotated[OutputFormat, typer.Option("--format", "-f", help="rich, json or markdown.")] = OutputFormat.rich,
    json_: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
) -> None:
    """List every finding code with its severity and summary, or explain one.

    Examples:

      tsdiag rules

      tsdiag rules TSD-H4-VOCAB
    """
    import json

    from tsdiag.findings import HYPOTHESES, all_rules
    from tsdiag.report import Table, make_console, render_markdown, render_rich, Report

    known = all_rules()
    chosen = [r for c, r in known.items() if code is None or c == code or c.startswith(code.rstrip("-") + "-")]
    if code is not None and not chosen:
        raise InputError(code, f"no such finding code (see `tsdiag rules` for the {len(known)} codes)")
    if json_ or format_ is OutputFormat.json:
        payload = [
            {"code": r.code, "severity": r.severity.label, "hypothesis": r.hypothesis,
             "summary": r.summary, "why": r.why, "fix": r.fix}
            for r in chosen
        ]
        typer.echo(json.dumps({"schema": 1, "command": "rules", "rules": payload}, indent=2))
        return
    if code is not None and len(chosen) == 1:
        r = chosen[0]
        hypothesis = f"{r.hypothesis} ({HYPOTHESES[r.hypothesis]})" if r.hypothesis else "-"
        rows = [["severity", r.severity.label], ["hypothesis", hypothesis], ["summary", r.summary],
                ["why it matters", r.why], ["how to fix", r.fix]]
        table = Table(title=r.code, columns=["", ""], rows=rows)
    else:
        table = Table(
            title="Finding codes",
            columns=["code", "severity", "hypothesis", "summary"],
            rows=[[r.code, r.severity.label, r.hypothesis or "", r.summary] for r in chosen],
        )
    report = Report(command="rules", title="tsdiag rules", tables=[table])
    if format_ is OutputFormat.markdown:
        typer.echo(render_markdown([report]), nl=False)
    else:
        render_rich([report], make_console())
