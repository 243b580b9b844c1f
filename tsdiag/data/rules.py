"""Rules for token data (H1), vocabulary use (H4), shard files (DATA) and tokenizers (TOK).

Pure functions over the facts of :mod:`tsdiag.data.audit` and
:mod:`tsdiag.data.tokenizer_audit`; every threshold comes from a
:class:`tsdiag.thresholds.Thresholds`.  ``TSD-H4-VOCAB`` (the checkpoint's
vocabulary size) belongs to the checkpoint rules; the H4 rules here speak
about what the *data* uses of a vocabulary.
"""

from __future__ import annotations

import math
from pathlib import Path

from tsdiag.findings import Evidence, Finding, Severity, define_rule, strength_past
from tsdiag.thresholds import Thresholds

ARTICLE_RATE = define_rule(
    "TSD-H1-ARTICLE-RATE", "Packed sequences hold far fewer articles than real text", Severity.WARNING,
    escalation="the rate is under article_rate_low_ratio x the reference, or shards are far below the others",
    why="A model learns articles from the sequences it is trained on; if the packed data has lost them "
        "(a filter, a broken tokenizer, a text-cleaning step), no amount of training brings them back.",
    fix="Find the step that drops articles: decode a few training windows with the tokenizer and compare them "
        "with the raw stories; re-run the pretokenization from the raw text.",
    hypothesis="H1")
ZERO_ARTICLE = define_rule(
    "TSD-H1-ZERO-ARTICLE", "Many training windows contain no article at all", Severity.WARNING,
    why="Real TinyStories windows of a few hundred tokens almost always contain 'a', 'an' or 'the'; many "
        "windows without one point at non-story content, padding or damaged data.",
    fix="Decode the windows without articles (tsdiag audit-data --json lists the counts) and remove what is "
        "not story text.",
    hypothesis="H1")
OUT_OF_RANGE = define_rule(
    "TSD-H1-OUT-OF-RANGE", "Token ids at or past the vocabulary size", Severity.ERROR,
    why="An id the embedding has no row for crashes training or, with a bigger embedding, trains rows that "
        "decode to nothing; it usually means the shards were made with another tokenizer or read with the "
        "wrong dtype.",
    fix="Re-tokenize the data with the tokenizer the model uses, or read the shards with the dtype they were "
        "written in.",
    hypothesis="H1")
ZERO_RUNS = define_rule(
    "TSD-H1-ZERO-RUNS", "Zero-filled regions in the token data", Severity.ERROR,
    why="Long runs of id 0 are pre-allocated space that was never written (an interrupted pretokenize job, "
        "a memmap of the wrong size); the model learns to predict id 0.",
    fix="Regenerate the affected shards from the raw text and check their sizes against the token counts.",
    hypothesis="H1")
REPEAT_RUNS = define_rule(
    "TSD-H1-REPEAT-RUNS", "Long runs of one repeated token id", Severity.WARNING,
    why="Hundreds of copies of one token are not text; the model wastes steps on them and may learn to "
        "repeat itself.",
    fix="Look at the reported offsets, find what produced the run (padding, a broken record) and drop it.",
    hypothesis="H1")
TOKENIZER_MISMATCH = define_rule(
    "TSD-H1-TOKENIZER-MISMATCH", "The shards were not made with this tokenizer", Severity.ERROR,
    why="Ids made by a tokenizer come back unchanged when decoded and encoded again; ids made by another "
        "tokenizer decode into other text. Then every per-word figure of the audit (articles included) is "
        "meaningless, and a model trained on them with this tokenizer learns text no one wrote.",
    fix="Audit with the tokenizer that made the shards (-t), or re-tokenize the text with the one the model uses.",
    hypothesis="H1")
DUPLICATES = define_rule(
    "TSD-H1-DUPLICATES", "Identical training windows", Severity.WARNING,
    why="Exact duplicate windows mean data was written twice or a cache is stale; the model sees less "
        "distinct text than the token count suggests.",
    fix="Deduplicate the shards (or regenerate them once) and check that every shard is listed only once.",
    hypothesis="H1")
NO_SEPARATORS = define_rule(
    "TSD-H1-NO-SEPARATORS", "Stories are not separated by BOS/EOS tokens", Severity.WARNING,
    why="Without a separator the model cannot tell where a story starts; llama2.c puts a BOS before every "
        "story and generation starts from it.",
    fix="Re-tokenize with a BOS (llama2.c) or EOS (nanoGPT/GPT-2) token around every story.",
    hypothesis="H1")
NAIVE_COUNT = define_rule(
    "TSD-TOK-NAIVE-COUNT", "Counting article token ids overstates the articles", Severity.INFO,
    why="Pieces such as '▁a' or '▁an' also start other words ('▁a'+'way', '▁an'+'imal'); counting ids "
        "instead of words inflates article statistics and the weight an id-based loss gives them.",
    fix="Compare article rates at word level (tsdiag audit-data reports both) and weight a loss by the "
        "word-level article mask (tsdiag.tokenizer.article_token_mask) rather than by ids.")
ODD_SIZE = define_rule(
    "TSD-DATA-ODD-SIZE", "Shard size is not a whole number of tokens", Severity.ERROR,
    why="A flat token file holds a whole number of ids; leftover bytes mean a truncated write or the wrong "
        "dtype, and every id after the damage may be shifted.",
    fix="Regenerate the shard, or read it with the dtype it was written in (--dtype).",
    hypothesis="H1")
DTYPE = define_rule(
    "TSD-DATA-DTYPE", "Shards look like they are read with the wrong dtype", Severity.ERROR,
    why="uint32 ids read as uint16 interleave every id with a 0; uint16 ids read as uint32 become huge "
        "numbers. Either way every statistic (and training) is about noise.",
    fix="Read the shards with the dtype they were written in: --dtype uint32 (or uint16).",
    hypothesis="H1")
SHORT = define_rule(
    "TSD-DATA-SHORT", "Shards too short for even one training window", Severity.WARNING,
    why="A trainer skips a shard shorter than seq_len + 1 tokens; its text never reaches the model.",
    fix="Merge small shards, or lower --seq-len to the length the trainer really uses.",
    hypothesis="H1")
COVERAGE = define_rule(
    "TSD-H4-COVERAGE", "A much smaller vocabulary would cover the data", Severity.WARNING,
    why="When the most frequent ids cover almost every token, the other embedding rows are parameters the "
        "model pays for and rarely trains; a small model learns faster with a smaller vocabulary "
        "(a contributing factor, not a cause of missing articles).",
    fix="Remap the data to its top-K ids (tsdiag topk SHARDS --k 10000) or retrain a K-piece tokenizer "
        "(tsdiag train-tokenizer).",
    hypothesis="H4")
UNUSED_ROWS = define_rule(
    "TSD-H4-UNUSED-ROWS", "Most vocabulary rows never occur in the data", Severity.INFO,
    why="Embedding rows of ids that never occur stay at their initial values and only take probability "
        "mass away from real tokens.",
    fix="Use a vocabulary fitted to the data (tsdiag topk or tsdiag train-tokenizer).",
    hypothesis="H4")
GLUED = define_rule(
    "TSD-TOK-GLUED", "Tokenizer pieces glue an article to another word", Severity.WARNING,
    why="A piece like '▁a▁little' makes the article part of a longer token: the model can never predict "
        "the article on its own, and article statistics per token go wrong.",
    fix="Retrain the tokenizer with whitespace splitting (sentencepiece defaults; tsdiag train-tokenizer), "
        "or remove the glued pieces from the vocabulary.")
ROUND_TRIP = define_rule(
    "TSD-TOK-ROUND-TRIP", "Encoding and decoding loses articles", Severity.ERROR,
    why="If decode(encode(text)) has fewer articles than the text, the training data cannot contain them.",
    fix="Check the tokenizer's normalization rules and vocabulary; re-tokenize with a tokenizer whose "
        "round trip keeps the text.",
    hypothesis="H1")
BYTE_FALLBACK = define_rule(
    "TSD-TOK-BYTE-FALLBACK", "The text falls back to bytes or the unknown token often", Severity.WARNING,
    why="Bytes and <unk> carry no word identity; a vocabulary that misses the text makes learning harder. "
        "Whitespace bytes (a newline spelled <0x0A>, as Llama 2's tokenizer always does) are not counted.",
    fix="Use a tokenizer trained on text like the training data (tsdiag train-tokenizer); if it already is, "
        "raise its vocabulary size or character coverage.")

# every rule this module defines
VAL_LEAK = define_rule(
    "TSD-H1-VAL-LEAK", "Validation stories also occur in the training data", Severity.WARNING,
    hypothesis="H1",
    escalation="the leaked share is at least val_leak_strong_share",
    why="A val split that holds training stories measures memory: its loss looks better than the model is, and "
        "the best-val checkpoint, early stopping and every comparison made from it are decided by memory.",
    fix="Split by story before tokenizing (llama2.c: a separate first shard; nanoGPT: val.bin from text not in "
        "train.bin) and drop val stories from train; then retrain or at least re-evaluate on clean val data.",
)
DUPLICATE_STORIES = define_rule(
    "TSD-H1-DUPLICATE-STORIES", "Whole training stories repeat", Severity.WARNING, hypothesis="H1",
    why="Stories repeated wherever they sit (not only in aligned windows) are trained on several times per "
        "epoch: the model memorises them and the data is smaller than its size says.",
    fix="Deduplicate the stories before tokenizing (the data was probably written twice or concatenated with a "
        "copy of itself).",
)

RULES = (ARTICLE_RATE, ZERO_ARTICLE, OUT_OF_RANGE, ZERO_RUNS, REPEAT_RUNS, TOKENIZER_MISMATCH, DUPLICATES,
    NO_SEPARATORS, NAIVE_COUNT, ODD_SIZE, DTYPE, SHORT, COVERAGE, UNUSED_ROWS, GLUED, ROUND_TRIP, BYTE_FALLBACK,
    VAL_LEAK, DUPLICATE_STORIES)


def _pct(x: float) -> float:
    return round(100 * x, 3)


NAMED_SOURCES = 5  # inputs named in a message and its evidence; the JSON report lists every one


def _judged_sources(result) -> list:
    """The inputs whose own article rate can be compared: several inputs, and training windows start in them.

    An input no window starts in trains nothing (``TSD-DATA-SHORT`` reports it).
    """
    if len(result.sources) < 2:
        return []
    return [s for s in result.sources if s.articles is not None and s.articles.windows and s.articles.words]


def _rate(sources) -> float:
    words = sum(s.articles.words for s in sources)
    return sum(s.articles.article_words for s in sources) / words if words else math.nan


def low_article_sources(result, t: Thresholds) -> list:
    """Inputs far below the others in article words / words, lowest first.

    An input is far below when its rate is under ``article_rate_low_ratio`` x
    the reference rate, or x the pooled rate of the other inputs.  When every
    input is under the reference the data set as a whole lost its articles
    (the pooled comparison says so) and the reference alone names none.
    """
    judged = _judged_sources(result)
    if len(judged) < 2:
        return []
    ref = result.reference.word_rate if result.reference is not None and result.reference.word_rate > 0 else None
    below_ref = [ref is not None and s.articles.word_rate < t.article_rate_low_ratio * ref for s in judged]
    if all(below_ref):
        below_ref = [False] * len(judged)
    low = [s for i, s in enumerate(judged) if s.articles.words >= t.article_source_min_words and (
           below_ref[i] or s.articles.word_rate < t.article_rate_low_ratio * _rate(judged[:i] + judged[i + 1:]))]
    return sorted(low, key=lambda s: s.articles.word_rate)


def _names(result) -> dict[str, str]:
    """A short name per input path: the file name, or the whole path where two inputs share a name."""
    names = [Path(s.path).name for s in result.sources]
    return {s.path: name if names.count(name) == 1 else s.path for s, name in zip(result.sources, names)}


def _listed(names: list[str]) -> str:
    more = len(names) - NAMED_SOURCES
    return ", ".join(names[:NAMED_SOURCES]) + (f" and {more} more" if more > 0 else "")


def _others(result, low) -> list:
    return [s for s in _judged_sources(result) if all(s is not o for o in low)]


def _low_source_evidence(result, low, t: Thresholds) -> list[Evidence]:
    name, rest = _names(result), _others(result, low)
    evidence = [Evidence(f"article words / words, {name[s.path]}", _pct(s.articles.word_rate), "%",
                         f"{s.path}: {s.articles.article_words:,} of {s.articles.words:,} words")
                for s in low[:NAMED_SOURCES]]
    if rest:
        evidence.append(Evidence("article words / words, the other inputs", _pct(_rate(rest)), "%",
                                 f"{len(rest)} input(s), {sum(s.articles.words for s in rest):,} words"))
    evidence.append(Evidence("threshold", t.article_rate_low_ratio, "x reference or x the other inputs",
                             "article_rate_low_ratio"))
    return evidence


def _low_source_text(result, low) -> str:
    """Which shards lost their articles, for a finding's message."""
    name, rest = _names(result), _others(result, low)
    others = f" vs {_pct(_rate(rest)):.2f}% in the others" if rest else ""
    if len(low) == 1:
        s = low[0]
        return (f"{name[s.path]} is far below the other shards: {_pct(s.articles.word_rate):.2f}% of its words are "
                f"articles{others}")
    shown = _listed([f"{name[s.path]} {_pct(s.articles.word_rate):.2f}%" for s in low])
    return f"{len(low)} shards are far below the others in article words / words: {shown}{others}"


def _low_source_fix(result, low) -> str:
    name = _names(result)
    return (f"Re-run the pretokenization of {_listed([name[s.path] for s in low])} from the raw stories, the way the "
            f"other shards were made; decode a few windows of {name[low[0].path]} to find the step that dropped "
            "the articles.")


def article_findings(result, t: Thresholds) -> list[Finding]:
    a, ref = result.articles, result.reference
    if a is None:
        return []
    out = []
    low = low_article_sources(result, t)
    pooled = None
    if ref is not None and a.words_total and ref.word_rate > 0 and not math.isnan(a.word_rate):
        ratio = a.word_rate / ref.word_rate
        if ratio < t.article_rate_warn_ratio:
            severity = Severity.ERROR if ratio < t.article_rate_low_ratio or low else Severity.WARNING
            evidence = [
                Evidence("article words / words", _pct(a.word_rate), "%",
                         f"{a.word_count:,} of {a.words_total:,} words in the shards"),
                Evidence("reference article words / words", _pct(ref.word_rate), "%", ref.source),
                Evidence("ratio", round(ratio, 3), "x reference",
                         f"threshold {t.article_rate_low_ratio} (error) / {t.article_rate_warn_ratio} (warning)"),
                Evidence("article tokens per sequence, mean", _pct(a.per_sequence_mean), "%",
                         f"{result.sequences:,} windows of {result.seq_len} tokens"),
            ]
            if ref.token_rate is not None:
                evidence.append(Evidence("reference article tokens / tokens", _pct(ref.token_rate), "%", ref.source))
            message = (f"the data has {ratio:.2f}x the article rate of real text "
                       f"({_pct(a.word_rate):.2f}% of words vs {_pct(ref.word_rate):.2f}%)")
            if low:
                message += "; " + _low_source_text(result, low)
                evidence += _low_source_evidence(result, low, t)
            strength = 1.0 if low else strength_past(ratio, t.article_rate_warn_ratio, t.article_rate_low_ratio)
            pooled = ARTICLE_RATE.finding(message, evidence, severity=severity, strength=strength,
                                          fix=_low_source_fix(result, low) if low else None)
    if pooled is not None:
        out.append(pooled)
    elif low:  # the pooled rate hides them: one bad shard among many moves it little
        evidence = _low_source_evidence(result, low, t)
        if ref is not None:
            evidence.append(Evidence("reference article words / words", _pct(ref.word_rate), "%", ref.source))
        out.append(ARTICLE_RATE.finding(_low_source_text(result, low), evidence, severity=Severity.ERROR,
                                        fix=_low_source_fix(result, low)))
    out += _zero_article_findings(result, low, t)
    if a.word_count and a.naive_tokens / a.word_count >= t.naive_article_overcount:
        out.append(NAIVE_COUNT.finding(
            f"counting article ids gives {a.naive_tokens / a.word_count:.2f}x the article words "
            f"({a.naive_tokens:,} tokens vs {a.word_count:,} words)",
            [Evidence("naive article tokens", a.naive_tokens, "", f"ids {', '.join(map(str, a.ids[:8]))}"),
             Evidence("article words", a.word_count, "", "word-level scan of the token stream"),
             Evidence("naive per sequence, mean", _pct(a.naive_per_sequence_mean), "%",
                      f"vs word-level {_pct(a.per_sequence_mean)}%")]))
    return out


def _zero_article_limit(result, t: Thresholds) -> tuple[float, float | None, float]:
    """The share of article-less windows real text would show at this window length, and the limit above it.

    Short windows hold few words: 30 words of real TinyStories text (9.5% articles) lack an article about
    5% of the time if articles fell independently, and more because they cluster in sentences. The
    limit is the larger of ``zero_article_share`` and ``zero_article_expected_factor`` x that share.
    """
    a = result.articles
    reference = result.reference.word_rate if result.reference is not None else None
    if not reference or not a.scanned_tokens or not a.words_total:
        return t.zero_article_share, None, 0.0
    words = a.words_total / a.scanned_tokens * result.seq_len
    expected = (1.0 - reference) ** words
    return max(t.zero_article_share, t.zero_article_expected_factor * expected), expected, words


def _zero_article_findings(result, low, t: Thresholds) -> list[Finding]:
    """TSD-H1-ZERO-ARTICLE over all windows, naming the inputs far below the others whose windows lack articles."""
    a = result.articles
    if not result.sequences:
        return []
    share = a.zero_article_sequences / result.sequences
    limit, expected, words = _zero_article_limit(result, t)
    empty = sorted((s for s in low if s.articles.zero_article_share > limit),
                   key=lambda s: -s.articles.zero_article_share)
    if share <= limit and not empty:
        return []
    name = _names(result)
    evidence = [Evidence("windows without an article", a.zero_article_sequences, "",
                         f"{result.layout} packing, seq_len {result.seq_len}"),
                Evidence("share", _pct(share), "%", f"threshold {_pct(limit):.3g}%")]
    if expected is not None:
        evidence.append(Evidence("expected in real text", _pct(expected), "%",
                                 f"(1 - reference rate)^{words:.0f} words per window, x{t.zero_article_expected_factor:g} "
                                 "allowed for clustering"))
    evidence += [Evidence(f"windows without an article, {name[s.path]}", s.articles.zero_article_windows, "",
                          f"{s.path}: {_pct(s.articles.zero_article_share):.1f}% of the {s.articles.windows:,} windows "
                          "starting there")
                 for s in empty[:NAMED_SOURCES]]
    overall = f"{a.zero_article_sequences:,} of {result.sequences:,} windows ({_pct(share):.1f}%)"
    shown = _listed([f"{name[s.path]} {s.articles.zero_article_windows:,} of {s.articles.windows:,}" for s in empty])
    if share <= limit:  # only the shards far below the others
        message = f"windows without an article in the shard(s) far below the others in articles: {shown} " \
                  f"({overall} in all)"
    else:
        message = f"{overall} have no article" + (f"; in the shard(s) far below the others in articles: {shown}"
                                                  if empty else "")
    return [ZERO_ARTICLE.finding(message, evidence)]


def _out_of_range_fix(result) -> str:
    """The advice that fits these shards: a dtype change only helps 16-bit reads, negative ids are markers."""
    first = result.integrity.out_of_range_first
    if first is not None and first[2] < 0:
        return ("Negative ids are padding or ignore-index markers (-1, -100), not tokens: drop them when packing, "
                "or audit the token array rather than the labels.")
    fix = "Re-tokenize the data with the tokenizer the model uses (or pass that tokenizer with -t)"
    if any(s.dtype == "uint16" for s in result.sources):
        fix += "; if the shards were written as 32-bit ids, read them with --dtype uint32"
    return fix + "."


def integrity_findings(result, t: Thresholds) -> list[Finding]:
    i = result.integrity
    out = []
    if i.out_of_range_ids:
        where = ""
        evidence = [Evidence("ids < 0 or >= vocab size", i.out_of_range_ids, "tokens", result.coverage.vocab_source),
                    Evidence("vocab size", result.coverage.vocab_size, "", result.coverage.vocab_source),
                    Evidence("largest id", i.max_id, "", "token histogram")]
        if i.out_of_range_first is not None:
            path, offset, value = i.out_of_range_first
            where = f"; first: id {value:,} at token {offset:,} of {Path(path).name}"
            evidence.append(Evidence("first out-of-range id", value, "", f"{path}: token {offset:,}"))
        out.append(OUT_OF_RANGE.finding(f"{i.out_of_range_ids:,} tokens have ids outside the vocabulary{where}",
                                        evidence, fix=_out_of_range_fix(result)))
    if i.zero_runs.count:
        out.append(ZERO_RUNS.finding(
            f"{i.zero_runs.count:,} runs of id 0 ({i.zero_runs.tokens:,} tokens, longest {i.zero_runs.longest:,})",
            _run_evidence(i.zero_runs, i.zero_run_min)))
    if i.repeat_runs.count:
        out.append(REPEAT_RUNS.finding(
            f"{i.repeat_runs.count:,} runs of one repeated id ({i.repeat_runs.tokens:,} tokens, "
            f"longest {i.repeat_runs.longest:,})", _run_evidence(i.repeat_runs, i.repeat_run_min)))
    if result.sequences and i.duplicate_sequences / result.sequences > t.duplicate_sequence_share:
        share = i.duplicate_sequences / result.sequences
        evidence = [Evidence("duplicate windows", i.duplicate_sequences, "",
                             f"{result.sequences:,} windows, 64-bit hash of each"),
                    Evidence("share", _pct(share), "%", f"threshold {_pct(t.duplicate_sequence_share)}%")]
        if i.duplicate_example:
            (p1, o1), (p2, o2) = i.duplicate_example
            evidence.append(Evidence("example", f"{Path(p1).name}@{o1:,} = {Path(p2).name}@{o2:,}", "",
                                     "token offsets of two identical windows"))
        out.append(DUPLICATES.finding(f"{i.duplicate_sequences:,} windows ({_pct(share):.2f}%) repeat an earlier one",
                                      evidence))
    for path, extra in i.odd_byte_files:
        src = next(s for s in result.sources if s.path == path)
        out.append(ODD_SIZE.finding(
            f"{Path(path).name} has {extra} byte(s) after its last whole {src.dtype} token",
            [Evidence("file size", src.file_bytes, "bytes", path),
             Evidence("token size", _itemsize(src.dtype), "bytes", f"dtype {src.dtype}")], subject=path))
    out += dtype_findings(result, t)
    short = [s for s in result.sources if s.sequences == 0 and result.layout != "contiguous"]
    if short and not result.sampled:
        out.append(SHORT.finding(
            f"{len(short)} shard(s) give no whole {result.layout} training window of {result.seq_len} tokens",
            [Evidence("tokens", s.tokens, "", s.path) for s in short[:5]]))
    if result.separators is not None and result.separators.ids and not result.sampled:
        sep = result.separators
        gap = result.scanned_tokens / sep.count if sep.count else math.inf
        if gap > t.separator_gap_max:
            out.append(NO_SEPARATORS.finding(
                f"{sep.count:,} BOS/EOS tokens in {result.scanned_tokens:,} tokens",
                [Evidence("separator tokens", sep.count, "", f"ids {', '.join(map(str, sep.ids))}"),
                 Evidence("tokens per separator", gap if sep.count else result.scanned_tokens, "",
                          f"threshold {t.separator_gap_max:,}")]))
    return out


def _itemsize(dtype: str) -> int:
    import numpy as np

    return np.dtype(dtype).itemsize


def dtype_findings(result, t: Thresholds) -> list[Finding]:
    """TSD-DATA-DTYPE when the token histogram says the shards were read with the wrong width."""
    counts, total = result.counts, result.scanned_tokens
    flat = [s for s in result.sources if s.kind == "bin"]
    if not flat or not total:
        return []
    dtype = flat[0].dtype
    zero_share = float(counts[0]) / total
    vocab = result.coverage.vocab_size
    if dtype == "uint16" and zero_share >= t.dtype_zero_share:
        return [DTYPE.finding(
            f"{_pct(zero_share):.1f}% of tokens are id 0: the shards look like uint32 read as uint16",
            [Evidence("share of id 0", _pct(zero_share), "%", "token histogram"),
             Evidence("dtype read", dtype, "", "--dtype"),
             Evidence("threshold", _pct(t.dtype_zero_share), "%", "dtype_zero_share")], fix="rerun with --dtype uint32")]
    if dtype == "uint32" and vocab is not None and result.integrity.out_of_range_ids:
        share = result.integrity.out_of_range_ids / total
        if share >= t.dtype_zero_share and result.integrity.max_id >= 1 << 16:
            return [DTYPE.finding(
                f"{_pct(share):.1f}% of tokens are past the vocabulary and reach {result.integrity.max_id:,}: "
                "the shards look like uint16 read as uint32",
                [Evidence("share past the vocabulary", _pct(share), "%", result.coverage.vocab_source),
                 Evidence("largest id", result.integrity.max_id, "", "token histogram"),
                 Evidence("dtype read", dtype, "", "--dtype")], fix="rerun with --dtype uint16")]
    return []


def _run_evidence(runs, minimum: int) -> list[Evidence]:
    evidence = [Evidence("runs", runs.count, "", f"at least {minimum} tokens each"),
                Evidence("tokens in runs", runs.tokens, "", "")]
    for path, offset, length, value in runs.examples[:3]:
        evidence.append(Evidence("run", f"id {value} x {length:,}", "", f"{path}: token {offset:,}"))
    return evidence


def vocabulary_findings(result, t: Thresholds) -> list[Finding]:
    c = result.coverage
    out = []
    if c.vocab_size is None or result.scanned_tokens < t.coverage_min_tokens_per_row * c.vocab_size:
        return out  # too little data to say which rows a vocabulary needs
    k = t.vocab_reference
    covered = _coverage_at(result.counts, c.vocab_size, k)
    if c.vocab_size >= t.vocab_large_factor * k and covered >= t.coverage_sufficient:
        out.append(COVERAGE.finding(
            f"the top {k:,} ids cover {_pct(covered):.2f}% of tokens; the vocabulary has {c.vocab_size:,}",
            [Evidence(f"top-{k:,} coverage", _pct(covered), "%", f"{result.scanned_tokens:,} tokens"),
             Evidence("vocab size", c.vocab_size, "", c.vocab_source),
             Evidence("ids needed for 99%", c.tokens_for_99, "", "token histogram")],
            fix=f"remap the data to its top {k:,} ids (tsdiag topk SHARDS --k {k}) or train a {k:,}-piece "
                "tokenizer (tsdiag train-tokenizer)"))
    if c.unused_vocab_rows is not None and c.unused_vocab_rows / c.vocab_size > t.unused_vocab_share \
            and not result.sampled:
        out.append(UNUSED_ROWS.finding(
            f"{c.unused_vocab_rows:,} of {c.vocab_size:,} vocabulary ids never occur (byte and special ids not counted)",
            [Evidence("unused ids", c.unused_vocab_rows, "", f"{result.scanned_tokens:,} tokens"),
             Evidence("share", _pct(c.unused_vocab_rows / c.vocab_size), "%",
                      f"threshold {_pct(t.unused_vocab_share)}%")]))
    return out


def _coverage_at(counts, vocab_size: int, k: int) -> float:
    import numpy as np

    inside = np.sort(counts[:min(vocab_size, len(counts) - 1)])[::-1]
    total = counts.sum()
    return float(inside[:k].sum() / total) if total else float("nan")


def data_findings(result, thresholds: Thresholds) -> list[Finding]:
    """Every finding about one audit (article findings are left out when the tokenizer does not fit)."""
    mismatch = tokenizer_mismatch_findings(result, thresholds)
    return (mismatch + ([] if mismatch else article_findings(result, thresholds))
            + integrity_findings(result, thresholds) + vocabulary_findings(result, thresholds)
            + split_findings(getattr(result, "splits", None), thresholds))


def split_findings(splits, t: Thresholds) -> list[Finding]:
    """Val stories found in train (TSD-H1-VAL-LEAK) and training stories that repeat (TSD-H1-DUPLICATE-STORIES)."""
    if splits is None or splits.skipped:
        return []
    out = []
    where = f"{len(splits.splits.val)} val file(s) ({splits.splits.how})"
    share = splits.val_leak_share
    if share is not None and share > t.val_leak_share:
        evidence = [Evidence("val stories found in train", splits.val_stories_in_train,
                             f"of {splits.val_stories:,} val stories", where),
                    Evidence("leaked share", _pct(share), "% of val stories", where),
                    Evidence("val windows found in train", splits.val_windows_in_train,
                             f"of {splits.val_windows:,} windows of {splits.seq_len} tokens", where),
                    Evidence("separator id", splits.separator, "", splits.separator_source),
                    Evidence("threshold val_leak_share", _pct(t.val_leak_share), "% of val stories", "thresholds")]
        if splits.val_example:
            path, offset = splits.val_example
            evidence.append(Evidence("first leaked story", f"{Path(path).name}@{offset:,}", "", f"{path}: token {offset:,}"))
        out.append(VAL_LEAK.finding(
            f"{splits.val_stories_in_train:,} of {splits.val_stories:,} val stories ({_pct(share):.1f}%) also occur "
            f"in the training files: the val loss is optimistic", evidence,
            severity=Severity.ERROR if share >= t.val_leak_strong_share else Severity.WARNING,
            strength=strength_past(share, t.val_leak_share, t.val_leak_strong_share), subject=where))
    repeat = splits.repeat_share
    if repeat is not None and repeat > t.duplicate_story_share:
        evidence = [Evidence("repeated training stories", splits.train_repeats, f"of {splits.train_stories:,}",
                             f"{len(splits.splits.train)} training file(s)"),
                    Evidence("threshold duplicate_story_share", _pct(t.duplicate_story_share), "% of stories",
                             "thresholds")]
        if splits.repeat_example:
            (p1, o1), (p2, o2) = splits.repeat_example
            evidence.append(Evidence("example", f"{Path(p1).name}@{o1:,} = {Path(p2).name}@{o2:,}", "",
                                     "token offsets of two identical stories"))
        out.append(DUPLICATE_STORIES.finding(
            f"{splits.train_repeats:,} training stories ({_pct(repeat):.1f}%) repeat an earlier one", evidence,
            strength=strength_past(repeat, t.duplicate_story_share, 10 * t.duplicate_story_share)))
    return out


def tokenizer_mismatch_findings(result, t: Thresholds) -> list[Finding]:
    agreement = result.tokenizer_agreement
    if agreement is None or agreement.share >= t.tokenizer_round_trip_min:
        return []
    evidence = [Evidence("windows whose ids survive decode -> encode", agreement.round_trips, "",
                         f"{agreement.windows} sampled windows, {result.tokenizer}"),
                Evidence("threshold", _pct(t.tokenizer_round_trip_min), "% of windows", "tokenizer_round_trip_min")]
    if agreement.example is not None:
        path, offset = agreement.example
        evidence.append(Evidence("first window that changed", f"{Path(path).name}@{offset:,}", "",
                                 f"{path}: token {offset:,}"))
    return [TOKENIZER_MISMATCH.finding(
        f"only {agreement.round_trips} of {agreement.windows} sampled windows decode and re-encode to the same ids "
        f"with {Path(result.tokenizer).name}: article counts of this audit are not meaningful", evidence)]


def tokenizer_findings(audit, t: Thresholds) -> list[Finding]:
    """Findings of ``tsdiag audit-tokenizer`` (facts from :func:`tsdiag.data.tokenizer_audit.audit_tokenizer`)."""
    out = []
    if audit.glued_pieces:
        names = ", ".join(repr(g.piece) for g in audit.glued_pieces[:6])
        out.append(GLUED.finding(
            f"{len(audit.glued_pieces):,} pieces glue an article to another word: {names}",
            [Evidence("glued pieces", len(audit.glued_pieces), "", audit.path),
             Evidence("glued tokens in the text", audit.glued_tokens, "", audit.text_source)],
            subject=audit.path))
    if audit.articles_after_round_trip < audit.articles_in_text or audit.articles_in_tokens < audit.articles_in_text:
        out.append(ROUND_TRIP.finding(
            f"the text has {audit.articles_in_text} articles; after encode/decode {audit.articles_after_round_trip}, "
            f"in the token stream {audit.articles_in_tokens}",
            [Evidence("articles in the text", audit.articles_in_text, "", audit.text_source),
             Evidence("after decode(encode(text))", audit.articles_after_round_trip, "", audit.path),
             Evidence("found in the token stream", audit.articles_in_tokens, "", "word-level scan"),
             Evidence("round trip exact", audit.round_trip_exact, "", audit.path)],
            subject=audit.path))
    odd = audit.byte_fallback_tokens - audit.whitespace_byte_tokens + audit.unknown_tokens
    if audit.tokens and odd / audit.tokens > t.byte_fallback_share:
        out.append(BYTE_FALLBACK.finding(
            f"{_pct(odd / audit.tokens):.2f}% of the text's tokens are bytes or <unk>",
            [Evidence("byte-fallback tokens", audit.byte_fallback_tokens, "", audit.text_source),
             Evidence("of them whitespace bytes (not counted)", audit.whitespace_byte_tokens, "", audit.text_source),
             Evidence("unknown tokens", audit.unknown_tokens, "", audit.text_source),
             Evidence("tokens", audit.tokens, "", f"threshold {_pct(t.byte_fallback_share)}%")],
            subject=audit.path))
    return out
