"""Status updates and the nudges that ask for them.

An update (`/incident update …` or the form) is a timeline entry of kind `update`; the
incident keeps the latest one's status and when the next is expected, for the channel's
nudges and for the announcement to show (`status_of`).

Posting an update in the channel (and under the announcement) is an outbox row (kind
post_update) written with the update, carried out after commit (bot.slack.effects.updates).

Nudges are outbox rows too (kinds NUDGE_KINDS), delivered by the same claim-and-send as
action-item reminders (bot.outbox), so each goes out once across restarts and processes. Planning is pure (`plan_nudges`: incident state in, nudge times
out); `sync_nudges` makes the pending rows match the plan, like bot.services.followups.
Activity that plans nothing itself (a message in the channel) is caught at send time: a
due nudge is re-planned from the state as it is then and only sent if it still stands.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.models import Incident, OutboxItem, TimelineEntry
from bot.outbox import kinds
from bot.outbox.store import Effect, enqueue
from bot.services import announcements, followups, incidents
from bot.services.cadence import NudgeCadence, interval_of
from bot.services.followups import PlannedReminder

UTC = UTC
NUDGE_KINDS = kinds.NUDGES

STATUS_LABELS = {
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
}


def status_label(status: str | None) -> str:
    return STATUS_LABELS.get(status or "", "Update")


def entry_text(status: str | None, summary: str) -> str:
    """The timeline entry's text: the status word, then what was said."""
    return f"{status_label(status)}: {summary}" if status else summary


@dataclass(frozen=True)
class PostedUpdate:
    """A recorded status update, as it is posted (bot.slack.effects.updates builds the message)."""

    incident_id: int
    ref: str
    title: str
    severity: str | None
    status: str | None
    summary: str
    author: str
    at: datetime
    next_update_at: datetime | None
    resolved: bool

    def payload(self) -> dict[str, Any]:
        return {"ref": self.ref, "title": self.title, "severity": self.severity, "status": self.status, "summary": self.summary,
                "author": self.author, "at": self.at.isoformat(), "next_update_at": self.next_update_at.isoformat() if self.next_update_at else None}


@dataclass(frozen=True)
class NudgeFacts:
    """What a due nudge says (bot.slack.blocks.updates.nudge_message words it)."""

    kind: str
    ref: str
    incident_id: int
    channel_id: str
    since: datetime
    minutes: int | None


@dataclass(frozen=True)
class NudgeState:
    """Everything planning needs about one incident, read from the database beforehand."""

    incident_id: int
    severity: str | None
    declared_at: datetime
    open: bool  # not resolved, not closed
    has_lead: bool
    last_update_at: datetime | None
    next_update_at: datetime | None
    snoozed_until: datetime | None
    last_activity_at: datetime
    last_sent: dict[str, datetime]  # kind -> when the latest nudge of that kind was sent


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def next_update_due(state: NudgeState, cadence: NudgeCadence) -> datetime | None:
    """When the next update is owed: what the last update promised, else the severity's
    interval after it (or after the declaration); after a nudge, an interval after that."""
    interval = interval_of(cadence, state.severity)
    last = state.last_update_at or state.declared_at
    nudged = state.last_sent.get("nudge_update")
    if nudged is not None and nudged >= last:
        return nudged + interval if interval else None
    if state.last_update_at is not None and state.next_update_at is not None:
        return state.next_update_at
    return last + interval if interval else None


def plan_nudges(state: NudgeState, cadence: NudgeCadence) -> list[PlannedReminder]:
    """The nudges still to come for one incident; none once it is resolved or closed.
    A snooze pushes every nudge to its end (and a condition that still holds then is nudged then)."""
    if not state.open:
        return []
    planned: list[tuple[str, datetime, str]] = []
    due = next_update_due(state, cadence)
    if due is not None:
        planned.append(("nudge_update", due, "update"))
    if cadence.lead_minutes > 0 and not state.has_lead and "nudge_lead" not in state.last_sent:
        planned.append(("nudge_lead", state.declared_at + timedelta(minutes=cadence.lead_minutes), "lead"))
    if cadence.idle_hours > 0:
        base = max([state.last_activity_at, state.declared_at, *([state.last_sent["nudge_idle"]] if "nudge_idle" in state.last_sent else [])])
        planned.append(("nudge_idle", base + timedelta(hours=cadence.idle_hours), "idle"))
    result = []
    for kind, at, word in planned:
        if state.snoozed_until is not None and at < state.snoozed_until:
            at = state.snoozed_until
        # The lead nudge is once per incident; the others are keyed by their time, so a
        # re-plan to another time is another row and the old one is cancelled.
        key = f"nudge:{state.incident_id}:lead" if kind == "nudge_lead" else f"nudge:{state.incident_id}:{word}:{_stamp(at)}"
        result.append(PlannedReminder(kind, at, key))
    return sorted(result, key=lambda p: p.due_at)


def nudge_state(session: Session, incident: Incident) -> NudgeState:
    last_activity = session.scalar(
        select(func.max(TimelineEntry.at)).where(TimelineEntry.incident_id == incident.id, TimelineEntry.deleted_at.is_(None))
    )
    sent = session.execute(
        select(OutboxItem.kind, OutboxItem.due_at, OutboxItem.claimed_at, OutboxItem.sent_at).where(
            OutboxItem.incident_id == incident.id, OutboxItem.kind.in_(NUDGE_KINDS), OutboxItem.status == "sent"
        )
    ).all()
    last_sent: dict[str, datetime] = {}
    for kind, due_at, claimed_at, sent_at in sent:
        # The delivery's own "now" (claimed_at) counts, so a nudge sent after an outage is
        # followed by the next one an interval later, not by a backlog of missed ones.
        at = max(t for t in (due_at, claimed_at, sent_at) if t is not None)
        last_sent[kind] = max(at, last_sent.get(kind, at))
    return NudgeState(
        incident_id=incident.id,
        severity=incident.severity,
        declared_at=incident.declared_at,
        open=incident.resolved_at is None and incident.closed_at is None,
        has_lead=incident.role_holder("lead") is not None,
        last_update_at=incident.last_update_at,
        next_update_at=incident.next_update_at,
        snoozed_until=incident.updates_snoozed_until,
        last_activity_at=_aware(last_activity) if last_activity is not None else incident.declared_at,
        last_sent=last_sent,
    )


def _aware(value: datetime) -> datetime:
    # func.max() skips the column type on SQLite, so the value may come back naive or as text.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def sync_nudges(session: Session, incident: Incident, *, settings: Settings) -> list[PlannedReminder]:
    """Make the incident's pending nudges match its plan; returns the plan."""
    session.flush()
    planned = plan_nudges(nudge_state(session, incident), NudgeCadence.from_settings(settings))
    keys = [p.dedupe_key for p in planned]
    current = session.scalars(
        select(OutboxItem).where(
            OutboxItem.incident_id == incident.id,
            OutboxItem.kind.in_(NUDGE_KINDS),
            or_(OutboxItem.status == "pending", OutboxItem.dedupe_key.in_(keys)),
        )
    ).all()
    wanted = {p.dedupe_key: p for p in planned}
    for row in current:
        plan = wanted.pop(row.dedupe_key, None)
        if row.status in ("pending", "cancelled") and plan is not None:
            row.status, row.due_at, row.next_attempt_at = "pending", plan.due_at, row.next_attempt_at if row.status == "pending" else None
        elif row.status == "pending" and plan is None:
            row.status, row.last_error = "cancelled", "no longer due: updated, resolved, snoozed or active since"
    for plan in wanted.values():
        enqueue(session, Effect(plan.kind, plan.dedupe_key, incident.team_id, incident_id=incident.id, due_at=plan.due_at), now=plan.due_at)
    session.flush()
    return planned


def nudge_facts(session: Session, reminder: OutboxItem, *, settings: Settings, now: datetime) -> NudgeFacts | None:
    """What a due nudge that still stands says, else None (it is then cancelled, and whatever
    is due instead has been planned)."""
    incident = session.get(Incident, reminder.incident_id)
    if incident is None:
        return None
    state = nudge_state(session, incident)
    planned = sync_nudges(session, incident, settings=settings)
    if not any(p.dedupe_key == reminder.dedupe_key and p.due_at <= now for p in planned):
        return None
    cadence = NudgeCadence.from_settings(settings)
    if reminder.kind == "nudge_update":
        since = state.last_update_at or state.declared_at
        minutes = cadence.intervals.get(incident.severity or "")
    elif reminder.kind == "nudge_lead":
        since, minutes = state.declared_at, cadence.lead_minutes
    else:
        since, minutes = max(state.last_activity_at, state.declared_at), None
    return NudgeFacts(reminder.kind, incident.ref, incident.id, incident.channel_id, since, minutes)


def post_update(
    session: Session,
    *,
    incident: Incident,
    status: str | None,
    summary: str,
    next_minutes: int | None,
    user_id: str,
    command_id: str | None,
    now: datetime,
    settings: Settings,
    reply_to: dict[str, str] | None = None,
) -> PostedUpdate | None:
    """Record a status update and the posting of it (after commit); None when this very
    command or form was already recorded. `resolved` also records the resolved milestone, as
    `/incident resolved` does. `reply_to` says how to tell the person if the post fails."""
    added = incidents.add_command_entry(
        session, incident=incident, kind="update", text=entry_text(status, summary), at=now, author=user_id, command_id=command_id, now=now
    )
    if not added:
        return None
    cadence = NudgeCadence.from_settings(settings)
    interval = interval_of(cadence, incident.severity)
    next_at = now + timedelta(minutes=next_minutes) if next_minutes else (now + interval if interval else None)
    resolved = status == "resolved"
    if resolved:
        incidents.record_moment(
            session, incident=incident, moment="resolved", at=now, text=summary, user_id=user_id,
            command_id=f"{command_id}:resolved" if command_id else None, now=now,
        )
        followups.sync_reviews(session, incident, zone=settings.timezone, cadence=followups.Cadence.from_settings(settings))
        next_at = None
    incident.update_status = status or incident.update_status
    incident.last_update_at = now
    incident.next_update_at = next_at
    sync_nudges(session, incident, settings=settings)
    posted = PostedUpdate(incident.id, incident.ref, incident.title, incident.severity, status or incident.update_status, summary,
                          user_id, now, next_at, resolved)
    key = command_id or f"{incident.id}:{now.isoformat()}"
    enqueue(session, Effect(kinds.POST_UPDATE, f"update:{key}", incident.team_id, incident_id=incident.id,
                            lane=f"channel:{incident.team_id}:{incident.channel_id}", payload={**posted.payload(), "reply_to": reply_to}), now=now)
    announcements.request_refresh(session, incident, now=now)
    return posted


def snooze_nudges(session: Session, *, incident: Incident, minutes: int | None, now: datetime, settings: Settings) -> datetime | None:
    """`/incident snooze-updates 2h` (or `off`, minutes=None): no nudge before the snooze ends."""
    incident.updates_snoozed_until = now + timedelta(minutes=minutes) if minutes else None
    sync_nudges(session, incident, settings=settings)
    return incident.updates_snoozed_until
