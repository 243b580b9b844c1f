"""Top-K vocabulary remapping: keep the K most frequent ids of the data, send the rest to one fallback id.

The TinyStories paper trains on the 10K most frequent GPT-Neo tokens; a
llama2.c user with the 32K Llama 2 vocabulary can do the same without
re-tokenizing: count the shards, keep the top K ids (plus the tokenizer's
special ids, so story separators survive), and rewrite the shards through a
lookup table.  The mapping is written as JSON (readable, with pieces) and as
an ``.npy`` lookup table (``new = table[old]``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from tsdiag.data.shards import TokenSource
from tsdiag.errors import InputError
from tsdiag.fileio import atomic_path

REWRITE_CHUNK = 1 << 22


@dataclass(frozen=True)
class TopKMap:
    """old id → new id; ``new_to_old[n]`` is the old id behind new id ``n`` (``-1`` for the fallback slot)."""

    k: int
    old_vocab_size: int
    table: np.ndarray            # int64 [old_vocab_size + 1]; the last entry serves ids past the old vocabulary
    new_to_old: np.ndarray       # int64 [k]
    fallback: int                # new id that every dropped id becomes
    fallback_is_unk: bool        # the fallback is the tokenizer's own unknown token
    coverage: float              # share of counted tokens kept as themselves
    dropped_tokens: int          # counted tokens that become the fallback

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint16) if self.k <= 1 << 16 else np.dtype(np.uint32)

    def remap(self, ids: np.ndarray) -> np.ndarray:
        """New ids of ``ids`` (ids past the old vocabulary, or negative, become the fallback)."""
        idx = np.asarray(ids).astype(np.int64, copy=False)
        idx = np.where((idx < 0) | (idx >= self.old_vocab_size), self.old_vocab_size, idx)
        return self.table[idx].astype(self.dtype)

    def restore(self, new_ids: np.ndarray) -> np.ndarray:
        """Old ids of ``new_ids`` (the fallback becomes the unknown id, or -1 without one)."""
        return self.new_to_old[np.asarray(new_ids, dtype=np.int64)]


def check_k(k: int, vocab_size: int) -> None:
    """Refuse a K that cannot make a smaller vocabulary (checked before any counting)."""
    if k < 2:
        raise InputError("--k", f"{k} is below 2")
    if k >= vocab_size:
        raise InputError("--k", f"{k:,} is not below the vocabulary size {vocab_size:,}: nothing would be cut")


def build_topk(counts: np.ndarray, k: int, *, vocab_size: int, keep: Sequence[int] = (),
               unk_id: int | None = None) -> TopKMap:
    """The top-``k`` map for an id histogram (``counts[i]`` = occurrences of id ``i``).

    ``keep`` ids (BOS/EOS) are kept whatever their count.  Dropped ids map to
    ``unk_id`` when the tokenizer has one (kept as well), else to a new last id.
    """
    check_k(k, vocab_size)
    counts = np.asarray(counts[:vocab_size], dtype=np.int64)
    if len(counts) < vocab_size:
        counts = np.concatenate([counts, np.zeros(vocab_size - len(counts), dtype=np.int64)])
    forced = sorted({int(i) for i in (*keep, *(() if unk_id is None else (unk_id,))) if 0 <= int(i) < vocab_size})
    slots = k if unk_id is not None else k - 1   # without an unk, one slot is the fallback
    if len(forced) >= slots:
        raise InputError("--k", f"{k} leaves no room beside the {len(forced)} special ids")
    order = np.lexsort((np.arange(vocab_size), -counts))  # most frequent first, ties by id
    forced_set = set(forced)
    chosen = forced + [int(i) for i in order if int(i) not in forced_set and counts[i] > 0][: slots - len(forced)]
    new_to_old = np.asarray(chosen, dtype=np.int64)
    if unk_id is None:
        fallback = len(chosen)
        new_to_old = np.concatenate([new_to_old, [-1]])
    else:
        fallback = chosen.index(unk_id)
    table = np.full(vocab_size + 1, fallback, dtype=np.int64)
    table[new_to_old[new_to_old >= 0]] = np.flatnonzero(new_to_old >= 0)
    total = int(counts.sum())
    kept = int(counts[new_to_old[new_to_old >= 0]].sum())
    return TopKMap(k=len(new_to_old), old_vocab_size=vocab_size, table=table, new_to_old=new_to_old, fallback=fallback,
                   fallback_is_unk=unk_id is not None, coverage=kept / total if total else float("nan"),
                   dropped_tokens=total - kept)


def write_map(mapping: TopKMap, target: str | Path, pieces: Sequence[str] | None = None) -> tuple[Path, Path]:
    """Write ``target`` (.json) and the lookup table beside it (same stem, ``.npy``), atomically."""
    target = Path(target)
    if target.suffix.lower() != ".json":
        target = target.with_suffix(target.suffix + ".json") if target.suffix else target.with_suffix(".json")
    table_path = target.with_suffix(".npy")
    doc = {
        "k": mapping.k,
        "old_vocab_size": mapping.old_vocab_size,
        "fallback": mapping.fallback,
        "fallback_is_unk": mapping.fallback_is_unk,
        "coverage": mapping.coverage,
        "dropped_tokens": mapping.dropped_tokens,
        "lookup_table": table_path.name,
        "new_to_old": mapping.new_to_old.tolist(),
    }
    if pieces is not None:
        doc["pieces"] = [pieces[i] if i >= 0 else "<other>" for i in mapping.new_to_old.tolist()]
    with atomic_path(table_path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, mapping.table[: mapping.old_vocab_size].astype(np.int32))
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(doc, ensure_ascii=False) + "\n", encoding="utf-8")
    return target, table_path


def read_map(path: str | Path) -> TopKMap:
    """A mapping written by :func:`write_map`."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        new_to_old = np.asarray(doc["new_to_old"], dtype=np.int64)
        old = int(doc["old_vocab_size"])
        fallback = int(doc["fallback"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(path, f"not a tsdiag top-K map ({exc})") from None
    table = np.full(old + 1, fallback, dtype=np.int64)
    kept = new_to_old >= 0
    table[new_to_old[kept]] = np.flatnonzero(kept)
    return TopKMap(k=len(new_to_old), old_vocab_size=old, table=table, new_to_old=new_to_old, fallback=fallback,
                   fallback_is_unk=bool(doc.get("fallback_is_unk")), coverage=float(doc.get("coverage", "nan")),
                   dropped_tokens=int(doc.get("dropped_tokens", 0)))


def rewrite_source(mapping: TopKMap, source: TokenSource, target: str | Path) -> Path:
    """Stream ``source`` through the map into a flat ``.bin`` file (uint16 when K fits), atomically."""
    target = Path(target)
    array = source.open()
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as fh:
            for start in range(0, array.size, REWRITE_CHUNK):
                fh.write(mapping.remap(array[start:start + REWRITE_CHUNK]).tobytes())
    return target
