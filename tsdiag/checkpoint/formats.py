"""Which reader opens a path: the registry of layout readers, tried in order.

Adding a layout is one new module with a :class:`LayoutReader` and one line
here.  Order matters only where signatures overlap: a llama2.c v0 export has
no magic number, so it is tried before the torch reader (and claimed only
when its header matches the file size exactly).
"""

from __future__ import annotations

from pathlib import Path

from tsdiag.checkpoint.hf_folder import HFFolderReader
from tsdiag.checkpoint.interface import LayoutReader, RawCheckpoint
from tsdiag.checkpoint.llama2c_bin import Llama2cBinReader
from tsdiag.checkpoint.safetensors_file import SafetensorsReader
from tsdiag.checkpoint.torch_file import TorchFileReader
from tsdiag.errors import InputError

READERS: tuple[LayoutReader, ...] = (HFFolderReader(), Llama2cBinReader(), SafetensorsReader(), TorchFileReader())


def head_bytes(path: Path) -> bytes:
    if not path.is_file():
        return b""
    with open(path, "rb") as fh:
        return fh.read(16)


def check_exists(path: Path) -> None:
    if not path.exists():
        raise InputError(path, "no such file or directory")
    if path.is_file() and path.stat().st_size == 0:
        raise InputError(path, "empty file (0 bytes)")


def reader_for(path: Path) -> LayoutReader | None:
    head = head_bytes(path)
    return next((r for r in READERS if r.accepts(path, head)), None)


def _not_recognised(path: Path) -> InputError:
    head = head_bytes(path)
    if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        kind = "it looks like a text file"
    else:
        kind = f"it starts with bytes {head[:8].hex()}"
    return InputError(path, f"not a recognised checkpoint ({kind}; expected a torch.save file, .safetensors, "
                            "a Hugging Face folder or a llama2.c .bin export)")


def run_folder_checkpoint(path: Path) -> Path | None:
    """The ``ckpt.pt`` of a tsdiag run folder, None for any other path.

    A run folder holds ``model.safetensors`` too, which would make it read as a Hugging Face
    folder without a config: weights only, no step or val loss.  ``ckpt.pt`` records those,
    the optimizer state and the run's config, so it is the file that answers ``inspect``.
    """
    from tsdiag.train.runfolder import CHECKPOINT_FILE, MODEL_FILE, RUN_FILE

    if path.is_dir() and (path / CHECKPOINT_FILE).is_file() and not (path / "config.json").is_file() and (
            (path / MODEL_FILE).is_file() or (path / RUN_FILE).is_file()):
        return path / CHECKPOINT_FILE
    return None


def read_checkpoint(path: Path, *, allow_unsafe_pickle: bool = False) -> RawCheckpoint:
    """Open one checkpoint (file, Hugging Face folder, or a tsdiag run folder's ckpt.pt) with the reader that claims it."""
    path = Path(path)
    check_exists(path)
    path = run_folder_checkpoint(path) or path
    reader = reader_for(path)
    if reader is None:
        if path.is_dir():
            raise InputError(path, "a folder without config.json or model weights: not a Hugging Face model "
                                   "folder (`tsdiag inspect FOLDER` lists a folder of checkpoints)")
        raise _not_recognised(path)
    return reader.read(path, allow_unsafe_pickle=allow_unsafe_pickle)
