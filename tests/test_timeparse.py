"""Tests for bot.timeparse: exact expected instants, DST edges, refusals, properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.timefmt import iso_utc
from bot.timeparse import (
    ACCEPTED_DUE_FORMS,
    ACCEPTED_TIME_FORMS,
    Due,
    DueParseError,
    TimeParseError,
    check_due_shape,
    check_moment_shape,
    datetime_to_slack_ts,
    explain_bad_time,
    looks_like_due_start,
    parse_due,
    parse_moment,
    slack_ts_to_datetime,
    split_time_prefix,
)

UTC = UTC
UTC_ZONE = ZoneInfo("UTC")
NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
AUCKLAND = ZoneInfo("Pacific/Auckland")
KIRITIMATI = ZoneInfo("Pacific/Kiritimati")
LA = ZoneInfo("America/Los_Angeles")

# A Thursday evening in winter: New York is UTC-5, Berlin UTC+1, Auckland UTC+13.
NOW = datetime(2026, 1, 15, 20, 0, tzinfo=UTC)
# The brief's reference point for due dates: Monday 2026-11-23 10:00 UTC.
DUE_NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0,
        second: int = 0, microsecond: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=UTC)


def moment(text: str, *, now: datetime = NOW, user_tz: ZoneInfo | None = None,
           default_tz: ZoneInfo = UTC_ZONE) -> datetime:
    return parse_moment(text, now=now, user_tz=user_tz, default_tz=default_tz)


def due(text: str, *, now: datetime = DUE_NOW, user_tz: ZoneInfo | None = None,
        default_tz: ZoneInfo = UTC_ZONE) -> Due:
    return parse_due(text, now=now, user_tz=user_tz, default_tz=default_tz)


# ---------------------------------------------------------------------------
# Slack timestamps and UTC formatting
# ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        ("1445439240.000100", utc(2015, 10, 21, 14, 54, 0, 100)),
        ("1445439240.0001", utc(2015, 10, 21, 14, 54, 0, 100)),  # decimal fraction, not 1 µs
        ("1445439240", utc(2015, 10, 21, 14, 54, 0)),
        ("1445439240.999999", utc(2015, 10, 21, 14, 54, 0, 999_999)),
        ("1445439240.5", utc(2015, 10, 21, 14, 54, 0, 500_000)),
        ("0.000001", utc(1970, 1, 1, 0, 0, 0, 1)),
        ("1790000000.123456", utc(2026, 9, 21, 14, 13, 20, 123_456)),
    ],
)
def test_slack_ts_to_datetime_is_exact(ts: str, expected: datetime) -> None:
    got = slack_ts_to_datetime(ts)
    assert got == expected
    assert got.microsecond == expected.microsecond
    assert got.tzinfo is UTC


@pytest.mark.parametrize(
    "ts",
    ["", "abc", "1.2.3", "-1", "1e9", " 1445439240", "1445439240.", ".5",
     "1445439240.1234567", "١٤٤٥٤٣٩٢٤٠", "999999999999", "1445439240,000100"],
)
def test_slack_ts_to_datetime_rejects_malformed(ts: str) -> None:
    with pytest.raises(ValueError):
        slack_ts_to_datetime(ts)


def test_datetime_to_slack_ts() -> None:
    assert datetime_to_slack_ts(utc(2015, 10, 21, 14, 54, 0, 100)) == "1445439240.000100"
    assert datetime_to_slack_ts(utc(2015, 10, 21, 14, 54)) == "1445439240.000000"
    # The same instant written in another zone gives the same ts.
    berlin = datetime(2015, 10, 21, 16, 54, 0, 100, tzinfo=BERLIN)
    assert datetime_to_slack_ts(berlin) == "1445439240.000100"


@pytest.mark.parametrize("bad", [datetime(2015, 10, 21, 14, 54), utc(1969, 12, 31, 23, 59)])
def test_datetime_to_slack_ts_rejects_naive_and_pre_epoch(bad: datetime) -> None:
    with pytest.raises(ValueError):
        datetime_to_slack_ts(bad)


@pytest.mark.parametrize(
    ("dt", "expected"),
    [
        (utc(2015, 10, 21, 14, 54, 0, 100), "2015-10-21T14:54:00.000100Z"),
        (utc(2015, 10, 21, 14, 54), "2015-10-21T14:54:00Z"),
        (datetime(2015, 10, 21, 16, 54, 0, 100, tzinfo=BERLIN), "2015-10-21T14:54:00.000100Z"),
        (utc(999, 1, 2, 3, 4, 5), "0999-01-02T03:04:05Z"),  # zero-padded year
    ],
)
def test_format_utc(dt: datetime, expected: str) -> None:
    assert iso_utc(dt) == expected


def test_format_utc_rejects_naive() -> None:
    with pytest.raises(ValueError):
        iso_utc(datetime(2015, 10, 21, 14, 54))


# ---------------------------------------------------------------------------
# parse_moment: accepted forms
# ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "user_tz", "expected"),
    [
        # Bare times: today in the user's zone (default zone when unset).
        ("14:23", None, utc(2026, 1, 15, 14, 23)),
        ("14:23", BERLIN, utc(2026, 1, 15, 13, 23)),
        ("14:23", NY, utc(2026, 1, 15, 19, 23)),
        ("2:23pm", None, utc(2026, 1, 15, 14, 23)),
        ("2:23 PM", None, utc(2026, 1, 15, 14, 23)),
        ("2:23 p.m.", None, utc(2026, 1, 15, 14, 23)),
        ("2pm", None, utc(2026, 1, 15, 14, 0)),
        ("12:05am", None, utc(2026, 1, 15, 0, 5)),
        ("12:05pm", None, utc(2026, 1, 15, 12, 5)),
        ("14:23:05", None, utc(2026, 1, 15, 14, 23, 5)),
        ("14:23:05.000100", None, utc(2026, 1, 15, 14, 23, 5, 100)),
        ("  14:23  ", None, utc(2026, 1, 15, 14, 23)),
        # Times with an explicit zone: the zone wins over the user's.
        ("14:23 UTC", BERLIN, utc(2026, 1, 15, 14, 23)),
        ("14:23 utc", None, utc(2026, 1, 15, 14, 23)),
        ("14:23 GMT", NY, utc(2026, 1, 15, 14, 23)),
        ("14:23Z", NY, utc(2026, 1, 15, 14, 23)),
        ("14:23 Europe/Berlin", None, utc(2026, 1, 15, 13, 23)),
        ("14:23 europe/berlin", None, utc(2026, 1, 15, 13, 23)),
        ("14:23 America/New_York", None, utc(2026, 1, 15, 19, 23)),
        ("14:23 +02:00", None, utc(2026, 1, 15, 12, 23)),
        ("14:23 +0200", None, utc(2026, 1, 15, 12, 23)),
        ("14:23 -05:30", None, utc(2026, 1, 15, 19, 53)),
        ("14:23 UTC+1", None, utc(2026, 1, 15, 13, 23)),
        ("2:23pm Europe/Berlin", None, utc(2026, 1, 15, 13, 23)),
        # Dates and times.
        ("2026-01-15 14:23 UTC", BERLIN, utc(2026, 1, 15, 14, 23)),
        ("2026-01-15 14:23", NY, utc(2026, 1, 15, 19, 23)),
        ("2026-01-14 23:59:59.999999", None, utc(2026, 1, 14, 23, 59, 59, 999_999)),
        ("jan 15 14:23 UTC", NY, utc(2026, 1, 15, 14, 23)),
        ("Jan 15 14:23", BERLIN, utc(2026, 1, 15, 13, 23)),
        ("15 jan 2026 14:23", None, utc(2026, 1, 15, 14, 23)),
        ("January 15th 14:23", None, utc(2026, 1, 15, 14, 23)),
        ("dec 31, 2025 23:00 UTC", None, utc(2025, 12, 31, 23, 0)),
        ("2024-02-29 12:00 UTC", None, utc(2024, 2, 29, 12, 0)),
        # ISO-8601 with an offset, exactly as written.
        ("2026-01-15T14:23:00+02:00", NY, utc(2026, 1, 15, 12, 23)),
        ("2026-01-15T14:23:00Z", NY, utc(2026, 1, 15, 14, 23)),
        ("2026-01-15T14:23:00.000100Z", None, utc(2026, 1, 15, 14, 23, 0, 100)),
        ("2026-01-15T14:23:00.0001Z", None, utc(2026, 1, 15, 14, 23, 0, 100)),
        ("2026-01-15T14:23-0500", None, utc(2026, 1, 15, 19, 23)),
        ("2026-01-15T14:23:00", NY, utc(2026, 1, 15, 19, 23)),  # no offset: user's zone
        # Relative to now.
        ("now", NY, NOW),
        ("10m ago", None, utc(2026, 1, 15, 19, 50)),
        ("10 min ago", None, utc(2026, 1, 15, 19, 50)),
        ("10 minutes ago", None, utc(2026, 1, 15, 19, 50)),
        ("2 hours ago", None, utc(2026, 1, 15, 18, 0)),
        ("90s ago", None, utc(2026, 1, 15, 19, 58, 30)),
        ("1h30m ago", None, utc(2026, 1, 15, 18, 30)),
        ("1h 30m ago", None, utc(2026, 1, 15, 18, 30)),
        ("1 hour 30 minutes ago", None, utc(2026, 1, 15, 18, 30)),
        ("an hour ago", None, utc(2026, 1, 15, 19, 0)),
        ("2 days ago", None, utc(2026, 1, 13, 20, 0)),
        ("0s ago", None, NOW),
        ("yesterday 23:10", None, utc(2026, 1, 14, 23, 10)),
        ("yesterday 23:10", NY, utc(2026, 1, 15, 4, 10)),  # 23:10 EST on the 14th
        ("Yesterday 11:10pm UTC", NY, utc(2026, 1, 14, 23, 10)),
        ("today 09:15", None, utc(2026, 1, 15, 9, 15)),
    ],
)
def test_parse_moment_forms(text: str, user_tz: ZoneInfo | None, expected: datetime) -> None:
    got = moment(text, user_tz=user_tz)
    assert got == expected
    assert got.microsecond == expected.microsecond
    assert got.tzinfo is UTC


def test_default_tz_is_used_only_when_user_has_none() -> None:
    assert moment("14:23", user_tz=None, default_tz=BERLIN) == utc(2026, 1, 15, 13, 23)
    assert moment("14:23", user_tz=NY, default_tz=BERLIN) == utc(2026, 1, 15, 19, 23)


@pytest.mark.parametrize(
    ("text", "user_tz", "expected"),
    [
        # Still to come today -> yesterday.
        ("21:00", None, utc(2026, 1, 14, 21, 0)),
        ("9pm", None, utc(2026, 1, 14, 21, 0)),
        # Exactly now is not the future (no skew allowance either way).
        ("20:00", None, NOW),
        ("20:00:00.000001", None, utc(2026, 1, 14, 20, 0, 0, 1)),
        # "Today" is the user's today: in Auckland it is already 09:00 on the 16th.
        ("08:00", AUCKLAND, utc(2026, 1, 15, 19, 0)),
        ("10:00", AUCKLAND, utc(2026, 1, 14, 21, 0)),
        # In New York it is 15:00 on the 15th.
        ("15:30", NY, utc(2026, 1, 14, 20, 30)),
        ("14:30", NY, utc(2026, 1, 15, 19, 30)),
    ],
)
def test_bare_time_in_the_future_means_yesterday(
    text: str, user_tz: ZoneInfo | None, expected: datetime
) -> None:
    assert moment(text, user_tz=user_tz) == expected


# New York switched to EDT on Sunday 2026-03-08 at 02:00 local (07:00 UTC) and
# back to EST on Sunday 2026-11-01 at 02:00 local (06:00 UTC).
@pytest.mark.parametrize(
    ("text", "now", "expected"),
    [
        # Afternoon of the change day: 14:23 is EDT (UTC-4), not the morning's EST.
        ("14:23", utc(2026, 3, 8, 20, 0), utc(2026, 3, 8, 18, 23)),
        # Morning of the change day: 14:23 is still to come, so it is yesterday's,
        # which was EST (UTC-5). Subtracting 24h from today's would be an hour off.
        ("14:23", utc(2026, 3, 8, 12, 0), utc(2026, 3, 7, 19, 23)),
        ("yesterday 23:10", utc(2026, 3, 8, 12, 0), utc(2026, 3, 8, 4, 10)),
        ("2026-03-08 03:30", utc(2026, 3, 8, 20, 0), utc(2026, 3, 8, 7, 30)),
        ("01:59", utc(2026, 3, 8, 20, 0), utc(2026, 3, 8, 6, 59)),
        # At 01:30 EST, 02:30 today never happens; yesterday's 02:30 did.
        ("02:30", utc(2026, 3, 8, 6, 30), utc(2026, 3, 7, 7, 30)),
        # The repeated hour when clocks go back: the first (EDT) occurrence.
        ("01:30", utc(2026, 11, 1, 12, 0), utc(2026, 11, 1, 5, 30)),
        # ... and an explicit offset picks the second one.
        ("2026-11-01T01:30:00-05:00", utc(2026, 11, 1, 12, 0), utc(2026, 11, 1, 6, 30)),
        ("2 hours ago", utc(2026, 3, 8, 8, 0), utc(2026, 3, 8, 6, 0)),  # elapsed, not wall time
    ],
)
def test_dst_change_days_in_new_york(text: str, now: datetime, expected: datetime) -> None:
    assert moment(text, now=now, user_tz=NY) == expected


def test_time_skipped_by_dst_is_refused() -> None:
    with pytest.raises(TimeParseError) as err:
        moment("02:30", now=utc(2026, 3, 8, 20, 0), user_tz=NY)
    assert "does not exist in America/New_York" in err.value.problem
    with pytest.raises(TimeParseError, match="does not exist"):
        moment("2026-03-08 02:30", now=utc(2026, 3, 8, 20, 0), user_tz=NY)


# ---------------------------------------------------------------------------
# parse_moment: refusals
# ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    "text",
    [
        "2026-01-16 09:00 UTC",
        "today 21:00",
        "jan 16 10:00",
        "2026-01-15T20:00:00.000001Z",  # one microsecond after now: no skew allowed
        "2026-01-15T21:00:00.000001+01:00",
    ],
)
def test_future_times_are_refused(text: str) -> None:
    with pytest.raises(TimeParseError) as err:
        moment(text)
    assert "in the future" in err.value.problem
    assert "it is now 2026-01-15T20:00:00Z" in err.value.problem


def test_future_message_shows_the_resolved_time() -> None:
    with pytest.raises(TimeParseError) as err:
        moment("2026-01-16 09:00 Europe/Berlin")
    assert err.value.problem == (
        "'2026-01-16 09:00 Europe/Berlin' is in the future: it means "
        "2026-01-16T08:00:00Z, but it is now 2026-01-15T20:00:00Z."
    )


def test_exactly_now_with_offset_is_accepted() -> None:
    assert moment("2026-01-15T21:00:00+01:00") == NOW


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "No time given"),
        ("   ", "No time given"),
        ("soon", "not a time I understand"),
        ("the 5 servers at 3", "not a time I understand"),  # dateutil fuzzy would accept
        ("14", "not a time I understand"),  # a bare number is not a time
        ("14:23 Mars/Olympus", "Unknown time zone 'Mars/Olympus'"),
        ("14:23 Amsterdam", "Unknown time zone 'Amsterdam'"),
        ("14:23 PST", "America/Los_Angeles"),
        ("14:23 IST", "abbreviation"),
        ("14:23 +25:00", "not a valid UTC offset"),
        ("14:23 UTC extra", "Unexpected text 'UTC extra'"),
        ("14:23foo", "Unexpected text 'foo'"),
        ("24:00", "not a valid time of day"),
        ("12:60", "not a valid time of day"),
        ("13pm", "hour must be 1-12"),
        ("0:30am", "hour must be 1-12"),
        ("jan 15", "needs a time of day"),
        ("2026-01-15", "needs a time of day"),
        ("yesterday", "needs a time of day"),
        ("feb 30 10:00", "is not a date"),
        ("jan 32 10:00", "Jan 32 is not a date"),
        ("2026-02-30 10:00", "is not a date"),
        ("feb 29 10:00", "does not exist in 2026; add the year"),
        ("12/01/2026 14:23", "not a time I understand"),
        ("10 parsecs ago", "not a duration"),
        ("ago", "not a time I understand"),
        ("1h 2h ago", "same unit twice"),
        ("14:23 ../../etc/passwd", "is not a time zone"),
        ("x" * 500, "too long"),
    ],
)
def test_unparseable_times_are_refused(text: str, fragment: str) -> None:
    with pytest.raises(TimeParseError) as err:
        moment(text)
    assert fragment in err.value.problem


def test_time_parse_error_lists_accepted_forms() -> None:
    with pytest.raises(TimeParseError) as err:
        moment("soon")
    assert isinstance(err.value, ValueError)
    assert str(err.value) == f"'soon' is not a time I understand.\n\n{ACCEPTED_TIME_FORMS}"
    assert "14:23 Europe/Berlin" in ACCEPTED_TIME_FORMS
    assert "10m ago" in ACCEPTED_TIME_FORMS


def test_out_of_range_dates_are_a_time_parse_error() -> None:
    with pytest.raises(TimeParseError, match="out of range"):
        moment("0001-01-01T00:00:00+05:00")


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_moment("14:23", now=datetime(2026, 1, 15), user_tz=None, default_tz=UTC_ZONE)


# ---------------------------------------------------------------------------
# split_time_prefix / explain_bad_time
# ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("14:23 UTC alerts fired for checkout", ("14:23 UTC", "alerts fired for checkout")),
        ("at 14:23 UTC alerts fired for checkout", ("14:23 UTC", "alerts fired for checkout")),
        ("at 2026-01-15T14:23:00+02:00 db failover", ("2026-01-15T14:23:00+02:00", "db failover")),
        ("at 10m ago paged", ("10m ago", "paged")),
        ("1h 30m ago paged", ("1h 30m ago", "paged")),
        ("14:23", ("14:23", "")),
        ("2:23 pm db down", ("2:23 pm", "db down")),
        ("3 am server crashed", ("3 am", "server crashed")),
        ("jan 15 14:23 Europe/Berlin ok", ("jan 15 14:23 Europe/Berlin", "ok")),
        ("2026-01-15 14:23 UTC+2 x", ("2026-01-15 14:23 UTC+2", "x")),
        ("14:23 EST deploy", ("14:23 EST", "deploy")),
        ("yesterday 23:10 first page", ("yesterday 23:10", "first page")),
        ("now  rolled back", ("now", "rolled back")),
        # Words that merely could be zones stay in the remark.
        ("14:23 Japan region down", ("14:23", "Japan region down")),
        ("14:23 read/write errors", ("14:23", "read/write errors")),
        ("14:23 +1 from ann", ("14:23", "+1 from ann")),
        ("14:23 api errors", ("14:23", "api errors")),
        ("14:23\nmultiline\ntext", ("14:23", "multiline\ntext")),
        # No time at the start.
        ("2 people paged", (None, "2 people paged")),
        ("noon-ish", (None, "noon-ish")),
        ("", (None, "")),
        ("at", (None, "at")),
        ("jan 15 db down", (None, "jan 15 db down")),
        # A zone we cannot use must not be silently dropped into the remark.
        ("14:23 PST pager", (None, "14:23 PST pager")),
        ("14:23 Europe/Berlinn pager", (None, "14:23 Europe/Berlinn pager")),
        ("14:23 +25:00 pager", (None, "14:23 +25:00 pager")),
    ],
)
def test_split_time_prefix(text: str, expected: tuple[str | None, str]) -> None:
    assert split_time_prefix(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment", "problem"),
    [
        ("14:23 PST pager", "14:23 PST", "America/Los_Angeles"),
        ("noon-ish db", "noon-ish", "not a time I understand"),
        ("25:00 db down", "25:00", "not a valid time of day"),
        ("at jan 32 10:00 x", "jan 32 10:00", "Jan 32 is not a date"),
    ],
)
def test_explain_bad_time(text: str, fragment: str, problem: str) -> None:
    got_fragment, got_problem = explain_bad_time(text)
    assert got_fragment == fragment
    assert problem in got_problem


# ---------------------------------------------------------------------------
# parse_due (now = Monday 2026-11-23 10:00 UTC)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01", date(2026, 12, 1)),
        ("dec 1", date(2026, 12, 1)),
        ("Dec. 1", date(2026, 12, 1)),
        ("1 dec", date(2026, 12, 1)),
        ("december 1st", date(2026, 12, 1)),
        ("1st of December", date(2026, 12, 1)),
        ("Dec 1st, 2027", date(2027, 12, 1)),
        ("friday", date(2026, 11, 27)),
        ("Fri", date(2026, 11, 27)),
        ("monday", date(2026, 11, 30)),  # strictly after today, which is a Monday
        ("sunday", date(2026, 11, 29)),
        ("tomorrow", date(2026, 11, 24)),
        ("today", date(2026, 11, 23)),
        ("in 3 days", date(2026, 11, 26)),
        ("in 1 day", date(2026, 11, 24)),
        ("in 2 weeks", date(2026, 12, 7)),
        ("in a week", date(2026, 11, 30)),
        ("in 1 month", date(2026, 12, 23)),
        ("in 3 months", date(2027, 2, 23)),
        ("next week", date(2026, 11, 30)),
        ("end of month", date(2026, 11, 30)),
        ("eom", date(2026, 11, 30)),
        ("end of week", date(2026, 11, 27)),
        ("EOW", date(2026, 11, 27)),
        ("nov 23", date(2026, 11, 23)),  # today is not in the past
        ("nov 1", date(2027, 11, 1)),  # no year: the next one to come
        ("jan 5", date(2027, 1, 5)),
        ("feb 29", date(2028, 2, 29)),
    ],
)
def test_parse_due_dates(text: str, expected: date) -> None:
    assert due(text) == Due(date=expected, at=None)


@pytest.mark.parametrize(
    ("text", "user_tz", "expected"),
    [
        ("2026-12-01 17:00 UTC", None, Due(date(2026, 12, 1), utc(2026, 12, 1, 17, 0))),
        ("2026-12-01 17:00 UTC", NY, Due(date(2026, 12, 1), utc(2026, 12, 1, 17, 0))),
        ("2026-12-01T17:00:00+01:00", None, Due(date(2026, 12, 1), utc(2026, 12, 1, 16, 0))),
        ("friday 09:00 Europe/Berlin", None, Due(date(2026, 11, 27), utc(2026, 11, 27, 8, 0))),
        ("friday 5pm", None, Due(date(2026, 11, 27), utc(2026, 11, 27, 17, 0))),
        ("tomorrow 17:00", NY, Due(date(2026, 11, 24), utc(2026, 11, 24, 22, 0))),
        ("dec 1 17:00", BERLIN, Due(date(2026, 12, 1), utc(2026, 12, 1, 16, 0))),
        ("eom 18:00 UTC", None, Due(date(2026, 11, 30), utc(2026, 11, 30, 18, 0))),
        ("today 10:00", None, Due(date(2026, 11, 23), DUE_NOW)),  # now is not the past
        # In Los Angeles it is 02:00 on the 23rd, so 09:00 today is still ahead.
        ("today 09:00", LA, Due(date(2026, 11, 23), utc(2026, 11, 23, 17, 0))),
    ],
)
def test_parse_due_with_time(text: str, user_tz: ZoneInfo | None, expected: Due) -> None:
    assert due(text, user_tz=user_tz) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # In Kiritimati (UTC+14) it is already midnight on Tuesday the 24th.
        ("today", date(2026, 11, 24)),
        ("tomorrow", date(2026, 11, 25)),
        ("monday", date(2026, 11, 30)),
        ("next week", date(2026, 11, 30)),
        ("nov 23", date(2027, 11, 23)),
    ],
)
def test_parse_due_uses_the_users_today(text: str, expected: date) -> None:
    assert due(text, user_tz=KIRITIMATI).date == expected


@pytest.mark.parametrize(
    ("text", "now", "expected"),
    [
        ("end of week", utc(2026, 11, 28, 12), date(2026, 12, 4)),  # Saturday: next Friday
        ("end of week", utc(2026, 11, 27, 12), date(2026, 11, 27)),  # Friday: today
        ("friday", utc(2026, 11, 27, 12), date(2026, 12, 4)),
        ("next week", utc(2026, 11, 29, 12), date(2026, 11, 30)),  # Sunday
        ("eom", utc(2026, 11, 30, 12), date(2026, 11, 30)),
        ("end of month", utc(2027, 2, 3, 12), date(2027, 2, 28)),
        ("in 1 month", utc(2027, 1, 31, 12), date(2027, 2, 28)),  # clamped, not March 3
        ("jan 5", utc(2026, 12, 31, 12), date(2027, 1, 5)),
    ],
)
def test_parse_due_relative_to_other_days(text: str, now: datetime, expected: date) -> None:
    assert due(text, now=now).date == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("2026-11-22", "is in the past: 2026-11-22 is before today (2026-11-23)"),
        ("dec 1 2025", "is in the past"),
        ("today 09:00 UTC", "it means 2026-11-23T09:00:00Z, but it is now 2026-11-23T10:00:00Z"),
        ("nov 23 09:59", "is in the past"),
        ("2026-11-23T10:59:59+01:00", "is in the past"),
    ],
)
def test_past_due_dates_are_refused(text: str, fragment: str) -> None:
    with pytest.raises(DueParseError) as err:
        due(text)
    assert fragment in err.value.problem


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("12/01/2026", "uses slashes, which is ambiguous"),
        ("12/01", "Write it as 2026-12-01 or dec 1"),
        ("friday 1/12", "uses slashes"),
        ("next friday", "not a due date I understand"),
        ("soonish", "not a due date I understand"),
        ("", "No due date given"),
        ("friday at 5", "Unexpected text 'at 5'"),
        ("friday 17:00 PST", "America/Los_Angeles"),
        ("friday 17:00 Mars/Base", "Unknown time zone"),
        ("feb 30", "is not a date"),
        ("dec 45", "Dec 45 is not a date"),
        ("45 dec", "Dec 45 is not a date"),
        ("2026-13-01", "is not a date"),
        ("friday 25:00", "not a valid time of day"),
    ],
)
def test_unparseable_due_dates_are_refused(text: str, fragment: str) -> None:
    with pytest.raises(DueParseError) as err:
        due(text)
    assert fragment in err.value.problem
    assert str(err.value).endswith(ACCEPTED_DUE_FORMS)


def test_dst_gap_in_due_time_is_refused() -> None:
    with pytest.raises(DueParseError, match="does not exist"):
        due("2027-03-14 02:30", user_tz=NY)


def test_due_parse_error_is_a_time_parse_error() -> None:
    assert issubclass(DueParseError, TimeParseError)
    assert "eow" in ACCEPTED_DUE_FORMS and "friday 09:00 Europe/Berlin" in ACCEPTED_DUE_FORMS


def test_check_due_shape_needs_no_clock() -> None:
    check_due_shape("friday 17:00 UTC")
    check_due_shape("2020-01-01")  # in the past, but the shape is fine
    with pytest.raises(DueParseError):
        check_due_shape("12/01")


@pytest.mark.parametrize(
    ("word", "expected"),
    [("friday", True), ("frday", True), ("decmber", True), ("12", True), ("tomorrow", True),
     ("eow", True), ("diligence", False), ("the", False), ("", False)],
)
def test_looks_like_due_start(word: str, expected: bool) -> None:
    assert looks_like_due_start(word) is expected


# ---------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------

_FAST = settings(max_examples=150, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow])

_ZONES = st.sampled_from([None, UTC_ZONE, NY, BERLIN, AUCKLAND, KIRITIMATI, LA,
                          ZoneInfo("Asia/Kolkata"), ZoneInfo("Australia/Lord_Howe")])
_NOWS = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1),
                     timezones=st.just(UTC))

# Words that appear in time and due forms, so generated text reaches deep
# into the parser instead of failing at the first character.
_VOCAB = st.sampled_from([
    "14:23", "2:23pm", "12am", "0:00", "23:59:59.999999", "24:00", "02:30", "01:30", "pm", "am",
    "UTC", "Z", "GMT", "+02:00", "-0530", "+14", "UTC+1", "Europe/Berlin", "America/New_York",
    "PST", "Japan", "Mars/Base", "ago", "10m", "1h30m", "2", "hours", "an", "hour", "90s",
    "yesterday", "today", "tomorrow", "now", "jan", "15", "15th", "feb", "29", "2026",
    "2026-01-15", "2026-02-29", "0001-01-01", "9999-12-31", "2026-01-15T14:23:00+02:00",
    "friday", "mon", "in", "3", "days", "weeks", "month", "next", "week", "end", "of",
    "eow", "eom", "12/01", "due", "at", ",", "T",
])
_PLAUSIBLE_TEXT = st.lists(_VOCAB, min_size=0, max_size=6).map(" ".join)
_ANY_TEXT = st.one_of(st.text(max_size=40), _PLAUSIBLE_TEXT)


@_FAST
@given(text=_ANY_TEXT, now=_NOWS, user_tz=_ZONES)
def test_parse_moment_returns_past_utc_or_raises_time_parse_error(
    text: str, now: datetime, user_tz: ZoneInfo | None
) -> None:
    try:
        got = parse_moment(text, now=now, user_tz=user_tz, default_tz=UTC_ZONE)
    except TimeParseError:
        return
    assert got.tzinfo is UTC
    assert got <= now


@_FAST
@given(text=_ANY_TEXT, now=_NOWS, user_tz=_ZONES)
def test_parse_due_returns_future_due_or_raises_due_parse_error(
    text: str, now: datetime, user_tz: ZoneInfo | None
) -> None:
    try:
        got = parse_due(text, now=now, user_tz=user_tz, default_tz=UTC_ZONE)
    except DueParseError:
        return
    assert isinstance(got, Due)
    assert isinstance(got.date, date)
    if got.at is not None:
        assert got.at.tzinfo is UTC
        assert got.at >= now


@_FAST
@given(text=_ANY_TEXT)
def test_split_time_prefix_only_returns_valid_time_forms(text: str) -> None:
    prefix, rest = split_time_prefix(text)
    if prefix is None:
        assert rest == text
        return
    check_moment_shape(prefix)  # must not raise
    # Nothing is lost or reordered: only a leading "at" may be dropped.
    words = text.split()
    if words[0].lower() == "at" and words[1:] == prefix.split() + rest.split():
        return
    assert words == prefix.split() + rest.split()


@_FAST
@given(seconds=st.integers(min_value=0, max_value=253_402_300_799),
       micros=st.integers(min_value=0, max_value=999_999))
def test_slack_ts_round_trip(seconds: int, micros: int) -> None:
    ts = f"{seconds}.{micros:06d}"
    assert datetime_to_slack_ts(slack_ts_to_datetime(ts)) == ts


@_FAST
@given(dt=st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2090, 1, 1),
                       timezones=st.sampled_from([UTC, NY, BERLIN, KIRITIMATI])),
       now=_NOWS, user_tz=_ZONES)
def test_format_utc_round_trips_through_parse_moment(
    dt: datetime, now: datetime, user_tz: ZoneInfo | None
) -> None:
    assume(dt <= now)
    # Compared in UTC: by PEP 495, a datetime in a repeated hour (fold) never
    # compares equal to one in another zone, even when it is the same instant.
    expected = dt.astimezone(UTC)
    got = parse_moment(iso_utc(dt), now=now, user_tz=user_tz, default_tz=BERLIN)
    assert got == expected
    assert got.microsecond == expected.microsecond


@_FAST
@given(seconds=st.integers(min_value=0, max_value=30 * 86_400), now=_NOWS)
def test_ago_is_exact(seconds: int, now: datetime) -> None:
    text = f"{seconds // 3600}h{seconds % 3600 // 60}m{seconds % 60}s ago"
    assert moment(text, now=now) == now - timedelta(seconds=seconds)
