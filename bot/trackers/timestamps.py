"""Trackers' timestamp formats, read as aware UTC datetimes. Pure."""

from __future__ import annotations

import re
from datetime import UTC, datetime

# Jira writes "2024-05-01T12:30:00.000+0000"; GitLab's webhooks "2024-05-01 12:30:00 UTC";
# Jira's X-RateLimit-Reset "2024-05-01T12:31Z".
_COMPACT_OFFSET = re.compile(r"([+-]\d{2})(\d{2})$")


def parse_timestamp(raw: str) -> datetime:
    """An ISO 8601 timestamp (with Z, +00:00, +0000 or " UTC") as an aware UTC datetime.
    Raises ValueError for anything else."""
    text = raw.strip()
    if text.endswith(" UTC"):
        text = text[:-4] + "+00:00"
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    text = _COMPACT_OFFSET.sub(r"\1:\2", text)
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {raw!r}")
    return value.astimezone(UTC)


def iso_z(value: datetime) -> str:
    """ISO 8601 in UTC with a Z, as GitHub and Linear take it ("2024-05-01T12:30:00Z")."""
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + (f".{utc.microsecond // 1000:03d}Z" if utc.microsecond else "Z")
