"""Lazy tensors: shape and dtype now, bytes only when asked, in bounded pieces.

A :class:`TensorRef` is what every reader hands out instead of a tensor.  Most
refs point at a contiguous byte span of a file (torch zip records, safetensors
data, llama2.c exports) and read it with ``pread`` into a small buffer, so
scanning a 10 GB checkpoint keeps memory flat: nothing is mapped, nothing stays
resident.  Refs that cannot be a plain span (legacy pickles, unsafe loads,
quantized exports) wrap a loader that returns a tensor.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

CHUNK_BYTES = 16 << 20   # read size for full scans; measured fastest between 4 and 64 MiB

# name -> bytes per element; names are torch's dtype names without "torch."
ITEMSIZE = {
    "float64": 8, "float32": 4, "float16": 2, "bfloat16": 2,
    "float8_e4m3fn": 1, "float8_e5m2": 1,
    "int64": 8, "int32": 4, "int16": 2, "int8": 1,
    "uint64": 8, "uint32": 4, "uint16": 2, "uint8": 1, "bool": 1,
    "complex64": 8, "complex128": 16,
}
FLOAT_DTYPES = {"float64", "float32", "float16", "bfloat16"}


def torch_dtype(name: str):
    import torch

    return getattr(torch, name)


def dtype_name(dtype) -> str:
    return str(dtype).replace("torch.", "")


@dataclass(frozen=True)
class FileSpan:
    """``numel`` elements stored contiguously at byte ``offset`` of ``path``."""

    path: Path
    offset: int


class TensorRef:
    """A tensor that has not been read yet."""

    __slots__ = ("shape", "dtype", "span", "_loader", "identity")

    def __init__(
        self,
        shape: tuple[int, ...],
        dtype: str,
        *,
        span: FileSpan | None = None,
        loader: Callable[[], Any] | None = None,
        identity: Any = None,
    ):
        if span is None and loader is None:
            raise ValueError("a TensorRef needs a file span or a loader")
        self.shape = tuple(int(s) for s in shape)
        self.dtype = dtype
        self.span = span
        self._loader = loader
        # two refs with the same identity share storage (tied weights)
        self.identity = identity if identity is not None else (span.path, span.offset) if span else id(self)

    def __repr__(self) -> str:
        return f"TensorRef({list(self.shape)}, {self.dtype})"

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def itemsize(self) -> int:
        return ITEMSIZE.get(self.dtype, 0)

    @property
    def nbytes(self) -> int:
        return self.numel * self.itemsize

    @property
    def is_float(self) -> bool:
        return self.dtype in FLOAT_DTYPES

    # ----------------------------------------------------------- reading
    def _read_bytes(self, start: int, count: int, fd: int | None = None) -> "Any":
        """``count`` elements from element ``start`` as a 1-D tensor of the stored dtype."""
        import torch

        nbytes = count * self.itemsize
        buf = bytearray(nbytes)
        own = fd is None
        if own:
            fd = os.open(self.span.path, os.O_RDONLY)
        try:
            got = os.preadv(fd, [memoryview(buf)], self.span.offset + start * self.itemsize)
        finally:
            if own:
                os.close(fd)
        if got != nbytes:
            from tsdiag.errors import InputError

            raise InputError(self.span.path, "file is truncated: a tensor's data ends past the end of the file")
        if nbytes == 0:
            return torch.empty(0, dtype=torch_dtype(self.dtype))
        return torch.frombuffer(buf, dtype=torch_dtype(self.dtype))

    def load(self):
        """The whole tensor (stored dtype and shape); use for small tensors or when memory allows."""
        if self._loader is not None:
            return self._loader()
        return self._read_bytes(0, self.numel).view(self.shape)

    def values(self) -> Any:
        """Python value(s) of a small tensor: a number for one element, else a list."""
        tensor = self.load()
        return tensor.item() if tensor.numel() == 1 else tensor.tolist()

    def rows(self, indices: list[int]):
        """Rows (first dimension) as float32 of shape (len(indices), row_len)."""
        import torch

        row_len = self.numel // self.shape[0] if self.shape and self.shape[0] else 0
        if self.span is None:
            full = self.load().reshape(self.shape[0], -1)
            return full[torch.as_tensor(indices, dtype=torch.long)].float()
        out = torch.empty((len(indices), row_len), dtype=torch.float32)
        fd = os.open(self.span.path, os.O_RDONLY)
        try:
            # read runs of consecutive rows in one call
            i = 0
            while i < len(indices):
                j = i
                while j + 1 < len(indices) and indices[j + 1] == indices[j] + 1:
                    j += 1
                block = self._read_bytes(indices[i] * row_len, (j - i + 1) * row_len, fd)
                out[i : j + 1] = block.view(j - i + 1, row_len).float()
                i = j + 1
        finally:
            os.close(fd)
        return out

    def chunks(self, max_bytes: int = CHUNK_BYTES) -> Iterator[Any]:
        """The flat data in pieces of at most ``max_bytes`` (stored dtype)."""
        if self.span is None:
            flat = self.load().reshape(-1)
            step = max(1, max_bytes // max(1, flat.element_size()))
            for start in range(0, flat.numel(), step):
                yield flat[start : start + step]
            return
        step = max(1, max_bytes // max(1, self.itemsize))
        fd = os.open(self.span.path, os.O_RDONLY)
        try:
            for start in range(0, self.numel, step):
                yield self._read_bytes(start, min(step, self.numel - start), fd)
        finally:
            os.close(fd)

    def to_torch(self, mapped: "MappedFiles"):
        """A tensor backed by a copy-on-write memory map (spans) or the loader's tensor."""
        if self.span is None:
            return self.load()
        import torch

        buffer = mapped.get(self.span.path)
        if self.numel == 0:
            return torch.empty(self.shape, dtype=torch_dtype(self.dtype))
        flat = torch.frombuffer(buffer, dtype=torch_dtype(self.dtype), count=self.numel, offset=self.span.offset)
        return flat.view(self.shape)


class MappedFiles:
    """One private (copy-on-write) memory map per file, shared by the tensors made from it."""

    def __init__(self) -> None:
        self._maps: dict[Path, Any] = {}

    def get(self, path: Path):
        import mmap

        if path not in self._maps:
            with open(path, "rb") as fh:
                self._maps[path] = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY)
        return self._maps[path]


def nonfinite_counts(ref: TensorRef, max_chunks: int | None = None) -> tuple[int, int]:
    """(NaN count, Inf count) over every element (or the first ``max_chunks`` pieces), streamed.

    A float sum is finite exactly when no element is NaN or Inf (unless it
    overflows), so the cheap sum decides most chunks and only a suspicious
    chunk is counted element by element.
    """
    import torch

    if not ref.is_float:
        return 0, 0
    nan = inf = 0
    for i, chunk in enumerate(ref.chunks()):
        if max_chunks is not None and i >= max_chunks:
            break
        total = chunk.sum(dtype=torch.float32) if chunk.dtype != torch.float64 else chunk.sum()
        if math.isfinite(float(total)):
            continue
        nan += int(torch.isnan(chunk).sum())
        inf += int(torch.isinf(chunk).sum())
    return nan, inf
