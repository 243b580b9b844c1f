"""Every checkpoint finding, both ways: it fires on its evidence and stays quiet without it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tsdiag.checkpoint.facts import (INFERRED, RECORDED, Architecture, CheckpointInspection, FileFacts, FrozenRows,
                                     HealthFacts, NonFinite, OptimizerState, SiblingCheckpoint, Sourced,
                                     TensorHealth, TrainingState)
from tsdiag.checkpoint.rules import evaluate
from tsdiag.findings import Severity, all_rules
from tsdiag.thresholds import Thresholds

T = Thresholds()


def S(value, source="ckpt.pt: key", origin=RECORDED):
    return Sourced(value, source, origin)


def make(*, vocab=512, step=None, max_iters=None, val_loss=None, optimizer=True, fmt="torch-zip", hyper=None,
         health=None, siblings=(), best_checkpoint=None, best_val_loss=None) -> CheckpointInspection:
    arch = Architecture(family="llama2.c", vocab_size=S(vocab), dim=S(64), n_layers=S(2), n_params=vocab * 64 + 10_000,
                        n_params_embedding=vocab * 64)
    training = TrainingState(step=S(step) if step is not None else None,
                             val_loss=S(val_loss) if val_loss is not None else None,
                             best_val_loss=S(best_val_loss) if best_val_loss is not None else None,
                             best_checkpoint=S(best_checkpoint) if best_checkpoint else None,
                             has_optimizer_state=optimizer,
                             optimizer=OptimizerState("AdamW-like", "ckpt.pt: optimizer", 10) if optimizer else None)
    hyperparameters = {k: (v if isinstance(v, Sourced) else S(v)) for k, v in (hyper or {}).items()}
    if max_iters is not None:
        hyperparameters["max_iters"] = S(max_iters)
    return CheckpointInspection(path=Path("out/ckpt.pt"), format=fmt, layout="llama2.c", trainer="llama2.c",
                                weights_key="model", stripped_prefixes=[], architecture=arch, training=training,
                                hyperparameters=hyperparameters, file=FileFacts(Path("out/ckpt.pt"), 1, 0.0),
                                health=health, siblings=list(siblings))


def codes(c):
    return {f.code for f in evaluate(c, T)}


def by_code(c, code):
    return next(f for f in evaluate(c, T) if f.code == code)


def test_all_codes_registered_and_documented():
    from tsdiag.checkpoint import rules
    from tsdiag.findings import Rule

    mine = {r.code: r for r in vars(rules).values() if isinstance(r, Rule)}
    assert set(mine) == {"TSD-H4-VOCAB", "TSD-H2-EARLY-STOP", "TSD-H2-VAL-LOSS-HIGH", "TSD-H3-LR-HIGH",
                         "TSD-H3-NO-WARMUP", "TSD-H3-DECAY-MISMATCH", "TSD-H3-MIN-LR", "TSD-H5-INIT-WEIGHTS",
                         "TSD-H5-NOT-LATEST", "TSD-H5-NOT-BEST", "TSD-CKPT-NO-OPTIMIZER", "TSD-CKPT-NONFINITE",
                         "TSD-CKPT-FROZEN-ROWS", "TSD-W-WEIGHTED-OBJECTIVE", "TSD-H3-DROPOUT-HIGH",
                         "TSD-TOK-VOCAB-MISMATCH", "TSD-H3-OPTIMIZER-RESET"}
    assert all(code in all_rules() and "-LOG-" not in code and r.why and r.fix for code, r in mine.items())


def test_vocab_is_a_warning_that_quotes_llama2c():
    assert "TSD-H4-VOCAB" not in codes(make(vocab=8000))
    f = by_code(make(vocab=32000), "TSD-H4-VOCAB")
    assert f.severity is Severity.WARNING and "1.072" in f.message and "contributing factor" in f.message
    assert any(e.value == 1.072 and "llama2.c" in e.source for e in f.evidence)
    assert f.evidence[0].value == 32000 and f.evidence[0].source == "ckpt.pt: key"


def test_early_stop_and_high_val_loss():
    assert not {"TSD-H2-EARLY-STOP", "TSD-H2-VAL-LOSS-HIGH"} & codes(make(step=1950, max_iters=2000, val_loss=1.5))
    f = by_code(make(step=200, max_iters=2000), "TSD-H2-EARLY-STOP")
    assert "10%" in f.message and "continue from it" in f.fix and "2,000" in f.fix
    assert "retrain" in by_code(make(step=200, max_iters=2000, optimizer=False), "TSD-H2-EARLY-STOP").fix
    f = by_code(make(val_loss=2.8), "TSD-H2-VAL-LOSS-HIGH")
    assert f.evidence[0].value == 2.8 and "above 2 nats/token" in f.message
    assert "TSD-H2-EARLY-STOP" not in codes(make(step=200))   # max_iters unknown: no guess


def test_learning_rate_findings():
    ok = make(hyper={"learning_rate": 5e-4, "warmup_iters": 1000, "min_lr": 5e-5, "lr_decay_iters": 2000},
              max_iters=2000)
    assert not {c for c in codes(ok) if c.startswith("TSD-H3")}
    bad = make(hyper={"learning_rate": 3e-3, "warmup_iters": 0, "min_lr": 1e-5, "lr_decay_iters": 10_000},
               max_iters=20_000)
    assert {"TSD-H3-LR-HIGH", "TSD-H3-NO-WARMUP", "TSD-H3-DECAY-MISMATCH", "TSD-H3-MIN-LR"} <= codes(bad)
    assert "trains at min_lr" in by_code(bad, "TSD-H3-DECAY-MISMATCH").message
    assert by_code(bad, "TSD-H3-MIN-LR").severity is Severity.INFO and "0.0003" in by_code(bad, "TSD-H3-MIN-LR").fix
    # no warmup only matters at a high learning rate
    assert "TSD-H3-NO-WARMUP" not in codes(make(hyper={"learning_rate": 1e-4, "warmup_iters": 0}))
    # decay switched off: lr_decay_iters is irrelevant
    assert "TSD-H3-DECAY-MISMATCH" not in codes(make(hyper={"lr_decay_iters": 10, "decay_lr": False}, max_iters=2000))
    inferred = make(hyper={"learning_rate": 5e-4, "min_lr": S(0.0, "inferred: llama2.c train.py sets min_lr", INFERRED)})
    assert "inferred" in by_code(inferred, "TSD-H3-MIN-LR").evidence[0].source


def _health(n_init, n_total, **kw):
    tensors = [TensorHealth(f"m{i}", (64, 64), "float32", "0", "matrix", "init" if i < n_init else "trained",
                            init="normal(0, 0.02)", std_ratio=1.0, spectral_ratio=1.0) for i in range(n_total)]
    return HealthFacts(verdict="x", matrices_checked=n_total, matrices_init=n_init, tensors=tensors, layers=[],
                       sample_rows_max=1, sampled=False, **kw)


class _PiecesOnly:
    def __init__(self, byte, special, vocab_size=512):
        self._byte, self._special, self.vocab_size = list(byte), list(special), vocab_size
        self.path = Path("tok512.model")

    def byte_ids(self):
        return self._byte

    def special_ids(self):
        return self._special


def test_init_weights_nonfinite_and_frozen_rows():
    assert "TSD-H5-INIT-WEIGHTS" in codes(make(health=_health(15, 15)))
    assert "TSD-H5-INIT-WEIGHTS" not in codes(make(health=_health(3, 15)))
    assert by_code(make(health=_health(15, 15), step=2000), "TSD-H5-INIT-WEIGHTS").severity is Severity.ERROR
    bad = make(health=_health(0, 15, nonfinite=[NonFinite("w", 3, 1, True), NonFinite("opt: exp_avg", 1, 0, False)]))
    f = by_code(bad, "TSD-CKPT-NONFINITE")
    assert f.severity is Severity.ERROR and "1 of them model weights" in f.message
    assert "TSD-CKPT-NONFINITE" not in codes(make(health=_health(0, 15)))
    # Lightning's ModelCheckpoint.kth_value = inf is trainer state, not a weight or optimizer moment
    lightning = make(health=_health(0, 15, nonfinite=[NonFinite("callbacks.ModelCheckpoint.kth_value", 0, 1, False)]))
    assert "TSD-CKPT-NONFINITE" not in codes(lightning)
    frozen = FrozenRows("optimizer", 312, 512, 512, "ckpt.pt: optimizer.state[0].exp_avg_sq", first_ids=[200, 201])
    # a 512 vocabulary without its tokenizer: most never-seen rows are byte-fallback pieces, not judged
    assert "TSD-CKPT-FROZEN-ROWS" not in codes(make(health=_health(0, 15, frozen_rows=frozen)))
    with_tok = make(health=_health(0, 15, frozen_rows=frozen))
    with_tok.tokenizer = _PiecesOnly(byte=range(3, 259), special=range(3))
    f = by_code(with_tok, "TSD-CKPT-FROZEN-ROWS")  # 312 - 259 byte/special rows = 53 (10%) still unexplained
    assert f.evidence[0].value == 312 and "exactly zero" in f.message and f.hypothesis == "H4"
    with_tok.health.frozen_rows = FrozenRows("optimizer", 270, 512, 512, "x")
    assert "TSD-CKPT-FROZEN-ROWS" not in codes(with_tok)  # 11 rows past the byte pieces: 2%
    few = FrozenRows("statistics", 10, 512, 512, "x")
    assert "TSD-CKPT-FROZEN-ROWS" not in codes(make(health=_health(0, 15, frozen_rows=few)))


def test_not_latest_not_best_and_recorded_best():
    sibs = [SiblingCheckpoint(Path("out/ckpt_best.pt"), 8000, 1.2, 0.0, "ckpt_best.pt: iter_num", "ckpt_best.pt: x"),
            SiblingCheckpoint(Path("out/old.pt"), 100, 3.0, 0.0)]
    c = make(step=2000, val_loss=1.9, siblings=sibs)
    assert {"TSD-H5-NOT-LATEST", "TSD-H5-NOT-BEST"} <= codes(c)
    assert "ckpt_best.pt" in by_code(c, "TSD-H5-NOT-LATEST").message
    assert not {"TSD-H5-NOT-LATEST", "TSD-H5-NOT-BEST"} & codes(make(step=9000, val_loss=1.1, siblings=sibs))
    recorded = make(val_loss=2.4, best_val_loss=1.9, best_checkpoint="/runs/epoch=1-step=800.ckpt")
    assert "epoch=1-step=800" in by_code(recorded, "TSD-H5-NOT-BEST").message


def test_missing_optimizer_state_only_for_training_checkpoints():
    assert "TSD-CKPT-NO-OPTIMIZER" in codes(make(step=500, optimizer=False))
    assert "TSD-CKPT-NO-OPTIMIZER" not in codes(make(step=500, optimizer=True))
    assert "TSD-CKPT-NO-OPTIMIZER" not in codes(make(optimizer=False))                 # no training state recorded
    assert "TSD-CKPT-NO-OPTIMIZER" not in codes(make(step=500, optimizer=False, fmt="hf-folder"))   # an export


def test_thresholds_drive_the_rules():
    c = make(val_loss=2.3)
    assert "TSD-H2-VAL-LOSS-HIGH" in {f.code for f in evaluate(c, T)}
    assert "TSD-H2-VAL-LOSS-HIGH" not in {f.code for f in evaluate(c, T.override({"val_loss_high": 2.5}))}


@pytest.mark.parametrize("finding_code", ["TSD-H4-VOCAB", "TSD-H2-VAL-LOSS-HIGH"])
def test_every_finding_carries_sourced_evidence(finding_code):
    f = by_code(make(vocab=50257, val_loss=3.1), finding_code)
    assert f.evidence and all(e.source for e in f.evidence) and f.fix


class _Vocab:
    def __init__(self, size):
        self.vocab_size, self.path = size, Path(f"tok{size}.model")

    def byte_ids(self):
        return []

    def special_ids(self):
        return []


def test_nonfinite_weights_speak_to_h3():
    bad = make(health=_health(0, 15, nonfinite=[NonFinite("layers.1.attention.wq.weight", 1, 0, True)]))
    assert by_code(bad, "TSD-CKPT-NONFINITE").hypothesis == "H3"


def test_dropout_far_above_the_recipes():
    assert "TSD-H3-DROPOUT-HIGH" not in codes(make(hyper={"dropout": 0.1}))
    f = by_code(make(hyper={"dropout": 0.6}), "TSD-H3-DROPOUT-HIGH")
    assert f.severity is Severity.WARNING and f.strength == 1.0


def test_a_tokenizer_that_is_not_the_models():
    from tsdiag.units import BytesPerToken

    fits = make(vocab=512)
    fits.tokenizer = _Vocab(512)
    assert "TSD-TOK-VOCAB-MISMATCH" not in codes(fits)
    padded = make(vocab=50304)
    padded.tokenizer = _Vocab(50257)  # nanoGPT's padding to a multiple of 64
    assert "TSD-TOK-VOCAB-MISMATCH" not in codes(padded)
    wrong = make(vocab=512, val_loss=3.0)
    wrong.tokenizer, wrong.bytes_per_token = _Vocab(32000), BytesPerToken(3.7, "x")
    f = by_code(wrong, "TSD-TOK-VOCAB-MISMATCH")
    assert f.severity is Severity.ERROR and "32,000 pieces" in f.message
