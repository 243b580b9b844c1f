"""Facts about a tokenizer's treatment of articles (``tsdiag audit-tokenizer``).

* Does encode → decode give the text back, with every article?
* Are articles separate words in the token stream, or glued to a neighbour by
  a piece such as ``"▁a▁little"`` (possible when a vocabulary is trained
  without whitespace splitting)?  A model can never predict such an article
  on its own.
* How often does the text fall back to bytes or the unknown token?
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from tsdiag.data.articles import ArticleTables, scan_articles
from tsdiag.errors import InputError
from tsdiag.tokenizer import ARTICLE_WORDS, LETTER_RUN, Tokenizer

# Used when no --text is given: plain sentences in the style of TinyStories,
# with articles in every position the scanner distinguishes (sentence start,
# after a quote, after a newline, before a vowel, inside longer words).
SAMPLE_TEXT = (
    "Once upon a time, there was a little girl named Lily. She had an apple and a red ball.\n"
    "The sun was warm, so the girl went to the park with her mom. \"The park is big!\" she said.\n"
    "An old man sat on a bench. He gave the children another idea: they could build a castle in the sand.\n"
    "Then they ate the apple under the tree, and everyone was happy."
)


_WHITESPACE_BYTE_PIECES = {"<0x09>", "<0x0A>", "<0x0D>", "<0x20>"}

@dataclass(frozen=True)
class GluedPiece:
    id: int
    piece: str


@dataclass(frozen=True)
class TokenizerAudit:
    path: str
    kind: str
    vocab_size: int
    bos_id: int | None
    eos_id: int | None
    unk_id: int | None
    byte_pieces: int
    words: tuple[str, ...]
    article_ids: tuple[int, ...]
    article_pieces: tuple[str, ...]
    glued_pieces: tuple[GluedPiece, ...]     # pieces holding an article word next to another word
    text_source: str
    text_chars: int
    text_bytes: int
    tokens: int
    round_trip_exact: bool
    articles_in_text: int                    # article words in the text (letter runs)
    articles_after_round_trip: int           # article words in decode(encode(text))
    articles_in_tokens: int                  # article words found in the token stream (word-level scan)
    naive_article_tokens: int
    glued_tokens: int                        # tokens of the text that are glued pieces
    byte_fallback_tokens: int
    #: of those, the bytes of whitespace (tab, newline, carriage return, space): tokenizers without a
    #: newline piece (Llama 2's) spell every line break as <0x0A> by design, which is no vocabulary gap
    whitespace_byte_tokens: int
    unknown_tokens: int

    @property
    def bytes_per_token(self) -> float:
        return self.text_bytes / self.tokens if self.tokens else float("nan")


def count_text_articles(text: str, words: Sequence[str]) -> int:
    wanted = {w.lower() for w in words}
    return sum(1 for m in LETTER_RUN.finditer(text) if m.group().lower() in wanted)


def glued_pieces(tokenizer: Tokenizer, words: Sequence[str]) -> list[GluedPiece]:
    """Pieces with an article word and at least one other word in the same piece ("▁a▁little")."""
    wanted = {w.lower() for w in words}
    out = []
    for i, surface in enumerate(tokenizer.surfaces()):
        if surface is None:
            continue
        runs = [m.group().lower() for m in LETTER_RUN.finditer(surface)]
        if len(runs) >= 2 and any(r in wanted for r in runs):
            out.append(GluedPiece(i, tokenizer.pieces()[i]))
    return out


def audit_tokenizer(tokenizer: Tokenizer, text: str | None = None, *, text_source: str | None = None,
                    words: Sequence[str] = ARTICLE_WORDS) -> TokenizerAudit:
    """Encode ``text`` (default: :data:`SAMPLE_TEXT`) and collect the facts above."""
    if text is None:
        text, text_source = SAMPLE_TEXT, "built-in sample sentences"
    if not text.strip():
        raise InputError(text_source or "text", "no text to encode")
    try:
        ids = tokenizer.encode(text)
    except ValueError as exc:
        raise InputError(text_source or "text", str(exc)) from None
    tables = ArticleTables.build(tokenizer, words)
    decoded = tokenizer.decode(ids)
    scan = scan_articles(tables, np.asarray(ids, dtype=np.int64))
    glued = glued_pieces(tokenizer, words)
    glued_ids = {g.id for g in glued}
    byte_ids = set(tokenizer.byte_ids())
    pieces = tokenizer.pieces()
    whitespace_byte_ids = {i for i in byte_ids if pieces[i] in _WHITESPACE_BYTE_PIECES}
    return TokenizerAudit(
        path=str(tokenizer.path), kind=tokenizer.kind, vocab_size=tokenizer.vocab_size,
        bos_id=tokenizer.bos_id, eos_id=tokenizer.eos_id, unk_id=tokenizer.unk_id, byte_pieces=len(byte_ids),
        words=tables.words, article_ids=tuple(int(i) for i in tables.naive_ids),
        article_pieces=tables.pieces_of_naive, glued_pieces=tuple(glued),
        text_source=text_source or "text", text_chars=len(text), text_bytes=len(text.encode("utf-8")),
        tokens=len(ids), round_trip_exact=decoded == text,
        articles_in_text=count_text_articles(text, words),
        articles_after_round_trip=count_text_articles(decoded, words),
        articles_in_tokens=scan.word_count, naive_article_tokens=scan.naive_tokens,
        glued_tokens=sum(1 for i in ids if i in glued_ids),
        byte_fallback_tokens=sum(1 for i in ids if i in byte_ids),
        whitespace_byte_tokens=sum(1 for i in ids if i in whitespace_byte_ids),
        unknown_tokens=sum(1 for i in ids if tokenizer.unk_id is not None and i == tokenizer.unk_id),
    )


def read_text(path: str | Path) -> str:
    path = Path(path)
    if path.is_dir():
        raise InputError(path, "a folder, not a text file")
    if not path.is_file():
        raise InputError(path, "no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not UTF-8 text ({exc.reason})") from None
    if not text.strip():
        raise InputError(path, "empty file")
    return text

