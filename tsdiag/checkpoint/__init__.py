"""Open any small-LM checkpoint safely and say what it really is.

Public API:

* :func:`inspect_checkpoint` — facts (format, architecture, training state,
  hyperparameters with their sources, weight health) and findings for one
  checkpoint file or Hugging Face folder.
* :func:`inspect_directory` — every checkpoint in a folder, by step, newest
  and best marked.
* :func:`load_state_dict` — the model's weights as tensors under the names the
  model class uses (``_orig_mod.``/``module.``/Lightning ``model.`` removed),
  memory-mapped where the format allows.

Nothing here unpickles arbitrary objects unless ``allow_unsafe_pickle=True``.
"""

from __future__ import annotations

from pathlib import Path

from tsdiag.checkpoint.facts import CheckpointInspection, DirectoryListing
from tsdiag.checkpoint.inspection import inspect_checkpoint, inspect_directory


def load_state_dict(path: str | Path, *, allow_unsafe_pickle: bool = False) -> dict:
    """Model weights (no optimizer, no buffers such as masks or RoPE tables) as ``{name: torch.Tensor}``.

    torch files load with ``torch.load(weights_only=True, mmap=True)``;
    safetensors, Hugging Face folders and llama2.c v0/v1 exports are
    memory-mapped copy-on-write (writes never reach the file); llama2.c v2
    exports are dequantized to float32.
    """
    from tsdiag.checkpoint import safe_torch
    from tsdiag.checkpoint.anatomy import is_buffer
    from tsdiag.checkpoint.formats import check_exists, read_checkpoint, reader_for
    from tsdiag.checkpoint.statedict import canonical_names, find_weights
    from tsdiag.checkpoint.tensors import MappedFiles
    from tsdiag.checkpoint.torch_file import TorchFileReader
    from tsdiag.errors import InputError

    path = Path(path)
    check_exists(path)
    if isinstance(reader_for(path), TorchFileReader):
        tree = safe_torch.load_tensors(path, allow_unsafe=allow_unsafe_pickle)
        found = find_weights(tree)
        if found is None:
            raise InputError(path, "no model weights found")
        weights, _ = canonical_names(found[1])
        return {name: t for name, t in weights.items() if not is_buffer(name, t)}
    raw = read_checkpoint(path, allow_unsafe_pickle=allow_unsafe_pickle)
    mapped = MappedFiles()
    return {name: ref.to_torch(mapped) for name, ref in raw.weights.items() if not is_buffer(name, ref)}


__all__ = ["CheckpointInspection", "DirectoryListing", "inspect_checkpoint", "inspect_directory", "load_state_dict"]
