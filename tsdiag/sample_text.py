"""What generated text looks like beyond its articles: repetition, loops, identical samples, control bytes.

A model that learned too little (or samples greedily from a flat distribution) writes
"the the the to the the" - the most visible symptom of all, and one an article count misses
(that text is full of articles). The measures are the ones the text-degeneration literature
uses (Welleck et al. 2019, "rep-n"; Li et al. 2016, "distinct-n"), computed on letter-run words
as the article rate is, so the two share a unit.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Sequence

_WORD = re.compile(r"[^\W\d_]+")
REPEAT_N = 4          # the n of "repeated n-gram share": 4 words repeat by chance rarely in real stories
LOOP_MAX_PERIOD = 8   # a loop's unit is at most this many words ("and the", "she said to the dog")
CHAR_LOOP_MAX_PERIOD = 16   # ... or this many characters: a char model's "      " or "ee ee ee" has no words


@dataclass(frozen=True)
class Repetition:
    """Repetition in the distinct generated samples (identical samples counted once)."""

    words: int
    repeated_ngram_share: float | None   # share of word 4-grams that repeat an earlier one of the same sample
    distinct_1: float | None             # distinct words / words, over all samples
    distinct_2: float | None             # distinct word pairs / word pairs
    longest_loop_words: int              # words in the longest stretch that repeats one unit back to back
    loop_unit: str                       # that unit ("and", "the cat")
    loop_sample: int | None              # 1-based index of the sample (among all samples) holding it
    longest_loop_chars: int = 0          # characters in the longest back-to-back repetition of up to 16 chars

    def to_dict(self) -> dict:
        return {"words": self.words, "repeated_4gram_share": self.repeated_ngram_share,
                "distinct_1": self.distinct_1, "distinct_2": self.distinct_2,
                "longest_loop_words": self.longest_loop_words, "loop_unit": self.loop_unit,
                "loop_sample": self.loop_sample, "longest_loop_chars": self.longest_loop_chars}


def words_of(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _ngrams(words: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]


def longest_loop(words: Sequence, max_period: int = LOOP_MAX_PERIOD) -> tuple[int, str]:
    """(items in the longest back-to-back repetition of a unit of up to ``max_period`` items, the unit).

    Items are words ("and and and" is a loop of 3 words with unit "and"; "a b a b a" one of 5 with unit
    "a b") or the characters of a string. A single occurrence is no loop (0).
    """
    best, unit = 0, ""
    for period in range(1, max_period + 1):
        run = 0
        for i in range(period, len(words)):
            run = run + 1 if words[i] == words[i - period] else 0
            if run and run + period > best and run >= period:   # the unit occurred at least twice in full
                best, unit = run + period, " ".join(words[i - run - period + 1:i - run + 1])
    return best, unit


def distinct_samples(samples: Sequence[str]) -> list[int]:
    """Indices of the first occurrence of each distinct sample, in order."""
    seen: dict[str, int] = {}
    for i, text in enumerate(samples):
        seen.setdefault(text, i)
    return sorted(seen.values())


def repetition(samples: Sequence[str]) -> Repetition:
    """Repetition measures of the distinct ``samples`` (a greedy run's identical copies count once)."""
    keep = distinct_samples(samples)
    total = repeated = grams = 0
    unigrams: set[str] = set()
    bigrams: set[tuple[str, ...]] = set()
    pairs = 0
    loop, loop_unit, loop_at, chars = 0, "", None, 0
    for i in keep:
        words = words_of(samples[i])
        total += len(words)
        unigrams.update(words)
        two = _ngrams(words, 2)
        pairs += len(two)
        bigrams.update(two)
        four = _ngrams(words, REPEAT_N)
        grams += len(four)
        repeated += len(four) - len(set(four))
        length, unit = longest_loop(words)
        if length > loop:
            loop, loop_unit, loop_at = length, unit, i + 1
        chars = max(chars, longest_loop(samples[i], CHAR_LOOP_MAX_PERIOD)[0])
    return Repetition(total, repeated / grams if grams else None, len(unigrams) / total if total else None,
                      len(bigrams) / pairs if pairs else None, loop, loop_unit, loop_at, chars)


def escape_controls(text: str) -> str:
    """``text`` with control characters other than newline and tab shown as ``\\xNN`` escapes.

    Byte-fallback pieces decode to NUL, ESC, BEL...; printed raw they ring the terminal or repaint it
    (ESC starts an ANSI sequence) and corrupt Markdown. JSON keeps the text as generated.
    """
    return "".join(c if c in "\n\t" or unicodedata.category(c) != "Cc" else f"\\x{ord(c):02x}"
                   if ord(c) < 256 else f"\\u{ord(c):04x}" for c in text)
