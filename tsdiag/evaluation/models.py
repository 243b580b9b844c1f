"""The model under evaluation: tsdiag's reference decoders, or a Hugging Face model through ``transformers``.

llama2.c, nanoGPT and Hugging Face Llama weights load into :mod:`tsdiag.model` (no extra needed).
Hugging Face GPT-2 and GPT-Neo folders need ``transformers`` (``pip install 'tsdiag[hf]'``): the model is
built from the folder's ``config.json`` and filled with the weights tsdiag's own safe readers return, so
no file is unpickled and no repository code runs (``trust_remote_code`` is never set).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from tsdiag.errors import InputError

REFERENCE_FAMILIES = ("llama2.c", "hf-llama", "nanogpt")
TRANSFORMERS_FAMILIES = ("hf-gpt2", "hf-gpt-neo")
HF_EXTRA = "pip install 'tsdiag[hf]'"


@dataclass
class LoadedModel:
    model: nn.Module
    family: str
    inspection: object            # tsdiag.checkpoint.facts.CheckpointFacts
    reference: bool               # built from tsdiag.model (the attention probes can switch its mask)

    @property
    def vocab_size(self) -> int:
        return int(self.model.config_dict()["vocab_size"])

    @property
    def context(self) -> int | None:
        config = self.model.config_dict()
        value = config.get("max_seq_len") or config.get("block_size")
        return int(value) if value else None


class HFCausalLM(nn.Module):
    """A ``transformers`` causal LM seen as tsdiag's decoders are: ``forward(tokens) -> logits``."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, tokens):
        return self.inner(input_ids=tokens, use_cache=False).logits

    def config_dict(self) -> dict:
        config = self.inner.config
        return {"vocab_size": config.vocab_size,
                "max_seq_len": getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None)}


def can_evaluate(family: str) -> bool:
    """Whether :func:`load_model` can run this family here (transformers installed for the HF families)."""
    if family in REFERENCE_FAMILIES:
        return True
    if family in TRANSFORMERS_FAMILIES:
        import importlib.util

        return importlib.util.find_spec("transformers") is not None
    return False


def load_model(path: str | Path, *, n_heads: int | None = None) -> LoadedModel:
    """Any checkpoint tsdiag can run, in eval mode, float32."""
    from tsdiag.checkpoint import inspect_checkpoint
    from tsdiag.model import model_from_checkpoint

    path = Path(path)
    if path.is_dir() and (path / "run.json").is_file():
        path = path / "ckpt.pt"
    inspection = inspect_checkpoint(path, health=False, siblings=False)
    family = inspection.architecture.family
    if family in TRANSFORMERS_FAMILIES:
        return LoadedModel(_transformers_model(path, inspection), family, inspection, reference=False)
    if family not in REFERENCE_FAMILIES:
        raise InputError(path, f"cannot evaluate the {family} family: tsdiag runs llama2.c, nanoGPT and Hugging Face "
                               f"Llama / GPT-2 / GPT-Neo models")
    return LoadedModel(model_from_checkpoint(path, n_heads=n_heads), family, inspection, reference=True)


def _transformers_model(path: Path, inspection) -> nn.Module:
    try:
        import transformers
    except ImportError:
        raise InputError(path, f"a Hugging Face {inspection.architecture.family} model needs transformers: "
                               f"{HF_EXTRA}") from None
    from tsdiag.checkpoint import load_state_dict

    folder = path if path.is_dir() else path.parent
    if not (folder / "config.json").is_file():
        raise InputError(path, "a Hugging Face model needs its config.json beside the weights")
    try:
        config = transformers.AutoConfig.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
        inner = transformers.AutoModelForCausalLM.from_config(config)
    except (ValueError, OSError, KeyError) as exc:
        raise InputError(folder / "config.json", f"transformers cannot build a model from it: {exc}") from None
    weights = load_state_dict(path)
    missing, unexpected = inner.load_state_dict(weights, strict=False)
    tied = {"lm_head.weight"} if getattr(config, "tie_word_embeddings", True) else set()
    missing = [k for k in missing if k not in tied and not k.endswith(("attn.bias", "attn.masked_bias"))]
    unexpected = [k for k in unexpected if not k.endswith(("attn.bias", "attn.masked_bias"))]
    if missing or unexpected:
        raise InputError(path, f"weights do not fit the {config.model_type} model its config.json describes: "
                               f"missing {missing[:3]}, unexpected {unexpected[:3]}")
    if tied:
        inner.tie_weights()
    return HFCausalLM(inner.float().eval())


def set_dropout(model: nn.Module, p: float) -> None:
    """Set every dropout rate of ``model`` (tsdiag's decoders keep it as a float, transformers in nn.Dropout)."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = p
        elif isinstance(getattr(module, "dropout", None), float):
            module.dropout = p
        for holder in ("args", "config"):
            settings = getattr(module, holder, None)
            if isinstance(getattr(settings, "dropout", None), float):
                settings.dropout = p


def head_and_embedding(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The output matrix and the token embedding of a tsdiag decoder (None for other models)."""
    state = model.state_dict()
    for head, embedding in (("output.weight", "tok_embeddings.weight"), ("lm_head.weight", "transformer.wte.weight")):
        if head in state and embedding in state:
            return state[head], state[embedding]
    return None


def norm_weights(model: nn.Module) -> tuple[torch.Tensor | None, list[torch.Tensor]]:
    """The final norm's scale and the blocks' norm scales of a tsdiag decoder."""
    state = model.state_dict()
    final = state.get("norm.weight", state.get("transformer.ln_f.weight"))
    blocks = [v for k, v in state.items()
              if k.endswith(("attention_norm.weight", "ffn_norm.weight", "ln_1.weight", "ln_2.weight"))]
    return final, blocks
