"""``--html FILE``: one self-contained page to attach to an issue, a chat or a CI artifact.

Everything a reader needs is in the file: CSS inline, plots as ``data:image/png;base64`` URIs, no
script, no font, no link to anywhere (the page must open the same offline, years later).  It renders
the same :class:`~tsdiag.report.Report` objects as the console, in full: the summary, every table,
every finding with its evidence and fix, then the plots.  Like every tsdiag output it is written
atomically.
"""

from __future__ import annotations

import base64
import html
import re
import tempfile
from pathlib import Path
from typing import Sequence

from tsdiag import __version__
from tsdiag.findings import Finding, Severity, sort_findings
from tsdiag.report import Plot, Report, Table, count_findings

# Page width stays under ~1200 px at a 1280 px window; wide tables scroll inside their box instead.
_CSS = """
:root { --fg: #1d2330; --muted: #5b6475; --line: #d9dde5; --bg: #ffffff; --soft: #f4f6f9;
        --error: #b42318; --warning: #a15c00; --info: #175cd3; --ok: #067647; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--soft); color: var(--fg);
       font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
main { max-width: 1160px; margin: 0 auto; padding: 24px 28px 40px; background: var(--bg); }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 32px 0 8px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 15px; margin: 20px 0 6px; }
.meta, .note, figcaption { color: var(--muted); font-size: 13px; }
nav ul { margin: 6px 0 0; padding-left: 20px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; }
th, td { text-align: left; vertical-align: top; padding: 5px 10px; border-bottom: 1px solid var(--line);
         overflow-wrap: break-word; }
th { background: var(--soft); font-weight: 600; }
table.kv td:first-child { font-weight: 600; white-space: nowrap; width: 1%; }
td.confirmed { color: var(--error); font-weight: 700; }
td.likely { color: var(--warning); font-weight: 600; }
td.ruled-out { color: var(--ok); }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
.finding { border: 1px solid var(--line); border-left: 5px solid var(--info); border-radius: 4px;
           padding: 8px 12px; margin: 10px 0; }
.finding.error { border-left-color: var(--error); }
.finding.warning { border-left-color: var(--warning); }
.badge { display: inline-block; min-width: 64px; font-weight: 700; text-transform: uppercase; font-size: 12px; }
.error .badge { color: var(--error); } .warning .badge { color: var(--warning); } .info .badge { color: var(--info); }
.finding ul { margin: 6px 0; padding-left: 20px; color: var(--muted); font-size: 13.5px; }
.fix { margin: 4px 0 0; }
blockquote { margin: 8px 0; padding: 4px 12px; border-left: 3px solid var(--line); color: var(--muted); }
figure { margin: 16px 0; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
footer { margin-top: 32px; color: var(--muted); font-size: 12px; }
"""

_VERDICT_CLASS = {"CONFIRMED": "confirmed", "likely": "likely", "ruled out": "ruled-out"}


def _text(value: str, highlight: re.Pattern | None = None) -> str:
    """Escaped text, line breaks kept, ``highlight`` matches in bold."""
    if highlight is None:
        out = html.escape(value)
    else:
        parts, last = [], 0
        for m in highlight.finditer(value):
            parts += [html.escape(value[last:m.start()]), f"<strong>{html.escape(m.group(0))}</strong>"]
            last = m.end()
        out = "".join(parts) + html.escape(value[last:])
    return out.replace("\n", "<br>")


def _cell(value: str, pattern: re.Pattern | None) -> str:
    verdict = next((c for word, c in _VERDICT_CLASS.items() if value.startswith(word)), None)
    return (f'<td class="{verdict}">' if verdict else "<td>") + _text(value, pattern) + "</td>"


def _table(table: Table) -> list[str]:
    pattern = re.compile(table.highlight) if table.highlight else None
    out = [f"<h3>{_text(table.title)}</h3>"] if table.title else []
    header = any(table.columns)
    out.append('<div class="scroll"><table' + ("" if header else ' class="kv"') + ">")
    if header:
        out.append("<thead><tr>" + "".join(f"<th>{_text(c)}</th>" for c in table.columns) + "</tr></thead>")
    out.append("<tbody>")
    out += ["<tr>" + "".join(_cell(str(c), pattern) for c in row) + "</tr>" for row in table.rows]
    out.append("</tbody></table></div>")
    if table.note:
        out.append(f'<p class="note">{_text(table.note)}</p>')
    return out


def _findings(findings: Sequence[Finding], anchor: str) -> list[str]:
    out = [f'<h3 id="{anchor}">Findings ({_text(count_findings(findings))})</h3>']
    if not findings:
        return out + ['<p class="note">No findings.</p>']
    several = len({f.subject for f in findings if f.subject}) > 1
    for f in sort_findings(findings):
        subject = f"{f.subject}: " if several and f.subject else ""
        out.append(f'<div class="finding {f.severity.label}"><span class="badge">{f.severity.label}</span> '
                   f"<code>{_text(f.code)}</code> {_text(subject + f.message)}")
        out.append("<ul>" + "".join(f"<li>{_text(str(e))}</li>" for e in f.evidence) + "</ul>")
        out.append(f'<p class="fix"><strong>fix:</strong> {_text(f.fix)}</p></div>')
    return out


def _report(report: Report, index: int) -> list[str]:
    anchor = f"report-{index}"
    out = [f'<section id="{anchor}">', f"<h2>{_text(report.title)}</h2>"]
    if report.data is not None:
        out.append(f'<p class="meta"><a href="#{anchor}-findings">Findings: {_text(count_findings(report.findings))}'
                   "</a></p>")
    for table in report.summary + report.tables:
        out += _table(table)
    out += [f"<blockquote>{_text(note)}</blockquote>" for note in report.notes]
    if report.data is not None:
        out += _findings(report.findings, f"{anchor}-findings")
    return out + ["</section>"]


def _figures(images: Sequence[tuple[str, bytes]]) -> list[str]:
    if not images:
        return []
    out = ['<section id="plots">', "<h2>Plots</h2>"]
    for title, png in images:
        data = base64.b64encode(png).decode("ascii")
        out.append(f'<figure><img alt="{html.escape(title, quote=True)}" src="data:image/png;base64,{data}">'
                   f"<figcaption>{_text(title)}</figcaption></figure>")
    return out + ["</section>"]


def render_html(reports: Sequence[Report], images: Sequence[tuple[str, bytes]] = ()) -> str:
    """The page for ``reports`` with ``images`` ((title, PNG bytes), already drawn) at the end."""
    title = reports[0].title if len(reports) == 1 else \
        f"tsdiag {' / '.join(dict.fromkeys(r.command for r in reports))}: {len(reports)} reports"
    findings = [f for r in reports if r.data is not None for f in r.findings]
    worst = max((f.severity for f in findings), default=None)
    contents = [f'<li><a href="#report-{i}">{_text(r.title)}</a></li>' for i, r in enumerate(reports, start=1)]
    if images:
        contents.append(f'<li><a href="#plots">Plots ({len(images)})</a></li>')
    body = [
        "<header>", f"<h1>{_text(title)}</h1>",
        f'<p class="meta">tsdiag {__version__} · findings: {_text(count_findings(findings))}'
        + (f" · worst: {worst.label}" if isinstance(worst, Severity) else "") + "</p>",
        "</header>",
    ]
    if len(contents) > 1:
        body += ["<nav><strong>Contents</strong><ul>", *contents, "</ul></nav>"]
    for i, report in enumerate(reports, start=1):
        body += _report(report, i)
    body += _figures(images)
    body.append(f"<footer>Written by tsdiag {__version__}. Self-contained: nothing on this page is fetched.</footer>")
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_text(title)}</title>", f"<style>{_CSS}</style>", "</head>",
        "<body><main>", *body, "</main></body>", "</html>", "",
    ])


def draw_plots(plots: Sequence[Plot]) -> list[tuple[str, bytes]]:
    """Each plot drawn into a scratch folder and read back as PNG bytes."""
    images = []
    with tempfile.TemporaryDirectory(prefix="tsdiag-html-") as scratch:
        for i, plot in enumerate(plots):
            target = Path(scratch) / f"plot{i}.png"
            plot.draw(target)
            images.append((plot.title, target.read_bytes()))
    return images


def write_html(reports: Sequence[Report], plots: Sequence[Plot], target: Path) -> None:
    from tsdiag.fileio import write_text_atomic

    write_text_atomic(target, render_html(reports, draw_plots(plots)))
