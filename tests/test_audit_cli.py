"""The audit-data / audit-tokenizer / topk / train-tokenizer commands: JSON, exit codes, files, bad input."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from data_factory import STORIES, count_article_words, encode_corpus, write_shard

from tsdiag.tokenizer import load_tokenizer

SECTION_9_KEYS = {
    "articles": {"ids", "word_count", "token_rate", "per_sequence_mean", "per_sequence_p5", "per_sequence_p50",
                 "per_sequence_p95", "zero_article_sequences", "naive_per_sequence_mean"},
    "coverage": {"top_1000", "top_4000", "top_10000", "top_32000", "unused_vocab_rows"},
    "integrity": {"out_of_range_ids", "odd_byte_files", "zero_runs", "duplicate_sequences"},
}


@pytest.fixture
def shard(sp_model, tmp_path):
    return write_shard(tmp_path, "bin", load_tokenizer(sp_model))


def _one_line_error(code, out, err):
    assert code == 2 and "Traceback" not in out + err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("tsdiag: error:")
    return lines[0]


def test_audit_data_json_has_the_documented_keys(cli, shard, sp_model):
    code, out, _ = cli("audit-data", shard, "--tokenizer", sp_model, "--seq-len", "64", "--json", "--fail-on", "never")
    assert code == 0
    doc = json.loads(out)
    assert doc["schema"] == 1 and doc["command"] == "audit-data"
    assert {"tokens", "sequences", "seq_len", "findings"} <= set(doc)
    for section, keys in SECTION_9_KEYS.items():
        assert keys <= set(doc[section]), section
    assert doc["articles"]["word_count"] == count_article_words("\n".join(STORIES))
    assert doc["tokens"] == len(encode_corpus(load_tokenizer(sp_model))) and doc["seq_len"] == 64
    assert {f["code"] for f in doc["findings"]} >= {"TSD-TOK-NAIVE-COUNT"}


def test_exit_codes_follow_findings(cli, sp_model, tmp_path):
    ids = encode_corpus(load_tokenizer(sp_model))
    ids[10] = 40000  # out of range: an error finding
    path = tmp_path / "bad.bin"
    ids.tofile(path)
    code, out, _ = cli("audit-data", path, "-t", sp_model, "--seq-len", "64")
    assert code == 1 and "TSD-H1-OUT-OF-RANGE" in out
    assert cli("audit-data", path, "-t", sp_model, "--seq-len", "64", "--fail-on", "never")[0] == 0
    assert cli("audit-data", path, "-t", sp_model, "--seq-len", "64", "--ignore", "TSD-H1-OUT-OF-RANGE")[0] == 0
    code, out, _ = cli("audit-data", path, "-t", sp_model, "--seq-len", "64", "--markdown", "--fail-on", "never")
    assert code == 0 and "| `TSD-H1-OUT-OF-RANGE` |" in out


def test_plot_and_report_file(cli, shard, sp_model, tmp_path):
    plot, report = tmp_path / "audit.png", tmp_path / "audit.json"
    code, _, _ = cli("audit-data", shard, "-t", sp_model, "--seq-len", "64", "--plot", plot, "--json",
                     "--output", report, "--fail-on", "never")
    assert code == 0 and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(report.read_text())["command"] == "audit-data"
    assert not list(tmp_path.glob(".*.tmp"))
    assert cli("audit-data", shard, "-t", sp_model, "--plot", tmp_path / "a.gif")[0] == 2


@pytest.mark.parametrize("problem", ["empty", "missing", "unreadable-tokenizer", "malicious-meta", "bad-layout",
                                     "no-tokenizer-for-text", "workers"])
def test_bad_input_is_one_line_and_exit_2(problem, cli, shard, sp_model, tmp_path):
    args = ["audit-data", shard, "-t", sp_model]
    if problem == "empty":
        (tmp_path / "empty.bin").write_bytes(b"")
        args[1] = tmp_path / "empty.bin"
    elif problem == "missing":
        args[1] = tmp_path / "nope.bin"
    elif problem == "unreadable-tokenizer":
        (tmp_path / "tok.model").write_bytes(b"\x00garbage")
        args[3] = tmp_path / "tok.model"
    elif problem == "malicious-meta":
        class Evil:
            def __reduce__(self):
                return (print, ("owned",))
        (tmp_path / "meta.pkl").write_bytes(pickle.dumps({"itos": {0: "a"}, "x": Evil()}))
        args[3] = tmp_path / "meta.pkl"
    elif problem == "bad-layout":
        args += ["--layout", "megatron"]
    elif problem == "no-tokenizer-for-text":
        args = ["audit-data", write_shard(tmp_path, "txt", load_tokenizer(sp_model))]
    elif problem == "workers":
        args += ["--workers", "0"]
    line = _one_line_error(*cli(*args))
    assert "owned" not in line


def test_odd_size_is_a_finding_not_a_crash(cli, shard, sp_model, tmp_path):
    odd = tmp_path / "odd.bin"
    odd.write_bytes(shard.read_bytes() + b"\x01")
    code, out, _ = cli("audit-data", odd, "-t", sp_model, "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["integrity"]["odd_byte_files"] == 1 and "TSD-DATA-ODD-SIZE" in {f["code"] for f in doc["findings"]}


def test_audit_tokenizer_command(cli, sp_model, tmp_path):
    code, out, _ = cli("audit-tokenizer", sp_model, "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["text"]["round_trip_exact"] and doc["text"]["articles_in_text"] == doc["text"]["articles_in_tokens"] > 0
    text = tmp_path / "t.txt"
    text.write_text("The ωμέγα ψψψ ζζζ and a ξξξ.")
    code, out, _ = cli("audit-tokenizer", sp_model, "--text", text, "--json", "--fail-on", "warning")
    assert code == 1 and "TSD-TOK-BYTE-FALLBACK" in {f["code"] for f in json.loads(out)["findings"]}
    _one_line_error(*cli("audit-tokenizer", tmp_path / "none.model"))


def test_topk_round_trip(cli, sp_model, tmp_path):
    tok = load_tokenizer(sp_model)
    shard = write_shard(tmp_path, "bin", tok)
    out_dir = tmp_path / "top"   # created by --rewrite
    code, out, _ = cli("topk", shard, "-t", sp_model, "--k", "60", "--map", tmp_path / "top60.json",
                       "--rewrite", out_dir, "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["k"] == 60 and 0 < doc["coverage"] < 1 and doc["fallback_is_unk"]
    from tsdiag.data.topk import read_map

    mapping = read_map(tmp_path / "top60.json")
    table = np.load(tmp_path / "top60.npy")
    old = np.fromfile(shard, dtype=np.uint16)
    new = np.fromfile(out_dir / "shard.bin", dtype=np.uint16)
    assert new.max() < 60 and (table[old] == new).all()
    restored = mapping.restore(new)
    kept = new != mapping.fallback
    assert (restored[kept] == old[kept]).all()
    story = encode_corpus(tok, STORIES[:1])
    inside = story[np.isin(story, mapping.new_to_old)]
    assert tok.decode(mapping.restore(mapping.remap(inside))) == tok.decode(inside)
    expected = np.bincount(old, minlength=tok.vocab_size)
    assert doc["coverage"] == pytest.approx(expected[mapping.new_to_old].sum() / old.size)
    _one_line_error(*cli("topk", shard, "-t", sp_model, "--rewrite", tmp_path))  # would overwrite the input


def test_topk_refuses_uint32_shards_read_as_uint16(cli, sp_model, tmp_path):
    tok = load_tokenizer(sp_model)
    shard = write_shard(tmp_path, "bin", tok)
    np.fromfile(shard, dtype=np.uint16).astype(np.uint32).tofile(tmp_path / "wide.bin")
    code, _, err = cli("topk", tmp_path / "wide.bin", "-t", sp_model, "--k", "60", "--map", tmp_path / "m.json")
    assert code == 2 and "uint32 read as uint16" in err and "--dtype uint32" in err
    assert not (tmp_path / "m.json").exists()


def test_topk_without_unk_adds_a_fallback_id(tmp_path):
    from tsdiag.data.topk import build_topk

    counts = np.array([5, 0, 9, 1, 7])
    m = build_topk(counts, 3, vocab_size=5)
    assert m.new_to_old.tolist() == [2, 4, -1] and m.fallback == 2
    assert m.remap(np.array([0, 2, 3, 4, 99])).tolist() == [2, 0, 2, 1, 2]
    assert m.coverage == pytest.approx(16 / 22) and m.dropped_tokens == 6


def test_topk_refuses_a_k_that_cuts_nothing():
    from tsdiag.data.topk import build_topk
    from tsdiag.errors import InputError

    counts = np.array([5, 0, 9, 1, 7])
    for k in (5, 6):
        with pytest.raises(InputError, match="not below the vocabulary size 5"):
            build_topk(counts, k, vocab_size=5)
    assert build_topk(counts, 4, vocab_size=5).k == 4


def test_train_tokenizer_command(cli, tmp_path):
    text = tmp_path / "stories.txt"
    text.write_text("".join(s + "\n<|endoftext|>\n" for s in STORIES * 2))
    code, out, _ = cli("train-tokenizer", text, "--vocab-size", "300", "--model", tmp_path / "tok", "--json",
                       "--fail-on", "never")
    assert code == 0
    doc = json.loads(out)
    tok = load_tokenizer(tmp_path / "tok.model")
    assert doc["vocab_size"] == tok.vocab_size == 300 and doc["stories"] == len(STORIES) * 2
    assert len(tok.byte_ids()) == 256 and tok.encode("12")[1:] == [tok.encode("1")[1], tok.encode("2")[1]]
    _one_line_error(*cli("train-tokenizer", text, "--vocab-size", "100", "--model", tmp_path / "x"))
