"""Train a sentencepiece vocabulary with llama2.c's recipe (``tsdiag train-tokenizer``).

Recipe (llama2.c tinystories.py ``train_vocab``): BPE, byte fallback, digits
split into single pieces, whitespace-only pieces allowed, identity
normalization, full character coverage.  Stories are fed line by line, as
llama2.c writes them to its training text.
"""

from __future__ import annotations

import io
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from tsdiag.errors import InputError

MIN_VOCAB = 260  # 256 byte pieces + unk/bos/eos (+1)


@dataclass
class TrainedTokenizer:
    model: Path
    stories: int
    lines: int
    chars: int
    seconds: float
    sample: list[str] = field(default_factory=list)  # the first stories, for a quick audit


def train_sentencepiece(texts: Sequence[str | Path], model: str | Path, *, vocab_size: int = 4096,
                        text_column: str = "text", max_sentences: int = 0,
                        threads: int | None = None) -> TrainedTokenizer:
    """Train on ``texts`` (files, folders, globs) and write ``model`` (``.model`` added) atomically."""
    import sentencepiece as spm

    from tsdiag.data.shards import expand_paths, iter_story_texts
    from tsdiag.fileio import atomic_path

    if vocab_size < MIN_VOCAB:
        raise InputError("--vocab-size",
                         f"must be at least {MIN_VOCAB} (256 byte pieces + specials), got {vocab_size}")
    if max_sentences < 0 or 0 < max_sentences <= 100:  # sentencepiece refuses 1..100
        raise InputError("--max-sentences", f"must be 0 (all) or more than 100, got {max_sentences}")
    if threads is not None and threads < 1:
        raise InputError("--threads", f"must be at least 1, got {threads}")
    model = Path(model)
    if model.is_dir():  # not "folder.model" beside it: the user meant a place, we cannot guess the name
        raise InputError(model, "is a folder; give the model's file name (e.g. tok4096.model)")
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
        detail = str(exc).strip().splitlines()[-1]
        needed = re.search(r"smaller than required_chars\. (\d+) vs (\d+)", detail)
        if needed:  # sentencepiece's own advice names a trainer flag this command does not have
            raise InputError("--vocab-size", f"{needed.group(1)} is below the {needed.group(2)} pieces this text "
                                             "needs (256 bytes, specials and every distinct character); raise it")
        raise InputError(", ".join(map(str, paths)), f"sentencepiece training failed ({detail})") from None
    seconds = time.perf_counter() - started
    if counts["lines"] == 0:
        raise InputError(", ".join(map(str, paths)), "no text to train on")
    with atomic_path(model) as tmp:
        tmp.write_bytes(buffer.getvalue())
    return TrainedTokenizer(model, counts["stories"], counts["lines"], counts["chars"], seconds, sample)
