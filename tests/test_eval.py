"""tsdiag eval: teacher-forced loss, article slots and bug probes, on tiny models trained here."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from data_factory import STORIES, encode_corpus, sp_model  # noqa: F401  (fixture)
from tsdiag.evaluation import evaluate
from tsdiag.evaluation.probes import attention_without_causal_mask
from tsdiag.model import ModelArgs, Transformer
from tsdiag.thresholds import Thresholds

VOCAB, SEQ = 64, 32


def markov_stream(n: int, seed: int = 0) -> np.ndarray:
    """A learnable token stream: the next token is a fixed permutation of this one, 90% of the time."""
    rng = np.random.default_rng(seed)
    perm = np.random.default_rng(99).permutation(VOCAB)
    out = np.empty(n, dtype=np.uint16)
    out[0] = 0
    for i in range(1, n):
        out[i] = perm[out[i - 1]] if rng.random() < 0.9 else rng.integers(VOCAB)
    return out


def tiny_model(vocab: int = VOCAB, dropout: float = 0.0, seed: int = 0) -> Transformer:
    torch.manual_seed(seed)
    return Transformer(ModelArgs(dim=32, n_layers=1, n_heads=2, vocab_size=vocab, max_seq_len=SEQ, dropout=dropout))


def fit(model, stream: np.ndarray, *, steps: int = 150, offset: int = 1, causal: bool = True, lr: float = 3e-3):
    """Train on windows of ``stream`` with targets ``offset`` tokens ahead (1 is right), optionally unmasked."""
    g = np.random.default_rng(1)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    data = torch.from_numpy(stream.astype(np.int64))
    model.train()
    mask = attention_without_causal_mask() if not causal else _nothing()
    with mask:
        for _ in range(steps):
            starts = g.integers(0, len(stream) - SEQ - offset, 16)
            x = torch.stack([data[s:s + SEQ] for s in starts])
            y = torch.stack([data[s + offset:s + offset + SEQ] for s in starts])
            loss = F.cross_entropy(model(x).reshape(-1, model.args.vocab_size), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def save(path: Path, model: Transformer, *, val_loss: float | None = None, **config) -> Path:
    """llama2.c train.py's checkpoint dict."""
    args = asdict(model.args)
    model_args = {k: args[k] for k in ("dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "multiple_of",
                                       "max_seq_len", "dropout")}
    payload = {"model": model.state_dict(), "model_args": model_args, "iter_num": 150,
               "config": {"learning_rate": 3e-3, "max_iters": 150, "dropout": args["dropout"], **config}}
    if val_loss is not None:
        payload["best_val_loss"] = torch.tensor(val_loss)
    torch.save(payload, path)
    return path


def shard(path: Path, tokens: np.ndarray) -> Path:
    tokens.astype(np.uint16).tofile(path)
    return path


def codes(facts) -> set[str]:
    from tsdiag.evaluation.rules import eval_findings

    return {f.code for f in eval_findings(facts, Thresholds())}


PROBE_CODES = {"TSD-H1-EVAL-LABEL-SHIFT", "TSD-EVAL-FUTURE-LEAK", "TSD-EVAL-NOT-CAUSAL", "TSD-EVAL-DROPOUT-AT-EVAL",
               "TSD-EVAL-UNTIED-HEAD", "TSD-EVAL-FINAL-NORM-UNTRAINED"}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Models this small run fastest on one thread (and 20x slower when threads fight for busy cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def stream() -> np.ndarray:
    return markov_stream(20_000)


@pytest.fixture(scope="module")
def correct(stream):
    return fit(tiny_model(), stream)


def test_loss_equals_hand_computed_cross_entropy(tmp_path, stream):
    model = tiny_model(seed=3)  # untrained is enough: the arithmetic is what is checked
    data = shard(tmp_path / "val.bin", stream[:3000])
    facts = evaluate(save(tmp_path / "ckpt.pt", model), [data], layout="llama2c", seq_len=SEQ, reference=False,
                     probes=False, batch_size=7)
    tokens = torch.from_numpy(stream[:3000].astype(np.int64))
    windows = torch.stack([tokens[i * SEQ:i * SEQ + SEQ + 1] for i in range(3000 // SEQ - 1)])
    with torch.no_grad():
        logits = model(windows[:, :-1])
    expected = F.cross_entropy(logits.reshape(-1, VOCAB), windows[:, 1:].reshape(-1)).item()
    assert facts.plan.windows == 3000 // SEQ - 1  # llama2.c's len // seq_len - 1 windows
    assert facts.data_score.loss.nats == pytest.approx(expected, rel=1e-5)
    assert facts.data_score.loss.low <= expected <= facts.data_score.loss.high


def test_max_tokens_spreads_windows_over_the_data(tmp_path, stream):
    data = shard(tmp_path / "val.bin", stream[:6400])
    facts = evaluate(save(tmp_path / "ckpt.pt", tiny_model()), [data], seq_len=SEQ, max_tokens=10 * SEQ,
                     reference=False, probes=False)
    starts = [s for _, s in facts.plan.starts]
    assert len(starts) == 10 and starts[0] == 0 and starts[-1] > 5000


def test_correct_model_raises_no_probe_finding(tmp_path, stream, correct):
    facts = evaluate(save(tmp_path / "ckpt.pt", correct), [shard(tmp_path / "v.bin", stream[-4000:])],
                     seq_len=SEQ, reference=False)
    assert facts.probes["label_shift"].values["best_offset"] == 1
    assert not codes(facts) & PROBE_CODES


def test_labels_shifted_twice_are_caught(tmp_path, stream):
    model = fit(tiny_model(), stream, offset=2)
    facts = evaluate(save(tmp_path / "ckpt.pt", model), [shard(tmp_path / "v.bin", stream[-4000:])],
                     seq_len=SEQ, reference=False)
    assert facts.probes["label_shift"].values["best_offset"] == 2
    assert "TSD-H1-EVAL-LABEL-SHIFT" in codes(facts)


def test_a_mask_that_leaked_the_future_in_training_is_caught(tmp_path, stream):
    model = fit(tiny_model(), stream, causal=False)
    facts = evaluate(save(tmp_path / "ckpt.pt", model), [shard(tmp_path / "v.bin", stream[-4000:])],
                     seq_len=SEQ, reference=False)
    assert "TSD-EVAL-FUTURE-LEAK" in codes(facts)
    assert facts.probes["causal"].values["max_logit_change"] == 0.0  # the loaded model itself is causal


def test_a_val_loss_recorded_with_dropout_on_is_caught(tmp_path, stream):
    model = fit(tiny_model(dropout=0.5), stream)
    val = torch.from_numpy(stream[-4000:].astype(np.int64))
    windows = torch.stack([val[i * SEQ:i * SEQ + SEQ + 1] for i in range(4000 // SEQ - 1)])
    torch.manual_seed(0)
    model.train()  # the buggy trainer: no model.eval() before estimating the val loss
    with torch.no_grad():
        recorded = F.cross_entropy(model(windows[:, :-1]).reshape(-1, VOCAB), windows[:, 1:].reshape(-1)).item()
        model.eval()
        honest = F.cross_entropy(model(windows[:, :-1]).reshape(-1, VOCAB), windows[:, 1:].reshape(-1)).item()
    assert recorded > honest + 0.2  # the setup itself: dropout 0.5 costs this model a lot
    data = [shard(tmp_path / "v.bin", stream[-4000:])]
    buggy = evaluate(save(tmp_path / "buggy.pt", model, val_loss=recorded), data, seq_len=SEQ, reference=False)
    fine = evaluate(save(tmp_path / "fine.pt", model, val_loss=honest), data, seq_len=SEQ, reference=False)
    assert "TSD-EVAL-DROPOUT-AT-EVAL" in codes(buggy)
    assert "TSD-H1-EVAL-ABOVE-RECORDED" not in codes(buggy)  # dropout explains the gap; no data finding
    assert not codes(fine) & PROBE_CODES


def test_an_untied_head_is_reported(tmp_path, correct):
    model = tiny_model()
    model.load_state_dict(correct.state_dict())
    state = model.state_dict()
    state["output.weight"] = state["output.weight"].clone() + 0.05
    path = tmp_path / "ckpt.pt"
    torch.save({"model": state, "model_args": {"dim": 32, "n_layers": 1, "n_heads": 2, "n_kv_heads": 2,
                                               "vocab_size": VOCAB, "multiple_of": 32, "max_seq_len": SEQ}}, path)
    facts = evaluate(path, [shard(tmp_path / "v.bin", markov_stream(2000))], seq_len=SEQ, reference=False)
    assert "TSD-EVAL-UNTIED-HEAD" in codes(facts)


def test_checkpoint_behind_its_log_is_h5(tmp_path, stream, correct):
    early = fit(tiny_model(), stream, steps=5)
    data = [shard(tmp_path / "v.bin", stream[-4000:])]
    log = tmp_path / "train.log"
    log.write_text("step 0: train loss 4.1589, val loss 4.1590\n150 | loss 0.9000 | lr 3e-3 | 10ms | mfu 0.01%\n"
                   "step 150: train loss 0.6000, val loss 0.6100\n")
    facts = evaluate(save(tmp_path / "early.pt", early), data, seq_len=SEQ, reference=False, log=log, probes=False)
    assert {r.kind for r in facts.recorded} == {"log"}
    assert "TSD-H5-EVAL-ABOVE-LOG" in codes(facts)


def test_article_slots_separate_article_starved_training(tmp_path, sp_model):  # noqa: F811
    from tsdiag.tokenizer import load_tokenizer

    tok = load_tokenizer(sp_model)
    normal = encode_corpus(tok, STORIES)
    import re

    stripped_text = [re.sub(r"\b(?:[Aa]n?|[Tt]he)\s+", "", s) for s in STORIES]
    starved = encode_corpus(tok, stripped_text)
    figures = {}
    for name, tokens in (("normal", normal), ("starved", starved)):
        model = fit(tiny_model(vocab=tok.vocab_size), tokens, steps=250)
        facts = evaluate(save(tmp_path / f"{name}.pt", model), [shard(tmp_path / f"{name}.bin", normal)],
                         tokenizer=sp_model, seq_len=SEQ, probes=False)
        figures[name] = facts.scores["data"].articles
    normal_f, starved_f = figures["normal"], figures["starved"]
    assert normal_f.slots >= 50
    assert starved_f.slot_probability < 0.5 * normal_f.slot_probability
    assert starved_f.slot_top1_article < 0.5 * normal_f.slot_top1_article
    assert starved_f.article_loss > normal_f.article_loss + 2.0


def test_cli_json_keys_and_bad_inputs(cli, tmp_path, stream, correct):
    ckpt = save(tmp_path / "ckpt.pt", correct)
    data = shard(tmp_path / "v.bin", stream[-2000:])
    code, out, _ = cli("eval", ckpt, "--data", data, "--seq-len", SEQ, "--json", "--no-reference")
    assert code == 0
    doc = json.loads(out)
    assert doc["command"] == "eval"
    for key in ("loss", "windows", "scores", "recorded", "probes", "recipe", "against", "findings"):
        assert key in doc
    assert doc["loss"]["interval"][0] <= doc["loss"]["nats_per_token"] <= doc["loss"]["interval"][1]

    wide = shard(tmp_path / "wide.bin", np.full(200, VOCAB + 5, dtype=np.uint16))
    code, out, err = cli("eval", ckpt, "--data", wide, "--seq-len", SEQ)
    assert code == 2 and "wide.bin" in err and "embedding rows" in err and "Traceback" not in err
    short = shard(tmp_path / "short.bin", stream[:10])
    code, out, err = cli("eval", ckpt, "--data", short, "--seq-len", SEQ)
    assert code == 2 and "short.bin" in err and "window" in err
    code, out, err = cli("eval", ckpt, "--data", data, "--seq-len", 4 * SEQ)
    assert code == 2 and "context" in err
    target = tmp_path / "report.json"
    code, _, _ = cli("eval", ckpt, "--data", short, "--seq-len", SEQ, "--json", "--output", target)
    assert code == 2 and not target.exists()


def test_tokenizer_of_another_model_is_refused(cli, tmp_path, stream, correct, sp_model):  # noqa: F811
    ckpt = save(tmp_path / "ckpt.pt", correct)  # 64 rows; the sentencepiece model has 320 pieces
    code, _, err = cli("eval", ckpt, "--data", shard(tmp_path / "v.bin", stream[:2000]), "--tokenizer", sp_model,
                       "--seq-len", SEQ)
    assert code == 2 and "not the tokenizer this model was trained with" in err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_bf16_matches_cpu(tmp_path, stream, correct):
    data = [shard(tmp_path / "v.bin", stream[-4000:])]
    ckpt = save(tmp_path / "ckpt.pt", correct)
    cpu = evaluate(ckpt, data, seq_len=SEQ, device="cpu", reference=False, probes=False)
    gpu = evaluate(ckpt, data, seq_len=SEQ, device="cuda", reference=False, probes=False)
    assert gpu.precision == "bf16 autocast"
    assert gpu.data_score.loss.nats == pytest.approx(cpu.data_score.loss.nats, abs=0.02)
