"""Tokenizer adapters: sentencepiece ``.model``, Hugging Face ``tokenizer.json``, nanoGPT char ``meta.pkl``.

All three look the same to the rest of tsdiag (:class:`Tokenizer`): encode,
decode, the piece string of every id, and the *surface text* of every id —
what the id contributes to a decoded stream (``"▁the"`` → ``" the"``,
``"Ġthe"`` → ``" the"``, ``"<0x0A>"`` → ``"\\n"``, control tokens → ``None``).
Article detection works on surface texts through lookup tables
(:mod:`tsdiag.data.articles`), so it never decodes data in Python and never
hard-codes an id.

A ``meta.pkl`` is untrusted: it is read with an unpickler that builds only
plain containers and refuses every global (no class, no function, no reduce).
"""

from __future__ import annotations

import io
import json
import pickle
import re
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Iterable, Sequence

from tsdiag.errors import InputError, UnsafeInputError

ARTICLE_WORDS: tuple[str, ...] = ("a", "an", "the")

# Stand-in for a byte that is part of a multi-byte character split across
# tokens: it counts as a letter (so "the" glued to it is not a whole word) but
# matches no article word.
OPAQUE_LETTER = "\ue000"

# Names under which tokenizer.json files commonly declare begin/end tokens.
_HF_BOS_NAMES = ("<s>", "<|begin_of_text|>", "<bos>", "<|startoftext|>", "[CLS]")
_HF_EOS_NAMES = ("</s>", "<|endoftext|>", "<|end_of_text|>", "<eos>", "[SEP]")


# A run of letters: Unicode letters (word characters that are not digits or
# "_") and the opaque stand-in.  Everything else (space, punctuation, digits,
# newlines) separates words.
LETTER_RUN = re.compile(r"(?:[^\W\d_]|" + OPAQUE_LETTER + ")+")


def is_letter(char: str) -> bool:
    return LETTER_RUN.fullmatch(char) is not None


def _bytes_surface(data: bytes) -> str:
    """Text of a byte string that may hold only part of a UTF-8 character."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "".join(chr(b) if b < 0x80 else OPAQUE_LETTER for b in data)


def _byte_piece_value(piece: str) -> int | None:
    """``"<0x0A>"`` → 10 (sentencepiece/HF byte-fallback pieces), else None."""
    if len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">"):
        try:
            return int(piece[3:5], 16)
        except ValueError:
            return None
    return None


class Tokenizer(ABC):
    """One vocabulary, whatever file it came from."""

    kind: str = ""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._pieces: list[str] | None = None
        self._surfaces: list[str | None] | None = None

    # -- identity ------------------------------------------------------------
    @property
    @abstractmethod
    def vocab_size(self) -> int: ...

    @property
    def bos_id(self) -> int | None:
        return None

    @property
    def eos_id(self) -> int | None:
        return None

    @property
    def unk_id(self) -> int | None:
        return None

    # -- text ------------------------------------------------------------------
    @abstractmethod
    def _encode(self, text: str) -> list[int]: ...

    @abstractmethod
    def decode(self, ids: Iterable[int]) -> str: ...

    def encode(self, text: str, *, bos: bool = False, eos: bool = False) -> list[int]:
        """Token ids of ``text``; ``bos``/``eos`` add the tokenizer's own markers (ValueError if it has none)."""
        ids = self._encode(text)
        if bos:
            if self.bos_id is None:
                raise ValueError(f"{self.path}: tokenizer has no BOS token")
            ids = [self.bos_id, *ids]
        if eos:
            if self.eos_id is None:
                raise ValueError(f"{self.path}: tokenizer has no EOS token")
            ids = [*ids, self.eos_id]
        return ids

    # -- vocabulary ----------------------------------------------------------------
    @abstractmethod
    def _piece_list(self) -> list[str]: ...

    @abstractmethod
    def _surface_list(self) -> list[str | None]: ...

    def pieces(self) -> list[str]:
        """The piece string of every id (cached)."""
        if self._pieces is None:
            self._pieces = self._piece_list()
        return self._pieces

    def id_to_piece(self, i: int) -> str:
        return self.pieces()[i]

    def surfaces(self) -> list[str | None]:
        """What each id adds to decoded text; ``None`` for control/special tokens (cached)."""
        if self._surfaces is None:
            self._surfaces = self._surface_list()
        return self._surfaces

    def special_ids(self) -> list[int]:
        """Ids that stand for no text (BOS, EOS, unknown, padding, added special tokens)."""
        return [i for i, s in enumerate(self.surfaces()) if s is None]

    def byte_ids(self) -> list[int]:
        """Byte-fallback ids (``<0x41>``); empty for tokenizers without byte fallback."""
        return [i for i, p in enumerate(self.pieces()) if _byte_piece_value(p) is not None]

    def separator_ids(self) -> list[int]:
        """BOS and EOS ids, the markers between stories."""
        return sorted({i for i in (self.bos_id, self.eos_id) if i is not None})

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, vocab_size={self.vocab_size})"


# --------------------------------------------------------------- sentencepiece

class SentencePieceTokenizer(Tokenizer):
    """A sentencepiece ``.model`` (llama2.c's ``tokenizer.model`` or one from ``train_vocab``)."""

    kind = "sentencepiece"

    def __init__(self, path: Path):
        super().__init__(path)
        import sentencepiece as spm

        try:
            self._sp = spm.SentencePieceProcessor(model_file=str(self.path))
        except Exception as exc:  # sentencepiece raises RuntimeError/OSError with C++ text
            raise InputError(self.path, f"not a readable sentencepiece model ({_first_line(exc)})") from None
        if self._sp.get_piece_size() <= 0:
            raise InputError(self.path, "sentencepiece model has no pieces")

    @property
    def vocab_size(self) -> int:
        return int(self._sp.get_piece_size())

    @property
    def bos_id(self) -> int | None:
        return _non_negative(self._sp.bos_id())

    @property
    def eos_id(self) -> int | None:
        return _non_negative(self._sp.eos_id())

    @property
    def unk_id(self) -> int | None:
        return _non_negative(self._sp.unk_id())

    def _encode(self, text: str) -> list[int]:
        return list(self._sp.encode(text))

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """Many texts at once (sentencepiece encodes a list in C++)."""
        return [list(ids) for ids in self._sp.encode(list(texts))]

    def decode(self, ids: Iterable[int]) -> str:
        return self._sp.decode([int(i) for i in ids])

    def _piece_list(self) -> list[str]:
        return [self._sp.id_to_piece(i) for i in range(self.vocab_size)]

    def _surface_list(self) -> list[str | None]:
        sp = self._sp
        out: list[str | None] = []
        for i, piece in enumerate(self.pieces()):
            if sp.is_control(i) or sp.is_unknown(i) or sp.is_unused(i):
                out.append(None)
            elif sp.is_byte(i):
                out.append(_bytes_surface(bytes([_byte_piece_value(piece) or 0])))
            else:
                out.append(piece.replace("▁", " "))
        return out


# ------------------------------------------------------------ Hugging Face json

def _gpt2_byte_decoder() -> dict[str, int]:
    """Inverse of the byte-level BPE alphabet: printable bytes stand for themselves, the rest are shifted past 255."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    mapping = {chr(b): b for b in printable}
    shifted = 0
    for b in range(256):
        if b not in printable:
            mapping[chr(256 + shifted)] = b
            shifted += 1
    return mapping


def _component_types(node: Any) -> list[dict]:
    """Flatten a tokenizer.json decoder/pre_tokenizer (which may be a Sequence) into its parts."""
    if not isinstance(node, dict):
        return []
    parts = node.get("decoders") or node.get("pretokenizers")
    if isinstance(parts, list):
        return [p for part in parts for p in _component_types(part)]
    return [node]


class HFTokenizer(Tokenizer):
    """A Hugging Face ``tokenizer.json`` read with the ``tokenizers`` package."""

    kind = "hf"

    def __init__(self, path: Path):
        super().__init__(path)
        from tokenizers import Tokenizer as _HFTok

        try:
            self._config = json.loads(self.path.read_text(encoding="utf-8"))
            self._tok = _HFTok.from_file(str(self.path))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(self.path, f"not a tokenizer.json ({_first_line(exc)})") from None
        except Exception as exc:  # tokenizers raises its own Exception type with Rust text
            raise InputError(self.path, f"not a readable tokenizer.json ({_first_line(exc)})") from None
        self._size = int(self._tok.get_vocab_size(with_added_tokens=True))
        if self._size <= 0:
            raise InputError(self.path, "tokenizer.json has an empty vocabulary")
        self._special = {int(t["id"]) for t in self._config.get("added_tokens", []) if t.get("special")}
        self._bos, self._eos = self._find_markers()

    def _find_markers(self) -> tuple[int | None, int | None]:
        """BOS/EOS from a sibling tokenizer_config.json, else from well-known special token names."""
        names: dict[str, str] = {}
        sibling = self.path.with_name("tokenizer_config.json")
        if sibling.is_file():
            try:
                cfg = json.loads(sibling.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                cfg = {}
            for key in ("bos_token", "eos_token"):
                value = cfg.get(key)
                if isinstance(value, dict):
                    value = value.get("content")
                if isinstance(value, str):
                    names[key] = value

        def lookup(key: str, fallbacks: tuple[str, ...]) -> int | None:
            for name in ([names[key]] if key in names else []) + list(fallbacks):
                i = self._tok.token_to_id(name)
                if i is not None:
                    return int(i)
            return None

        return lookup("bos_token", _HF_BOS_NAMES), lookup("eos_token", _HF_EOS_NAMES)

    @property
    def vocab_size(self) -> int:
        return self._size

    @property
    def bos_id(self) -> int | None:
        return self._bos

    @property
    def eos_id(self) -> int | None:
        return self._eos

    @property
    def unk_id(self) -> int | None:
        unk = self._config.get("model", {}).get("unk_token")
        return None if unk is None else _optional_int(self._tok.token_to_id(unk))

    def _encode(self, text: str) -> list[int]:
        return list(self._tok.encode(text, add_special_tokens=False).ids)

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [list(e.ids) for e in self._tok.encode_batch(list(texts), add_special_tokens=False)]

    def decode(self, ids: Iterable[int]) -> str:
        return self._tok.decode([int(i) for i in ids], skip_special_tokens=False)

    def _piece_list(self) -> list[str]:
        return [self._tok.id_to_token(i) or "" for i in range(self._size)]

    def _surface_list(self) -> list[str | None]:
        decoders = _component_types(self._config.get("decoder"))
        pre = _component_types(self._config.get("pre_tokenizer"))
        types = {d.get("type") for d in decoders + pre}
        byte_level = "ByteLevel" in types
        wordpiece = next((d for d in decoders if d.get("type") == "WordPiece"), None)
        bpe_suffix = next((d.get("suffix") for d in decoders if d.get("type") == "BPEDecoder"), None)
        metaspace = "Metaspace" in types or any(
            d.get("type") == "Replace" and d.get("pattern", {}).get("String") == "▁" for d in decoders
        )
        byte_map = _gpt2_byte_decoder() if byte_level else {}
        out: list[str | None] = []
        for i, piece in enumerate(self.pieces()):
            if i in self._special or not piece:
                out.append(None)
            elif (b := _byte_piece_value(piece)) is not None:
                out.append(_bytes_surface(bytes([b])))
            elif byte_level:
                raw = bytes(byte_map[c] for c in piece if c in byte_map)
                out.append(_bytes_surface(raw))
            elif wordpiece is not None:
                prefix = wordpiece.get("prefix", "##")
                out.append(piece[len(prefix):] if piece.startswith(prefix) else " " + piece)
            elif bpe_suffix and piece.endswith(bpe_suffix):
                out.append(piece[: -len(bpe_suffix)] + " ")
            elif metaspace:
                out.append(piece.replace("▁", " "))
            else:
                out.append(piece)
        return out


# -------------------------------------------------------------- nanoGPT chars

class _PlainUnpickler(pickle.Unpickler):
    """Builds dicts, lists, tuples, strings and numbers only: every global is refused."""

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refusing persistent ids")


def _read_plain_pickle(path: Path) -> Any:
    data = path.read_bytes()
    try:
        return _PlainUnpickler(io.BytesIO(data)).load()
    except pickle.UnpicklingError as exc:
        if "refusing" in str(exc):
            raise UnsafeInputError(path, f"pickle asks for code to run ({exc}); only plain dicts/str/int are read") from None
        raise InputError(path, f"not a readable pickle ({_first_line(exc)})") from None
    except Exception as exc:  # truncated or garbage pickles raise many types
        raise InputError(path, f"not a readable pickle ({_first_line(exc)})") from None


class CharTokenizer(Tokenizer):
    """nanoGPT's character vocabulary (``data/shakespeare_char/meta.pkl``: ``itos``/``stoi``)."""

    kind = "char"

    def __init__(self, path: Path):
        super().__init__(path)
        meta = _read_plain_pickle(self.path)
        if not isinstance(meta, dict):
            raise InputError(self.path, f"meta.pkl holds a {type(meta).__name__}, expected a dict with 'itos'/'stoi'")
        itos = meta.get("itos")
        if itos is None and isinstance(meta.get("stoi"), dict):
            itos = {i: s for s, i in meta["stoi"].items()}
        if isinstance(itos, list):
            itos = dict(enumerate(itos))
        if not isinstance(itos, dict) or not itos:
            raise InputError(self.path, "meta.pkl has no 'itos' or 'stoi' vocabulary")
        if not all(isinstance(k, int) and not isinstance(k, bool) and k >= 0 and isinstance(v, str)
                   for k, v in itos.items()):
            raise InputError(self.path, "meta.pkl vocabulary must map non-negative ints to strings")
        size = meta.get("vocab_size", max(itos) + 1)
        if not isinstance(size, int) or size <= max(itos):
            raise InputError(self.path, f"meta.pkl vocab_size {size!r} does not cover its ids (max id {max(itos)})")
        self._itos = [itos.get(i, "") for i in range(size)]
        self._stoi = {s: i for i, s in enumerate(self._itos) if s}

    @property
    def vocab_size(self) -> int:
        return len(self._itos)

    def _encode(self, text: str) -> list[int]:
        try:
            return [self._stoi[c] for c in text]
        except KeyError as exc:
            raise ValueError(f"{self.path}: character {exc.args[0]!r} is not in the vocabulary") from None

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self._itos[int(i)] for i in ids)

    def _piece_list(self) -> list[str]:
        return list(self._itos)

    def _surface_list(self) -> list[str | None]:
        return [s if s else None for s in self._itos]


# ------------------------------------------------------------------- loading

_TOKENIZER_FILES = ("tokenizer.model", "tokenizer.json", "meta.pkl")


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Open a tokenizer file (or a folder holding tokenizer.model / tokenizer.json / meta.pkl).

    Any file that cannot be used raises :class:`InputError` naming the file.
    """
    path = Path(path)
    if path.is_dir():
        found = [path / name for name in _TOKENIZER_FILES if (path / name).is_file()]
        if not found:
            raise InputError(path, f"folder holds no tokenizer ({', '.join(_TOKENIZER_FILES)})")
        path = found[0]
    if not path.exists():
        raise InputError(path, "no such file")
    if not path.is_file():
        raise InputError(path, "not a file")
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise InputError(path, f"cannot read ({exc.strerror or exc})") from None
    if size == 0:
        raise InputError(path, "empty file")
    suffix = path.suffix.lower()
    if suffix == ".json" or head.lstrip()[:1] == b"{":
        return HFTokenizer(path)
    if suffix in (".pkl", ".pickle") or head[:1] == b"\x80":
        return CharTokenizer(path)
    return SentencePieceTokenizer(path)


# ------------------------------------------------------------------ articles

def normalise_piece(text: str) -> str:
    """A piece as a word: word-boundary markers and whitespace stripped, lower-cased."""
    return text.replace("▁", " ").replace("Ġ", " ").strip().lower()


def article_piece_ids(tokenizer: Tokenizer, words: Sequence[str] = ARTICLE_WORDS):
    """Every id whose piece is an article word on its own ("▁the", "Ġthe", "The", "a"): the naive ids.

    The surface text is used where it differs from the raw piece (byte-level
    alphabets), so ``"Ġthe"`` and ``"▁the"`` both count.  Control tokens and
    byte-fallback pieces (``<0x61>``, which only spell text that has no piece
    of its own) never do.
    """
    import numpy as np

    wanted = {w.lower() for w in words}
    pieces = tokenizer.pieces()
    ids = [
        i for i, s in enumerate(tokenizer.surfaces())
        if s is not None and _byte_piece_value(pieces[i]) is None and normalise_piece(s) in wanted
    ]
    return np.asarray(ids, dtype=np.int64)


def article_token_mask(tokenizer: Tokenizer, ids, words: Sequence[str] = ARTICLE_WORDS):
    """Boolean mask over ``ids``: True where the token belongs to a whole article word (word-level, vectorised)."""
    from tsdiag.data.articles import ArticleTables, article_mask

    return article_mask(ArticleTables.build(tokenizer, words), ids)


def count_article_words(tokenizer: Tokenizer, ids, words: Sequence[str] = ARTICLE_WORDS) -> int:
    """Article words in a token stream, counted on word boundaries (not per id)."""
    from tsdiag.data.articles import ArticleTables, scan_articles

    return scan_articles(ArticleTables.build(tokenizer, words), ids).word_count


# ---------------------------------------------------------------------- util

def _non_negative(value: int) -> int | None:
    return int(value) if value is not None and value >= 0 else None


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
