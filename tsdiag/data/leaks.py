"""Train/val leaks and repeated stories: whole stories (and packed windows) hashed across the splits.

A validation split that holds training stories measures memory, not generalisation: its loss looks
fine while the model is not, and every later decision made from it (best checkpoint, early stopping)
is wrong. Stories are cut at the separator id the trainer puts between them (llama2.c: BOS 1 before
each story; nanoGPT/GPT-2: ``<|endoftext|>`` after each), so a story is found wherever it sits, not
only when two files happen to be packed into the same windows.

Which files are val: ``--val``, or the trainers' own conventions - llama2.c's ``train.py`` uses the
first of the sorted shards as val, nanoGPT reads ``val.bin`` beside ``train.bin``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from tsdiag.data.shards import expand_paths, open_sources

LLAMA2C_BOS = 1        # llama2.c's pretokenize puts BOS (id 1) before every story
GPT2_EOT = 50256       # nanoGPT's prepare.py appends <|endoftext|> (50256) after every document


@dataclass(frozen=True)
class Splits:
    train: tuple[Path, ...]
    val: tuple[Path, ...]
    how: str               # "--val", or the trainer convention that named the val files


@dataclass(frozen=True)
class SplitFacts:
    """What the train and val splits share, and how often training stories repeat."""

    splits: Splits
    separator: int | None
    separator_source: str
    min_story_tokens: int
    train_stories: int
    val_stories: int
    val_stories_in_train: int
    val_example: tuple[str, int] | None          # (val file, token offset) of the first leaked story
    train_repeats: int                           # training stories that repeat an earlier one
    repeat_example: tuple[tuple[str, int], tuple[str, int]] | None
    seq_len: int
    val_windows: int
    val_windows_in_train: int
    skipped: str | None = None                   # why stories were not compared (one line), else None

    @property
    def val_leak_share(self) -> float | None:
        return self.val_stories_in_train / self.val_stories if self.val_stories else None

    @property
    def repeat_share(self) -> float | None:
        return self.train_repeats / self.train_stories if self.train_stories else None

    def to_dict(self) -> dict:
        return {
            "train": [str(p) for p in self.splits.train], "val": [str(p) for p in self.splits.val],
            "how": self.splits.how, "separator": self.separator, "separator_source": self.separator_source,
            "min_story_tokens": self.min_story_tokens, "train_stories": self.train_stories,
            "val_stories": self.val_stories, "val_stories_in_train": self.val_stories_in_train,
            "val_leak_share": self.val_leak_share,
            "val_example": None if self.val_example is None else {"file": self.val_example[0],
                                                                   "offset": self.val_example[1]},
            "train_repeated_stories": self.train_repeats, "train_repeat_share": self.repeat_share,
            "seq_len": self.seq_len, "val_windows": self.val_windows,
            "val_windows_in_train": self.val_windows_in_train, "skipped": self.skipped,
        }


def resolve_splits(paths: Sequence, val: Sequence | None, layout: str) -> Splits | None:
    """The train and val files: ``val`` when given, else llama2.c's or nanoGPT's convention, else None."""
    files = expand_paths(paths)
    if val:
        return Splits(tuple(files), tuple(expand_paths(val)), "--val")
    bins = [p for p in files if p.suffix == ".bin"]
    if layout == "nanogpt":
        for p in bins:
            sibling = p.with_name("val.bin")
            if p.name == "train.bin" and sibling.is_file() and sibling not in files:
                return Splits(tuple(files), (sibling,), "nanoGPT: val.bin beside train.bin")
    folders = {p.parent for p in bins}
    if layout == "llama2c" and len(bins) == len(files) and len(folders) == 1:
        shards = sorted(next(iter(folders)).glob("*.bin"))
        if len(shards) >= 2:   # train.py: shard_filenames[1:] if split == "train" else shard_filenames[:1]
            train = tuple(p for p in files if p != shards[0])
            return Splits(train, (shards[0],),
                          f"llama2.c: train.py validates on the first sorted shard of {shards[0].parent.name}/") \
                if train else None
    return None


def _separator(val_tokens: Sequence[np.ndarray], tokenizer, layout: str) -> tuple[int | None, str]:
    """The id between stories, or (None, why not).

    With a tokenizer: its BOS/EOS id that occurs in val (a char vocabulary has none: "<|endoftext|>" is spelled
    out in characters, and lines of real text recur across splits, so no other id stands in). Without one:
    llama2.c's BOS 1 when every val file starts with it (its pretokenize puts BOS before each story), GPT-2's
    50256 for nanoGPT's layout."""
    def occurs(sep: int) -> bool:
        return sum(int(np.count_nonzero(t == sep)) for t in val_tokens) >= 2

    if tokenizer is not None:
        for sep in tokenizer.separator_ids():
            if occurs(sep):
                return sep, f"{Path(str(tokenizer.path)).name}: BOS/EOS id"
        return None, f"{Path(str(tokenizer.path)).name} has no BOS/EOS id that occurs in the val files"
    if layout == "nanogpt":
        return (GPT2_EOT, "GPT-2's <|endoftext|> (no --tokenizer)") if occurs(GPT2_EOT) else (
            None, "no --tokenizer and no GPT-2 <|endoftext|> (50256) in the val files")
    if all(len(t) and t[0] == LLAMA2C_BOS for t in val_tokens) and occurs(LLAMA2C_BOS):
        return LLAMA2C_BOS, "llama2.c's BOS, which starts every val file (no --tokenizer)"
    return None, "no --tokenizer and the val files do not start with llama2.c's BOS (1)"


def _stories(tokens: np.ndarray, sep: int, min_tokens: int):
    """(offset, bytes) of every segment between separators of at least ``min_tokens`` tokens."""
    cuts = np.flatnonzero(tokens == sep)
    edges = np.concatenate(([0], cuts, [len(tokens)]))
    for a, b in zip(edges[:-1], edges[1:]):
        a = int(a) + (1 if a < len(tokens) and tokens[a] == sep else 0)
        if int(b) - a >= min_tokens:
            yield a, tokens[a:int(b)].tobytes()


def _windows(tokens: np.ndarray, seq_len: int):
    for a in range(0, len(tokens) - seq_len + 1, seq_len):
        yield tokens[a:a + seq_len].tobytes()


def split_facts(splits: Splits, *, tokenizer=None, layout: str = "llama2c", seq_len: int = 512,
                dtype: str = "uint16", min_story_tokens: int = 16, text_column: str = "text") -> SplitFacts:
    """Hash every story (and every ``seq_len`` window) of both splits; count val's that occur in train."""
    train = open_sources(splits.train, dtype=dtype, tokenizer=tokenizer, text_column=text_column)
    val = open_sources(splits.val, dtype=dtype, tokenizer=tokenizer, text_column=text_column)
    val_arrays = [(s, np.asarray(s.open())) for s in val]
    train_arrays = [(s, np.asarray(s.open())) for s in train]
    windows = {w for _, t in train_arrays for w in _windows(t, seq_len)}
    val_windows = [w for _, t in val_arrays for w in _windows(t, seq_len)]
    in_train = sum(w in windows for w in val_windows)
    del windows
    sep, sep_source = _separator([t for _, t in val_arrays], tokenizer, layout)
    base = dict(splits=splits, separator=sep, separator_source=sep_source, min_story_tokens=min_story_tokens,
                seq_len=seq_len, val_windows=len(val_windows), val_windows_in_train=in_train)
    if sep is None:
        return SplitFacts(**{**base, "separator_source": ""}, train_stories=0, val_stories=0, val_stories_in_train=0,
                          val_example=None, train_repeats=0, repeat_example=None,
                          skipped=f"stories not compared: {sep_source}")
    seen: dict[bytes, tuple[str, int]] = {}
    repeats, repeat_example, train_count = 0, None, 0
    for source, tokens in train_arrays:
        for offset, story in _stories(tokens, sep, min_story_tokens):
            train_count += 1
            first = seen.setdefault(story, (str(source.path), offset))
            if first != (str(source.path), offset):
                repeats += 1
                repeat_example = repeat_example or (first, (str(source.path), offset))
    leaked, val_count, example = 0, 0, None
    for source, tokens in val_arrays:
        for offset, story in _stories(tokens, sep, min_story_tokens):
            val_count += 1
            if story in seen:
                leaked += 1
                example = example or (str(source.path), offset)
    return SplitFacts(**base, train_stories=train_count, val_stories=val_count, val_stories_in_train=leaked,
                      val_example=example, train_repeats=repeats, repeat_example=repeat_example)
