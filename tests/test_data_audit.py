"""Audit facts on tiny shards with independently known answers."""

from __future__ import annotations

import numpy as np
import pytest
from data_factory import SHARD_KINDS, STORIES, count_article_words, count_words, encode_corpus, write_shard

from tsdiag.data.articles import ArticleTables, scan_articles
from tsdiag.data.audit import audit_shards
from tsdiag.errors import InputError
from tsdiag.tokenizer import load_tokenizer

TEXT = "\n".join(STORIES)


@pytest.fixture
def tok(sp_model):
    return load_tokenizer(sp_model)


def _windows(ids: np.ndarray, layout: str, seq_len: int) -> np.ndarray:
    n = {"llama2c": len(ids) // seq_len - 1, "nanogpt": (len(ids) - 1) // seq_len, "contiguous": len(ids) // seq_len}[layout]
    return np.arange(max(n, 0)) * seq_len


@pytest.mark.parametrize("kind", SHARD_KINDS)
def test_article_facts_match_the_text_for_every_kind(kind, tok, tmp_path):
    path = write_shard(tmp_path, kind, tok)
    r = audit_shards([path], tokenizer=tok, seq_len=64, dtype="uint32" if kind == "bin32" else "uint16")
    a = r.articles
    assert r.tokens == r.scanned_tokens == len(encode_corpus(tok))
    assert a.word_count == count_article_words(TEXT) and a.words_total == count_words(TEXT)
    assert a.word_rate == pytest.approx(count_article_words(TEXT) / count_words(TEXT))


@pytest.mark.parametrize("layout", ["llama2c", "nanogpt", "contiguous"])
def test_per_sequence_statistics_follow_the_packing(layout, tok, tmp_path):
    ids = encode_corpus(tok)
    path = tmp_path / "d.bin"
    ids.tofile(path)
    seq_len = 50
    r = audit_shards([path], tokenizer=tok, seq_len=seq_len, layout=layout)
    starts = _windows(ids, layout, seq_len)
    assert r.sequences == len(starts)
    mask = scan_articles(ArticleTables.build(tok), ids).mask
    naive_ids = set(ArticleTables.build(tok).naive_ids.tolist())
    per = np.array([mask[s:s + seq_len].sum() for s in starts]) / seq_len
    naive = np.array([sum(int(i) in naive_ids for i in ids[s:s + seq_len]) for s in starts]) / seq_len
    a = r.articles
    assert a.per_sequence_mean == pytest.approx(per.mean())
    for q, got in ((5, a.per_sequence_p5), (50, a.per_sequence_p50), (95, a.per_sequence_p95), (1, a.per_sequence_p1)):
        assert got == pytest.approx(np.percentile(per, q))
    assert a.zero_article_sequences == int((per == 0).sum())
    assert a.naive_per_sequence_mean == pytest.approx(naive.mean())
    assert a.token_rate == pytest.approx(mask.sum() / len(ids))
    assert sum(a.histogram) == r.sequences


def test_several_shards_and_workers_agree(tok, tmp_path):
    for i in range(3):
        write_shard(tmp_path, "bin", tok, STORIES[i * 20:(i + 1) * 20], name=f"data{i:02d}")
    one = audit_shards([tmp_path / "data*.bin"], tokenizer=tok, seq_len=32)
    two = audit_shards([str(tmp_path)], tokenizer=tok, seq_len=32, workers=2)
    assert one.articles == two.articles and (one.counts == two.counts).all()
    assert one.sequences == sum(len(_windows(encode_corpus(tok, STORIES[i * 20:(i + 1) * 20]), "llama2c", 32))
                                for i in range(3))
    assert one.articles.word_count == count_article_words(TEXT)


def test_blocks_and_jobs_do_not_change_the_answer(tok, tmp_path, monkeypatch):
    import tsdiag.data.audit as audit

    ids = np.tile(encode_corpus(tok), 3)
    ids[5000:5300] = 0          # a zero run across block borders
    ids[9000:9400] = ids[9000]  # a repeated id
    path = tmp_path / "d.bin"
    ids.tofile(path)
    whole = audit_shards([path], tokenizer=tok, seq_len=40)
    monkeypatch.setattr(audit, "BLOCK_TOKENS", 120)
    monkeypatch.setattr(audit, "UNIT_TOKENS", 1000)
    small = audit_shards([path], tokenizer=tok, seq_len=40)
    assert small.articles == whole.articles and small.integrity == whole.integrity
    assert (small.counts == whole.counts).all()
    assert whole.integrity.zero_runs.count == 1 and whole.integrity.zero_runs.tokens == 300
    assert whole.integrity.zero_runs.examples[0][1:] == (5000, 300, 0)
    assert whole.integrity.repeat_runs.count == 1 and whole.integrity.repeat_runs.longest == 400


def test_coverage_and_separators(tok, tmp_path):
    ids = encode_corpus(tok)
    path = tmp_path / "d.bin"
    ids.tofile(path)
    r = audit_shards([path], tokenizer=tok, seq_len=64)
    counts = np.bincount(ids, minlength=tok.vocab_size)
    ordered = np.sort(counts)[::-1]
    assert r.coverage.top[1000] == pytest.approx(ordered[:1000].sum() / ids.size) == 1.0
    not_text = set(tok.byte_ids()) | set(tok.special_ids())   # bytes and specials are not "unused vocabulary"
    assert r.coverage.unused_vocab_rows == sum(1 for i in np.flatnonzero(counts == 0) if i not in not_text) > 0
    assert len(not_text) >= 256 and r.coverage.unused_vocab_rows < int((counts == 0).sum())
    assert r.coverage.distinct_ids == int((counts > 0).sum())
    assert r.coverage.tokens_for_99 == int(np.searchsorted(np.cumsum(ordered), 0.99 * ids.size) + 1)
    assert r.separators.count == len(STORIES) and r.separators.mean_story_tokens == pytest.approx(ids.size / len(STORIES))
    for piece in r.articles.breakdown:
        assert piece.occurrences == counts[piece.id] and 0 <= piece.in_article_word <= piece.occurrences


def test_integrity_facts(tok, tmp_path):
    ids = encode_corpus(tok).astype(np.uint16)
    seq_len = 32
    body = ids[: (len(ids) // seq_len) * seq_len].copy()
    body[40] = 60000                         # out of range for a 320-piece vocabulary
    dup = np.concatenate([body, body[:seq_len * 4]])  # four windows written twice
    path = tmp_path / "d.bin"
    path.write_bytes(dup.tobytes() + b"\x07")  # and one stray byte
    r = audit_shards([path], tokenizer=tok, seq_len=seq_len, layout="contiguous")
    i = r.integrity
    assert i.out_of_range_ids == 2 and i.out_of_range_first == (str(path), 40, 60000) and i.max_id == 60000  # once per copy
    assert i.odd_byte_files == ((str(path), 1),)
    windows = [tuple(dup[s:s + seq_len]) for s in range(0, len(dup) - seq_len + 1, seq_len)]
    assert i.duplicate_sequences == len(windows) - len(set(windows)) >= 4
    first = next(k for k, w in enumerate(windows) if w in windows[k + 1:])
    assert i.duplicate_example == ((str(path), first * seq_len), (str(path), windows.index(windows[first], first + 1) * seq_len))
    assert audit_shards([path], tokenizer=tok, seq_len=seq_len, vocab_size=100_000).integrity.out_of_range_ids == 2


def test_sampling(tok, tmp_path):
    ids = np.tile(encode_corpus(tok), 4)
    path = tmp_path / "d.bin"
    ids.tofile(path)
    full = audit_shards([path], tokenizer=tok, seq_len=64)
    a = audit_shards([path], tokenizer=tok, seq_len=64, sample=20, seed=3)
    b = audit_shards([path], tokenizer=tok, seq_len=64, sample=20, seed=3)
    assert a.sampled and a.sequences == 20 and a.scanned_tokens == 20 * 64 and a.articles == b.articles
    assert abs(a.articles.per_sequence_mean - full.articles.per_sequence_mean) < 0.05
    c = audit_shards([path], tokenizer=tok, seq_len=64, sample=10, layout="nanogpt")
    assert c.sequences == 10
    everything = audit_shards([path], tokenizer=tok, seq_len=64, sample=10**6)
    assert everything.sequences == full.sequences and everything.articles.per_sequence_mean == pytest.approx(
        full.articles.per_sequence_mean)


def test_without_tokenizer_articles_are_unknown(tok, tmp_path):
    path = write_shard(tmp_path, "bin", tok)
    r = audit_shards([path], seq_len=64)
    assert r.articles is None and r.reference is None and r.coverage.vocab_size is None
    assert r.integrity.out_of_range_ids is None and r.separators is None
    with pytest.raises(InputError, match="pass --tokenizer"):
        audit_shards([write_shard(tmp_path, "txt", tok)])


def test_reference_text_is_tokenized_and_compared(tok, tmp_path):
    path = write_shard(tmp_path, "bin", tok)
    ref = tmp_path / "ref.txt"
    ref.write_text("\n<|endoftext|>\n".join(STORIES[:30]))
    r = audit_shards([path], tokenizer=tok, seq_len=64, reference_text=ref)
    text = "\n".join(STORIES[:30])
    assert r.reference.word_rate == pytest.approx(count_article_words(text) / count_words(text))
    assert r.reference.token_rate is not None and r.reference.source == str(ref)
    builtin = audit_shards([path], tokenizer=tok, seq_len=64)
    assert builtin.reference.word_rate == pytest.approx(0.0936) and "mini_gpt_stories" in builtin.reference.source
    assert audit_shards([path], tokenizer=tok, seq_len=64, article_words=["the"]).reference is None


def test_article_words_option(tok, tmp_path):
    path = write_shard(tmp_path, "bin", tok)
    r = audit_shards([path], tokenizer=tok, seq_len=64, article_words=["The"])
    assert r.articles.words == ("the",) and r.articles.word_count == count_article_words(TEXT, ("the",))


def test_bad_arguments(tok, tmp_path):
    path = write_shard(tmp_path, "bin", tok)
    for kwargs, message in (({"layout": "megatron"}, "is not a layout"), ({"seq_len": 0}, "seq-len"),
                            ({"sample": 0}, "sample"), ({"dtype": "float32"}, "is not supported"),
                            ({"article_words": ["a b"]}, "letter strings")):
        with pytest.raises(InputError, match=message):
            audit_shards([path], tokenizer=tok, **kwargs)
    one_byte = tmp_path / "one.bin"
    one_byte.write_bytes(b"\x01")
    with pytest.raises(InputError, match="no complete token"):
        audit_shards([one_byte])


@pytest.mark.parametrize("name", ["hf_json", "char_meta"])
def test_other_tokenizers(name, tmp_path, request):
    tok = load_tokenizer(request.getfixturevalue(name))
    path = write_shard(tmp_path, "txt", tok)
    r = audit_shards([path], tokenizer=tok, seq_len=64)
    assert r.articles.word_count == count_article_words(TEXT)
    assert r.tokens == len(encode_corpus(tok))


def test_duplicates_across_files_of_different_dtypes(tok, tmp_path, monkeypatch):
    import tsdiag.data.audit as audit

    monkeypatch.setattr(audit, "BLOCK_TOKENS", 256)
    ids = encode_corpus(tok)
    seq_len = 32
    body = ids[: (len(ids) // seq_len) * seq_len]
    body.astype(np.uint16).tofile(tmp_path / "a.bin")
    np.save(tmp_path / "b.npy", body.astype(np.int32))
    r = audit_shards([tmp_path / "a.bin", tmp_path / "b.npy"], tokenizer=tok, seq_len=seq_len, layout="contiguous")
    windows = [tuple(body[s:s + seq_len]) for s in range(0, len(body), seq_len)]
    assert r.integrity.duplicate_sequences == len(windows) + (len(windows) - len(set(windows)))


def test_distinct_windows_of_ids_past_the_tables_are_not_duplicates(tmp_path):
    """uint32 ids above the lookup tables' size must still hash by their own values."""
    ids = np.random.default_rng(0).integers(70_000, 100_000, 64 * 20).astype(np.uint32)
    ids.tofile(tmp_path / "big.bin")
    r = audit_shards([tmp_path / "big.bin"], dtype="uint32", seq_len=64, layout="contiguous")
    assert r.integrity.duplicate_sequences == 0
    np.concatenate([ids, ids[:64]]).tofile(tmp_path / "again.bin")   # one window written twice
    r = audit_shards([tmp_path / "again.bin"], dtype="uint32", seq_len=64, layout="contiguous")
    assert r.integrity.duplicate_sequences == 1


def _strip(story: str) -> str:
    """The classic data bug: the text lost "a", "an" and "the" before it was tokenized."""
    import re

    return re.sub(r"\b(?:a|an|the)\b ?", "", story, flags=re.IGNORECASE)


def _two_shards(tok, tmp_path):
    good, stripped = STORIES[:30], [_strip(s) for s in STORIES[30:]]
    write_shard(tmp_path, "bin", tok, good, name="good")
    write_shard(tmp_path, "bin", tok, stripped, name="stripped")
    return [tmp_path / "good.bin", tmp_path / "stripped.bin"], ["\n".join(good), "\n".join(stripped)]


@pytest.mark.parametrize("layout", ["llama2c", "nanogpt", "contiguous"])
def test_per_source_article_facts_find_the_stripped_shard(layout, tok, tmp_path, monkeypatch):
    import tsdiag.data.audit as audit

    paths, texts = _two_shards(tok, tmp_path)
    seq_len = 32
    r = audit_shards(paths, tokenizer=tok, seq_len=seq_len, layout=layout)
    good, stripped = (s.articles for s in r.sources)
    for facts, text in zip((good, stripped), texts):   # every story starts with BOS: no word crosses a shard
        assert facts.article_words == count_article_words(text) and facts.words == count_words(text)
        assert facts.word_rate == pytest.approx(count_article_words(text) / count_words(text))
    assert count_article_words(texts[1]) == 0 and stripped.word_rate == 0 and good.word_rate > 0.1
    assert stripped.zero_article_windows == stripped.windows > 0 and good.zero_article_windows < good.windows / 10

    ids = [encode_corpus(tok, STORIES[:30]), encode_corpus(tok, [_strip(s) for s in STORIES[30:]])]
    if layout == "contiguous":   # windows counted in the shard they start in
        stream = np.concatenate(ids)
        starts = _windows(stream, layout, seq_len)
        mask = scan_articles(ArticleTables.build(tok), stream).mask
        zero = np.array([not mask[s:s + seq_len].any() for s in starts])
        in_good = starts < len(ids[0])
        assert (good.windows, stripped.windows) == (int(in_good.sum()), int((~in_good).sum()))
        assert good.zero_article_windows == int(zero[in_good].sum())
        assert stripped.zero_article_windows == int(zero[~in_good].sum())
    else:
        assert [s.articles.windows for s in r.sources] == [s.sequences for s in r.sources]
        for shard, facts in zip(ids, (good, stripped)):
            mask = scan_articles(ArticleTables.build(tok), shard).mask
            assert facts.zero_article_windows == sum(not mask[s:s + seq_len].any()
                                                     for s in _windows(shard, layout, seq_len))
            assert facts.article_tokens == mask.sum() and facts.scanned_tokens == len(shard)
    a = r.articles                                      # the inputs add up to the whole
    assert sum(s.articles.words for s in r.sources) == a.words_total
    assert sum(s.articles.article_words for s in r.sources) == a.word_count
    assert sum(s.articles.article_tokens for s in r.sources) == a.article_tokens
    assert sum(s.articles.zero_article_windows for s in r.sources) == a.zero_article_sequences
    assert sum(s.articles.windows for s in r.sources) == r.sequences

    assert audit_shards(paths, tokenizer=tok, seq_len=seq_len, layout=layout, workers=2).sources == r.sources
    monkeypatch.setattr(audit, "BLOCK_TOKENS", 96)      # blocks and jobs that cross from one shard to the next
    monkeypatch.setattr(audit, "UNIT_TOKENS", 320)
    small = audit_shards(paths, tokenizer=tok, seq_len=seq_len, layout=layout)
    assert small.sources == r.sources and small.articles == r.articles


def test_per_source_article_facts_of_sampled_windows(tok, tmp_path):
    paths, _ = _two_shards(tok, tmp_path)
    for layout in ("llama2c", "contiguous"):
        r = audit_shards(paths, tokenizer=tok, seq_len=32, layout=layout, sample=40, seed=1)
        good, stripped = (s.articles for s in r.sources)
        assert good.windows + stripped.windows == r.sequences == 40
        assert good.scanned_tokens + stripped.scanned_tokens == r.scanned_tokens
        assert sum(s.articles.words for s in r.sources) == r.articles.words_total
        assert stripped.article_words == 0 and stripped.zero_article_windows == stripped.windows > 0
        assert good.article_words > 0
        two = audit_shards(paths, tokenizer=tok, seq_len=32, layout=layout, sample=40, seed=1, workers=2)
        assert two.sources == r.sources and two.articles == r.articles


def test_per_source_facts_of_one_source_are_the_totals(tok, tmp_path):
    from tsdiag.data.present import audit_data_json, audit_data_report

    path = write_shard(tmp_path, "bin", tok)
    r = audit_shards([path], tokenizer=tok, seq_len=64)
    (s,) = r.sources
    a = r.articles
    assert (s.articles.words, s.articles.article_words, s.articles.zero_article_windows, s.articles.windows) == (
        a.words_total, a.word_count, a.zero_article_sequences, r.sequences)
    assert audit_data_json(r)["sources"][0]["articles"]["word_rate"] == pytest.approx(a.word_rate)
    assert "Articles per input" not in [t.title for t in audit_data_report(r, []).tables]
    assert audit_shards([path], seq_len=64).sources[0].articles is None
    assert audit_data_json(audit_shards([path], seq_len=64))["sources"][0]["articles"] is None


def test_per_source_json_and_table(tok, tmp_path):
    from tsdiag.data.present import audit_data_json, audit_data_report

    paths, texts = _two_shards(tok, tmp_path)
    r = audit_shards(paths, tokenizer=tok, seq_len=32)
    good, stripped = (s["articles"] for s in audit_data_json(r)["sources"])
    assert set(good) >= {"words", "article_words", "word_rate", "zero_article_windows"}
    assert good["article_words"] == count_article_words(texts[0]) and stripped["word_rate"] == 0.0
    assert stripped["zero_article_windows"] == stripped["windows"] == r.sources[1].sequences
    (table,) = [t for t in audit_data_report(r, []).tables if t.title == "Articles per input"]
    assert [row[0] for row in table.rows] == [str(p) for p in paths]
    assert table.rows[1][2] == "0.00%" and table.rows[1][3] == f"{stripped['windows']} of {stripped['windows']}"


def test_an_empty_input_between_shards_gets_nothing(tok, tmp_path, monkeypatch):
    import tsdiag.data.audit as audit

    paths, _ = _two_shards(tok, tmp_path)
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"\x01")                         # shorter than one token
    monkeypatch.setattr(audit, "BLOCK_TOKENS", 96)
    both = audit_shards(paths, tokenizer=tok, seq_len=32, layout="contiguous")
    r = audit_shards([paths[0], empty, paths[1]], tokenizer=tok, seq_len=32, layout="contiguous")
    assert [s.articles for s in r.sources] == [both.sources[0].articles, audit.SourceArticleFacts(0, 0, 0, 0, 0, 0),
                                               both.sources[1].articles]
