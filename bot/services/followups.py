"""When follow-ups go out, and keeping the `reminders` table in step with that plan.

The planning half is pure (dates, zones and settings in; reminder times out), so every
cadence can be checked with concrete times without a database or a clock. The other half,
`sync_*`, makes the pending rows of one item or incident match its plan:

- a planned reminder with no row gets one (INSERT … ON CONFLICT DO NOTHING on the
  dedupe key, so two processes planning at once still make one row);
- a pending row whose time changed (reassigned to someone in another zone) is moved;
- a pending row that is no longer planned (done, snoozed past it) is cancelled.

Rows already claimed or sent are never touched: the planner only decides the future.

Only the *next* overdue reminder is ever planned. When it has been sent the item is
planned again from that moment, so a bot that was down for a week sends one overdue
reminder on start and then resumes the cadence, not one per missed slot.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.models import ActionItem, Incident, OutboxItem
from bot.outbox.store import Effect, enqueue

UTC = UTC
ITEM_KINDS = ("before_due", "due", "overdue", "snoozed")


@dataclass(frozen=True)
class Cadence:
    """The follow-up settings, separated from Settings so planning stays a pure function."""

    days_before: int = 1
    overdue_every_days: int = 2
    local_time: time = time(9, 30)
    digest_weekday: int = 0
    review_days: tuple[int, ...] = (7, 30, 91)

    @classmethod
    def from_settings(cls, settings: Settings) -> Cadence:
        return cls(
            days_before=settings.reminder_days_before,
            overdue_every_days=settings.reminder_overdue_every_days,
            local_time=settings.reminder_local_time,
            digest_weekday=settings.digest_weekday,
            review_days=settings.review_reminder_days,
        )


@dataclass(frozen=True)
class PlannedReminder:
    kind: str
    due_at: datetime  # aware UTC
    dedupe_key: str


def local_slot(day: date, at: time, zone: tzinfo) -> datetime:
    """`at` o'clock on `day` in `zone`, as UTC.

    A wall time skipped by a DST change (02:30 on a spring-forward night) resolves to
    the instant an hour later on the new offset, which is what a wall clock would show.
    """
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def plan_item_reminders(
    *,
    item_id: int,
    due: date | None,
    snoozed_until: datetime | None,
    owner_tz: tzinfo,
    cadence: Cadence,
    now: datetime,
) -> list[PlannedReminder]:
    """The DMs still to come for one open item: before due, on the due day, next overdue one.

    Each is at `cadence.local_time` in the owner's zone. Nothing is planned before
    `now`, nor before a snooze ends; a snooze gets its own reminder when it ends unless
    a regular one falls at that very moment.
    """
    if due is None:
        return []
    earliest = max(now, snoozed_until) if snoozed_until is not None else now
    planned: list[PlannedReminder] = []

    def add(kind: str, day: date) -> None:
        at = local_slot(day, cadence.local_time, owner_tz)
        if at >= earliest:
            planned.append(PlannedReminder(kind, at, f"item:{item_id}:{kind}:{day.isoformat()}"))

    if cadence.days_before > 0:
        add("before_due", due - timedelta(days=cadence.days_before))
    add("due", due)
    # The first overdue slot not before `earliest`: due + k·M days, k ≥ 1.
    step = cadence.overdue_every_days
    earliest_local_day = earliest.astimezone(owner_tz).date()
    k = max(1, -(-(earliest_local_day - due).days // step))
    while local_slot(due + timedelta(days=k * step), cadence.local_time, owner_tz) < earliest:
        k += 1
    add("overdue", due + timedelta(days=k * step))

    if snoozed_until is not None and snoozed_until > now and all(p.due_at != snoozed_until for p in planned):
        key = f"item:{item_id}:snoozed:{snoozed_until.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"
        planned.append(PlannedReminder("snoozed", snoozed_until.astimezone(UTC), key))
    return sorted(planned, key=lambda p: p.due_at)


def snooze_end(now: datetime, days: int, owner_tz: tzinfo, cadence: Cadence) -> datetime:
    """"Snooze 1 day" means: remind me at the usual hour `days` days from today (my time)."""
    return local_slot(now.astimezone(owner_tz).date() + timedelta(days=days), cadence.local_time, owner_tz)


def plan_digest(*, incident_id: int, zone: tzinfo, cadence: Cadence, now: datetime) -> PlannedReminder:
    """The next weekly digest in the incident channel: the configured weekday and hour, not before now."""
    today = now.astimezone(zone).date()
    day = today + timedelta(days=(cadence.digest_weekday - today.weekday()) % 7)
    if local_slot(day, cadence.local_time, zone) <= now:
        day += timedelta(days=7)
    return PlannedReminder("digest", local_slot(day, cadence.local_time, zone), f"digest:{incident_id}:{day.isoformat()}")


def plan_reviews(*, incident_id: int, resolved_at: datetime, zone: tzinfo, cadence: Cadence) -> list[PlannedReminder]:
    """Review reminders N days after resolution (default a week, a month, a quarter), at the usual hour."""
    resolved_day = resolved_at.astimezone(zone).date()
    return [
        PlannedReminder("review", local_slot(resolved_day + timedelta(days=days), cadence.local_time, zone), f"review:{incident_id}:{days}")
        for days in cadence.review_days
    ]


# --- keeping rows in step with the plan ------------------------------------------------


def _apply_plan(session: Session, *, incident: Incident, item_id: int | None, current: Iterable[OutboxItem], planned: list[PlannedReminder]) -> None:
    wanted = {p.dedupe_key: p for p in planned}
    for row in current:
        plan = wanted.pop(row.dedupe_key, None)
        if row.status in ("pending", "cancelled") and plan is not None:
            row.status, row.due_at, row.kind = "pending", plan.due_at, plan.kind
        elif row.status == "pending" and plan is None:
            row.status = "cancelled"
    for plan in wanted.values():
        enqueue(session, Effect(plan.kind, plan.dedupe_key, incident.team_id, incident_id=incident.id, action_item_id=item_id,
                                due_at=plan.due_at), now=plan.due_at)
    session.flush()


def sync_item(session: Session, item: ActionItem, *, owner_tz: tzinfo, cadence: Cadence, now: datetime) -> None:
    """Re-plan one item's DMs; an item that is no longer open gets none."""
    planned = (
        plan_item_reminders(item_id=item.id, due=item.due_date, snoozed_until=item.snoozed_until, owner_tz=owner_tz, cadence=cadence, now=now)
        if item.status == "open"
        else []
    )
    current = session.scalars(select(OutboxItem).where(OutboxItem.action_item_id == item.id)).all()
    _apply_plan(session, incident=item.incident, item_id=item.id, current=current, planned=planned)


def sync_digest(session: Session, incident: Incident, *, zone: tzinfo, cadence: Cadence, now: datetime) -> None:
    """A weekly digest is planned while the incident has open items, and cancelled once none are."""
    has_open = session.scalar(
        select(ActionItem.id).where(ActionItem.incident_id == incident.id, ActionItem.status == "open").limit(1)
    )
    planned = [plan_digest(incident_id=incident.id, zone=zone, cadence=cadence, now=now)] if has_open else []
    query = select(OutboxItem).where(OutboxItem.incident_id == incident.id, OutboxItem.kind == "digest", OutboxItem.status == "pending")
    if has_open:
        # A digest already due (say, waiting to be retried after a failed send) still goes out.
        query = query.where(OutboxItem.due_at > now)
    current = session.scalars(query).all()
    _apply_plan(session, incident=incident, item_id=None, current=current, planned=planned)


def sync_reviews(session: Session, incident: Incident, *, zone: tzinfo, cadence: Cadence) -> None:
    """Review reminders follow the resolution time (the close, if `resolved` was never given);
    moving it moves the ones not yet sent."""
    resolved_at = incident.resolved_at or incident.closed_at
    planned = plan_reviews(incident_id=incident.id, resolved_at=resolved_at, zone=zone, cadence=cadence) if resolved_at is not None else []
    current = session.scalars(select(OutboxItem).where(OutboxItem.incident_id == incident.id, OutboxItem.kind == "review")).all()
    _apply_plan(session, incident=incident, item_id=None, current=current, planned=planned)
