"""Findings about generated text: the symptom itself, measured against real TinyStories."""

from __future__ import annotations

from tsdiag.findings import Evidence, Finding, Severity, define_rule
from tsdiag.reference import TINYSTORIES_ARTICLE_LETTER_RUN_RATE
from tsdiag.thresholds import Thresholds

SAMPLE_FEW_ARTICLES = define_rule(
    "TSD-SAMPLE-FEW-ARTICLES",
    "Generated stories use far fewer articles than real TinyStories text",
    Severity.WARNING,
    escalation="the rate is under article_rate_low_ratio x the reference",
    why="This is the symptom (\"once upon time there was little girl\"); the rate says how far the model is from "
        "the data it imitates. It does not say why: run `tsdiag diagnose` with the checkpoint, data and log.",
    fix="Run `tsdiag diagnose` on this checkpoint, its data and its training log to find the cause.",
)
SAMPLE_NO_ARTICLE = define_rule(
    "TSD-SAMPLE-NO-ARTICLE",
    "Many generated stories contain no article at all",
    Severity.WARNING,
    why="Real TinyStories windows of a few hundred tokens almost never lack an article.",
    fix="Run `tsdiag diagnose` on this checkpoint, its data and its training log to find the cause.",
)

# every rule this module defines
RULES = (SAMPLE_FEW_ARTICLES, SAMPLE_NO_ARTICLE,)


def sample_findings(facts, t: Thresholds) -> list[Finding]:
    """Rate per word against the reference; share of samples with no article."""
    findings = []
    rate, reference = facts.rate, facts.reference
    # the built-in TinyStories figure counts a/an/the; a custom word set needs its own --reference-text
    comparable = reference is not TINYSTORIES_ARTICLE_LETTER_RUN_RATE or (
        {w.lower() for w in facts.article_words_set} == {"a", "an", "the"})
    if rate is not None and comparable and rate < t.article_rate_warn_ratio * reference.value:
        severity = Severity.ERROR if rate < t.article_rate_low_ratio * reference.value else Severity.WARNING
        findings.append(SAMPLE_FEW_ARTICLES.finding(
            f"{100 * rate:.1f} articles per 100 words in {len(facts.samples)} samples; the reference text has "
            f"{100 * reference.value:.1f} per 100 words",
            [Evidence("article words", facts.article_words, f"of {facts.words:,} words", facts.checkpoint),
             Evidence("reference rate", reference.value, reference.unit, reference.source),
             Evidence("threshold article_rate_warn_ratio", t.article_rate_warn_ratio, "x reference", "thresholds")],
            severity=severity, subject=facts.checkpoint))
    if facts.samples and facts.share_without_article > t.zero_article_share:
        findings.append(SAMPLE_NO_ARTICLE.finding(
            f"{facts.samples_without_article} of {len(facts.samples)} samples have no article",
            [Evidence("samples without an article", facts.samples_without_article, f"of {len(facts.samples)}",
                      facts.checkpoint),
             Evidence("threshold zero_article_share", t.zero_article_share, "share of samples", "thresholds")],
            subject=facts.checkpoint))
    return findings
