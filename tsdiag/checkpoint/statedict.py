"""Find the model's weights inside a checkpoint dict and give them their real names.

Trainers nest the state dict under many keys (``model``, ``model_state_dict``,
``state_dict``, ``module``...) and wrappers prefix its names: ``_orig_mod.``
(torch.compile), ``module.`` (DDP), ``model.`` (a LightningModule attribute).
The names handed on are the ones the model class itself uses, so that a
loader (``tsdiag.model``) can put them straight back.
"""

from __future__ import annotations

from typing import Any

from tsdiag.checkpoint.anatomy import detect_family
from tsdiag.checkpoint.tensors import TensorRef

# Keys trainers use for the model's state dict, most specific first.
WEIGHT_KEYS = ("model", "model_state_dict", "state_dict", "model_state", "module", "net", "network",
               "model_weights", "weights", "params", "generator")
WRAPPER_PREFIXES = ("_orig_mod.", "module.")
# Hugging Face base models (no LM head) save names without their causal-LM prefix.
BASE_PREFIXES = ("transformer.", "model.")


def is_state_dict(obj: Any) -> bool:
    """A dict of tensors or TensorRefs (at least one matrix): what ``module.state_dict()`` returns."""
    if not isinstance(obj, dict) or not obj:
        return False
    values = list(obj.values())
    refs = [v for v in values if isinstance(v, TensorRef) or _is_torch_tensor(v)]
    return len(refs) == len(values) and any(len(r.shape) >= 2 for r in refs) and all(isinstance(k, str) for k in obj)


def _is_torch_tensor(value: Any) -> bool:
    return type(value).__module__.startswith("torch") and hasattr(value, "shape") and hasattr(value, "dtype")


def find_weights(tree: Any) -> tuple[str | None, dict[str, TensorRef]] | None:
    """(key path, state dict) of the model weights, or None when there are none.

    The root itself (a bare state dict), then the usual keys, then any other
    state dict up to two levels down (largest first; EMA copies last).
    """
    if is_state_dict(tree):
        return None, tree
    if not isinstance(tree, dict):
        return None
    for key in WEIGHT_KEYS:
        if is_state_dict(tree.get(key)):
            return key, tree[key]
    found: list[tuple[str, dict]] = []
    for key, value in tree.items():
        if not isinstance(value, dict):
            continue
        if is_state_dict(value):
            found.append((str(key), value))
            continue
        for inner_key, inner in value.items():
            if is_state_dict(inner):
                found.append((f"{key}.{inner_key}", inner))
    if not found:
        return None
    found.sort(key=lambda kv: ("ema" in kv[0].lower(), -len(kv[1])))
    return found[0]


def _strip(names: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {n[len(prefix):]: v for n, v in names.items()}


def canonical_names(weights: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Weights renamed to the model's own names, and the prefixes that were removed.

    Wrapper prefixes go whenever every name has them (and ``._orig_mod.``
    inside a name, from compiling a submodule).  An attribute prefix such as
    Lightning's ``model.`` goes only when the names are not recognised as
    they are but are once it is removed: Hugging Face's own ``model.`` in
    ``model.embed_tokens.weight`` stays.  A Hugging Face base model's names
    get their causal-LM prefix back (listed as ``+transformer.``).
    """
    stripped: list[str] = []
    if any("._orig_mod." in n for n in weights):
        weights = {n.replace("._orig_mod.", "."): v for n, v in weights.items()}
        stripped.append("._orig_mod.")
    for _ in range(4):
        changed = False
        for prefix in WRAPPER_PREFIXES:
            if weights and all(n.startswith(prefix) for n in weights):
                weights = _strip(weights, prefix)
                stripped.append(prefix)
                changed = True
        if not changed and detect_family(weights) is None:
            heads = {n.split(".", 1)[0] for n in weights}
            if len(heads) == 1 and all("." in n for n in weights):
                candidate = _strip(weights, heads.pop() + ".")
                if detect_family(candidate) is not None or any(
                        all(n.startswith(p) for n in candidate) for p in WRAPPER_PREFIXES):
                    stripped.append(next(iter(weights)).split(".", 1)[0] + ".")
                    weights = candidate
                    changed = True
        if not changed:
            break
    if weights and detect_family(weights) is None:
        # a base model saved on its own (GPT2Model: "h.0.attn...", LlamaModel: "layers.0.self_attn...")
        for base in BASE_PREFIXES:
            candidate = {base + n: v for n, v in weights.items()}
            if detect_family(candidate) is not None:
                return candidate, stripped + [f"+{base}"]
    return weights, stripped
