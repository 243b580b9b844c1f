"""Options every reporting command shares, and the one way results leave a command.

``@report_command`` adds ``--format/--json/--markdown/--output/--html/--verbose/
--fail-on/--select/--ignore/--settings`` to a Typer command and hands the function a
single :class:`OutputOptions`; :func:`emit` renders reports, writes them
(atomically with ``--output``; a self-contained HTML page with ``--html``, the
plots a command passes embedded) and turns findings into the exit code.
"""

from __future__ import annotations

import enum
import functools
import inspect
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Callable, Optional, Sequence

import typer

from tsdiag.errors import InputError


class OutputFormat(str, enum.Enum):
    rich = "rich"
    json = "json"
    markdown = "markdown"


@dataclass
class OutputOptions:
    format: OutputFormat = OutputFormat.rich
    output: Path | None = None
    fail_on: str = "error"
    select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    settings: Path | None = None
    html: Path | None = None
    verbose: bool = False

    def thresholds(self):
        from tsdiag.thresholds import load_thresholds

        return load_thresholds(self.settings)

    @property
    def interactive(self) -> bool:
        """Progress bars only for a person watching a terminal, never in JSON pipes or CI logs."""
        return self.format is OutputFormat.rich and self.output is None and sys.stdout.isatty()


_SHARED_OPTIONS = [
    ("format_", Annotated[OutputFormat, typer.Option("--format", "-f", help="Report format.", rich_help_panel="Output")], OutputFormat.rich),
    ("json_", Annotated[bool, typer.Option("--json", help="Same as --format json (stable schema 1).", rich_help_panel="Output")], False),
    ("markdown", Annotated[bool, typer.Option("--markdown", help="Same as --format markdown (fits a CI step summary).", rich_help_panel="Output")], False),
    ("output", Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the report to this file (atomically) instead of stdout.", rich_help_panel="Output")], None),
    ("html", Annotated[Optional[Path], typer.Option("--html", help="Also write one self-contained HTML page (inline CSS, plots embedded, nothing fetched) to this file, atomically.", rich_help_panel="Output")], None),
    ("verbose", Annotated[bool, typer.Option("--verbose", "-v", help="On the console, everything: the full tables and findings after the summary, and the columns a 100-column screen leaves out.", rich_help_panel="Output")], False),
    ("fail_on", Annotated[str, typer.Option("--fail-on", help="Exit 1 when a finding reaches this severity: info, warning, error or never.", rich_help_panel="Findings")], "error"),
    ("select", Annotated[Optional[list[str]], typer.Option("--select", help="Report only these finding codes; prefixes work (TSD-H4). Repeatable.", rich_help_panel="Findings")], None),
    ("ignore", Annotated[Optional[list[str]], typer.Option("--ignore", help="Drop these finding codes; prefixes work. Repeatable.", rich_help_panel="Findings")], None),
    ("settings", Annotated[Optional[Path], typer.Option("--settings", help="pyproject.toml whose \\[tool.tsdiag.thresholds] override defaults (default: nearest one above the current folder).", rich_help_panel="Findings")], None),
]


def _options_from(kwargs: dict) -> OutputOptions:
    fmt = kwargs.pop("format_")
    as_json, as_markdown = kwargs.pop("json_"), kwargs.pop("markdown")
    if as_json and as_markdown:
        raise typer.BadParameter("use only one of --json and --markdown")
    if as_json:
        fmt = OutputFormat.json
    elif as_markdown:
        fmt = OutputFormat.markdown
    fail_on = kwargs.pop("fail_on").strip().lower()
    if fail_on not in ("info", "warning", "error", "never"):
        raise typer.BadParameter(f"--fail-on must be info, warning, error or never, not {fail_on!r}")
    output, html = kwargs.pop("output"), kwargs.pop("html")
    from tsdiag.fileio import check_output_target

    for target in (output, html):
        if target is not None:
            check_output_target(target)  # before the command writes anything else (plots, maps)
    select, ignore = kwargs.pop("select") or [], kwargs.pop("ignore") or []
    _check_codes("--select", select)
    _check_codes("--ignore", ignore)
    return OutputOptions(
        format=fmt,
        output=output,
        fail_on=fail_on,
        select=select,
        ignore=ignore,
        settings=kwargs.pop("settings"),
        html=html,
        verbose=kwargs.pop("verbose"),
    )


def _check_codes(option: str, patterns: list[str]) -> None:
    """Refuse a code or prefix that matches no rule: a typo in --select would silently pass CI."""
    if not patterns:
        return
    from tsdiag.errors import InputError
    from tsdiag.findings import all_rules, code_matches

    codes = list(all_rules())
    for pattern in patterns:
        if not any(code_matches(code, [pattern]) for code in codes):
            raise InputError(option, f"{pattern!r} matches no finding code (`tsdiag rules` lists them)")


def report_command(fn: Callable) -> Callable:
    """Give ``fn(..., out: OutputOptions)`` the shared output/finding options."""
    # Resolve string annotations (modules using ``from __future__ import
    # annotations``) in fn's own namespace, so Typer sees real Annotated types.
    hints = typing.get_type_hints(fn, include_extras=True)
    signature = inspect.signature(fn)
    own = [p.replace(annotation=hints.get(p.name, p.annotation))
           for p in signature.parameters.values() if p.name != "out"]
    shared = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
        for name, annotation, default in _SHARED_OPTIONS
    ]

    @functools.wraps(fn)
    def wrapper(**kwargs):
        out = _options_from(kwargs)  # pops the shared options: build it before unpacking kwargs
        return fn(**kwargs, out=out)

    wrapper.__signature__ = signature.replace(parameters=own + shared)
    annotations = {k: v for k, v in hints.items() if k != "out"}
    annotations.update({name: annotation for name, annotation, _ in _SHARED_OPTIONS})
    wrapper.__annotations__ = annotations
    return wrapper


def emit(reports: Sequence, out: OutputOptions, unreadable: Sequence[str] = (), plots: Sequence = ()) -> None:
    """Render ``reports``, write them, and exit with the findings' exit code.

    Findings are filtered by ``--select/--ignore`` before rendering so that
    the report, the JSON and the exit code always agree. ``unreadable``: one-line problems with inputs
    the report covers as "could not read" rows; each goes to stderr and the exit code is 2.
    ``plots``: :class:`tsdiag.report.Plot` figures of the inputs, drawn and embedded only for ``--html``.
    """
    from tsdiag.findings import Severity, exit_code, select_findings
    from tsdiag.report import make_console, render_json, render_markdown, render_rich

    for report in reports:
        report.findings = select_findings(report.findings, out.select, out.ignore)

    if out.format is OutputFormat.json:
        text = render_json(reports)
    elif out.format is OutputFormat.markdown:
        text = render_markdown(reports)
    else:
        text = None

    if out.output is not None:
        from tsdiag.fileio import atomic_path

        with atomic_path(out.output) as tmp:
            with open(tmp, "w", encoding="utf-8") as fh:
                if text is None:
                    render_rich(reports, make_console(fh, plain=True), verbose=out.verbose)
                else:
                    fh.write(text)
    elif text is None:
        render_rich(reports, make_console(), verbose=out.verbose)
    else:
        sys.stdout.write(text)
    if out.html is not None:
        from tsdiag.report_html import write_html

        write_html(reports, plots, out.html)

    if unreadable:
        errors = make_console(stderr=True)
        for problem in dict.fromkeys(unreadable):  # once each, in order
            errors.print(f"tsdiag: error: {problem}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    fail_on = None if out.fail_on == "never" else Severity.parse(out.fail_on)
    code = exit_code([f for r in reports for f in r.findings], fail_on)
    if code:
        raise typer.Exit(code)


def parse_ids(text: str) -> list[int]:
    """``--article-ids 262,263,278``: comma-separated token ids (BadParameter naming the option otherwise)."""
    try:
        ids = [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a comma-separated list of token ids", param_hint="--article-ids") from None
    if not ids:
        raise typer.BadParameter("no token id given", param_hint="--article-ids")
    return ids


def load_optional_tokenizer(path: Path | None):
    """The tokenizer at ``path`` (InputError naming it when unreadable), or None."""
    if path is None:
        return None
    from tsdiag.tokenizer import load_tokenizer

    existing_paths([path])
    return load_tokenizer(path)


def existing_paths(paths: Sequence[Path]) -> list[Path]:
    """Fail early, with the standard one-line message, on a path that does not exist."""
    for path in paths:
        if not path.exists():
            raise InputError(path, "no such file or directory")
    return list(paths)
