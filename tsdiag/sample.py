"""Generate stories from a checkpoint and measure how often they use articles.

This is the symptom users start from ("once upon time there was little
girl"), measured the same way as the reference: article words ("a", "an",
"the") among words, where a word is a run of letters — the unit of
``tsdiag.reference.TINYSTORIES_ARTICLE_LETTER_RUN_RATE``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Sequence

from tsdiag.reference import TINYSTORIES_ARTICLE_LETTER_RUN_RATE, ReferenceFigure
from tsdiag.sample_text import Repetition, distinct_samples, repetition
from tsdiag.tokenizer import ARTICLE_WORDS

DEFAULT_PROMPT = "Once upon a time there was"
_WORD = re.compile(r"[^\W\d_]+")


def article_pattern(words: Sequence[str] = ARTICLE_WORDS) -> str:
    """A regex matching the article words as whole words, any case."""
    return r"(?i)(?<![^\W\d_])(?:" + "|".join(re.escape(w) for w in words) + r")(?![^\W\d_])"


@dataclass
class SampleFacts:
    checkpoint: str
    tokenizer: str
    prompt: str
    samples: list[str]               # generated continuations (prompt excluded)
    words: int
    article_words: int
    samples_without_article: int
    settings: dict = field(default_factory=dict)
    reference: ReferenceFigure = TINYSTORIES_ARTICLE_LETTER_RUN_RATE
    article_words_set: tuple[str, ...] = ARTICLE_WORDS

    @property
    def rate(self) -> float | None:
        """Article words per word of generated text."""
        return self.article_words / self.words if self.words else None

    @property
    def share_without_article(self) -> float:
        return self.samples_without_article / len(self.samples) if self.samples else 0.0

    @cached_property
    def repetition(self) -> Repetition:
        """Repeated 4-grams, distinct-1/2 and the longest loop of the distinct samples."""
        return repetition(self.samples)

    @property
    def distinct(self) -> list[int]:
        """Indices of the distinct samples: greedy decoding gives ``n`` copies of one text, shown once."""
        return distinct_samples(self.samples)


def count_words(text: str, articles: Sequence[str] = ARTICLE_WORDS) -> tuple[int, int]:
    """(words, article words) of ``text``; words are runs of letters."""
    wanted = {a.lower() for a in articles}
    words = _WORD.findall(text)
    return len(words), sum(w.lower() in wanted for w in words)


def article_counts(samples: Sequence[str], articles: Sequence[str] = ARTICLE_WORDS) -> tuple[int, int, int]:
    """(words, article words, samples without an article) over ``samples``."""
    words = found = empty = 0
    for text in samples:
        w, a = count_words(text, articles)
        words, found, empty = words + w, found + a, empty + (a == 0)
    return words, found, empty


def reference_from_text(path: str | Path, articles: Sequence[str] = ARTICLE_WORDS) -> ReferenceFigure:
    """The article rate of the user's own text (e.g. the training stories), in the unit samples are measured in."""
    from tsdiag.errors import InputError

    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(path, f"reference text is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise InputError(path, f"cannot read reference text: {exc.strerror or exc}") from None
    words, article_words = count_words(text, articles)
    if not words:
        raise InputError(path, "reference text has no words")
    return ReferenceFigure(article_words / words, "article words / words (letter runs)",
                          f"{Path(path).name}: {article_words:,} of {words:,} words")


def generate(model, tokenizer, prompt: str, *, n: int, max_new_tokens: int, temperature: float,
             top_k: int | None, seed: int) -> list[str]:
    """``n`` continuations of ``prompt`` (batched; the context is cropped to the model's length)."""
    import torch

    torch.manual_seed(seed)
    ids = tokenizer.encode(prompt, bos=tokenizer.bos_id is not None)
    tokens = torch.tensor([ids] * n, dtype=torch.long)
    context = _context_length(model)
    eos = tokenizer.eos_id
    with torch.no_grad():
        for _ in range(max_new_tokens):
            # rows past the tokenizer (a padded vocabulary, e.g. nanoGPT's 50304) can never be decoded
            logits = model(tokens[:, -context:])[:, -1, : tokenizer.vocab_size].float()
            if temperature <= 0:
                nxt = logits.argmax(dim=-1, keepdim=True)
            else:
                logits = logits / temperature
                if top_k:
                    kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
                    logits = logits.masked_fill(logits < kth, float("-inf"))
                nxt = torch.multinomial(torch.softmax(logits, dim=-1), 1)
            tokens = torch.cat([tokens, nxt], dim=1)
    # Decode prompt + continuation together and cut the prompt's text off: decoding the
    # continuation alone would drop the space a word-initial piece ("▁a") carries.
    prefix = tokenizer.decode(ids)
    outputs = []
    for row in tokens[:, len(ids):].tolist():
        stop = [i for i, t in enumerate(row) if t is not None and t in (eos, tokenizer.bos_id)]
        text = tokenizer.decode(ids + (row[: stop[0]] if stop else row))
        outputs.append(text[len(prefix):] if text.startswith(prefix) else text)
    return outputs


def _context_length(model) -> int:
    config = model.config_dict()
    return int(config.get("max_seq_len") or config.get("block_size"))


_VOCAB_PADDING = 128   # embedding rows a trainer may add past the tokenizer (rounding up for speed), or up
                       # to the next power of two


def sample_checkpoint(checkpoint: str | Path, tokenizer_path: str | Path, *, prompt: str = DEFAULT_PROMPT,
                      n: int = 8, max_new_tokens: int = 200, temperature: float = 0.8, top_k: int | None = 200,
                      seed: int = 1337, n_heads: int | None = None,
                      article_words: Sequence[str] = ARTICLE_WORDS,
                      reference: ReferenceFigure | None = None) -> SampleFacts:
    """Load ``checkpoint`` with the reference model, generate, and count articles."""
    import torch

    from tsdiag.errors import InputError
    from tsdiag.model import model_from_checkpoint
    from tsdiag.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(tokenizer_path)
    model = model_from_checkpoint(checkpoint, n_heads=n_heads)
    vocab = model.config_dict()["vocab_size"]
    if vocab < tokenizer.vocab_size:
        raise InputError(tokenizer_path, f"tokenizer has {tokenizer.vocab_size:,} ids but the model only "
                                         f"{vocab:,}: not the tokenizer this model was trained with")
    padded = max(tokenizer.vocab_size + _VOCAB_PADDING, 1 << (tokenizer.vocab_size - 1).bit_length())
    if vocab > padded:  # nanoGPT pads 50,257 to 50,304, some round up to a power of two; more is another tokenizer
        raise InputError(tokenizer_path, f"tokenizer has {tokenizer.vocab_size:,} ids but the model "
                                         f"{vocab:,} rows: not the tokenizer this model was trained with")
    with torch.inference_mode():
        samples = generate(model, tokenizer, prompt, n=n, max_new_tokens=max_new_tokens,
                           temperature=temperature, top_k=top_k, seed=seed)
    words, articles, empty = article_counts(samples, article_words)
    settings = {"n": n, "max_new_tokens": max_new_tokens, "temperature": temperature, "top_k": top_k,
                "seed": seed}
    return SampleFacts(str(checkpoint), str(tokenizer_path), prompt, samples, words, articles, empty, settings,
                       reference=reference or TINYSTORIES_ARTICLE_LETTER_RUN_RATE,
                       article_words_set=tuple(article_words))
