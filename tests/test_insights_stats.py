"""Statistics across incidents: period parsing and the numbers, on crafted incidents whose
medians and p90s are worked out by hand (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.insights.stats import (
    ActionRecord,
    IncidentRecord,
    Period,
    PeriodError,
    compute_stats,
    median,
    p90,
    parse_period,
    trend_phrase,
)
from bot.models import ActionItem, Incident, Postmortem
from bot.services.stats import incident_stats

UTC = UTC
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
MIN = 60.0


def at(month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


# --- periods ------------------------------------------------------------------------------------

def test_default_and_last_n_days() -> None:
    assert parse_period("", NOW) == Period(NOW - timedelta(days=30), NOW)
    assert parse_period("", NOW).describe() == "last 30 days"
    assert parse_period("last 90d", NOW) == Period(NOW - timedelta(days=90), NOW)
    assert parse_period("LAST 365d", NOW).start == NOW - timedelta(days=365)
    assert parse_period("last 7 days", NOW).describe() == "last 7 days"
    assert parse_period("last 30d", NOW).previous() == Period(NOW - timedelta(days=60), NOW - timedelta(days=30))
    assert parse_period("last 30d", NOW).previous().describe() == "previous 30 days"


def test_dates_are_whole_utc_days_and_times_read_like_at() -> None:
    p = parse_period("2026-01-01 to 2026-01-31", NOW)
    assert (p.start, p.end) == (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))
    assert p.previous() == Period(datetime(2025, 12, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
    assert p.describe() == "2026-01-01 00:00:00 UTC to 2026-02-01 00:00:00 UTC"
    p = parse_period("2026-01-15 14:00 UTC to 2026-01-15 18:30 Europe/Berlin", NOW)
    assert (p.start, p.end) == (datetime(2026, 1, 15, 14, 0, tzinfo=UTC), datetime(2026, 1, 15, 17, 30, tzinfo=UTC))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("yesterday-ish", "'yesterday-ish' is not a period I understand."),
        ("2026-02-01 to 2026-01-01", "The period ends (2026-01-02 00:00:00 UTC) before it starts (2026-02-01 00:00:00 UTC): put the earlier time first."),
        ("2026-02-30 to 2026-03-01", "The start '2026-02-30' is not a real date."),
        ("last 0d", "'last 0d': the number of days must be between 1 and 3660."),
        ("2026-01-01 to soon", "The end of the period: 'soon' is not a time I understand."),
    ],
)
def test_bad_periods_say_what_was_wrong_and_list_the_forms(text: str, problem: str) -> None:
    with pytest.raises(PeriodError) as caught:
        parse_period(text, NOW)
    assert caught.value.problem == problem
    assert str(caught.value).startswith(problem + "\n\nPeriods I understand:\n  last 30d   last 90d   last 365d")
    assert isinstance(caught.value, ValueError)


def test_median_and_p90_interpolate() -> None:
    assert (median([5, 10, 15, 20, 30]), p90([5, 10, 15, 20, 30])) == (15.0, 26.0)
    assert (median([10, 20, 30, 40]), p90([40, 10, 30, 20])) == (25.0, 37.0)
    assert (median([7]), p90([7])) == (7.0, 7.0)
    assert (median([]), p90([])) == (None, None)


def test_trend_phrase() -> None:
    previous = parse_period("last 30d", NOW).previous()
    assert trend_phrase(-6 * MIN, previous) == "▼ 6 min vs previous 30 days"
    assert trend_phrase(90 * MIN, previous) == "▲ 1 h 30 min vs previous 30 days"
    assert trend_phrase(0.0, previous) == "= same as previous 30 days"
    assert trend_phrase(None, previous) == ""


def test_private_incidents_count_but_their_titles_stay_hidden() -> None:
    period = parse_period("last 30d", NOW)
    records = [
        IncidentRecord(1, "Payroll export leaked", "sev1", at(11, 1), None, at(11, 1, 10, 5), at(11, 1, 11), at(11, 1, 12), private=True),
        IncidentRecord(2, "Checkout 502", "sev2", at(11, 2), None, at(11, 2, 10, 5), None, at(11, 2, 11)),
    ]
    hidden = compute_stats(team_id="T1", period=period, severity=None, now=NOW, incidents=records)
    assert (hidden.total, hidden.private) == (2, 1)
    assert [(line.ref, line.title) for line in hidden.longest] == [("INC-1", None), ("INC-2", "Checkout 502")]
    assert "Payroll" not in str(hidden.to_dict())
    assert hidden.to_dict()["longest"][0]["private"] is True
    shown = compute_stats(team_id="T1", period=period, severity=None, now=NOW, incidents=records, show_private_titles=True)
    assert shown.longest[0].title == "Payroll export leaked"


def test_action_items_on_time_late_overdue() -> None:
    period = parse_period("last 30d", NOW)
    incident = IncidentRecord(1, "x", "sev2", at(11, 1), None, None, None, None)
    items = [
        ActionRecord(1, "done", date(2026, 11, 5), None, at(11, 2), at(11, 5, 23, 59)),  # on time: by the end of its day
        ActionRecord(1, "done", None, at(11, 4, 12), at(11, 3), at(11, 4, 12, 1)),  # a minute late
        ActionRecord(1, "done", None, None, at(11, 3), at(11, 13), True),  # no due date: neither; closed in the tracker
        ActionRecord(1, "open", date(2026, 11, 22), None, at(11, 3), None),  # overdue
        ActionRecord(1, "open", None, at(11, 23, 10, 0, ), at(11, 3), None),  # due right now: not yet overdue
        ActionRecord(1, "wontfix", None, None, at(11, 3), at(11, 4), True),
        ActionRecord(2, "open", date(2026, 1, 1), None, at(11, 3), None, True),  # another incident's
    ]
    s = compute_stats(team_id="T1", period=period, severity=None, now=NOW, incidents=[incident], actions=items)
    assert s.actions.to_dict() == {"total": 6, "open": 2, "overdue": 1, "done": 3, "done_on_time": 1, "done_late": 1,
                                   "wontfix": 1, "median_days_to_done": 3.6, "in_tracker": 2}


# --- through the database --------------------------------------------------------------------------

def add_incident(session, n: int, severity: str | None, start: datetime, ttd: float | None, ttm: float | None, ttr: float | None,
                 *, team: str = "T0SIM", started_at: datetime | None = None) -> Incident:  # type: ignore[no-untyped-def]
    """An incident declared at `start` (or impact from `started_at`), times in minutes after it."""
    impact = started_at or start
    detected = impact + timedelta(minutes=ttd) if ttd is not None else None
    incident = Incident(
        id=n, team_id=team, channel_id=f"C{n:04d}", channel_name=f"inc-{n}", title=f"Incident number {n}", severity=severity,
        created_by="U0ANN", declared_at=start, started_at=started_at, detected_at=detected,
        mitigated_at=detected + timedelta(minutes=ttm) if detected and ttm is not None else None,
        resolved_at=detected + timedelta(minutes=ttr) if detected and ttr is not None else None,
        closed_at=None,
    )
    session.add(incident)
    return incident


def seed(session) -> None:  # type: ignore[no-untyped-def]
    add_incident(session, 1, "sev1", at(11, 2), 5, 20, 60)
    add_incident(session, 2, "sev2", at(11, 3), 10, 30, 90)
    add_incident(session, 3, "sev2", at(11, 10), 15, 40, 120)
    add_incident(session, 4, "sev3", at(11, 17), 20, None, None)
    add_incident(session, 5, None, at(10, 24), 30, 10, 30)  # exactly at the period's start: in
    # The previous 30 days:
    add_incident(session, 6, "sev2", at(10, 1), 25, 40, 60)
    add_incident(session, 7, "sev1", at(10, 10), 35, 50, 100)
    # Declared inside the period, but the impact began just before it: previous period.
    add_incident(session, 10, "sev3", at(10, 24, 11), None, None, None, started_at=at(10, 24, 9))
    session.flush()
    session.get(Incident, 10).detected_at = at(10, 24, 11)  # TTD 2 h
    # Outside both periods, or another team's:
    add_incident(session, 8, "sev1", at(9, 1), 1, 1, 1)
    add_incident(session, 9, "sev1", at(11, 5), 1, 1, 1, team="T0OTHER")
    add_incident(session, 11, "sev1", NOW, 1, 1, 1)  # the period's end is excluded
    session.add_all([
        ActionItem(incident_id=1, text="a", owner_id="U0ANN", created_by="U0ANN", due_date=date(2026, 11, 5), status="done",
                   created_at=at(11, 2), closed_at=at(11, 3)),
        ActionItem(incident_id=1, text="b", owner_id="U0ANN", created_by="U0ANN", due_date=date(2026, 11, 20), status="open", created_at=at(11, 2)),
        ActionItem(incident_id=1, text="c", owner_id="U0ANN", created_by="U0ANN", due_date=date(2026, 11, 30), status="open", created_at=at(11, 2)),
        ActionItem(incident_id=2, text="d", owner_id="U0BOB", created_by="U0BOB", due_at=at(11, 4, 12), status="done",
                   created_at=at(11, 3, 12), closed_at=at(11, 6, 12)),
        ActionItem(incident_id=2, text="e", owner_id="U0BOB", created_by="U0BOB", status="wontfix", created_at=at(11, 3), closed_at=at(11, 4)),
        ActionItem(incident_id=6, text="f", owner_id="U0BOB", created_by="U0BOB", status="open", created_at=at(10, 2)),
        ActionItem(incident_id=9, text="g", owner_id="U0BOB", created_by="U0BOB", status="open", created_at=at(11, 6)),
    ])
    session.add_all([
        Postmortem(incident_id=1, status="final", updated_at=NOW),
        Postmortem(incident_id=2, status="in_review", updated_at=NOW),
        Postmortem(incident_id=3, status="draft", updated_at=NOW),
        Postmortem(incident_id=6, status="final", updated_at=NOW),
    ])


def test_stats_of_crafted_incidents(session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_factory.begin() as session:
        seed(session)
    with session_factory() as session:
        s = incident_stats(session, team_id="T0SIM", period=parse_period("last 30d", NOW), severity=None, now=NOW)
    assert s.total == 5
    assert dict(s.by_severity) == {"sev1": 1, "sev2": 2, "sev3": 1, "sev4": 0, "none": 1}
    m = {key: (v.count, v.median_s, v.p90_s) for key, v in s.metrics.items()}
    assert m == {
        "time_to_detect_s": (5, 15 * MIN, 26 * MIN),
        "time_to_mitigate_s": (4, 25 * MIN, 37 * MIN),
        "time_to_resolve_s": (4, 75 * MIN, 111 * MIN),
        "duration_s": (4, 82.5 * MIN, 124.5 * MIN),
    }
    assert s.previous is not None and s.previous.total == 3
    assert s.previous.metrics["time_to_detect_s"].median_s == 35 * MIN
    assert s.change("time_to_detect_s") == -20 * MIN
    assert s.change("time_to_mitigate_s") == -20 * MIN
    assert s.actions.to_dict() == {"total": 5, "open": 2, "overdue": 1, "done": 2, "done_on_time": 1, "done_late": 1,
                                   "wontfix": 1, "median_days_to_done": 2.0, "in_tracker": 0}
    assert s.previous.actions.open == 1
    assert s.postmortems.to_dict() == {"final": 1, "drafted": 2, "in_review": 1, "draft": 1, "none": 2}
    assert [(line.ref, line.duration_s) for line in s.longest] == [("INC-3", 135 * MIN), ("INC-2", 100 * MIN), ("INC-1", 65 * MIN)]
    assert [(p.week.isoformat(), p.severity, p.incidents, p.time_to_detect_s) for p in s.weekly] == [
        ("2026-10-19", "none", 1, 30 * MIN),
        ("2026-11-02", "sev1", 1, 5 * MIN),
        ("2026-11-02", "sev2", 1, 10 * MIN),
        ("2026-11-09", "sev2", 1, 15 * MIN),
        ("2026-11-16", "sev3", 1, 20 * MIN),
    ]
    data = s.to_dict()
    assert data["period"] == {"start": "2026-10-24T10:00:00Z", "end": "2026-11-23T10:00:00Z", "label": "last 30 days"}
    assert data["trend"]["time_to_detect_s"] == -1200.0
    assert data["previous"]["incidents"]["total"] == 3


def test_severity_filter_applies_to_both_periods(session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_factory.begin() as session:
        seed(session)
    with session_factory() as session:
        s = incident_stats(session, team_id="T0SIM", period=parse_period("last 30d", NOW), severity="sev2", now=NOW)
    assert (s.total, s.metrics["time_to_detect_s"].median_s, s.metrics["time_to_detect_s"].p90_s) == (2, 12.5 * MIN, 14.5 * MIN)
    assert s.previous is not None and s.previous.total == 1
    assert s.change("time_to_detect_s") == -12.5 * MIN
    assert (s.actions.total, s.postmortems.final, s.postmortems.in_review) == (2, 0, 1)


def test_an_empty_period(session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_factory.begin() as session:
        seed(session)
    with session_factory() as session:
        s = incident_stats(session, team_id="T0SIM", period=parse_period("2025-01-01 to 2025-01-31", NOW), severity=None, now=NOW)
    assert s.empty and s.total == 0
    assert all(v.median_s is None and v.count == 0 for v in s.metrics.values())
    assert s.weekly == () and s.longest == ()
    assert s.to_dict()["trend"] == {"time_to_detect_s": None, "time_to_mitigate_s": None, "time_to_resolve_s": None, "duration_s": None}


# --- the chart ------------------------------------------------------------------------------------

def _png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_weekly_chart_draws_one_line_per_severity_and_is_deterministic(session_factory) -> None:  # type: ignore[no-untyped-def]
    from bot.insights.chart import weekly_metrics_chart

    with session_factory.begin() as session:
        seed(session)
    with session_factory() as session:
        s = incident_stats(session, team_id="T0SIM", period=parse_period("last 30d", NOW), severity=None, now=NOW)
    png = weekly_metrics_chart(s)
    assert _png_size(png) == (1000, 780)
    assert weekly_metrics_chart(s) == png
    empty = compute_stats(team_id="T0SIM", period=parse_period("last 30d", NOW), severity=None, now=NOW, incidents=[])
    empty_png = weekly_metrics_chart(empty)
    assert _png_size(empty_png) == (800, 220)
    assert empty_png != png
