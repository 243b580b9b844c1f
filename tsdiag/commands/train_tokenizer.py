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
    Stories are fed line by line, as llama2.c writes them to its training text.

    Examples:

      tsdiag train-tokenizer data/TinyStories-train.txt --vocab-size 4096 -m data/tok4096.model

      tsdiag train-tokenizer 'data/TinyStories_all_data/data0*.json' --text-column story -k 512 -m tok512
    """
    import io
    import os
    import time

    import sentencepiece as spm

    from tsdiag.data.present import audit_tokenizer_json
    from tsdiag.data.rules import tokenizer_findings
    from tsdiag.data.shards import expand_paths, iter_story_texts
    from tsdiag.data.tokenizer_audit import audit_tokenizer
    from tsdiag.errors import InputError
    from tsdiag.fileio import atomic_path
    from tsdiag.findings import format_value
    from tsdiag.report import Report, key_value_table
    from tsdiag.tokenizer import load_tokenizer

    if vocab_size < 260:
        raise InputError(str(vocab_size), "--vocab-size must be at least 260 (256 byte pieces + specials)")
    if model.suffix != ".model":
        model = model.with_name(model.name + ".model")
    if not model.parent.is_dir():
        raise InputError(model, f"output folder {model.parent} does not exist")
    paths = expand_paths(texts)
    counts = {"lines": 0, "stories": 0, "chars": 0}
    sample: list[str] = []

    def lines():
        for path in paths:
            for batch in iter_story_texts(path, text_column=text_column):
                for story in batch:
                    counts["stories"] += 1
                    if len(sample) < 200:
                        sample.append(story)
                    for line in story.strip().splitlines():
                        if line.strip():
                            counts["lines"] += 1
                            counts["chars"] += len(line)
                            yield line

    buffer = io.BytesIO()
    started = time.perf_counter()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=lines(), model_writer=buffer, model_type="bpe", vocab_size=vocab_size,
            self_test_sample_size=0, character_coverage=1.0, num_threads=threads or os.cpu_count() or 1,
            split_digits=True, allow_whitespace_only_pieces=True, byte_fallback=True,
            unk_surface=r" \342\201\207 ", normalization_rule_name="identity",
            input_sentence_size=max_sentences, shuffle_input_sentence=max_sentences > 0, minloglevel=2,
        )
    except RuntimeError as exc:
        raise InputError(", ".join(map(str, paths)), f"sentencepiece training failed ({str(exc).strip().splitlines()[-1]})") from None
    seconds = time.perf_counter() - started
    if counts["lines"] == 0:
        raise InputError(", ".join(map(str, paths)), "no text to train on")
    with atomic_path(model) as tmp:
        tmp.write_bytes(buffer.getvalue())

    tok = load_tokenizer(model)
    facts = audit_tokenizer(tok, "\n".join(sample), text_source=f"first {len(sample)} training stories")
    findings = tokenizer_findings(facts, out.thresholds())
    rows = [
        ("model", str(model)),
        ("pieces", format_value(tok.vocab_size)),
        ("trained on", f"{format_value(counts['stories'])} stories, {format_value(counts['lines'])} lines, "
                       f"{format_value(counts['chars'])} characters"),
        ("seconds", f"{seconds:.1f}"),
        ("article pieces", ", ".join(repr(p) for p in facts.article_pieces) or "none"),
        ("naive / word-level articles on the sample",
         f"{facts.naive_article_tokens} / {facts.articles_in_tokens}"),
        ("bytes per token on the sample", f"{facts.bytes_per_token:.2f}"),
    ]
    data = {"model": str(model), "vocab_size": tok.vocab_size, "stories": counts["stories"], "lines": counts["lines"],
            "chars": counts["chars"], "seconds": seconds, "audit": audit_tokenizer_json(facts)}
    emit([Report(command="train-tokenizer", title=f"train-tokenizer: {model.name}",
                 tables=[key_value_table("Trained tokenizer", rows)], findings=findings, data=data)], out)
