"""``tsdiag audit-tokenizer``: does a tokenizer keep articles as words of their own?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tsdiag.commands._common import OutputOptions, emit, report_command


@report_command
def audit_tokenizer(
    tokenizer: Annotated[Path, typer.Argument(help="sentencepiece .model, tokenizer.json or nanoGPT meta.pkl (or a folder holding one).")],
    text: Annotated[Optional[Path], typer.Option("--text", help="UTF-8 text to encode (default: built-in TinyStories-like sentences).")] = None,
    article_words: Annotated[str, typer.Option("--article-words", help="Comma-separated words counted as articles.")] = "a,an,the",
    *,
    out: OutputOptions,
) -> None:
    """Check a tokenizer: round trip keeps every article, articles stay separate words, byte-fallback rate.

    Lists vocabulary pieces that glue an article to another word (e.g. "▁a▁little"), which a
    model can never split again.

    Examples:

      tsdiag audit-tokenizer tokenizer.model

      tsdiag audit-tokenizer data/tok512.model --text data/TinyStories-valid.txt --json

      tsdiag audit-tokenizer out/meta.pkl --article-words the,a
    """
    from tsdiag.checks import tokenizer as tokenizer_check
    from tsdiag.data.present import audit_tokenizer_report
    from tsdiag.data.tokenizer_audit import read_text
    from tsdiag.errors import InputError
    from tsdiag.tokenizer import load_tokenizer

    words = [w.strip() for w in article_words.split(",") if w.strip()]
    if not words:
        raise InputError("--article-words", "needs at least one word")
    tok = load_tokenizer(tokenizer)
    body = read_text(text) if text is not None else None
    try:
        check = tokenizer_check.run(tok, thresholds=out.thresholds(), text=body,
                                    text_source=str(text) if text is not None else None, words=words)
    except ValueError as exc:
        raise InputError("--article-words", str(exc)) from None
    emit([audit_tokenizer_report(check.facts, check.findings)], out)
