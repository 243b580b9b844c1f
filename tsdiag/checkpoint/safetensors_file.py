"""``.safetensors`` files: the JSON header only, validated before it is trusted.

The format is an 8-byte little-endian header length, a JSON header of
``name -> {dtype, shape, data_offsets}`` (plus ``__metadata__``), then raw
bytes.  The length is checked against the file size before anything is
allocated, so a hostile length such as 2**60 costs nothing; every tensor's
offsets are checked against its dtype, shape and the data area.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

from tsdiag.checkpoint.interface import Document, LayoutReader, RawCheckpoint
from tsdiag.checkpoint.statedict import canonical_names
from tsdiag.checkpoint.tensors import ITEMSIZE, FileSpan, TensorRef
from tsdiag.errors import InputError

MAX_HEADER_BYTES = 100 << 20   # the limit the safetensors library itself enforces
DTYPES = {
    "F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16",
    "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2",
    "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8",
    "U64": "uint64", "U32": "uint32", "U16": "uint16", "U8": "uint8", "BOOL": "bool",
}


def read_safetensors(path: Path) -> tuple[dict[str, TensorRef], dict[str, Any]]:
    """(tensors, __metadata__) from the header; no tensor data is read."""
    size = path.stat().st_size
    if size < 8:
        raise InputError(path, f"too short for a safetensors file ({size} bytes)")
    with open(path, "rb") as fh:
        (length,) = struct.unpack("<Q", fh.read(8))
        if length > size - 8:
            raise InputError(path, f"safetensors header length {length} is larger than the file ({size} bytes)")
        if length > MAX_HEADER_BYTES:
            raise InputError(path, f"safetensors header length {length} is over the {MAX_HEADER_BYTES} byte limit")
        raw = fh.read(length)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(path, f"safetensors header is not valid JSON ({exc.__class__.__name__})") from None
    if not isinstance(header, dict):
        raise InputError(path, "safetensors header is not a JSON object")
    data_start, data_size = 8 + length, size - 8 - length
    metadata = header.pop("__metadata__", None) or {}
    tensors: dict[str, TensorRef] = {}
    for name, info in header.items():
        tensors[name] = _tensor(path, name, info, data_start, data_size)
    return tensors, metadata if isinstance(metadata, dict) else {}


def _tensor(path: Path, name: str, info: Any, data_start: int, data_size: int) -> TensorRef:
    try:
        dtype = DTYPES[info["dtype"]]
        shape = [int(s) for s in info["shape"]]
        begin, end = (int(o) for o in info["data_offsets"])
    except (KeyError, TypeError, ValueError):
        raise InputError(path, f"safetensors entry {name!r} is malformed") from None
    if any(s < 0 for s in shape) or not 0 <= begin <= end:
        raise InputError(path, f"safetensors entry {name!r} has a negative shape or offset")
    if end > data_size:
        raise InputError(path, f"tensor {name!r} ends at byte {end} of a {data_size}-byte data area (truncated?)")
    if end - begin != math.prod(shape) * ITEMSIZE[dtype]:
        raise InputError(path, f"tensor {name!r}: {end - begin} bytes do not fit shape {shape} of {dtype}")
    return TensorRef(tuple(shape), dtype, span=FileSpan(path, data_start + begin))


class SafetensorsReader(LayoutReader):
    name = "safetensors"

    def accepts(self, path: Path, head: bytes) -> bool:
        return path.is_file() and (path.suffix == ".safetensors" or (len(head) > 8 and head[8:9] == b"{"))

    def read(self, path: Path, *, allow_unsafe_pickle: bool = False) -> RawCheckpoint:
        tensors, metadata = read_safetensors(path)
        if not tensors:
            raise InputError(path, "safetensors file holds no tensors")
        names, stripped = canonical_names(tensors)
        documents = [Document(f"{path.name} __metadata__", metadata)] if metadata else []
        config = path.parent / "config.json"
        if config.is_file():
            from tsdiag.checkpoint.hf_folder import read_json

            documents.append(Document("config.json", read_json(config)))
        return RawCheckpoint(path=path, format="safetensors", layout="state-dict", weights=names,
                             stripped_prefixes=stripped, documents=documents)
