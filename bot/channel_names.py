"""Pure: the name of a declared incident's channel, from SCRIBE_CHANNEL_PATTERN and the title.

Slack's rules for conversations.create: lower case letters, digits, hyphens and
underscores, at most 80 characters, not only punctuation. Titles are folded to ASCII
(accents dropped: "Zahlungsausfall Köln" → "zahlungsausfall-koln") so names are easy to
type in every keyboard layout; anything else becomes a hyphen. A title with nothing left
("!!!", "支払い") falls back to FALLBACK_SLUG, and the reply says so.
"""

from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Final

MAX_CHANNEL_NAME: Final = 80
DEFAULT_PATTERN: Final = "inc-{date:%Y%m%d}-{slug}"
FALLBACK_SLUG: Final = "incident"
PLACEHOLDERS: Final = ("date", "slug", "severity")

_NOT_ALLOWED = re.compile(r"[^a-z0-9_-]+")
_RUNS = re.compile(r"-{2,}")


def slugify(title: str) -> str:
    """"Checkout returns 502 (EU)!" → "checkout-returns-502-eu"; "" when nothing usable is left."""
    folded = unicodedata.normalize("NFKD", title)
    ascii_only = "".join(c for c in folded if not unicodedata.combining(c)).encode("ascii", "ignore").decode()
    return _tidy(ascii_only.lower().replace("_", "-"))


def _tidy(name: str) -> str:
    name = _NOT_ALLOWED.sub("-", name.lower())
    return _RUNS.sub("-", name).strip("-_")


@dataclass(frozen=True)
class ChannelName:
    name: str
    # True when the title gave no usable characters and FALLBACK_SLUG stood in for it.
    fallback: bool


def pattern_problem(pattern: str) -> str | None:
    """Why SCRIBE_CHANNEL_PATTERN can't be used, or None."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None]
    except ValueError as error:
        return f"SCRIBE_CHANNEL_PATTERN is not a valid pattern ({error}); use e.g. {DEFAULT_PATTERN}."
    unknown = sorted({f.split(".")[0].split("[")[0] for f in fields} - set(PLACEHOLDERS))
    if unknown:
        return f"SCRIBE_CHANNEL_PATTERN has unknown placeholder(s) {', '.join('{' + u + '}' for u in unknown)}; use {{date:%Y%m%d}}, {{slug}} and {{severity}}."
    if "slug" not in fields:
        return f"SCRIBE_CHANNEL_PATTERN must contain {{slug}} (the title), e.g. {DEFAULT_PATTERN}."
    try:
        channel_name(pattern, title="x", severity="sev1", when=datetime(2026, 1, 15))
    except (ValueError, KeyError, IndexError, TypeError) as error:
        return f"SCRIBE_CHANNEL_PATTERN can't be filled in ({error}); use e.g. {DEFAULT_PATTERN}."
    return None


def channel_name(pattern: str, *, title: str, severity: str | None, when: datetime) -> ChannelName:
    """The channel name for a title, cut to Slack's 80 characters."""
    slug = slugify(title)
    fallback = not slug
    filled = pattern.format(date=when, slug=slug or FALLBACK_SLUG, severity=severity or "")
    name = _tidy(filled)[:MAX_CHANNEL_NAME].rstrip("-_")
    if not name.strip("-_"):
        name, fallback = FALLBACK_SLUG, True
    return ChannelName(name, fallback)


def with_suffix(name: str, n: int) -> str:
    """The n-th alternative for a taken name: "inc-x-2", "inc-x-3", … still within 80 characters."""
    if n <= 1:
        return name
    suffix = f"-{n}"
    return name[: MAX_CHANNEL_NAME - len(suffix)].rstrip("-_") + suffix
