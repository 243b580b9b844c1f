"""The audit's vectorised article scan against a slow reference computed from the decoded text.

The scan (tsdiag.data.articles) and the audit's block loop take shortcuts: neighbour-pair lanes,
sparse candidates, naive counts taken from the id histogram, per-window sums, words cut at block,
job and window borders.  Every one of their results is recomputed here the plain way, on token
streams built to reach the rare cases: random neighbours, pieces that glue an article to other
words (a tokenizer trained without whitespace splitting), article words that are prefixes of each
other, ids past the vocabulary, repeated windows, and blocks of a few dozen tokens.
"""

from __future__ import annotations

import numpy as np
import pytest
from data_factory import STORIES, encode_corpus

from tsdiag.data import articles
from tsdiag.data.articles import ArticleTables, naive_id_counts, scan_articles
from tsdiag.tokenizer import ARTICLE_WORDS, LETTER_RUN, load_tokenizer

WORD_SETS = (ARTICLE_WORDS, ("a", "an", "the", "th"), ("aa", "a"))


@pytest.fixture(scope="module")
def glued_model(tmp_path_factory):
    """A sentencepiece model trained without whitespace splitting: pieces such as "▁a▁b" and "The▁end"."""
    import sentencepiece as spm

    prefix = tmp_path_factory.mktemp("glued") / "glued"
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(STORIES * 3), model_prefix=str(prefix), model_type="bpe", vocab_size=400,
        byte_fallback=True, split_by_whitespace=False, character_coverage=1.0, normalization_rule_name="identity",
        hard_vocab_limit=False, num_threads=1, minloglevel=2,
    )
    return prefix.with_suffix(".model")


@pytest.fixture(params=["sp_model", "glued_model", "char_meta", "hf_json"])
def tok(request):
    return load_tokenizer(request.getfixturevalue(request.param))


def reference(tok, ids: np.ndarray, words) -> tuple[np.ndarray, int, int]:
    """Per-token article mask, article words and all words, read off the decoded text.

    Ids without text (and ids past the vocabulary) separate words, as the scanner documents.
    """
    surfaces = tok.surfaces()
    parts, owner = [], []
    for t, i in enumerate(ids.tolist()):
        text = surfaces[i] if i < len(surfaces) and surfaces[i] else "\0"
        parts.append(text)
        owner += [t] * len(text)
    mask = np.zeros(len(ids), dtype=bool)
    wanted = {w.lower() for w in words}
    found = total = 0
    for m in LETTER_RUN.finditer("".join(parts)):
        total += 1
        if m.group().lower() in wanted:
            found += 1
            mask[owner[m.start()]:owner[m.end() - 1] + 1] = True
    return mask, found, total


def stream(tok, seed: int = 0) -> np.ndarray:
    """Real text, the same text with 5% random ids, random ids (some past the vocabulary), real text again."""
    rng = np.random.default_rng(seed)
    real = encode_corpus(tok).astype(np.int64)
    noisy = real.copy()
    hit = rng.random(noisy.size) < 0.05
    noisy[hit] = rng.integers(0, tok.vocab_size, int(hit.sum()))
    rand = rng.integers(0, tok.vocab_size + 40, 3000)
    return np.concatenate([noisy, rand, real[:2000]]).astype(np.uint16)


@pytest.mark.parametrize("words", WORD_SETS)
def test_scan_matches_the_text(tok, words, monkeypatch):
    ids = stream(tok)
    tables = ArticleTables.build(tok, words)
    mask, found, total = reference(tok, ids, words)
    scan = scan_articles(tables, ids)
    assert np.array_equal(scan.mask, mask)
    assert (scan.word_count, scan.words, scan.article_tokens) == (found, total, int(mask.sum()))
    naive = np.isin(ids, tables.naive_ids)
    assert scan.naive_tokens == int(naive.sum())

    expected_seen = np.array([int((ids == i).sum()) for i in tables.naive_ids])
    expected_in_word = np.array([int(((ids == i) & mask).sum()) for i in tables.naive_ids])
    for chunk in (None, 7):  # one chunk, and words crossing almost every chunk border
        if chunk:
            monkeypatch.setattr(articles, "_MEASURE_CHUNK", chunk)
        seen, in_word, article_tokens = naive_id_counts(tables, ids)
        assert np.array_equal(seen, expected_seen) and np.array_equal(in_word, expected_in_word)
        assert article_tokens == int(mask.sum())


def test_glued_pieces_reach_the_sparse_step(glued_model):
    """Guard for the test above: the glued vocabulary really puts lane-less pieces in the stream."""
    tok = load_tokenizer(glued_model)
    tables = ArticleTables.build(tok)
    assert tables.sparse_ids[stream(tok)].sum() > 50


def _windows(n: int, layout: str, seq_len: int) -> np.ndarray:
    count = {"llama2c": n // seq_len - 1, "nanogpt": (n - 1) // seq_len, "contiguous": n // seq_len}[layout]
    return np.arange(max(count, 0)) * seq_len


@pytest.mark.parametrize("layout,seq_len", [("llama2c", 32), ("contiguous", 30), ("nanogpt", 17)])
def test_audit_blocks_match_the_reference(tok, layout, seq_len, tmp_path, monkeypatch):
    import tsdiag.data.audit as audit

    words = ("a", "an", "the", "th")
    # articles right to the end, and half a window of tokens after the last window (more for llama2c)
    tail = encode_corpus(tok, ["The cat saw a dog and an owl."] * 8).astype(np.uint16)
    ids = np.concatenate([stream(tok, seed=1), tail])
    ids = ids[:len(ids) - (len(ids) - seq_len // 2 - 1) % seq_len]
    ids[seq_len * 40:seq_len * 43] = ids[seq_len * 10:seq_len * 13]  # three windows written twice
    path = tmp_path / "d.bin"
    ids.tofile(path)
    whole = audit.audit_shards([path], tokenizer=tok, seq_len=seq_len, layout=layout, article_words=words)
    monkeypatch.setattr(audit, "BLOCK_TOKENS", 3 * seq_len)  # blocks of three windows, jobs of about thirty windows
    monkeypatch.setattr(audit, "UNIT_TOKENS", 1000)
    small = audit.audit_shards([path], tokenizer=tok, seq_len=seq_len, layout=layout, article_words=words)
    assert small.articles == whole.articles and small.integrity == whole.integrity
    assert np.array_equal(small.counts, whole.counts)

    mask, found, total = reference(tok, ids, words)
    tables = ArticleTables.build(tok, words)
    starts = _windows(len(ids), layout, seq_len)
    per_window = np.array([int(mask[s:s + seq_len].sum()) for s in starts])
    assert mask[starts[-1] + seq_len:].any()
    naive = np.isin(ids, tables.naive_ids)
    a = whole.articles
    assert (a.word_count, a.words_total, a.article_tokens, a.naive_tokens) == (found, total, int(mask.sum()),
                                                                              int(naive.sum()))
    assert a.histogram == tuple(np.trim_zeros(np.bincount(per_window, minlength=seq_len + 1), "b").tolist())
    assert a.zero_article_sequences == int((per_window == 0).sum())
    assert a.naive_per_sequence_mean == pytest.approx(np.mean([naive[s:s + seq_len].mean() for s in starts]))
    for piece in a.breakdown:
        assert piece.occurrences == int((ids == piece.id).sum())
        assert piece.in_article_word == int(((ids == piece.id) & mask).sum())
    windows = [tuple(ids[s:s + seq_len]) for s in starts]
    assert whole.integrity.duplicate_sequences == len(windows) - len(set(windows)) >= 3
