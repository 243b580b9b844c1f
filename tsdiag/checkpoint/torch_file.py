"""``torch.save`` files: trainer dicts of every kind, Lightning checkpoints, bare state dicts.

One reader covers ``.pt``/``.pth``/``.ckpt`` and ``.bin`` files that are torch
zips (or legacy pickles): the difference between llama2.c, nanoGPT,
Lightning and a custom trainer lies only in the keys of the saved dict, which
:mod:`~tsdiag.checkpoint.statedict` and :mod:`~tsdiag.checkpoint.meaning`
interpret.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from tsdiag.checkpoint import safe_torch
from tsdiag.checkpoint.defaults import detect_trainer
from tsdiag.checkpoint.interface import Document, LayoutReader, RawCheckpoint
from tsdiag.checkpoint.statedict import canonical_names, find_weights
from tsdiag.errors import InputError

PICKLE_PROTO = b"\x80"


def layout_of(tree: Any, weights_key: str | None) -> str:
    if weights_key is None:
        return "state-dict"
    trainer = detect_trainer(tree)
    if trainer is not None:
        return trainer
    if isinstance(tree, dict) and ("pytorch-lightning_version" in tree or (
            weights_key == "state_dict" and "global_step" in tree and "optimizer_states" in tree)):
        return "lightning"
    return "trainer-dict"


def without_weights(tree: Any, weights_key: str | None, count: int) -> Any:
    """The checkpoint dict with its state dict replaced by a short marker (for value lookups)."""
    if weights_key is None:
        return {}
    rest = copy.copy(tree)
    node = rest
    parts = weights_key.split(".")
    for part in parts[:-1]:
        node[part] = copy.copy(node[part])
        node = node[part]
    node[parts[-1]] = f"<state dict: {count} tensors>"
    return rest


def _keys_hint(tree: Any) -> str:
    if isinstance(tree, dict):
        keys = ", ".join(str(k) for k in list(tree)[:8])
        return f"top-level keys: {keys}" if keys else "an empty dict"
    return f"a saved {type(tree).__name__}"


class TorchFileReader(LayoutReader):
    name = "torch"

    def accepts(self, path: Path, head: bytes) -> bool:
        return path.is_file() and (head.startswith(safe_torch.ZIP_MAGIC) or head.startswith(PICKLE_PROTO))

    def read(self, path: Path, *, allow_unsafe_pickle: bool = False) -> RawCheckpoint:
        tree = safe_torch.load_structure(path, allow_unsafe=allow_unsafe_pickle)
        found = find_weights(tree)
        if found is None:
            raise InputError(path, f"no model weights found ({_keys_hint(tree)})")
        key, weights = found
        names, stripped = canonical_names(weights)
        fmt = "torch-zip" if safe_torch.is_zip(path) else "torch-legacy"
        documents = [Document(path.name, without_weights(tree, key, len(weights)))]
        config = path.parent / "config.json"
        if key is None and config.is_file():
            from tsdiag.checkpoint.hf_folder import read_json

            documents.append(Document("config.json", read_json(config)))
        raw = RawCheckpoint(path=path, format=fmt, layout=layout_of(tree, key), weights=names, weights_key=key,
                            stripped_prefixes=stripped, documents=documents)
        if fmt == "torch-legacy":
            raw.notes.append("legacy (pre-zip) torch file: loaded whole into memory, it cannot be memory-mapped")
        if allow_unsafe_pickle:
            raw.notes.append("loaded with --unsafe-pickle (weights_only=False)")
        return raw
