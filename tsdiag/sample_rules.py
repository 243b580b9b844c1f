"""Findings about generated text: the symptom itself, measured against real TinyStories."""

from __future__ import annotations

from tsdiag.findings import Evidence, Finding, Severity, define_rule, strength_past
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

SAMPLE_MANY_ARTICLES = define_rule(
    "TSD-SAMPLE-MANY-ARTICLES",
    "Generated stories use far more articles than real TinyStories text",
    Severity.WARNING,
    escalation="the rate is at least article_rate_high_strong_ratio x the reference",
    why="A model that learned little but word frequencies writes the commonest words again and again (\"the the "
        "to the\"); too many articles is as much a symptom as too few, and an article count that only looks "
        "for too few calls such text fine.",
    fix="Look at the samples: a repeated-word loop means the model is undertrained (see TSD-SAMPLE-REPETITIVE); "
        "run `tsdiag diagnose` with the checkpoint and its log.",
)
SAMPLE_REPETITIVE = define_rule(
    "TSD-SAMPLE-REPETITIVE",
    "Generated text repeats itself: degenerate output",
    Severity.WARNING,
    escalation="the repeated 4-gram share is at least sample_repeat_strong_share, the longest loop at least "
               "sample_loop_strong_words or its characters at least sample_loop_strong_chars",
    why="Real stories almost never repeat four words in a row within a page or loop on a phrase; a model that "
        "does is undertrained (a flat or collapsed distribution) or decoded greedily from a weak model. The "
        "article rate of such text says nothing about articles.",
    fix="Sample with temperature 0.8 and top-k to see whether the loop is greedy decoding's; if it stays, the "
        "model is undertrained: run `tsdiag diagnose` with the checkpoint and its log (H2, H3).",
)

# every rule this module defines
RULES = (SAMPLE_FEW_ARTICLES, SAMPLE_NO_ARTICLE, SAMPLE_MANY_ARTICLES, SAMPLE_REPETITIVE)


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
    rep = facts.repetition
    if rate is not None and comparable and rep.words >= t.sample_min_words \
            and rate >= t.article_rate_high_ratio * reference.value:
        ratio = rate / reference.value
        findings.append(SAMPLE_MANY_ARTICLES.finding(
            f"{100 * rate:.1f} articles per 100 words ({ratio:.1f}x the reference's {100 * reference.value:.1f})",
            [Evidence("article words", facts.article_words, f"of {facts.words:,} words", facts.checkpoint),
             Evidence("reference rate", reference.value, reference.unit, reference.source),
             Evidence("threshold article_rate_high_ratio", t.article_rate_high_ratio, "x reference", "thresholds")],
            severity=Severity.ERROR if ratio >= t.article_rate_high_strong_ratio else Severity.WARNING,
            strength=strength_past(ratio, t.article_rate_high_ratio, t.article_rate_high_strong_ratio),
            subject=facts.checkpoint))
    findings.extend(_repetitive(facts, rep, t))
    if facts.samples and facts.share_without_article > t.zero_article_share:
        findings.append(SAMPLE_NO_ARTICLE.finding(
            f"{facts.samples_without_article} of {len(facts.samples)} samples have no article",
            [Evidence("samples without an article", facts.samples_without_article, f"of {len(facts.samples)}",
                      facts.checkpoint),
             Evidence("threshold zero_article_share", t.zero_article_share, "share of samples", "thresholds")],
            subject=facts.checkpoint))
    return findings


def _repetitive(facts, rep, t: Thresholds) -> list[Finding]:
    """Repeated 4-grams or a long word loop in enough distinct text, or a long character loop (a char
    model's run of spaces has no words at all)."""
    share, loop, chars = rep.repeated_ngram_share or 0.0, rep.longest_loop_words, rep.longest_loop_chars
    enough = rep.words >= t.sample_min_words
    if not (enough and (share >= t.sample_repeat_share or loop >= t.sample_loop_words)) \
            and chars < t.sample_loop_chars:
        return []
    strength = max(strength_past(chars, t.sample_loop_chars, t.sample_loop_strong_chars),
                   strength_past(share, t.sample_repeat_share, t.sample_repeat_strong_share) if enough else 0.0,
                   strength_past(loop, t.sample_loop_words, t.sample_loop_strong_words) if enough else 0.0)
    strong = chars >= t.sample_loop_strong_chars or enough and (
        share >= t.sample_repeat_strong_share or loop >= t.sample_loop_strong_words)
    distinct = len(facts.distinct)
    evidence = [Evidence("repeated 4-gram share", round(share, 4), "of word 4-grams", facts.checkpoint)]
    if loop:
        evidence.append(Evidence("longest loop", loop, f"words of {rep.loop_unit!r}", f"sample {rep.loop_sample}"))
    evidence += [Evidence("longest character loop", chars, "characters", facts.checkpoint),
                 Evidence("words", rep.words, "in the distinct samples", facts.checkpoint),
                 Evidence("distinct samples", distinct, f"of {len(facts.samples)}", facts.checkpoint)]
    if rep.distinct_1 is not None:
        evidence += [Evidence("distinct-1", round(rep.distinct_1, 4), "distinct words / words", facts.checkpoint),
                     Evidence("distinct-2", round(rep.distinct_2 or 0.0, 4), "distinct word pairs / pairs",
                              facts.checkpoint)]
    evidence += [Evidence("threshold sample_repeat_share", t.sample_repeat_share, "of word 4-grams", "thresholds"),
                 Evidence("threshold sample_loop_words", t.sample_loop_words, "words", "thresholds"),
                 Evidence("threshold sample_loop_chars", t.sample_loop_chars, "characters", "thresholds")]
    message = (f"{100 * share:.0f}% of word 4-grams repeat within their sample; the longest loop is {loop} words"
               + (f" of {rep.loop_unit!r} (sample {rep.loop_sample})" if loop else "")
               + f", {chars} characters")
    return [SAMPLE_REPETITIVE.finding(message, evidence, severity=Severity.ERROR if strong else Severity.WARNING,
                                      strength=strength, subject=facts.checkpoint)]
