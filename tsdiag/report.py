"""Rendering of facts and findings: rich console, JSON, Markdown.

Reports never compute.  A command turns its facts into a :class:`Report`
(display tables already formatted as strings, plus the machine-readable
``data`` for JSON) and one of the renderers below writes it.

JSON output is versioned: every object carries ``"schema": 1`` and the
command name; one subject gives one object, several give a list of objects.
"""

from __future__ import annotations

import html
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence, TextIO

from tsdiag import __version__
from tsdiag.fileio import json_safe
from tsdiag.findings import Finding, Severity, sort_findings
from tsdiag.textfit import MIN_WORD, column_widths, fit_line, fit_words

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
    # columns the console shows only with --verbose (a file's modified time): Markdown, JSON and HTML keep them
    verbose_columns: tuple[str, ...] = ()


@dataclass
class Report:
    """What one command says about one subject (a file, a run, a data set).

    ``data`` is the JSON payload without ``schema``/``command``/``findings``;
    ``None`` marks a display-only report (e.g. a side-by-side summary) that the
    JSON output leaves out.

    ``summary``: the one screen a reader needs first (diagnose's ranked causes).  A report with a summary
    shows only it (and its notes) on the console unless ``--verbose``; Markdown puts ``tables`` and the
    findings in a ``<details>`` block below it; HTML shows everything.
    """

    command: str
    title: str
    tables: list[Table] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    data: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    summary: list[Table] = field(default_factory=list)


@dataclass
class Plot:
    """A figure a report can embed (``--html``): ``draw(path)`` writes it there as a PNG.

    Drawn only when a report asks for it, so a command pays nothing for plots nobody looks at.
    """

    title: str
    draw: Callable[[Path], Any]


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


def _md_finding_list(findings: Sequence[Finding]) -> list[str]:
    """One line per finding: what a reader of an issue scans before opening the detail."""
    if not findings:
        return ["**Findings:** none.", ""]
    prefix = _subject_prefix(findings)
    return [f"**Findings:** {count_findings(findings)}", ""] + [
        f"- {_MD_BADGE[f.severity]} `{f.code}` {_md_cell(prefix(f) + f.message)}" for f in sort_findings(findings)
    ] + [""]


def count_findings(findings: Sequence[Finding]) -> str:
    """"2 error, 1 warning" (only the severities present)."""
    counts = [(s, sum(f.severity is s for f in findings)) for s in (Severity.ERROR, Severity.WARNING, Severity.INFO)]
    return ", ".join(f"{n} {s.label}" for s, n in counts if n) or "none"


def detail_label(report: Report) -> str:
    """What a report's detail holds, for the ``<details>`` summary line and the console's --verbose hint."""
    parts = [t.title for t in report.tables if t.title]
    if report.data is not None:
        parts.append(f"{len(report.findings)} finding{'' if len(report.findings) == 1 else 's'} with evidence and fix")
    return ", ".join(parts) or "the full tables"


def _md_report(report: Report) -> list[str]:
    """Summary on top, the rest in a ``<details>`` block (GitHub renders Markdown inside it after a blank line)."""
    lines = [f"## {report.title}", ""]
    detail: list[str] = []
    for table in report.tables:
        detail += _md_table(table)
    if report.data is not None:
        detail += _md_findings(report.findings)
    if report.summary:
        for table in report.summary:
            lines += _md_table(table)
    elif report.data is not None:
        lines += _md_finding_list(report.findings)
    else:  # a display-only table (side by side): nothing to fold away
        lines += detail
        detail = []
    for note in report.notes:
        lines += [f"> {note}", ""]
    if detail:
        lines += ["<details>", f"<summary>{html.escape(detail_label(report))}</summary>", ""] + detail + ["</details>", ""]
    return lines


def render_markdown(reports: Sequence[Report]) -> str:
    lines: list[str] = []
    for report in reports:
        lines += _md_report(report)
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


PADDING = 1  # spaces on each side of a column divider


def _rich_table(table: Table, width: int, verbose: bool):
    """A rich table whose column widths tsdiag chooses (:func:`tsdiag.textfit.column_widths`): rich's own
    squeezing folds words once the columns do not fit, which is what cut names in two."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table as RichTable
    from rich.text import Text

    keep = [i for i, c in enumerate(table.columns) if verbose or c not in table.verbose_columns]
    columns = [table.columns[i] for i in keep]
    rows = [[str(row[i]) for i in keep] for row in table.rows]
    show_header = any(columns)
    chrome = (2 * PADDING + 1) * (len(columns) - 1)  # a one-space divider and its padding between columns
    widths = column_widths([[c] + [r[i] for r in rows] if show_header else [r[i] for r in rows]
                            for i, c in enumerate(columns)], width - chrome)
    rt = RichTable(box=box.SIMPLE_HEAD, show_header=show_header, show_edge=False,
                   pad_edge=False, padding=(0, PADDING))
    for i, (column, w) in enumerate(zip(columns, widths)):
        rt.add_column(escape(fit_words(column, w)), width=w, overflow="fold",
                      style="bold" if (i == 0 and not show_header) else None)
    for row in rows:
        cells = [Text(fit_words(cell, w)) for cell, w in zip(row, widths)]  # Text, not markup: "[model]" stays
        if table.highlight:
            for cell in cells:
                cell.highlight_regex(table.highlight, style="bold magenta")
        rt.add_row(*cells)
    return rt


def _rich_findings(findings: Sequence[Finding], width: int):
    """One grid row per finding: severity on the left, message/evidence/fix
    wrapped inside the right column so continuation lines keep their indent."""
    from rich.table import Table as RichTable
    from rich.text import Text

    if not findings:
        return Text("No findings.", style="green")
    label = max(len(s.label) for s in Severity)
    body_width = max(width - label - 1, MIN_WORD)
    grid = RichTable.grid(padding=(0, 1))
    grid.add_column(no_wrap=True, width=label)
    grid.add_column(overflow="fold", width=body_width)
    prefix = _subject_prefix(findings)
    for f in sort_findings(findings):
        body = Text()
        body.append(f.code, style="bold")
        body.append(fit_words(f"  {prefix(f)}{f.message}", body_width))
        for e in f.evidence:
            body.append(fit_words(f"\nevidence: {e}", body_width), style="dim")
        body.append(fit_words(f"\nfix: {f.fix}", body_width))
        grid.add_row(Text(f.severity.label, style=_SEVERITY_STYLE[f.severity]), body)
    return grid


_TRAILING = re.compile(r"[ \t]+((?:\x1b\[[0-9;]*m)*)$", re.MULTILINE)


def render_rich(reports: Sequence[Report], console, *, verbose: bool = False) -> None:
    """Write ``reports`` to ``console``: tables sized to its width, no word split, no trailing spaces.

    A report with a ``summary`` shows only it unless ``verbose``, and says in one line what
    ``--verbose`` adds.
    """
    from rich.rule import Rule as RichRule
    from rich.text import Text

    width = console.width
    with console.capture() as captured:  # rendered first, so trailing spaces can go before anything is written
        for report in reports:
            console.print(RichRule(fit_line(report.title, width - 6), align="left", style="bold blue"))
            brief = bool(report.summary) and not verbose
            for table in report.summary + ([] if brief else report.tables):
                if table.title:
                    console.print()
                    console.print(Text(fit_line(table.title, width), style="bold"))
                console.print(_rich_table(table, width, verbose))
                hidden = [] if verbose else [c for c in table.verbose_columns if c in table.columns]
                note = " ".join(filter(None, [table.note, f"(--verbose adds the columns {', '.join(hidden)})"
                                              if hidden else ""]))
                if note:
                    console.print(Text(fit_words(note, width), style="dim"))
            for note in report.notes:
                console.print(Text(fit_words(note, width)))
            if brief:
                console.print(Text(fit_words(f"--verbose adds: {detail_label(report)}", width), style="dim"))
            elif report.data is not None:
                console.print()
                console.print(_rich_findings(report.findings, width))
    text = _TRAILING.sub(r"\1", captured.get())
    console.file.write(text)
    console.file.flush()
