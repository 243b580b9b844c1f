"""Audit facts → reports (tables for people, a stable dict for ``--json``).

Nothing is computed here beyond formatting; the JSON keys are documented in
docs/audit-data.md.
"""

from __future__ import annotations

import math
from pathlib import Path

from tsdiag.findings import Finding, format_value
from tsdiag.report import Plot, Report, Table, key_value_table


def _num(x) -> float | None:
    """JSON number or null (NaN means "no data", which JSON spells null)."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def _pct(x) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.2f}%"


def audit_data_json(r) -> dict:
    """The ``audit-data`` JSON payload (schema 1)."""
    a, c, i = r.articles, r.coverage, r.integrity
    data: dict = {
        "tokens": r.tokens,
        "sequences": r.sequences,
        "seq_len": r.seq_len,
        "layout": r.layout,
        "sampled": r.sampled,
        "scanned_tokens": r.scanned_tokens,
        "tokenizer": None if r.tokenizer is None else {
            "path": r.tokenizer, "kind": r.tokenizer_kind,
            "round_trip": None if r.tokenizer_agreement is None else {
                "windows": r.tokenizer_agreement.windows, "unchanged": r.tokenizer_agreement.round_trips}},
        "sources": [
            {"path": s.path, "kind": s.kind, "dtype": s.dtype, "tokens": s.tokens, "bytes": s.file_bytes,
             "trailing_bytes": s.trailing_bytes, "sequences": s.sequences, "articles": _source_articles_json(s.articles)}
            for s in r.sources
        ],
        "articles": None,
        "reference": None,
        "coverage": {
            **{f"top_{k}": _num(v) for k, v in c.top.items()},
            "unused_vocab_rows": c.unused_vocab_rows,
            "vocab_size": c.vocab_size,
            "vocab_source": c.vocab_source,
            "distinct_ids": c.distinct_ids,
            "ids_for_99_percent": c.tokens_for_99,
        },
        "integrity": {
            "out_of_range_ids": i.out_of_range_ids,
            "out_of_range_first": None if i.out_of_range_first is None else dict(
                zip(("path", "offset", "id"), i.out_of_range_first)),
            "max_id": i.max_id,
            "odd_byte_files": len(i.odd_byte_files),
            "odd_byte_file_list": [{"path": p, "trailing_bytes": n} for p, n in i.odd_byte_files],
            "zero_runs": i.zero_runs.count,
            "zero_run_tokens": i.zero_runs.tokens,
            "zero_run_longest": i.zero_runs.longest,
            "zero_run_min": i.zero_run_min,
            "repeat_runs": i.repeat_runs.count,
            "repeat_run_tokens": i.repeat_runs.tokens,
            "repeat_run_longest": i.repeat_runs.longest,
            "repeat_run_min": i.repeat_run_min,
            "run_examples": [
                {"path": p, "offset": o, "length": n, "id": v}
                for p, o, n, v in (*i.zero_runs.examples, *i.repeat_runs.examples)
            ],
            "duplicate_sequences": i.duplicate_sequences,
            "duplicate_example": None if i.duplicate_example is None else [
                {"path": p, "offset": o} for p, o in i.duplicate_example],
        },
        "splits": None if r.splits is None else r.splits.to_dict(),
        "separators": None if r.separators is None else {
            "ids": list(r.separators.ids), "count": r.separators.count,
            "mean_story_tokens": _num(r.separators.mean_story_tokens),
        },
    }
    if a is not None:
        data["articles"] = {
            "words": list(a.words),
            "ids": list(a.ids),
            "word_count": a.word_count,
            "words_total": a.words_total,
            "word_rate": _num(a.word_rate),
            "article_tokens": a.article_tokens,
            "token_rate": _num(a.token_rate),
            "naive_tokens": a.naive_tokens,
            "naive_token_rate": _num(a.naive_token_rate),
            "per_sequence_mean": _num(a.per_sequence_mean),
            "per_sequence_p1": _num(a.per_sequence_p1),
            "per_sequence_p5": _num(a.per_sequence_p5),
            "per_sequence_p50": _num(a.per_sequence_p50),
            "per_sequence_p95": _num(a.per_sequence_p95),
            "zero_article_sequences": a.zero_article_sequences,
            "naive_per_sequence_mean": _num(a.naive_per_sequence_mean),
            "histogram": list(a.histogram),
            "pieces": [
                {"id": p.id, "piece": p.piece, "occurrences": p.occurrences, "in_article_word": p.in_article_word}
                for p in a.breakdown
            ],
        }
    if r.reference is not None:
        ref = r.reference
        data["reference"] = {"source": ref.source, "word_rate": _num(ref.word_rate), "token_rate": _num(ref.token_rate),
                             "per_sequence_p5": _num(ref.per_sequence_p5), "tokens": ref.tokens}
    return data


def _source_articles_json(sa) -> dict | None:
    if sa is None:
        return None
    return {"words": sa.words, "article_words": sa.article_words, "word_rate": _num(sa.word_rate),
            "scanned_tokens": sa.scanned_tokens, "article_tokens": sa.article_tokens,
            "token_rate": _num(sa.token_rate), "windows": sa.windows,
            "zero_article_windows": sa.zero_article_windows}


SOURCE_ROWS = 20  # inputs shown in the per-input table; beyond that, the ones with the fewest articles


def _sources_table(r) -> Table:
    """Article rate and empty windows per input, so the one shard that lost its articles stands out."""
    sources = list(r.sources)
    note = "words, tokens and windows count in the input they start in"
    if len(sources) > SOURCE_ROWS:
        sources = sorted(sources, key=lambda s: (math.isnan(s.articles.word_rate), s.articles.word_rate))[:SOURCE_ROWS]
        note = f"the {SOURCE_ROWS} of {len(r.sources)} inputs with the lowest article rate; " + note
    rows = [[s.path, format_value(s.tokens), _pct(s.articles.word_rate),
             f"{format_value(s.articles.zero_article_windows)} of {format_value(s.articles.windows)}"]
            for s in sources]
    return Table("Articles per input", ["input", "tokens", "article words / words", "windows without an article"],
                 rows, note=note)


def audit_data_report(r, findings: list[Finding]) -> Report:
    a, c, i = r.articles, r.coverage, r.integrity
    kinds = sorted({s.kind for s in r.sources})
    size = sum(s.file_bytes for s in r.sources)
    data_rows = [
        ("inputs", f"{len(r.sources)} ({', '.join(kinds)}), {format_value(size)} bytes"),
        ("tokens", format_value(r.tokens)),
        ("packing", f"{r.layout}, seq_len {r.seq_len}" + (" (sampled windows)" if r.sampled else "")),
        ("sequences", format_value(r.sequences)),
        ("tokenizer", f"{r.tokenizer} ({r.tokenizer_kind})" if r.tokenizer else "none (articles unknown)"),
    ]
    if r.tokenizer_agreement is not None:
        ag = r.tokenizer_agreement
        data_rows.append(("tokenizer fits", f"{ag.round_trips} of {ag.windows} sampled windows decode and re-encode "
                                            "to the same ids"))
    if r.separators is not None:
        sep = r.separators
        mean = "n/a" if sep.mean_story_tokens is None else f"{sep.mean_story_tokens:.1f} tokens per story"
        data_rows.append(("separators", f"{format_value(sep.count)} (ids {', '.join(map(str, sep.ids))}); {mean}"))
    tables = [key_value_table("Data", data_rows)]

    if a is not None:
        ref = r.reference
        ref_text = "none" if ref is None else f"{_pct(ref.word_rate)} of words ({ref.source})"
        rows = [
            ("article words", f"{format_value(a.word_count)} of {format_value(a.words_total)} words = {_pct(a.word_rate)}"),
            ("reference", ref_text),
            ("article tokens", f"{format_value(a.article_tokens)} of {format_value(a.scanned_tokens)} = {_pct(a.token_rate)}"),
            ("per sequence mean / p1 / p5 / p50 / p95",
             " / ".join(_pct(x) for x in (a.per_sequence_mean, a.per_sequence_p1, a.per_sequence_p5,
                                          a.per_sequence_p50, a.per_sequence_p95))),
            ("sequences without an article", f"{format_value(a.zero_article_sequences)} of {format_value(r.sequences)}"),
            ("naive (every article id)", f"{format_value(a.naive_tokens)} tokens, per sequence {_pct(a.naive_per_sequence_mean)}"
             + ("" if not a.word_count else f" = {a.naive_tokens / a.word_count:.2f}x the article words")),
        ]
        if ref is not None and ref.token_rate is not None:
            rows.insert(2, ("reference tokens", f"{_pct(ref.token_rate)} of tokens (same tokenizer)"))
        tables.append(key_value_table(
            f"Articles ({', '.join(a.words)}), word level", rows,
            note="per-sequence values: share of a window's tokens that belong to article words"))
        if len(r.sources) > 1:
            tables.append(_sources_table(r))
        used = [p for p in a.breakdown if p.occurrences]
        if used:
            tables.append(Table(
                "Article pieces", ["id", "piece", "occurrences", "in an article word"],
                [[str(p.id), repr(p.piece), format_value(p.occurrences), format_value(p.in_article_word)] for p in used]))

    cov_rows = [[f"top {format_value(k)}", _pct(v)] for k, v in c.top.items()]
    cov_rows.append(["ids for 99%", format_value(c.tokens_for_99)])
    cov_rows.append(["distinct ids", format_value(c.distinct_ids)])
    if c.unused_vocab_rows is not None:
        cov_rows.append(["unused vocabulary rows", f"{format_value(c.unused_vocab_rows)} of {format_value(c.vocab_size)}"])
    tables.append(Table("Coverage", ["", "share of tokens"], cov_rows, note=f"vocabulary: {c.vocab_source}"))

    oor = "unknown (no vocab size)" if i.out_of_range_ids is None else format_value(i.out_of_range_ids)
    integrity_rows = [
        ("ids past the vocabulary", oor),
        ("largest id", format_value(i.max_id)),
        ("files with leftover bytes", format_value(len(i.odd_byte_files))),
        (f"zero runs (>= {i.zero_run_min})", f"{format_value(i.zero_runs.count)} ({format_value(i.zero_runs.tokens)} tokens)"),
        (f"one-id runs (>= {i.repeat_run_min})", f"{format_value(i.repeat_runs.count)} ({format_value(i.repeat_runs.tokens)} tokens)"),
        ("duplicate sequences", format_value(i.duplicate_sequences)),
    ]
    tables.append(key_value_table("Integrity", integrity_rows))
    notes = []
    if r.splits is not None:
        tables.append(_splits_table(r.splits))
    else:
        notes.append("Train/val leaks not checked: pass --val (llama2.c's first shard and nanoGPT's val.bin are "
                     "found on their own).")
    if r.sampled:
        notes.append(f"Sampled {r.sequences:,} windows: coverage and integrity describe the sampled tokens only.")
    names = ", ".join(Path(s.path).name for s in r.sources[:3]) + (" …" if len(r.sources) > 3 else "")
    return Report(command="audit-data", title=f"audit-data: {names}", tables=tables, findings=findings,
                  data=audit_data_json(r), notes=notes)


def _splits_table(sp) -> Table:
    """Train vs val, story by story (tsdiag.data.leaks)."""
    rows = [("val files", f"{', '.join(Path(p).name for p in sp.splits.val)} ({sp.splits.how})"),
            ("training files", format_value(len(sp.splits.train))),
            (f"val windows of {sp.seq_len} in train", f"{format_value(sp.val_windows_in_train)} of "
                                                     f"{format_value(sp.val_windows)}")]
    if sp.skipped:
        rows.append(("stories", sp.skipped))
    else:
        rows += [("separator", f"id {sp.separator} ({sp.separator_source})"),
                 ("val stories in train", f"{format_value(sp.val_stories_in_train)} of {format_value(sp.val_stories)}"),
                 ("repeated training stories", f"{format_value(sp.train_repeats)} of {format_value(sp.train_stories)}")]
    return key_value_table("Train / val", rows, note=f"stories of at least {sp.min_story_tokens} tokens are hashed")


def audit_tokenizer_json(t) -> dict:
    return {
        "tokenizer": {"path": t.path, "kind": t.kind, "vocab_size": t.vocab_size, "bos_id": t.bos_id,
                      "eos_id": t.eos_id, "unk_id": t.unk_id, "byte_pieces": t.byte_pieces},
        "articles": {"words": list(t.words), "ids": list(t.article_ids), "pieces": list(t.article_pieces)},
        "glued_pieces": [{"id": g.id, "piece": g.piece} for g in t.glued_pieces],
        "text": {
            "source": t.text_source, "chars": t.text_chars, "bytes": t.text_bytes, "tokens": t.tokens,
            "bytes_per_token": _num(t.bytes_per_token), "round_trip_exact": t.round_trip_exact,
            "articles_in_text": t.articles_in_text, "articles_after_round_trip": t.articles_after_round_trip,
            "articles_in_tokens": t.articles_in_tokens, "naive_article_tokens": t.naive_article_tokens,
            "glued_tokens": t.glued_tokens, "byte_fallback_tokens": t.byte_fallback_tokens,
            "whitespace_byte_tokens": t.whitespace_byte_tokens,
            "unknown_tokens": t.unknown_tokens,
        },
    }


def audit_tokenizer_report(t, findings: list[Finding]) -> Report:
    ids = lambda x: "none" if x is None else str(x)  # noqa: E731
    vocab = key_value_table("Tokenizer", [
        ("file", f"{t.path} ({t.kind})"),
        ("vocabulary", format_value(t.vocab_size)),
        ("BOS / EOS / UNK", f"{ids(t.bos_id)} / {ids(t.eos_id)} / {ids(t.unk_id)}"),
        ("byte-fallback pieces", format_value(t.byte_pieces)),
        ("article pieces", ", ".join(f"{i}:{p!r}" for i, p in zip(t.article_ids, t.article_pieces)) or "none"),
        ("pieces gluing an article to a word", format_value(len(t.glued_pieces))),
    ])
    text = key_value_table(f"Text ({t.text_source})", [
        ("tokens", f"{format_value(t.tokens)} ({t.bytes_per_token:.2f} bytes per token)"),
        ("round trip", "exact" if t.round_trip_exact else "differs from the text"),
        ("articles: text / after round trip / in tokens",
         f"{t.articles_in_text:,} / {t.articles_after_round_trip:,} / {t.articles_in_tokens:,}"),
        ("naive article tokens", format_value(t.naive_article_tokens)),
        ("glued / byte-fallback (whitespace) / unknown tokens",
         f"{t.glued_tokens:,} / {t.byte_fallback_tokens:,} ({t.whitespace_byte_tokens:,}) / {t.unknown_tokens:,}"),
    ])
    tables = [vocab, text]
    if t.glued_pieces:
        tables.append(Table("Glued pieces", ["id", "piece"], [[str(g.id), repr(g.piece)] for g in t.glued_pieces[:20]],
                            note=f"{len(t.glued_pieces)} in all" if len(t.glued_pieces) > 20 else ""))
    return Report(command="audit-tokenizer", title=f"audit-tokenizer: {Path(t.path).name}", tables=tables,
                  findings=findings, data=audit_tokenizer_json(t))


def audit_plot(result) -> Plot:
    """Article rate per packed sequence and the vocabulary coverage curve, for ``--html``."""
    from tsdiag.data.plots import write_plot

    names = ", ".join(Path(s.path).name for s in result.sources[:3]) + (" …" if len(result.sources) > 3 else "")
    return Plot(f"article rate per packed sequence and vocabulary coverage: {names}",
                lambda target: write_plot(result, target))
