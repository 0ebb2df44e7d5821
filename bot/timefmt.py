"""Times and durations as people read them, and as exports write them. Pure.

Two forms of an instant, for two readers:
- `format_utc`: "2026-11-20 14:23:05 UTC", for people (Slack replies, drafts, the web view);
- `iso_utc`: "2026-11-20T14:23:05Z", ISO-8601 for programs (exports, JSON), microseconds kept.
Block Kit, the web view, insights and the postmortem all format through here.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

UTC = UTC
DASH = "—"


def as_utc(value: datetime) -> datetime:
    # Facts are documented as aware UTC; a naive value is treated as UTC
    # rather than as server-local time, which would silently shift it.
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def opt_utc(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


def ymd(value: datetime | date) -> str:
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"


def hms(value: datetime) -> str:
    return f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}"


def format_utc(value: datetime | None) -> str:
    """``2026-11-20 14:23:05 UTC``; an em dash for None."""
    if value is None:
        return DASH
    value = as_utc(value)
    return f"{ymd(value)} {hms(value)} UTC"


def format_local(value: datetime | None, tz: ZoneInfo) -> str:
    """``2026-11-20 09:23 EST`` in *tz*; an em dash for None."""
    if value is None:
        return DASH
    local = as_utc(value).astimezone(tz)
    return f"{ymd(local)} {local.hour:02d}:{local.minute:02d} {local.tzname() or tz.key}"


def format_duration(seconds: float | None) -> str:
    """Seconds as a short human duration: ``45 s``, ``7 min``, ``1 h 07 min``,
    ``2 d 3 h 05 min``; an em dash when unknown.

    Anything of a minute or more is rounded to the whole minute because
    postmortem readers compare phases, not seconds.
    """
    if seconds is None:
        return DASH
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 60:
        return f"{sign}{round(seconds)} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{sign}{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{sign}{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{sign}{days} d {hours} h {minutes:02d} min"


def iso_utc(dt: datetime) -> str:
    """ISO-8601 in UTC with a "Z": "2015-10-21T14:54:00Z" or "...00.000100Z"."""
    if not isinstance(dt, datetime) or dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("dt must be a timezone-aware datetime")
    u = dt.astimezone(UTC)
    # Built by hand rather than with strftime because %Y does not zero-pad
    # years before 1000 on glibc, which would break the round trip.
    base = (
        f"{u.year:04d}-{u.month:02d}-{u.day:02d}"
        f"T{u.hour:02d}:{u.minute:02d}:{u.second:02d}"
    )
    return f"{base}.{u.microsecond:06d}Z" if u.microsecond else f"{base}Z"
