"""Reference decoders, written so their state dicts load checkpoints of the families users train.

* :class:`Transformer` is the llama2.c model: RMSNorm, rotary embeddings
  (interleaved pairs, as in Meta's Llama code), SwiGLU feed-forward,
  grouped-query attention via ``n_kv_heads``, output layer tied to the token
  embedding by default.  Parameter names are llama2.c's
  (``tok_embeddings``, ``layers.0.attention.wq`` …).
* :class:`GPT` is nanoGPT's GPT-2: learned positions, LayerNorm, GELU MLP,
  fused ``c_attn`` projection; parameter names are nanoGPT's.

Both initialise like their originals (normal 0.02; residual projections
0.02/sqrt(2·n_layers): ``wo`` and ``w3`` in llama2.c, ``c_proj`` in nanoGPT),
so a fresh model here is what "looks like init" means for a checkpoint.

The loaders at the bottom map llama2.c, nanoGPT and Hugging Face Llama names
into these models.  Hugging Face stores q/k projections permuted for its
"rotate half" rotary layout; :func:`hf_llama_to_llama2c` undoes that.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

INIT_STD = 0.02


# --------------------------------------------------------------------------- llama2.c family

@dataclass
class ModelArgs:
    """llama2.c's ``model_args`` (same names), plus tying and the rotary base."""

    dim: int = 288
    n_layers: int = 6
    n_heads: int = 6
    n_kv_heads: int | None = None
    vocab_size: int = 32000
    hidden_dim: int | None = None
    multiple_of: int = 32
    norm_eps: float = 1e-5
    max_seq_len: int = 256
    dropout: float = 0.0
    tie_embeddings: bool = True
    rope_theta: float = 10000.0

    def __post_init__(self):
        if self.n_kv_heads is None:
            self.n_kv_heads = self.n_heads
        if self.hidden_dim is None:
            # llama2.c: 2/3 of 4·dim, rounded up to a multiple of multiple_of
            hidden = int(2 * (4 * self.dim) / 3)
            self.hidden_dim = self.multiple_of * ((hidden + self.multiple_of - 1) // self.multiple_of)
        if self.dim % self.n_heads or self.n_heads % self.n_kv_heads:
            raise ValueError(
                f"dim {self.dim} must divide by n_heads {self.n_heads}, and n_heads by n_kv_heads {self.n_kv_heads}")

    @classmethod
    def from_dict(cls, values: Mapping) -> "ModelArgs":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        x32 = x.float()
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return normed.type_as(x) * self.weight


def rotary_tables(head_dim: int, max_seq_len: int, theta: float = 10000.0):
    """cos and sin of position·frequency, shape (max_seq_len, head_dim // 2)."""
    freqs = 1.0 / (theta ** (torch.arange(0, head_dim, 2).float() / head_dim))
    angles = torch.outer(torch.arange(max_seq_len).float(), freqs)
    return torch.cos(angles), torch.sin(angles)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate interleaved pairs (x[2i], x[2i+1]) of each head; x is (B, T, heads, head_dim)."""
    pairs = x.float().reshape(*x.shape[:-1], -1, 2)
    real, imag = pairs[..., 0], pairs[..., 1]
    cos = cos[None, :, None, :]
    sin = sin[None, :, None, :]
    rotated = torch.stack([real * cos - imag * sin, real * sin + imag * cos], dim=-1)
    return rotated.flatten(-2).type_as(x)


class Attention(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.n_heads, self.n_kv_heads = args.n_heads, args.n_kv_heads
        self.head_dim = args.dim // args.n_heads
        self.dropout = args.dropout
        self.wq = nn.Linear(args.dim, args.n_heads * self.head_dim, bias=False)
        self.wk = nn.Linear(args.dim, args.n_kv_heads * self.head_dim, bias=False)
        self.wv = nn.Linear(args.dim, args.n_kv_heads * self.head_dim, bias=False)
        self.wo = nn.Linear(args.n_heads * self.head_dim, args.dim, bias=False)

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        q = self.wq(x).view(B, T, self.n_heads, self.head_dim)
        k = self.wk(x).view(B, T, self.n_kv_heads, self.head_dim)
        v = self.wv(x).view(B, T, self.n_kv_heads, self.head_dim)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        if self.n_kv_heads != self.n_heads:  # grouped-query attention: share each k/v head
            repeat = self.n_heads // self.n_kv_heads
            k = k.repeat_interleave(repeat, dim=2)
            v = v.repeat_interleave(repeat, dim=2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B, heads, T, head_dim)
        y = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True)
        y = y.transpose(1, 2).reshape(B, T, -1)
        return F.dropout(self.wo(y), self.dropout, self.training)


class FeedForward(nn.Module):
    """SwiGLU: w2(silu(w1 x) · w3 x)."""

    def __init__(self, args: ModelArgs):
        super().__init__()
        self.dropout = args.dropout
        self.w1 = nn.Linear(args.dim, args.hidden_dim, bias=False)
        self.w2 = nn.Linear(args.hidden_dim, args.dim, bias=False)
        self.w3 = nn.Linear(args.dim, args.hidden_dim, bias=False)

    def forward(self, x):
        return F.dropout(self.w2(F.silu(self.w1(x)) * self.w3(x)), self.dropout, self.training)


class TransformerBlock(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.attention_norm = RMSNorm(args.dim, args.norm_eps)
        self.attention = Attention(args)
        self.ffn_norm = RMSNorm(args.dim, args.norm_eps)
        self.feed_forward = FeedForward(args)

    def forward(self, x, cos, sin):
        h = x + self.attention(self.attention_norm(x), cos, sin)
        return h + self.feed_forward(self.ffn_norm(h))


class Transformer(nn.Module):
    """llama2.c's model; ``forward(tokens)`` returns logits for every position."""

    family = "llama2c"

    def __init__(self, args: ModelArgs):
        super().__init__()
        self.args = args
        self.tok_embeddings = nn.Embedding(args.vocab_size, args.dim)
        self.layers = nn.ModuleList(TransformerBlock(args) for _ in range(args.n_layers))
        self.norm = RMSNorm(args.dim, args.norm_eps)
        self.output = nn.Linear(args.dim, args.vocab_size, bias=False)
        if args.tie_embeddings:
            self.output.weight = self.tok_embeddings.weight
        cos, sin = rotary_tables(args.dim // args.n_heads, args.max_seq_len, args.rope_theta)
        self.register_buffer("freqs_cos", cos, persistent=False)
        self.register_buffer("freqs_sin", sin, persistent=False)
        self.apply(_init_normal)
        for name, p in self.named_parameters():
            if name.endswith(("wo.weight", "w3.weight")):  # llama2.c scales these two
                nn.init.normal_(p, mean=0.0, std=INIT_STD / math.sqrt(2 * args.n_layers))

    @property
    def blocks(self) -> nn.ModuleList:
        return self.layers

    def trunk(self, tokens, residual_dtype: torch.dtype | None = None):
        """Hidden states after the last block (before the final norm).

        ``residual_dtype`` carries the residual stream in that dtype (bf16 under
        autocast halves its memory traffic); ``None`` keeps the embedding's dtype.
        """
        T = tokens.shape[1]
        cos, sin = self.freqs_cos[:T], self.freqs_sin[:T]
        h = F.dropout(_as_dtype(self.tok_embeddings(tokens), residual_dtype), self.args.dropout, self.training)
        for layer in self.layers:
            h = layer(h, cos, sin)
        return h

    def head(self, h):
        return self.output(self.norm(h))

    def forward(self, tokens):
        return self.head(self.trunk(tokens))

    def config_dict(self) -> dict:
        return asdict(self.args)

    def flops_per_token(self, seq_len: int) -> float:
        """Training FLOPs per token, PaLM appendix B: 6·N_matmul + 12·layers·dim·seq_len."""
        n = sum(p.numel() for p in self.parameters())
        if not self.args.tie_embeddings:  # the input table is a lookup, not a matmul
            n -= self.tok_embeddings.weight.numel()
        return 6 * n + 12 * self.args.n_layers * self.args.dim * seq_len


# --------------------------------------------------------------------------- nanoGPT family

@dataclass
class GPTConfig:
    """nanoGPT's ``model_args`` (same names)."""

    block_size: int = 1024
    vocab_size: int = 50304
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True

    @classmethod
    def from_dict(cls, values: Mapping) -> "GPTConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head, self.dropout = config.n_head, config.dropout
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True)
        y = y.transpose(1, 2).reshape(B, T, C)
        return F.dropout(self.c_proj(y), self.dropout, self.training)


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.dropout = config.dropout
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)

    def forward(self, x):
        return F.dropout(self.c_proj(F.gelu(self.c_fc(x))), self.dropout, self.training)


class Block(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """nanoGPT's GPT-2; ``forward(tokens)`` returns logits for every position."""

    family = "nanogpt"

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            h=nn.ModuleList(Block(config) for _ in range(config.n_layer)),
            ln_f=nn.LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight
        self.apply(_init_normal)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=INIT_STD / math.sqrt(2 * config.n_layer))

    @property
    def blocks(self) -> nn.ModuleList:
        return self.transformer.h

    def trunk(self, tokens, residual_dtype: torch.dtype | None = None):
        """Hidden states after the last block (before the final norm); ``residual_dtype`` as in llama2.c's."""
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        h = F.dropout(_as_dtype(self.transformer.wte(tokens) + self.transformer.wpe(positions), residual_dtype),
                      self.config.dropout, self.training)
        for block in self.transformer.h:
            h = block(h)
        return h

    def head(self, h):
        return self.lm_head(self.transformer.ln_f(h))

    def forward(self, tokens):
        return self.head(self.trunk(tokens))

    def config_dict(self) -> dict:
        return asdict(self.config)

    def flops_per_token(self, seq_len: int) -> float:
        n = sum(p.numel() for p in self.parameters()) - self.transformer.wpe.weight.numel()
        return 6 * n + 12 * self.config.n_layer * self.config.n_embd * seq_len


def _as_dtype(x: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    return x if dtype is None else x.to(dtype)


def _init_normal(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, mean=0.0, std=INIT_STD)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, mean=0.0, std=INIT_STD)


def build_model(family: str, config: Mapping) -> nn.Module:
    """A fresh model of ``family`` ("llama2c" or "nanogpt") from its own config names."""
    if family == "llama2c":
        return Transformer(ModelArgs.from_dict(config))
    if family == "nanogpt":
        return GPT(GPTConfig.from_dict(config))
    raise ValueError(f"unknown model family {family!r} (llama2c or nanogpt)")


# --------------------------------------------------------------------------- weight names

_WRAPPER_PREFIXES = ("_orig_mod.", "module.")


def strip_wrapper_prefixes(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop ``_orig_mod.`` (torch.compile) and ``module.`` (DDP) wherever they lead a name."""
    clean = {}
    for name, tensor in state_dict.items():
        while name.startswith(_WRAPPER_PREFIXES):
            name = name.split(".", 1)[1]
        clean[name] = tensor
    return clean


def detect_family(names) -> str | None:
    """"llama2c", "nanogpt" or "hf_llama" from weight names; ``None`` when none fits."""
    names = set(strip_wrapper_prefixes(dict.fromkeys(names)))
    if "tok_embeddings.weight" in names:
        return "llama2c"
    if "transformer.wte.weight" in names:
        return "nanogpt"
    if "model.embed_tokens.weight" in names:
        return "hf_llama"
    return None


_HF_LAYER_NAMES = {
    "self_attn.q_proj.weight": "attention.wq.weight",
    "self_attn.k_proj.weight": "attention.wk.weight",
    "self_attn.v_proj.weight": "attention.wv.weight",
    "self_attn.o_proj.weight": "attention.wo.weight",
    "mlp.gate_proj.weight": "feed_forward.w1.weight",
    "mlp.down_proj.weight": "feed_forward.w2.weight",
    "mlp.up_proj.weight": "feed_forward.w3.weight",
    "input_layernorm.weight": "attention_norm.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
}
_HF_TOP_NAMES = {
    "model.embed_tokens.weight": "tok_embeddings.weight",
    "model.norm.weight": "norm.weight",
    "lm_head.weight": "output.weight",
}


def _hf_to_interleaved(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Undo HF's q/k permutation: per head, rows [first halves; second halves] → interleaved pairs."""
    rows, cols = w.shape
    return w.view(n_heads, 2, rows // n_heads // 2, cols).transpose(1, 2).reshape(rows, cols)


def _interleaved_to_hf(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    rows, cols = w.shape
    return w.view(n_heads, rows // n_heads // 2, 2, cols).transpose(1, 2).reshape(rows, cols)


def hf_llama_to_llama2c(state_dict: Mapping[str, torch.Tensor], n_heads: int, n_kv_heads: int | None = None) -> dict:
    """Hugging Face ``LlamaForCausalLM`` names (and rotary layout) → llama2.c names."""
    n_kv_heads = n_kv_heads or n_heads
    out = {}
    for name, tensor in strip_wrapper_prefixes(state_dict).items():
        if name in _HF_TOP_NAMES:
            out[_HF_TOP_NAMES[name]] = tensor
            continue
        parts = name.split(".", 3)  # model, layers, i, rest
        if len(parts) == 4 and parts[:2] == ["model", "layers"] and parts[3] in _HF_LAYER_NAMES:
            rest = parts[3]
            if rest == "self_attn.q_proj.weight":
                tensor = _hf_to_interleaved(tensor, n_heads)
            elif rest == "self_attn.k_proj.weight":
                tensor = _hf_to_interleaved(tensor, n_kv_heads)
            out[f"layers.{parts[2]}.{_HF_LAYER_NAMES[rest]}"] = tensor
        elif not name.endswith("rotary_emb.inv_freq"):  # a buffer HF once saved; recomputed here
            raise KeyError(f"unexpected Hugging Face Llama weight {name!r}")
    return out


def llama2c_to_hf_llama(state_dict: Mapping[str, torch.Tensor], n_heads: int, n_kv_heads: int | None = None) -> dict:
    """llama2.c names → Hugging Face names (the inverse of :func:`hf_llama_to_llama2c`)."""
    n_kv_heads = n_kv_heads or n_heads
    top = {v: k for k, v in _HF_TOP_NAMES.items()}
    layer = {v: k for k, v in _HF_LAYER_NAMES.items()}
    out = {}
    for name, tensor in state_dict.items():
        if name in top:
            out[top[name]] = tensor
            continue
        _, i, rest = name.split(".", 2)
        if rest == "attention.wq.weight":
            tensor = _interleaved_to_hf(tensor, n_heads)
        elif rest == "attention.wk.weight":
            tensor = _interleaved_to_hf(tensor, n_kv_heads)
        out[f"model.layers.{i}.{layer[rest]}"] = tensor
    return out


def llama_args_from_weights(state_dict: Mapping[str, torch.Tensor], n_heads: int, **known) -> ModelArgs:
    """Architecture of llama2.c-named weights; ``n_heads`` is not in the shapes, so it is required."""
    emb = state_dict["tok_embeddings.weight"]
    wq, wk = state_dict["layers.0.attention.wq.weight"], state_dict["layers.0.attention.wk.weight"]
    output = state_dict.get("output.weight")
    n_layers = 1 + max(int(k.split(".")[1]) for k in state_dict if k.startswith("layers."))
    tied = output is None or output is emb or (output.shape == emb.shape and torch.equal(output, emb))
    values = dict(
        dim=emb.shape[1], vocab_size=emb.shape[0], n_layers=n_layers, n_heads=n_heads,
        n_kv_heads=n_heads * wk.shape[0] // wq.shape[0],
        hidden_dim=state_dict["layers.0.feed_forward.w1.weight"].shape[0], tie_embeddings=tied,
    )
    values.update({k: v for k, v in known.items() if v is not None})
    return ModelArgs.from_dict(values)


def gpt_config_from_weights(state_dict: Mapping[str, torch.Tensor], n_head: int, **known) -> GPTConfig:
    """Architecture of nanoGPT-named weights; ``n_head`` is not in the shapes, so it is required."""
    wte, wpe = state_dict["transformer.wte.weight"], state_dict["transformer.wpe.weight"]
    n_layer = 1 + max(int(k.split(".")[2]) for k in state_dict if k.startswith("transformer.h."))
    values = dict(vocab_size=wte.shape[0], n_embd=wte.shape[1], block_size=wpe.shape[0], n_layer=n_layer,
                  n_head=n_head, bias="transformer.ln_f.bias" in state_dict)
    values.update({k: v for k, v in known.items() if v is not None})
    return GPTConfig.from_dict(values)


def load_weights(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> nn.Module:
    """Copy a llama2.c- or nanoGPT-named state dict (wrapper prefixes allowed) into ``model``.

    Saved causal-mask buffers (``attn.bias`` in older nanoGPT/GPT-2 files) are
    skipped.  Where the model ties its output layer to the embedding, either
    name may carry the shared matrix, and two different matrices are refused.
    Any other missing or unexpected name or shape is an error, so a wrong
    mapping cannot load silently.
    """
    clean = strip_wrapper_prefixes(state_dict)
    clean = {k: v for k, v in clean.items() if not k.endswith((".attn.bias", ".attn.masked_bias"))}
    own = model.state_dict()
    for a, b in _tied_pairs(own):
        if a in clean and b in clean and not torch.equal(clean[a], clean[b]):
            raise ValueError(f"the model ties {a} to {b}, but the weights hold two different matrices")
        if a in clean or b in clean:
            clean.setdefault(a, clean.get(b))
            clean.setdefault(b, clean[a])
    missing = [k for k in own if k not in clean]
    unexpected = [k for k in clean if k not in own]
    if missing or unexpected:
        raise KeyError(f"weights do not fit the model: missing {missing[:5]}, unexpected {unexpected[:5]}")
    with torch.no_grad():
        for name, tensor in clean.items():
            if own[name].shape != tensor.shape:
                raise ValueError(
                    f"{name}: shape {tuple(tensor.shape)} in the weights, {tuple(own[name].shape)} in the model")
            own[name].copy_(tensor)
    return model


def _tied_pairs(own: Mapping[str, torch.Tensor]) -> list[tuple[str, str]]:
    pairs = (("output.weight", "tok_embeddings.weight"), ("lm_head.weight", "transformer.wte.weight"))
    return [(a, b) for a, b in pairs if a in own and b in own and own[a].data_ptr() == own[b].data_ptr()]


def model_from_checkpoint(path, *, n_heads: int | None = None) -> nn.Module:
    """A ready model (eval mode, float32) with the weights of any llama2.c, nanoGPT or HF Llama checkpoint.

    Architecture comes from ``tsdiag inspect``'s facts (recorded config, else
    tensor shapes); the number of heads is not in the shapes, so a checkpoint
    that does not record it needs ``n_heads``.  A tsdiag run folder loads its
    ckpt.pt.
    """
    from pathlib import Path

    from tsdiag.checkpoint import inspect_checkpoint, load_state_dict
    from tsdiag.errors import InputError

    path = Path(path)
    if path.is_dir() and (path / "run.json").is_file():
        path = path / "ckpt.pt"
    facts = inspect_checkpoint(path, health=False, siblings=False)
    arch = facts.architecture
    heads = n_heads or arch.get("n_heads")
    if heads is None:
        raise InputError(path, "the number of attention heads is recorded nowhere: pass n_heads")
    if arch.family not in ("llama2.c", "hf-llama", "nanogpt"):
        raise InputError(path, f"no reference model for the {arch.family} family (llama2.c, nanoGPT, HF Llama)")
    weights = load_state_dict(path)
    known = {"max_seq_len": arch.get("max_seq_len")}
    try:
        if arch.family == "llama2.c":
            model = Transformer(llama_args_from_weights(weights, heads, **known))
        elif arch.family == "hf-llama":
            q_rows = weights["model.layers.0.self_attn.q_proj.weight"].shape[0]
            k_rows = weights["model.layers.0.self_attn.k_proj.weight"].shape[0]
            weights = hf_llama_to_llama2c(weights, heads, heads * k_rows // q_rows)
            model = Transformer(llama_args_from_weights(weights, heads, **known))
        else:
            model = GPT(gpt_config_from_weights(weights, heads, block_size=arch.get("max_seq_len")))
        return load_weights(model, weights).eval()
    except (KeyError, ValueError) as exc:  # missing tensors, shapes that fit no model, heads that do not divide
        heads_from = "--n-heads" if n_heads else "as recorded"
        detail = exc.args[0] if exc.args else type(exc).__name__
        raise InputError(path, f"cannot build a {arch.family} model from these weights "
                               f"({heads} heads, {heads_from}): {detail}") from None
