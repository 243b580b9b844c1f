"""The decision matrix: every check's findings and measurements -> ranked hypotheses.

``diagnose`` walks the checks of :mod:`tsdiag.checks` (the same ones the single commands call, so a
command and ``diagnose`` cannot disagree on one input), keeps every finding, and decides.

Verdicts, per hypothesis:

* ``confirmed`` — an error-level finding at least :data:`~tsdiag.findings.STRONG` strong speaks to it;
* ``likely`` — warning-level findings, or weaker error-level ones;
* ``ruled_out`` — a check made a measurement that could have found it (``conclusive``) and nothing fired;
* ``not_checked`` — nothing could measure it, or only inconclusively (the row names the input).

Ranking: by verdict; within a verdict by strength band (strong, moderate, weak: a 100x lr outranks a
barely-falling curve); then by causal priority (broken data and the wrong file explain everything
downstream, a large vocabulary only slows learning). Each row says why it stands where it does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Collection, Sequence

from tsdiag.checks.interface import CheckResult
from tsdiag.findings import HYPOTHESES, STRONG, Evidence, Finding, Severity, select_findings, sort_findings
from tsdiag.thresholds import Thresholds

VERDICTS = ("confirmed", "likely", "not_checked", "ruled_out")

# Causal priority among hypotheses with the same verdict and strength band: bad data or the wrong file
# explain everything downstream; a bad recipe explains a bad curve; a large vocabulary only slows
# learning (llama2.c's 15M model is fluent with 32K).
PRIORITY = ("H1", "H5", "H3", "W", "H2", "H4")

# Strength bands the ranking compares before causal priority.
BANDS = ((STRONG, "strong"), (0.4, "moderate"), (0.0, "weak"))

# What would let diagnose measure a hypothesis it could not.
NEEDS = {
    "H1": "--data with --tokenizer (the shards the model was trained on)",
    "H2": "--checkpoint (step, val loss) or --log (the loss curve)",
    "H3": "--checkpoint with its config, --config, or a --log that prints the lr",
    "H4": "--checkpoint (vocab size) or --data with --tokenizer (coverage)",
    "H5": "--checkpoint (weight health) inside its --checkpoint-dir, or --log (with --data: the checkpoint's "
          "loss on it against the log's end)",
    "W": "--run for the weighted run and a matched standard run, or a --log with article/other losses",
}

# Kept for callers of the pre-checks API: a check result is what ``Check`` used to be.
Check = CheckResult


def band(strength: float) -> str:
    return next(name for floor, name in BANDS if strength >= floor)


@dataclass
class HypothesisVerdict:
    code: str
    title: str
    verdict: str
    rank: int
    evidence: list[Evidence]
    action: str
    findings: list[Finding]
    strength: float = 0.0
    why: str = ""

    def to_dict(self) -> dict:
        return {
            "code": self.code,
            "title": self.title,
            "verdict": self.verdict,
            "rank": self.rank,
            "strength": self.strength,
            "band": band(self.strength) if self.findings else None,
            "why_ranked": self.why,
            "evidence": [e.to_dict() for e in self.evidence],
            "action": self.action,
            "findings": [f.code for f in self.findings],
        }


@dataclass
class DiagnoseInputs:
    checkpoints: list[Path] = field(default_factory=list)
    checkpoint_dir: Path | None = None
    config: Path | None = None
    data: list[Path] = field(default_factory=list)
    tokenizer: Path | None = None
    logs: list[Path] = field(default_factory=list)
    runs: list[Path] = field(default_factory=list)
    seq_len: int = 512
    layout: str = "llama2c"
    dtype: str = "uint16"
    vocab_size: int | None = None
    article_ids: list[int] | None = None
    allow_unsafe_pickle: bool = False
    evaluate: bool = True  # run the checkpoint on --data (tsdiag eval) when both are given

    def describe(self) -> dict[str, list[str]]:
        named = {
            "checkpoint": self.checkpoints, "checkpoint_dir": [self.checkpoint_dir] if self.checkpoint_dir else [],
            "config": [self.config] if self.config else [], "data": self.data,
            "tokenizer": [self.tokenizer] if self.tokenizer else [], "log": self.logs, "run": self.runs,
        }
        return {k: [str(p) for p in v] for k, v in named.items() if v}


@dataclass
class Diagnosis:
    inputs: dict[str, list[str]]
    checks: list[CheckResult]
    hypotheses: list[HypothesisVerdict]
    units: dict | None = None  # bytes per token and its source, when the tokenizer is known

    @property
    def findings(self) -> list[Finding]:
        """Every check's findings, once: the checkpoint and the log check both judge recorded weighted ids."""
        seen, kept = set(), []
        for f in (f for c in self.checks for f in c.findings):
            key = (f.code, f.message, f.subject)
            if key not in seen:
                seen.add(key)
                kept.append(f)
        return kept

    @property
    def unreadable(self) -> list[CheckResult]:
        return [c for c in self.checks if c.error is not None]


# ------------------------------------------------------------------ matrix

def _unique(evidence: list[Evidence]) -> list[Evidence]:
    """One line per measured quantity, even when two checks measured it (vocab size from checkpoint and data)."""
    seen, kept = set(), []
    for e in evidence:
        key = (e.name, repr(e.value))
        if key not in seen:
            seen.add(key)
            kept.append(e)
    return kept


def _strongest(findings: Sequence[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (-int(f.severity), -f.strength, f.code, f.subject))


def _verdict_of(found: Sequence[Finding]) -> str:
    return "confirmed" if any(f.severity >= Severity.ERROR and f.strength >= STRONG for f in found) else "likely"


def decide(checks: Sequence[CheckResult], filtered: Collection[str] = ()) -> list[HypothesisVerdict]:
    """Pure: verdict, evidence, action, strength and rank for every hypothesis.

    ``filtered``: hypotheses whose findings --select/--ignore left out; without findings they read
    "not checked" rather than "ruled out" (nobody looked).
    """
    rows = []
    unreadable = [c for c in checks if c.error is not None]
    for code in HYPOTHESES:
        found = _strongest(f for c in checks for f in c.findings
                           if f.hypothesis == code and f.severity >= Severity.WARNING)
        measurements = [m for c in checks for m in c.measured.get(code, [])]
        measured = _unique([e for m in measurements for e in m.evidence])
        strength = max((f.strength for f in found), default=0.0)
        if found:
            verdict = _verdict_of(found)
            evidence = [e for f in found[:3] for e in f.evidence[:2]]
            action = found[0].fix
        elif code in filtered:
            verdict, evidence, action = "not_checked", [], "its findings were left out by --select/--ignore"
        elif any(m.conclusive for m in measurements):
            verdict, evidence, action = "ruled_out", measured, "nothing to do"
        elif measurements:
            missing = next((m.missing for m in measurements if m.missing), NEEDS[code])
            verdict, evidence, action = "not_checked", measured, f"measured, but not enough to rule it out: add {missing}"
        else:
            verdict, evidence, action = "not_checked", [], f"add {NEEDS[code]}"
            if unreadable:
                action += f" ({len(unreadable)} input(s) could not be read)"
        rows.append(HypothesisVerdict(code, HYPOTHESES[code], verdict, 0, evidence, action, found, strength))
    rows.sort(key=lambda r: (VERDICTS.index(r.verdict), -_band_index(r), PRIORITY.index(r.code), -r.strength))
    for rank, row in enumerate(rows, start=1):
        row.rank = rank
        row.why = _why(row, rows)
    return rows


def _band_index(row: HypothesisVerdict) -> int:
    if not row.findings:
        return 0
    return len(BANDS) - [name for _, name in BANDS].index(band(row.strength))


def _why(row: HypothesisVerdict, rows: Sequence[HypothesisVerdict]) -> str:
    """One line on why the row stands where it does: its verdict, its strongest finding, then priority."""
    if not row.findings:
        return {"ruled_out": "measured and nothing fired", "not_checked": "no measurement could decide it"}.get(
            row.verdict, "")
    top = row.findings[0]
    text = (f"{row.verdict.replace('_', ' ')}: {band(row.strength)} evidence (strength {row.strength:.2f}, "
            f"{top.severity.label} {top.code})")
    peers = [r for r in rows if r is not row and r.verdict == row.verdict and r.findings
             and band(r.strength) == band(row.strength)]
    if peers:
        order = " > ".join(c for c in PRIORITY if c in {row.code, *(r.code for r in peers)})
        text += f"; ties in its band broken by causal priority {order}"
    return text


# ------------------------------------------------------------------ gathering

def _newest_checkpoint(folder: Path) -> Path:
    from tsdiag.checkpoint import inspect_directory
    from tsdiag.errors import InputError

    listing = inspect_directory(folder)
    newest = [e for e in listing.entries if e.newest]
    if not newest:
        raise InputError(folder, "no checkpoint found in this folder")
    return newest[0].path


def _run_checkpoint(run: Path) -> Path | None:
    from tsdiag.train import runfolder

    for name in (runfolder.CHECKPOINT_FILE, runfolder.MODEL_FILE):
        if (run / name).is_file():
            return run / name
    return None


def _unreadable(check: str, subject, exc) -> CheckResult:
    return CheckResult(check, str(subject), error=str(exc), problem=exc)


def _bytes_per_token(inputs: DiagnoseInputs, tokenizer):
    """Bytes per token measured on the data given (its first ~200K tokens decoded), else on the bundled text."""
    from tsdiag.units import measure_bytes_per_token, reference_bytes_per_token

    if tokenizer is None:
        return None
    for path in inputs.data:
        text = _sample_text(Path(path), tokenizer, inputs.dtype)
        if text:
            found = measure_bytes_per_token(tokenizer, text, f"{tokenizer.path.name} on {Path(path).name}")
            if found is not None:
                return found
    return reference_bytes_per_token(tokenizer)


SAMPLE_TOKENS = 200_000  # tokens decoded from the data to measure bytes per token


def _sample_text(path: Path, tokenizer, dtype: str) -> str:
    """Up to SAMPLE_TOKENS tokens of ``path`` decoded (a .bin shard), or its first megabyte of text."""
    import numpy as np

    try:
        if path.suffix == ".bin":
            ids = np.fromfile(path, dtype=np.dtype(dtype), count=SAMPLE_TOKENS)
            ids = ids[(ids >= 0) & (ids < tokenizer.vocab_size)]
            return tokenizer.decode(ids.tolist())
        if path.suffix == ".txt":
            with open(path, encoding="utf-8", errors="replace") as fh:
                return fh.read(1 << 20)
    except (OSError, ValueError):
        return ""
    return ""


def _cross_checks(results: Sequence[CheckResult], log: CheckResult, t: Thresholds) -> list[CheckResult]:
    """The one checkpoint given, against a --log of its run (same vocabulary when both state one)."""
    from tsdiag.checks import crosscheck

    inspections = [r.facts for r in results if r.check == "checkpoint" and r.error is None]
    if len(inspections) != 1:
        return []  # with several checkpoints nothing says which one the log belongs to
    inspection, facts = inspections[0], log.facts
    vocab = inspection.architecture.vocab_size
    if vocab is not None and facts.vocab is not None and int(vocab.value) != facts.vocab.size:
        return []
    return [crosscheck.run(inspection, facts, thresholds=t)]


# targets diagnose's evaluation scores: a loss interval of about +-0.02 nats, seconds on a CPU for small models
DIAGNOSE_EVAL_TOKENS = 65_536


def _evaluations(inputs: DiagnoseInputs, results: Sequence[CheckResult], t: Thresholds, say) -> list[CheckResult]:
    """The checkpoint run on the data (``tsdiag eval``): one checkpoint, or a weighted run against its standard one.

    Skipped when the tokenizer given is not the model's (TSD-TOK-VOCAB-MISMATCH already says so) or when
    several checkpoints leave open which one the data and log belong to.
    """
    from tsdiag import checks as registry
    from tsdiag.errors import InputError
    from tsdiag.evaluation.models import can_evaluate

    inspected = [r.facts for r in results if r.check == registry.checkpoint.NAME and r.error is None]
    if any(f.code == "TSD-TOK-VOCAB-MISMATCH" for r in results for f in r.findings):
        return []
    against = None
    if len(inspected) == 2 and len(inputs.runs) == 2:
        weighted = [i for i in inspected if _article_weight(i) > 1]
        if len(weighted) != 1:
            return []
        suspect = weighted[0]
        against = next(i for i in inspected if i is not suspect).path
    elif len(inspected) == 1:
        suspect = inspected[0]
    else:
        return []
    if not can_evaluate(suspect.architecture.family):
        return []  # a family tsdiag cannot run (or transformers missing): the other checks still speak
    context = suspect.architecture.get("max_seq_len")
    seq_len = min(inputs.seq_len, int(context)) if context else inputs.seq_len
    log = inputs.logs[0] if len(inputs.logs) == 1 and against is None else None
    say(f"evaluate {suspect.path} on the data")
    try:
        return [registry.eval_check.run(
            suspect.path, inputs.data, thresholds=t, tokenizer=inputs.tokenizer, layout=inputs.layout,
            seq_len=seq_len, dtype=inputs.dtype, log=log, against=against, max_tokens=DIAGNOSE_EVAL_TOKENS)]
    except InputError as exc:
        return [_unreadable(registry.eval_check.NAME, suspect.path, exc)]


def _article_weight(inspection) -> float:
    weight = inspection.hyperparameters.get("article_weight")
    return float(weight.value) if weight is not None and isinstance(weight.value, (int, float)) else 1.0


def diagnose(inputs: DiagnoseInputs, thresholds: Thresholds | None = None,
             progress: Callable[[str], None] | None = None,
             select: Sequence[str] = (), ignore: Sequence[str] = ()) -> Diagnosis:
    """Run every check the inputs allow and decide the matrix.

    An input a check cannot read becomes one "could not read" row, not the end of the diagnosis; when
    no input at all can be read, the first problem is raised (:class:`~tsdiag.errors.InputError`).
    ``select``/``ignore`` (finding codes or prefixes) filter the findings before the matrix is
    decided, so an ignored finding neither shows nor confirms a hypothesis.
    """
    from tsdiag import checks as registry
    from tsdiag.errors import InputError

    t = thresholds or Thresholds()
    say = progress or (lambda _msg: None)
    results: list[CheckResult] = []

    tokenizer = None
    if inputs.tokenizer is not None:
        from tsdiag.tokenizer import load_tokenizer

        try:
            tokenizer = load_tokenizer(inputs.tokenizer)
            results.append(registry.tokenizer.run(tokenizer, thresholds=t))
        except InputError as exc:
            results.append(_unreadable(registry.tokenizer.NAME, inputs.tokenizer, exc))
    bpt = _bytes_per_token(inputs, tokenizer)

    # (checkpoint, folder its H5 siblings come from): a --checkpoint next to --checkpoint-dir is compared
    # with that folder, the training's own checkpoints, wherever the file itself lies
    checkpoints = [(path, inputs.checkpoint_dir) for path in inputs.checkpoints]
    if inputs.checkpoint_dir is not None and not checkpoints:
        try:
            checkpoints.append((_newest_checkpoint(inputs.checkpoint_dir), None))
        except InputError as exc:
            results.append(_unreadable(registry.checkpoint.NAME, inputs.checkpoint_dir, exc))
    run_of: dict[Path, Path] = {}
    runs = []
    for run in inputs.runs:
        if not run.is_dir() or not ((run / "run.json").is_file() or (run / "metrics.csv").is_file()):
            results.append(_unreadable(registry.runs.NAME, run, InputError(
                run, "not a tsdiag run folder (no run.json or metrics.csv); pass a checkpoint with --checkpoint, "
                     "a log with --log")))
            continue
        runs.append(run)
        found = _run_checkpoint(run)
        if found is not None:
            checkpoints.append((found, None))
            run_of[found] = run

    vocab_of_run: dict[Path, tuple[int, str]] = {}
    vocabs: set[tuple[int, str]] = set()
    planned = []  # the max_iters each checkpoint records
    article_ids = (inputs.article_ids, "--article-ids") if inputs.article_ids else None
    for path, sibling_folder in checkpoints:
        say(f"inspect {path}")
        try:
            # several checkpoints: each evidence line says whose it is (runs/standard/ckpt.pt: val_loss)
            result = registry.checkpoint.run(
                path, thresholds=t, config=inputs.config, tokenizer=tokenizer, bytes_per_token=bpt,
                allow_unsafe_pickle=inputs.allow_unsafe_pickle, sibling_folder=sibling_folder,
                article_ids=inputs.article_ids, where=path.parent.name if len(checkpoints) > 1 else "")
        except InputError as exc:
            results.append(_unreadable(registry.checkpoint.NAME, path, exc))
            continue
        results.append(result)
        inspection = result.facts
        if inspection.architecture.vocab_size is not None:
            vocab = (int(inspection.architecture.vocab_size.value), inspection.architecture.vocab_size.source)
            vocabs.add(vocab)
            if path in run_of:
                vocab_of_run[run_of[path]] = vocab
        if "max_iters" in inspection.hyperparameters:
            planned.append(inspection.hyperparameters["max_iters"])
        if article_ids is None and inspection.article_ids is not None:
            article_ids = (inspection.article_ids.value, inspection.article_ids.source)
    if any(f.code == "TSD-TOK-VOCAB-MISMATCH" for r in results for f in r.findings):
        bpt = None  # the tokenizer given is not the model's: its bytes per token would mislead every per-byte figure
    # one vocabulary for the data and for logs of no run: --vocab-size, else the checkpoints' if they agree
    vocab_size, vocab_source = inputs.vocab_size, "--vocab-size"
    if vocab_size is None and len({v for v, _ in vocabs}) == 1:
        vocab_size, vocab_source = sorted(vocabs)[0]
    planned_steps = None
    if len({p.value for p in planned}) == 1:
        from tsdiag.logs.facts import Recorded

        p = planned[0]
        planned_steps = Recorded(p.value, f"checkpoint: {p.source}")

    if inputs.data:
        say(f"audit {len(inputs.data)} data file(s)")
        try:
            results.append(registry.data.run(
                inputs.data, thresholds=t, tokenizer=tokenizer, seq_len=inputs.seq_len, layout=inputs.layout,
                dtype=inputs.dtype, vocab_size=vocab_size if tokenizer is None else None,
                subject=", ".join(Path(p).name for p in inputs.data)))
        except InputError as exc:
            results.append(_unreadable(registry.data.NAME, ", ".join(map(str, inputs.data)), exc))

    if inputs.evaluate and inputs.data:
        results += _evaluations(inputs, results, t, say)

    logs = [(path, (vocab_size, vocab_source), None) for path in inputs.logs]
    logs += [(r / "metrics.csv", vocab_of_run.get(r, (None, "")), r) for r in runs if (r / "metrics.csv").is_file()]
    for path, (log_vocab, log_vocab_source), run in logs:
        from tsdiag.logs import parse_log
        from tsdiag.logs.facts import Recorded

        say(f"read log {path}")
        try:
            curve = parse_log(path)
            # an explicit --vocab-size beats the log's own statement, which beats its run's checkpoint
            if inputs.vocab_size is None and log_vocab is not None and "vocab_size" not in curve.settings:
                curve.settings["vocab_size"] = Recorded(log_vocab, log_vocab_source)
            result = registry.logs.run(
                path, thresholds=t, vocab_size=inputs.vocab_size, curve=curve, tokenizer=tokenizer,
                bytes_per_token=bpt, planned_steps=planned_steps if run is None else None,
                article_ids=article_ids if run is None else None)
        except InputError as exc:
            results.append(_unreadable(registry.logs.NAME, path, exc))
            continue
        results.append(result)
        if run is None:
            results += _cross_checks(results, result, t)

    if runs:
        try:
            results.append(registry.runs.run(runs, thresholds=t))
        except InputError as exc:
            results.append(_unreadable(registry.runs.NAME, ", ".join(map(str, runs)), exc))

    filtered: set[str] = set()
    for check in results:
        kept = select_findings(check.findings, select, ignore)
        filtered |= {f.hypothesis for f in check.findings if f not in kept and f.severity >= Severity.WARNING}
        check.findings = kept
    if results and all(r.error is not None for r in results):
        raise results[0].problem  # nothing could be read: there is no diagnosis to report
    units = bpt.to_dict() if bpt is not None else None
    return Diagnosis(inputs.describe(), results, decide(results, filtered), units)


# ------------------------------------------------------------------ report

_VERDICT_TEXT = {"confirmed": "CONFIRMED", "likely": "likely", "not_checked": "not checked", "ruled_out": "ruled out"}


def _first_sentence(text: str) -> str:
    """The summary's next action: a fix's first sentence (the matrix under --verbose has all of it)."""
    head, dot, rest = text.partition(". ")
    return head + "." if dot and rest else text


def summary_table(hypotheses: Sequence[HypothesisVerdict]) -> Table:
    """The one screen: each cause that is confirmed, likely or not checked with its strongest evidence line
    and next action; the ruled-out ones in one line below."""
    from tsdiag.report import Table

    rows = []
    for h in hypotheses:
        if h.verdict == "ruled_out":
            continue
        verdict = _VERDICT_TEXT[h.verdict] + (f" ({band(h.strength)} {h.strength:.2f})" if h.findings else "")
        if h.findings:
            top = h.evidence[0] if h.evidence else None
            cell = (f"{top}\n" if top is not None else "") + f"next: {_first_sentence(h.action)}"
        else:
            cell = h.action
        rows.append([str(h.rank), f"{h.code} {h.title}", verdict, cell])
    ruled_out = [f"{h.code} {h.title}" for h in hypotheses if h.verdict == "ruled_out"]
    note = f"ruled out (measured, nothing fired): {', '.join(ruled_out)}" if ruled_out else ""
    return Table("Ranked causes", ["#", "cause", "verdict", "strongest evidence and next action"],
                 rows or [["-", "every hypothesis", "ruled out", "nothing to do"]], note=note)


def diagnosis_report(diagnosis: Diagnosis):
    """The matrix as a :class:`tsdiag.report.Report` (JSON: ``inputs``, ``hypotheses``, ``checks``,
    ``checkpoints`` (the facts of each checkpoint read, as ``inspect --json`` gives them), ``unreadable``).

    Its summary is :func:`summary_table` (and the unreadable inputs); the matrix, the inputs, the checks
    and every finding are the detail."""
    from tsdiag.checkpoint.present import inspection_data
    from tsdiag.report import Report, Table

    inputs = Table("Inputs", ["input", "path"],
                   [[kind, "\n".join(paths)] for kind, paths in diagnosis.inputs.items()])
    matrix = Table(
        "Decision matrix",
        ["#", "hypothesis", "verdict", "strength", "evidence", "next action"],
        [[str(h.rank), f"{h.code} {h.title}", _VERDICT_TEXT[h.verdict],
          f"{h.strength:.2f} {band(h.strength)}" if h.findings else "-",
          "\n".join(e.brief() for e in h.evidence[:4]) or "-", _first_sentence(h.action)]
         for h in diagnosis.hypotheses],
        note=("verdicts: CONFIRMED (a strong error-level finding), likely (warnings or weaker errors), ruled out "
              "(a measurement that could have found it, nothing found), not checked (no input could decide it); "
              f"first: {diagnosis.hypotheses[0].why}" if diagnosis.hypotheses and diagnosis.hypotheses[0].findings
              else "verdicts: CONFIRMED (a strong error-level finding), likely (warnings or weaker errors), ruled "
                   "out (measured, nothing found), not checked (no input could decide it)"),
    )
    summary = [summary_table(diagnosis.hypotheses)]
    tables = [inputs, matrix]
    if diagnosis.unreadable:  # exit code 2: the first screen says why
        summary.append(Table("Inputs that could not be read", ["check", "input", "problem"],
                             [[c.check, c.subject, c.error] for c in diagnosis.unreadable]))
    checks = Table("Checks that ran", ["check", "subject", "findings"],
                   [[c.check, c.subject, ", ".join(f.code for f in c.findings) or "none"]
                    for c in diagnosis.checks if c.error is None])
    tables.append(checks)
    data = {
        "inputs": diagnosis.inputs,
        "hypotheses": [h.to_dict() for h in diagnosis.hypotheses],
        "checks": [c.to_dict() for c in diagnosis.checks if c.error is None],
        "checkpoints": [inspection_data(c.facts) for c in diagnosis.checks
                        if c.check == "checkpoint" and c.error is None],
        "unreadable": [{"check": c.check, "input": c.subject, "problem": c.error} for c in diagnosis.unreadable],
        "units": diagnosis.units,
    }
    if diagnosis.units is not None:
        u = diagnosis.units
        tables[0].rows.append(["bytes per token", f"{u['bytes_per_token']:.3g} ({u['source']}); losses judged in "
                                                  f"{u['unit']}"])
    return Report(command="diagnose", title="tsdiag diagnose", tables=tables,
                  findings=diagnosis.findings, data=data, summary=summary)


def diagnosis_plots(diagnosis: Diagnosis) -> list:
    """The figures of the inputs that were read, for ``--html``: each log's loss curve (with its lr
    schedule and detected points), the data's article rate and coverage, the runs side by side."""
    from tsdiag.compare import comparison_plots
    from tsdiag.data.present import audit_plot
    from tsdiag.logs import parse_log
    from tsdiag.logs.present import curve_plot

    plots = []
    for check in (c for c in diagnosis.checks if c.error is None):
        if check.check == "log":
            # the check keeps the curve's facts, not its points: read again, only when a page asks for it
            plots.append(curve_plot([parse_log(check.facts.path)], [check.facts]))
        elif check.check == "data":
            plots.append(audit_plot(check.facts))
        elif check.check == "runs" and len(check.facts) > 1:  # one run's curve is its log's
            plots += comparison_plots(check.facts)
        elif check.check == "eval":
            from tsdiag.evaluation.plots import article_slot_plot

            plots += [p for p in (article_slot_plot(check.facts),) if p is not None]
    return plots
