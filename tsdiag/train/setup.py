"""Inputs of a reference run: tokens, tokenizer, vocabulary size and article ids.

Reading shards and text is the data readers' job (:mod:`tsdiag.data.shards`);
finding article pieces is the tokenizer's (:func:`tsdiag.tokenizer.article_piece_ids`), and
choosing which of them are article words in the data is the word scanner's
(:func:`tsdiag.data.articles.article_word_ids`).  This module only puts their
answers together for :func:`tsdiag.train.loop.retrain`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tsdiag.errors import InputError
from tsdiag.train.loop import ArticleSetup


@dataclass
class PreparedData:
    tokens: np.ndarray
    info: dict[str, Any]          # run.json "data": sources, dtype, tokenizer, tokens, article_id_choice
    tokenizer: Any | None
    article_choice: Any | None = None  # ArticleIdChoice measured on these tokens (None without a tokenizer)


_ARTICLE_SHARE_SAMPLE = 10_000_000  # tokens looked at to choose article ids and report the share of article targets


def prepare_data(paths: Sequence[str | Path], *, tokenizer_path: str | Path | None = None, dtype: str = "uint16",
                 text_column: str = "text") -> PreparedData:
    """Load every token of ``paths`` (shards, or text tokenized with ``tokenizer_path``).

    With a tokenizer, the ids the weighted objective will weight are chosen on
    the first 10M tokens (:func:`tsdiag.data.articles.article_word_ids`) and
    their evidence goes into ``info["article_id_choice"]``.
    """
    from tsdiag.data.articles import article_word_ids
    from tsdiag.data.shards import expand_paths, load_token_array
    from tsdiag.tokenizer import load_tokenizer

    if not paths:
        raise InputError("--data", "give at least one shard or text file")
    tokenizer = load_tokenizer(tokenizer_path) if tokenizer_path is not None else None
    tokens = load_token_array(list(paths), dtype=dtype, tokenizer=tokenizer, text_column=text_column)
    info = {
        "sources": [str(p) for p in expand_paths(list(paths))],
        "dtype": str(tokens.dtype),
        "tokenizer": str(tokenizer_path) if tokenizer_path is not None else None,
        "tokens": int(tokens.size),
        "article_id_choice": None,
    }
    choice = None
    if tokenizer is not None:
        _, choice = article_word_ids(tokenizer, tokens[:_ARTICLE_SHARE_SAMPLE])
        info["article_id_choice"] = choice.to_dict()
    return PreparedData(tokens=tokens, info=info, tokenizer=tokenizer, article_choice=choice)


def resolve_vocab_size(explicit: int | None, tokenizer, max_id: int) -> int:
    """The model's vocabulary: explicit, else the tokenizer's, else the largest id in the data + 1."""
    if explicit is not None:
        return explicit
    if tokenizer is not None:
        return int(tokenizer.vocab_size)
    return max_id + 1


def _shape_choice(tokenizer):
    """Article ids by piece shape alone (no data seen)."""
    from tsdiag.data.articles import article_word_ids

    return article_word_ids(tokenizer)[1]


def article_setup(tokenizer, explicit_ids: Sequence[int] | None, vocab_size: int, choice=None) -> ArticleSetup:
    """Article ids for the objective: explicit ids win, else the article-word ids of ``choice``
    (measured on the data by :func:`prepare_data`), else those chosen by piece shape alone.

    ``tokenizer_ids`` (what explicit ids are checked against) stay every
    article piece of the tokenizer, as :func:`tsdiag.tokenizer.article_piece_ids` finds them.
    """
    tokenizer_ids = None
    if tokenizer is not None:
        from tsdiag.tokenizer import article_piece_ids

        tokenizer_ids = [int(i) for i in article_piece_ids(tokenizer)]
    if explicit_ids:
        outside = [i for i in explicit_ids if not 0 <= i < vocab_size]
        if outside:
            raise InputError("--article-ids", f"ids {outside} are outside the vocabulary of {vocab_size}")
        ids, source = sorted(set(int(i) for i in explicit_ids)), "--article-ids"
    elif tokenizer_ids and (chosen := (choice or _shape_choice(tokenizer)).ids):
        ids, source = chosen, "tokenizer"
    else:
        ids, source = [], "none"
    pieces = [tokenizer.id_to_piece(i) for i in ids] if tokenizer is not None else ["?" for _ in ids]
    return ArticleSetup(ids=ids, pieces=pieces, source=source, tokenizer_ids=tokenizer_ids)


def article_token_share(tokens: np.ndarray, ids: Sequence[int]) -> float | None:
    """Share of (the first 10M) tokens whose id is an article id; ``None`` without ids."""
    if not ids:
        return None
    sample = np.asarray(tokens[:_ARTICLE_SHARE_SAMPLE])
    return float(np.isin(sample, np.asarray(ids)).mean()) if sample.size else None
