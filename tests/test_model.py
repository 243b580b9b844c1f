"""Reference models: shapes, llama2.c/nanoGPT initialisation, and loading every weight layout."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from tsdiag.model import (GPT, GPTConfig, ModelArgs, Transformer, build_model, detect_family, gpt_config_from_weights,
                          hf_llama_to_llama2c, llama2c_to_hf_llama, llama_args_from_weights, load_weights,
                          strip_wrapper_prefixes)

LLAMA = ModelArgs(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=50, max_seq_len=16)
NANO = GPTConfig(block_size=16, vocab_size=50, n_layer=2, n_head=4, n_embd=32, bias=True)


def _tokens(seed=0):
    return torch.randint(0, 50, (2, 12), generator=torch.Generator().manual_seed(seed))


def _fresh(cls, config, seed):
    torch.manual_seed(seed)
    return cls(config).eval()


@pytest.mark.parametrize("cls,config", [(Transformer, LLAMA), (GPT, NANO)])
def test_forward_backward_shapes(cls, config):
    model = _fresh(cls, config, 0).train()
    logits = model(_tokens())
    assert logits.shape == (2, 12, 50)
    F.cross_entropy(logits.reshape(-1, 50), _tokens(1).reshape(-1)).backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in model.parameters())


def test_llama2c_init_scales_wo_and_w3():
    torch.manual_seed(0)
    args = ModelArgs(dim=256, n_layers=4, n_heads=4, vocab_size=512, max_seq_len=8)
    model = Transformer(args)
    scaled = 0.02 / math.sqrt(2 * args.n_layers)
    stds = {name: p.std().item() for name, p in model.named_parameters()}
    assert stds["layers.0.attention.wo.weight"] == pytest.approx(scaled, rel=0.05)
    assert stds["layers.3.feed_forward.w3.weight"] == pytest.approx(scaled, rel=0.05)
    assert stds["layers.0.feed_forward.w2.weight"] == pytest.approx(0.02, rel=0.05)
    assert stds["layers.1.attention.wq.weight"] == pytest.approx(0.02, rel=0.05)
    assert stds["tok_embeddings.weight"] == pytest.approx(0.02, rel=0.05)
    assert model.output.weight is model.tok_embeddings.weight
    assert model.layers[0].attention_norm.weight.eq(1).all()
    assert args.hidden_dim == 32 * math.ceil(int(2 * 4 * 256 / 3) / 32)  # llama2.c's rule


def test_nanogpt_init_scales_c_proj():
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=8, vocab_size=512, n_layer=4, n_head=4, n_embd=256))
    params = dict(model.named_parameters())
    assert params["transformer.h.0.attn.c_proj.weight"].std().item() == pytest.approx(0.02 / math.sqrt(8), rel=0.05)
    assert params["transformer.h.0.mlp.c_fc.weight"].std().item() == pytest.approx(0.02, rel=0.05)
    assert not params["transformer.h.0.mlp.c_fc.bias"].any()
    assert model.lm_head.weight is model.transformer.wte.weight


def test_llama2c_state_dict_with_orig_mod_prefix_loads_to_identical_logits():
    original = _fresh(Transformer, LLAMA, 1)
    saved = {f"_orig_mod.{k}": v.clone() for k, v in original.state_dict().items()}  # as torch.compile saves it
    loaded = load_weights(_fresh(Transformer, LLAMA, 2), saved)
    assert torch.equal(loaded(_tokens()), original(_tokens()))
    assert detect_family(saved) == "llama2c"


def test_nanogpt_state_dict_with_prefixes_and_mask_buffers_loads_to_identical_logits():
    original = _fresh(GPT, NANO, 1)
    saved = {f"module._orig_mod.{k}": v.clone() for k, v in original.state_dict().items()}
    for i in range(NANO.n_layer):  # older nanoGPT files carry the causal mask as a buffer
        saved[f"module._orig_mod.transformer.h.{i}.attn.bias"] = torch.tril(torch.ones(1, 1, 16, 16))
    loaded = load_weights(_fresh(GPT, NANO, 2), saved)
    assert torch.equal(loaded(_tokens()), original(_tokens()))
    assert detect_family(saved) == "nanogpt"
    assert gpt_config_from_weights(strip_wrapper_prefixes(saved), n_head=4) == NANO


def test_architecture_from_weights_and_build_model():
    original = _fresh(Transformer, LLAMA, 3)
    args = llama_args_from_weights(original.state_dict(), n_heads=4, max_seq_len=16)
    assert (args.dim, args.n_layers, args.n_kv_heads, args.vocab_size, args.tie_embeddings) == (32, 2, 2, 50, True)
    rebuilt = load_weights(build_model("llama2c", vars(args)).eval(), original.state_dict())
    assert torch.equal(rebuilt(_tokens()), original(_tokens()))


def test_wrong_weights_are_refused():
    state = _fresh(Transformer, LLAMA, 1).state_dict()
    with pytest.raises(KeyError):
        load_weights(_fresh(Transformer, LLAMA, 2), {k: v for k, v in state.items() if "wq" not in k})
    with pytest.raises(ValueError):
        load_weights(_fresh(Transformer, ModelArgs(**{**vars(LLAMA), "vocab_size": 60}), 2), state)
    untied = dict(state)
    untied["output.weight"] = torch.randn_like(state["output.weight"])
    with pytest.raises(ValueError):
        load_weights(_fresh(Transformer, LLAMA, 2), untied)


def _rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def _hf_llama_logits(sd, args: ModelArgs, tokens):
    """Hugging Face's Llama forward, written out: rotate-half RoPE on its permuted q/k weights."""
    head_dim = args.dim // args.n_heads
    inv_freq = 1.0 / (10000.0 ** (torch.arange(0, head_dim, 2).float() / head_dim))
    angles = torch.outer(torch.arange(tokens.shape[1]).float(), inv_freq)
    cos, sin = torch.cat([angles, angles], -1).cos(), torch.cat([angles, angles], -1).sin()

    def norm(x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + args.norm_eps) * w

    B, T = tokens.shape
    h = sd["model.embed_tokens.weight"][tokens]
    for i in range(args.n_layers):
        p = f"model.layers.{i}."
        x = norm(h, sd[p + "input_layernorm.weight"])
        q = (x @ sd[p + "self_attn.q_proj.weight"].T).view(B, T, args.n_heads, head_dim).transpose(1, 2)
        k = (x @ sd[p + "self_attn.k_proj.weight"].T).view(B, T, args.n_kv_heads, head_dim).transpose(1, 2)
        v = (x @ sd[p + "self_attn.v_proj.weight"].T).view(B, T, args.n_kv_heads, head_dim).transpose(1, 2)
        q, k = q * cos + _rotate_half(q) * sin, k * cos + _rotate_half(k) * sin
        rep = args.n_heads // args.n_kv_heads
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, -1)
        h = h + att @ sd[p + "self_attn.o_proj.weight"].T
        x = norm(h, sd[p + "post_attention_layernorm.weight"])
        gate, up = x @ sd[p + "mlp.gate_proj.weight"].T, x @ sd[p + "mlp.up_proj.weight"].T
        h = h + (F.silu(gate) * up) @ sd[p + "mlp.down_proj.weight"].T
    return norm(h, sd["model.norm.weight"]) @ sd["lm_head.weight"].T


def test_hf_llama_mapping_round_trips_and_matches_hf_rotary():
    original = _fresh(Transformer, LLAMA, 4)
    ours = original.state_dict()
    hf = llama2c_to_hf_llama(ours, LLAMA.n_heads, LLAMA.n_kv_heads)
    assert detect_family(hf) == "hf_llama"
    back = hf_llama_to_llama2c(hf, LLAMA.n_heads, LLAMA.n_kv_heads)
    assert back.keys() == ours.keys() and all(torch.equal(back[k], ours[k]) for k in ours)
    with torch.no_grad():
        expected = original(_tokens())
        assert torch.allclose(_hf_llama_logits(hf, LLAMA, _tokens()), expected, atol=1e-5)
        # without undoing the permutation the logits would differ: the mapping is not a no-op
        plain = load_weights(_fresh(Transformer, LLAMA, 5), {
            **back, "layers.0.attention.wq.weight": hf["model.layers.0.self_attn.q_proj.weight"]})
        assert not torch.allclose(plain(_tokens()), expected, atol=1e-3)


def _checkpoint_api():
    checkpoint = pytest.importorskip("tsdiag.checkpoint")
    if not hasattr(checkpoint, "inspect_checkpoint"):
        pytest.skip("checkpoint inspection not built yet")


def test_model_from_llama2c_and_nanogpt_checkpoints(tmp_path):
    _checkpoint_api()
    from tsdiag.model import model_from_checkpoint

    llama = _fresh(Transformer, LLAMA, 6)
    torch.save({"model": {f"_orig_mod.{k}": v for k, v in llama.state_dict().items()},
                "model_args": {**vars(LLAMA)}, "iter_num": 10}, tmp_path / "ckpt.pt")
    assert torch.equal(model_from_checkpoint(tmp_path / "ckpt.pt")(_tokens()), llama(_tokens()))
    gpt = _fresh(GPT, NANO, 7)
    (tmp_path / "nano").mkdir()
    torch.save({"model": gpt.state_dict(), "model_args": {"n_layer": 2, "n_head": 4, "n_embd": 32, "block_size": 16,
                "vocab_size": 50, "bias": True}}, tmp_path / "nano" / "ckpt.pt")
    assert torch.equal(model_from_checkpoint(tmp_path / "nano" / "ckpt.pt")(_tokens()), gpt(_tokens()))


def test_model_from_hf_llama_folder(tmp_path):
    _checkpoint_api()
    import json

    from safetensors.torch import save_file

    from tsdiag.model import model_from_checkpoint

    args = ModelArgs(**{**vars(LLAMA), "tie_embeddings": False})
    original = _fresh(Transformer, args, 8)
    hf = llama2c_to_hf_llama(original.state_dict(), args.n_heads, args.n_kv_heads)
    folder = tmp_path / "hf"
    folder.mkdir()
    save_file({k: v.contiguous() for k, v in hf.items()}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 32, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": args.hidden_dim, "vocab_size": 50,
        "max_position_embeddings": 16, "tie_word_embeddings": False}))
    loaded = model_from_checkpoint(folder)
    assert not loaded.args.tie_embeddings and loaded.args.n_kv_heads == 2
    assert torch.allclose(loaded(_tokens()), original(_tokens()), atol=1e-6)
