"""Secrets scrubbed from entries before they are sent to a model. Pure.

The patterns are bot.redaction's, the same ones the log filter uses (Slack, GitHub and
Linear tokens, OpenAI/Stripe/Google API keys, AWS access keys, JWTs, bearer and
Authorization credentials, private key blocks, `password=…`-style assignments, passwords in
connection URLs), plus the app's own secret values (Settings.secrets(): its Slack tokens,
signing secret, web secret, the model's API key). Scrubbing happens before an entry's text
is cut to its bound, so half a secret can't survive the cut.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.redaction import SECRET_PATTERNS, redact_literals

__all__ = ["scrub"]


def scrub(text: str, *, literals: Iterable[str] = ()) -> tuple[str, int]:
    """`text` without secrets, and how many were replaced (for the logs' counts)."""
    literal_list = [s for s in literals if s and len(s) >= 6]
    count = sum(text.count(s) for s in literal_list)
    text = redact_literals(text, literal_list)
    for secret in SECRET_PATTERNS:
        text, replaced = secret.pattern.subn(secret.replacement, text)
        count += replaced
    return text, count
