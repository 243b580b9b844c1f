"""``tsdiag train-tokenizer``: a K-piece sentencepiece model the way llama2.c's ``train_vocab`` makes one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tsdiag.commands._common import OutputOptions, emit, report_command


@report_command
def train_tokenizer(
    texts: Annotated[list[str], typer.Argument(help="Training text: .txt stories, or jsonl/json/parquet/arrow with a text column (files, folders, globs).")],
    model: Annotated[Path, typer.Option("--model", "-m", help="Where to write the model (.model is added if missing).")],
    vocab_size: Annotated[int, typer.Option("--vocab-size", "-k", help="Pieces in the vocabulary (llama2.c trains 512 ... 32000).")] = 4096,
    text_column: Annotated[str, typer.Option("--text-column", help="Text column of jsonl/json/parquet/arrow inputs (llama2.c's TinyStories json: story).")] = "text",
    max_sentences: Annotated[int, typer.Option("--max-sentences", help="Train on at most this many lines, sampled by sentencepiece (0: all).")] = 0,
    threads: Annotated[Optional[int], typer.Option("--threads", help="Training threads (default: all cores).")] = None,
    *,
    out: OutputOptions,
) -> None:
    """Train a sentencepiece BPE vocabulary with llama2.c's recipe, then audit it for articles.

    Recipe (llama2.c tinystories.py train_vocab): BPE, byte fallback, digits split into single
    pieces, whitespace-only pieces allowed, identity normalization, full character coverage.

    Examples:

      tsdiag train-tokenizer data/TinyStories-train.txt --vocab-size 4096 -m data/tok4096.model

      tsdiag train-tokenizer 'data/TinyStories_all_data/data0*.json' --text-column story -k 512 -m tok512
    """
    from tsdiag.data.present import audit_tokenizer_json
    from tsdiag.data.rules import tokenizer_findings
    from tsdiag.data.tokenizer_audit import audit_tokenizer
    from tsdiag.findings import format_value
    from tsdiag.report import Report, key_value_table
    from tsdiag.tokenizer import load_tokenizer
    from tsdiag.tokenizer_train import train_sentencepiece

    trained = train_sentencepiece(texts, model, vocab_size=vocab_size, text_column=text_column,
                                  max_sentences=max_sentences, threads=threads)
    tok = load_tokenizer(trained.model)
    facts = audit_tokenizer(tok, "\n".join(trained.sample), text_source=f"first {len(trained.sample)} training stories")
    findings = tokenizer_findings(facts, out.thresholds())
    rows = [
        ("model", str(trained.model)),
        ("pieces", format_value(tok.vocab_size)),
        ("trained on", f"{format_value(trained.stories)} stories, {format_value(trained.lines)} lines, "
                       f"{format_value(trained.chars)} characters"),
        ("seconds", f"{trained.seconds:.1f}"),
        ("article pieces", ", ".join(repr(p) for p in facts.article_pieces) or "none"),
        ("naive / word-level articles on the sample",
         f"{facts.naive_article_tokens} / {facts.articles_in_tokens}"),
        ("bytes per token on the sample", f"{facts.bytes_per_token:.2f}"),
    ]
    data = {"model": str(trained.model), "vocab_size": tok.vocab_size, "stories": trained.stories,
            "lines": trained.lines, "chars": trained.chars, "seconds": trained.seconds,
            "audit": audit_tokenizer_json(facts)}
    emit([Report(command="train-tokenizer", title=f"train-tokenizer: {trained.model.name}",
                 tables=[key_value_table("Trained tokenizer", rows)], findings=findings, data=data)], out)
