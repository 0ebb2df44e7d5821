"""Action items: add, list, done / won't fix, snooze, reassign, and who may change them.

Every function takes the caller's Session and never commits, like the rest of the
services: a command or a button click lands whole or not at all. Each change re-plans
the item's reminders (bot.services.followups) in the same transaction, so the plan and
the item can never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.models import ActionItem, Incident, ItemTicket
from bot.services import followups, incidents, people
from bot.services.errors import NotAllowed, ScribeError
from bot.services.people import Person
from bot.timefmt import format_utc
from bot.timeparse import parse_due

STATUS_LABELS = {"open": "open", "done": "done", "wontfix": "won't fix"}
SNOOZE_CHOICES = {1: "1 day", 7: "1 week"}


STATUS_WORDS = {"open": "open", "done": "done", "wontfix": "won't fix"}
TRACKER_WORDS = {"jira": "Jira", "github": "GitHub", "linear": "Linear", "gitlab": "GitLab"}


@dataclass(frozen=True)
class TicketView:
    """An item's ticket in a tracker as messages and pages show it (bot.services.tickets)."""

    tracker: str
    label: str  # "Jira"
    state: str  # creating | ready | failed
    key: str | None
    url: str | None
    status: str | None  # open | done | wontfix as read back; None: not read yet
    status_name: str | None  # the tracker's own words ("Shipped")
    error: str | None  # why it wasn't created (failed), or the last read's problem

    @property
    def status_text(self) -> str | None:
        """What people read as its status: the tracker's words, else ours."""
        return self.status_name or (STATUS_WORDS.get(self.status) if self.status else None)

    def as_dict(self) -> dict[str, str | None]:
        """For exports (a published contract: add keys, never rename them)."""
        return {"tracker": self.tracker, "state": self.state, "key": self.key, "url": self.url, "status": self.status,
                "status_name": self.status_name, "error": self.error}


def ticket_view(ticket: ItemTicket | None) -> TicketView | None:
    if ticket is None:
        return None
    return TicketView(ticket.tracker, TRACKER_WORDS.get(ticket.tracker, ticket.tracker), ticket.state, ticket.ticket_key,
                      ticket.url, ticket.status, ticket.status_name, ticket.last_error)


@dataclass(frozen=True)
class ItemView:
    """What messages about an item show; plain data so Block Kit builders stay pure."""

    id: int
    text: str
    owner_id: str
    created_by: str
    due_label: str | None
    priority: str | None
    status: str
    incident_ref: str
    incident_title: str
    channel_id: str
    snoozed_until: datetime | None = None
    ticket: TicketView | None = None


def due_label(item: ActionItem) -> str | None:
    if item.due_at is not None:
        return f"{item.due_at:%a} {format_utc(item.due_at)}"
    if item.due_date is not None:
        return f"{item.due_date:%a %Y-%m-%d}"
    return None


def view_of(item: ActionItem) -> ItemView:
    return ItemView(
        id=item.id,
        text=item.text,
        owner_id=item.owner_id,
        created_by=item.created_by,
        due_label=due_label(item),
        priority=item.priority,
        status=item.status,
        incident_ref=item.incident.ref,
        incident_title=item.incident.title,
        channel_id=item.incident.channel_id,
        snoozed_until=item.snoozed_until,
        ticket=ticket_view(item.ticket),
    )


def zone_of(session: Session, known: Mapping[str, Person], *, team_id: str, user_id: str, now: datetime) -> ZoneInfo | None:
    """Someone's Slack time zone: from what was looked up before the transaction, else from
    the users.info cache; None when neither says."""
    zone = people.zone_of(known, user_id)
    if zone is None:
        zone = people.zone_of(people.cached(session, team_id=team_id, user_ids=[user_id], now=now)[0], user_id)
    return zone


def owner_zone(session: Session, known: Mapping[str, Person], settings: Settings, *, team_id: str, user_id: str, now: datetime) -> tzinfo:
    """The owner's Slack time zone; the configured zone if Slack doesn't say."""
    return zone_of(session, known, team_id=team_id, user_id=user_id, now=now) or settings.timezone


def replan(session: Session, item: ActionItem, *, settings: Settings, known: Mapping[str, Person], now: datetime, digest: bool = True) -> None:
    """Bring the item's DMs (and unless told not to, its incident's weekly digest) in line with the item as it is now."""
    cadence = followups.Cadence.from_settings(settings)
    zone = owner_zone(session, known, settings, team_id=item.incident.team_id, user_id=item.owner_id, now=now)
    followups.sync_item(session, item, owner_tz=zone, cadence=cadence, now=now)
    if digest:
        followups.sync_digest(session, item.incident, zone=settings.timezone, cadence=cadence, now=now)


def add_item(
    session: Session,
    *,
    incident: Incident,
    text: str,
    owner_id: str | None,
    due_text: str | None,
    priority: str | None,
    user_id: str,
    command_id: str | None,
    now: datetime,
    settings: Settings,
    known: Mapping[str, Person],
) -> ActionItem | None:
    """Record an item and plan its reminders; None if this exact command was already recorded.

    The due date is read in the typer's time zone ("friday" is their Friday). A date
    that can't be read raises DueParseError before anything is written.
    """
    due = None
    if due_text is not None:
        typer_tz = zone_of(session, known, team_id=incident.team_id, user_id=user_id, now=now)
        due = parse_due(due_text, now=now, user_tz=typer_tz, default_tz=settings.timezone)
    owner = owner_id or user_id
    if not incidents.add_command_entry(
        session, incident=incident, kind="action", text=_entry_text(text, owner, due_text, priority), at=now, author=user_id, command_id=command_id, now=now
    ):
        return None
    item = ActionItem(
        incident_id=incident.id,
        text=text,
        owner_id=owner,
        created_by=user_id,
        due_date=due.date if due else None,
        due_at=due.at if due else None,
        priority=priority,
        status="open",
        created_at=now,
        source_id=command_id,
    )
    incident.action_items.append(item)
    session.flush()
    replan(session, item, settings=settings, known=known, now=now)
    return item


def _entry_text(text: str, owner: str, due_text: str | None, priority: str | None) -> str:
    extras = [f"owner <@{owner}>"]
    if due_text:
        extras.append(f"due {due_text}")
    if priority:
        extras.append(priority)
    return f"{text} ({', '.join(extras)})"


def item_added_by_view(session: Session, *, view_id: str) -> ActionItem | None:
    """The item a modal submission created."""
    return session.scalars(select(ActionItem).where(ActionItem.source_id == f"view:{view_id}")).first()


def items_of(session: Session, incident: Incident) -> list[ActionItem]:
    return list(session.scalars(select(ActionItem).where(ActionItem.incident_id == incident.id).order_by(ActionItem.id)))


def may_change(item: ActionItem, user_id: str, *, rule: str) -> bool:
    """The owner, whoever created the item, or someone who may act as the incident's lead."""
    return user_id in {item.owner_id, item.created_by} or incidents.may_act_as_lead(item.incident, user_id, rule=rule)


def _changeable(session: Session, item_id: int, user_id: str, settings: Settings) -> ActionItem:
    item = session.get(ActionItem, item_id)
    if item is None:
        raise ScribeError(f"Action item #{item_id} no longer exists.")
    if not may_change(item, user_id, rule=settings.privileged_actions):
        lead = item.incident.role_holder("lead")
        lead_text = f"the incident lead (<@{lead}>)" if lead else "the incident lead"
        raise NotAllowed(
            f"Only the owner (<@{item.owner_id}>), whoever added it (<@{item.created_by}>) or {lead_text} can change action item #{item.id}."
        )
    if item.status != "open":
        raise ScribeError(f"Action item #{item.id} is already {STATUS_LABELS.get(item.status, item.status)}; there is nothing to change.")
    return item


def close_item(
    session: Session, *, item_id: int, status: str, user_id: str, now: datetime, settings: Settings, known: Mapping[str, Person]
) -> ActionItem:
    """Mark an item done or won't fix; its future reminders are cancelled."""
    if status not in ("done", "wontfix"):
        raise ValueError(f"unknown closing status {status!r}")
    item = _changeable(session, item_id, user_id, settings)
    item.status, item.closed_at, item.closed_by = status, now, user_id
    replan(session, item, settings=settings, known=known, now=now)
    return item


def snooze_item(
    session: Session, *, item_id: int, days: int, user_id: str, now: datetime, settings: Settings, known: Mapping[str, Person]
) -> tuple[ActionItem, tzinfo]:
    """No reminder until the usual hour `days` days from now (owner's time); the due date stays.
    Returns the item and the owner's zone (to say "until Tue 09:30" in their time)."""
    if days not in SNOOZE_CHOICES:
        raise ValueError(f"unsupported snooze of {days} days")
    item = _changeable(session, item_id, user_id, settings)
    zone = owner_zone(session, known, settings, team_id=item.incident.team_id, user_id=item.owner_id, now=now)
    item.snoozed_until = followups.snooze_end(now, days, zone, followups.Cadence.from_settings(settings))
    replan(session, item, settings=settings, known=known, now=now)
    return item, zone


def reassign_item(
    session: Session, *, item_id: int, new_owner: str, user_id: str, now: datetime, settings: Settings, known: Mapping[str, Person]
) -> tuple[ActionItem, str]:
    """Give the item to someone else; reminders follow them (in their time zone). Returns (item, previous owner)."""
    item = _changeable(session, item_id, user_id, settings)
    previous = item.owner_id
    if new_owner == previous:
        raise ScribeError(f"<@{new_owner}> already owns action item #{item.id}.")
    item.owner_id = new_owner
    item.snoozed_until = None  # a snooze was the previous owner's choice
    replan(session, item, settings=settings, known=known, now=now)
    return item, previous
