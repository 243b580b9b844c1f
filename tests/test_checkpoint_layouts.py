"""Every layout ``tsdiag inspect`` reads: facts with their sources, and faithful weight names."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import ckpt_factory as f
from tsdiag.checkpoint import inspect_checkpoint, load_state_dict
from tsdiag.checkpoint.facts import DERIVED, INFERRED, RECORDED


def _inspect(path, **kw):
    kw.setdefault("siblings", False)
    return inspect_checkpoint(path, **kw)


def test_llama2c_checkpoint_from_compiled_model(tmp_path):
    model, opt, _ = f.trained_llama(tied=True)
    path = f.llama2c_checkpoint(tmp_path / "ckpt.pt", model, optimizer=opt, iter_num=150, best_val_loss=1.9,
                                max_iters=2000)
    c = _inspect(path)
    a, t, h = c.architecture, c.training, c.hyperparameters
    assert (c.format, c.layout, c.trainer, c.weights_key) == ("torch-zip", "llama2.c", "llama2.c", "model")
    assert c.stripped_prefixes == ["_orig_mod."]
    assert a.family == "llama2.c"
    assert (a.get("vocab_size"), a.get("dim"), a.get("n_layers"), a.get("hidden_dim")) == (512, 64, 2, 192)
    assert a.vocab_size.source == "ckpt.pt: model.tok_embeddings.weight shape[0]" and a.vocab_size.origin == DERIVED
    assert (a.get("n_heads"), a.get("n_kv_heads"), a.get("max_seq_len")) == (4, 2, 64)
    assert a.n_heads.source == "ckpt.pt: model_args.n_heads" and a.n_heads.origin == RECORDED
    assert a.get("tied_output") is True and "share one storage" in a.tied_output.source
    n_params = sum(p.numel() for p in model.parameters())
    assert a.n_params == n_params and a.n_params_embedding == 512 * 64
    assert a.n_params_non_embedding == n_params - 512 * 64 and a.dtypes == {"float32": n_params}
    assert t.step.value == 150 and t.step.source == "ckpt.pt: iter_num"
    assert t.val_loss.value == pytest.approx(1.9) and t.val_loss.source == "ckpt.pt: best_val_loss"
    assert t.has_optimizer_state and t.optimizer.kind == "AdamW-like" and t.optimizer.step.value == 150
    assert t.optimizer.current_lr.value == pytest.approx(1e-3)
    assert h["learning_rate"].value == 5e-4 and h["learning_rate"].source == "ckpt.pt: config.learning_rate"
    assert h["max_iters"].value == 2000 and h["warmup_iters"].value == 1000 and h["batch_size"].value == 128
    assert h["betas"].value == [0.9, 0.95] and h["vocab_source"].value == "llama2"
    # fixed in llama2.c's code, never recorded
    assert h["min_lr"].value == 0.0 and h["min_lr"].origin == INFERRED and "llama2.c" in h["min_lr"].source
    assert h["lr_decay_iters"].value == 2000 and h["lr_decay_iters"].origin == INFERRED


def test_llama2c_defaults_fill_a_missing_config(tmp_path):
    path = tmp_path / "ckpt.pt"
    model = f.Llama2c()
    sd = f.compiled_state_dict(model)
    torch.save({"model": sd, "model_args": dict(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=512,
                                                 multiple_of=32, max_seq_len=64, dropout=0.0),
                "iter_num": 10, "best_val_loss": torch.tensor(3.0)}, path)
    h = _inspect(path, health=False).hyperparameters
    assert h["learning_rate"].value == 5e-4 and h["learning_rate"].origin == INFERRED
    assert h["learning_rate"].source == "inferred from llama2.c train.py defaults"
    assert h["max_iters"].value == 100_000 and h["lr_decay_iters"].value == 100_000


def test_nanogpt_checkpoint(tmp_path):
    c = _inspect(f.nanogpt_checkpoint(tmp_path / "ckpt.pt", iter_num=5000, best_val_loss=1.2))
    a = c.architecture
    assert c.layout == "nanoGPT" and a.family == "nanogpt" and c.stripped_prefixes == ["_orig_mod."]
    assert (a.get("vocab_size"), a.get("dim"), a.get("n_layers"), a.get("hidden_dim")) == (512, 64, 2, 256)
    assert a.get("max_seq_len") == 64 and a.max_seq_len.source.endswith("transformer.wpe.weight shape[0]")
    assert a.get("n_heads") == 4 and a.n_heads.source == "ckpt.pt: model_args.n_head"
    assert a.get("n_kv_heads") == 4 and a.get("tied_output") is True
    assert a.n_params_embedding == 512 * 64 + 64 * 64   # token + position embeddings
    assert c.training.step.value == 5000 and c.training.val_loss.value == pytest.approx(1.2)
    assert c.hyperparameters["min_lr"].value == 6e-5 and c.hyperparameters["min_lr"].origin == RECORDED
    assert c.hyperparameters["dataset"].value == "tinystories"


def test_lightning_checkpoint(tmp_path):
    c = _inspect(f.lightning_checkpoint(tmp_path / "epoch=2-step=1200.ckpt"))
    t, h = c.training, c.hyperparameters
    assert c.layout == "lightning" and c.trainer == "lightning" and c.weights_key == "state_dict"
    assert c.stripped_prefixes == ["model."] and "tok_embeddings.weight" in load_state_dict(c.path)
    assert t.step.value == 1200 and t.step.source.endswith("global_step") and t.epoch.value == 2
    assert t.val_loss.value == pytest.approx(1.95) and "current_score" in t.val_loss.source
    assert t.best_val_loss.value == pytest.approx(1.9) and t.best_checkpoint.value.endswith("epoch=1-step=800.ckpt")
    assert t.has_optimizer_state and t.scheduler.kind == "CosineAnnealingLR" and t.scheduler.last_epoch.value == 1200
    assert h["learning_rate"].value == 3e-4 and h["learning_rate"].source.endswith("hyper_parameters.lr")
    assert h["max_iters"].value == 5000 and h["warmup_iters"].value == 200
    assert h["min_lr"].value == 3e-5 and h["min_lr"].origin == DERIVED and h["min_lr"].source.endswith("eta_min")
    assert h["lr_decay_iters"].value == 5000 and h["lr_decay_iters"].source.endswith("T_max")


def test_custom_trainer_dict_with_nested_config_and_numpy_scalar(tmp_path):
    c = _inspect(f.custom_trainer_checkpoint(tmp_path / "checkpoint_best_loss.pth"))
    t, h = c.training, c.hyperparameters
    assert c.layout == "trainer-dict" and c.weights_key == "model_state_dict"
    assert t.step.value == 2500 and t.epoch.value == 5
    assert t.val_loss.value == 2.35 and t.val_loss.source.endswith("metrics.val_loss")
    assert t.best_val_loss.value == pytest.approx(2.31) and isinstance(t.best_val_loss.value, float)
    assert t.has_optimizer_state and t.optimizer.source.endswith("optimizer_state_dict")
    assert h["learning_rate"].source.endswith("config.training.learning_rate") and h["learning_rate"].value == 3e-3
    assert h["max_iters"].value == 20000 and h["warmup_iters"].value == 0
    assert h["lr_decay_iters"].value == 10000 and h["lr_decay_iters"].source.endswith("config.scheduler.decay_steps")
    assert h["min_lr"].value == 1e-5 and h["weight_decay"].source.endswith("config.optimizer.weight_decay")
    assert h["dataset"].value == "roneneldan/TinyStories" and h["vocab_source"].value.startswith("meta-llama")
    assert c.architecture.get("n_heads") == 4 and c.architecture.n_heads.source.endswith("config.model.n_heads")
    assert c.architecture.get("tied_output") is False and c.file.role == "best"


def test_zero_dim_tensor_and_ppl_only(tmp_path):
    path = tmp_path / "ckpt.pt"
    torch.save({"state_dict": f.Llama2c().state_dict(), "step": 7, "best_val_ppl": torch.tensor(math.e ** 2)}, path)
    t = _inspect(path, health=False).training
    assert t.val_loss.value == pytest.approx(2.0) and t.val_loss.origin == DERIVED and "best_val_ppl" in t.val_loss.source


def test_the_current_val_ppl_beats_the_best_one(tmp_path):
    path = tmp_path / "ppl.pt"
    torch.save({"model_state_dict": f.Llama2c().state_dict(), "step": 3000, "best_val_ppl": 8.0, "val_ppl": 9.5}, path)
    t = _inspect(path, health=False).training
    assert t.val_loss.value == pytest.approx(math.log(9.5)) and t.best_val_loss.value == pytest.approx(math.log(8.0))


def test_bare_state_dict_ddp_prefix_and_legacy_format(tmp_path):
    model = f.Llama2c()
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    torch.save(state, tmp_path / "zip.pt")
    torch.save(state, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    for name, fmt in (("zip.pt", "torch-zip"), ("legacy.pt", "torch-legacy")):
        c = _inspect(tmp_path / name)
        assert (c.format, c.layout, c.weights_key, c.stripped_prefixes) == (fmt, "state-dict", None, ["module."])
        assert c.architecture.get("vocab_size") == 512 and c.health.verdict == "init"
        assert c.architecture.n_heads is None   # not derivable from shapes, not recorded
        loaded = load_state_dict(tmp_path / name)
        assert set(loaded) == set(model.state_dict())
        assert torch.equal(loaded["layers.1.attention.wq.weight"], model.layers[1].attention.wq.weight)


def test_numpy_scalars_are_read_without_unsafe_unpickling(tmp_path):
    path = tmp_path / "ckpt.pt"
    torch.save({"model": f.Llama2c().state_dict(), "iter_num": np.int64(40), "best_val_loss": np.float32(2.5),
                "lr": np.float64(1e-4)}, path)
    t = _inspect(path, health=False).training
    assert t.step.value == 40 and t.val_loss.value == 2.5


@pytest.mark.parametrize("kind", ["single", "sharded", "bin"])
def test_hf_folder(tmp_path, kind):
    model, _, _ = f.trained_llama(tied=False)
    folder = f.hf_folder(tmp_path / "hf", model, shards=3 if kind == "sharded" else 1, use_bin=kind == "bin")
    c = _inspect(folder)
    a = c.architecture
    assert c.format == "hf-folder" and c.layout == "hf" and a.family == "hf-llama"
    assert (a.get("vocab_size"), a.get("dim"), a.get("n_layers"), a.get("hidden_dim")) == (512, 64, 2, 192)
    assert a.get("n_heads") == 4 and a.n_heads.source == "config.json: num_attention_heads"
    assert a.get("n_kv_heads") == 2 and a.get("max_seq_len") == 256 and a.get("tied_output") is False
    assert a.n_params == sum(p.numel() for p in model.parameters())
    assert c.health.verdict == "trained"
    loaded = load_state_dict(folder)
    assert torch.equal(loaded["model.layers.0.mlp.gate_proj.weight"], model.layers[0].feed_forward.w1.weight)
    assert torch.equal(loaded["lm_head.weight"], model.output.weight)


def test_hf_trainer_checkpoint_folder(tmp_path):
    model, _, _ = f.trained_llama(tied=True)
    folder = f.hf_trainer_checkpoint(tmp_path / "checkpoint-500", model, step=500, max_steps=4000)
    c = _inspect(folder)
    t, h = c.training, c.hyperparameters
    assert c.format == "hf-trainer-checkpoint" and c.trainer == "hf-trainer"
    assert t.step.value == 500 and t.step.source == "trainer_state.json: global_step" and t.epoch.value == 0.5
    assert t.val_loss.value == 2.6 and "log_history" in t.val_loss.source and t.train_loss.value == pytest.approx(3.0)
    assert t.has_optimizer_state and t.optimizer.source == "optimizer.pt"
    assert t.scheduler.last_epoch.value == 500
    assert h["learning_rate"].value == 5e-4 and h["learning_rate"].source == "scheduler.pt: base_lrs[0]"
    assert h["max_iters"].value == 4000 and h["warmup_iters"].value == 100 and h["warmup_iters"].origin == DERIVED
    assert h["batch_size"].value == 32
    assert any("training_args.bin not read" in n for n in c.notes)


@pytest.mark.parametrize("version", [0, 1, 2])
@pytest.mark.parametrize("tied", [True, False])
def test_llama2c_exports(tmp_path, version, tied):
    model, _, _ = f.trained_llama(tied=tied)
    path = f.llama2c_export(tmp_path / "model.bin", model, version)
    c = _inspect(path)
    a = c.architecture
    assert c.format == "llama2c-bin" and c.layout == f"llama2c-export-v{version}"
    assert (a.get("vocab_size"), a.get("dim"), a.get("n_layers"), a.get("n_heads"), a.get("n_kv_heads"),
            a.get("hidden_dim"), a.get("max_seq_len")) == (512, 64, 2, 4, 2, 192, 64)
    assert a.get("tied_output") is tied and a.n_heads.source == f"model.bin: v{version} header"
    assert a.n_params == sum(p.numel() for p in model.parameters())
    assert c.health.verdict == "trained"
    loaded = load_state_dict(path)
    assert "freqs_cos" not in loaded and set(loaded) >= set(model.state_dict()) - {"output.weight"}
    tolerance = 0.02 * 0.05 if version == 2 else 0   # Q8_0 rounding
    for name in ("tok_embeddings.weight", "layers.1.feed_forward.w2.weight", "layers.0.attention_norm.weight"):
        assert torch.allclose(loaded[name], model.state_dict()[name], atol=tolerance, rtol=0), name
    if not tied:
        assert torch.allclose(loaded["output.weight"], model.output.weight, atol=tolerance, rtol=0)


def test_a_bin_export_beside_its_checkpoint_is_the_same_model(tmp_path):
    """The export carries RoPE tables the training checkpoint has not: still one model, not 'another model'."""
    from tsdiag.checkpoint import inspect_directory

    model, optimizer, _ = f.trained_llama(tied=True)
    f.llama2c_checkpoint(tmp_path / "ckpt.pt", model, optimizer=optimizer, iter_num=300)
    f.llama2c_export(tmp_path / "model.bin", model, 0)
    listing = inspect_directory(tmp_path)
    assert len(listing.entries) == 2 and not any(e.other_model for e in listing.entries)


def test_truncated_llama2c_export_is_refused(tmp_path):
    from tsdiag.errors import InputError

    path = f.llama2c_export(tmp_path / "model.bin", f.Llama2c(), 1)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(InputError, match="truncated llama2.c v1 export"):
        inspect_checkpoint(path)


def test_config_file_fills_missing_settings(tmp_path):
    path = tmp_path / "ckpt.pt"
    torch.save({"model": f.Llama2c().state_dict(), "step": 300}, path)
    (tmp_path / "train.yaml").write_text("optimizer:\n  lr: 0.002\ntraining:\n  max_steps: 1000\n  warmup_steps: 0\n")
    h = _inspect(path, config=tmp_path / "train.yaml", health=False).hyperparameters
    assert h["learning_rate"].value == 0.002 and h["learning_rate"].source == "train.yaml: optimizer.lr"
    assert h["learning_rate"].origin == "config" and h["max_iters"].value == 1000
    (tmp_path / "train.json").write_text(json.dumps({"max_iters": 900}))
    assert _inspect(path, config=tmp_path / "train.json", health=False).hyperparameters["max_iters"].value == 900


def test_recorded_values_win_over_the_config_file(tmp_path):
    path = f.nanogpt_checkpoint(tmp_path / "ckpt.pt")
    (tmp_path / "c.yaml").write_text("learning_rate: 0.01\n")
    c = _inspect(path, config=tmp_path / "c.yaml", health=False)
    assert c.hyperparameters["learning_rate"].value == 6e-4
    assert any("c.yaml: learning_rate" in n for n in c.notes)


def test_a_tied_output_saved_as_a_separate_copy_is_counted_once(tmp_path):
    model = f.Llama2c(tied=True)
    shared = f.llama2c_checkpoint(tmp_path / "shared.pt", model)
    ckpt = torch.load(shared, weights_only=True)
    ckpt["model"] = {k: v.clone() for k, v in ckpt["model"].items()}     # storages no longer shared
    torch.save(ckpt, tmp_path / "cloned.pt")
    a, b = _inspect(shared).architecture, _inspect(tmp_path / "cloned.pt").architecture
    assert b.tied_output.value is True and b.n_params == a.n_params
    assert b.n_params_embedding == a.n_params_embedding


def test_llama2c_vocab_source_is_not_inferred_as_llama2_for_another_vocab_size(tmp_path):
    path = f.llama2c_checkpoint(tmp_path / "ckpt.pt", f.Llama2c(vocab_size=512))
    ckpt = torch.load(path, weights_only=True)
    ckpt["config"].pop("vocab_source", None)
    torch.save(ckpt, path)
    source = _inspect(path).hyperparameters["vocab_source"]
    assert source.value == "custom" and source.origin == INFERRED and "512" in source.source
