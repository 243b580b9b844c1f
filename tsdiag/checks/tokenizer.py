"""The tokenizer check (``tsdiag audit-tokenizer``): does the vocabulary keep articles as words."""

from __future__ import annotations

from tsdiag.checks.interface import CheckResult
from tsdiag.thresholds import Thresholds

NAME = "tokenizer"
COMMAND = "audit-tokenizer"


def run(tokenizer, *, thresholds: Thresholds, text: str | None = None, text_source: str | None = None,
        words=None) -> CheckResult:
    from tsdiag.data.rules import tokenizer_findings
    from tsdiag.data.tokenizer_audit import audit_tokenizer

    kwargs = {"words": list(words)} if words else {}
    facts = audit_tokenizer(tokenizer, text, text_source=text_source, **kwargs)
    # a tokenizer alone measures no hypothesis: how it splits articles matters only through the data
    return CheckResult(NAME, str(tokenizer.path), facts, tokenizer_findings(facts, thresholds))
