"""The one announcement per incident in SCRIBE_ANNOUNCE_CHANNEL, kept true, and the closing line:
what they should say, and asking for them to be posted or edited.

Posting and editing are outbox rows (bot.outbox), carried out after commit by
bot.slack.effects.announcements:
- `request_announce` claims the incident's `announcements` row (its primary key is the
  incident id, so a second process or a redelivery finds it taken and asks for nothing)
  and asks for the post (kind announce), once;
- `request_refresh` asks for the announcement, the closing line and a declared channel's
  topic to be brought up to date (kind refresh_announcement). It is called in the same
  transaction as every change they show: severity, title, lead, started and resolved
  times, close, a status update, the postmortem's link. The rows of one incident go in
  order (one lane), and each reads the facts when it runs, so the last one leaves the
  message true.

Slack failures never undo what was recorded: they are logged, and where a person is
waiting (the declare reply) the row's result says what to tell them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.db import insert_ignoring_duplicates
from bot.models import Announcement, Declaration, Incident
from bot.outbox import kinds
from bot.outbox.store import Effect, enqueue
from bot.services.cadence import status_of


@dataclass(frozen=True)
class AnnouncementFacts:
    """Everything the announcement shows; plain values, no database or Slack objects."""

    incident_id: int
    ref: str
    title: str
    severity: str | None
    status: str  # open | resolved | closed
    lead: str | None
    channel_id: str
    started_at: datetime
    private: bool
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    postmortem_url: str | None = None
    # From status updates (`/incident update`), when known: the latest update's status
    # (investigating, identified, monitoring, resolved) and when the next one is due.
    update_status: str | None = None
    next_update_at: datetime | None = None

    @property
    def status_label(self) -> str:
        return {"open": ":red_circle: Open", "resolved": ":large_green_circle: Resolved", "closed": ":white_check_mark: Closed"}.get(self.status, self.status)

    @property
    def ended_at(self) -> datetime | None:
        return self.resolved_at or self.closed_at

    @property
    def duration_s(self) -> float | None:
        end = self.ended_at
        return None if end is None else max(0.0, (end - self.started_at).total_seconds())


def facts_of(incident: Incident, announcement: Announcement | None, settings: Settings) -> AnnouncementFacts:
    update = status_of(incident, settings)  # the latest status update, and when the next is owed
    status = "closed" if incident.closed_at else ("resolved" if incident.resolved_at else "open")
    return AnnouncementFacts(
        incident_id=incident.id,
        ref=incident.ref,
        title=incident.title,
        severity=incident.severity,
        status=status,
        lead=incident.role_holder("lead"),
        channel_id=incident.channel_id,
        started_at=incident.began_at,
        private=bool(announcement.private) if announcement is not None else True,
        resolved_at=incident.resolved_at,
        closed_at=incident.closed_at,
        postmortem_url=announcement.postmortem_url if announcement is not None else None,
        update_status=update.status,
        next_update_at=update.next_update_at,
    )


def thread_target(session: Session, incident_id: int) -> tuple[str, str] | None:
    """Where to thread things under the announcement (channel id, ts): None when there is none
    yet, and always None for a private incident, whose announcement must stay content-free."""
    row = session.get(Announcement, incident_id)
    if row is None or row.private or row.status != "posted" or not row.channel_id or not row.ts:
        return None
    return row.channel_id, row.ts


def is_declared(session: Session, incident_id: int) -> bool:
    return session.scalars(select(Declaration.id).where(Declaration.incident_id == incident_id)).first() is not None


def announce_lane(incident_id: int) -> str:
    return f"announcement:{incident_id}"


def request_announce(session: Session, incident: Incident, *, private: bool, settings: Settings, now: datetime, lane: str | None = None) -> bool:
    """Claim the incident's announcement and ask for it to be posted after commit; False when
    it was claimed already. Without an announce channel the row still marks the incident as
    one whose closing line and topic are kept (status none). `lane`: run after the rows of
    that lane (a declare's set-up), else in the announcement's own."""
    configured = settings.announce_channel is not None
    claimed = insert_ignoring_duplicates(
        session, Announcement,
        dict(incident_id=incident.id, private=private, status="posting" if configured else "none", created_at=now, updated_at=now),
        ["incident_id"],
    )
    if claimed and configured:
        enqueue(session, Effect(kinds.ANNOUNCE, f"announce:{incident.id}", incident.team_id, incident_id=incident.id,
                                lane=lane or announce_lane(incident.id)), now=now)
    return claimed


def request_refresh(session: Session, incident: Incident, *, now: datetime) -> None:
    """Ask for what the announcement, the closing line and a declared channel's topic show
    to be brought up to date after commit. Nothing to do for an incident never announced."""
    session.flush()
    if session.get(Announcement, incident.id) is None:
        return
    asked = session.info.setdefault("scribe_refresh_asked", set())
    if incident.id in asked:
        return  # once per transaction: the refresh reads the facts when it runs
    asked.add(incident.id)
    enqueue(session, Effect(kinds.REFRESH_ANNOUNCEMENT, f"announce:{incident.id}:refresh:{uuid.uuid4().hex}", incident.team_id,
                            incident_id=incident.id, lane=announce_lane(incident.id)), now=now)


def note_postmortem(session: Session, incident: Incident, *, url: str, now: datetime) -> None:
    """A postmortem draft was posted: link it from the announcement and the closing line (once:
    regenerating edits the same summary message, so the link stays)."""
    row = session.get(Announcement, incident.id)
    if row is None or row.postmortem_url:
        return
    row.postmortem_url, row.updated_at = url[:500], now
    request_refresh(session, incident, now=now)
