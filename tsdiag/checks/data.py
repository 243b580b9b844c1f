"""The data check (``tsdiag audit-data``): the shards as the trainer packs them."""

from __future__ import annotations

from typing import Callable, Sequence

from tsdiag.checks.interface import CheckResult
from tsdiag.findings import Evidence
from tsdiag.thresholds import Thresholds

NAME = "data"
COMMAND = "audit-data"


def run(shards: Sequence, *, thresholds: Thresholds, tokenizer=None, seq_len: int = 512, layout: str = "llama2c",
        dtype: str = "uint16", vocab_size: int | None = None, subject: str | None = None,
        progress: Callable | None = None, on_source: Callable | None = None, val: Sequence | None = None,
        **audit_options) -> CheckResult:
    """Audit ``shards`` and record what the audit measured per hypothesis.

    The val split (``val``, or llama2.c's / nanoGPT's convention) is compared with the training files
    story by story (:mod:`tsdiag.data.leaks`)."""
    from tsdiag.data.audit import audit_shards
    from tsdiag.data.leaks import resolve_splits, split_facts
    from tsdiag.data.rules import data_findings

    result = audit_shards(shards, tokenizer=tokenizer, seq_len=seq_len, layout=layout, dtype=dtype,
                          vocab_size=vocab_size, thresholds=thresholds, progress=progress, on_source=on_source,
                          **audit_options)
    splits = resolve_splits(shards, val, layout)
    if splits is not None:
        result.splits = split_facts(splits, tokenizer=tokenizer, layout=layout, seq_len=seq_len, dtype=dtype,
                                    min_story_tokens=thresholds.story_min_tokens,
                                    text_column=audit_options.get("text_column", "text"))
    return measured(result, data_findings(result, thresholds), thresholds, subject)


def measured(result, findings, t: Thresholds, subject: str | None = None) -> CheckResult:
    check = CheckResult(NAME, subject or "data", result, list(findings))
    articles = result.articles
    if articles is not None:
        evidence = [Evidence("article words per word", articles.word_rate, "", check.subject),
                    Evidence("sequences without an article", articles.zero_article_sequences,
                             f"of {result.sequences}", check.subject)]
        if result.reference is not None:
            evidence.append(Evidence("reference article words per word", result.reference.word_rate, "",
                                     result.reference.source))
        check.measure("H1", *evidence)
    if result.integrity.out_of_range_ids is not None:
        # an id-range check finds corrupt shards, not article-starved ones: H1 stays open without article counts
        check.measure("H1", Evidence("ids past the vocabulary", result.integrity.out_of_range_ids, "", check.subject),
                      conclusive=articles is not None, missing="--tokenizer (article counts per window)")
    coverage = result.coverage
    if (coverage.vocab_size
            and result.scanned_tokens >= t.coverage_min_tokens_per_row * coverage.vocab_size):
        k = t.vocab_reference
        share = coverage.top.get(k)
        if share is not None:
            check.measure("H4", Evidence(f"top-{k:,} coverage", share, "of tokens", check.subject),
                          Evidence("vocab_size", coverage.vocab_size, "tokens", coverage.vocab_source))
    return check
