"""Token shard readers: every supported file kind becomes a flat, memory-mapped token array.

Kinds (by suffix; folders and glob patterns expand to the files inside):

* ``.bin`` — llama2.c / nanoGPT flat token files (``uint16`` by default, ``uint32`` on request);
* ``.npy`` — numpy arrays (memory-mapped, never unpickled);
* ``.pt`` / ``.pth`` — a torch tensor (``weights_only=True``, ``mmap=True``), alone or under one key;
* ``.parquet``, ``.arrow``, a Hugging Face dataset folder (``save_to_disk``), ``.jsonl`` / ``.json``
  — an ``input_ids`` column of token lists, or a text column tokenized on the fly;
* ``.txt`` — raw stories (separated by ``<|endoftext|>`` lines, else by blank lines), tokenized on the fly.

Flat files are memory-mapped in place.  Row-based kinds are streamed batch by
batch into a temporary flat file first, so that every consumer (the audit, its
worker processes, ``topk``) sees one kind of input — a random-access array —
and memory stays flat however large the input.  Stories get a BOS token each,
as llama2.c's ``pretokenize`` writes them (EOS after each story when the
tokenizer has no BOS, as nanoGPT does with GPT-2's ``<|endoftext|>``).

Readers never judge: an odd file size is recorded (``trailing_bytes``), not
reported; only unusable input raises :class:`InputError`.
"""

from __future__ import annotations

import glob as _glob
import json
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

import numpy as np

from tsdiag.errors import InputError, UnsafeInputError

if TYPE_CHECKING:
    from tsdiag.tokenizer import Tokenizer

DTYPES = {"uint16": np.uint16, "uint32": np.uint32, "int32": np.int32, "int64": np.int64}
STORY_SEPARATOR = "<|endoftext|>"
IDS_COLUMN = "input_ids"
TEXT_COLUMN_FALLBACKS = ("story",)  # llama2.c's TinyStories json shards call the text "story"

FLAT_SUFFIXES = {".bin": "bin", ".npy": "npy", ".pt": "pt", ".pth": "pt"}
ROW_SUFFIXES = {".parquet": "parquet", ".arrow": "arrow", ".jsonl": "jsonl", ".json": "json", ".txt": "text", ".text": "text"}
_TEXT_BATCH = 512          # stories per tokenizer call
# Files that live beside shards in a data folder but are not shards themselves.
NOT_SHARDS = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "config.json",
              "generation_config.json", "dataset_info.json", "state.json", "dataset_dict.json", "vocab.json"}
_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class TokenSource:
    """One input as a flat token array.

    ``backing`` is the file the array is mapped from: the input itself for
    flat kinds, a temporary file for row kinds (``materialised``).  Worker
    processes re-open a source with :meth:`open`.
    """

    path: Path
    kind: str
    dtype: str
    tokens: int
    file_bytes: int
    trailing_bytes: int = 0
    backing: Path | None = None
    offset: int = 0
    materialised: bool = False
    rows: int | None = None

    def open(self) -> np.ndarray:
        """The tokens as a read-only 1-D array (memory-mapped where the format allows)."""
        if self.tokens == 0:
            return np.empty(0, dtype=self.dtype)
        if self.kind == "pt" and not self.materialised:
            return _open_pt(self.path)
        return np.memmap(self.backing or self.path, dtype=self.dtype, mode="r", offset=self.offset, shape=(self.tokens,))


# ----------------------------------------------------------------- paths

def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files named by ``paths``: globs expanded, folders listed (HF dataset folders kept whole), sorted, unique."""
    out: list[Path] = []
    for raw in paths:
        text = str(raw)
        if _GLOB_CHARS & set(text) and not Path(text).exists():
            matches = sorted(Path(m) for m in _glob.glob(text, recursive=True))
            if not matches:
                raise InputError(text, "pattern matches no files")
            candidates = matches
        else:
            candidates = [Path(text)]
        for path in candidates:
            if not path.exists():
                raise InputError(path, "no such file or directory")
            if path.is_dir() and not is_hf_dataset_dir(path):
                inside = sorted(p for p in path.iterdir() if p.is_file() and _kind_of_suffix(p) is not None
                                and p.name not in NOT_SHARDS)
                if not inside:
                    raise InputError(path, "folder holds no token shards (.bin, .npy, .pt, .parquet, .arrow, .jsonl, .json, .txt)")
                out.extend(inside)
            else:
                out.append(path)
    seen: set[Path] = set()
    unique = []
    for p in out:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def is_hf_dataset_dir(path: Path) -> bool:
    """A folder written by ``datasets.Dataset.save_to_disk`` (or a DatasetDict of them)."""
    return (path / "state.json").is_file() or (path / "dataset_dict.json").is_file()


def _kind_of_suffix(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return FLAT_SUFFIXES.get(suffix) or ROW_SUFFIXES.get(suffix)


def detect_kind(path: Path) -> str:
    if path.is_dir():
        return "hf-dataset"
    kind = _kind_of_suffix(path)
    if kind is None:
        raise InputError(path, "unknown shard kind (use .bin, .npy, .pt, .parquet, .arrow, .jsonl, .json, .txt or a dataset folder)")
    return kind


# ------------------------------------------------------------- flat kinds

def _check_nonempty(path: Path) -> int:
    size = path.stat().st_size
    if size == 0:
        raise InputError(path, "empty file")
    return size


_TORCH_LEGACY_HEAD = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19"  # torch.save's pickled magic number (pre-zip files)


def _model_file_kind(path: Path) -> str | None:
    """What a .bin is when it is a model file, not tokens (llama2.c's model.bin and data shards share the suffix).

    Only exact signatures count: a zip archive, torch's legacy magic number, a valid
    safetensors header, or a llama2.c export header whose implied size is the file's size.  Anything else
    is read as tokens (raw token files have no header to check).
    """
    import zipfile

    from tsdiag.checkpoint.llama2c_bin import read_export

    with open(path, "rb") as fh:
        head = fh.read(256)
    if head.startswith(b"PK\x03\x04") and zipfile.is_zipfile(path):
        return "a zip archive (a torch.save checkpoint such as pytorch_model.bin?)"
    if head.startswith(_TORCH_LEGACY_HEAD):
        return "a legacy torch.save checkpoint"
    if head[8:9] == b"{":
        from tsdiag.checkpoint.safetensors_file import read_safetensors

        try:
            read_safetensors(path)
            return "a safetensors file"
        except InputError:
            pass
    try:
        header, _ = read_export(path)
    except (InputError, ValueError, struct.error):
        return None
    if header["expected_size"] == path.stat().st_size:
        return f"a llama2.c model export (v{header['version']})"
    return None


def _bin_source(path: Path, dtype: str) -> TokenSource:
    size = _check_nonempty(path)
    model_kind = _model_file_kind(path)
    if model_kind is not None:
        raise InputError(path, f"{model_kind}, not a token shard (inspect it with `tsdiag inspect`)")
    itemsize = np.dtype(dtype).itemsize
    return TokenSource(path, "bin", dtype, size // itemsize, size, size % itemsize, backing=path)


def _npy_source(path: Path) -> TokenSource:
    size = _check_nonempty(path)
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise InputError(path, f"not a plain numpy array ({str(exc).splitlines()[0]})") from None
    except Exception as exc:
        raise InputError(path, f"not a readable .npy file ({type(exc).__name__}: {exc})") from None
    _check_integer(path, arr.dtype)
    if not isinstance(arr, np.memmap) or not (arr.flags.c_contiguous or arr.ndim <= 1):
        raise InputError(path, "array is not stored in C order (re-save it with np.save(np.ascontiguousarray(a)))")
    return TokenSource(path, "npy", arr.dtype.str, int(arr.size), size, backing=path, offset=int(arr.offset),
                       rows=int(arr.shape[0]) if arr.ndim == 2 else None)


def _check_integer(path: Path, dtype: np.dtype) -> None:
    if dtype.kind not in "iu":
        raise InputError(path, f"holds {dtype} values, not integer token ids")


def _load_pt(path: Path):
    import torch

    try:
        try:
            obj = torch.load(path, weights_only=True, mmap=True, map_location="cpu")
        except RuntimeError as exc:
            if "mmap" not in str(exc):  # legacy (non-zip) files cannot be mapped; read them whole
                raise
            obj = torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:
        from tsdiag.checkpoint.safe_torch import unpickling_error

        raise unpickling_error(path, exc, hint="") from None   # refused for safety, or named as corrupt
    except Exception as exc:
        raise InputError(path, f"not a readable torch file ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})") from None
    if isinstance(obj, dict):
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        for key in (IDS_COLUMN, "tokens", "ids", "data"):
            if key in tensors:
                return tensors[key]
        if len(tensors) == 1:
            return next(iter(tensors.values()))
        raise InputError(path, f"dict holds no single token tensor (keys: {', '.join(map(str, obj))})")
    if isinstance(obj, torch.Tensor):
        return obj
    raise InputError(path, f"holds a {type(obj).__name__}, expected a tensor of token ids")


def _open_pt(path: Path) -> np.ndarray:
    import torch

    tensor = _load_pt(path)
    if tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool:
        raise InputError(path, f"holds {tensor.dtype} values, not integer token ids")
    if not tensor.is_contiguous():
        tensor = tensor.contiguous()
    try:
        return tensor.reshape(-1).numpy()
    except TypeError as exc:
        raise InputError(path, f"tensor dtype {tensor.dtype} has no numpy equivalent ({exc})") from None


def _pt_source(path: Path) -> TokenSource:
    size = _check_nonempty(path)
    arr = _open_pt(path)
    _check_integer(path, arr.dtype)
    return TokenSource(path, "pt", arr.dtype.str, int(arr.size), size)


# -------------------------------------------------------------- row kinds

def _checked_batches(path: Path, what: str, batches: Iterator):
    """``batches`` with pyarrow's errors on corrupt or truncated data (some surface only mid-file) as InputError."""
    import pyarrow as pa

    try:
        yield from batches
    except (pa.ArrowException, OSError) as exc:
        raise InputError(path, f"{what} ({str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__})") from None


def _arrow_batches(path: Path, columns: Sequence[str] | None = None):
    """Record batches of an Arrow IPC file or stream (what ``save_to_disk`` writes)."""
    return _checked_batches(path, "not a readable Arrow file", _arrow_batches_unchecked(path))


def _arrow_batches_unchecked(path: Path):
    import pyarrow as pa

    source = pa.memory_map(str(path), "r")
    try:
        reader = pa.ipc.open_file(source)
        for i in range(reader.num_record_batches):
            yield reader.get_batch(i)
        return
    except pa.ArrowInvalid:
        source.seek(0)
    try:
        reader = pa.ipc.open_stream(source)
    except pa.ArrowInvalid as exc:
        raise InputError(path, f"not an Arrow file ({exc})") from None
    yield from reader


def _parquet_batches(path: Path, columns: Sequence[str] | None = None):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(str(path))
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(path, f"not a Parquet file ({exc})") from None
    yield from _checked_batches(path, "corrupt Parquet data",
                                pf.iter_batches(batch_size=4096, columns=list(columns) if columns else None))


def _hf_dataset_files(path: Path) -> list[Path]:
    """The Arrow files of a ``save_to_disk`` folder (the ``train`` split of a DatasetDict)."""
    if (path / "dataset_dict.json").is_file():
        try:
            splits = json.loads((path / "dataset_dict.json").read_text())["splits"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(path / "dataset_dict.json", f"unreadable ({exc})") from None
        if "train" not in splits:
            raise InputError(path, f"dataset has splits {', '.join(splits)}; name one folder (e.g. {path / splits[0]})")
        path = path / "train"
    try:
        state = json.loads((path / "state.json").read_text())
        files = [path / f["filename"] for f in state["_data_files"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(path / "state.json", f"not a datasets save_to_disk state ({exc})") from None
    for f in files:
        if not f.is_file():
            raise InputError(f, "data file listed in state.json is missing")
    return files


def _batches_of(path: Path, kind: str):
    if kind == "parquet":
        return _parquet_batches(path)
    if kind == "arrow":
        return _arrow_batches(path)
    return (b for f in _hf_dataset_files(path) for b in _arrow_batches(f))


def _columns_of_first_batch(path: Path, kind: str) -> list[str]:
    if kind == "parquet":
        import pyarrow.parquet as pq

        try:
            return list(pq.read_schema(str(path)).names)
        except Exception as exc:
            raise InputError(path, f"not a Parquet file ({exc})") from None
    for batch in _batches_of(path, kind):
        return list(batch.schema.names)
    return []


def _choose_column(path: Path, names: Sequence[str], text_column: str) -> tuple[str, str]:
    """(``"ids"``|``"text"``, column name)."""
    if IDS_COLUMN in names:
        return "ids", IDS_COLUMN
    for name in (text_column, *TEXT_COLUMN_FALLBACKS):
        if name in names:
            return "text", name
    raise InputError(path, f"no '{IDS_COLUMN}' or '{text_column}' column (columns: {', '.join(map(str, names)) or 'none'}); use --text-column")


def _table_rows(path: Path, kind: str, text_column: str) -> tuple[str, Iterator]:
    """(what the rows hold, iterator of numpy id arrays or lists of texts)."""
    what, column = _choose_column(path, _columns_of_first_batch(path, kind), text_column)

    def ids():
        import pyarrow as pa

        for batch in _batches_of(path, kind):
            col = batch.column(batch.schema.get_field_index(column))
            if not (pa.types.is_list(col.type) or pa.types.is_large_list(col.type)):
                raise InputError(path, f"column '{column}' holds {col.type}, not lists of token ids")
            values = col.flatten()
            if not pa.types.is_integer(values.type):
                raise InputError(path, f"column '{column}' holds lists of {values.type}, not integer ids")
            yield values.to_numpy(zero_copy_only=False)

    def texts():
        for batch in _batches_of(path, kind):
            yield [t for t in batch.column(batch.schema.get_field_index(column)).to_pylist() if t]

    return what, (ids() if what == "ids" else texts())


def _json_records(path: Path, kind: str) -> Iterator[dict]:
    """Records of a JSON Lines file (streamed) or of a JSON array (llama2.c shards; read whole)."""
    try:
        yield from _json_records_unchecked(path, kind)
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not UTF-8 text ({exc.reason}): not a {kind.upper()} file") from None


def _json_records_unchecked(path: Path, kind: str) -> Iterator[dict]:
    with open(path, encoding="utf-8") as fh:
        if kind == "jsonl":
            for n, line in enumerate(fh, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(path, f"line {n} is not JSON ({exc.msg})") from None
                if not isinstance(record, dict):
                    raise InputError(path, f"line {n} is not a JSON object")
                yield record
            return
        try:
            data = json.load(fh)
        except json.JSONDecodeError as exc:
            raise InputError(path, f"not JSON ({exc.msg} at line {exc.lineno})") from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise InputError(path, "expected a JSON array of objects")
    yield from data


def _json_rows(path: Path, kind: str, text_column: str) -> tuple[str, Iterator]:
    records = _json_records(path, kind)
    first = next(records, None)
    if first is None:
        raise InputError(path, "holds no records")
    what, column = _choose_column(path, list(first), text_column)

    def all_records():
        yield first
        yield from records

    def ids():
        batch: list[int] = []
        for n, record in enumerate(all_records(), 1):
            value = record.get(column)
            if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                raise InputError(path, f"record {n}: '{column}' is not a list of integers")
            batch.extend(value)
            if len(batch) >= 1 << 20:
                yield np.asarray(batch, dtype=np.int64)
                batch = []
        if batch:
            yield np.asarray(batch, dtype=np.int64)

    def texts():
        batch: list[str] = []
        for record in all_records():
            value = record.get(column)
            if isinstance(value, str) and value.strip():
                batch.append(value)
                if len(batch) >= _TEXT_BATCH:
                    yield batch
                    batch = []
        if batch:
            yield batch

    return what, (ids() if what == "ids" else texts())


def iter_text_stories(path: Path) -> Iterator[list[str]]:
    """Stories of a raw text file, in batches: ``<|endoftext|>`` lines separate them, else blank lines."""
    with open(path, encoding="utf-8", errors="strict") as fh:
        try:
            sample = fh.read(1 << 20)
        except UnicodeDecodeError as exc:
            raise InputError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        fh.seek(0)
        by_marker = STORY_SEPARATOR in sample
        batch: list[str] = []
        story: list[str] = []
        try:
            for line in fh:
                boundary = line.strip() == STORY_SEPARATOR if by_marker else not line.strip()
                if boundary:
                    text = "".join(story).strip()
                    if text:
                        batch.append(text)
                    story = []
                    if len(batch) >= _TEXT_BATCH:
                        yield batch
                        batch = []
                else:
                    story.append(line)
        except UnicodeDecodeError as exc:
            raise InputError(path, f"not UTF-8 text ({exc.reason})") from None
        text = "".join(story).strip()
        if text:
            batch.append(text)
        if batch:
            yield batch


def encode_stories(tokenizer: "Tokenizer", stories: Sequence[str], source: Path | str = "text") -> np.ndarray:
    """Token ids of ``stories`` with one separator each: BOS before (llama2.c), else EOS after (nanoGPT)."""
    batch = getattr(tokenizer, "encode_batch", None)
    try:
        encoded = batch(stories) if batch is not None else [tokenizer.encode(s) for s in stories]
    except ValueError as exc:
        raise InputError(source, str(exc)) from None
    pieces: list[list[int]] = []
    for ids in encoded:
        if tokenizer.bos_id is not None:
            pieces.append([tokenizer.bos_id, *ids])
        elif tokenizer.eos_id is not None:
            pieces.append([*ids, tokenizer.eos_id])
        else:
            pieces.append(list(ids))
    flat = [i for p in pieces for i in p]
    return np.asarray(flat, dtype=_dtype_for_vocab(tokenizer.vocab_size))


def _as_tokenizer(tokenizer):
    """A tokenizer given as a path is loaded; ``None`` and loaded tokenizers pass through."""
    if isinstance(tokenizer, (str, Path)):
        from tsdiag.tokenizer import load_tokenizer

        return load_tokenizer(tokenizer)
    return tokenizer


def _dtype_for_vocab(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= 1 << 16 else np.dtype(np.uint32)


def iter_row_chunks(path: Path, kind: str, *, tokenizer: "Tokenizer | None", text_column: str = "text") -> Iterator[np.ndarray]:
    """Token chunks of a row-based input, in file order (text is tokenized here)."""
    if kind in ("jsonl", "json"):
        what, rows = _json_rows(path, kind, text_column)
    elif kind == "text":
        what, rows = "text", iter_text_stories(path)
    else:
        what, rows = _table_rows(path, kind, text_column)
    if what == "text" and tokenizer is None:
        raise InputError(path, "holds text: pass --tokenizer to tokenize it")
    for item in rows:
        if what == "text":
            if item:
                yield encode_stories(tokenizer, item, path)
        elif len(item):
            yield item


def _materialise(path: Path, kind: str, workdir: Path, index: int, *, tokenizer, text_column: str) -> TokenSource:
    """Stream a row-based input into a flat temporary file (uint16 when every id fits, else uint32)."""
    size = _check_nonempty(path) if path.is_file() else sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    wide = workdir / f"{index:05d}.u32"
    count, max_id, min_id = 0, -1, 0
    with open(wide, "wb") as fh:
        for chunk in iter_row_chunks(path, kind, tokenizer=tokenizer, text_column=text_column):
            chunk = np.asarray(chunk)
            if chunk.dtype.kind not in "iu":
                raise InputError(path, f"holds {chunk.dtype} values, not integer token ids")
            max_id, min_id = max(max_id, int(chunk.max())), min(min_id, int(chunk.min()))
            if max_id >= 1 << 32 or min_id < -(1 << 31):
                raise InputError(path, f"token id {max_id if max_id >= 1 << 32 else min_id} does not fit 32 bits")
            fh.write(chunk.astype(np.int32 if min_id < 0 else np.uint32).tobytes())
            count += chunk.size
    if count == 0:
        raise InputError(path, "holds no tokens")
    dtype = "int32" if min_id < 0 else "uint32"
    backing = wide
    if min_id >= 0 and max_id < 1 << 16:  # narrow to what .bin shards use; halves the scan's memory traffic
        backing = workdir / f"{index:05d}.u16"
        src = np.memmap(wide, dtype=np.uint32, mode="r")
        with open(backing, "wb") as fh:
            for start in range(0, count, 1 << 22):
                fh.write(src[start:start + (1 << 22)].astype(np.uint16).tobytes())
        del src
        wide.unlink()
        dtype = "uint16"
    return TokenSource(path, kind, dtype, count, size, backing=backing, materialised=True)


def open_source(path: Path, *, dtype: str = "uint16", tokenizer=None, text_column: str = "text",
                workdir: Path | None = None, index: int = 0) -> TokenSource:
    """Describe (and for row kinds, materialise into ``workdir``) one input."""
    kind = detect_kind(path)
    if kind == "bin":
        return _bin_source(path, dtype)
    if kind == "npy":
        return _npy_source(path)
    if kind == "pt":
        return _pt_source(path)
    if workdir is None:
        raise ValueError("row-based inputs need a workdir to stream into")
    return _materialise(path, kind, workdir, index, tokenizer=tokenizer, text_column=text_column)


def open_sources(paths: Iterable[str | Path], *, dtype: str = "uint16", tokenizer=None, text_column: str = "text",
                 workdir: Path | None = None, on_source=None) -> list[TokenSource]:
    """Every input named by ``paths`` as a :class:`TokenSource` (``on_source(source)`` after each)."""
    if dtype not in DTYPES:
        raise InputError("--dtype", f"{dtype!r} is not supported (use {', '.join(DTYPES)})")
    tokenizer = _as_tokenizer(tokenizer)
    sources = []
    for i, path in enumerate(expand_paths(paths)):
        source = open_source(path, dtype=dtype, tokenizer=tokenizer, text_column=text_column, workdir=workdir, index=i)
        sources.append(source)
        if on_source is not None:
            on_source(source)
    return sources


def load_token_array(paths, *, dtype: str = "uint16", tokenizer: "Tokenizer | None" = None,
                     text_column: str = "text") -> np.ndarray:
    """All tokens of small data as one array.

    One flat file comes back memory-mapped; several are concatenated in
    memory.  Text and row inputs are tokenized/decoded in memory (BOS per
    story, like llama2.c's pretokenize).  Use :func:`open_sources` and
    :meth:`TokenSource.open` to stream large data instead.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if dtype not in DTYPES:
        raise InputError("--dtype", f"{dtype!r} is not supported (use {', '.join(DTYPES)})")
    tokenizer = _as_tokenizer(tokenizer)
    arrays = []
    for path in expand_paths(paths):
        kind = detect_kind(path)
        if kind in FLAT_SUFFIXES.values():
            source = open_source(path, dtype=dtype)
            if source.tokens == 0:
                raise InputError(path, "holds no tokens")
            arrays.append(source.open())
        else:
            if path.is_file():
                _check_nonempty(path)
            chunks = list(iter_row_chunks(path, kind, tokenizer=tokenizer, text_column=text_column))
            if not chunks:
                raise InputError(path, "holds no tokens")
            arrays.append(np.concatenate(chunks))
    if len(arrays) == 1:
        return arrays[0]
    common = np.result_type(*[a.dtype for a in arrays])
    return np.concatenate([np.asarray(a, dtype=common) for a in arrays])


def iter_story_texts(path: Path, *, text_column: str = "text") -> Iterator[list[str]]:
    """Batches of story texts of a text-holding input (.txt, or a text column of jsonl/json/parquet/arrow)."""
    kind = detect_kind(path)
    if kind in FLAT_SUFFIXES.values():
        raise InputError(path, "holds token ids, not text")
    if path.is_file():
        _check_nonempty(path)
    if kind == "text":
        yield from iter_text_stories(path)
        return
    what, rows = _json_rows(path, kind, text_column) if kind in ("jsonl", "json") else _table_rows(path, kind, text_column)
    if what != "text":
        raise InputError(path, f"holds '{IDS_COLUMN}', not text (use --text-column to pick a text column)")
    yield from rows
