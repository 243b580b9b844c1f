"""Rendering of facts and findings: rich console, JSON, Markdown.

Reports never compute.  A command turns its facts into a :class:`Report`
(display tables already formatted as strings, plus the machine-readable
``data`` for JSON) and one of the renderers below writes it.

JSON output is versioned: every object carries ``"schema": 1`` and the
command name; one subject gives one object, several give a list of objects.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Sequence, TextIO

from tsdiag import __version__
from tsdiag.fileio import json_safe
from tsdiag.findings import Finding, Severity, sort_findings

SCHEMA_VERSION = 1
CI_WIDTH = 100  # columns used when stdout is not a terminal (CI logs, files)

_SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


@dataclass
class Table:
    """A display table; cells are already formatted text."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    note: str = ""
    highlight: str | None = None  # regex whose matches are emphasised (bold in rich and Markdown)


@dataclass
class Report:
    """What one command says about one subject (a file, a run, a data set).

    ``data`` is the JSON payload without ``schema``/``command``/``findings``;
    ``None`` marks a display-only report (e.g. a side-by-side summary) that the
    JSON output leaves out.
    """

    command: str
    title: str
    tables: list[Table] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    data: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


def key_value_table(title: str, pairs: Sequence[tuple[str, str]], note: str = "") -> Table:
    """A two-column table for facts of the form "name: value (source)"."""
    return Table(title=title, columns=["", ""], rows=[[k, v] for k, v in pairs], note=note)


# --------------------------------------------------------------------- JSON

def report_to_json_object(report: Report) -> dict[str, Any]:
    obj: dict[str, Any] = {"schema": SCHEMA_VERSION, "tsdiag_version": __version__, "command": report.command}
    obj.update(report.data or {})
    obj["findings"] = [f.to_dict() for f in sort_findings(report.findings)]
    return json_safe(obj)


def render_json(reports: Sequence[Report]) -> str:
    objects = [report_to_json_object(r) for r in reports if r.data is not None]
    payload: Any = objects[0] if len(objects) == 1 else objects
    return json.dumps(payload, indent=2, allow_nan=False) + "\n"


# ----------------------------------------------------------------- Markdown

def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", "<br>")


def _md_table(table: Table) -> list[str]:
    lines = [f"### {table.title}", ""] if table.title else []
    columns = table.columns if any(table.columns) else ["", ""]
    lines.append("| " + " | ".join(_md_cell(c) or " " for c in columns) + " |")
    lines.append("|" + "---|" * len(columns))
    pattern = re.compile(table.highlight) if table.highlight else None
    for row in table.rows:
        cells = [_md_cell(c) for c in row]
        if pattern is not None:
            cells = [pattern.sub(lambda m: f"**{m.group(0)}**", c) for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    if table.note:
        lines += ["", f"_{table.note}_"]
    return lines + [""]


_MD_BADGE = {Severity.ERROR: "🔴 error", Severity.WARNING: "🟡 warning", Severity.INFO: "🔵 info"}


def _subject_prefix(findings: Sequence[Finding]):
    """``f -> "subject: "`` when the findings concern several subjects, so that equal findings about two
    runs stay apart; ``""`` for one subject (the report's title names it)."""
    subjects = {f.subject for f in findings if f.subject}
    if len(subjects) < 2:
        return lambda f: ""
    return lambda f: f"{f.subject}: " if f.subject else ""


def _md_findings(findings: Sequence[Finding]) -> list[str]:
    if not findings:
        return ["**Findings:** none.", ""]
    prefix = _subject_prefix(findings)
    lines = ["### Findings", "", "| severity | code | finding | evidence | fix |", "|---|---|---|---|---|"]
    for f in sort_findings(findings):
        evidence = "<br>".join(_md_cell(str(e)) for e in f.evidence)
        lines.append(f"| {_MD_BADGE[f.severity]} | `{f.code}` | {_md_cell(prefix(f) + f.message)} | {evidence} | "
                     f"{_md_cell(f.fix)} |")
    return lines + [""]


def render_markdown(reports: Sequence[Report]) -> str:
    lines: list[str] = []
    for report in reports:
        lines += [f"## {report.title}", ""]
        for table in report.tables:
            lines += _md_table(table)
        for note in report.notes:
            lines += [f"> {note}", ""]
        if report.data is not None:
            lines += _md_findings(report.findings)
    lines.append(f"<sub>tsdiag {__version__}</sub>")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------- rich

def make_console(file: TextIO | None = None, *, stderr: bool = False, plain: bool = False):
    """A console that stays readable in CI logs.

    On a terminal rich decides width and colour itself.  Elsewhere (pipes,
    CI, ``--output``) the width is fixed at ``COLUMNS`` or 100, there are no
    cursor tricks, and colour appears only when ``FORCE_COLOR`` asks for it
    (rich honours ``NO_COLOR``/``FORCE_COLOR`` itself).
    """
    from rich.console import Console

    stream = file if file is not None else (sys.stderr if stderr else sys.stdout)
    is_tty = hasattr(stream, "isatty") and stream.isatty()
    kwargs: dict[str, Any] = {"file": stream, "highlight": False, "soft_wrap": False}
    if plain:
        kwargs.update(no_color=True, width=CI_WIDTH, force_terminal=False)
    elif not is_tty:
        kwargs["width"] = int(os.environ.get("COLUMNS", CI_WIDTH))
    return Console(**kwargs)


def _rich_table(table: Table):
    from rich import box
    from rich.markup import escape
    from rich.table import Table as RichTable
    from rich.text import Text

    show_header = any(table.columns)
    rt = RichTable(
        title=escape(table.title) if table.title else None,
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD if show_header else box.SIMPLE,
        show_header=show_header,
        caption=escape(table.note) if table.note else None,
        caption_justify="left",
        pad_edge=False,
    )
    for i, column in enumerate(table.columns):
        rt.add_column(escape(column), overflow="fold", style="bold" if (i == 0 and not show_header) else None)
    for row in table.rows:
        cells = [Text(str(cell)) for cell in row]  # Text, not markup: "[model]" in a key stays text
        if table.highlight:
            for cell in cells:
                cell.highlight_regex(table.highlight, style="bold magenta")
        rt.add_row(*cells)
    return rt


def _rich_findings(findings: Sequence[Finding]):
    """One grid row per finding: severity on the left, message/evidence/fix
    wrapped inside the right column so continuation lines keep their indent."""
    from rich.table import Table as RichTable
    from rich.text import Text

    if not findings:
        return Text("No findings.", style="green")
    grid = RichTable.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    prefix = _subject_prefix(findings)
    for f in sort_findings(findings):
        body = Text()
        body.append(f.code, style="bold")
        body.append(f"  {prefix(f)}{f.message}")
        for e in f.evidence:
            body.append(f"\nevidence: {e}", style="dim")
        body.append(f"\nfix: {f.fix}")
        grid.add_row(Text(f.severity.label, style=_SEVERITY_STYLE[f.severity]), body)
    return grid


def render_rich(reports: Sequence[Report], console) -> None:
    from rich.rule import Rule as RichRule

    for report in reports:
        console.print(RichRule(report.title, align="left", style="bold blue"))
        for table in report.tables:
            console.print(_rich_table(table))
        for note in report.notes:
            console.print(note, markup=False)
        if report.data is not None:
            console.print(_rich_findings(report.findings))
