"""Published and measured reference figures, each with its source.

Rules compare a user's numbers against these; reports quote the source next
to the number so a reader can check it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReferenceFigure:
    value: float
    unit: str
    source: str


@dataclass(frozen=True)
class PublishedModel:
    """One row of llama2.c's README table of TinyStories models."""

    name: str
    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    max_seq_len: int
    vocab_size: int
    val_loss: float


LLAMA2C_SOURCE = "karpathy/llama2.c README, models table (TinyStories)"

# llama2.c's published TinyStories models: even the 15M model with the 32K
# Llama 2 vocabulary reaches val loss 1.072 and writes fluent stories, which is
# why a large vocabulary is a contributing factor, not a cause.
LLAMA2C_MODELS = (
    PublishedModel("stories260K", 64, 5, 8, 4, 512, 512, 1.297),
    PublishedModel("stories15M", 288, 6, 6, 6, 256, 32000, 1.072),
    PublishedModel("stories42M", 512, 8, 8, 8, 1024, 32000, 0.847),
    PublishedModel("stories110M", 768, 12, 12, 12, 1024, 32000, 0.760),
)

# Word-level article rate ("a", "an", "the" among lower-cased,
# punctuation-stripped, whitespace-split words) of real TinyStories text,
# measured on the excerpts in shared/data (see its PROVENANCE.md, 2026-11-23).
TINYSTORIES_ARTICLE_WORD_RATE = ReferenceFigure(
    value=0.0951,
    unit="share of words",
    source="252 real TinyStories stories (37,720 words), measured 2026-11-23",
)
TINYSTORIES_ARTICLE_WORD_RATE_P5_512 = ReferenceFigure(
    value=0.0645,
    unit="share of words, 5th percentile over 512-word windows",
    source="252 real TinyStories stories (37,720 words), measured 2026-11-23",
)

# The TinyStories paper trains its models with the GPT-Neo tokenizer cut to
# the 10K most frequent tokens.
TINYSTORIES_TOPK_VOCAB = ReferenceFigure(
    value=10_000,
    unit="tokens",
    source="Eldan & Li 2023, TinyStories (top-10K GPT-Neo tokens)",
)

# --- measured by tsdiag's own word-level article scan (tsdiag.data.articles) --------------
# Words here are runs of letters (so "Lily's" is two words, "12" none): the same
# unit ``tsdiag audit-data`` reports as ``articles.word_rate``, which does not
# depend on the tokenizer.  This is the built-in reference of ``audit-data``.
_SCAN_SOURCE = ("tsdiag audit-data --layout contiguous --seq-len 512 on shared/data/tinystories/"
                "mini_gpt_stories.txt (252 real TinyStories stories), measured 2026-11-26")
TINYSTORIES_ARTICLE_LETTER_RUN_RATE = ReferenceFigure(
    value=0.0936,  # 3,588 article words of 38,314 letter-run words
    unit="article words / words (letter runs)",
    source=_SCAN_SOURCE,
)
# Token-level rates depend on the tokenizer: the share of tokens that belong to
# an article word, and the naive share (every id whose piece is an article).
LLAMA2_ARTICLE_TOKEN_RATE = ReferenceFigure(
    value=0.0702,  # 3,588 article tokens of 51,113 (BOS per story); naive 0.0708 (1.01x the words)
    unit="article tokens / tokens, Llama 2 32K sentencepiece tokenizer",
    source=_SCAN_SOURCE,
)
SP512_ARTICLE_TOKEN_RATE = ReferenceFigure(
    value=0.0392,  # 3,588 article tokens of 91,610; naive 0.0807 (2.06x the words)
    unit="article tokens / tokens, 512-piece sentencepiece BPE trained on the same stories' lines "
         "(tsdiag train-tokenizer's settings: byte fallback, digits split; `tsdiag train-tokenizer` on the whole "
         "file gives 3,837 of 92,273 = 4.16%, naive 7.71%, 1.98x)",
    source=_SCAN_SOURCE,
)
SP512_NAIVE_OVER_WORD = ReferenceFigure(
    value=2.06,  # 7,397 naive article-id tokens / 3,588 article words
    unit="naive article tokens per article word, 512-piece sentencepiece BPE",
    source=_SCAN_SOURCE,
)
