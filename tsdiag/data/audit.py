"""The data audit: what the trainer's packed sequences actually hold.

Facts only (rules judge them in :mod:`tsdiag.data.rules`).  The token stream
of every input is read in blocks into fresh buffers (not memory-mapped, so
resident memory stays flat however large the shards) and every block goes
through the same vectorised steps:

* one ``bincount`` (coverage, out-of-range ids, separators, per-piece and
  naive counts);
* the article scan of :mod:`tsdiag.data.articles` (word-level) and per-window
  sums of its token mask, kept as a histogram (exact percentiles in flat
  memory); its counts are summed per input too (where a word, token or window
  starts), so one shard that lost its articles stands out from the others;
* a linear hash of every window (random odd 64-bit coefficients, arithmetic
  mod 2**64: two windows that differ in one token never collide) for exact
  duplicate detection;
* run detection on every ``k``-th token (``k`` = a quarter of the shortest run
  that matters), refined exactly only where four samples in a row agree.

Packing follows the trainers:

* ``llama2c`` — each shard on its own, windows at multiples of ``seq_len``;
  llama2.c reads ``seq_len + 1`` tokens per window and uses
  ``len // seq_len - 1`` windows per shard;
* ``nanogpt`` — each file on its own, windows of ``block_size + 1`` tokens,
  ``(len - 1) // seq_len`` tiles (nanoGPT itself samples random starts:
  ``--sample``);
* ``contiguous`` — all inputs concatenated, cut into ``len // seq_len``
  windows (Hugging Face ``group_texts``).

Per-window statistics are taken over the ``seq_len`` tokens a window feeds
the model.  ``--sample N`` audits N windows drawn without replacement
(aligned starts for llama2c/contiguous, any start for nanogpt, as its
``get_batch`` draws them); coverage and integrity then describe only the
sampled tokens.
"""

from __future__ import annotations

import bisect
import itertools
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

import numpy as np

from tsdiag.data.articles import NAIVE, ArticleTables, scan_span, to_index
from tsdiag.data.layouts import LAYOUTS, window_count
from tsdiag.data.shards import TokenSource, open_sources
from tsdiag.errors import InputError

if TYPE_CHECKING:
    from tsdiag.data.leaks import SplitFacts

COVERAGE_TOPS = (1000, 2000, 4000, 8000, 10000, 16000, 32000)
BLOCK_TOKENS = 1 << 20      # tokens per vectorised step (rounded to whole windows)
UNIT_TOKENS = 1 << 23       # tokens per job handed to a worker process
SMALL_BLOCK = 1 << 13       # below this, ids are counted with np.add.at instead of a full bincount
RUN_EXAMPLES = 5            # locations kept per kind of run
_HASH_SEED = 0x7A5D1A6      # fixed: window hashes are comparable across runs and processes


# ===================================================================== facts

@dataclass(frozen=True)
class SourceArticleFacts:
    """The article facts of one input, so a shard that lost its articles can be told from the others.

    Words, tokens and windows are attributed by where they start: with the
    ``contiguous`` layout a word or window that crosses into the next file
    belongs to the file it starts in.  With ``--sample`` only the sampled
    windows' tokens count.
    """

    words: int                     # all words (letter runs) starting in this input
    article_words: int
    scanned_tokens: int
    article_tokens: int            # scanned tokens of this input that belong to article words
    windows: int                   # audited windows starting in this input
    zero_article_windows: int      # of them, windows without an article token

    @property
    def word_rate(self) -> float:
        """article words / words (NaN without words)."""
        return self.article_words / self.words if self.words else float("nan")

    @property
    def token_rate(self) -> float:
        return self.article_tokens / self.scanned_tokens if self.scanned_tokens else float("nan")

    @property
    def zero_article_share(self) -> float:
        return self.zero_article_windows / self.windows if self.windows else float("nan")


@dataclass(frozen=True)
class SourceFacts:
    path: str
    kind: str
    dtype: str
    tokens: int
    file_bytes: int
    trailing_bytes: int
    sequences: int | None          # windows of this file (None when files are packed back to back)
    articles: SourceArticleFacts | None = None   # None without a tokenizer


@dataclass(frozen=True)
class PieceCount:
    id: int
    piece: str
    occurrences: int       # every occurrence of the id in the scanned tokens (the naive count)
    in_article_word: int   # occurrences that are (part of) a whole article word


@dataclass(frozen=True)
class ArticleFacts:
    words: tuple[str, ...]
    ids: tuple[int, ...]
    scanned_tokens: int
    word_count: int                # article words
    words_total: int               # all words (letter runs)
    article_tokens: int            # tokens belonging to article words
    naive_tokens: int              # tokens whose id is in ``ids``
    token_rate: float              # article_tokens / scanned_tokens
    word_rate: float               # word_count / words_total
    naive_token_rate: float
    per_sequence_mean: float
    per_sequence_p1: float
    per_sequence_p5: float
    per_sequence_p50: float
    per_sequence_p95: float
    zero_article_sequences: int
    naive_per_sequence_mean: float
    histogram: tuple[int, ...]     # sequences by number of article tokens (index = count)
    breakdown: tuple[PieceCount, ...]

    @property
    def naive_over_word(self) -> float:
        """Naive article tokens per article word (1.0 for a tokenizer with one piece per article)."""
        return self.naive_tokens / self.word_count if self.word_count else float("nan")


@dataclass(frozen=True)
class ReferenceFacts:
    """The article rate of real text, in the units the data's rate is compared in."""

    source: str
    word_rate: float                       # article words / words
    token_rate: float | None = None        # article tokens / tokens, same tokenizer as the data
    per_sequence_p5: float | None = None   # token-level, same seq_len, when measured from text
    tokens: int | None = None


@dataclass(frozen=True)
class CoverageFacts:
    vocab_size: int | None
    vocab_source: str
    distinct_ids: int
    top: dict[int, float]          # K -> share of tokens covered by the K most frequent ids
    unused_vocab_rows: int | None  # ids below vocab_size that never occur (byte-fallback and special ids left out)
    tokens_for_99: int             # smallest K covering 99% of tokens


@dataclass(frozen=True)
class RunFacts:
    count: int
    tokens: int
    longest: int
    examples: tuple[tuple[str, int, int, int], ...]  # (path, token offset, length, id)


@dataclass(frozen=True)
class IntegrityFacts:
    out_of_range_ids: int | None
    out_of_range_first: tuple[str, int, int] | None   # (path, token offset, id)
    max_id: int
    odd_byte_files: tuple[tuple[str, int], ...]       # (path, trailing bytes)
    zero_runs: RunFacts
    repeat_runs: RunFacts
    duplicate_sequences: int
    duplicate_example: tuple[tuple[str, int], tuple[str, int]] | None  # two (path, token offset)
    zero_run_min: int
    repeat_run_min: int


@dataclass(frozen=True)
class SeparatorFacts:
    ids: tuple[int, ...]
    count: int
    mean_story_tokens: float | None


@dataclass(frozen=True)
class TokenizerAgreement:
    """Do the shards decode into text that the tokenizer encodes back into the same ids?

    Ids made by this tokenizer survive decode -> encode unchanged (window edges aside: a window
    may start inside a word); ids made by another tokenizer decode into text that re-encodes
    differently in every window.
    """

    windows: int                 # windows sampled from the pre-tokenized sources
    round_trips: int             # of them, windows whose ids come back unchanged (3 tokens of slack at each edge)
    example: tuple[str, int] | None  # (path, token offset) of the first window that did not come back

    @property
    def share(self) -> float:
        return self.round_trips / self.windows


@dataclass
class AuditResult:
    """Everything the audit measured; ``counts`` is the id histogram (last bin: ids past it)."""

    sources: list[SourceFacts]
    layout: str
    seq_len: int
    tokens: int
    sequences: int
    sampled: bool
    scanned_tokens: int
    tokenizer: str | None
    tokenizer_kind: str | None
    articles: ArticleFacts | None
    reference: ReferenceFacts | None
    coverage: CoverageFacts
    integrity: IntegrityFacts
    separators: SeparatorFacts | None
    counts: np.ndarray = field(repr=False)
    tokenizer_agreement: TokenizerAgreement | None = None
    splits: SplitFacts | None = None   # train vs val (tsdiag.data.leaks), set by the data check


# ==================================================================== streams

@dataclass(frozen=True)
class _Stream:
    """Sources read back to back; windows are cut from the stream."""

    members: tuple[int, ...]
    lengths: tuple[int, ...]
    windows: int

    @property
    def tokens(self) -> int:
        return sum(self.lengths)


def _plan_streams(sources: Sequence[TokenSource], layout: str, seq_len: int) -> list[_Stream]:
    if layout == "contiguous":
        lengths = tuple(s.tokens for s in sources)
        return [_Stream(tuple(range(len(sources))), lengths, window_count(layout, sum(lengths), seq_len))]
    return [_Stream((i,), (s.tokens,), window_count(layout, s.tokens, seq_len)) for i, s in enumerate(sources)]


class _Reader:
    """Reads token ranges of streams into fresh buffers (no mapping: resident memory stays flat)."""

    def __init__(self, sources: Sequence[TokenSource]):
        self.sources = sources
        self._files: dict[int, object] = {}
        self._arrays: dict[int, np.ndarray] = {}

    def _read_source(self, i: int, a: int, b: int) -> np.ndarray:
        src = self.sources[i]
        if src.kind == "pt" and not src.materialised:
            if i not in self._arrays:
                self._arrays[i] = src.open()
            return self._arrays[i][a:b]
        if i not in self._files:
            self._files[i] = open(src.backing or src.path, "rb", buffering=0)
        fh = self._files[i]
        dtype = np.dtype(src.dtype)
        out = np.empty(b - a, dtype=dtype)
        fh.seek(src.offset + a * dtype.itemsize)
        if fh.readinto(memoryview(out).cast("B")) != out.nbytes:
            raise InputError(src.path, "file shrank while being read")
        return out

    def read(self, stream: _Stream, a: int, b: int) -> np.ndarray:
        """Tokens ``[a, b)`` of ``stream`` (clipped to it)."""
        a, b = max(a, 0), min(b, stream.tokens)
        parts, start = [], 0
        for i, n in zip(stream.members, stream.lengths):
            lo, hi = max(a - start, 0), min(b - start, n)
            if lo < hi:
                parts.append(self._read_source(i, lo, hi))
            start += n
        if len(parts) == 1:
            return parts[0]
        if not parts:
            return np.empty(0, dtype=np.dtype(self.sources[stream.members[0]].dtype))
        if len({p.dtype for p in parts}) > 1:
            parts = [p.astype(np.int64, copy=False) for p in parts]
        return np.concatenate(parts)

    def locate(self, stream: _Stream, position: int) -> tuple[str, int]:
        """(source path, token offset in it) of a stream position."""
        start = 0
        for i, n in zip(stream.members, stream.lengths):
            if position < start + n:
                return str(self.sources[i].path), position - start
            start += n
        return str(self.sources[stream.members[-1]].path), position - start + stream.lengths[-1]

    def close(self) -> None:
        for fh in self._files.values():
            fh.close()
        self._files.clear()
        self._arrays.clear()


# ========================================================== the block scanner

@dataclass(frozen=True)
class _Settings:
    seq_len: int
    cap: int                     # ids >= cap (or < 0) share the last histogram bin
    vocab_limit: int | None      # ids >= this are out of range
    zero_run_min: int
    repeat_run_min: int
    tables: ArticleTables | None
    coef: np.ndarray             # int64 hash coefficients (odd), one per window position
    coef_words: np.ndarray       # uint64 view of the same, for windows read as packed words
    packed_hash: bool            # every input holds <= 16-bit unsigned ids and seq_len % 4 == 0

    @property
    def context(self) -> int:
        return self.tables.context if self.tables is not None else 1


@dataclass
class _Run:
    value: int
    start: int
    length: int

    @property
    def end(self) -> int:
        return self.start + self.length


@dataclass
class _Runs:
    """Runs of one id in a stretch of a stream, kept joinable with the next stretch.

    ``head``/``tail`` touch the stretch's ends (exact lengths, any length:
    they may continue next door); ``inner`` are complete runs of at least
    ``min_run``; ``uniform`` means the stretch is one run (``head is tail``).
    """

    head: _Run | None = None
    inner: list[_Run] = field(default_factory=list)
    tail: _Run | None = None
    uniform: bool = False

    def _close(self, run: _Run | None, min_run: int) -> None:
        if run is not None and run.length >= min_run:
            self.inner.append(run)

    def append(self, other: "_Runs", min_run: int) -> None:
        """Add the stretch ``other`` after this one (adjacent or not)."""
        if other.head is None:
            return
        if self.head is None:
            self.head, self.inner, self.tail, self.uniform = other.head, list(other.inner), other.tail, other.uniform
            return
        if self.tail.value == other.head.value and self.tail.end == other.head.start:
            joined = _Run(self.tail.value, self.tail.start, self.tail.length + other.head.length)
            if self.uniform:
                self.head = joined
            if other.uniform:
                self.tail = joined
                return
            if not self.uniform:
                self._close(joined, min_run)
        else:
            if not self.uniform:
                self._close(self.tail, min_run)
            if not other.uniform:
                self._close(other.head, min_run)
        self.inner.extend(other.inner)
        self.tail, self.uniform = other.tail, False

    def closed(self, min_run: int) -> list[_Run]:
        """Every run of at least ``min_run`` once the stream has ended."""
        edges = [self.head] if self.uniform else [self.head, self.tail]
        return sorted(self.inner + [r for r in edges if r is not None and r.length >= min_run], key=lambda r: r.start)


# fields of a _Partial.per_source row: sums per input, attributed by token position
_SRC_ARTICLE_WORDS, _SRC_CONTINUED, _SRC_LETTER_RUNS, _SRC_TOKENS, _SRC_ARTICLE_TOKENS, _SRC_WINDOWS, \
    _SRC_ZERO_WINDOWS, _SRC_COLUMNS = range(8)


@dataclass
class _Partial:
    """What one stretch of a stream contributes; stretches merge in stream order."""

    counts: np.ndarray
    hist: np.ndarray
    hashes: list[np.ndarray] = field(default_factory=list)
    scanned: int = 0
    article_tokens: int = 0
    naive_tokens: int = 0
    naive_window_tokens: int = 0
    word_count: int = 0
    continued: int = 0
    naive_misses: np.ndarray | None = None     # per naive id: occurrences outside article words
    oor_first: tuple | None = None             # (stream position, id), then (stream, position, id)
    max_raw: int = -1
    runs: _Runs = field(default_factory=_Runs)
    # source index -> _SRC_* article sums, of the inputs this stretch touches (plain ints: a sampled
    # window updates them one by one, where numpy scalars cost several times more)
    per_source: dict[int, list[int]] = field(default_factory=dict)

    @classmethod
    def empty(cls, st: _Settings) -> "_Partial":
        naive = None if st.tables is None else np.zeros(len(st.tables.naive_ids), dtype=np.int64)
        return cls(counts=np.zeros(st.cap + 1, dtype=np.int64), hist=np.zeros(st.seq_len + 1, dtype=np.int64),
                   naive_misses=naive)

    def source_row(self, source: int) -> list[int]:
        row = self.per_source.get(source)
        if row is None:
            row = self.per_source[source] = [0] * _SRC_COLUMNS
        return row

    def merge(self, other: "_Partial", min_run: int) -> None:
        """Append ``other`` (the stretch right after this one, or an unrelated one)."""
        self.counts += other.counts
        self.hist += other.hist
        self.hashes.extend(other.hashes)
        for name in ("scanned", "article_tokens", "naive_tokens", "naive_window_tokens", "word_count", "continued"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        if self.naive_misses is not None:
            self.naive_misses += other.naive_misses
        for source, sums in other.per_source.items():
            row = self.source_row(source)
            for k, v in enumerate(sums):
                row[k] += v
        if self.oor_first is None:
            self.oor_first = other.oor_first
        self.max_raw = max(self.max_raw, other.max_raw)
        self.runs.append(other.runs, min_run)


def _prefix_run(x: np.ndarray) -> int:
    """Length of the run of ``x[0]`` at the start of ``x`` (doubling probes: cost ~ the run)."""
    n, probe, first = len(x), 64, x[0]
    start = 0
    while start < n:
        stop = min(n, start + probe)
        diff = np.flatnonzero(x[start:stop] != first)
        if diff.size:
            return start + int(diff[0])
        start, probe = stop, probe * 2
    return n


def _runs_in(x: np.ndarray, base: int, min_run: int) -> _Runs:
    """Head/tail runs of ``x`` exactly, and every interior run of at least ``min_run``."""
    out = _Runs()
    n = len(x)
    if n == 0:
        return out
    head = _prefix_run(x)
    out.head = _Run(int(x[0]), base, head)
    if head == n:
        out.tail, out.uniform = out.head, True
        return out
    tail = _prefix_run(x[::-1])
    out.tail = _Run(int(x[-1]), base + n - tail, tail)
    # a run of min_run tokens covers at least four samples taken every min_run // 4 tokens
    k = max(1, min_run // 4)
    samples = x[::k]
    if samples.size < 4:
        return out
    eq = samples[1:] == samples[:-1]
    four = np.flatnonzero(eq[2:] & eq[1:-1] & eq[:-2])
    if not four.size:
        return out
    breaks = np.flatnonzero(np.diff(four) > 1)
    firsts = four[np.concatenate(([0], breaks + 1))]
    lasts = four[np.concatenate((breaks, [four.size - 1]))]
    for i0, i1 in zip(firsts.tolist(), lasts.tolist()):
        lo, hi = max(0, (i0 - 1) * k + 1), min(n, (i1 + 4) * k)
        piece = x[lo:hi]
        change = np.flatnonzero(piece[1:] != piece[:-1]) + 1
        bounds = np.concatenate(([0], change, [piece.size]))
        lengths = np.diff(bounds)
        for j in np.flatnonzero(lengths >= min_run).tolist():
            start = lo + int(bounds[j])
            if start > 0 and start + int(lengths[j]) < n:  # head/tail are reported exactly above
                out.inner.append(_Run(int(piece[bounds[j]]), base + start, int(lengths[j])))
    return out


class _Scratch:
    """Work buffers reused from block to block, so a block allocates little beyond its results."""

    def __init__(self):
        self._buffers: dict[str, np.ndarray] = {}

    def get(self, name: str, dtype, n: int) -> np.ndarray:
        buf = self._buffers.get(name)
        if buf is None or buf.size < n:
            buf = self._buffers[name] = np.empty(n, dtype=dtype)
        return buf[:n]


_Parts = list[tuple[int, int]]  # (source index, end offset in the block) per input a block holds, in order


def _scan_block(st: _Settings, span: _Span, hi: int, first: int, windows: int, base: int, parts: _Parts,
                out: _Partial, scratch: _Scratch) -> None:
    """Facts of ``span.raw[span.lo:hi]`` (stream positions ``base`` onwards).

    ``windows`` windows of ``seq_len`` tokens, back to back from offset
    ``first`` of ``span.raw``, are summarised (all inside ``[lo, hi)``).
    ``parts`` says which input each stretch of the block comes from (see
    :func:`_parts`), so article facts are summed per input as well; None when
    the stream is a single input, whose sums are the job's totals.
    """
    raw, lo = span.raw, span.lo
    idx = to_index(raw, st.cap, out=scratch.get("idx", np.intp, raw.size))
    if span.before:
        idx[:span.before] = st.cap
    if span.after:
        idx[len(idx) - span.after:] = st.cap
    block = idx[lo:hi]
    tables = st.tables
    if block.size >= SMALL_BLOCK:
        counts = np.bincount(block)  # as long as the largest id: often far shorter than the id range
        out.counts[:counts.size] += counts
        past_table = counts.size > st.cap and bool(counts[st.cap])
        out_of_range = st.vocab_limit is not None and bool(counts[st.vocab_limit:].any())
        if tables is not None:
            naive_tokens = int(counts[tables.naive_ids[tables.naive_ids < counts.size]].sum())
            sparse_seen = bool(counts[tables.sparse_ids[:counts.size]].any())
            if parts is not None:
                letter_runs = int(counts @ tables.letter_runs[:counts.size])
    else:  # a sampled window: a histogram of the whole id range would cost more than the window
        np.add.at(out.counts, block, 1)
        past_table = bool((block == st.cap).any())
        out_of_range = st.vocab_limit is not None and bool((block >= st.vocab_limit).any())
        if tables is not None:
            naive_tokens = _naive_in(tables, block)
            sparse_seen = None
            if parts is not None:
                letter_runs = int(tables.letter_runs[block].sum())
    out.scanned += hi - lo
    if past_table:
        out.max_raw = max(out.max_raw, int(raw[lo:hi].max()))
    if out_of_range and out.oor_first is None:
        pos = int(np.flatnonzero(block >= st.vocab_limit)[0])
        out.oor_first = (base + pos, int(raw[lo + pos]))
    min_run = min(st.zero_run_min, st.repeat_run_min)
    out.runs.append(_runs_in(raw[lo:hi], base, min_run), min_run)  # raw ids: narrow, cache-friendly samples

    S = st.seq_len
    if windows:
        out.hashes.append(_window_hashes(st, raw, idx, first, windows))

    if tables is None:
        return
    codes = np.take(tables.pair_codes, idx, out=scratch.get("codes", np.uint8, idx.size), mode="clip")
    mask = scratch.get("mask", np.uint8, hi - lo)
    if parts is None or len(parts) == 1:
        scan = scan_span(tables, idx, lo, hi, codes=codes, mask=mask, sparse_ids_seen=sparse_seen)
        scans, misses = [scan], scan.naive_misses()
    else:  # the block crosses into another input: scan each input's stretch (words count where they start)
        scans, found, cut = [], [], 0
        for _, end in parts:
            scans.append(scan_span(tables, idx, lo + cut, lo + end, codes=codes, mask=mask[cut:end],
                                   sparse_ids_seen=sparse_seen))
            found.append(scans[-1].naive_misses() + cut)
            cut = end
        misses = np.concatenate(found)
    word_count = scans[0].word_count if len(scans) == 1 else sum(s.word_count for s in scans)
    continued = scans[0].continued if len(scans) == 1 else sum(s.continued for s in scans)
    out.word_count += word_count
    out.continued += continued  # words = letter runs (from the final histogram) - continued
    out.naive_tokens += naive_tokens
    if misses.size:
        out.naive_misses += np.bincount(tables.naive_slots[block[misses]], minlength=len(tables.naive_ids))
    zero_windows = 0
    if not windows:
        article_tokens = int(np.count_nonzero(mask))
    else:
        a, b = first - lo, first - lo + windows * S
        per_window = mask[a:b].reshape(-1, S).sum(1, dtype=_count_dtype(S))
        window_hist = np.bincount(per_window, minlength=S + 1)
        out.hist += window_hist
        zero_windows = int(window_hist[0])
        article_tokens = int(per_window.sum(dtype=np.int64) + np.count_nonzero(mask[:a]) + np.count_nonzero(mask[b:]))
        out.naive_window_tokens += naive_tokens - _naive_in(tables, block[:a]) - _naive_in(tables, block[b:])
    out.article_tokens += article_tokens
    if parts is None:
        return
    if len(parts) == 1:
        row = out.source_row(parts[0][0])
        row[_SRC_ARTICLE_WORDS] += word_count
        row[_SRC_CONTINUED] += continued
        row[_SRC_LETTER_RUNS] += letter_runs
        row[_SRC_TOKENS] += hi - lo
        row[_SRC_ARTICLE_TOKENS] += article_tokens
        row[_SRC_WINDOWS] += windows
        row[_SRC_ZERO_WINDOWS] += zero_windows
        return
    # letter runs of every stretch but the longest are gathered; the longest gets the rest of the block's
    cuts = [0, *(end for _, end in parts)]
    longest = int(np.argmax(np.diff(cuts)))
    runs = [0 if j == longest else int(tables.letter_runs[block[cuts[j]:cuts[j + 1]]].sum()) for j in range(len(parts))]
    runs[longest] = letter_runs - sum(runs)
    for (source, end), scan, cut, letters in zip(parts, scans, cuts, runs):
        row = out.source_row(source)
        row[_SRC_ARTICLE_WORDS] += scan.word_count
        row[_SRC_CONTINUED] += scan.continued
        row[_SRC_LETTER_RUNS] += letters
        row[_SRC_TOKENS] += end - cut
        row[_SRC_ARTICLE_TOKENS] += int(np.count_nonzero(mask[cut:end]))
        if windows:  # windows starting in [cut, end): window w starts at a + w * S
            w0, w1 = (min(windows, max(0, -(-(x - a) // S))) for x in (cut, end))
            row[_SRC_WINDOWS] += w1 - w0
            row[_SRC_ZERO_WINDOWS] += int(np.count_nonzero(per_window[w0:w1] == 0))


def _naive_in(tables: ArticleTables, ids: np.ndarray) -> int:
    """Tokens of ``ids`` (table indices) whose id is a naive article id."""
    return int(np.count_nonzero(tables.flags[ids] & NAIVE))


def _count_dtype(seq_len: int) -> type:
    """The narrowest sum type for per-window counts (summing bytes into int64 is several times slower)."""
    return np.uint16 if seq_len < 1 << 16 else np.int64


def _window_hashes(st: _Settings, raw: np.ndarray, idx: np.ndarray, first: int, windows: int) -> np.ndarray:
    """One 64-bit linear hash per window: sum of coefficient * word, mod 2**64.

    When every input holds 16-bit ids (``st.packed_hash``), windows are read
    as packed 64-bit words (four ids per word, an exact packing), which makes
    the product four times shorter; otherwise the ids are hashed one by one.
    The choice is made once per audit, so equal windows always hash equally.
    (``einsum`` runs this integer product faster than ``@``.)
    """
    S = st.seq_len
    if st.packed_hash:
        rows = raw[first:first + windows * S]
        words = np.ascontiguousarray(rows, dtype=np.uint16).view(np.uint64).reshape(windows, S // 4)
        return np.einsum("ij,j->i", words, st.coef_words[: S // 4]).view(np.int64)
    # the raw ids, not ``idx``: table indices clip every id past the tables to one sentinel,
    # which would make windows of different large ids (uint32 vocabularies) hash equally
    rows = raw[first:first + windows * S].astype(np.int64, copy=False).reshape(-1, S)
    return np.einsum("ij,j->i", rows, st.coef)


@dataclass(frozen=True)
class _Span:
    """Tokens ``[a - c, b + c)`` of a stream in their own dtype; ``before``/``after`` positions
    past the stream's ends are filler that the scan treats as "no text"."""

    raw: np.ndarray
    lo: int
    before: int
    after: int


def _padded(st: _Settings, reader: _Reader, stream: _Stream, a: int, b: int) -> _Span:
    c = st.context
    core = reader.read(stream, a - c, b + c)
    before, after = max(0, c - a), max(0, b + c - stream.tokens)
    if before or after:
        core = np.concatenate([np.zeros(before, dtype=core.dtype), core, np.zeros(after, dtype=core.dtype)])
    return _Span(core, c, before, after)


# ======================================================================= jobs

@dataclass(frozen=True)
class _Tiles:
    """Stream positions ``[a, b)``; its windows are ``[w0, w1)`` of the stream's tiling."""

    stream: int
    a: int
    b: int
    w0: int
    w1: int


@dataclass(frozen=True)
class _Samples:
    """Windows starting at ``starts`` (sorted) of one stream."""

    stream: int
    starts: np.ndarray


def _parts(stream: _Stream, starts: Sequence[int] | None, a: int, b: int) -> _Parts | None:
    """Which inputs stream positions ``[a, b)`` come from: (source index, end offset from ``a``) each.

    ``starts`` are the stream positions where its members begin (and its end);
    None (a stream of one input, or no article scan) gives None.
    """
    if starts is None:
        return None
    out = []
    j = bisect.bisect_right(starts, a) - 1
    while j < len(stream.members) and starts[j] < b:
        if starts[j + 1] > max(a, starts[j]):  # (members without tokens hold nothing)
            out.append((stream.members[j], min(starts[j + 1], b) - a))
        j += 1
    return out


_WORKER: dict = {}


def _init_worker(sources, streams, settings) -> None:
    _WORKER.update(reader=_Reader(sources), streams=streams, settings=settings, scratch=_Scratch())


def _run_job(job) -> _Partial:
    st, reader, streams, scratch = _WORKER["settings"], _WORKER["reader"], _WORKER["streams"], _WORKER["scratch"]
    stream = streams[job.stream]
    # per-input article sums: by position where the stream joins several inputs, else the job's totals
    starts = [0, *itertools.accumulate(stream.lengths)] if len(stream.members) > 1 and st.tables is not None else None
    S = st.seq_len
    out = _Partial.empty(st)
    if isinstance(job, _Tiles):
        step = max(1, BLOCK_TOKENS // S) * S
        pos = job.a
        while pos < job.b:
            end = min(job.b, pos + step)
            span = _padded(st, reader, stream, pos, end)
            first_w = max(job.w0, -(-pos // S))
            last_w = min(job.w1, end // S)
            _scan_block(st, span, span.lo + (end - pos), first_w * S - pos + span.lo, max(0, last_w - first_w), pos,
                        _parts(stream, starts, pos, end), out, scratch)
            pos = end
    else:
        for start in job.starts.tolist():  # sampled windows: stretches that join only where adjacent
            span = _padded(st, reader, stream, start, start + S)
            _scan_block(st, span, span.lo + S, span.lo, 1, start, _parts(stream, starts, start, start + S), out,
                        scratch)
    if st.tables is not None and starts is None:
        out.per_source[stream.members[0]] = _sums_of(out, st.tables)
    if out.oor_first is not None:
        out.oor_first = (job.stream, *out.oor_first)
    return out


def _sums_of(part: _Partial, tables: ArticleTables) -> list[int]:
    """A ``per_source`` row holding all of ``part`` (its stream is one input)."""
    row = [0] * _SRC_COLUMNS
    row[_SRC_ARTICLE_WORDS], row[_SRC_CONTINUED] = part.word_count, part.continued
    row[_SRC_LETTER_RUNS] = int(part.counts @ tables.letter_runs[:len(part.counts)])
    row[_SRC_TOKENS], row[_SRC_ARTICLE_TOKENS] = part.scanned, part.article_tokens
    row[_SRC_WINDOWS], row[_SRC_ZERO_WINDOWS] = int(part.hist.sum()), int(part.hist[0])
    return row


def _tile_jobs(streams: Sequence[_Stream], seq_len: int, unit: int) -> list[_Tiles]:
    jobs = []
    step = max(1, unit // seq_len) * seq_len
    for si, stream in enumerate(streams):
        n = stream.tokens
        for a in range(0, n, step):  # an empty stream (a file shorter than one token) has no job
            b = n if a + step >= n else a + step
            jobs.append(_Tiles(si, a, b, min(a // seq_len, stream.windows), min(b // seq_len, stream.windows)))
    return jobs


def _sample_jobs(streams: Sequence[_Stream], layout: str, seq_len: int, n: int, seed: int) -> list[_Samples]:
    rng = np.random.default_rng(seed)
    if layout == "nanogpt":  # any start whose seq_len + 1 tokens fit, as nanoGPT's get_batch draws them
        choices = np.array([max(s.tokens - seq_len, 0) for s in streams], dtype=np.int64)
        aligned = False
    else:
        choices = np.array([s.windows for s in streams], dtype=np.int64)
        aligned = True
    total = int(choices.sum())
    if total == 0:
        return []
    picks = np.sort(rng.choice(total, size=min(n, total), replace=False))
    bounds = np.concatenate(([0], np.cumsum(choices)))
    jobs = []
    for si in range(len(streams)):
        mine = picks[(picks >= bounds[si]) & (picks < bounds[si + 1])] - bounds[si]
        if mine.size:
            jobs.append(_Samples(si, mine * seq_len if aligned else mine))
    return jobs


# ================================================================== summaries

def _percentile(hist: np.ndarray, q: float) -> float:
    """``numpy.percentile(values, q)`` (linear) of the values a histogram counts."""
    total = int(hist.sum())
    if total == 0:
        return float("nan")
    rank = q / 100 * (total - 1)
    cum = np.cumsum(hist)
    lo = int(np.searchsorted(cum, np.floor(rank), side="right"))
    hi = int(np.searchsorted(cum, np.ceil(rank), side="right"))
    return lo + (hi - lo) * (rank - np.floor(rank))


def _article_facts(st: _Settings, acc: _Partial, tokenizer, sequences: int) -> ArticleFacts:
    tables = st.tables
    S = st.seq_len
    hist = acc.hist
    share = lambda q: _percentile(hist, q) / S  # noqa: E731
    windows_tokens = sequences * S
    mean = float((hist * np.arange(S + 1)).sum() / windows_tokens) if sequences else float("nan")
    pieces = tokenizer.pieces()
    breakdown = tuple(
        PieceCount(int(i), pieces[i], int(acc.counts[i]), int(acc.counts[i] - miss))
        for i, miss in zip(tables.naive_ids.tolist(), acc.naive_misses.tolist())
    )
    scanned = acc.scanned
    words = int(acc.counts[:-1] @ tables.letter_runs[:len(acc.counts) - 1]) - acc.continued
    return ArticleFacts(
        words=tables.words, ids=tuple(int(i) for i in tables.naive_ids), scanned_tokens=scanned,
        word_count=acc.word_count, words_total=words, article_tokens=acc.article_tokens,
        naive_tokens=acc.naive_tokens,
        token_rate=acc.article_tokens / scanned if scanned else float("nan"),
        word_rate=acc.word_count / words if words else float("nan"),
        naive_token_rate=acc.naive_tokens / scanned if scanned else float("nan"),
        per_sequence_mean=mean, per_sequence_p1=share(1), per_sequence_p5=share(5), per_sequence_p50=share(50),
        per_sequence_p95=share(95), zero_article_sequences=int(hist[0]) if sequences else 0,
        naive_per_sequence_mean=acc.naive_window_tokens / windows_tokens if sequences else float("nan"),
        histogram=tuple(int(v) for v in np.trim_zeros(hist, "b")), breakdown=breakdown,
    )


def _source_article_facts(acc: _Partial, source_count: int) -> list[SourceArticleFacts]:
    rows = [acc.per_source.get(i, [0] * _SRC_COLUMNS) for i in range(source_count)]
    return [
        SourceArticleFacts(
            words=row[_SRC_LETTER_RUNS] - row[_SRC_CONTINUED], article_words=row[_SRC_ARTICLE_WORDS],
            scanned_tokens=row[_SRC_TOKENS], article_tokens=row[_SRC_ARTICLE_TOKENS],
            windows=row[_SRC_WINDOWS], zero_article_windows=row[_SRC_ZERO_WINDOWS])
        for row in rows
    ]


def _unused_rows(inside: np.ndarray, not_text: Sequence[int]) -> int:
    unused = inside == 0
    unused[[i for i in not_text if 0 <= i < len(inside)]] = False
    return int(np.count_nonzero(unused))


_AGREEMENT_WINDOWS = 8        # windows sampled across the pre-tokenized sources
_AGREEMENT_WINDOW_TOKENS = 256
_AGREEMENT_EDGE = 3           # tokens at each end of a window allowed to re-encode differently


def tokenizer_agreement(sources: Sequence[TokenSource], tokenizer, vocab_limit: int | None) -> TokenizerAgreement | None:
    """Decode a few windows of the pre-tokenized sources and encode them back (see :class:`TokenizerAgreement`).

    Text inputs are skipped (this very tokenizer made their ids); None when nothing is left.
    """
    picked = [s for s in sources if s.kind not in ("text", "json", "jsonl") and s.tokens][:_AGREEMENT_WINDOWS]
    if not picked:
        return None
    not_text = np.asarray(sorted(set(tokenizer.special_ids())), dtype=np.int64)
    limit = vocab_limit or tokenizer.vocab_size
    windows = round_trips = 0
    example = None
    for source in picked:
        array = source.open()
        span = min(_AGREEMENT_WINDOW_TOKENS, source.tokens)
        for start in np.linspace(0, source.tokens - span, _AGREEMENT_WINDOWS // len(picked)).astype(np.int64):
            ids = np.asarray(array[start:start + span], dtype=np.int64)
            ids = ids[(ids >= 0) & (ids < limit) & ~np.isin(ids, not_text)].tolist()
            if len(ids) <= 4 * _AGREEMENT_EDGE:
                continue
            windows += 1
            if _round_trips(ids, tokenizer.encode(tokenizer.decode(ids))):
                round_trips += 1
            elif example is None:
                example = (str(source.path), int(start))
    return TokenizerAgreement(windows, round_trips, example) if windows else None


def _round_trips(ids: list[int], again: list[int]) -> bool:
    """``ids`` without its edges appears in ``again`` where it should (edges may re-encode differently)."""
    inner = ids[_AGREEMENT_EDGE:-_AGREEMENT_EDGE]
    return any(again[k:k + len(inner)] == inner for k in range(2 * _AGREEMENT_EDGE + 1))


def coverage_facts(counts: np.ndarray, vocab_size: int | None, vocab_source: str,
                   not_text: Sequence[int] = ()) -> CoverageFacts:
    """Share of tokens covered by the most frequent K ids, and vocabulary rows never seen.

    ``not_text`` ids (byte-fallback pieces, BOS/EOS/unk/padding) are left out of the unused
    rows: a tokenizer keeps all 256 byte pieces whatever text it meets, so their absence says
    nothing about the vocabulary fitting the data.
    """
    inside = counts[:-1] if vocab_size is None else counts[:min(vocab_size, len(counts) - 1)]
    total = int(counts.sum())
    ordered = np.sort(inside)[::-1]
    cum = np.cumsum(ordered)
    top = {k: (float(cum[min(k, len(cum)) - 1] / total) if total and len(cum) else float("nan")) for k in COVERAGE_TOPS}
    need = int(np.searchsorted(cum, 0.99 * total) + 1) if total else 0
    return CoverageFacts(
        vocab_size=vocab_size, vocab_source=vocab_source, distinct_ids=int(np.count_nonzero(counts[:-1])),
        top=top, unused_vocab_rows=None if vocab_size is None else _unused_rows(inside, not_text),
        tokens_for_99=need,
    )


# ================================================================ execution

class _Fold:
    """Merges job results in job order as they arrive, closing each stream's runs when it ends.

    Only the totals and the runs found so far are kept, so memory does not grow
    with the number of jobs (window hashes excepted: 8 bytes per window).
    """

    def __init__(self, settings: _Settings, jobs: Sequence):
        self.settings, self.jobs = settings, jobs
        self.min_run = min(settings.zero_run_min, settings.repeat_run_min)
        self.total = _Partial.empty(settings)
        self.runs: list[tuple[int, _Run]] = []
        self._stream: _Partial | None = None
        self._pending: dict[int, _Partial] = {}
        self._next = 0

    def add(self, index: int, part: _Partial) -> None:
        self._pending[index] = part
        while self._next in self._pending:
            part = self._pending.pop(self._next)
            stream = self.jobs[self._next].stream
            if self._stream is None:
                self._stream = part
            else:
                self._stream.merge(part, self.min_run)
            self._next += 1
            if self._next == len(self.jobs) or self.jobs[self._next].stream != stream:
                self.runs += [(stream, r) for r in self._stream.runs.closed(self.min_run)]
                self._stream.runs = _Runs()
                self.total.merge(self._stream, self.min_run)
                self._stream = None


def _execute(jobs, job_tokens, sources, streams, settings, workers: int, progress) -> _Fold:
    """Run the jobs (in this process, or in ``workers`` processes) and fold their results."""
    fold = _Fold(settings, jobs)
    total = sum(job_tokens)
    done = 0
    if workers <= 1 or len(jobs) <= 1:
        _init_worker(sources, streams, settings)
        try:
            for i, (job, n) in enumerate(zip(jobs, job_tokens)):
                fold.add(i, _run_job(job))
                done += n
                if progress is not None:
                    progress(done, total)
            return fold
        finally:
            _WORKER.pop("reader").close()
            _WORKER.clear()
    import multiprocessing
    import sys
    from concurrent.futures import as_completed

    # fork starts workers at once with the tables already in memory; it is unsafe once torch (and its
    # thread pools) is loaded, e.g. after reading a .pt shard, so spawn is used then
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods and "torch" not in sys.modules else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(sources, streams, settings)) as pool:
        futures = {pool.submit(_run_job, job): i for i, job in enumerate(jobs)}
        for future in as_completed(futures):
            i = futures[future]
            fold.add(i, future.result())
            done += job_tokens[i]
            if progress is not None:
                progress(done, total)
    return fold


# ===================================================================== entry

def _vocab(tokenizer, vocab_size: int | None) -> tuple[int | None, str]:
    limits = []
    if tokenizer is not None:
        limits.append((tokenizer.vocab_size, f"tokenizer {Path(tokenizer.path).name}"))
    if vocab_size is not None:
        limits.append((vocab_size, "--vocab-size"))
    if not limits:
        return None, "unknown (no tokenizer or --vocab-size)"
    return min(limits)


def reference_from_text(path: str | Path, tokenizer, words: Sequence[str], seq_len: int) -> ReferenceFacts:
    """Article rates of real text, tokenized with the data's tokenizer and packed in ``seq_len`` windows."""
    result = audit_shards([path], tokenizer=tokenizer, seq_len=seq_len, layout="contiguous",
                          article_words=words, use_builtin_reference=False)
    a = result.articles
    return ReferenceFacts(source=str(path), word_rate=a.word_rate, token_rate=a.token_rate,
                          per_sequence_p5=a.per_sequence_p5 if result.sequences else None, tokens=result.tokens)


def builtin_reference(words: Sequence[str]) -> ReferenceFacts | None:
    """The word-level rate of real TinyStories text; defined only for the default article words.

    It is compared with the data's *word-level* rate (article words / words),
    which does not depend on the tokenizer; token-level rates do.
    """
    from tsdiag.reference import TINYSTORIES_ARTICLE_LETTER_RUN_RATE
    from tsdiag.tokenizer import ARTICLE_WORDS

    if sorted({w.lower() for w in words}) != sorted(ARTICLE_WORDS):
        return None
    ref = TINYSTORIES_ARTICLE_LETTER_RUN_RATE
    return ReferenceFacts(source=ref.source, word_rate=ref.value)


def audit_shards(
    paths: Iterable[str | Path] | str | Path,
    *,
    tokenizer=None,
    seq_len: int = 512,
    layout: str = "llama2c",
    sample: int | None = None,
    seed: int = 0,
    dtype: str = "uint16",
    vocab_size: int | None = None,
    reference_text: str | Path | None = None,
    article_words: Sequence[str] | None = None,
    text_column: str = "text",
    workers: int = 1,
    thresholds=None,
    use_builtin_reference: bool = True,
    articles: bool = True,
    progress: Callable[[int, int], None] | None = None,
    on_source: Callable[[TokenSource], None] | None = None,
) -> AuditResult:
    """Audit token shards as a trainer packs them (see the module docstring).

    ``tokenizer`` is a :class:`tsdiag.tokenizer.Tokenizer` or a path to one;
    without it (or with ``articles=False``, for callers that only want counts)
    article statistics are unknown (``None``).  ``progress(done,
    total)`` is called with token counts as work completes; ``on_source``
    after each input is opened (text inputs are tokenized then).
    """
    from tsdiag.thresholds import Thresholds
    from tsdiag.tokenizer import ARTICLE_WORDS, Tokenizer, load_tokenizer

    if isinstance(paths, (str, Path)):
        paths = [paths]
    if layout not in LAYOUTS:
        raise InputError("--layout", f"{layout!r} is not a layout (use {', '.join(LAYOUTS)})")
    if seq_len < 1:
        raise InputError("--seq-len", f"must be at least 1, got {seq_len}")
    if sample is not None and sample < 1:
        raise InputError("--sample", f"must be at least 1, got {sample}")
    if vocab_size is not None and vocab_size < 1:
        raise InputError("--vocab-size", f"must be at least 1, got {vocab_size}")
    if workers < 1:
        raise InputError("--workers", f"must be at least 1, got {workers}")
    if tokenizer is not None and not isinstance(tokenizer, Tokenizer):
        tokenizer = load_tokenizer(tokenizer)
    words = tuple(article_words) if article_words else ARTICLE_WORDS
    if reference_text is not None and tokenizer is None:
        raise InputError(reference_text, "--reference-text needs --tokenizer to tokenize it")
    thresholds = thresholds or Thresholds()
    try:
        tables = ArticleTables.build(tokenizer, words) if tokenizer is not None and articles else None
    except ValueError as exc:
        raise InputError("--article-words", str(exc)) from None

    with tempfile.TemporaryDirectory(prefix="tsdiag-audit-") as workdir:
        sources = open_sources(paths, dtype=dtype, tokenizer=tokenizer, text_column=text_column,
                               workdir=Path(workdir), on_source=on_source)
        if not sum(s.tokens for s in sources):
            raise InputError(", ".join(str(s.path) for s in sources), "no complete token in the input")
        limit, limit_source = _vocab(tokenizer, vocab_size)
        cap = tables.sentinel if tables is not None else max(1 << 16, limit or 0)
        coef = np.random.default_rng(_HASH_SEED).integers(0, 2**62, size=seq_len, dtype=np.int64) * 2 + 1
        settings = _Settings(
            seq_len=seq_len, cap=cap, vocab_limit=limit, zero_run_min=thresholds.zero_run_min,
            repeat_run_min=thresholds.repeat_run_min, tables=tables,
            coef=coef, coef_words=coef.view(np.uint64),
            packed_hash=seq_len % 4 == 0 and all(np.dtype(s.dtype).kind == "u" and np.dtype(s.dtype).itemsize <= 2
                                                 for s in sources),
        )
        streams = _plan_streams(sources, layout, seq_len)
        if sample is None:
            jobs: list = _tile_jobs(streams, seq_len, UNIT_TOKENS)
            sequences = sum(s.windows for s in streams)
            job_tokens = [j.b - j.a for j in jobs]
        else:
            jobs = _sample_jobs(streams, layout, seq_len, sample, seed)
            sequences = sum(len(j.starts) for j in jobs)
            job_tokens = [len(j.starts) * seq_len for j in jobs]
        fold = _execute(jobs, job_tokens, sources, streams, settings, workers, progress)
        total, runs = fold.total, fold.runs

        reader = _Reader(sources)
        try:
            integrity = _integrity(settings, total, sources, streams, jobs, reader, runs)
        finally:
            reader.close()
        # (inside the work folder: row sources are read back from the files materialised there)
        agreement = tokenizer_agreement(sources, tokenizer, limit) if tokenizer is not None else None

    articles = _article_facts(settings, total, tokenizer, sequences) if tables is not None else None
    reference = None
    if reference_text is not None:
        reference = reference_from_text(reference_text, tokenizer, words, seq_len)
    elif use_builtin_reference and tables is not None:
        reference = builtin_reference(words)
    separators = None
    if tokenizer is not None:
        ids = tuple(tokenizer.separator_ids())
        count = int(sum(total.counts[i] for i in ids))
        separators = SeparatorFacts(ids, count, total.scanned / count if count else None)
    per_source = [s.windows for s in streams] if layout != "contiguous" else [None] * len(sources)
    source_articles = [None] * len(sources) if tables is None else _source_article_facts(total, len(sources))
    return AuditResult(
        sources=[SourceFacts(str(s.path), s.kind, s.dtype, s.tokens, s.file_bytes, s.trailing_bytes, w, sa)
                 for s, w, sa in zip(sources, per_source, source_articles)],
        layout=layout, seq_len=seq_len, tokens=sum(s.tokens for s in sources), sequences=sequences,
        sampled=sample is not None, scanned_tokens=total.scanned,
        tokenizer=str(tokenizer.path) if tokenizer is not None else None,
        tokenizer_kind=tokenizer.kind if tokenizer is not None else None,
        articles=articles, reference=reference,
        coverage=coverage_facts(total.counts, limit, limit_source,
                                not_text=[*tokenizer.byte_ids(), *tokenizer.special_ids()] if tokenizer else ()),
        integrity=integrity, separators=separators, counts=total.counts, tokenizer_agreement=agreement,
    )


def _window_location(index: int, jobs, streams, reader: _Reader, seq_len: int) -> tuple[str, int]:
    """(path, token offset) of the ``index``-th hashed window (jobs hash their windows in order)."""
    for job in jobs:
        n = (job.w1 - job.w0) if isinstance(job, _Tiles) else len(job.starts)
        if index < n:
            start = (job.w0 + index) * seq_len if isinstance(job, _Tiles) else int(job.starts[index])
            return reader.locate(streams[job.stream], start)
        index -= n
    raise IndexError(index)


def _integrity(st: _Settings, total: _Partial, sources, streams, jobs, reader: _Reader, runs) -> IntegrityFacts:
    oor = oor_first = None
    if st.vocab_limit is not None:
        oor = int(total.counts[min(st.vocab_limit, st.cap):].sum())
        if total.oor_first is not None:
            si, pos, value = total.oor_first
            oor_first = (*reader.locate(streams[si], pos), value)
    seen = np.flatnonzero(total.counts[:-1])
    max_id = total.max_raw if total.counts[-1] else (int(seen[-1]) if seen.size else -1)

    hashes = np.concatenate(total.hashes) if total.hashes else np.empty(0, dtype=np.int64)
    ordered = np.sort(hashes)  # a plain sort: several times faster than the stable argsort of np.unique
    repeated = ordered[1:] == ordered[:-1]
    duplicates = int(np.count_nonzero(repeated))
    example = None
    if duplicates:  # the earliest window that comes back later, and its first repeat
        values = np.unique(ordered[1:][repeated])
        first = int(np.flatnonzero(values[np.searchsorted(values, hashes).clip(max=values.size - 1)] == hashes)[0])
        second = int(np.flatnonzero(hashes == hashes[first])[1])
        example = (_window_location(first, jobs, streams, reader, st.seq_len),
                   _window_location(second, jobs, streams, reader, st.seq_len))

    def summary(selected: list[tuple[int, _Run]]) -> RunFacts:
        return RunFacts(
            count=len(selected), tokens=sum(r.length for _, r in selected),
            longest=max((r.length for _, r in selected), default=0),
            examples=tuple((*reader.locate(streams[si], r.start), r.length, r.value) for si, r in selected[:RUN_EXAMPLES]),
        )

    return IntegrityFacts(
        out_of_range_ids=oor, out_of_range_first=oor_first, max_id=max_id,
        odd_byte_files=tuple((str(s.path), s.trailing_bytes) for s in sources if s.trailing_bytes),
        zero_runs=summary([(si, r) for si, r in runs if r.value == 0 and r.length >= st.zero_run_min]),
        repeat_runs=summary([(si, r) for si, r in runs if r.value != 0 and r.length >= st.repeat_run_min]),
        duplicate_sequences=duplicates, duplicate_example=example,
        zero_run_min=st.zero_run_min, repeat_run_min=st.repeat_run_min,
    )
