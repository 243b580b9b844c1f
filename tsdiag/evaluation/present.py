"""The evaluation as report tables (the JSON is :meth:`EvalFacts.to_dict`, keys in docs/eval.md)."""

from __future__ import annotations

from tsdiag.evaluation.facts import EvalFacts, TextScore


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _nats(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def eval_report(facts: EvalFacts, findings):
    from tsdiag.report import Report, Table
    from tsdiag.units import bits_per_byte

    loss = facts.data_score.loss
    bpt = facts.bytes_per_token
    summary = [
        ["checkpoint", f"{facts.checkpoint} ({facts.family})"],
        ["data", "\n".join(facts.data)],
        ["windows", f"{facts.plan.windows:,} of {facts.plan.available:,} ({facts.layout}, seq_len {facts.seq_len}, "
                    f"{facts.plan.targets_per_window} targets each)"],
        ["loss", f"{loss.nats:.4f} nats/token (95% interval {loss.low:.4f}-{loss.high:.4f} over windows)"],
    ]
    if bpt is not None:
        summary.append([bpt.unit.replace("bits/", "bits per "), f"{bits_per_byte(loss.nats, bpt):.4f} "
                        f"({bpt.value:.3g} {'chars' if bpt.per_character else 'bytes'}/token, {bpt.source})"])
    summary.append(["unigram entropy", f"{facts.data_score.unigram_entropy:.4f} nats/token (the best context-free "
                                       f"model of these targets)"])
    for r in facts.recorded:
        summary.append([f"recorded ({r.kind})", f"{r.value:.4f} nats/token {r.split} loss ({r.source}); evaluated "
                                                f"minus recorded {loss.nats - r.value:+.4f}"])
    summary.append(["ran on", f"{facts.device}, {facts.precision}, {facts.seconds:.1f} s"])
    tables = [Table("Evaluation", ["", ""], summary), _articles_table(facts), _probes_table(facts)]
    return Report("eval", f"tsdiag eval {facts.checkpoint}", tables, findings, facts.to_dict())


def _score_columns(facts: EvalFacts) -> list[tuple[str, TextScore]]:
    columns = [(f"{name}", score) for name, score in facts.scores.items()]
    if facts.against is not None:
        columns += [(f"against: {name}", score) for name, score in facts.against.scores.items()]
    return columns


def _articles_table(facts: EvalFacts):
    from tsdiag.report import Table

    columns = _score_columns(facts)
    rows = [
        ("loss", lambda s: _nats(s.loss.nats)),
        ("loss on article targets", lambda s: _nats(s.articles.article_loss if s.articles else None)),
        ("loss on other targets", lambda s: _nats(s.articles.other_loss if s.articles else None)),
        ("article slots", lambda s: f"{s.articles.slots:,}" if s.articles else "-"),
        ("articles' share of targets", lambda s: _pct(s.articles.article_share if s.articles else None)),
        ("P(article) at a slot", lambda s: _pct(s.articles.slot_probability if s.articles else None)),
        ("top-1 is an article", lambda s: _pct(s.articles.slot_top1_article if s.articles else None)),
        ("top-1 skips the article", lambda s: _pct(s.articles.slot_skips if s.articles else None)),
    ]
    note = ("an article slot is a target that is a whole one-token article word; 'skips' means the top-1 guess "
            "there is the word after the article ('there was little girl'); reference: tsdiag's bundled stories")
    return Table("Articles", ["", *(name for name, _ in columns)],
                 [[label, *(cell(score) for _, score in columns)] for label, cell in rows], note=note)


def _probes_table(facts: EvalFacts):
    from tsdiag.report import Table

    rows = []
    for name, probe in facts.probes.items():
        if not probe.ran:
            rows.append([name, "not run", probe.note])
            continue
        values = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in probe.values.items())
        rows.append([name, values, probe.note])
    return Table("Probes", ["probe", "measured", "meaning"], rows)
