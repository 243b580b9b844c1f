"""Architecture from tensor names and shapes.

The weights themselves say most of what a model is: the embedding's shape
gives vocabulary and width, layer indices give depth, the feed-forward matrix
gives the hidden size.  What shapes cannot say (the number of attention heads)
comes from recorded values (``model_args``, ``config.json``, a llama2.c
header) and is labelled as such.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tsdiag.checkpoint.facts import DERIVED, Architecture, Sourced
from tsdiag.checkpoint.tensors import TensorRef


@dataclass(frozen=True)
class Family:
    """Weight naming of one code base; ``{i}`` stands for a layer index."""

    name: str
    embedding: str
    output: str
    position: str | None
    q: str
    k: str | None
    ffn_in: str                 # the first feed-forward matrix (hidden x dim, or dim x hidden when transposed)
    transposed: bool = False    # GPT-2 Conv1D stores (in, out)
    fused_qkv: bool = False     # one (3*dim, dim) matrix holds q, k and v
    residual_scaled: tuple[str, ...] = ()   # weights whose init std is divided by sqrt(2 * n_layers)

    def layer_index(self, name: str) -> int | None:
        prefix = self.q.split("{i}")[0]
        if name.startswith(prefix):
            rest = name[len(prefix):]
            head = rest.split(".", 1)[0]
            if head.isdigit():
                return int(head)
        return None


FAMILIES = (
    Family("llama2.c", "tok_embeddings.weight", "output.weight", None,
           "layers.{i}.attention.wq.weight", "layers.{i}.attention.wk.weight",
           "layers.{i}.feed_forward.w1.weight", residual_scaled=("w3.weight", "wo.weight")),
    Family("hf-llama", "model.embed_tokens.weight", "lm_head.weight", None,
           "model.layers.{i}.self_attn.q_proj.weight", "model.layers.{i}.self_attn.k_proj.weight",
           "model.layers.{i}.mlp.gate_proj.weight"),
    Family("hf-gpt-neo", "transformer.wte.weight", "lm_head.weight", "transformer.wpe.weight",
           "transformer.h.{i}.attn.attention.q_proj.weight", "transformer.h.{i}.attn.attention.k_proj.weight",
           "transformer.h.{i}.mlp.c_fc.weight"),
    Family("nanogpt", "transformer.wte.weight", "lm_head.weight", "transformer.wpe.weight",
           "transformer.h.{i}.attn.c_attn.weight", None, "transformer.h.{i}.mlp.c_fc.weight",
           fused_qkv=True, residual_scaled=("c_proj.weight",)),
    Family("hf-gpt2", "transformer.wte.weight", "lm_head.weight", "transformer.wpe.weight",
           "transformer.h.{i}.attn.c_attn.weight", None, "transformer.h.{i}.mlp.c_fc.weight",
           transposed=True, fused_qkv=True, residual_scaled=("c_proj.weight",)),
)

# Non-parameter tensors some code bases save: causal masks and rotary tables.
_BUFFER_RE = re.compile(r"(^|\.)(freqs_cis|freqs_cos|freqs_sin|inv_freq|masked_bias|mask)$")
_LAYER_RE = re.compile(r"(?:^|\.)(?:layers|h|blocks|block|layer)\.(\d+)\.")


def is_buffer(name: str, ref: TensorRef) -> bool:
    if _BUFFER_RE.search(name):
        return True
    # nanoGPT's causal mask (1, 1, T, T) is called attn.bias, like a real bias
    return name.endswith("attn.bias") and len(ref.shape) == 4


def detect_family(weights: dict[str, TensorRef]) -> Family | None:
    """The code base whose naming these weights follow, or None."""
    for family in FAMILIES:
        q0 = family.q.format(i=0)
        if family.embedding not in weights or q0 not in weights:
            continue
        if family.fused_qkv:
            shape = weights[q0].shape
            if len(shape) != 2:
                continue
            fused_rows = shape[0] == 3 * shape[1]
            if family.transposed == fused_rows:
                continue
        return family
    return None


def layer_of(name: str, family: Family | None) -> str:
    """A label for the table: "embedding", a layer index, "final" or "output"."""
    if family is not None:
        if name in (family.embedding, family.position):
            return "embedding"
        if name == family.output:
            return "output"
        index = family.layer_index(name)
        if index is not None:
            return str(index)
        return "final"
    match = _LAYER_RE.search(name)
    if match:
        return match.group(1)
    if "emb" in name or "wte" in name or "wpe" in name:
        return "embedding"
    if any(h in name for h in ("lm_head", "output", "classifier")):
        return "output"
    return "final"


def _generic_embedding(weights: dict[str, TensorRef]) -> str | None:
    candidates = [n for n, r in weights.items() if len(r.shape) == 2 and re.search(r"emb|wte|tok", n)]
    return max(candidates, key=lambda n: weights[n].shape[0], default=None)


def _generic_output(weights: dict[str, TensorRef], vocab: int, embedding: str) -> str | None:
    for name, ref in weights.items():
        if name != embedding and len(ref.shape) == 2 and ref.shape[0] == vocab and re.search(r"lm_head|output|head", name):
            return name
    return None


def _same_values(a: TensorRef, b: TensorRef) -> bool:
    """Whether two equal-shaped matrices hold the same numbers (a few rows compared)."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    n = a.shape[0]
    rows = sorted({0, n // 3, (2 * n) // 3, n - 1})
    return bool((a.rows(rows) == b.rows(rows)).all())


def describe(weights: dict[str, TensorRef], recorded: dict[str, Sourced], label: str,
             prefix: str = "") -> Architecture:
    """Architecture facts; ``recorded`` holds values from headers/configs.

    ``label`` names the weights' file and ``prefix`` the key of the state dict
    inside it, so sources read "ckpt.pt: model.tok_embeddings.weight shape[0]".
    """
    family = detect_family(weights)
    at = f"{label}: {prefix}"   # followed by a weight name
    params = {n: r for n, r in weights.items() if not is_buffer(n, r)}
    arch = Architecture(family=family.name if family else "unknown")
    arch.buffers = sorted(n for n in weights if n not in params)

    embedding = family.embedding if family else _generic_embedding(params)
    arch.embedding_name = embedding
    emb = params.get(embedding) if embedding else None
    if emb is not None and len(emb.shape) == 2:
        arch.vocab_size = Sourced(emb.shape[0], f"{at}{embedding} shape[0]", DERIVED)
        arch.dim = Sourced(emb.shape[1], f"{at}{embedding} shape[1]", DERIVED)
    else:
        arch.vocab_size = recorded.get("vocab_size")
        arch.dim = recorded.get("dim")

    if family is not None:
        layers = {family.layer_index(n) for n in params} - {None}
    else:
        layers = {int(m.group(1)) for n in params if (m := _LAYER_RE.search(n))}
    if layers:
        arch.n_layers = Sourced(len(layers), f"{label}: {len(layers)} distinct layer indices", DERIVED)
    else:
        arch.n_layers = recorded.get("n_layers")

    arch.n_heads = recorded.get("n_heads")
    arch.n_kv_heads = recorded.get("n_kv_heads")
    if family is not None and arch.n_kv_heads is None and arch.n_heads is not None:
        q = params.get(family.q.format(i=0))
        k = params.get(family.k.format(i=0)) if family.k else None
        if family.fused_qkv:
            arch.n_kv_heads = Sourced(arch.n_heads.value, "same as n_heads (fused q/k/v matrix)", DERIVED)
        elif q is not None and k is not None and q.shape[0]:
            kv = arch.n_heads.value * k.shape[0] // q.shape[0]
            arch.n_kv_heads = Sourced(kv, f"n_heads x rows of {at}{family.k.format(i=0)} / rows of "
                                          f"{family.q.format(i=0)}", DERIVED)

    ffn = params.get(family.ffn_in.format(i=0)) if family else None
    if ffn is not None and len(ffn.shape) == 2:
        hidden = ffn.shape[0] if not family.transposed else ffn.shape[1]
        axis = 0 if not family.transposed else 1
        arch.hidden_dim = Sourced(hidden, f"{at}{family.ffn_in.format(i=0)} shape[{axis}]", DERIVED)
    else:
        arch.hidden_dim = recorded.get("hidden_dim")

    position = family.position if family else None
    if position and position in params:
        arch.max_seq_len = Sourced(params[position].shape[0], f"{at}{position} shape[0]", DERIVED)
    elif "max_seq_len" in recorded:
        arch.max_seq_len = recorded["max_seq_len"]
    else:
        masks = [n for n in arch.buffers if len(weights[n].shape) == 4]
        if masks:
            arch.max_seq_len = Sourced(weights[masks[0]].shape[-1], f"{at}{masks[0]} (causal mask) shape[-1]",
                                       DERIVED)

    output = family.output if family else (
        _generic_output(params, emb.shape[0], embedding) if emb is not None and len(emb.shape) == 2 else None)
    tied_rec = recorded.get("tied_output")
    tied_copy = None  # an output matrix saved as a separate copy of the embedding: one set of parameters
    if output and output in params and emb is not None:
        if params[output].identity == emb.identity:
            arch.tied_output = Sourced(True, f"{at}{output} and {embedding} share one storage", DERIVED)
        elif _same_values(params[output], emb):
            arch.tied_output = Sourced(True, f"{at}{output} equals {embedding} (rows compared)", DERIVED)
            tied_copy = output
        else:
            arch.tied_output = Sourced(False, f"{at}{output} is a separate matrix", DERIVED)
            arch.output_name = output
    elif tied_rec is not None:
        arch.tied_output = tied_rec
    elif emb is not None:
        arch.tied_output = Sourced(True, f"{label}: no separate output weight", DERIVED)

    seen: set = set()
    total = embedding_params = 0
    dtypes: dict[str, int] = {}
    for name, ref in params.items():
        if ref.identity in seen or name == tied_copy:
            continue
        seen.add(ref.identity)
        total += ref.numel
        dtypes[ref.dtype] = dtypes.get(ref.dtype, 0) + ref.numel
        if name in (embedding, position) or name == arch.output_name:
            embedding_params += ref.numel
    arch.n_params = total
    arch.n_params_embedding = embedding_params
    arch.dtypes = dict(sorted(dtypes.items(), key=lambda kv: -kv[1]))
    return arch
