"""How trainers cut a token stream into training windows: the one home of the layout names.

* ``llama2c`` — each shard on its own; window ``i`` starts at ``i * seq_len`` and reads ``seq_len + 1``
  tokens (inputs and shifted targets); llama2.c uses ``len // seq_len - 1`` windows per shard;
* ``nanogpt`` — each file on its own, windows of ``block_size + 1`` tokens; nanoGPT samples random
  starts, tiled here at multiples of ``seq_len``: ``(len - 1) // seq_len`` windows;
* ``contiguous`` — all inputs back to back, cut into ``len // seq_len`` windows (Hugging Face
  ``group_texts``; its labels are the inputs shifted inside the model, so a window is ``seq_len`` tokens).
"""

from __future__ import annotations

from typing import Literal

Layout = Literal["llama2c", "nanogpt", "contiguous"]
LAYOUTS: tuple[Layout, ...] = ("llama2c", "nanogpt", "contiguous")


def window_count(layout: Layout, tokens: int, seq_len: int) -> int:
    """Windows a trainer of ``layout`` cuts from ``tokens`` tokens (one file, or all of them for contiguous)."""
    if layout == "llama2c":
        return max(tokens // seq_len - 1, 0)
    if layout == "nanogpt":
        return max((tokens - 1) // seq_len, 0)
    return tokens // seq_len


def per_file(layout: Layout) -> bool:
    """Whether windows stay inside one file (llama2.c, nanoGPT) or run across files (contiguous)."""
    return layout != "contiguous"
