"""Tokenizer adapters and word-level article detection against an independent word count."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from data_factory import STORIES, count_article_words, count_words, encode_corpus

from tsdiag.data.articles import ArticleTables, article_mask, scan_articles
from tsdiag.errors import InputError, UnsafeInputError
from tsdiag.tokenizer import ARTICLE_WORDS, article_piece_ids, count_article_words as tok_count, load_tokenizer

KINDS = {"sp_model": "sentencepiece", "hf_json": "hf", "char_meta": "char"}


@pytest.fixture(params=list(KINDS))
def any_tokenizer(request):
    return load_tokenizer(request.getfixturevalue(request.param)), KINDS[request.param]


def test_adapter_basics(any_tokenizer):
    tok, kind = any_tokenizer
    assert tok.kind == kind and tok.vocab_size == len(tok.pieces()) > 0
    text = STORIES[3]
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert all(0 <= i < tok.vocab_size for i in ids)
    assert tok.id_to_piece(ids[0]) == tok.pieces()[ids[0]]
    if tok.bos_id is not None:
        assert tok.encode(text, bos=True)[0] == tok.bos_id
    else:
        with pytest.raises(ValueError):
            tok.encode(text, bos=True)


def test_special_ids(sp_model, hf_json):
    sp = load_tokenizer(sp_model)
    assert (sp.bos_id, sp.eos_id, sp.unk_id) == (1, 2, 0)
    assert {0, 1, 2} <= set(sp.special_ids()) and len(sp.byte_ids()) == 256
    hf = load_tokenizer(hf_json)
    assert hf.bos_id is None and hf.pieces()[hf.eos_id] == "<|endoftext|>"
    assert hf.surfaces()[hf.eos_id] is None


def test_naive_ids_are_pieces_that_are_articles(any_tokenizer):
    tok, _ = any_tokenizer
    ids = article_piece_ids(tok)
    assert ids.dtype.kind == "i" and len(ids) > 0
    for i in ids:
        assert tok.surfaces()[i].strip().lower() in ARTICLE_WORDS
    others = set(range(tok.vocab_size)) - set(ids.tolist())
    assert not any((tok.surfaces()[i] or "").strip().lower() in ARTICLE_WORDS
                   for i in others if i not in tok.byte_ids())
    assert len(article_piece_ids(tok, ("the",))) < len(ids)


def test_word_level_count_matches_text(any_tokenizer):
    tok, _ = any_tokenizer
    ids = encode_corpus(tok)
    text = "\n".join(STORIES)
    result = scan_articles(ArticleTables.build(tok), ids)
    assert result.word_count == count_article_words(text)
    assert result.words == count_words(text)
    assert tok_count(tok, ids) == result.word_count
    # naive counting over-counts (pieces like "▁a" start other words) or, for chars, counts every "a"
    assert result.naive_tokens != result.word_count
    only_the = scan_articles(ArticleTables.build(tok, ("the",)), ids)
    assert only_the.word_count == count_article_words(text, ("the",))


def test_mask_covers_exactly_the_article_words(any_tokenizer):
    tok, _ = any_tokenizer
    text = "The theater had an ant. A cat, an apple and\nthe end, another THE. a"
    ids = tok.encode(text)
    mask = article_mask(ArticleTables.build(tok), np.asarray(ids))
    runs, current = [], []
    for i, m in zip(ids, mask):
        if m:
            current.append(i)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    spelled = [tok.decode(r).strip().lower() for r in runs]
    assert sorted(spelled) == sorted(["the", "an", "a", "an", "the", "the", "a"])
    batch = article_mask(ArticleTables.build(tok), np.asarray([ids, ids]))
    assert batch.shape == (2, len(ids)) and (batch[0] == mask).all()


def test_glued_piece_counts_its_inner_article(tmp_path):
    """A piece like "▁a▁little" (trained without whitespace splitting) holds a whole article."""
    itos = ["x", " a little", " dog", ".", "a"]
    (tmp_path / "meta.pkl").write_bytes(pickle.dumps({"vocab_size": 5, "itos": dict(enumerate(itos))}))
    tok = load_tokenizer(tmp_path / "meta.pkl")
    # " a little dog." + "a" + "x"  -> articles: the inner "a" only ("ax" is a word)
    result = scan_articles(ArticleTables.build(tok), np.array([1, 2, 3, 4, 0]))
    assert result.word_count == 1 and result.mask.tolist() == [True, False, False, False, False]
    assert scan_articles(ArticleTables.build(tok), np.array([3, 4])).word_count == 1


def test_bad_tokenizer_files(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_tokenizer(tmp_path / "missing.model")
    empty = tmp_path / "empty.model"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty file"):
        load_tokenizer(empty)
    junk = tmp_path / "junk.model"
    junk.write_bytes(b"not a model at all")
    with pytest.raises(InputError, match="junk.model: not a readable sentencepiece model"):
        load_tokenizer(junk)
    bad_json = tmp_path / "tokenizer.json"
    bad_json.write_text("{ not json")
    with pytest.raises(InputError, match="tokenizer.json"):
        load_tokenizer(bad_json)
    (tmp_path / "folder").mkdir()
    with pytest.raises(InputError, match="holds no tokenizer"):
        load_tokenizer(tmp_path / "folder")


class _Boom:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


def test_malicious_meta_pkl_is_refused(tmp_path):
    evil = tmp_path / "meta.pkl"
    evil.write_bytes(pickle.dumps({"itos": {0: "a"}, "payload": _Boom()}))
    with pytest.raises(UnsafeInputError, match="refusing to load"):
        load_tokenizer(evil)
    not_dict = tmp_path / "list.pkl"
    not_dict.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(InputError, match="expected a dict"):
        load_tokenizer(not_dict)
    truncated = tmp_path / "cut.pkl"
    truncated.write_bytes(pickle.dumps({"itos": {0: "a"}})[:-3])
    with pytest.raises(InputError, match="not a readable pickle"):
        load_tokenizer(truncated)


def test_folder_finds_tokenizer(sp_model, tmp_path):
    (tmp_path / "tokenizer.model").write_bytes(sp_model.read_bytes())
    assert load_tokenizer(tmp_path).kind == "sentencepiece"


def test_llama2_tokenizer_articles(shared_data):
    tok = load_tokenizer(shared_data / "tokenizers" / "llama2_tokenizer.model")
    assert tok.vocab_size == 32000 and tok.bos_id == 1 and tok.eos_id == 2
    pieces = {tok.id_to_piece(i) for i in article_piece_ids(tok)}
    assert {"▁the", "▁a", "▁an", "▁The", "▁A", "The"} <= pieces
    ids = tok.encode('He said, "The dog ate an apple."\nThe end of the theater.')
    assert tok_count(tok, ids) == 4
