"""Open ``torch.save`` files without running code from them.

Three ways in, all through ``torch.load(weights_only=True)``, whose restricted
unpickler builds only tensors and plain containers:

* :func:`load_structure` (the inspect path) maps storages to the ``meta``
  device: only the pickle is read, and each storage's byte offset in the zip
  comes back so :class:`~tsdiag.checkpoint.tensors.TensorRef` can stream it.
* :func:`load_tensors` (for ``load_state_dict``) memory-maps the file
  (``mmap=True``): real CPU tensors, nothing read until touched.
* legacy (pre-1.6, non-zip) files cannot be mapped and are loaded whole.

Before any of that, the pickle's globals are listed statically (nothing is
executed); anything outside torch's allow-list and a few numpy scalar types is
refused with :class:`~tsdiag.errors.UnsafeInputError` naming the global.
Only ``allow_unsafe=True`` (the CLI's ``--unsafe-pickle``) unpickles freely.
"""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

from tsdiag.checkpoint.tensors import FileSpan, TensorRef, dtype_name
from tsdiag.errors import InputError, UnsafeInputError

ZIP_MAGIC = b"PK\x03\x04"

# numpy objects that trainers leave in checkpoints (a best_val_loss computed
# with numpy, an rng state) and that rebuild only numbers: scalar() makes a
# number from a dtype and raw bytes, _reconstruct/ndarray an array of a dtype.
_NUMPY_SAFE = {
    "numpy.core.multiarray.scalar": ("multiarray", "scalar"),
    "numpy._core.multiarray.scalar": ("multiarray", "scalar"),
    "numpy.core.multiarray._reconstruct": ("multiarray", "_reconstruct"),
    "numpy._core.multiarray._reconstruct": ("multiarray", "_reconstruct"),
    "numpy.ndarray": ("numpy", "ndarray"),
    "numpy.dtype": ("numpy", "dtype"),
}
_NUMPY_DTYPE_CLASSES = {
    f"numpy.dtypes.{n}DType"
    for n in ("Bool", "Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64",
              "Float16", "Float32", "Float64", "Long", "ULong", "LongLong", "ULongLong")
}


def is_zip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) == ZIP_MAGIC


def _numpy_global(name: str):
    import numpy

    if name in _NUMPY_DTYPE_CLASSES:
        return getattr(numpy.dtypes, name.rsplit(".", 1)[1], None)
    where, attr = _NUMPY_SAFE[name]
    if where == "numpy":
        return getattr(numpy, attr)
    try:
        from numpy._core import multiarray  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray
    return getattr(multiarray, attr, None)


def unsafe_globals(path: Path) -> list[str]:
    """Globals the pickle needs beyond torch's weights-only allow-list (static scan, nothing runs)."""
    import torch

    try:
        return sorted(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
    except (RuntimeError, ValueError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile) as exc:
        raise InputError(path, _describe_load_error(exc)) from None


def _allowed_numpy(path: Path, names: list[str]) -> list:
    """The numpy globals to allow, or UnsafeInputError naming the others."""
    refused = [n for n in names if n not in _NUMPY_SAFE and n not in _NUMPY_DTYPE_CLASSES]
    if refused:
        raise UnsafeInputError(
            path,
            f"refusing to unpickle: it needs {', '.join(refused)}, which could run code "
            "(use --unsafe-pickle only for a file you trust)",
        )
    if "numpy.dtype" in names:   # a dtype object unpickles through its class (numpy.dtypes.Float64DType, ...)
        names = sorted(set(names) | _NUMPY_DTYPE_CLASSES)
    allowed = []
    for name in names:
        obj = _numpy_global(name)
        if obj is not None:
            allowed.append((obj, name))
    return allowed


def _describe_load_error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    detail = re.search(r"WeightsUnpickler error:\s*(.+)", str(exc))
    if detail:  # torch's restricted unpickler met something that is no torch.save pickle (e.g. a plain pickle)
        return f"not a torch.save file the safe loader can read ({detail.group(1).strip()[:160]})"
    if "central directory" in text or "zip archive" in text or isinstance(exc, zipfile.BadZipFile):
        return "truncated or corrupt zip archive (torch.save file)"
    if isinstance(exc, EOFError) or "Ran out of input" in text:
        return "truncated pickle (ran out of input)"
    if "magic number" in text.lower():
        return "not a PyTorch checkpoint (invalid magic number)"
    return f"cannot read as a PyTorch checkpoint: {text[:200]}"


def unpickling_error(path: Path, exc: BaseException,
                     hint: str = " (use --unsafe-pickle only for a file you trust)") -> InputError:
    """torch's restricted unpickler said no: a refusal for safety (a global it may not build) or a corrupt file."""
    text = str(exc)
    match = (re.search(r"GLOBAL ([\w.]+)", text) or re.search(r"but got <class '([\w.]+)'>", text)
             or re.search(r"Unsupported (?:global|class):? ([\w.]+)", text))
    if match:
        return UnsafeInputError(path, f"refusing to unpickle: it needs {match.group(1)}, which could run code{hint}")
    return InputError(path, _describe_load_error(exc))


def _torch_load(path: Path, *, allow_unsafe: bool, **kwargs) -> Any:
    """torch.load with our safety policy and errors turned into one-line InputErrors."""
    import torch

    zipped = is_zip(path)
    if zipped:
        _check_zip(path)
    allowed: list = []
    if not allow_unsafe and zipped:
        allowed = _allowed_numpy(path, unsafe_globals(path))
    if not zipped:
        kwargs.pop("mmap", None)  # legacy files cannot be memory-mapped
    try:
        with warnings.catch_warnings():
            # a pickle of another protocol gets a torch warning on stderr; the error (if any) says it all
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            if allow_unsafe:
                return torch.load(str(path), weights_only=False, **kwargs)
            with torch.serialization.safe_globals(allowed):
                return torch.load(str(path), weights_only=True, **kwargs)
    except pickle.UnpicklingError as exc:
        raise unpickling_error(path, exc) from None
    except (RuntimeError, EOFError, ValueError, TypeError, AttributeError, KeyError, IndexError,
            zipfile.BadZipFile, OSError, ImportError, ModuleNotFoundError) as exc:
        if isinstance(exc, OSError) and exc.filename:
            raise
        if "Weights only load failed" in str(exc):
            raise unpickling_error(path, exc) from None
        raise InputError(path, _describe_load_error(exc)) from None


def _check_zip(path: Path) -> None:
    """A readable zip that is a torch.save archive (not TorchScript, not some other zip)."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise InputError(path, "truncated or corrupt zip archive (torch.save file)") from None
    if any(n.endswith("constants.pkl") for n in names):
        raise InputError(path, "a TorchScript archive, not a checkpoint")
    if not any(n.endswith("data.pkl") for n in names):
        raise InputError(path, "a zip archive without data.pkl: not a torch.save checkpoint")


def load_structure(path: Path, *, allow_unsafe: bool = False) -> Any:
    """The saved object with every tensor replaced by a :class:`TensorRef`.

    Zip files load on the ``meta`` device (the pickle only); storages'
    ``_checkpoint_offset`` gives where their bytes are.  Where torch does not
    report offsets, or for legacy and unsafe loads, tensors come from a
    memory-mapped (or, legacy, in-memory) load instead.
    """
    if is_zip(path) and not allow_unsafe:
        obj = _torch_load(path, allow_unsafe=False, map_location="meta")
        refs = _RefMaker(path, meta=True)
        converted = refs.convert(obj)
        if not refs.missing_offsets:
            return converted
    obj = _torch_load(path, allow_unsafe=allow_unsafe, map_location="cpu", mmap=True)
    return _RefMaker(path, meta=False).convert(obj)


def load_tensors(path: Path, *, allow_unsafe: bool = False) -> Any:
    """The saved object with real CPU tensors, memory-mapped where the file allows."""
    return _torch_load(path, allow_unsafe=allow_unsafe, map_location="cpu", mmap=True)


class _RefMaker:
    """Turns a loaded object into plain Python containers with TensorRefs."""

    def __init__(self, path: Path, *, meta: bool):
        self.path = path
        self.meta = meta
        self.missing_offsets = False

    def convert(self, obj: Any, depth: int = 0) -> Any:
        import torch

        if depth > 64:
            return None
        if isinstance(obj, torch.Tensor):
            return self._ref(obj)
        if isinstance(obj, dict) or _is_mapping(obj):
            return {k: self.convert(v, depth + 1) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return type(obj)(self.convert(v, depth + 1) for v in obj) if type(obj) in (list, tuple) else [
                self.convert(v, depth + 1) for v in obj]
        if isinstance(obj, (str, bytes, bool, int, float, type(None))):
            return obj
        numeric = _numpy_to_python(obj)
        if numeric is not _NOT_NUMPY:
            return numeric
        if hasattr(obj, "__dict__") and not isinstance(obj, type):
            # only reachable with allow_unsafe: argparse.Namespace, dataclasses, configs
            return {k: self.convert(v, depth + 1) for k, v in vars(obj).items() if not k.startswith("_")}
        return repr(obj)

    def _ref(self, tensor) -> TensorRef:
        shape = tuple(tensor.shape)
        dtype = dtype_name(tensor.dtype)
        if self.meta:
            storage = tensor.untyped_storage()
            base = getattr(storage, "_checkpoint_offset", None)
            if base is None:
                self.missing_offsets = True
                return TensorRef(shape, dtype, loader=lambda: None)
            offset = base + tensor.storage_offset() * tensor.element_size()
            if tensor.is_contiguous():
                return TensorRef(shape, dtype, span=FileSpan(self.path, offset))
            return TensorRef(shape, dtype, loader=_strided_loader(self.path, base, tensor),
                             identity=(self.path, offset, tuple(tensor.stride())))
        return TensorRef(shape, dtype, loader=lambda t=tensor: t,
                         identity=(tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.stride())))


def _strided_loader(path: Path, base: int, tensor):
    """A non-contiguous view: read its storage extent once and re-stride it."""
    shape, stride, dtype = tuple(tensor.shape), tuple(tensor.stride()), tensor.dtype
    start = tensor.storage_offset()
    extent = start + 1 + sum((s - 1) * st for s, st in zip(shape, stride) if s > 0)

    def load():
        import torch

        storage = TensorRef((extent,), dtype_name(dtype), span=FileSpan(path, base)).load()
        return torch.as_strided(storage, shape, stride, start)

    return load


_NOT_NUMPY = object()


def _numpy_to_python(obj: Any) -> Any:
    module = type(obj).__module__ or ""
    if not module.startswith("numpy"):
        return _NOT_NUMPY
    if hasattr(obj, "item") and getattr(obj, "ndim", 1) == 0:
        return obj.item()
    if hasattr(obj, "tolist") and getattr(obj, "size", 0) <= 64:
        return obj.tolist()
    return f"<numpy array {getattr(obj, 'shape', '')}>"


def _is_mapping(obj: Any) -> bool:
    return hasattr(obj, "items") and hasattr(obj, "keys") and callable(obj.items)
