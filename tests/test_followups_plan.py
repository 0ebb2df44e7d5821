"""Pure follow-up planning: every cadence with concrete times, in several zones, across DST changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from bot.services.followups import Cadence, plan_digest, plan_item_reminders, plan_reviews, snooze_end

UTC = UTC
DEFAULT = Cadence()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def plan(due: date, zone: str, now: datetime, cadence: Cadence = DEFAULT, snoozed_until: datetime | None = None):  # type: ignore[no-untyped-def]
    planned = plan_item_reminders(item_id=7, due=due, snoozed_until=snoozed_until, owner_tz=ZoneInfo(zone), cadence=cadence, now=now)
    return [(p.kind, p.due_at, p.dedupe_key) for p in planned]


def test_new_york_across_the_spring_forward() -> None:
    # US clocks go forward on 2026-03-08: the day-before reminder is already on EDT (UTC-4).
    assert plan(date(2026, 3, 9), "America/New_York", utc(2026, 3, 1, 12)) == [
        ("before_due", utc(2026, 3, 8, 13, 30), "item:7:before_due:2026-03-08"),
        ("due", utc(2026, 3, 9, 13, 30), "item:7:due:2026-03-09"),
        ("overdue", utc(2026, 3, 11, 13, 30), "item:7:overdue:2026-03-11"),
    ]


def test_new_york_in_winter_is_utc_minus_five() -> None:
    assert plan(date(2026, 12, 1), "America/New_York", utc(2026, 11, 23, 10))[:2] == [
        ("before_due", utc(2026, 11, 30, 14, 30), "item:7:before_due:2026-11-30"),
        ("due", utc(2026, 12, 1, 14, 30), "item:7:due:2026-12-01"),
    ]


def test_berlin_reminders_straddle_the_eu_change() -> None:
    # EU summer time starts 2026-03-29: 09:30 CET is 08:30Z on the 28th, 09:30 CEST is 07:30Z after.
    cadence = Cadence(days_before=2)
    assert plan(date(2026, 3, 30), "Europe/Berlin", utc(2026, 3, 20), cadence) == [
        ("before_due", utc(2026, 3, 28, 8, 30), "item:7:before_due:2026-03-28"),
        ("due", utc(2026, 3, 30, 7, 30), "item:7:due:2026-03-30"),
        ("overdue", utc(2026, 4, 1, 7, 30), "item:7:overdue:2026-04-01"),
    ]


def test_tokyo_and_kolkata_without_dst() -> None:
    assert [p[1] for p in plan(date(2026, 12, 1), "Asia/Tokyo", utc(2026, 11, 23))] == [
        utc(2026, 11, 30, 0, 30), utc(2026, 12, 1, 0, 30), utc(2026, 12, 3, 0, 30)
    ]
    assert [p[1] for p in plan(date(2026, 12, 1), "Asia/Kolkata", utc(2026, 11, 23))] == [
        utc(2026, 11, 30, 4, 0), utc(2026, 12, 1, 4, 0), utc(2026, 12, 3, 4, 0)
    ]


def test_a_wall_time_skipped_by_dst_lands_an_hour_later() -> None:
    cadence = Cadence(days_before=0, local_time=time(2, 30))
    # 02:30 does not exist in New York on 2026-03-08; the clock shows 03:30 EDT then = 07:30Z.
    assert plan(date(2026, 3, 8), "America/New_York", utc(2026, 3, 1), cadence)[0] == ("due", utc(2026, 3, 8, 7, 30), "item:7:due:2026-03-08")


def test_slots_already_past_are_not_planned_and_only_the_next_overdue_is() -> None:
    due = date(2026, 12, 1)
    # Created at 10:00 on the due day (after 09:30): the next reminder is the first overdue one.
    assert plan(due, "UTC", utc(2026, 12, 1, 10)) == [("overdue", utc(2026, 12, 3, 9, 30), "item:7:overdue:2026-12-03")]
    # Planned again on day 4 before 09:30, and after: every 2 days from the due date.
    assert plan(due, "UTC", utc(2026, 12, 5, 9)) == [("overdue", utc(2026, 12, 5, 9, 30), "item:7:overdue:2026-12-05")]
    assert plan(due, "UTC", utc(2026, 12, 5, 10)) == [("overdue", utc(2026, 12, 7, 9, 30), "item:7:overdue:2026-12-07")]


def test_custom_cadence() -> None:
    cadence = Cadence(days_before=3, overdue_every_days=7, local_time=time(18, 0))
    assert plan(date(2026, 12, 10), "UTC", utc(2026, 12, 1), cadence) == [
        ("before_due", utc(2026, 12, 7, 18), "item:7:before_due:2026-12-07"),
        ("due", utc(2026, 12, 10, 18), "item:7:due:2026-12-10"),
        ("overdue", utc(2026, 12, 17, 18), "item:7:overdue:2026-12-17"),
    ]
    assert [p[0] for p in plan(date(2026, 12, 10), "UTC", utc(2026, 12, 1), Cadence(days_before=0))] == ["due", "overdue"]


def test_no_due_date_means_no_dms() -> None:
    assert plan_item_reminders(item_id=1, due=None, snoozed_until=None, owner_tz=UTC, cadence=DEFAULT, now=utc(2026, 1, 1)) == []


def test_snooze_adds_a_reminder_when_it_ends_and_drops_earlier_ones() -> None:
    now = utc(2026, 12, 1, 10)
    until = snooze_end(now, 1, ZoneInfo("UTC"), DEFAULT)
    assert until == utc(2026, 12, 2, 9, 30)
    assert plan(date(2026, 12, 10), "UTC", now, snoozed_until=until) == [
        ("snoozed", utc(2026, 12, 2, 9, 30), "item:7:snoozed:20261202T093000Z"),
        ("before_due", utc(2026, 12, 9, 9, 30), "item:7:before_due:2026-12-09"),
        ("due", utc(2026, 12, 10, 9, 30), "item:7:due:2026-12-10"),
        ("overdue", utc(2026, 12, 12, 9, 30), "item:7:overdue:2026-12-12"),
    ]
    # A week's snooze from the 8th skips the day-before and due-day DMs.
    now = utc(2026, 12, 8, 10)
    until = snooze_end(now, 7, ZoneInfo("UTC"), DEFAULT)
    assert plan(date(2026, 12, 10), "UTC", now, snoozed_until=until) == [
        ("snoozed", utc(2026, 12, 15, 9, 30), "item:7:snoozed:20261215T093000Z"),
        ("overdue", utc(2026, 12, 16, 9, 30), "item:7:overdue:2026-12-16"),
    ]
    # A snooze ending exactly on a regular slot doesn't add a second DM.
    until = snooze_end(utc(2026, 12, 8, 10), 1, ZoneInfo("UTC"), DEFAULT)
    assert [p[0] for p in plan(date(2026, 12, 10), "UTC", utc(2026, 12, 8, 10), snoozed_until=until)] == ["before_due", "due", "overdue"]


def test_snooze_end_is_the_owners_day() -> None:
    # 23:30Z on Monday is already Tuesday in Tokyo: "1 day" is Wednesday 09:30 JST.
    assert snooze_end(utc(2026, 11, 23, 23, 30), 1, ZoneInfo("Asia/Tokyo"), DEFAULT) == utc(2026, 11, 25, 0, 30)


def test_weekly_digest_slot() -> None:
    # 2026-11-23 is a Monday.
    assert plan_digest(incident_id=3, zone=UTC, cadence=DEFAULT, now=utc(2026, 11, 23, 9)).due_at == utc(2026, 11, 23, 9, 30)
    later = plan_digest(incident_id=3, zone=UTC, cadence=DEFAULT, now=utc(2026, 11, 23, 9, 30))
    assert (later.due_at, later.dedupe_key) == (utc(2026, 11, 30, 9, 30), "digest:3:2026-11-30")
    friday = Cadence(digest_weekday=4)
    assert plan_digest(incident_id=3, zone=UTC, cadence=friday, now=utc(2026, 11, 23, 12)).due_at == utc(2026, 11, 27, 9, 30)
    # Sunday 23:30Z is Monday 00:30 in Berlin: this Monday's 09:30 CET.
    assert plan_digest(incident_id=3, zone=ZoneInfo("Europe/Berlin"), cadence=DEFAULT, now=utc(2026, 11, 22, 23, 30)).due_at == utc(2026, 11, 23, 8, 30)


def test_review_reminders_week_month_quarter_after_resolution() -> None:
    planned = plan_reviews(incident_id=3, resolved_at=utc(2026, 11, 23, 15), zone=UTC, cadence=DEFAULT)
    assert [(p.kind, p.due_at, p.dedupe_key) for p in planned] == [
        ("review", utc(2026, 11, 30, 9, 30), "review:3:7"),
        ("review", utc(2026, 12, 23, 9, 30), "review:3:30"),
        ("review", utc(2027, 2, 22, 9, 30), "review:3:91"),
    ]
