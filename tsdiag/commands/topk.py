"""``tsdiag topk``: remap token shards to their K most frequent ids."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tsdiag.commands._common import OutputOptions, emit, report_command


@report_command
def topk(
    shards: Annotated[list[str], typer.Argument(help="Token shards to count (files, folders, globs; any kind audit-data reads).")],
    k: Annotated[int, typer.Option("--k", "-k", help="Vocabulary size to keep (special ids and the fallback included).")] = 10000,
    tokenizer: Annotated[Optional[Path], typer.Option("--tokenizer", "-t", help="Tokenizer of the shards: its BOS/EOS/UNK are kept, pieces go into the map.")] = None,
    vocab_size: Annotated[Optional[int], typer.Option("--vocab-size", help="Old vocabulary size (default: the tokenizer's).")] = None,
    dtype: Annotated[str, typer.Option("--dtype", help="Token type of .bin inputs: uint16, uint32, int32 or int64.")] = "uint16",
    text_column: Annotated[str, typer.Option("--text-column", help="Text column of jsonl/json/parquet/arrow inputs.")] = "text",
    write_map_to: Annotated[Optional[Path], typer.Option("--map", help="Write the mapping here (.json; the .npy lookup table goes beside it).")] = None,
    rewrite: Annotated[Optional[Path], typer.Option("--rewrite", help="Rewrite every input into this folder (created if missing) as remapped .bin shards (uint16 when K <= 65536).")] = None,
    workers: Annotated[int, typer.Option("--workers", "-j", help="Processes counting shards in parallel.")] = 1,
    *,
    out: OutputOptions,
) -> None:
    """Count ids in the shards, keep the top K (plus BOS/EOS/UNK), map the rest to one fallback id.

    Reports the share of tokens kept at K; optionally writes the map (JSON + .npy lookup
    table, new = table[old]) and rewritten shards (streamed, atomic writes).

    Examples:

      tsdiag topk 'data/TinyStories_all_data/*.bin' -t tokenizer.model --k 10000

      tsdiag topk data/*.bin -t tokenizer.model --k 8192 --map top8k.json --rewrite data/top8k/
    """
    import tempfile

    from tsdiag.data.audit import audit_shards
    from tsdiag.data.shards import expand_paths, open_sources
    from tsdiag.data.rules import dtype_findings
    from tsdiag.data.topk import build_topk, check_k, rewrite_source, write_map
    from tsdiag.errors import InputError
    from tsdiag.findings import format_value
    from tsdiag.report import Report, key_value_table
    from tsdiag.tokenizer import load_tokenizer

    tok = load_tokenizer(tokenizer) if tokenizer is not None else None
    old_vocab = vocab_size if vocab_size is not None else (tok.vocab_size if tok is not None else None)
    if old_vocab is None:
        raise InputError("--vocab-size", "pass --tokenizer or --vocab-size (the old vocabulary size)")
    check_k(k, old_vocab)
    if rewrite is not None:
        if rewrite.exists() and not rewrite.is_dir():
            raise InputError(rewrite, "--rewrite needs a folder; this is a file")
        if not rewrite.exists() and not rewrite.parent.is_dir():
            raise InputError(rewrite, "--rewrite folder's parent does not exist")
        # checked before anything is written: the map must not appear when the rewrite is refused
        inputs = expand_paths(shards)
        targets = [rewrite / (path.stem + ".bin") for path in inputs]
        for target in targets:
            if target.resolve() in {path.resolve() for path in inputs}:
                raise InputError(target, "--rewrite would overwrite an input shard; choose another folder")
        if len(set(targets)) < len(targets):
            raise InputError(rewrite, "two inputs share a file name; rewrite them into separate folders")
    if write_map_to is not None:
        from tsdiag.fileio import check_output_target

        check_output_target(write_map_to)
    # counting goes through the audit (text inputs are tokenized there; no article scan needed)
    result = audit_shards(shards, tokenizer=tok, articles=False, vocab_size=old_vocab, dtype=dtype,
                          text_column=text_column, workers=workers, layout="contiguous",
                          thresholds=out.thresholds())
    # a map built from ids the vocabulary does not have, or from a misread file, would be silently wrong
    if result.integrity.out_of_range_ids:
        first = result.integrity.out_of_range_first
        where = first[0] if first else ", ".join(shards)
        raise InputError(where, f"{result.integrity.out_of_range_ids:,} ids at or past the vocabulary size "
                                f"{old_vocab:,} (largest {result.integrity.max_id:,}); wrong --dtype, --tokenizer "
                                "or --vocab-size?")
    misread = dtype_findings(result, out.thresholds())
    if misread:  # half the "tokens" would be zero halves of 32-bit ids: the map and rewrite would be garbage
        raise InputError(", ".join(shards), f"{misread[0].message}; {misread[0].fix}")
    if result.integrity.odd_byte_files:
        where, trailing = result.integrity.odd_byte_files[0]
        raise InputError(where, f"{trailing} byte(s) after its last whole {dtype} token: truncated, or another --dtype?")
    keep = tok.separator_ids() if tok is not None else []
    mapping = build_topk(result.counts, k, vocab_size=old_vocab, keep=keep, unk_id=tok.unk_id if tok else None)

    rows = [
        ("tokens counted", format_value(result.scanned_tokens)),
        ("old vocabulary", format_value(old_vocab)),
        ("new vocabulary (K)", format_value(mapping.k)),
        ("tokens kept as themselves", f"{100 * mapping.coverage:.3f}%"),
        ("tokens sent to the fallback", format_value(mapping.dropped_tokens)),
        ("fallback id", f"{mapping.fallback} ({'the tokenizer unknown token' if mapping.fallback_is_unk else 'a new last id'})"),
    ]
    data = {"tokens": result.scanned_tokens, "old_vocab_size": old_vocab, "k": mapping.k, "coverage": mapping.coverage,
            "dropped_tokens": mapping.dropped_tokens, "fallback": mapping.fallback,
            "fallback_is_unk": mapping.fallback_is_unk, "kept_special_ids": keep, "map": None, "lookup_table": None,
            "rewritten": []}
    if write_map_to is not None:
        json_path, npy_path = write_map(mapping, write_map_to, tok.pieces() if tok is not None else None)
        rows.append(("map", f"{json_path} + {npy_path.name}"))
        data["map"], data["lookup_table"] = str(json_path), str(npy_path)
    if rewrite is not None:
        rewrite.mkdir(exist_ok=True)  # every check has passed: the folder is the first thing written
        with tempfile.TemporaryDirectory(prefix="tsdiag-topk-") as workdir:
            sources = open_sources(shards, dtype=dtype, tokenizer=tok, text_column=text_column, workdir=Path(workdir))
            for source, target in zip(sources, targets):
                rewrite_source(mapping, source, target)
                data["rewritten"].append({"source": str(source.path), "target": str(target), "tokens": source.tokens})
        rows.append(("rewritten shards", f"{len(sources)} into {rewrite} ({mapping.dtype})"))
    report = Report(command="topk", title=f"topk: K={mapping.k}", tables=[key_value_table("Top-K vocabulary", rows)],
                    data=data)
    emit([report], out)

