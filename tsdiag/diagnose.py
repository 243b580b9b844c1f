"""The decision matrix: every piece of evidence → ranked hypotheses.

``diagnose`` runs each check its inputs allow (``inspect`` on checkpoints,
``audit-data`` on shards, ``logs`` on training logs, ``compare`` on run
folders), keeps every finding, and records what each check *measured* per
hypothesis — so a hypothesis with no finding can be called "ruled out" with
numbers rather than merely "not flagged".

Verdicts, per hypothesis:

* ``confirmed`` — at least one error-level finding speaks to it;
* ``likely`` — warning-level findings only;
* ``ruled_out`` — a check measured it and nothing at warning or above fired;
* ``not_checked`` — no input could measure it (the row names the input).

Ranking: confirmed, then likely, then not checked, then ruled out; within a
verdict, by how directly the cause acts on the symptom (broken data and the
wrong checkpoint first, a large vocabulary — a contributing factor — last),
then by the number of findings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Collection, Sequence

from tsdiag.findings import HYPOTHESES, Evidence, Finding, Severity, select_findings, sort_findings
from tsdiag.thresholds import Thresholds

VERDICTS = ("confirmed", "likely", "not_checked", "ruled_out")

# Causal priority among hypotheses with the same verdict: bad data or the
# wrong file explain everything downstream; a bad recipe explains a bad curve;
# a large vocabulary only slows learning (llama2.c's 15M model is fluent with 32K).
PRIORITY = ("H1", "H5", "H3", "W", "H2", "H4")

# What would let diagnose measure a hypothesis it could not.
NEEDS = {
    "H1": "--data with --tokenizer (the shards the model was trained on)",
    "H2": "--checkpoint (step, val loss) or --log (the loss curve)",
    "H3": "--checkpoint with its config, --config, or a --log that prints the lr",
    "H4": "--checkpoint (vocab size) or --data with --tokenizer (coverage)",
    "H5": "--checkpoint (weight health) inside its --checkpoint-dir, or --log",
    "W": "--run for the weighted run and a matched standard run, or a --log with article/other losses",
}


@dataclass
class Check:
    """One check that ran: what it looked at, what it found, what it measured per hypothesis."""

    name: str
    subject: str
    findings: list[Finding] = field(default_factory=list)
    measured: dict[str, list[Evidence]] = field(default_factory=dict)

    def measure(self, hypothesis: str, *evidence: Evidence) -> None:
        self.measured.setdefault(hypothesis, []).extend(evidence)


@dataclass
class HypothesisVerdict:
    code: str
    title: str
    verdict: str
    rank: int
    evidence: list[Evidence]
    action: str
    findings: list[Finding]

    def to_dict(self) -> dict:
        return {
            "code": self.code,
            "title": self.title,
            "verdict": self.verdict,
            "rank": self.rank,
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
    allow_unsafe_pickle: bool = False

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
    checks: list[Check]
    hypotheses: list[HypothesisVerdict]

    @property
    def findings(self) -> list[Finding]:
        return [f for c in self.checks for f in c.findings]


# ------------------------------------------------------------------ checks

def _sourced_evidence(name: str, sourced, unit: str = "", where: str = "") -> Evidence:
    """``where`` (the checkpoint's folder) goes before a source that names only the file: two runs'
    ckpt.pt must not read alike in the matrix."""
    return Evidence(name, sourced.value, unit, f"{where}/{sourced.source}" if where else sourced.source)


def check_checkpoint(inspection, where: str = "") -> Check:
    """What ``inspect`` measured, by hypothesis (``where`` prefixes the sources, see _sourced_evidence)."""
    name = f"{where}/{inspection.path.name}" if where else inspection.path.name
    check = Check("inspect", str(inspection.path), list(inspection.findings))
    training, hyper, arch = inspection.training, inspection.hyperparameters, inspection.architecture
    val = training.val_loss or training.best_val_loss
    if val is not None:
        check.measure("H2", _sourced_evidence("val loss", val, "nats/token", where))
    if training.step is not None and "max_iters" in hyper:
        check.measure("H2", _sourced_evidence("step", training.step, where=where),
                      _sourced_evidence("max_iters", hyper["max_iters"], where=where))
    for key in ("learning_rate", "min_lr", "lr_decay_iters", "warmup_iters"):
        if key in hyper:
            check.measure("H3", _sourced_evidence(key, hyper[key], where=where))
    if arch.vocab_size is not None:
        check.measure("H4", _sourced_evidence("vocab_size", arch.vocab_size, "tokens", where))
    health = inspection.health
    if health is not None and health.matrices_checked:
        check.measure("H5", Evidence("weight matrices at init", health.matrices_init,
                                     f"of {health.matrices_checked}", f"{name}: weight statistics"))
    if inspection.siblings:
        check.measure("H5", Evidence("other checkpoints in the folder", len(inspection.siblings), "",
                                     str(inspection.path.parent)))
    return check


def check_audit(result, findings: Sequence[Finding], subject: str, thresholds: Thresholds) -> Check:
    """What ``audit-data`` measured, by hypothesis."""
    check = Check("audit-data", subject, list(findings))
    articles = result.articles
    if articles is not None:
        check.measure("H1", Evidence("article words per word", articles.word_rate, "", subject),
                      Evidence("sequences without an article", articles.zero_article_sequences,
                               f"of {result.sequences}", subject))
        reference = result.reference
        if reference is not None:
            check.measure("H1", Evidence("reference article words per word", reference.word_rate, "",
                                         reference.source))
    if result.integrity.out_of_range_ids is not None:
        check.measure("H1", Evidence("ids past the vocabulary", result.integrity.out_of_range_ids, "", subject))
    coverage = result.coverage
    if (coverage.vocab_size
            and result.scanned_tokens >= thresholds.coverage_min_tokens_per_row * coverage.vocab_size):
        k = thresholds.vocab_reference
        share = coverage.top.get(k)
        if share is not None:
            check.measure("H4", Evidence(f"top-{k:,} coverage", share, "of tokens", subject),
                          Evidence("vocab_size", coverage.vocab_size, "tokens", coverage.vocab_source))
    return check


def check_curve(facts, findings: Sequence[Finding], training_log: bool = False) -> Check:
    """What ``logs`` measured, by hypothesis (a run's own training log says nothing about H5)."""
    name = Path(facts.path).name
    check = Check("logs", facts.path, list(findings))
    if facts.tail is not None:
        check.measure("H2", Evidence("loss at the end", facts.end_loss, "nats/token", f"{name}: step {facts.last.step}"),
                      Evidence("slope over the last window", facts.tail.slope_per_1k, "nats per 1k steps", name))
    if facts.diverged is not None:
        check.measure("H3", Evidence("loss spikes", len(facts.spikes), "", name),
                      Evidence("diverged", facts.diverged, "", name))
    if facts.lr is not None:
        check.measure("H3", Evidence("peak lr", facts.lr.peak.value, "", f"{name}: step {facts.lr.peak.step}"))
    if facts.vocab is not None and not training_log:
        check.measure("H5", Evidence("loss at the end / ln(vocab)", facts.end_loss / facts.vocab.ln_vocab, "",
                                     f"{name}; vocab {facts.vocab.size:,} ({facts.vocab.source})"))
    if facts.articles is not None:
        check.measure("W", Evidence("article/other loss ratio at the end", facts.articles.ratio.last.value, "",
                                    f"{name}: step {facts.articles.ratio.last.step}"))
    return check


def check_runs(summaries: Sequence, findings: Sequence[Finding]) -> Check:
    """What ``compare`` measured: the objective of each run and the weighted runs' ratios."""
    check = Check("compare", ", ".join(s.name for s in summaries), list(findings))
    for s in summaries:
        if s.objective == "weighted" and s.ratio is not None:
            check.measure("W", Evidence("article/other loss ratio", s.ratio, "", f"{s.name}: {s.ratio_source}"))
        elif s.objective == "standard":
            check.measure("W", Evidence("objective", "standard cross-entropy", "", f"{s.name}: run.json recipe"))
    return check


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


def decide(checks: Sequence[Check], filtered: Collection[str] = ()) -> list[HypothesisVerdict]:
    """Pure: verdict, evidence, action and rank for every hypothesis.

    ``filtered``: hypotheses whose findings --select/--ignore left out; without findings they read
    "not checked" rather than "ruled out" (nobody looked).
    """
    rows = []
    for code in HYPOTHESES:
        found = sort_findings(f for c in checks for f in c.findings
                              if f.hypothesis == code and f.severity >= Severity.WARNING)
        measured = _unique([e for c in checks for e in c.measured.get(code, [])])
        if found:
            verdict = "confirmed" if found[0].severity >= Severity.ERROR else "likely"
            evidence = [e for f in found[:3] for e in f.evidence[:2]]
            action = found[0].fix
        elif code in filtered:
            verdict, evidence, action = "not_checked", [], "its findings were left out by --select/--ignore"
        elif measured:
            verdict, evidence, action = "ruled_out", measured, "nothing to do"
        else:
            verdict, evidence, action = "not_checked", [], f"add {NEEDS[code]}"
        rows.append(HypothesisVerdict(code, HYPOTHESES[code], verdict, 0, evidence, action, found))
    rows.sort(key=lambda r: (VERDICTS.index(r.verdict), PRIORITY.index(r.code), -len(r.findings)))
    for rank, row in enumerate(rows, start=1):
        row.rank = rank
    return rows


# ------------------------------------------------------------------ gathering

def _inspect(path: Path, inputs: DiagnoseInputs, t: Thresholds, sibling_folder: Path | None = None):
    from tsdiag.checkpoint import inspect_checkpoint

    return inspect_checkpoint(path, config=inputs.config, thresholds=t,
                              allow_unsafe_pickle=inputs.allow_unsafe_pickle, sibling_folder=sibling_folder)


def _newest_checkpoint(folder: Path) -> Path:
    from tsdiag.checkpoint import inspect_directory
    from tsdiag.errors import InputError

    listing = inspect_directory(folder)
    newest = [e for e in listing.entries if e.newest]
    if not newest:
        raise InputError(folder, "no checkpoint found in this folder")
    return newest[0].path


def _run_checkpoint(run: Path) -> Path | None:
    for name in ("ckpt.pt", "model.safetensors"):
        if (run / name).is_file():
            return run / name
    return None


def _run_log_findings(run: Path, findings: list[Finding]) -> list[Finding]:
    """A run's own metrics.csv, read with what its run.json knows.

    At chance, its curve means nothing was learned yet (H2/H3), not a wrong checkpoint: the run's
    checkpoint is inspected for H5 directly.  A standard run's low article/other ratio is the order
    in which any model learns (articles are easy tokens), not the weighted objective's harm.
    """
    from tsdiag.train import runfolder

    dropped = {"TSD-H5-LOG-AT-CHANCE"}
    if (run / runfolder.RUN_FILE).is_file() and runfolder.read_run(run).get("objective") == "standard":
        dropped.add("TSD-W-LOG-RATIO")
    return [f for f in findings if f.code not in dropped]


def diagnose(inputs: DiagnoseInputs, thresholds: Thresholds | None = None,
             progress: Callable[[str], None] | None = None,
             select: Sequence[str] = (), ignore: Sequence[str] = ()) -> Diagnosis:
    """Run every check the inputs allow and decide the matrix.

    ``select``/``ignore`` (finding codes or prefixes) filter the findings before the matrix is
    decided, so an ignored finding neither shows nor confirms a hypothesis.
    """
    from tsdiag.errors import InputError

    t = thresholds or Thresholds()
    say = progress or (lambda _msg: None)
    checks: list[Check] = []

    # (checkpoint, folder its H5 siblings come from): a --checkpoint next to --checkpoint-dir is compared
    # with that folder, the training's own checkpoints, wherever the file itself lies
    checkpoints = [(path, inputs.checkpoint_dir) for path in inputs.checkpoints]
    if inputs.checkpoint_dir is not None and not checkpoints:
        checkpoints.append((_newest_checkpoint(inputs.checkpoint_dir), None))
    run_of: dict[Path, Path] = {}
    for run in inputs.runs:
        if not run.is_dir() or not ((run / "run.json").is_file() or (run / "metrics.csv").is_file()):
            raise InputError(run, "not a tsdiag run folder (no run.json or metrics.csv); "
                                  "pass a checkpoint with --checkpoint, a log with --log")
        found = _run_checkpoint(run)
        if found is not None:
            checkpoints.append((found, None))
            run_of[found] = run

    vocab_of_run: dict[Path, tuple[int, str]] = {}
    vocabs: set[tuple[int, str]] = set()
    for path, sibling_folder in checkpoints:
        say(f"inspect {path}")
        inspection = _inspect(path, inputs, t, sibling_folder)
        # several checkpoints: each evidence line says whose it is (runs/standard/ckpt.pt: val_loss)
        checks.append(check_checkpoint(inspection, path.parent.name if len(checkpoints) > 1 else ""))
        if inspection.architecture.vocab_size is not None:
            vocab = (int(inspection.architecture.vocab_size.value), inspection.architecture.vocab_size.source)
            vocabs.add(vocab)
            if path in run_of:
                vocab_of_run[run_of[path]] = vocab
    # one vocabulary for the data and for logs of no run: --vocab-size, else the checkpoints' if they agree
    vocab_size, vocab_source = inputs.vocab_size, "--vocab-size"
    if vocab_size is None and len({v for v, _ in vocabs}) == 1:
        vocab_size, vocab_source = sorted(vocabs)[0]

    if inputs.data:
        from tsdiag.data.audit import audit_shards
        from tsdiag.data.rules import data_findings
        from tsdiag.tokenizer import load_tokenizer

        say(f"audit {len(inputs.data)} data file(s)")
        tokenizer = load_tokenizer(inputs.tokenizer) if inputs.tokenizer else None
        result = audit_shards(inputs.data, tokenizer=tokenizer, seq_len=inputs.seq_len, layout=inputs.layout,
                              dtype=inputs.dtype, vocab_size=vocab_size if tokenizer is None else None,
                              thresholds=t)
        subject = ", ".join(p.name for p in inputs.data)
        checks.append(check_audit(result, data_findings(result, t), subject, t))

    logs = [(path, (vocab_size, vocab_source), None) for path in inputs.logs]
    logs += [(r / "metrics.csv", vocab_of_run.get(r, (None, "")), r) for r in inputs.runs if (r / "metrics.csv").is_file()]
    for path, (log_vocab, log_vocab_source), run in logs:
        from tsdiag.logs import analyze_curve, parse_log
        from tsdiag.logs.facts import Recorded

        say(f"read log {path}")
        curve = parse_log(path)
        # an explicit --vocab-size beats the log's own statement, which beats its run's checkpoint
        if inputs.vocab_size is None and log_vocab is not None and "vocab_size" not in curve.settings:
            curve.settings["vocab_size"] = Recorded(log_vocab, log_vocab_source)
        facts, findings = analyze_curve(curve, t, vocab_size=inputs.vocab_size)
        if run is not None:
            findings = _run_log_findings(run, findings)
        checks.append(check_curve(facts, findings, training_log=run is not None))

    if inputs.runs:
        from tsdiag.compare import read_summary
        from tsdiag.train_rules import compare_findings

        summaries = [read_summary(r) for r in inputs.runs]
        checks.append(check_runs(summaries, compare_findings(summaries, t)))

    filtered: set[str] = set()
    for check in checks:
        kept = select_findings(check.findings, select, ignore)
        filtered |= {f.hypothesis for f in check.findings if f not in kept and f.severity >= Severity.WARNING}
        check.findings = kept
    return Diagnosis(inputs.describe(), checks, decide(checks, filtered))


# ------------------------------------------------------------------ report

_VERDICT_TEXT = {"confirmed": "CONFIRMED", "likely": "likely", "not_checked": "not checked", "ruled_out": "ruled out"}


def diagnosis_report(diagnosis: Diagnosis):
    """The matrix as a :class:`tsdiag.report.Report` (JSON: ``inputs``, ``hypotheses``, ``checks``)."""
    from tsdiag.report import Report, Table

    inputs = Table("Inputs", ["input", "path"],
                   [[kind, "\n".join(paths)] for kind, paths in diagnosis.inputs.items()])
    matrix = Table(
        "Decision matrix",
        ["#", "hypothesis", "verdict", "evidence", "next action"],
        [[str(h.rank), f"{h.code} {h.title}", _VERDICT_TEXT[h.verdict],
          "\n".join(e.brief() for e in h.evidence[:4]) or "-", h.action]
         for h in diagnosis.hypotheses],
        note="verdicts: CONFIRMED (an error-level finding), likely (warnings), ruled out (measured, nothing "
             "found), not checked (no input could measure it); sources of the evidence: --json or the findings",
    )
    checks = Table("Checks that ran", ["check", "subject", "findings"],
                   [[c.name, c.subject, ", ".join(f.code for f in c.findings) or "none"] for c in diagnosis.checks])
    data = {
        "inputs": diagnosis.inputs,
        "hypotheses": [h.to_dict() for h in diagnosis.hypotheses],
        "checks": [{"name": c.name, "subject": c.subject, "findings": [f.code for f in c.findings]}
                   for c in diagnosis.checks],
    }
    return Report(command="diagnose", title="tsdiag diagnose", tables=[inputs, matrix, checks],
                  findings=diagnosis.findings, data=data)
