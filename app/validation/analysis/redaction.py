"""Credential values hidden from every text that leaves the analysis."""

from __future__ import annotations

from functools import lru_cache

from app.text import secret_shapes

_REDACTED = "[REDACTED]"


def redact(text: str) -> str:
    """The text with every credential value replaced by [REDACTED] (the shapes of
    app/secret_shapes.py); applied to each Finding.line_text, CI output and review
    hunks sent to the agent, so none of them carries a secret."""
    return secret_shapes.redact(text, _REDACTED, unquoted=True, keep_armour=True)


@lru_cache(maxsize=64)
def redacted_line(text: str) -> str:
    """redact(), once per line however many findings it has (a line of a dense PR has
    several, and redaction costs regex calls)."""
    return redact(text)
