"""Action items' tickets in the team's tracker (issue 25): where a ticket goes, asking for one,
linking one, and applying what the tracker says back.

Decisions only, like every service: a Session in, rows and outbox rows out. The tracker is
called after commit by bot.ticket_sync.effects (create, read a linked ticket, poll), or calls us
(webhooks, bot.ticket_sync.receiver); nothing here imports Slack or calls the network.

- Where: an item's own choice (the *Create in …* button, `/incident ticket N create …`), else
  the channel's (`/incident tracker …`), else the workspace's (SCRIBE_TRACKER).
- Exactly once: the ticket row is unique per item and its `creating` state is taken by one
  transaction only; the outbox row that creates it carries a marker the tracker is searched
  for first (bot.trackers.ensure_ticket), so a lost answer is found, never made twice.
- Status back, by category: done, completed or closed → done; won't do, not planned or
  cancelled → wontfix; reopened → open. A state older than the one we hold changes nothing
  (replays, reordered deliveries); an item closed in Slack reopens only for a change made in
  the tracker after it was closed. Reminders follow (bot.services.actions.replan).
- Counting: the item's status *is* its ticket's once read back (closed when the tracker
  closed it), so `scribe stats` counts each follow-up once, by the tracker's word.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.db import insert_ignoring_duplicates
from bot.links import incident_url
from bot.models import ActionItem, ChannelTracker, ItemTicket, OutboxItem, TrackerCursor, TrackerDelivery, TrackerPerson, UserProfile
from bot.outbox import kinds
from bot.outbox.store import Effect, enqueue
from bot.services import actions, people
from bot.services.actions import STATUS_WORDS
from bot.services.errors import NotAllowed, ScribeError
from bot.trackers import TRACKER_LABELS, TicketSpec, TicketState, default_target, make_marker, parse_link_for, webhook_secret
from bot.trackers.links import target_problem

# Webhook delivery ids are kept this long: the trackers' own retries come within hours.
DELIVERY_KEEP = timedelta(days=7)
# A target's first poll looks this far back, so a change made as its first ticket was made is seen.
FIRST_POLL_LOOKBACK = timedelta(minutes=5)


def label(tracker: str) -> str:
    return TRACKER_LABELS.get(tracker, tracker)


# -- where tickets go -------------------------------------------------------------------------


@dataclass(frozen=True)
class Destination:
    """Where a new ticket goes: a connected tracker and its project, repository or team."""

    tracker: str
    target: str

    @property
    def label(self) -> str:
        return label(self.tracker)


def connected(settings: Settings) -> tuple[str, ...]:
    return tuple(settings.trackers.configured())


def channel_destination(session: Session, settings: Settings, *, team_id: str, channel_id: str) -> Destination | None:
    """Where this channel's new items get a ticket without anyone asking: the channel's own
    tracker (`/incident tracker`), else the workspace's (SCRIBE_TRACKER); None for none."""
    chosen = session.get(ChannelTracker, (team_id, channel_id))
    if chosen is not None:
        if chosen.tracker is None or chosen.tracker not in connected(settings):
            return None
        target = chosen.target or default_target(settings.trackers, chosen.tracker)
        return Destination(chosen.tracker, target) if target else None
    default = settings.trackers.default
    if default is None or default not in connected(settings):
        return None
    target = default_target(settings.trackers, default)
    return Destination(default, target) if target else None


def button_trackers(session: Session, settings: Settings, *, team_id: str, channel_id: str) -> tuple[str, ...]:
    """The trackers a *Create in …* button is offered for in this channel: its usual one, else
    every connected tracker that has a target to create in."""
    usual = channel_destination(session, settings, team_id=team_id, channel_id=channel_id)
    if usual is not None:
        return (usual.tracker,)
    return tuple(t for t in connected(settings) if default_target(settings.trackers, t))


def _destination(session: Session, settings: Settings, item: ActionItem, tracker: str | None, target: str | None) -> Destination:
    """An explicit request's destination, or a plain sentence saying what is missing."""
    names = _require_connected(settings, tracker)
    incident = item.incident
    usual = channel_destination(session, settings, team_id=incident.team_id, channel_id=incident.channel_id)
    if tracker is None:
        if usual is not None:
            tracker = usual.tracker
        elif len(names) == 1:
            tracker = names[0]
        else:
            raise ScribeError(f"Say which tracker: {', '.join(label(n) for n in names)} are connected, "
                              f"e.g. `{settings.command} ticket {item.id} create {names[0]}`.")
    if target is not None:
        problem = target_problem(tracker, target)
        if problem:
            raise ScribeError(problem)
    else:
        target = usual.target if usual is not None and usual.tracker == tracker else default_target(settings.trackers, tracker)
    if not target:
        raise ScribeError(f"Say where in {label(tracker)}: "
                          f"`{settings.command} ticket {item.id} create {tracker} {TARGET_EXAMPLES[tracker]}`.")
    return Destination(tracker, target)


TARGET_EXAMPLES = {"jira": "OPS", "github": "acme/ops", "linear": "ENG", "gitlab": "acme/ops"}


def _require_connected(settings: Settings, tracker: str | None) -> tuple[str, ...]:
    """The connected trackers; a plain refusal when there are none, or `tracker` isn't one."""
    names = connected(settings)
    if not names:
        raise ScribeError("No tracker is connected to Incident Scribe yet: an admin sets SCRIBE_TRACKER and the tracker's "
                          "token (see docs/trackers.md).")
    if tracker is not None and tracker not in names:
        raise ScribeError(f"{label(tracker)} is not connected to Incident Scribe (its token is not set); "
                          f"connected: {', '.join(label(n) for n in names)}.")
    return names


# -- asking for a ticket ----------------------------------------------------------------------


def item_marker(item: ActionItem) -> str:
    """The item's marker: its team, id and creation time, so two databases (a staging copy)
    sharing one tracker project never take each other's tickets for their own."""
    return make_marker(item.incident.team_id, item.id, item.created_at.isoformat())


def request_default(session: Session, item: ActionItem, *, settings: Settings, reply_to: dict[str, str] | None,
                    now: datetime) -> ItemTicket | None:
    """A new item gets a ticket when its channel (or the workspace) has a tracker: the ticket
    row and the outbox row that creates it, in the item's own transaction."""
    destination = channel_destination(session, settings, team_id=item.incident.team_id, channel_id=item.incident.channel_id)
    if destination is None:
        return None
    return _request(session, item, destination, reply_to=reply_to, announce=False, now=now)


def request_create(session: Session, *, item_id: int, team_id: str, user_id: str, tracker: str | None, target: str | None,
                   settings: Settings, reply_to: dict[str, str] | None, now: datetime) -> ItemTicket:
    """*Create in <tracker>* (a button) or `/incident ticket N create [tracker] [target]`."""
    item = _item(session, item_id, team_id=team_id, user_id=user_id, settings=settings)
    if item.status != "open":
        raise ScribeError(f"Action item #{item.id} is already {STATUS_WORDS.get(item.status, item.status)}; "
                          "tickets are for work still to do.")
    existing = item.ticket
    if existing is not None and existing.state == "creating":
        raise ScribeError(f"Action item #{item.id}'s {label(existing.tracker)} ticket is being created already.")
    if existing is not None and existing.state == "ready":
        raise ScribeError(f"Action item #{item.id} already has a ticket: {label(existing.tracker)} "
                          f"{existing.ticket_key}{f' ({existing.url})' if existing.url else ''}.")
    destination = _destination(session, settings, item, tracker, target)
    return _request(session, item, destination, reply_to=reply_to, announce=True, now=now)


def _request(session: Session, item: ActionItem, destination: Destination, *, reply_to: dict[str, str] | None,
             announce: bool, now: datetime) -> ItemTicket:
    busy = ScribeError(f"Action item #{item.id}'s {destination.label} ticket is being created already.")
    if item.ticket is None:
        # Two clicks at once: the unique item id lets one insert win; the other is told.
        if not insert_ignoring_duplicates(session, ItemTicket, dict(
                action_item_id=item.id, tracker=destination.tracker, target=destination.target, state="creating",
                marker=item_marker(item), linked=False, created_at=now), ["action_item_id"]):
            raise busy
        session.expire(item, ["ticket"])
    else:
        # A failed one, tried again: only one transaction moves it back to `creating`.
        taken = session.execute(
            update(ItemTicket).where(ItemTicket.id == item.ticket.id, ItemTicket.state == "failed")
            .values(state="creating", tracker=destination.tracker, target=destination.target, last_error=None,
                    last_error_kind=None).returning(ItemTicket.id)
        ).first()
        if taken is None:
            raise busy
        session.expire(item.ticket)
    ticket = item.ticket
    assert ticket is not None
    # The ticket row's state change above is what makes this once; each request is its own row.
    enqueue(session, Effect(kinds.TICKET_CREATE, f"ticket_create:{ticket.id}:{uuid.uuid4().hex}", item.incident.team_id,
                            incident_id=item.incident_id,
                            payload={"ticket_id": ticket.id, "reply_to": reply_to or {}, "announce": announce}), now=now)
    return ticket


def link(session: Session, *, item_id: int, team_id: str, user_id: str, text: str, settings: Settings,
         reply_to: dict[str, str] | None, now: datetime) -> ItemTicket:
    """Link an existing ticket pasted as its URL or key; its state is read after commit."""
    ref = parse_link_for(settings.trackers, text)
    if ref is None:
        raise ScribeError(link_problem(settings, text))
    item = _item(session, item_id, team_id=team_id, user_id=user_id, settings=settings)
    ticket = item.ticket
    if ticket is not None and ticket.state == "creating":
        raise ScribeError(f"Action item #{item.id}'s {label(ticket.tracker)} ticket is being created; link another "
                          "one once it is done.")
    if ticket is not None and ticket.tracker == ref.tracker and (ticket.ticket_key or "").lower() == ref.key.lower():
        return ticket  # linked already (a redelivered command, or pasted twice)
    values = dict(tracker=ref.tracker, target=ref.target, state="ready", ticket_key=ref.key, url=ref.url, tracker_id=None,
                  linked=True, status=None, status_name=None, assignee_id=None, tracker_updated_at=None,
                  last_error_kind=None, last_error=None, synced_at=None)
    if ticket is None:
        ticket = ItemTicket(action_item_id=item.id, marker=item_marker(item), created_at=now, **values)
        item.ticket = ticket
    else:
        for name, value in values.items():
            setattr(ticket, name, value)
    session.flush()
    enqueue(session, Effect(kinds.TICKET_FETCH, f"ticket_fetch:{ticket.id}:{uuid.uuid4().hex}", item.incident.team_id,
                            incident_id=item.incident_id,
                            payload={"ticket_id": ticket.id, "key": ref.key, "reply_to": reply_to or {}}), now=now)
    return ticket


def link_problem(settings: Settings, text: str) -> str:
    """Why pasted text isn't a ticket we can use, and what to paste instead."""
    shown = text.strip()
    shown = shown if len(shown) <= 60 else shown[:59] + "…"
    names = connected(settings)
    if not names:
        return ("No tracker is connected to Incident Scribe yet, so there is nothing to link to: an admin sets "
                "SCRIBE_TRACKER and the tracker's token (see docs/trackers.md).")
    examples = {"jira": "OPS-12 or https://your-site.atlassian.net/browse/OPS-12",
                "github": "acme/ops#12 or https://github.com/acme/ops/issues/12",
                "linear": "ENG-42 or https://linear.app/acme/issue/ENG-42",
                "gitlab": "acme/ops#3 or https://gitlab.com/acme/ops/-/issues/3"}
    return (f"“{shown}” is not a ticket I can link. Paste its link or key, like "
            f"{'; '.join(examples[n] for n in names)} (connected: {', '.join(label(n) for n in names)}).")


def _item(session: Session, item_id: int, *, team_id: str, user_id: str, settings: Settings) -> ActionItem:
    """The item, if it is this workspace's and this person may change it (its owner, whoever
    added it, or whoever may act as the incident's lead: the rule of Done and Reassign)."""
    item = session.get(ActionItem, item_id)
    if item is None or item.incident.team_id != team_id:
        raise ScribeError(f"Action item #{item_id} doesn't exist. `/incident actions` lists them with their numbers.")
    if not actions.may_change(item, user_id, rule=settings.privileged_actions):
        raise NotAllowed(f"Only the owner (<@{item.owner_id}>), whoever added it (<@{item.created_by}>) or the incident lead "
                         f"can give action item #{item.id} a ticket.")
    return item


def set_channel_tracker(session: Session, *, team_id: str, channel_id: str, tracker: str | None, target: str | None,
                        settings: Settings, user_id: str, now: datetime) -> Destination | None:
    """`/incident tracker <name> [target]` or `none`: this channel's new items' tickets go there (or nowhere)."""
    if tracker is not None:
        _require_connected(settings, tracker)
        if target is None:
            target = default_target(settings.trackers, tracker)
            if not target:
                raise ScribeError(f"Say where in {label(tracker)}: e.g. `{settings.command} tracker {tracker} "
                                  f"{TARGET_EXAMPLES[tracker]}`.")
        else:
            problem = target_problem(tracker, target)
            if problem:
                raise ScribeError(problem)
    row = session.get(ChannelTracker, (team_id, channel_id))
    if row is None:
        session.add(ChannelTracker(team_id=team_id, channel_id=channel_id, tracker=tracker, target=target, set_by=user_id,
                                   set_at=now))
    else:
        row.tracker, row.target, row.set_by, row.set_at = tracker, target, user_id, now
    session.flush()
    return Destination(tracker, target) if tracker is not None and target is not None else None


def reset_channel_tracker(session: Session, *, team_id: str, channel_id: str) -> None:
    """`/incident tracker default`: the workspace's tracker again."""
    session.execute(delete(ChannelTracker).where(ChannelTracker.team_id == team_id, ChannelTracker.channel_id == channel_id))


def channel_tracker_set(session: Session, *, team_id: str, channel_id: str) -> bool:
    return session.get(ChannelTracker, (team_id, channel_id)) is not None


# -- what the create needs, read when it runs -----------------------------------------------


@dataclass(frozen=True)
class CreateOrder:
    """What creating one ticket needs, read from the database when its row runs."""

    ticket_id: int
    item_id: int
    team_id: str
    tracker: str
    target: str
    spec: TicketSpec
    owner_id: str
    owner_email: str | None  # from the users.info cache; None: look it up first
    known_account: str | None  # the owner's account in this tracker, learned before


def create_order(session: Session, ticket_id: int, *, settings: Settings, now: datetime) -> CreateOrder | None:
    """None when there is nothing to create any more (linked meanwhile, item gone)."""
    ticket = session.get(ItemTicket, ticket_id)
    if ticket is None or ticket.state != "creating":
        return None
    item, incident = ticket.item, ticket.item.incident
    found, _ = people.cached(session, team_id=incident.team_id, user_ids=[item.owner_id], now=now)
    owner = found.get(item.owner_id)
    known = session.scalars(select(TrackerPerson.account_id).where(
        TrackerPerson.tracker == ticket.tracker, TrackerPerson.team_id == incident.team_id,
        TrackerPerson.user_id == item.owner_id)).first()
    due = item.due_date or (item.due_at.date() if item.due_at is not None else None)
    spec = TicketSpec(
        title=item.text, marker=ticket.marker, incident_ref=incident.ref, incident_title=incident.title,
        severity=incident.severity, priority=item.priority, due=due, channel_url=channel_link(incident.team_id, incident.channel_id),
        page_url=incident_url(settings, incident.ref), owner_name=owner.name if owner is not None else None,
    )
    return CreateOrder(ticket.id, item.id, incident.team_id, ticket.tracker, ticket.target, spec, item.owner_id,
                       owner.email if owner is not None else None, known)


def channel_link(team_id: str, channel_id: str) -> str:
    """A link that opens the channel in Slack, in the app or the browser, with no API call."""
    return f"https://slack.com/app_redirect?team={team_id}&channel={channel_id}"


def created(session: Session, ticket_id: int, *, key: str, url: str, tracker_id: str, assignee_id: str | None,
            owner_id: str | None, settings: Settings, now: datetime) -> ItemTicket | None:
    """The tracker made the ticket (or an earlier attempt had): record it, learn who the
    assignee is, and start polling its target if that is how status comes back."""
    ticket = session.get(ItemTicket, ticket_id)
    if ticket is None:
        return None
    ticket.state, ticket.ticket_key, ticket.url, ticket.tracker_id = "ready", key, url, tracker_id
    ticket.status = ticket.status or "open"
    ticket.assignee_id = assignee_id
    ticket.last_error_kind = ticket.last_error = None
    ticket.synced_at = now
    if assignee_id and owner_id:
        learn(session, tracker=ticket.tracker, account_id=assignee_id, team_id=ticket.item.incident.team_id, user_id=owner_id,
              now=now)
    ensure_poll(session, settings, tracker=ticket.tracker, target=ticket.target, now=now)
    return ticket


def create_problem(session: Session, ticket_id: int, *, kind: str, message: str, final: bool) -> ItemTicket | None:
    """The tracker refused or didn't answer; `final`: no more tries (the person may press again)."""
    ticket = session.get(ItemTicket, ticket_id)
    if ticket is None:
        return None
    ticket.last_error_kind, ticket.last_error = kind, message[:1000]
    if final and ticket.state == "creating":
        ticket.state = "failed"
    return ticket


def fetch_problem(session: Session, ticket_id: int, *, kind: str, message: str) -> ItemTicket | None:
    ticket = session.get(ItemTicket, ticket_id)
    if ticket is not None:
        ticket.last_error_kind, ticket.last_error = kind, message[:1000]
    return ticket


def learn(session: Session, *, tracker: str, account_id: str, team_id: str, user_id: str, now: datetime) -> None:
    """Remember who a tracker account is in Slack (an owner's email matched it)."""
    row = session.get(TrackerPerson, (tracker, account_id, team_id))
    if row is None:
        insert_ignoring_duplicates(session, TrackerPerson, dict(tracker=tracker, account_id=account_id, team_id=team_id,
                                                                user_id=user_id, learned_at=now),
                                   ["tracker", "account_id", "team_id"])
    elif row.user_id != user_id:
        row.user_id, row.learned_at = user_id, now


# -- status read back -------------------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    """What one state changed: the item's status and owner, where they changed."""

    item_id: int
    ticket_key: str
    status: str | None = None  # the item's new status
    owner: str | None = None  # the item's new owner
    previous_owner: str | None = None


def apply_states(session: Session, tracker: str, states: Iterable[TicketState], *, settings: Settings,
                 now: datetime) -> list[Applied]:
    """Apply tickets' states (a webhook's, a poll's, a linked ticket's first read) to the items
    that carry them. A state not newer than the one held changes nothing."""
    applied: list[Applied] = []
    for state in states:
        rows = session.scalars(select(ItemTicket).where(
            ItemTicket.tracker == tracker, func.lower(ItemTicket.ticket_key) == state.ref.key.lower(),
            ItemTicket.state == "ready").order_by(ItemTicket.id)).all()
        for ticket in rows:
            change = apply_state(session, ticket, state, settings=settings, now=now)
            if change is not None:
                applied.append(change)
    return applied


def apply_state(session: Session, ticket: ItemTicket, state: TicketState, *, settings: Settings, now: datetime) -> Applied | None:
    if ticket.tracker_updated_at is not None and state.updated_at <= ticket.tracker_updated_at:
        return None
    item = ticket.item
    team_id = item.incident.team_id
    previous_assignee = ticket.assignee_id
    ticket.status, ticket.status_name, ticket.assignee_id = state.status, state.status_name, state.assignee_id
    ticket.tracker_updated_at, ticket.synced_at = state.updated_at, now
    ticket.last_error_kind = ticket.last_error = None
    if state.ref.url:
        ticket.url = state.ref.url
    user = slack_user_for(session, team_id=team_id, tracker=ticket.tracker, state=state, now=now)

    status: str | None = None
    if state.status != item.status:
        if item.status == "open":
            status = state.status
        elif item.closed_at is None or state.updated_at > item.closed_at:
            # Closed in Slack: only a change made in the tracker after that reopens or re-closes it.
            status = state.status
    if status is not None:
        item.status = status
        if status == "open":
            item.closed_at = item.closed_by = None
        else:
            item.closed_at = max(state.updated_at, item.created_at)
            item.closed_by = None
    owner: str | None = None
    previous_owner = item.owner_id
    if state.assignee_id and state.assignee_id != previous_assignee and user is not None and user != item.owner_id \
            and item.status == "open":
        item.owner_id, item.snoozed_until, owner = user, None, user
    if status is None and owner is None:
        return Applied(item.id, ticket.ticket_key or state.ref.key)
    actions.replan(session, item, settings=settings, known={}, now=now)
    return Applied(item.id, ticket.ticket_key or state.ref.key, status, owner, previous_owner if owner else None)


def slack_user_for(session: Session, *, team_id: str, tracker: str, state: TicketState, now: datetime) -> str | None:
    """The Slack user an assignee is: learned before (GitHub hides emails), else the one
    person in the users.info cache with that email (learned for next time)."""
    if not state.assignee_id:
        return None
    learned = session.get(TrackerPerson, (tracker, state.assignee_id, team_id))
    if learned is not None:
        return learned.user_id
    if not state.assignee_email:
        return None
    matches = session.scalars(select(UserProfile.user_id).where(
        UserProfile.team_id == team_id, func.lower(UserProfile.email) == state.assignee_email.strip().lower())).all()
    if len(matches) != 1:
        return None
    learn(session, tracker=tracker, account_id=state.assignee_id, team_id=team_id, user_id=matches[0], now=now)
    return matches[0]


class DeliveryLog:
    """bot.trackers.ReplayStore over `tracker_deliveries`, in the transaction that applies the
    delivery: a crash before commit leaves the id free for the sender's retry."""

    def __init__(self, session: Session):
        self.session = session

    def claim(self, tracker: str, delivery_id: str, received_at: datetime) -> bool:
        self.session.execute(delete(TrackerDelivery).where(TrackerDelivery.received_at < received_at - DELIVERY_KEEP))
        return insert_ignoring_duplicates(self.session, TrackerDelivery,
                                          dict(tracker=tracker, delivery_id=delivery_id, received_at=received_at),
                                          ["tracker", "delivery_id"])


# -- polling ----------------------------------------------------------------------------------


def polls(settings: Settings, tracker: str) -> bool:
    """Whether `tracker`'s states are read by polling: in Socket Mode (nothing reaches us), or
    when its webhook secret isn't set (no verified deliveries can come)."""
    return settings.socket_mode or not webhook_secret(settings.trackers, tracker)


def poll_key(tracker: str, target: str) -> str:
    return f"tracker_poll:{tracker}:{target}"


def ensure_poll(session: Session, settings: Settings, *, tracker: str, target: str, now: datetime) -> None:
    """One self-rescheduling outbox row per polled target (so one process polls it at a time),
    and its cursor; a row stopped earlier (polling was off) starts again."""
    if not polls(settings, tracker) or tracker not in connected(settings):
        return
    cursor = session.get(TrackerCursor, (tracker, target))
    if cursor is None:
        insert_ignoring_duplicates(session, TrackerCursor, dict(
            tracker=tracker, target=target, since=now - FIRST_POLL_LOOKBACK,
            next_poll_at=now + timedelta(seconds=settings.trackers.poll_seconds), failures=0), ["tracker", "target"])
        cursor = session.get(TrackerCursor, (tracker, target))
    assert cursor is not None
    key = poll_key(tracker, target)
    row = session.scalars(select(OutboxItem).where(OutboxItem.dedupe_key == key)).first()
    if row is None:
        enqueue(session, Effect(kinds.TRACKER_POLL, key, None, payload={"tracker": tracker, "target": target},
                                due_at=max(cursor.next_poll_at, now)), now=now)
    elif row.status in ("cancelled", "failed", "sent", "skipped"):
        row.status, row.due_at, row.attempts, row.next_attempt_at, row.claimed_by = "pending", now, 0, None, None


def ensure_polls(session: Session, settings: Settings, *, now: datetime) -> int:
    """At start: every target that has tickets and is read by polling gets its poll row."""
    pairs = session.execute(select(ItemTicket.tracker, ItemTicket.target).where(ItemTicket.state == "ready").distinct()).all()
    for tracker, target in pairs:
        ensure_poll(session, settings, tracker=tracker, target=target, now=now)
    return len(pairs)
