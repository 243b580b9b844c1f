"""Weight health: trained vs fresh init, frozen embedding rows, NaN/Inf, memory-flat reading."""

from __future__ import annotations

import copy
import math

import pytest
import torch

import ckpt_factory as f
from tsdiag.checkpoint import inspect_checkpoint
from tsdiag.checkpoint.health import InitSpec, init_reasons, matrix_stats
from tsdiag.thresholds import Thresholds


def _health(path, **kw):
    return inspect_checkpoint(path, siblings=False, **kw).health


@pytest.mark.parametrize("tied", [True, False])
def test_trained_model_is_trained_and_fresh_init_is_init(tmp_path, tied):
    model, _, _ = f.trained_llama(tied=tied)
    torch.save({"model": model.state_dict()}, tmp_path / "trained.pt")
    torch.save({"model": f.Llama2c(tied=tied).state_dict()}, tmp_path / "init.pt")
    trained, fresh = _health(tmp_path / "trained.pt"), _health(tmp_path / "init.pt")
    assert trained.verdict == "trained" and trained.matrices_init == 0
    assert fresh.verdict == "init" and fresh.matrices_init == fresh.matrices_checked == (15 if tied else 16)
    wo = next(t for t in fresh.tensors if t.name == "layers.0.attention.wo.weight")
    assert wo.init_std == pytest.approx(0.02 / math.sqrt(4)) and abs(wo.std_ratio - 1) < 0.05
    norms = [t for t in fresh.tensors if t.kind == "norm"]
    assert norms and all(t.verdict == "init" for t in norms)
    assert all(t.verdict == "trained" for t in trained.tensors if t.kind == "norm")
    assert [layer.layer for layer in fresh.layers] == ["embedding", "0", "1", "final"] + ([] if tied else ["output"])
    assert all(layer.verdict == "init" for layer in fresh.layers)


def test_other_inits_are_recognised(tmp_path):
    # nanoGPT (c_proj scaled), an HF folder (initializer_range) and plain PyTorch defaults (unknown family)
    f.nanogpt_checkpoint(tmp_path / "nano.pt")
    hf_model = f.Llama2c()
    for p in hf_model.parameters():
        if p.dim() == 2:
            torch.nn.init.normal_(p, 0.0, 0.02)   # Hugging Face Llama: initializer_range, no residual scaling
    f.hf_folder(tmp_path / "hf", hf_model)
    plain = torch.nn.Sequential(torch.nn.Embedding(300, 48), torch.nn.Linear(48, 96), torch.nn.Linear(96, 48))
    torch.save(plain.state_dict(), tmp_path / "plain.pt")
    assert _health(tmp_path / "nano.pt").verdict == "init"
    assert _health(tmp_path / "hf").verdict == "init"
    health = _health(tmp_path / "plain.pt")
    assert health.verdict == "init"
    labels = {t.name: t.init for t in health.tensors if t.kind == "matrix"}
    assert labels["0.weight"].startswith("nn.Embedding default") and labels["1.weight"].startswith("nn.Linear default")


def test_shape_statistics_separate_noise_from_structure():
    t = Thresholds()
    noise = torch.randn(256, 512) * 0.02
    assert init_reasons(matrix_stats(noise), InitSpec("normal", 0.02, ""), t) == []
    reasons = init_reasons(matrix_stats(noise * 1.3), InitSpec("normal", 0.02, ""), t)
    assert len(reasons) == 1 and reasons[0].startswith("std 1.")
    low_rank = noise + 0.01 * torch.randn(256, 2) @ torch.randn(2, 512)
    reasons = init_reasons(matrix_stats(low_rank), InitSpec("normal", None, ""), t)
    assert any(r.startswith("spectral ratio") for r in reasons)


def test_frozen_rows_exact_from_the_optimizer_state(tmp_path):
    model, optimizer, _ = f.trained_llama(tied=False)
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": 150}, tmp_path / "c.pt")
    frozen = _health(tmp_path / "c.pt").frozen_rows
    assert frozen.method == "optimizer" and frozen.count == 512 - 200 and frozen.first_ids[:3] == [200, 201, 202]
    model, optimizer, _ = f.trained_llama(tied=True)   # tied: the output gradient reaches every row
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, tmp_path / "t.pt")
    assert _health(tmp_path / "t.pt").frozen_rows is None


def test_frozen_rows_estimated_from_weights_alone(tmp_path):
    # 1000 x 256 untied embedding: 700 rows are init noise shrunk by weight decay, 300 rows learned structure
    g = torch.Generator().manual_seed(0)
    model = f.Llama2c(vocab_size=1000, dim=256, n_layers=1, n_heads=4, n_kv_heads=4, tied=False)
    emb = torch.randn(1000, 256, generator=g) * 0.02 * 0.9
    emb[:300] = torch.randn(300, 8, generator=g) @ torch.randn(8, 256, generator=g) * 0.02 + 0.01 * torch.randn(
        300, 256, generator=g)
    model.tok_embeddings.weight.data.copy_(emb)
    torch.save(model.state_dict(), tmp_path / "m.pt")
    frozen = _health(tmp_path / "m.pt").frozen_rows
    assert frozen.method == "statistics" and abs(frozen.count - 700) <= 20
    assert frozen.cluster_std == pytest.approx(0.018, rel=0.05) and frozen.first_ids[0] >= 300
    learned = torch.randn(1000, 8, generator=g) @ torch.randn(8, 256, generator=g) * 0.02
    model.tok_embeddings.weight.data.copy_(learned + 0.01 * torch.randn(1000, 256, generator=g))
    torch.save(model.state_dict(), tmp_path / "none.pt")
    assert _health(tmp_path / "none.pt").frozen_rows.count == 0


def test_nan_and_inf_are_found_in_weights_and_optimizer_state(tmp_path):
    model, optimizer, _ = f.trained_llama(tied=True)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["layers.1.feed_forward.w2.weight"][3, 5] = float("nan")
    state["norm.weight"][0] = float("inf")
    opt_state = copy.deepcopy(optimizer.state_dict())   # the shared optimizer must stay clean
    opt_state["state"][2]["exp_avg"][0, 0] = float("nan")
    torch.save({"model": state, "optimizer": opt_state}, tmp_path / "bad.pt")
    health = _health(tmp_path / "bad.pt")
    by_name = {n.name: n for n in health.nonfinite}
    assert by_name["layers.1.feed_forward.w2.weight"].nan == 1 and by_name["norm.weight"].inf == 1
    assert any(not n.is_weight and n.nan == 1 and "exp_avg" in n.name for n in health.nonfinite)
    assert next(t for t in health.tensors if t.name == "norm.weight").verdict == "nonfinite"
    clean = _health(f.llama2c_checkpoint(tmp_path / "ok.pt", model, optimizer=optimizer))
    assert clean.nonfinite == [] and clean.tensors_scanned > 20


def test_optimizer_state_is_sampled_unless_full_scan(tmp_path):
    """Weights are always scanned in full; optimizer state on its first 16 MiB per tensor by default."""
    model, optimizer, _ = f.trained_llama(tied=True)
    opt_state = copy.deepcopy(optimizer.state_dict())
    big = torch.zeros(5_000_000)   # 20 MB: past the first 16 MiB chunk
    big[-1] = float("nan")
    opt_state["state"][2]["exp_avg"] = big
    torch.save({"model": model.state_dict(), "optimizer": opt_state}, tmp_path / "late_nan.pt")
    sampled = _health(tmp_path / "late_nan.pt")
    assert not sampled.full_scan and sampled.nonfinite == []
    full = _health(tmp_path / "late_nan.pt", full_scan=True)
    assert full.full_scan and [n.nan for n in full.nonfinite] == [1]
    assert full.bytes_scanned > sampled.bytes_scanned


def test_constant_and_sampled_matrices(tmp_path):
    model = f.Llama2c(vocab_size=5000, dim=64)
    model.layers[0].attention.wq.weight.data.zero_()
    torch.save(model.state_dict(), tmp_path / "m.pt")
    health = _health(tmp_path / "m.pt")
    wq = next(t for t in health.tensors if t.name == "layers.0.attention.wq.weight")
    emb = next(t for t in health.tensors if t.name == "tok_embeddings.weight")
    assert wq.verdict == "constant" and health.verdict == "init"   # 14 of 15 at init
    assert emb.rows_total == 5000 and emb.rows_sampled < 5000 and health.sampled and emb.verdict == "init"


def test_no_health_reads_no_weights(tmp_path):
    path = f.llama2c_checkpoint(tmp_path / "ckpt.pt")
    c = inspect_checkpoint(path, health=False, siblings=False)
    assert c.health is None and not any(x.code.startswith("TSD-H5-INIT") for x in c.findings)
