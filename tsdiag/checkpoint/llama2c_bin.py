"""llama2.c exported ``.bin`` models (export.py v0, v1, v2): header only.

* v0 (legacy): seven int32 ``dim, hidden_dim, n_layers, n_heads, n_kv_heads,
  vocab_size, max_seq_len``; a negative vocab_size means the classifier is
  not shared with the embedding.  Then float32 weights in run.c's order,
  including the RoPE tables ``freqs_cos``/``freqs_sin``.
* v1: a 256-byte header: magic ``0x616b3432`` ("ak42"), version 1, the seven
  ints, a shared-classifier byte; float32 weights with the norms first.
* v2: like v1 plus the int32 quantization group size; norms in float32, every
  other matrix as int8 values followed by its float32 group scales (Q8_0, the
  layout runq.c reads).

The header gives every tensor's shape and offset, so the file size is checked
against it (a truncated export is refused) and tensors are read only on
demand.  v0 has no magic number: a file is taken as v0 only when its header is
plausible and the size matches exactly.
"""

from __future__ import annotations

import struct
from pathlib import Path

from tsdiag.checkpoint.facts import RECORDED, Sourced
from tsdiag.checkpoint.interface import LayoutReader, RawCheckpoint
from tsdiag.checkpoint.tensors import FileSpan, TensorRef
from tsdiag.errors import InputError

MAGIC = 0x616B3432
HEADER_V1 = 256
HEADER_V0 = 28
_LIMIT = 1 << 24   # no header field of a real model comes near this


def _header(path: Path) -> dict:
    with open(path, "rb") as fh:
        head = fh.read(HEADER_V1)
    if len(head) >= 8 and struct.unpack("<I", head[:4])[0] == MAGIC:
        version = struct.unpack("<i", head[4:8])[0]
        if version not in (1, 2):
            raise InputError(path, f"llama2.c export with unknown version {version} (known: 0, 1, 2)")
        if len(head) < HEADER_V1:
            raise InputError(path, "truncated llama2.c export: shorter than its 256-byte header")
        dim, hidden, n_layers, n_heads, n_kv, vocab, seq = struct.unpack("<7i", head[8:36])
        shared = head[36] != 0
        group = struct.unpack("<i", head[37:41])[0] if version == 2 else None
        return dict(version=version, dim=dim, hidden=hidden, n_layers=n_layers, n_heads=n_heads, n_kv=n_kv,
                    vocab=vocab, seq=seq, shared=shared, group=group, start=HEADER_V1)
    if len(head) < HEADER_V0:
        raise InputError(path, "too short for a llama2.c export")
    dim, hidden, n_layers, n_heads, n_kv, vocab, seq = struct.unpack("<7i", head[:HEADER_V0])
    return dict(version=0, dim=dim, hidden=hidden, n_layers=n_layers, n_heads=n_heads, n_kv=n_kv,
                vocab=abs(vocab), seq=seq, shared=vocab > 0, group=None, start=HEADER_V0)


def _plausible(h: dict) -> str | None:
    fields = ("dim", "hidden", "n_layers", "n_heads", "n_kv", "vocab", "seq")
    if any(not 0 < h[f] < _LIMIT for f in fields):
        return "header fields out of range"
    if h["dim"] % h["n_heads"] or h["n_heads"] % h["n_kv"] or (h["dim"] // h["n_heads"]) % 2:
        return "dim, n_heads and n_kv_heads do not fit together"
    if h["group"] is not None and not 0 < h["group"] <= h["dim"]:
        return f"quantization group size {h['group']} out of range"
    return None


def _tensor_list(h: dict) -> list[tuple[str, tuple[int, ...], str]]:
    """(name, shape, storage) in file order; storage is fp32, q8 or skip (RoPE tables)."""
    dim, hidden, L, hs = h["dim"], h["hidden"], h["n_layers"], h["dim"] // h["n_heads"]
    kv_dim = h["n_kv"] * hs
    per_layer = {
        "attention_norm": (dim,), "ffn_norm": (dim,),
        "attention.wq": (dim, dim), "attention.wk": (kv_dim, dim), "attention.wv": (kv_dim, dim),
        "attention.wo": (dim, dim), "feed_forward.w1": (hidden, dim), "feed_forward.w2": (dim, hidden),
        "feed_forward.w3": (hidden, dim),
    }

    def layers(part: str, storage: str):
        return [(f"layers.{i}.{part}.weight", per_layer[part], storage) for i in range(L)]

    emb = [("tok_embeddings.weight", (h["vocab"], dim))]
    out = [] if h["shared"] else [("output.weight", (h["vocab"], dim))]
    matrices = ["attention.wq", "attention.wk", "attention.wv", "attention.wo",
                "feed_forward.w1", "feed_forward.w2", "feed_forward.w3"]
    if h["version"] == 0:
        items = [(*emb[0], "fp32"), *layers("attention_norm", "fp32")]
        for part in matrices[:4]:
            items += layers(part, "fp32")
        items += layers("ffn_norm", "fp32")
        for part in matrices[4:]:
            items += layers(part, "fp32")
        items += [("norm.weight", (dim,), "fp32"), ("freqs_cos", (h["seq"], hs // 2), "fp32"),
                  ("freqs_sin", (h["seq"], hs // 2), "fp32")]
        return items + [(*o, "fp32") for o in out]
    items = layers("attention_norm", "fp32") + layers("ffn_norm", "fp32") + [("norm.weight", (dim,), "fp32")]
    storage = "fp32" if h["version"] == 1 else "q8"
    items += [(*emb[0], storage)]
    for part in matrices:
        items += layers(part, storage)
    return items + [(*o, storage) for o in out]


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _q8_loader(path: Path, offset: int, shape: tuple[int, ...], group: int):
    def load():
        n = _numel(shape)
        q = TensorRef((n,), "int8", span=FileSpan(path, offset)).load().float()
        scales = TensorRef((n // group,), "float32", span=FileSpan(path, offset + n)).load()
        return (q.view(-1, group) * scales[:, None]).view(shape)

    return load


def read_export(path: Path) -> tuple[dict, dict[str, TensorRef]]:
    h = _header(path)
    problem = _plausible(h)
    if problem:
        raise InputError(path, f"not a llama2.c export ({problem})")
    size, floor = path.stat().st_size, h["n_layers"] * h["dim"] * h["dim"]  # each layer: dim x dim values, 1+ byte each
    if floor > size:  # refused before a tensor list of millions of "layers" is built from a header of noise
        raise InputError(path, f"truncated llama2.c v{h['version']} export: its header implies more than {floor} "
                               f"bytes, the file has {size}")
    weights: dict[str, TensorRef] = {}
    offset = h["start"]
    for name, shape, storage in _tensor_list(h):
        n = _numel(shape)
        if storage == "fp32":
            weights[name] = TensorRef(shape, "float32", span=FileSpan(path, offset))
            offset += 4 * n
        else:
            if n % h["group"]:
                raise InputError(path, f"{name} has {n} values, not a multiple of the group size {h['group']}")
            weights[name] = TensorRef(shape, "float32", loader=_q8_loader(path, offset, shape, h["group"]),
                                      identity=(path, offset))
            offset += n + 4 * (n // h["group"])
    if h["shared"]:
        weights["output.weight"] = weights["tok_embeddings.weight"]
    h["expected_size"] = offset
    return h, weights


class Llama2cBinReader(LayoutReader):
    name = "llama2c-bin"

    def accepts(self, path: Path, head: bytes) -> bool:
        if not path.is_file() or len(head) < 8:
            return False
        if struct.unpack("<I", head[:4])[0] == MAGIC:
            return True
        if path.suffix != ".bin":
            return False
        try:   # v0 has no magic: plausible header and the exact size it implies
            h, _ = read_export(path)
        except InputError:
            return False
        return h["expected_size"] == path.stat().st_size

    def read(self, path: Path, *, allow_unsafe_pickle: bool = False) -> RawCheckpoint:
        h, weights = read_export(path)
        size = path.stat().st_size
        version = f"v{h['version']}"
        if size < h["expected_size"]:
            raise InputError(path, f"truncated llama2.c {version} export: its header implies "
                                   f"{h['expected_size']} bytes, the file has {size}")
        label = f"{path.name}: {version} header"
        recorded = {
            "dim": Sourced(h["dim"], label, RECORDED), "hidden_dim": Sourced(h["hidden"], label, RECORDED),
            "n_layers": Sourced(h["n_layers"], label, RECORDED), "n_heads": Sourced(h["n_heads"], label, RECORDED),
            "n_kv_heads": Sourced(h["n_kv"], label, RECORDED), "vocab_size": Sourced(h["vocab"], label, RECORDED),
            "max_seq_len": Sourced(h["seq"], label, RECORDED),
            "tied_output": Sourced(h["shared"], f"{label} (shared classifier "
                                                f"{'flag' if h['version'] else 'from the sign of vocab_size'})",
                                   RECORDED),
        }
        raw = RawCheckpoint(path=path, format="llama2c-bin", layout=f"llama2c-export-{version}", weights=weights,
                            recorded_arch=recorded)
        if size > h["expected_size"]:
            raw.notes.append(f"{size - h['expected_size']} bytes after the last tensor the header describes")
        if h["version"] == 2:
            raw.notes.append(f"Q8_0 quantized (group size {h['group']}): matrices are dequantized when read")
        return raw
