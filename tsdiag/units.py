"""Loss units: nats per token, and bits per byte (or per character) once the tokenizer is known.

A loss per token is not comparable across vocabularies: a 32K-piece token carries about twice the
text of a 512-piece one, so 2.0 nats/token is a weak model at 512 pieces and a decent one at 32K.
Bits per byte divides the text out: ``bits/byte = nats/token / ln 2 / (bytes per token)``. A
character-level model's tokens are characters, so its figure is bits per character.

Bytes per token is measured, never assumed: on the user's data when it is text (or shards the
tokenizer decodes), else on tsdiag's bundled story text, and the source says which.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

# How many bundled stories measure bytes per token when the user gave no text: enough for a figure
# stable to about 1%, few enough to tokenize in well under a second.
REFERENCE_STORIES = 300


@dataclass(frozen=True)
class BytesPerToken:
    """Average UTF-8 bytes of text per token of one tokenizer, and where that was measured."""

    value: float
    source: str
    per_character: bool = False  # a char-level vocabulary: the per-byte figure is per character

    @property
    def unit(self) -> str:
        return "bits/char" if self.per_character else "bits/byte"

    def to_dict(self) -> dict:
        return {"bytes_per_token": self.value, "source": self.source, "unit": self.unit}


def bits_per_byte(nats_per_token: float, bytes_per_token: BytesPerToken) -> float:
    """Convert a loss in nats/token to bits per byte (per character for a char-level vocabulary)."""
    return nats_per_token / math.log(2) / bytes_per_token.value


def measure_bytes_per_token(tokenizer, text: str, source: str) -> BytesPerToken | None:
    """Bytes per token of ``tokenizer`` on ``text`` (None for empty text)."""
    ids = tokenizer.encode(text)
    if not ids:
        return None
    per_character = getattr(tokenizer, "kind", "") == "char"
    unit_size = len(text) if per_character else len(text.encode("utf-8"))
    return BytesPerToken(unit_size / len(ids), source, per_character)


@functools.lru_cache(maxsize=1)
def _reference_text() -> str:
    """The bundled stories, generated once per process (every check that lacks the user's text asks)."""
    from tsdiag.demo.storygen import corpus_text, generate_corpus

    return corpus_text(generate_corpus(REFERENCE_STORIES))


def reference_bytes_per_token(tokenizer) -> BytesPerToken | None:
    """Bytes per token on tsdiag's bundled story text (tsdiag/demo/storygen.py, no download)."""
    return measure_bytes_per_token(tokenizer, _reference_text(), f"{tokenizer.path.name} on tsdiag's bundled story text "
                                                    f"({REFERENCE_STORIES} stories)")


def loss_evidence(name: str, nats: float, source: str, bpt: BytesPerToken | None):
    """The evidence lines for one loss: nats/token, and bits per byte when bytes per token is known."""
    from tsdiag.findings import Evidence

    lines = [Evidence(name, nats, "nats/token", source)]
    if bpt is not None:
        lines.append(Evidence(f"{name} per {'character' if bpt.per_character else 'byte'}",
                              round(bits_per_byte(nats, bpt), 4), bpt.unit,
                              f"{source}; {bpt.value:.3g} {'chars' if bpt.per_character else 'bytes'}/token "
                              f"({bpt.source})"))
    return lines


@dataclass(frozen=True)
class LossLevel:
    """One loss judged against the high-loss threshold, in the best unit known."""

    value: float       # in ``unit``
    threshold: float   # in ``unit``
    unit: str          # "bits/byte", "bits/char" or "nats/token"
    threshold_name: str

    @property
    def high(self) -> bool:
        return self.value > self.threshold

    @property
    def over(self) -> float:
        """value / threshold: 1 at the threshold."""
        return self.value / self.threshold


def loss_level(nats_per_token: float, bytes_per_token: BytesPerToken | None, thresholds) -> LossLevel:
    """Judge a loss per byte when the tokenizer is known (``loss_high_bits_per_byte``), else per token."""
    if bytes_per_token is not None:
        return LossLevel(bits_per_byte(nats_per_token, bytes_per_token), thresholds.loss_high_bits_per_byte,
                         bytes_per_token.unit, "loss_high_bits_per_byte")
    return LossLevel(nats_per_token, thresholds.val_loss_high, "nats/token", "val_loss_high")
