"""Every data/tokenizer finding fires on data that has the problem and stays quiet on data that does not."""

from __future__ import annotations

import re

import numpy as np
import pytest
from data_factory import STORIES, encode_corpus

from tsdiag.data.audit import audit_shards
from tsdiag.data.rules import data_findings, tokenizer_findings
from tsdiag.data.tokenizer_audit import audit_tokenizer
from tsdiag.thresholds import Thresholds
from tsdiag.tokenizer import load_tokenizer

T = Thresholds()


@pytest.fixture
def tok(sp_model):
    return load_tokenizer(sp_model)


def codes(result, thresholds=T) -> set[str]:
    found = data_findings(result, thresholds)
    for f in found:
        assert f.evidence and all(e.name for e in f.evidence)
    return {f.code for f in found}


def _strip_articles(text: str, drop_every: int = 1) -> str:
    """Remove every ``drop_every``-th article word (all of them by default)."""
    n = 0

    def drop(m):
        nonlocal n
        n += 1
        return "" if n % drop_every == 0 else m.group()

    return re.sub(r"\b(?:a|an|the)\b ?", drop, text, flags=re.IGNORECASE)


def _bin(tmp_path, tok, stories, name="d", bos=True):
    ids = encode_corpus(tok, stories) if bos else np.concatenate([tok.encode(s) for s in stories]).astype(np.uint16)
    path = tmp_path / f"{name}.bin"
    ids.astype(np.uint16).tofile(path)
    return path


def test_article_rate_both_ways(tok, tmp_path):
    ref = tmp_path / "ref.txt"
    ref.write_text("\n<|endoftext|>\n".join(STORIES))
    good = audit_shards([_bin(tmp_path, tok, STORIES)], tokenizer=tok, seq_len=64, reference_text=ref)
    assert "TSD-H1-ARTICLE-RATE" not in codes(good)
    none = audit_shards([_bin(tmp_path, tok, [_strip_articles(s) for s in STORIES], "none")], tokenizer=tok,
                        seq_len=64, reference_text=ref)
    (f,) = [f for f in data_findings(none, T) if f.code == "TSD-H1-ARTICLE-RATE"]
    assert f.severity.label == "error" and "TSD-H1-ZERO-ARTICLE" in codes(none)
    some = audit_shards([_bin(tmp_path, tok, [_strip_articles(s, 2) for s in STORIES], "some")], tokenizer=tok,
                        seq_len=64, reference_text=ref)
    ratio = some.articles.word_rate / some.reference.word_rate
    (g,) = [f for f in data_findings(some, T) if f.code == "TSD-H1-ARTICLE-RATE"]
    assert T.article_rate_low_ratio <= ratio < T.article_rate_warn_ratio and g.severity.label == "warning"
    assert "TSD-H1-ZERO-ARTICLE" not in codes(good)


def test_naive_count_both_ways(tok, tmp_path, shared_data):
    assert "TSD-TOK-NAIVE-COUNT" in codes(audit_shards([_bin(tmp_path, tok, STORIES)], tokenizer=tok, seq_len=64))
    llama = load_tokenizer(shared_data / "tokenizers" / "llama2_tokenizer.model")
    path = _bin(tmp_path, llama, STORIES, "llama")
    assert "TSD-TOK-NAIVE-COUNT" not in codes(audit_shards([path], tokenizer=llama, seq_len=64))


def test_integrity_findings_both_ways(tok, tmp_path):
    ids = encode_corpus(tok)
    clean = tmp_path / "clean.bin"
    ids.tofile(clean)
    quiet = codes(audit_shards([clean], tokenizer=tok, seq_len=32))
    assert not quiet & {"TSD-H1-OUT-OF-RANGE", "TSD-H1-ZERO-RUNS", "TSD-H1-REPEAT-RUNS", "TSD-H1-DUPLICATES",
                        "TSD-H1-NO-SEPARATORS", "TSD-DATA-ODD-SIZE", "TSD-DATA-DTYPE", "TSD-DATA-SHORT"}
    bad = ids.copy()
    bad[100] = 5000
    bad[1000:1100] = 0
    bad[2000:2300] = 7
    broken = tmp_path / "broken.bin"
    broken.write_bytes(np.concatenate([bad, bad]).tobytes() + b"\x00")
    loud = codes(audit_shards([broken], tokenizer=tok, seq_len=32))
    assert {"TSD-H1-OUT-OF-RANGE", "TSD-H1-ZERO-RUNS", "TSD-H1-REPEAT-RUNS", "TSD-H1-DUPLICATES",
            "TSD-DATA-ODD-SIZE"} <= loud


def test_separators_both_ways(tok, tmp_path):
    small_gap = T.override({"separator_gap_max": 500})
    with_bos = audit_shards([_bin(tmp_path, tok, STORIES)], tokenizer=tok, seq_len=32)
    assert "TSD-H1-NO-SEPARATORS" not in codes(with_bos, small_gap)
    without = audit_shards([_bin(tmp_path, tok, STORIES, "nobos", bos=False)], tokenizer=tok, seq_len=32)
    assert without.separators.count == 0 and "TSD-H1-NO-SEPARATORS" in codes(without, small_gap)


def test_dtype_both_ways(tok, tmp_path):
    ids = encode_corpus(tok)
    wide = tmp_path / "wide.bin"
    ids.astype(np.uint32).tofile(wide)
    assert "TSD-DATA-DTYPE" in codes(audit_shards([wide], tokenizer=tok, seq_len=32))
    assert "TSD-DATA-DTYPE" not in codes(audit_shards([wide], tokenizer=tok, seq_len=32, dtype="uint32"))
    narrow = tmp_path / "narrow.bin"
    ids[: len(ids) // 2 * 2].astype(np.uint16).tofile(narrow)
    assert "TSD-DATA-DTYPE" in codes(audit_shards([narrow], tokenizer=tok, seq_len=32, dtype="uint32"))


def test_short_shards(tok, tmp_path):
    short = _bin(tmp_path, tok, STORIES[:1], "short")
    assert "TSD-DATA-SHORT" in codes(audit_shards([short], tokenizer=tok, seq_len=4096))
    assert "TSD-DATA-SHORT" not in codes(audit_shards([short], tokenizer=tok, seq_len=16))


def test_vocabulary_findings_both_ways(tok, tmp_path):
    r = audit_shards([_bin(tmp_path, tok, STORIES)], tokenizer=tok, seq_len=32)
    # 256 of the 320 rows are byte pieces the stories never need: they do not count as unused vocabulary
    assert "TSD-H4-UNUSED-ROWS" not in codes(r, T)
    small_reference = T.override({"vocab_reference": 100, "coverage_sufficient": 0.5, "unused_vocab_share": 0.001})
    assert {"TSD-H4-COVERAGE", "TSD-H4-UNUSED-ROWS"} <= codes(r, small_reference)
    strict = T.override({"vocab_reference": 20, "coverage_sufficient": 0.9999, "unused_vocab_share": 0.99})
    assert not {"TSD-H4-COVERAGE", "TSD-H4-UNUSED-ROWS"} & codes(r, strict)
    too_little = T.override({"vocab_reference": 100, "coverage_sufficient": 0.5, "coverage_min_tokens_per_row": 1e6})
    assert not {"TSD-H4-COVERAGE", "TSD-H4-UNUSED-ROWS"} & codes(r, too_little)


def test_tokenizer_findings_both_ways(tok, tmp_path):
    import pickle

    clean = audit_tokenizer(tok, "\n".join(STORIES))
    assert not {f.code for f in tokenizer_findings(clean, T)} & {"TSD-TOK-GLUED", "TSD-TOK-ROUND-TRIP"}
    greek = audit_tokenizer(tok, "The cat saw a ωμέγα and an ψψψ ζζζ.")
    assert "TSD-TOK-BYTE-FALLBACK" in {f.code for f in tokenizer_findings(greek, T)}
    assert "TSD-TOK-BYTE-FALLBACK" not in {f.code for f in tokenizer_findings(clean, T)}

    itos = list(" abcdefghijklmnopqrstuvwxyzT.,") + [" a little"]
    (tmp_path / "meta.pkl").write_bytes(pickle.dumps({"itos": dict(enumerate(itos))}))
    glued = audit_tokenizer(load_tokenizer(tmp_path / "meta.pkl"), "The dog had a ball.")
    assert [g.piece for g in glued.glued_pieces] == [" a little"]
    assert "TSD-TOK-GLUED" in {f.code for f in tokenizer_findings(glued, T)}


def test_round_trip_loss(tmp_path):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    vocab = {w: i for i, w in enumerate(["[UNK]", "the", "cat", "sat", "on", "mat", "a", "."])}
    hf = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    hf.normalizer = normalizers.Replace("the ", "")  # a cleaning step that eats articles
    hf.pre_tokenizer = pre_tokenizers.Whitespace()
    path = tmp_path / "tokenizer.json"
    hf.save(str(path))
    facts = audit_tokenizer(load_tokenizer(path), "the cat sat on the mat .")
    assert facts.articles_in_text == 2 and facts.articles_after_round_trip == 0
    assert "TSD-TOK-ROUND-TRIP" in {f.code for f in tokenizer_findings(facts, T)}


def test_tokenizer_mismatch_both_ways(tok, tmp_path, request):
    shard = _bin(tmp_path, tok, STORIES * 4, "made_with_sp")
    assert "TSD-H1-TOKENIZER-MISMATCH" not in codes(audit_shards([shard], tokenizer=tok, seq_len=32))
    other = load_tokenizer(request.getfixturevalue("hf_json"))
    found = codes(audit_shards([shard], tokenizer=other, seq_len=32))
    assert "TSD-H1-TOKENIZER-MISMATCH" in found
    assert not {c for c in found if c.startswith("TSD-H1-ARTICLE") or c == "TSD-H1-ZERO-ARTICLE"}  # meaningless then
    text = tmp_path / "stories.txt"                    # text inputs are tokenized by the tokenizer itself
    text.write_text("\n\n".join(STORIES))
    assert audit_shards([text], tokenizer=other, seq_len=32).tokenizer_agreement is None


SMALL_SHARDS = T.override({"article_source_min_words": 1})   # these tests' shards hold a few hundred words


def _findings(result, thresholds=SMALL_SHARDS) -> dict:
    found = data_findings(result, thresholds)
    for f in found:
        assert f.evidence and all(e.name for e in f.evidence)
    return {f.code: f for f in found}


def test_a_shard_that_lost_its_articles_is_named(tok, tmp_path):
    shards = [_bin(tmp_path, tok, STORIES[i * 12:(i + 1) * 12], f"data{i:02d}") for i in range(5)]
    shards[3] = _bin(tmp_path, tok, [_strip_articles(s) for s in STORIES[36:48]], "data03")
    r = audit_shards(shards, tokenizer=tok, seq_len=64)
    ref = r.reference.word_rate
    assert r.articles.word_rate > T.article_rate_warn_ratio * ref   # the pooled rate alone hides the shard
    found = _findings(r)
    rate, zero = found["TSD-H1-ARTICLE-RATE"], found["TSD-H1-ZERO-ARTICLE"]
    assert rate.severity.label == "error" and "data03.bin" in rate.message
    assert not any(f"data0{i}.bin" in rate.message for i in (0, 1, 2, 4))
    (named,) = [e for e in rate.evidence if "data03.bin" in e.name]
    assert named.value == 0 and named.source.startswith(str(shards[3]))
    assert "data03.bin" in zero.message and any(str(shards[3]) in e.source for e in zero.evidence)
    assert "data03.bin" in rate.fix

    loose = SMALL_SHARDS.override({"zero_article_share": 0.5})      # few empty windows in all, every one of data03's
    assert r.articles.zero_article_sequences / r.sequences <= 0.5
    zero = _findings(r, loose)["TSD-H1-ZERO-ARTICLE"]
    assert zero.message.startswith("windows without an article in the shard(s) far below") and "data03" in zero.message

    clean = audit_shards(shards[:3] + shards[4:], tokenizer=tok, seq_len=64)
    assert not {"TSD-H1-ARTICLE-RATE", "TSD-H1-ZERO-ARTICLE"} & codes(clean, SMALL_SHARDS)
    assert not {"TSD-H1-ARTICLE-RATE", "TSD-H1-ZERO-ARTICLE"} & codes(clean, loose)


def test_the_pooled_finding_names_the_stripped_shard(tok, tmp_path):
    ref = tmp_path / "ref.txt"
    ref.write_text("\n<|endoftext|>\n".join(STORIES))
    good = _bin(tmp_path, tok, STORIES[:30], "good")
    stripped = _bin(tmp_path, tok, [_strip_articles(s) for s in STORIES[30:]], "stripped")
    r = audit_shards([good, stripped], tokenizer=tok, seq_len=64, reference_text=ref)
    f = _findings(r)["TSD-H1-ARTICLE-RATE"]
    assert f.message.startswith("the data has") and "stripped.bin is far below" in f.message
    # with the default minimum of words per shard, shards this small are not named
    assert "far below" not in _findings(r, T)["TSD-H1-ARTICLE-RATE"].message
    assert "good.bin" not in f.message and f.severity.label == "error"
    assert [e.value for e in f.evidence if e.name.endswith("stripped.bin")] == [0]

    every = audit_shards([stripped, _bin(tmp_path, tok, [_strip_articles(s) for s in STORIES[:30]], "also")],
                         tokenizer=tok, seq_len=64, reference_text=ref)
    f = _findings(every)["TSD-H1-ARTICLE-RATE"]        # all shards lost them: no shard stands out
    assert "far below" not in f.message and not any(e.name.endswith(".bin") for e in f.evidence)


def test_one_source_findings_do_not_name_shards(tok, tmp_path):
    none = audit_shards([_bin(tmp_path, tok, [_strip_articles(s) for s in STORIES], "none")], tokenizer=tok,
                        seq_len=64)
    found = _findings(none)
    assert {"TSD-H1-ARTICLE-RATE", "TSD-H1-ZERO-ARTICLE"} <= set(found)
    for code in ("TSD-H1-ARTICLE-RATE", "TSD-H1-ZERO-ARTICLE"):
        assert "far below" not in found[code].message and not any(".bin" in e.name for e in found[code].evidence)
