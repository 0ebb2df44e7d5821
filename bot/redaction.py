"""What a secret looks like in text, defined once: the log filter (bot.logs) and the AI
drafts' scrubbing (bot.drafting.scrub) both replace these, so a pattern added here protects
both. Pure: regular expressions and one function, no I/O.

Each pattern says what it matches and what replaces it. Where a secret is the value of a
named field (`password=…`, a connection URL's password), the name stays and only the value
goes, so the reader still sees that a password was there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["SECRET_PATTERNS", "SLACK_TOKEN_PATTERN", "SecretPattern", "redact_literals", "redact_secrets"]


@dataclass(frozen=True)
class SecretPattern:
    name: str
    pattern: re.Pattern[str]
    # A replacement template for `pattern.sub`: may keep groups (the field's name) around the
    # redacted value.
    replacement: str


# Slack tokens of every kind: bot (xoxb-), user (xoxp-), app-level (xapp-), legacy and
# refresh/config tokens (xoxa-, xoxo-, xoxs-, xoxe-, xoxr-).
SLACK_TOKEN_PATTERN = re.compile(r"\bx(?:ox[abposer]|app)-[A-Za-z0-9-]+")

SECRET_PATTERNS: tuple[SecretPattern, ...] = (
    # A PEM private key block, whole (or from BEGIN to the end of the text when cut short).
    SecretPattern("private_key", re.compile(
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----(?:.*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|.*\Z)", re.DOTALL),
        "[redacted-private-key]"),
    SecretPattern("slack_token", SLACK_TOKEN_PATTERN, "[redacted-token]"),
    SecretPattern("github_token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"), "[redacted-token]"),
    SecretPattern("linear_key", re.compile(r"\blin_(?:api|oauth)_[A-Za-z0-9]{20,}"), "[redacted-token]"),
    # OpenAI-style keys (sk-…, sk-proj-…) and Stripe secret/restricted keys.
    SecretPattern("api_key", re.compile(r"\b(?:sk-(?:proj-|svcacct-)?[A-Za-z0-9_-]{20,}|[sr]k_(?:live|test)_[A-Za-z0-9]{16,})"),
                  "[redacted-token]"),
    SecretPattern("google_api_key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}"), "[redacted-token]"),
    # AWS access key ids; their secret keys are caught as `aws_secret_access_key=…` below.
    SecretPattern("aws_access_key", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b"), "[redacted-aws-key]"),
    # A JSON Web Token: three base64url parts, the first two JSON objects ("eyJ" = '{"').
    SecretPattern("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), "[redacted-jwt]"),
    # An Authorization header's credentials, and a bearer token written anywhere (20+ characters,
    # so "bearer of bad news" stays).
    SecretPattern("authorization", re.compile(r"\b(Authorization\s*[:=]\s*)(?!\[redacted)(?:[A-Za-z]+\s+)?[^\s,;]+", re.IGNORECASE),
                  r"\1[redacted]"),
    SecretPattern("bearer", re.compile(r"\b(Bearer)\s+(?!\[redacted)[A-Za-z0-9._~+/=-]{20,}", re.IGNORECASE), r"\1 [redacted]"),
    # scheme://user:password@host: the password goes, the rest of the URL stays readable.
    SecretPattern("url_password", re.compile(r"\b([a-z][a-z0-9+.-]*://[^\s:/@]+:)[^\s@/]+(@)", re.IGNORECASE),
                  r"\1[redacted]\2"),
    # password=…, "api_key": "…", secret: …, AWS_SECRET_ACCESS_KEY=… (the value up to a space,
    # or the whole quoted value).
    SecretPattern("assignment", re.compile(
        r"""(\b(?:[A-Za-z0-9]+[_-])*(?:password|passwd|pwd|passphrase|secret|token|api[_-]?key|access[_-]?key|"""
        r"""private[_-]?key|client[_-]?secret|secret[_-]?access[_-]?key)["']?\s*[:=]\s*)(?!\[redacted)("[^"]*"|'[^']*'|[^\s"',;]+)""",
        re.IGNORECASE), r"\1[redacted]"),
)


def redact_secrets(text: str) -> str:
    """`text` with every SECRET_PATTERNS match replaced."""
    for secret in SECRET_PATTERNS:
        text = secret.pattern.sub(secret.replacement, text)
    return text


def redact_literals(text: str, literals: Iterable[str]) -> str:
    """`text` with each known secret value (the app's own tokens, from Settings.secrets())
    replaced; values shorter than 6 characters are skipped, as they would match ordinary words."""
    for literal in literals:
        if literal and len(literal) >= 6:
            text = text.replace(literal, "[redacted]")
    return text
