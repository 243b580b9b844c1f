"""Hugging Face model folders and Trainer ``checkpoint-N/`` folders.

A model folder is ``config.json`` plus weights: ``model.safetensors``,
``pytorch_model.bin`` or a sharded ``*.index.json`` whose ``weight_map``
names the shard of every tensor.  A Trainer checkpoint adds
``trainer_state.json`` (global_step, epoch, best_metric, log_history),
``optimizer.pt`` and ``scheduler.pt`` (read like any torch file: safely, the
pickle only) and ``training_args.bin`` (a pickled TrainingArguments object,
which cannot be read without running code, so it is not read).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tsdiag.checkpoint import safe_torch
from tsdiag.checkpoint.interface import Document, LayoutReader, RawCheckpoint
from tsdiag.checkpoint.safetensors_file import read_safetensors
from tsdiag.checkpoint.statedict import canonical_names, find_weights
from tsdiag.checkpoint.tensors import TensorRef
from tsdiag.errors import InputError, UnsafeInputError

SINGLE_FILES = ("model.safetensors", "pytorch_model.bin")
INDEX_FILES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
TRAINER_FILES = ("optimizer.pt", "scheduler.pt")


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object (config.json, trainer_state.json, an index); anything else is unusable input."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(path, f"not valid JSON ({exc.__class__.__name__})") from None
    if not isinstance(value, dict):
        found = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")
        raise InputError(path, f"expected a JSON object, found {found}")
    return value


def is_hf_folder(path: Path) -> bool:
    return path.is_dir() and ((path / "config.json").is_file() or (path / "trainer_state.json").is_file()
                              or any((path / n).is_file() for n in SINGLE_FILES + INDEX_FILES))


def _read_weight_file(path: Path, allow_unsafe: bool) -> dict[str, TensorRef]:
    if path.suffix == ".safetensors":
        return read_safetensors(path)[0]
    tree = safe_torch.load_structure(path, allow_unsafe=allow_unsafe)
    found = find_weights(tree)
    if found is None:
        raise InputError(path, "no model weights found in this weight file")
    return found[1]


def read_weights(folder: Path, allow_unsafe: bool) -> tuple[dict[str, TensorRef], str]:
    """All tensors of the folder's model and a description of where they were."""
    for index_name in INDEX_FILES:
        index_path = folder / index_name
        if not index_path.is_file():
            continue
        index = read_json(index_path)
        weight_map = index.get("weight_map") if isinstance(index, dict) else None
        if not isinstance(weight_map, dict) or not weight_map:
            raise InputError(index_path, "sharded index without a weight_map")
        weights: dict[str, TensorRef] = {}
        for shard in sorted(set(weight_map.values())):
            shard_path = folder / str(shard)
            if not shard_path.is_file():
                raise InputError(index_path, f"names shard {shard}, which is missing")
            tensors = _read_weight_file(shard_path, allow_unsafe)
            for name, where in weight_map.items():
                if where == shard:
                    if name not in tensors:
                        raise InputError(shard_path, f"lacks {name!r}, which {index_name} places there")
                    weights[name] = tensors[name]
        return weights, f"{index_name} ({len(set(weight_map.values()))} shards)"
    for name in SINGLE_FILES:
        if (folder / name).is_file():
            return _read_weight_file(folder / name, allow_unsafe), name
    raise InputError(folder, "Hugging Face folder without weights "
                             "(no model.safetensors, pytorch_model.bin or *.index.json)")


class HFFolderReader(LayoutReader):
    name = "hf-folder"

    def accepts(self, path: Path, head: bytes) -> bool:
        return is_hf_folder(path)

    def read(self, path: Path, *, allow_unsafe_pickle: bool = False) -> RawCheckpoint:
        weights, where = read_weights(path, allow_unsafe_pickle)
        names, stripped = canonical_names(weights)
        documents: list[Document] = []
        notes: list[str] = [f"weights from {where}"]
        if (path / "trainer_state.json").is_file():
            documents.append(Document("trainer_state.json", read_json(path / "trainer_state.json")))
        if (path / "config.json").is_file():
            documents.append(Document("config.json", read_json(path / "config.json")))
        for name in TRAINER_FILES:
            if (path / name).is_file():
                try:
                    documents.append(Document(name, safe_torch.load_structure(path / name,
                                                                              allow_unsafe=allow_unsafe_pickle)))
                except UnsafeInputError as exc:
                    notes.append(f"{name} not read: {exc.problem}")
        if (path / "training_args.bin").is_file():
            notes.append("training_args.bin not read: it is a pickled TrainingArguments object "
                         "(reading it would run code); pass the run's settings with --config")
        trainer = (path / "trainer_state.json").is_file()
        return RawCheckpoint(path=path, format="hf-trainer-checkpoint" if trainer else "hf-folder", layout="hf",
                             weights=names, stripped_prefixes=stripped, documents=documents, notes=notes)
