"""Vectorised, word-level article detection on token streams.

An article is the whole word "a", "an" or "the" (any case) in the decoded
stream, bounded by non-letters — whether the tokenizer spells it as one piece
("▁the", "Ġthe", "The" after a newline) or several ("▁T" + "he").  "▁an"
followed by "imal", or "a" inside a word, is not one.

Nothing is decoded.  Every id's *surface text* (see
:meth:`tsdiag.tokenizer.Tokenizer.surfaces`) is reduced once to a few facts
stored in lookup tables: does the piece start / end with a separator, are its
letters (or the letters after its last separator) an article word or the
beginning of one, does it hold a whole article between two separators.  A
token stream is then scanned with one table lookup per token (a byte of
``ArticleTables.pair_codes``) and a handful of byte-wide operations that judge
every neighbour pair at once (the common single-piece case, dense), plus a
short walk over the rare positions where a word may be spelled by several
pieces or a piece cannot be judged from its pair alone (sparse).

The *naive* count — every token whose piece is itself an article word — is
what most people compute; the word-level count is the true one.
"""

from __future__ import annotations

import weakref
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Sequence

import numpy as np

from tsdiag.tokenizer import ARTICLE_WORDS, LETTER_RUN, Tokenizer, article_piece_ids, is_letter

# Bits of ArticleTables.flags (one byte per id).  The positions are chosen so
# that the dense part of a scan needs few shifts: NAIVE is bit 0 (a 0/1 byte
# as it is), STARTS_SEP of the next token lines up with TAIL_WORD after one
# shift, and with TAIL_PREFIX after two.
NAIVE = 1          # the piece alone is an article word (the naive count)
TAIL_WORD = 2      # letters after the piece's last separator are an article word
STARTS_SEP = 4     # first character is not a letter (or the id has no text)
ENDS_SEP = 8       # last character is not a letter (or the id has no text)
TAIL_PREFIX = 16   # the piece's last letters (after its last separator, or all of a pure piece)
                   # begin, but are not all of, an article word: "▁T", "th"
SPARSE = 32        # PURE_WORD or RARE: whether it is a word depends on both neighbours
PURE_WORD = 64     # the piece is all letters and they are an article word
RARE = 128         # holds a whole article between separators, or begins with one (glued pieces)

# Table entries from this length on describe "no text": ids past the table and
# the virtual tokens before a stream's start and after its end.
MIN_TABLE_LEN = 1 << 16

# Bits of ArticleTables.pair_codes, the one byte per token the dense scan gathers.
# The low nibble describes a token as the left one of a pair, the high nibble as
# the right one; ``code[i] & (code[i + 1] >> 4)`` answers four questions about
# every neighbour pair at once, one per bit ("lane"):
LANE_WORD = 1   # left: tail is an article word, or a pure article piece   right: starts with a separator
LANE_JOIN = 2   # left: does not end with a separator                      right: does not start with one
LANE_OPEN = 4   # left: tail is, or begins, an article word                right: does not start with a separator
LANE_GLUE = 8   # left: does not end with a separator                      right: a pure article piece
# WORD marks single-piece words ("▁the" + ",", "\n" + "The" + "▁"); a pure piece glued to the
# word before it ("pizz" + "a" + "▁") is marked too and taken back by the sparse step.  JOIN
# counts tokens that continue a word.  The sparse step looks at the right token of a GLUE
# pair and the left token of an OPEN pair (a pair value >= LANE_OPEN), and at every
# position of an id in ``ArticleTables.sparse_ids``, which no lane can judge.

def _letter_runs(text: str) -> list[tuple[int, int]]:
    """(start, end) of every maximal run of letters in ``text``."""
    return [m.span() for m in LETTER_RUN.finditer(text)]


@dataclass(frozen=True)
class PieceShape:
    """How one surface text looks to the word scanner."""

    pure: bool                  # all letters, no separator: continues and ends nothing
    starts_sep: bool
    ends_sep: bool
    head: str                   # letters before the first separator (lower-case)
    tail: str                   # letters after the last separator (lower-case)
    inner: tuple[str, ...]      # whole words strictly between separators (lower-case)
    runs: int                   # number of letter runs

    @classmethod
    def of(cls, surface: str | None) -> "PieceShape":
        if not surface:
            return cls(False, True, True, "", "", (), 0)
        runs = _letter_runs(surface)
        lower = surface.lower()
        if runs == [(0, len(surface))]:
            return cls(True, False, False, lower, lower, (), 1)
        starts_sep = not runs or runs[0][0] > 0
        ends_sep = not runs or runs[-1][1] < len(surface)
        head = "" if starts_sep else lower[runs[0][0]:runs[0][1]]
        tail = "" if ends_sep else lower[runs[-1][0]:runs[-1][1]]
        inner_runs = runs[(0 if starts_sep else 1):(len(runs) if ends_sep else len(runs) - 1)]
        inner = tuple(lower[a:b] for a, b in inner_runs)
        return cls(False, starts_sep, ends_sep, head, tail, inner, len(runs))


_TABLES: "weakref.WeakKeyDictionary[Tokenizer, dict]" = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class ArticleTables:
    """Per-id lookup tables for one tokenizer and one set of article words (picklable, small)."""

    words: tuple[str, ...]
    vocab_size: int
    flags: np.ndarray          # uint8, NAIVE | STARTS_SEP | ...; the last entry is "no text"
    letter_runs: np.ndarray    # int64, letter runs per id (for counting all words)
    start_state: np.ndarray    # int16, prefix state of the letters a multi-piece word starts with
    pure: np.ndarray           # bool
    piece_code: np.ndarray     # int16, code of a pure piece's letters / a separated piece's head (-1: none)
    head_nonempty: np.ndarray  # bool, the head letters belong to the word before the first separator
    inner_words: np.ndarray    # uint8, whole article words strictly inside the piece
    head_word: np.ndarray      # bool, the head letters are a whole article word
    transition: np.ndarray     # int16 [state, code] -> state (-1 dead); last row/column dead
    completes: np.ndarray      # bool [state, code]: prefix + code letters is an article word
    naive_ids: np.ndarray      # int64
    max_word_len: int
    pieces_of_naive: tuple[str, ...] = field(default=())

    @property
    def sentinel(self) -> int:
        """Index of the "no text" entry; ids at or past it are clipped to it."""
        return len(self.flags) - 1

    @property
    def context(self) -> int:
        """Tokens of context a scan needs on each side of a span."""
        return self.max_word_len + 1

    @cached_property
    def pair_codes(self) -> np.ndarray:
        """uint8 per id: the ``LANE_*`` bits of the dense scan (derived from ``flags``, computed once)."""
        f = self.flags
        starts, ends = (f & STARTS_SEP) != 0, (f & ENDS_SEP) != 0
        word = (f & (TAIL_WORD | PURE_WORD)) != 0
        opens = (f & (TAIL_WORD | PURE_WORD | TAIL_PREFIX)) != 0
        left = (word * LANE_WORD) | (~ends * (LANE_JOIN | LANE_GLUE)) | (opens * LANE_OPEN)
        right = (starts * LANE_WORD) | (~starts * (LANE_JOIN | LANE_OPEN)) | (((f & PURE_WORD) != 0) * LANE_GLUE)
        return (left | (right << 4)).astype(np.uint8)

    @cached_property
    def sparse_ids(self) -> np.ndarray:
        """bool per id: pieces the pair lanes cannot judge (glued articles, odd naive pieces); rare in text."""
        f = self.flags
        return ((f & RARE) != 0) | (((f & NAIVE) != 0) & ((f & (TAIL_WORD | PURE_WORD)) == 0))

    @cached_property
    def naive_slots(self) -> np.ndarray:
        """intp per id: its index in ``naive_ids`` (-1 for other ids), for per-piece counts."""
        slots = np.full(len(self.flags), -1, dtype=np.intp)
        slots[self.naive_ids] = np.arange(len(self.naive_ids))
        return slots

    @cached_property
    def walk_tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``transition``/``completes`` folded into one flat table for the multi-piece walk.

        Returns (row, column, table): a word start in state ``q`` sits at row
        offset ``row[id] = start_state[id] * width``; the next piece's column
        is ``column[id]``; ``table[row + column]`` is the next row offset (a
        pure piece that continues the word), -1 (dead end), or -2 / -3 (a
        piece that ends the word, adding no token / one token to it).
        """
        states, codes = self.transition.shape
        width = 3 * codes
        code = np.where(self.piece_code < 0, codes - 1, self.piece_code).astype(np.intp)
        column = code + np.where(self.pure, 0, codes * (1 + self.head_nonempty.astype(np.intp)))
        table = np.full((states, width), -1, dtype=np.intp)
        table[:, :codes] = np.where(self.transition >= 0, self.transition.astype(np.intp) * width, -1)
        table[:, codes:2 * codes] = np.where(self.completes, -2, -1)
        table[:, 2 * codes:] = np.where(self.completes, -3, -1)
        return self.start_state.astype(np.intp) * width, column, table.reshape(-1)

    @classmethod
    def build(cls, tokenizer: Tokenizer, words: Sequence[str] = ARTICLE_WORDS) -> "ArticleTables":
        """Tables for ``tokenizer`` and ``words`` (cached per tokenizer object: building reads every piece)."""
        words = tuple(dict.fromkeys(w.strip().lower() for w in words if w.strip()))
        cached = _TABLES.setdefault(tokenizer, {})
        if words not in cached:
            cached[words] = cls._build(tokenizer, words)
        return cached[words]

    @classmethod
    def _build(cls, tokenizer: Tokenizer, words: tuple[str, ...]) -> "ArticleTables":
        if not words or not all(all(is_letter(c) for c in w) for w in words):
            raise ValueError(f"article words must be non-empty letter strings, got {words!r}")
        word_set = set(words)
        prefixes = sorted({w[:k] for w in words for k in range(len(w) + 1)}, key=lambda s: (len(s), s))
        proper_prefixes = {w[:k] for w in words for k in range(1, len(w))}
        substrings = sorted({w[i:j] for w in words for i in range(len(w)) for j in range(i + 1, len(w) + 1)} | {""},
                            key=lambda s: (len(s), s))
        state_of = {p: i for i, p in enumerate(prefixes)}
        code_of = {s: i for i, s in enumerate(substrings)}

        # one extra row/column at the end = dead, so index -1 means "no"
        transition = np.full((len(prefixes) + 1, len(substrings) + 1), -1, dtype=np.int16)
        completes = np.zeros((len(prefixes) + 1, len(substrings) + 1), dtype=bool)
        for p, si in state_of.items():
            for s, ci in code_of.items():
                joined = p + s
                if joined in state_of:
                    transition[si, ci] = state_of[joined]
                completes[si, ci] = joined in word_set

        surfaces = tokenizer.surfaces()
        size = max(len(surfaces), MIN_TABLE_LEN) + 1
        flags = np.full(size, STARTS_SEP | ENDS_SEP, dtype=np.uint8)
        letter_runs = np.zeros(size, dtype=np.int64)
        start_state = np.full(size, -1, dtype=np.int16)
        pure = np.zeros(size, dtype=bool)
        piece_code = np.zeros(size, dtype=np.int16)  # "no text" ids: empty head, code of ""
        head_nonempty = np.zeros(size, dtype=bool)
        inner_words = np.zeros(size, dtype=np.uint8)
        head_word = np.zeros(size, dtype=bool)
        naive = article_piece_ids(tokenizer, words)

        for i, surface in enumerate(surfaces):
            shape = PieceShape.of(surface)
            f = (STARTS_SEP if shape.starts_sep else 0) | (ENDS_SEP if shape.ends_sep else 0)
            letter_runs[i] = shape.runs
            pure[i] = shape.pure
            head_nonempty[i] = bool(shape.head) and not shape.pure
            if shape.pure:
                piece_code[i] = code_of.get(shape.head, -1)
                if shape.head in word_set:
                    f |= PURE_WORD | SPARSE
                if shape.head in proper_prefixes:
                    f |= TAIL_PREFIX
                    start_state[i] = state_of[shape.head]
            else:
                piece_code[i] = code_of.get(shape.head, -1)
                if shape.tail in word_set:
                    f |= TAIL_WORD
                if shape.tail in proper_prefixes:
                    f |= TAIL_PREFIX
                    start_state[i] = state_of[shape.tail]
                inner_words[i] = sum(1 for w in shape.inner if w in word_set)
                head_word[i] = shape.head in word_set
                if inner_words[i] or head_word[i]:
                    f |= RARE | SPARSE
            flags[i] = f
        flags[naive] |= NAIVE
        pieces = tokenizer.pieces()
        return cls(
            words=words, vocab_size=tokenizer.vocab_size, flags=flags, letter_runs=letter_runs,
            start_state=start_state, pure=pure, piece_code=piece_code, head_nonempty=head_nonempty,
            inner_words=inner_words, head_word=head_word, transition=transition, completes=completes,
            naive_ids=naive, max_word_len=max(len(w) for w in words),
            pieces_of_naive=tuple(pieces[i] for i in naive),
        )

    def clip(self, ids: np.ndarray) -> np.ndarray:
        """``ids`` as table indices: ids past the table (or negative) become the "no text" entry."""
        return to_index(ids, self.sentinel)


def to_index(ids: np.ndarray, cap: int, out: np.ndarray | None = None) -> np.ndarray:
    """``ids`` as ``intp`` indices in ``[0, cap]``; ids ``>= cap`` or ``< 0`` become ``cap``.

    uint8/uint16 ids need no clipping when ``cap >= 65536`` (the common case:
    one cast, no comparisons).
    """
    ids = np.asarray(ids)
    if out is None:
        out = np.empty(ids.shape, dtype=np.intp)
    if ids.dtype.kind == "u" and ids.dtype.itemsize <= 2 and cap >= 1 << (8 * ids.dtype.itemsize):
        np.copyto(out, ids, casting="unsafe")
        return out
    wide = ids.astype(np.int64, copy=False)
    np.copyto(out, wide, casting="unsafe")
    out[(wide < 0) | (wide > cap)] = cap
    return out


@dataclass
class SpanScan:
    """Articles found in one span of a stream."""

    mask: np.ndarray           # uint8 per token of the span: 1 where it belongs to an article word
    word_count: int            # article words whose first token lies in the span
    continued: int             # tokens whose first letter run continues the previous token's word
    naive_candidates: np.ndarray  # positions (from the span's start) of naive-id tokens the sparse step looked at

    def words(self, letter_runs: int) -> int:
        """All words starting in the span, given the letter runs of its pieces (from a histogram or a gather)."""
        return letter_runs - self.continued

    def naive_misses(self) -> np.ndarray:
        """Positions (from the span's start) of naive-id tokens that are not part of an article word.

        Every such token is a sparse candidate: the WORD lane marks all others.
        """
        at = self.naive_candidates
        return at[self.mask[at] == 0]


def scan_span(tables: ArticleTables, idx: np.ndarray, lo: int, hi: int, codes: np.ndarray | None = None,
              mask: np.ndarray | None = None, sparse_ids_seen: bool | None = None) -> SpanScan:
    """Scan ``idx[lo:hi]`` (table indices) for article words.

    ``idx`` must hold ``tables.context`` tokens of context on both sides of the
    span (real neighbours, or the sentinel at a stream's ends).  ``codes`` is
    ``tables.pair_codes[idx]`` (gathered here when not given); ``mask`` an
    optional uint8 buffer of ``hi - lo`` for the result; ``sparse_ids_seen``
    whether ``idx[lo:hi]`` holds any of ``tables.sparse_ids`` (looked up here
    when not given).  Words that start before ``lo`` and reach into the span
    mark their tokens here but are counted by the span they start in.
    """
    if codes is None:
        codes = tables.pair_codes[idx]
    if mask is None:
        mask = np.empty(hi - lo, dtype=np.uint8)
    # pairs[j] are the lanes of the pair (p + j, p + j + 1), for p + j in [p, hi); words may start
    # up to context - 1 tokens before the span and reach into it, so walks start from s = p + 1 on
    s = lo - (tables.context - 1)
    p = s - 1
    pairs = np.right_shift(codes[p + 1:hi + 1], 4)
    np.bitwise_and(pairs, codes[p:hi], out=pairs)
    at = lo - p

    # dense: a single piece between separators ("▁the" + ",", "\n" + "The" + "▁")
    np.bitwise_and(pairs[at:], LANE_WORD, out=mask)
    word_count = int(np.count_nonzero(mask))

    # words = letter runs of the span's pieces minus runs that continue from the previous token
    continued = int(np.count_nonzero(pairs[at - 1:-1] & LANE_JOIN))

    # sparse: the left token of OPEN pairs ("▁T" + "he"), the right token of GLUE pairs ("pizz" + "a"),
    # and pieces no lane judges (nonzero of a bool array is several times faster than of bytes)
    hits = np.flatnonzero(pairs >= LANE_OPEN)
    lanes = pairs[hits]
    opened = hits[(lanes & LANE_OPEN) != 0]
    if opened.size and opened[0] == 0:  # position p only gives its neighbour context
        opened = opened[1:]
    glued = hits[(lanes & LANE_GLUE) != 0] + 1
    if glued.size and glued[-1] == pairs.size:  # a glued piece at hi belongs to the next span
        glued = glued[:-1]
    if sparse_ids_seen is None:
        sparse_ids_seen = bool(tables.sparse_ids[idx[lo:hi]].any())
    lone = np.flatnonzero(tables.sparse_ids[idx[lo:hi]]) + lo if sparse_ids_seen else None
    found, naive = _sparse(tables, idx, pairs, p, lo, opened, glued, lone, mask)
    return SpanScan(mask=mask, word_count=word_count + found, continued=continued, naive_candidates=naive)


def _sparse(tables: ArticleTables, idx: np.ndarray, pairs: np.ndarray, p: int, lo: int, opened: np.ndarray,
            glued: np.ndarray, lone: np.ndarray | None, mask: np.ndarray) -> tuple[int, np.ndarray]:
    """Words that need more than one pair to be judged; corrects and marks ``mask``.

    ``pairs[j]`` are the lanes of the pair (p + j, p + j + 1); ``opened`` and
    ``glued`` are pair indices of the candidates (OPEN: the piece opens a word
    the next token goes on with; GLUE: a pure article piece right after
    letters); ``lone`` the span positions of ``tables.sparse_ids``, or None.
    Returns the words counted here (less the glued pieces the WORD lane
    counted) and the positions (from ``lo``) of naive-id candidates in the
    span: every naive token the WORD lane did not mark is one of them.
    """
    flags = tables.flags
    hi = lo + mask.size
    naive = []

    # a pure article piece glued to the letters before it ("pizz" + "a" + "▁"): the WORD lane marked it
    # when a separator follows; when letters follow it is an OPEN candidate as well and judged there
    glued = glued[(pairs[glued] & LANE_OPEN) == 0] + p
    glued = glued[glued >= lo]
    mask[glued - lo] = 0
    found = -int(glued.size)
    naive.append(glued[(flags[idx[glued]] & NAIVE) != 0])

    # several pieces: a word start followed by a piece that goes on with letters (a pure
    # prefix starts a word only after a separator; a pure piece starts with a letter, so
    # the JOIN lane of the pair before it says whether a separator precedes it)
    after_sep = (pairs[opened - 1] & LANE_JOIN) == 0
    opened = opened + p
    ids = idx[opened]
    f = flags[ids]
    starts = opened[((f & TAIL_PREFIX) != 0) & (after_sep | ~tables.pure[ids])]
    naive.append(opened[((f & NAIVE) != 0) & (opened >= lo)])
    marked = []
    if starts.size:
        word_starts, walked = _walk(tables, idx, starts)
        found += int(np.count_nonzero(word_starts >= lo))
        marked.append(walked)

    # pieces no lane judges: whole articles inside ("▁a▁little"), a head article after a separator,
    # naive pieces of odd shape; only those inside the span can count or mark anything
    if lone is not None and lone.size:
        ids = idx[lone]
        f = flags[ids]
        rare = (f & RARE) != 0
        inner = tables.inner_words[ids].astype(np.int64) * rare
        head = rare & tables.head_word[ids] & ((pairs[lone - p - 1] & LANE_JOIN) == 0)  # a head starts with a letter
        found += int(inner.sum() + np.count_nonzero(head))
        marked.append(lone[(inner > 0) | head])
        naive.append(lone[((f & NAIVE) != 0) & ((pairs[lone - p] & LANE_OPEN) == 0)])  # not counted as OPEN

    if marked:
        marked = np.concatenate(marked)
        mask[marked[(marked >= lo) & (marked < hi)] - lo] = 1
    return found, np.concatenate(naive) - lo


def _walk(tables: ArticleTables, idx: np.ndarray, cand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Follow multi-piece words from candidate starts; return (word start positions, token positions)."""
    rows, columns, table = tables.walk_tables
    row = rows[idx[cand]]
    origin = cand
    found_start, found_len = [], []
    for step in range(1, tables.max_word_len + 1):
        result = table[row + columns[idx[origin + step]]]
        ends = result < -1
        if ends.any():
            found_start.append(origin[ends])
            found_len.append(step + (result[ends] == -3))
        keep = result >= 0
        origin, row = origin[keep], result[keep]
        if not origin.size:
            break
    if not found_start:
        empty = np.empty(0, dtype=np.intp)
        return empty, empty
    starts = np.concatenate(found_start)
    lengths = np.concatenate(found_len)
    marked = np.concatenate([starts[lengths > k] + k for k in range(int(lengths.max()))])
    return starts, marked


def pad_context(tables: ArticleTables, idx: np.ndarray) -> np.ndarray:
    """A whole stream with "no text" context at both ends, ready for :func:`scan_span`."""
    pad = np.full(tables.context, tables.sentinel, dtype=np.intp)
    return np.concatenate([pad, idx, pad])


@dataclass
class ArticleCount:
    """Articles in a whole token stream."""

    tokens: int
    word_count: int
    words: int
    article_tokens: int
    naive_tokens: int
    mask: np.ndarray = field(repr=False)


def scan_articles(tables: ArticleTables, ids) -> ArticleCount:
    """Word-level and naive article counts of one complete token stream (in memory)."""
    ids = np.asarray(ids)
    if ids.ndim != 1:
        ids = ids.reshape(-1)
    idx = pad_context(tables, tables.clip(ids))
    c = tables.context
    scan = scan_span(tables, idx, c, c + ids.size)
    span = idx[c:c + ids.size]
    return ArticleCount(
        tokens=int(ids.size), word_count=scan.word_count,
        words=scan.words(int(tables.letter_runs[span].sum())),
        article_tokens=int(np.count_nonzero(scan.mask)),
        naive_tokens=int(np.count_nonzero(tables.flags[span] & NAIVE)),
        mask=scan.mask.astype(bool),
    )


def article_mask(tables: ArticleTables, ids) -> np.ndarray:
    """Boolean mask, same shape as ``ids``: tokens that belong to a whole article word.

    A 2-D array is treated row by row (each row its own stream), as a batch of
    training sequences would be.
    """
    ids = np.asarray(ids)
    if ids.ndim == 2:
        return np.stack([scan_articles(tables, row).mask for row in ids]) if len(ids) else ids.astype(bool)
    return scan_articles(tables, ids).mask


# ------------------------------------------------------------ ids to weight

ARTICLE_ID_MIN_SHARE = 0.5
"""Default share of an id's occurrences that must be whole article words for the weighted objective to weight it.

A recipe parameter, not a judgement threshold: it decides what a training run
optimises (and is recorded with the run), it never decides a finding.  At 0.5
an id is kept when most of its uses are articles — weighting it then costs at
most one wrongly weighted token per article token it catches.
"""

_MEASURE_CHUNK = 1 << 22  # tokens scanned at a time: bounds the scan's per-token work arrays


@dataclass(frozen=True)
class ArticleIdEvidence:
    """Why one naive article id is (or is not) weighted."""

    id: int
    piece: str
    starts_word: bool              # its surface begins with a separator ("▁the", "Ġthe", " the")
    occurrences: int | None        # in the measured tokens; None without data
    in_article_word: int | None    # of those, occurrences that are (part of) a whole article word
    share: float | None            # in_article_word / occurrences; None without data or occurrences
    kept: bool
    basis: str                     # "measured" (share >= min_share) or "piece shape" (starts_word)


@dataclass(frozen=True)
class ArticleIdChoice:
    """The ids the article-weighted objective weights, with the evidence for each naive article id."""

    words: tuple[str, ...]
    min_share: float
    scanned_tokens: int | None     # tokens measured; None: chosen by piece shape alone
    article_tokens: int | None     # tokens of the measured data that belong to article words
    per_id: tuple[ArticleIdEvidence, ...]

    @property
    def ids(self) -> list[int]:
        return [e.id for e in self.per_id if e.kept]

    @property
    def method(self) -> str:
        return "piece shape" if self.scanned_tokens is None else "measured"

    @property
    def note(self) -> str:
        if self.scanned_tokens is None:
            return ("no token data: kept the article pieces that start a word; how often each occurs inside "
                    "words was not measured")
        return (f"kept the ids whose occurrences in {self.scanned_tokens:,} tokens are at least "
                f"{self.min_share:.0%} whole article words; ids absent from them are kept when they start a word")

    def weighted_tokens(self) -> int | None:
        """Occurrences of the kept ids in the measured data (the tokens the objective weights there)."""
        if self.scanned_tokens is None:
            return None
        return sum(e.occurrences or 0 for e in self.per_id if e.kept)

    def to_dict(self) -> dict:
        """The record of a run (run.json ``data.article_id_choice``)."""
        naive = None if self.scanned_tokens is None else sum(e.occurrences or 0 for e in self.per_id)
        return {
            "method": self.method, "note": self.note, "words": list(self.words), "min_share": self.min_share,
            "ids": self.ids, "scanned_tokens": self.scanned_tokens, "article_tokens": self.article_tokens,
            "naive_tokens": naive, "weighted_tokens": self.weighted_tokens(),
            "per_id": [asdict(e) for e in self.per_id],
        }


def naive_id_counts(tables: ArticleTables, ids) -> tuple[np.ndarray, np.ndarray, int]:
    """Per naive id (``tables.naive_ids`` order): occurrences in one token stream, and how many are article words.

    Also returns the stream's tokens that belong to article words.  The stream
    is scanned in chunks, each with its real neighbours as context, so the
    answer equals :func:`scan_articles` on the whole stream at bounded memory.
    """
    ids = np.asarray(ids).reshape(-1)
    k, c = len(tables.naive_ids), tables.context
    occurrences, in_word = np.zeros(k, dtype=np.int64), np.zeros(k, dtype=np.int64)
    article_tokens = 0
    for lo in range(0, ids.size, _MEASURE_CHUNK):
        hi = min(lo + _MEASURE_CHUNK, ids.size)
        a, b = max(lo - c, 0), min(hi + c, ids.size)
        idx = np.full(hi - lo + 2 * c, tables.sentinel, dtype=np.intp)
        idx[c - (lo - a):c + (b - lo)] = tables.clip(ids[a:b])
        span = idx[c:c + hi - lo]
        counts = np.bincount(span, minlength=tables.sentinel + 1)
        scan = scan_span(tables, idx, c, c + hi - lo, sparse_ids_seen=bool(counts[tables.sparse_ids].any()))
        article_tokens += int(np.count_nonzero(scan.mask))
        seen = counts[tables.naive_ids]
        missed = np.bincount(tables.naive_slots[span[scan.naive_misses()]], minlength=k)
        occurrences += seen
        in_word += seen - missed
    return occurrences, in_word, article_tokens


def article_word_ids(tokenizer: Tokenizer, tokens=None, words: Sequence[str] = ARTICLE_WORDS,
                     min_share: float = ARTICLE_ID_MIN_SHARE) -> tuple[np.ndarray, ArticleIdChoice]:
    """The token ids an article-weighted objective should weight, and the evidence for each.

    Candidates are the naive article ids (:func:`tsdiag.tokenizer.article_piece_ids`).
    Some of them mostly spell parts of other words (a 512-piece vocabulary
    trained on TinyStories uses ``"an"`` and ``"a"`` almost only inside words),
    so weighting them weights non-articles.  With ``tokens`` (the training data, one stream) each
    candidate is kept when at least ``min_share`` of its occurrences there are
    whole article words, measured with the word-level scanner; a candidate
    that never occurs is judged by its shape.  Without data every candidate is
    judged by its shape: kept when its surface starts a word ("▁the",
    "Ġthe"), dropped when it can continue one ("the", "a").
    """
    if not 0.0 <= min_share <= 1.0:
        raise ValueError(f"min_share must be between 0 and 1, got {min_share!r}")
    tables = ArticleTables.build(tokenizer, words)
    surfaces = tokenizer.surfaces()
    starts_word = [PieceShape.of(surfaces[i]).starts_sep for i in tables.naive_ids.tolist()]
    measured = tokens is not None
    if measured:
        tokens = np.asarray(tokens).reshape(-1)
        occurrences, in_word, article_tokens = naive_id_counts(tables, tokens)
    evidence = []
    for j, (i, piece) in enumerate(zip(tables.naive_ids.tolist(), tables.pieces_of_naive)):
        seen = int(occurrences[j]) if measured else None
        hits = int(in_word[j]) if measured else None
        share = hits / seen if seen else None
        if share is None:
            kept, basis = starts_word[j], "piece shape"
        else:
            kept, basis = share >= min_share, "measured"
        evidence.append(ArticleIdEvidence(id=int(i), piece=piece, starts_word=starts_word[j], occurrences=seen,
                                          in_article_word=hits, share=share, kept=kept, basis=basis))
    choice = ArticleIdChoice(words=tables.words, min_share=float(min_share),
                             scanned_tokens=int(tokens.size) if measured else None,
                             article_tokens=article_tokens if measured else None, per_id=tuple(evidence))
    return np.asarray(choice.ids, dtype=np.int64), choice
