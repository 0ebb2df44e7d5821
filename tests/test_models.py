"""UTCDateTime's fast SQLite binding writes exactly what SQLAlchemy's own chain would."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import TypeDecorator, select
from sqlalchemy.dialects import sqlite

from bot.models import TimelineEntry, UTCDateTime

DIALECT = sqlite.dialect()
BERLIN = ZoneInfo("Europe/Berlin")

VALUES = [
    datetime(2026, 11, 23, 10, 0, 0, 123456, tzinfo=UTC),
    datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC),  # no microseconds: still ".000000"
    datetime(2026, 11, 23, 10, 0, 0, 5, tzinfo=ZoneInfo("UTC")),  # UTC, but not datetime's own UTC object
    datetime(2026, 3, 29, 2, 30, 0, 1, tzinfo=BERLIN),  # inside a DST change
    datetime(2026, 10, 25, 2, 30, 0, 999999, tzinfo=BERLIN, fold=1),
    datetime(2026, 1, 1, 0, 0, 0, tzinfo=timezone(timedelta(hours=-9, minutes=-30))),  # crosses a year in UTC
    datetime(999, 5, 6, 7, 8, 9, 10, tzinfo=UTC),  # a three-digit year is still zero-padded
    None,
]


def bound():  # type: ignore[no-untyped-def]
    """Ours, obtained the way SQLAlchemy obtains a column's processor for a dialect."""
    return UTCDateTime().dialect_impl(DIALECT).bind_processor(DIALECT)


def library_chain():  # type: ignore[no-untyped-def]
    """What SQLAlchemy binds without our override: process_bind_param, then SQLite's DATETIME format."""
    return TypeDecorator.bind_processor(UTCDateTime().dialect_impl(DIALECT), DIALECT)


@pytest.mark.parametrize("value", VALUES, ids=lambda v: "none" if v is None else v.isoformat())
def test_sqlite_text_is_the_same_as_sqlalchemys(value) -> None:  # type: ignore[no-untyped-def]
    ours = bound()
    assert ours(value) == library_chain()(value)


def test_the_stored_text_is_utc_with_microseconds() -> None:
    ours = bound()
    assert ours(datetime(2026, 11, 23, 11, 0, 0, tzinfo=BERLIN)) == "2026-11-23 10:00:00.000000"


def test_a_naive_datetime_is_refused_as_before() -> None:
    ours = bound()
    with pytest.raises(ValueError, match="naive datetime"):
        ours(datetime(2026, 11, 23, 10, 0, 0))


def test_a_date_is_bound_by_the_library_chain() -> None:
    # Not a datetime: handed to SQLAlchemy's chain, which refuses it the way it always did.
    ours = bound()
    with pytest.raises((TypeError, AttributeError)):
        ours(date(2026, 11, 23))


def test_orm_written_times_read_back_exactly(session_factory) -> None:  # type: ignore[no-untyped-def]
    from tests.test_open_incident_inserts import _start

    at = datetime(2026, 11, 23, 11, 15, 30, 250000, tzinfo=BERLIN)
    with session_factory.begin() as s:
        incident = _start(s, "T1", "C1")
        s.add(TimelineEntry(incident_id=incident.id, team_id="T1", channel_id="C1", ts="1795000000.000100", at=at,
                            kind="message", text="rollback done", author="U1", source="message", key=False, recorded_at=at))
    with session_factory() as s:
        stored = s.scalars(select(TimelineEntry.at).where(TimelineEntry.ts == "1795000000.000100")).one()
    assert stored == at and stored.tzinfo is not None and stored.utcoffset() == timedelta(0)
