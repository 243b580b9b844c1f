"""Accuracy of `tsdiag diagnose` on a corpus of real training runs with known causes.

Builds (once, cached under .bench/accuracy/cases/) real runs made with the peers' own unmodified
trainers - llama2.c's and nanoGPT's train.py copied from ../shared/anchors, `tsdiag retrain`, a
hand-written article-weighted trainer (benchmarks/custom_trainer.py), and, when installed, Lightning
and the Hugging Face Trainer - then runs `tsdiag diagnose <the case's arguments> --json` on each and
prints: the expected cause, the hypothesis ranked first (code and verdict), whether that is right,
hypotheses confirmed other than the expected one, and the error-level findings.

"ok" is yes when the first-ranked code is the expected one and no other hypothesis is confirmed, or,
for a run with no cause (expected "none"), when no hypothesis is confirmed and no finding is an error
other than the case's expected_errors (a misconfiguration that is itself the right error to report).

    python benchmarks/accuracy.py                       # build what is missing, diagnose all
    python benchmarks/accuracy.py --only llama2c_lr_high --only nanogpt_char
    python benchmarks/accuracy.py --rebuild --only llama2c_healthy
    python benchmarks/accuracy.py --json | --markdown
    python benchmarks/accuracy.py --variants            # also with fewer inputs: no false confirmation
    python benchmarks/accuracy.py --build-only | --list

Each case's raw diagnose JSON goes to .bench/accuracy/results/<case>.json (with rc and stderr when
diagnose refused the input, exit 2).  Tests can import ``CASES`` and ``build_case(name) -> Path``.
Without ../shared the script says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from accuracy_cases import (  # noqa: E402
    CACHE, CASES, Case, SharedMissing, build_case, case_dir, child_env, is_built, missing_requirements,
    missing_shared_message, shared_available,
)

RESULTS = CACHE / "results"
DIAGNOSE_TIMEOUT = 600

__all__ = ["CASES", "Case", "SharedMissing", "build_case", "diagnose_case", "evaluate", "main", "shared_available"]


# Fewer inputs than the case's full set, as a user may have them: each must still confirm nothing false
# and never rule out the expected cause (a missing input may only leave it "not checked").
VARIANTS = {
    "checkpoint only": {"--checkpoint", "--checkpoint-dir", "--run"},
    "log only": {"--log"},
    "checkpoint + log": {"--checkpoint", "--checkpoint-dir", "--run", "--log"},
    "checkpoint + tokenizer": {"--checkpoint", "--checkpoint-dir", "--run", "--tokenizer"},
    "data without tokenizer": {"--data", "--seq-len", "--layout"},
}


def variant_args(case: Case, options: set[str]) -> tuple[str, ...]:
    pairs = zip(case.diagnose[::2], case.diagnose[1::2])
    return tuple(x for option, value in pairs if option in options for x in (option, value))


def variant_rows(name: str) -> list[dict]:
    """Diagnose a built case once per input subset; flag false confirmations and a ruled-out expected cause."""
    case, rows = CASES[name], []
    for variant, options in VARIANTS.items():
        args = variant_args(case, options)
        if not args:
            continue
        outcome = diagnose_case(name, args, store=False)
        report = outcome["report"]
        if report is None:
            rows.append({"case": name, "variant": variant, "error": f"exit {outcome['rc']}: {outcome['stderr'][-200:]}"})
            continue
        hyps = sorted(report["hypotheses"], key=lambda h: h["rank"])
        confirmed = [h["code"] for h in hyps if h["verdict"] == "confirmed"]
        rows.append({"case": name, "variant": variant, "first": f"{hyps[0]['code']} {hyps[0]['verdict']}",
                     "false_confirmed": [c for c in confirmed if c != case.expected],
                     "expected_ruled_out": case.expected != "none" and any(
                         h["code"] == case.expected and h["verdict"] == "ruled_out" for h in hyps),
                     "error": None})
    return rows


def diagnose_case(name: str, args: tuple[str, ...] | None = None, store: bool = True) -> dict:
    """Run `tsdiag diagnose` on a built case (its own arguments unless ``args``); {rc, seconds, report|None, stderr}."""
    case = CASES[name]
    d = case_dir(name)
    argv = [sys.executable, "-m", "tsdiag", "diagnose", *(case.diagnose if args is None else args), "--json"]
    started = time.perf_counter()
    try:
        proc = subprocess.run(argv, cwd=d, env=child_env(), capture_output=True, text=True,
                              timeout=DIAGNOSE_TIMEOUT)
        rc, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        rc, out, err = -9, exc.stdout or "", f"timed out after {DIAGNOSE_TIMEOUT} s"
        out = out.decode() if isinstance(out, bytes) else out
    seconds = round(time.perf_counter() - started, 1)
    report = None
    if out.strip():
        try:
            report = json.loads(out)
        except json.JSONDecodeError:
            report = None
    if not store:
        return {"rc": rc, "seconds": seconds, "report": report, "stderr": err.strip()}
    RESULTS.mkdir(parents=True, exist_ok=True)
    stored = report if report is not None and rc in (0, 1) else {"rc": rc, "stdout": out, "stderr": err}
    (RESULTS / f"{name}.json").write_text(json.dumps(stored, indent=1), encoding="utf-8")
    return {"rc": rc, "seconds": seconds, "report": report, "stderr": err.strip()}


def evaluate(case: Case, outcome: dict) -> dict:
    """One table row from a diagnose outcome."""
    row = {"case": case.name, "trainer": case.trainer, "expected": case.expected, "rc": outcome["rc"],
           "diagnose_s": outcome["seconds"]}
    report = outcome["report"]
    if outcome["rc"] not in (0, 1) or report is None:
        message = outcome["stderr"].splitlines()[-1] if outcome["stderr"] else "no JSON on stdout"
        row.update(first=None, first_verdict=None, ok=False, false_confirmed=[], errors=[],
                   error=f"exit {outcome['rc']}: {message}")
        return row
    hyps = sorted(report.get("hypotheses", []), key=lambda h: h.get("rank", 99))
    first = hyps[0] if hyps else {}
    confirmed = [h["code"] for h in hyps if h.get("verdict") == "confirmed"]
    errors = sorted({f["code"] for f in report.get("findings", []) if f.get("severity") == "error"})
    false_confirmed = [c for c in confirmed if c != case.expected]
    if case.expected == "none":
        ok = not confirmed and set(errors) <= set(case.expected_errors)
    else:
        ok = first.get("code") == case.expected and not false_confirmed
    row.update(first=first.get("code"), first_verdict=first.get("verdict"), ok=ok,
               false_confirmed=false_confirmed, errors=errors,
               verdicts={h["code"]: h.get("verdict") for h in hyps}, error=None)
    return row


def build_summary(name: str) -> dict:
    path = case_dir(name) / "case.json"
    if not path.is_file():
        return {}
    record = json.loads(path.read_text())
    return {"build_s": record.get("build_s"), "commands": record.get("commands"), "result": record.get("result")}


def render_plain(rows: list[dict]) -> str:
    cols = ["case", "expected", "ranked first", "ok", "false confirmations", "error findings"]
    table = [[r["case"], r["expected"], cell_first(r), "yes" if r["ok"] else "NO",
              ", ".join(r["false_confirmed"]) or "-", ", ".join(r["errors"]) or "-"] for r in rows]
    widths = [max(len(c), *(len(t[i]) for t in table)) if table else len(c) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(t, widths)) for t in table]
    return "\n".join(lines)


def cell_first(row: dict) -> str:
    if row.get("error"):
        return row["error"]
    return f"{row['first']} {row['first_verdict']}" if row["first"] else "-"


def render_markdown(rows: list[dict]) -> str:
    out = ["| case | expected | ranked first | ok | false confirmations | error findings |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['case']} | {r['expected']} | {cell_first(r).replace('|', '/')} | "
                   f"{'yes' if r['ok'] else '**no**'} | {', '.join(r['false_confirmed']) or '-'} | "
                   f"{', '.join(r['errors']) or '-'} |")
    n_ok = sum(r["ok"] for r in rows)
    out.append("")
    out.append(f"{n_ok}/{len(rows)} cases ok.")
    return "\n".join(out)


def render_rich(rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="tsdiag diagnose on real runs")
    for col in ("case", "expected", "ranked first", "ok", "false confirmations", "error findings"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r["case"], r["expected"], cell_first(r),
                      "[green]yes[/]" if r["ok"] else "[red]no[/]",
                      ", ".join(r["false_confirmed"]) or "-", ", ".join(r["errors"]) or "-")
    console = Console()
    console.print(table)
    console.print(f"{sum(r['ok'] for r in rows)}/{len(rows)} cases ok; raw reports in {RESULTS}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", action="append", default=[], metavar="CASE",
                    help="run only these cases (repeatable, or comma-separated)")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the selected cases even when complete")
    ap.add_argument("--build-only", action="store_true", help="build the corpus, do not diagnose")
    ap.add_argument("--list", action="store_true", help="list the cases and whether they are built")
    ap.add_argument("--variants", action="store_true",
                    help="also diagnose each case with fewer inputs (checkpoint only, log only, ...) and count "
                         "false confirmations and ruled-out expected causes")
    fmt = ap.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print the table as JSON")
    fmt.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    fmt.add_argument("--plain", action="store_true", help="plain-text table (default: rich)")
    args = ap.parse_args(argv)

    names = [n for item in args.only for n in item.split(",") if n] or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        ap.error(f"unknown case(s): {', '.join(unknown)}; known: {', '.join(CASES)}")
    if args.list:
        for name, case in CASES.items():
            print(f"{name:32s} expected {case.expected:5s} {'built' if is_built(name) else 'not built':10s} "
                  f"{case.trainer}")
        return 0
    if not shared_available():
        print(missing_shared_message(), file=sys.stderr)
        return 0

    def say(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    rows, skipped = [], []
    for name in names:
        case = CASES[name]
        missing = missing_requirements(case)
        if missing:
            skipped.append({"case": name, "reason": f"needs {', '.join(missing)}"})
            say(f"skip {name}: needs {', '.join(missing)}")
            continue
        try:
            build_case(name, rebuild=args.rebuild, log=say)
        except SharedMissing as exc:
            print(exc, file=sys.stderr)
            return 0
        except Exception as exc:  # a trainer failed: record it, keep going
            skipped.append({"case": name, "reason": f"build failed: {exc}"})
            say(f"build of {name} failed: {exc}")
            continue
        if args.build_only:
            continue
        outcome = diagnose_case(name)
        row = evaluate(case, outcome)
        row["build"] = build_summary(name)
        rows.append(row)
        say(f"diagnosed {name}: {cell_first(row)} ({'ok' if row['ok'] else 'NOT ok'}, rc {row['rc']})")

    if args.build_only:
        return 0 if not skipped else 1
    variants = [v for row in rows for v in variant_rows(row["case"])] if args.variants else []
    if args.json:
        print(json.dumps({"rows": rows, "skipped": skipped, "variants": variants,
                          "ok": sum(r["ok"] for r in rows), "total": len(rows)}, indent=1))
        return 0
    if variants:
        bad = [v for v in variants if v["error"] or v["false_confirmed"] or v["expected_ruled_out"]]
        lines = [f"{v['case']:30s} {v['variant']:24s} {v.get('first') or v['error']}"
                 + (f"  false confirmations {v['false_confirmed']}" if v.get("false_confirmed") else "")
                 + ("  EXPECTED CAUSE RULED OUT" if v.get("expected_ruled_out") else "") for v in variants]
        print("\n".join(["Fewer inputs (case, inputs given, ranked first):", *lines,
                         f"{len(variants)} variant runs, {len(bad)} with a false confirmation, a ruled-out expected "
                         "cause or an error.", ""]))
    if args.markdown:
        print(render_markdown(rows))
        for s in skipped:
            print(f"- skipped {s['case']}: {s['reason']}")
    elif args.plain:
        print(render_plain(rows))
        for s in skipped:
            print(f"skipped {s['case']}: {s['reason']}")
    else:
        try:
            render_rich(rows)
        except ImportError:
            print(render_plain(rows))
        for s in skipped:
            print(f"skipped {s['case']}: {s['reason']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
