"""Pure parsing of the times and due dates people type into Slack.

Nothing in here reads the clock, the network or a database: every function that
needs "now" takes it as an argument, so the same input always gives the same
answer and the tests can pin down exact datetimes (including microseconds).

Two layers are kept apart on purpose:

* *recognising* a text (its shape, its zone name, the ranges of its numbers)
  needs no clock, so the command parser can use it to split "at 14:23 UTC db
  failover" into a time and a remark long before anyone knows the user's zone;
* *resolving* a recognised text into an instant needs ``now`` and a zone, and
  happens later in the service layer.

dateutil's fuzzy mode is deliberately never used: it happily turns "the 5
servers at 3" into a date. Every text is first matched against explicit
regexes, and only the pieces that matched are handed to dateutil.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import ClassVar, Final, Literal, TypeAlias
from zoneinfo import ZoneInfo, available_timezones

from dateutil import parser as du_parser
from dateutil.relativedelta import FR, MO, SA, SU, TH, TU, WE, relativedelta
from dateutil.relativedelta import weekday as RelativeWeekday

from bot.timefmt import iso_utc

__all__ = [
    "ACCEPTED_DUE_FORMS",
    "ACCEPTED_TIME_FORMS",
    "Due",
    "DueParseError",
    "TimeParseError",
    "check_due_shape",
    "check_moment_shape",
    "datetime_to_slack_ts",
    "explain_bad_time",
    "looks_like_due_start",
    "parse_due",
    "parse_moment",
    "slack_ts_to_datetime",
    "split_time_prefix",
]

UTC: Final = UTC
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

# Long inputs are never legitimate times; refusing them early also bounds the
# work every regex below can be asked to do.
_MAX_TEXT_LENGTH: Final = 200


ACCEPTED_TIME_FORMS: Final = """\
Times I understand:
  14:23   2:23pm   14:23:05          today in your time zone (yesterday if that is still to come)
  14:23 UTC   14:23 Europe/Berlin   14:23 +02:00
  2026-01-15 14:23 UTC   2026-01-15 14:23   jan 15 14:23 UTC
  2026-01-15T14:23:00+02:00   2026-01-15T14:23:00Z
  10m ago   10 min ago   2 hours ago   90s ago   1h30m ago
  yesterday 23:10   today 09:15   now
Zones are IANA names (Europe/Berlin, America/New_York), UTC, or offsets like +02:00."""

ACCEPTED_DUE_FORMS: Final = """\
Due dates I understand:
  2026-12-01   dec 1   1 dec   december 1st           (no year: the next one still to come)
  today   tomorrow   friday                          (a weekday: the next one after today)
  in 3 days   in 2 weeks   in 1 month   next week    (next week: its Monday)
  end of week / eow (Friday)   end of month / eom
Any of these may be followed by a time and zone:
  2026-12-01 17:00 UTC   friday 09:00 Europe/Berlin   tomorrow 17:00
Dates with slashes (12/01/2026) are refused because they read differently around the world."""


class TimeParseError(ValueError):
    """A user-typed time could not be understood or is not allowed.

    ``problem`` is the short, specific complaint; ``str(err)`` appends the
    accepted forms so the message can be shown to the user unchanged.
    """

    accepted_forms: ClassVar[str] = ACCEPTED_TIME_FORMS

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(f"{problem}\n\n{self.accepted_forms}")


class DueParseError(TimeParseError):
    """A user-typed due date could not be understood or lies in the past."""

    accepted_forms: ClassVar[str] = ACCEPTED_DUE_FORMS


@dataclass(frozen=True)
class Due:
    """When an action item is due.

    ``date`` is the calendar date in the zone the user meant; ``at`` is the
    exact instant (aware, UTC) when they also gave a time of day, else None.
    """

    date: date
    at: datetime | None


# ---------------------------------------------------------------------------
# Slack timestamps
# ---------------------------------------------------------------------------

# Slack's "ts" is seconds and microseconds as decimal text. Parsing the two
# halves as integers keeps all six digits exact, which a float cannot do for
# present-day timestamps (doubles hold ~16 significant digits; we need 16+).
_SLACK_TS_RE: Final = re.compile(r"([0-9]{1,12})(?:\.([0-9]{1,6}))?")


def slack_ts_to_datetime(ts: str) -> datetime:
    """Convert a Slack ``ts`` such as "1445439240.000100" to an aware UTC datetime."""
    if not isinstance(ts, str):
        raise ValueError(f"a Slack timestamp must be a string, not {type(ts).__name__}")
    match = _SLACK_TS_RE.fullmatch(ts)
    if match is None:
        raise ValueError(f"not a Slack timestamp: {ts!r}")
    seconds = int(match.group(1))
    # "1445439240.0001" means 100 µs: the fraction is a decimal fraction, so
    # pad on the right rather than reading "0001" as 1 µs.
    micros = int((match.group(2) or "").ljust(6, "0"))
    try:
        return _EPOCH + timedelta(seconds=seconds, microseconds=micros)
    except OverflowError as exc:
        raise ValueError(f"Slack timestamp out of range: {ts!r}") from exc


def datetime_to_slack_ts(dt: datetime) -> str:
    """Inverse of :func:`slack_ts_to_datetime`, always in Slack's "%d.%06d" form."""
    _require_aware(dt, "dt")
    delta = dt - _EPOCH
    if delta < timedelta(0):
        raise ValueError(f"Slack timestamps cannot precede 1970: {dt.isoformat()}")
    # timedelta arithmetic is integral, so no precision is lost on the way out.
    seconds = delta.days * 86_400 + delta.seconds
    return f"{seconds}.{delta.microseconds:06d}"


def _require_aware(dt: datetime, name: str) -> None:
    # A naive datetime would silently be read in the server's local zone,
    # which is exactly the kind of bug this module exists to prevent.
    if not isinstance(dt, datetime) or dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


# ---------------------------------------------------------------------------
# Shared vocabulary
# ---------------------------------------------------------------------------

_FLAGS: Final = re.IGNORECASE | re.ASCII  # ASCII: "\d" must not match Arabic-Indic digits.

_MONTHS: Final[dict[str, int]] = {
    "jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3,
    "apr": 4, "april": 4, "may": 5, "jun": 6, "june": 6, "jul": 7, "july": 7,
    "aug": 8, "august": 8, "sep": 9, "sept": 9, "september": 9,
    "oct": 10, "october": 10, "nov": 11, "november": 11, "dec": 12, "december": 12,
}
_MONTH_ABBR: Final = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_WEEKDAYS: Final[dict[str, RelativeWeekday]] = {
    "mon": MO, "monday": MO, "tue": TU, "tues": TU, "tuesday": TU,
    "wed": WE, "weds": WE, "wednesday": WE, "thu": TH, "thur": TH, "thurs": TH,
    "thursday": TH, "fri": FR, "friday": FR, "sat": SA, "saturday": SA,
    "sun": SU, "sunday": SU,
}


def _alternation(words: Iterable[str]) -> str:
    # Longest first so "september" is not cut short as "sep" + "tember".
    return "|".join(sorted(words, key=len, reverse=True))


_MONTH_ALT: Final = _alternation(_MONTHS)
_WEEKDAY_ALT: Final = _alternation(_WEEKDAYS)

_ISO_DATE: Final = r"(?P<iy>\d{4})-(?P<im>\d{2})-(?P<id>\d{2})"
_MONTH_DAY: Final = (
    rf"(?P<mon1>{_MONTH_ALT})\.? (?P<d1>\d{{1,2}})(?:st|nd|rd|th)?(?:,? (?P<y1>\d{{4}}))?"
    rf"|(?P<d2>\d{{1,2}})(?:st|nd|rd|th)? (?:of )?(?P<mon2>{_MONTH_ALT})\.?(?:,? (?P<y2>\d{{4}}))?"
)

# Clock times. A bare number ("at 3 servers") is never a time: it needs either
# minutes or an am/pm marker, which the code checks after matching.
_CLOCK_RE: Final = re.compile(
    r"(?P<h>\d{1,2})(?::(?P<m>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d{1,6}))?)?)?"
    # The lookahead stops "14:23 America/New_York" being read as "14:23 am".
    r"(?: ?(?P<ap>[ap])\.?m\.?(?![a-z0-9]))?",
    _FLAGS,
)

_OFFSET_RE: Final = re.compile(
    r"(?:utc|gmt)?(?P<sign>[+-])(?:(?P<hh>\d{2}):?(?P<mm>\d{2})|(?P<h>\d{1,2}))", _FLAGS
)
_UTC_NAMES: Final = frozenset({"z", "utc", "gmt", "uct", "zulu"})
_ZONE_NAME_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*", re.ASCII)
_MAX_OFFSET: Final = timedelta(hours=18)

# Abbreviations people type that are not IANA names (and are often ambiguous:
# IST is India, Ireland or Israel). Naming them lets us give a pointed hint
# instead of quietly treating the word as the start of a remark.
_NON_IANA_ABBREVIATIONS: Final[dict[str, str]] = {
    "PST": "America/Los_Angeles", "PDT": "America/Los_Angeles",
    "MDT": "America/Denver", "CST": "America/Chicago", "CDT": "America/Chicago",
    "EDT": "America/New_York", "AKST": "America/Anchorage", "AKDT": "America/Anchorage",
    "BST": "Europe/London", "IST": "Asia/Kolkata", "CEST": "Europe/Berlin",
    "EEST": "Europe/Athens", "WEST": "Europe/Lisbon", "JST": "Asia/Tokyo",
    "KST": "Asia/Seoul", "SGT": "Asia/Singapore", "HKT": "Asia/Hong_Kong",
    "AEST": "Australia/Sydney", "AEDT": "Australia/Sydney", "ACST": "Australia/Adelaide",
    "AWST": "Australia/Perth", "NZST": "Pacific/Auckland", "NZDT": "Pacific/Auckland",
}

# First components of IANA names. A word like "Europe/Berlinn" right after a
# time is clearly a mistyped zone, whereas "read/write" is part of a remark.
_IANA_AREAS: Final = frozenset({
    "africa", "america", "antarctica", "arctic", "asia", "atlantic", "australia",
    "europe", "indian", "pacific", "etc", "us", "canada", "brazil", "mexico", "chile",
})


@lru_cache(maxsize=1)
def _zone_names_by_lower() -> dict[str, str]:
    # Looking names up in the installed list (instead of passing arbitrary
    # user text to ZoneInfo) keeps out paths like "../x" and non-zone files
    # such as "zone.tab", and lets "europe/berlin" find "Europe/Berlin".
    return {name.lower(): name for name in available_timezones()}


@dataclass(frozen=True)
class _Zone:
    tz: tzinfo
    label: str  # as the user will recognise it in messages


def _parse_zone(token: str, *, strict: bool, err: type[TimeParseError]) -> _Zone:
    """Turn one zone token into a tzinfo, or raise ``err`` saying why not.

    ``strict`` is for splitting command text, where the word after a time may
    just as well start the remark: there only unmistakable zones are taken
    (UTC/GMT/Z, offsets, Area/City names, and all-caps names such as EST), so
    "at 14:23 Poland dc down" keeps "Poland" in the remark.
    """
    if token.lower() in _UTC_NAMES:
        return _Zone(UTC, "UTC")
    offset = _OFFSET_RE.fullmatch(token)
    if offset is not None:
        if strict and offset.group("h") is not None and len(offset.group("h")) == 1 \
                and token[0] in "+-":
            # "+1 from ann" is a remark, not UTC+01:00; demand "+01" or "UTC+1".
            raise err(f"'{token}' is not an offset I will guess at here.")
        if offset.group("h") is not None:
            hours, minutes = int(offset.group("h")), 0
        else:
            hours, minutes = int(offset.group("hh")), int(offset.group("mm"))
        delta = timedelta(hours=hours, minutes=minutes)
        if minutes >= 60 or delta > _MAX_OFFSET:
            raise err(f"'{token}' is not a valid UTC offset (use -18:00 to +18:00).")
        if offset.group("sign") == "-":
            delta = -delta
        return _Zone(timezone(delta), token)
    if _ZONE_NAME_RE.fullmatch(token) is None or len(token) > 64:
        raise err(f"'{_clip(token)}' is not a time zone.")
    if strict and "/" not in token and not token.isupper():
        raise err(f"'{_clip(token)}' is not a time zone I will guess at here.")
    canonical = _zone_names_by_lower().get(token.lower())
    if canonical is not None:
        try:
            return _Zone(ZoneInfo(canonical), canonical)
        except (ValueError, KeyError, OSError):
            pass  # listed but unreadable: fall through to "unknown"
    suggestion = _NON_IANA_ABBREVIATIONS.get(token.upper())
    if suggestion is not None:
        raise err(
            f"'{token}' is an abbreviation, not a time zone name (and abbreviations are "
            f"ambiguous). Use an IANA name such as {suggestion}, or an offset like -08:00."
        )
    raise err(
        f"Unknown time zone '{_clip(token)}'. Use an IANA name such as Europe/Berlin "
        "or America/New_York, UTC, or an offset like +02:00."
    )


def _clip(text: str, limit: int = 40) -> str:
    # User text is echoed back in messages; keep those readable.
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _normalise(text: str) -> str:
    return " ".join(re.findall(r"\S+", text))


# ---------------------------------------------------------------------------
# Recognition (no clock needed)
# ---------------------------------------------------------------------------

_DayKind = Literal["date", "monthday", "today", "yesterday", "tomorrow",
                   "weekday", "relative", "next_week", "end_of_week", "end_of_month"]


@dataclass(frozen=True)
class _Day:
    """A calendar day as written, before it is pinned to a real date."""

    kind: _DayKind
    value: date | None = None        # "date"
    month: int = 0                   # "monthday"
    day: int = 0                     # "monthday"
    year: int | None = None          # "monthday" with an explicit year
    weekday: RelativeWeekday | None = None  # "weekday"
    shift: relativedelta | None = None      # "relative"


@dataclass(frozen=True)
class _Wall:
    """A wall-clock reading: optional day, a time of day, optional zone."""

    day: _Day | None
    clock: time
    zone: _Zone | None


@dataclass(frozen=True)
class _Ago:
    delta: timedelta


@dataclass(frozen=True)
class _Now:
    pass


_MomentSpec: TypeAlias = _Wall | _Ago | _Now


@dataclass(frozen=True)
class _DueSpec:
    day: _Day
    clock: time | None
    zone: _Zone | None


def _parse_clock(text: str, err: type[TimeParseError]) -> tuple[time, str] | None:
    """Read a time of day from the start of ``text``; return it and the rest.

    Returns None when ``text`` does not start with anything clock-shaped, and
    raises when it does but the numbers are impossible ("25:00", "13pm").
    """
    match = _CLOCK_RE.match(text)
    if match is None or (match.group("m") is None and match.group("ap") is None):
        return None
    hour, ampm = int(match.group("h")), match.group("ap")
    minute = int(match.group("m") or 0)
    second = int(match.group("s") or 0)
    written = match.group(0)
    if ampm is not None and not 1 <= hour <= 12:
        raise err(f"'{written}' is not a valid time: with am/pm the hour must be 1-12.")
    if hour > 23 or minute > 59 or second > 59:
        raise err(f"'{written}' is not a valid time of day.")
    # The regex has validated the shape; dateutil does the arithmetic of
    # am/pm and the decimal fraction on a canonical spelling of it.
    canonical = f"{hour}:{minute:02d}:{second:02d}"
    if match.group("f") is not None:
        canonical += "." + match.group("f")
    if ampm is not None:
        canonical += " " + ampm.lower() + "m"
    parsed = du_parser.parse(canonical, default=datetime(2000, 1, 1))
    return parsed.time(), text[match.end():]


def _parse_zone_suffix(rest: str, *, strict: bool, err: type[TimeParseError],
                       what: str) -> _Zone | None:
    """Whatever follows a clock must be nothing, or exactly one zone."""
    if rest == "":
        return None
    if rest.startswith(" "):
        token = rest[1:]
        if " " in token:
            raise err(f"Unexpected text '{_clip(token)}' after the {what}.")
        return _parse_zone(token, strict=strict, err=err)
    # Only "Z" and numeric offsets may be glued to the time, as in ISO-8601.
    if rest.lower() == "z" or _OFFSET_RE.fullmatch(rest):
        return _parse_zone(rest, strict=strict, err=err)
    raise err(f"Unexpected text '{_clip(rest)}' after the {what}.")


def _month_day(mon: str, day_text: str, year_text: str | None,
               err: type[TimeParseError]) -> _Day:
    month = _MONTHS[mon.lower()]
    # dateutil reads the month name and day; the year is applied by us because
    # dateutil maps years like "0050" to 2050.
    try:
        parsed = du_parser.parse(f"{_MONTH_ABBR[month]} {int(day_text)}",
                                 default=datetime(2000, 1, 1))  # 2000 has a Feb 29
    except (ValueError, OverflowError):
        raise err(f"{_MONTH_ABBR[month]} {day_text} is not a date.") from None
    if parsed.day != int(day_text):
        # dateutil reads a number too big for a day ("dec 45") as a year and keeps day 1.
        raise err(f"{_MONTH_ABBR[month]} {day_text} is not a date.")
    year = int(year_text) if year_text else None
    if year is not None:
        try:
            return _Day("date", value=date(year, parsed.month, parsed.day))
        except ValueError:
            raise err(f"{_MONTH_ABBR[month]} {day_text} {year} is not a date.") from None
    return _Day("monthday", month=parsed.month, day=parsed.day)


def _iso_date(match: re.Match[str], err: type[TimeParseError]) -> _Day:
    text = f"{match.group('iy')}-{match.group('im')}-{match.group('id')}"
    try:
        return _Day("date", value=du_parser.isoparse(text).date())
    except (ValueError, OverflowError):
        raise err(f"{text} is not a date.") from None


# Each day form must be followed by a space or the end; only an ISO date may
# be glued to its time with "T".
_MOMENT_DAY_RE: Final = re.compile(
    rf"(?:(?P<kw>today|yesterday)|(?:{_MONTH_DAY}))(?: |$)|{_ISO_DATE}(?:t| |$)",
    _FLAGS,
)


def _moment_day(match: re.Match[str]) -> _Day:
    if match.group("kw"):
        return _Day("yesterday" if match.group("kw").lower() == "yesterday" else "today")
    if match.group("iy"):
        return _iso_date(match, TimeParseError)
    if match.group("mon1"):
        return _month_day(match.group("mon1"), match.group("d1"), match.group("y1"),
                          TimeParseError)
    return _month_day(match.group("mon2"), match.group("d2"), match.group("y2"),
                      TimeParseError)


_AGO_UNITS: Final[dict[str, timedelta]] = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), timedelta(seconds=1)),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), timedelta(minutes=1)),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), timedelta(hours=1)),
    **dict.fromkeys(("d", "day", "days"), timedelta(days=1)),
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks"), timedelta(weeks=1)),
}
_AGO_PART_RE: Final = re.compile(r"(?P<n>\d{1,7}|an?) ?(?P<unit>[a-z]+) ?", _FLAGS)


def _parse_ago(body: str) -> _Ago | None:
    """Parse the part before "ago": "10m", "1h30m", "2 hours", "an hour"."""
    total, seen, pos = timedelta(0), set[timedelta](), 0
    while pos < len(body):
        part = _AGO_PART_RE.match(body, pos)
        if part is None:
            return None
        unit = _AGO_UNITS.get(part.group("unit").lower())
        if unit is None:
            return None
        if unit in seen:  # "1h 2h ago" is a typo, not a sum
            raise TimeParseError(f"'{body.strip()} ago' names the same unit twice.")
        seen.add(unit)
        amount = part.group("n").lower()
        total += unit * (1 if amount in ("a", "an") else int(amount))
        pos = part.end()
    return _Ago(total) if seen else None


def _recognise_moment(text: str, *, strict_zones: bool) -> _MomentSpec:
    s = _normalise(text)
    if not s:
        raise TimeParseError("No time given.")
    if len(s) > _MAX_TEXT_LENGTH:
        raise TimeParseError("That is far too long to be a time.")
    low = s.lower()
    if low == "now":
        return _Now()
    if low.endswith("ago") and len(low) > 3:
        ago = _parse_ago(s[:-3])
        if ago is not None:
            return ago
        raise TimeParseError(f"'{_clip(s)}' is not a duration I understand.")

    day: _Day | None = None
    rest = s
    day_match = _MOMENT_DAY_RE.match(s)
    if day_match is not None:
        day = _moment_day(day_match)
        rest = s[day_match.end():]
    clock = _parse_clock(rest, TimeParseError)
    if clock is None:
        if day is not None and rest == "":
            raise TimeParseError(f"'{_clip(s)}' needs a time of day, e.g. '{s} 14:23'.")
        raise TimeParseError(f"'{_clip(s)}' is not a time I understand.")
    when, rest = clock
    zone = _parse_zone_suffix(rest, strict=strict_zones, err=TimeParseError, what="time")
    return _Wall(day, when, zone)


_DUE_DAY_RE: Final = re.compile(
    r"(?:"
    r"(?P<eom>end of (?:the )?month|eom)"
    r"|(?P<eow>end of (?:the )?week|eow)"
    r"|(?P<next_week>next week)"
    r"|in (?P<n>\d{1,4}|an?|one) ?(?P<unit>days?|weeks?|months?|d|w)"
    r"|(?P<today>today)|(?P<tomorrow>tomorrow|tmrw)"
    rf"|(?P<wd>{_WEEKDAY_ALT})"
    rf"|{_MONTH_DAY}"
    r")(?: |$)"
    rf"|{_ISO_DATE}(?:t| |$)",
    _FLAGS,
)
_SLASH_DATE_RE: Final = re.compile(r"\d{1,4}/\d{1,4}", re.ASCII)


def _due_day(match: re.Match[str]) -> _Day:
    if match.group("eom"):
        return _Day("end_of_month")
    if match.group("eow"):
        return _Day("end_of_week")
    if match.group("next_week"):
        return _Day("next_week")
    if match.group("unit"):
        amount_text = match.group("n").lower()
        amount = 1 if amount_text in ("a", "an", "one") else int(amount_text)
        unit = match.group("unit").lower()
        if unit.startswith("m"):
            shift = relativedelta(months=amount)
        elif unit.startswith("w"):
            shift = relativedelta(weeks=amount)
        else:
            shift = relativedelta(days=amount)
        return _Day("relative", shift=shift)
    if match.group("today"):
        return _Day("today")
    if match.group("tomorrow"):
        return _Day("tomorrow")
    if match.group("wd"):
        return _Day("weekday", weekday=_WEEKDAYS[match.group("wd").lower()])
    if match.group("iy"):
        return _iso_date(match, DueParseError)
    if match.group("mon1"):
        return _month_day(match.group("mon1"), match.group("d1"), match.group("y1"),
                          DueParseError)
    return _month_day(match.group("mon2"), match.group("d2"), match.group("y2"),
                      DueParseError)


def _recognise_due(text: str) -> _DueSpec:
    s = _normalise(text)
    if not s:
        raise DueParseError("No due date given.")
    if len(s) > _MAX_TEXT_LENGTH:
        raise DueParseError("That is far too long to be a due date.")
    slash = _SLASH_DATE_RE.search(s)
    if slash is not None:
        raise DueParseError(
            f"'{_clip(s)}' uses slashes, which is ambiguous ({slash.group(0)} is read "
            "day-first in some places and month-first in others). "
            "Write it as 2026-12-01 or dec 1 instead."
        )
    match = _DUE_DAY_RE.match(s)
    if match is None:
        raise DueParseError(f"'{_clip(s)}' is not a due date I understand.")
    day = _due_day(match)
    rest = s[match.end():]
    if rest == "":
        return _DueSpec(day, None, None)
    clock = _parse_clock(rest, DueParseError)
    if clock is None:
        raise DueParseError(f"Unexpected text '{_clip(rest)}' after the due date.")
    when, rest = clock
    zone = _parse_zone_suffix(rest, strict=False, err=DueParseError, what="due time")
    return _DueSpec(day, when, zone)


# ---------------------------------------------------------------------------
# Resolution (needs now and a zone)
# ---------------------------------------------------------------------------

def _localise(day: date, clock: time, zone: _Zone, err: type[TimeParseError]) -> datetime:
    """Wall-clock day+time in ``zone`` -> aware UTC.

    An ambiguous reading (the repeated hour when clocks go back) takes the
    first occurrence, as fold=0 does; a reading that never happened (the hour
    skipped when clocks go forward) is refused rather than guessed.
    """
    naive = datetime.combine(day, clock)
    aware = naive.replace(tzinfo=zone.tz)
    if not _exists(naive, zone.tz):
        raise err(
            f"{clock:%H:%M} on {day.isoformat()} does not exist in {zone.label}: "
            "the clocks skipped it for daylight saving."
        )
    return aware.astimezone(UTC)


def _exists(naive: datetime, tz: tzinfo) -> bool:
    aware = naive.replace(tzinfo=tz)
    return aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive


def _check_now(now: datetime) -> None:
    _require_aware(now, "now")


def parse_moment(text: str, *, now: datetime, user_tz: ZoneInfo | None,
                 default_tz: ZoneInfo) -> datetime:
    """Resolve a user-typed time (see ACCEPTED_TIME_FORMS) to an aware UTC datetime.

    Raises TimeParseError (only) when the text is not understood or the time
    is after ``now``. Times without a zone are read in ``user_tz``, or in
    ``default_tz`` for users who never set one.
    """
    _check_now(now)
    try:
        return _resolve_moment(text, now=now, user_tz=user_tz, default_tz=default_tz)
    except TimeParseError:
        raise
    except (ValueError, OverflowError):
        # Dates at the very edge of datetime's range overflow when shifted to
        # UTC; to the user that is simply a time we cannot use.
        raise TimeParseError(f"'{_clip(_normalise(text))}' is out of range.") from None


def _resolve_moment(text: str, *, now: datetime, user_tz: ZoneInfo | None,
                    default_tz: ZoneInfo) -> datetime:
    spec = _recognise_moment(text, strict_zones=False)
    now_utc = now.astimezone(UTC)
    if isinstance(spec, _Now):
        return now_utc
    if isinstance(spec, _Ago):
        return now_utc - spec.delta

    zone = spec.zone or _Zone(user_tz or default_tz, str(user_tz or default_tz))
    local_now = now.astimezone(zone.tz)
    today = local_now.date()
    yesterday = today - timedelta(days=1)
    day = spec.day
    if day is None:
        # A bare time means the most recent such time: if it is still to come
        # today, the user means yesterday (e.g. typing "23:50" just after midnight).
        naive_today = datetime.combine(today, spec.clock)
        if _exists(naive_today, zone.tz):
            candidate = _localise(today, spec.clock, zone, TimeParseError)
            if candidate > now_utc:
                candidate = _localise(yesterday, spec.clock, zone, TimeParseError)
        elif naive_today > local_now.replace(tzinfo=None):
            candidate = _localise(yesterday, spec.clock, zone, TimeParseError)
        else:
            candidate = _localise(today, spec.clock, zone, TimeParseError)  # raises
    elif day.kind == "today":
        candidate = _localise(today, spec.clock, zone, TimeParseError)
    elif day.kind == "yesterday":
        candidate = _localise(yesterday, spec.clock, zone, TimeParseError)
    elif day.kind == "date":
        assert day.value is not None
        candidate = _localise(day.value, spec.clock, zone, TimeParseError)
    else:  # "monthday": this year. Rolling back a year silently could file an
        # event a year off because of a typo, so a future date is an error.
        try:
            the_day = date(today.year, day.month, day.day)
        except ValueError:
            raise TimeParseError(
                f"{_MONTH_ABBR[day.month]} {day.day} does not exist in {today.year}; "
                "add the year."
            ) from None
        candidate = _localise(the_day, spec.clock, zone, TimeParseError)

    if candidate > now_utc:
        raise TimeParseError(
            f"'{_clip(_normalise(text))}' is in the future: it means "
            f"{iso_utc(candidate)}, but it is now {iso_utc(now_utc)}."
        )
    return candidate


def parse_due(text: str, *, now: datetime, user_tz: ZoneInfo | None,
              default_tz: ZoneInfo) -> Due:
    """Resolve a user-typed due date (see ACCEPTED_DUE_FORMS).

    Day words ("today", "friday", "end of month") are read in the zone the
    user wrote, else ``user_tz``, else ``default_tz``. Raises DueParseError
    (a TimeParseError) when not understood or in the past.
    """
    _check_now(now)
    try:
        return _resolve_due(text, now=now, user_tz=user_tz, default_tz=default_tz)
    except TimeParseError as exc:
        if isinstance(exc, DueParseError):
            raise
        raise DueParseError(exc.problem) from None
    except (ValueError, OverflowError):
        raise DueParseError(f"'{_clip(_normalise(text))}' is out of range.") from None


def _resolve_due(text: str, *, now: datetime, user_tz: ZoneInfo | None,
                 default_tz: ZoneInfo) -> Due:
    spec = _recognise_due(text)
    now_utc = now.astimezone(UTC)
    zone = spec.zone or _Zone(user_tz or default_tz, str(user_tz or default_tz))
    today = now.astimezone(zone.tz).date()
    day = _resolve_due_day(spec.day, today)

    if spec.clock is None:
        if day < today:
            raise DueParseError(
                f"'{_clip(_normalise(text))}' is in the past: {day.isoformat()} "
                f"is before today ({today.isoformat()})."
            )
        return Due(date=day, at=None)
    at = _localise(day, spec.clock, zone, DueParseError)
    if at < now_utc:
        raise DueParseError(
            f"'{_clip(_normalise(text))}' is in the past: it means {iso_utc(at)}, "
            f"but it is now {iso_utc(now_utc)}."
        )
    return Due(date=day, at=at)


def _shifted(day: date, shift: relativedelta) -> date:
    # relativedelta is untyped; pin the result type in one place.
    result: date = day + shift
    return result


def _resolve_due_day(day: _Day, today: date) -> date:
    if day.kind == "today":
        return today
    if day.kind == "tomorrow":
        return today + timedelta(days=1)
    if day.kind == "weekday":
        # relativedelta applies weekday last, so "+1 day, then the next FR on
        # or after" is the next Friday strictly after today.
        return _shifted(today, relativedelta(days=+1, weekday=day.weekday))
    if day.kind == "relative":
        assert day.shift is not None
        return _shifted(today, day.shift)
    if day.kind == "next_week":
        return _shifted(today, relativedelta(days=+1, weekday=MO(+1)))
    if day.kind == "end_of_week":
        # This week's Friday; at the weekend that has passed, so the coming one.
        return _shifted(today, relativedelta(weekday=FR(+1)))
    if day.kind == "end_of_month":
        return _shifted(today, relativedelta(day=31))  # relativedelta clamps to the month's last day
    if day.kind == "date":
        assert day.value is not None
        return day.value
    # "monthday": the next occurrence that is not in the past. Feb 29 may be
    # up to eight years away (1896 -> 1904), hence the loop.
    for year in range(today.year, today.year + 9):
        try:
            candidate = date(year, day.month, day.day)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    raise DueParseError(f"{_MONTH_ABBR[day.month]} {day.day} never comes round.")


# ---------------------------------------------------------------------------
# Helpers for the command parser (shape only, no clock)
# ---------------------------------------------------------------------------

_MAX_TIME_TOKENS: Final = 12  # "1 week 2 days 3 hours 4 minutes 5 seconds ago" is 11


def check_moment_shape(text: str) -> None:
    """Raise TimeParseError unless ``text`` is a time form (ignoring the clock)."""
    _recognise_moment(text, strict_zones=False)


def check_due_shape(text: str) -> None:
    """Raise DueParseError unless ``text`` is a due-date form (ignoring the clock).

    The command parser validates early with this so the user hears about a
    typo at once; resolution happens later with the user's zone.
    """
    try:
        _recognise_due(text)
    except TimeParseError as exc:
        if isinstance(exc, DueParseError):
            raise
        raise DueParseError(exc.problem) from None


_DUE_START_WORDS: Final = frozenset(
    {"today", "tomorrow", "tmrw", "in", "next", "end", "eow", "eom", "this", "by", "on"}
    | set(_MONTHS) | set(_WEEKDAYS)
)


_DAY_AND_MONTH_NAMES: Final = sorted(name for name in (*_MONTHS, *_WEEKDAYS) if len(name) > 3)


def looks_like_due_start(word: str) -> bool:
    """Whether ``word`` plausibly begins a date, as opposed to ordinary prose.

    Used to tell "due frday" (a typo worth an error) from "due diligence"
    (just words).
    """
    w = word.lower().rstrip(".,")
    if re.match(r"\d", w, re.ASCII) or w in _DUE_START_WORDS:
        return True
    # A near miss of a day or month name ("frday", "decmber") is a typo the
    # user should hear about, not words to file silently in the action text.
    return bool(difflib.get_close_matches(w, _DAY_AND_MONTH_NAMES, n=1, cutoff=0.8))


def _tokens(text: str) -> list[re.Match[str]]:
    return list(re.finditer(r"\S+", text))


def _skip_leading_at(tokens: list[re.Match[str]]) -> int:
    # Callers may pass either "14:23 ..." or "at 14:23 ...".
    if len(tokens) > 1 and tokens[0].group(0).lower() == "at":
        return 1
    return 0


def _looks_like_intended_zone(word: str) -> bool:
    if word.upper() in _NON_IANA_ABBREVIATIONS and word.isupper():
        return True
    if "/" in word and word.split("/", 1)[0].lower() in _IANA_AREAS:
        return True
    return bool(re.fullmatch(r"(?:(?:utc|gmt)[+-]\d|[+-]\d\d).*", word, _FLAGS))


def split_time_prefix(text: str) -> tuple[str | None, str]:
    """Split "14:23 UTC alerts fired" into ("14:23 UTC", "alerts fired").

    Takes the longest run of leading words that forms a time, judged by shape
    alone. A leading "at" is skipped. Returns (None, text) when no time starts
    the text, and also when the word right after a time is evidently a zone we
    cannot use ("14:23 PST ..."), because silently reading 14:23 in the user's
    own zone would put the event at the wrong hour.
    """
    tokens = _tokens(text)
    first = _skip_leading_at(tokens)
    last_possible = min(len(tokens), first + _MAX_TIME_TOKENS)
    for end in range(last_possible, first, -1):
        candidate = " ".join(t.group(0) for t in tokens[first:end])
        try:
            spec = _recognise_moment(candidate, strict_zones=True)
        except TimeParseError:
            continue
        if (end < len(tokens) and isinstance(spec, _Wall) and spec.zone is None
                and _looks_like_intended_zone(tokens[end].group(0))):
            return None, text
        return text[tokens[first].start():tokens[end - 1].end()], text[tokens[end - 1].end():].strip()
    return None, text


_TIMEISH_WORDS: Final = frozenset(
    {"am", "pm", "a.m.", "p.m.", "ago", "now", "today", "yesterday", "a", "an"}
    | _UTC_NAMES | set(_MONTHS) | set(_AGO_UNITS)
)


def explain_bad_time(text: str) -> tuple[str, str]:
    """For text that :func:`split_time_prefix` rejected: (the words that were
    presumably meant as a time, what is wrong with them)."""
    tokens = _tokens(text)
    first = _skip_leading_at(tokens)
    if first >= len(tokens):
        return "", "No time given."
    end = first + 1
    while end < len(tokens) and end - first < 6:
        word = tokens[end].group(0)
        if not (re.search(r"\d", word, re.ASCII) or word.lower() in _TIMEISH_WORDS
                or _looks_like_intended_zone(word)):
            break
        end += 1
    fragment = " ".join(t.group(0) for t in tokens[first:end])
    try:
        _recognise_moment(fragment, strict_zones=False)
    except TimeParseError as exc:
        return fragment, exc.problem
    return fragment, f"'{_clip(fragment)}' is not a time I understand here."
