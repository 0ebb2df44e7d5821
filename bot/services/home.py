"""What a person's App Home shows: their open incidents, the action items they own, and
recent postmortems awaiting review. Plain data out; Block Kit is bot.slack.blocks.home.

Which incidents are "theirs" is decided from channel membership, which only Slack knows:
the listener asks Slack (conversations.members) for the candidate channels and hands the
answer in. Where Slack can't say (the bot left, an error), what we recorded decides: they
started it, hold a role in it, or wrote in it. A private incident is only ever shown to
its members.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.db import insert_ignoring_duplicates
from bot.models import ActionItem, HomeTab, Incident, Postmortem, RoleAssignment, TimelineEntry
from bot.services import actions, tickets
from bot.services.actions import ItemView

REVIEW_WINDOW = timedelta(days=30)
REVIEW_STATUS_LABELS = {"draft": "Draft", "in_review": "In review"}


@dataclass(frozen=True)
class IncidentLine:
    id: int
    ref: str
    title: str
    channel_id: str
    severity: str | None
    lead: str | None
    started_at: datetime


@dataclass(frozen=True)
class ReviewLine:
    ref: str
    title: str
    channel_id: str
    status_label: str
    updated_at: datetime


@dataclass(frozen=True)
class HomeFacts:
    user_id: str
    now: datetime
    incidents: list[IncidentLine]
    items: list[ItemView]
    reviews: list[ReviewLine]
    # Channel id → the trackers its items' *Create in …* buttons offer (bot.services.tickets).
    trackers: dict[str, tuple[str, ...]] = field(default_factory=dict)


def candidates(session: Session, *, team_id: str, now: datetime) -> list[Incident]:
    """Incidents that might be on someone's Home: open ones, and recent ones whose
    postmortem is still a draft or in review."""
    open_ones = session.scalars(select(Incident).where(Incident.team_id == team_id, Incident.closed_at.is_(None)).order_by(Incident.declared_at.desc()))
    reviewing = session.scalars(
        select(Incident).join(Postmortem, Postmortem.incident_id == Incident.id).where(
            Incident.team_id == team_id, Postmortem.status.in_(tuple(REVIEW_STATUS_LABELS)), Postmortem.updated_at >= now - REVIEW_WINDOW
        ).order_by(Postmortem.updated_at.desc())
    )
    seen: dict[int, Incident] = {}
    for incident in [*open_ones, *reviewing]:
        seen.setdefault(incident.id, incident)
    return list(seen.values())


def took_part(session: Session, incident: Incident, user_id: str) -> bool:
    """From the record alone: started it, holds a role, or wrote something in it."""
    if incident.created_by == user_id:
        return True
    if session.scalar(select(exists().where(RoleAssignment.incident_id == incident.id, RoleAssignment.user_id == user_id))):
        return True
    return bool(session.scalar(select(exists().where(TimelineEntry.incident_id == incident.id, TimelineEntry.author == user_id))))


def home_facts(session: Session, *, team_id: str, user_id: str, membership: dict[str, bool | None], now: datetime,
               settings: Settings | None = None) -> HomeFacts:
    """`membership`: channel id -> is the user a member (None: Slack couldn't say). With
    `settings`, each item's *Create in …* buttons are worked out too."""
    visible = []
    for incident in candidates(session, team_id=team_id, now=now):
        member = membership.get(incident.channel_id)
        if member or (member is None and took_part(session, incident, user_id)):
            visible.append(incident)
    lines = [
        IncidentLine(id=i.id, ref=i.ref, title=i.title, channel_id=i.channel_id, severity=i.severity, lead=i.role_holder("lead"),
                     started_at=i.began_at)
        for i in visible if i.closed_at is None
    ]
    reviews = []
    for incident in visible:
        pm = session.get(Postmortem, incident.id)
        if pm is not None and pm.status in REVIEW_STATUS_LABELS and pm.updated_at >= now - REVIEW_WINDOW:
            reviews.append(ReviewLine(ref=incident.ref, title=incident.title, channel_id=incident.channel_id,
                                      status_label=REVIEW_STATUS_LABELS[pm.status], updated_at=pm.updated_at))
    items = session.scalars(
        select(ActionItem).join(Incident, Incident.id == ActionItem.incident_id)
        .where(Incident.team_id == team_id, ActionItem.owner_id == user_id, ActionItem.status == "open")
        .order_by(ActionItem.due_date.is_(None), ActionItem.due_date, ActionItem.id)
    )
    views = [actions.view_of(i) for i in items]
    trackers = {} if settings is None else {
        channel: tickets.button_trackers(session, settings, team_id=team_id, channel_id=channel)
        for channel in {v.channel_id for v in views}
    }
    return HomeFacts(user_id=user_id, now=now, incidents=lines, items=views,
                     reviews=sorted(reviews, key=lambda r: r.updated_at, reverse=True), trackers=trackers)


def note_opened(session: Session, *, team_id: str, user_id: str, now: datetime) -> None:
    if not insert_ignoring_duplicates(session, HomeTab, dict(team_id=team_id, user_id=user_id, opened_at=now, published_at=None), ["team_id", "user_id"]):
        tab = session.get(HomeTab, (team_id, user_id))
        if tab is not None:
            tab.opened_at = now


def has_home(session: Session, *, team_id: str, user_id: str) -> bool:
    return session.get(HomeTab, (team_id, user_id)) is not None
