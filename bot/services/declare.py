"""Declare an incident from anywhere: a new channel, its people, the announcement, the reply.

Every step after the first is an outbox row in the declaration's own lane (bot.outbox), so
the steps go in order, each exactly once, and a process that dies part-way leaves the rest
to the next one; nobody is left without an answer and no channel without its incident:

1. **Request** (`request`): a `declarations` row claimed by its idempotency key (the slash
   command's trigger_id, or the form's view id; a double-clicked submit, or the same submit
   reaching a second process, finds it taken and asks for nothing), and the channel's row.
2. **Channel** (bot.slack.effects.declare): a name is reserved here first (`reserve_name`),
   so two declares of the same title, even on two processes at the same moment, ask Slack
   for two different names; a name Slack says is taken moves on to the next suffix, unless
   the channel is the bot's own, from this declaration's earlier try whose answer was lost.
3. **Record** (`record_channel`): the incident for the new channel with the declarer as
   lead, the declaration done, and the set-up asked for: invitations, topic, welcome,
   bookmark, announcement, then the reply, in that order. If Slack refused the channel
   (`record_refusal`), only the reply, saying why.
4. **Reply** (`outcome_of`): the link to the channel, whom it invited, and anything that
   went wrong along the way, from what each step recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.channel_names import channel_name, with_suffix
from bot.config import Settings
from bot.db import insert_ignoring_duplicates
from bot.links import incident_url
from bot.models import Declaration, Incident, OutboxItem, ReservedChannelName
from bot.outbox import kinds
from bot.outbox.store import Effect, enqueue
from bot.services import announcements, incidents

# How many names (the title's, then -2, -3…) a declaration tries before giving up.
MAX_NAME_TRIES = 20
# The set-up a declared channel gets, in order, before the reply (see record_channel).
SET_UP = (kinds.INVITE, kinds.SET_TOPIC, kinds.WELCOME, kinds.BOOKMARK, kinds.ANNOUNCE)


@dataclass(frozen=True)
class DeclareRequest:
    key: str  # "command:<trigger_id>" or "view:<view id>"
    team_id: str
    user_id: str
    title: str
    severity: str | None
    description: str | None = None
    private: bool = False
    people: tuple[str, ...] = ()
    # How to answer the declarer: {"response_url": …} (the command) or {"user_id": …} (a DM).
    reply_to: dict[str, str] = field(default_factory=dict)
    # The bot's own user id in this workspace: a channel it created is recognisable by it.
    bot_user_id: str | None = None


@dataclass
class DeclareOutcome:
    status: str  # declared | failed
    ref: str | None = None
    channel_id: str | None = None
    channel_name: str | None = None
    invited: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    error: str | None = None
    fallback_name: bool = False

    def reply_text(self, command: str) -> str:
        """The declarer's private reply: the link to the channel, and anything that went wrong."""
        if self.status == "failed":
            return f":x: Nothing was declared. {self.error}"
        invited = f"Invited: {', '.join(f'<@{u}>' for u in self.invited)}." if self.invited else "Nobody could be invited (see below)."
        lines = [f":rotating_light: *{self.ref} declared* in <#{self.channel_id}>. {invited} I'm recording the channel from now on; "
                 f"talk there, and `{command} help` lists what you can do."]
        if self.fallback_name:
            lines.append(f"The title has no letters or digits I can put in a channel name, so the channel is `#{self.channel_name}`. "
                         f"Change the title any time with `{command} title <new title>`.")
        lines += [f":warning: {p}" for p in self.problems]
        return "\n".join(lines)


def lane_of(declaration_id: int) -> str:
    return f"declare:{declaration_id}"


def request(session: Session, request: DeclareRequest, *, now: datetime) -> bool:
    """Claim the declaration and ask for its channel; False when this very declare was
    claimed already (a double click, a redelivery, another process): that one answers."""
    claimed = insert_ignoring_duplicates(
        session, Declaration,
        dict(idempotency_key=request.key, team_id=request.team_id, user_id=request.user_id, title=request.title,
             severity=request.severity, description=request.description, private=request.private, people=list(request.people),
             status="creating", created_at=now, updated_at=now),
        ["idempotency_key"],
    )
    if not claimed:
        return False
    declaration = session.scalars(select(Declaration).where(Declaration.idempotency_key == request.key)).one()
    enqueue(session, Effect(kinds.DECLARE_CHANNEL, f"{request.key}:channel", request.team_id, lane=lane_of(declaration.id),
                            payload={"declaration_id": declaration.id, "reply_to": request.reply_to, "bot_user_id": request.bot_user_id}),
            now=now)
    return True


def _base_name(declaration: Declaration, settings: Settings) -> tuple[str, bool]:
    name = channel_name(settings.channel_pattern, title=declaration.title, severity=declaration.severity,
                        when=declaration.created_at.astimezone(settings.timezone))
    return name.name, name.fallback


def reserve_name(session: Session, declaration: Declaration, *, settings: Settings, now: datetime, after: str | None = None) -> str | None:
    """The name this declaration's channel is created with: the one it holds already, else the
    first of the title's name, -2, -3… that no declaration holds, reserved for this one.
    `after`: that name turned out taken in Slack by someone else; move past it. None when
    every name up to MAX_NAME_TRIES is taken."""
    base, _ = _base_name(declaration, settings)
    if after is None and declaration.channel_name:
        return declaration.channel_name
    start = 1
    if after is not None:
        start = next((n + 1 for n in range(1, MAX_NAME_TRIES + 1) if with_suffix(base, n) == after), 1)
    for n in range(start, MAX_NAME_TRIES + 1):
        candidate = with_suffix(base, n)
        if insert_ignoring_duplicates(session, ReservedChannelName,
                                      dict(team_id=declaration.team_id, name=candidate, declaration_id=declaration.id, reserved_at=now),
                                      ["team_id", "name"]):
            declaration.channel_name, declaration.updated_at = candidate, now
            return candidate
    return None


def holds_name(session: Session, declaration_id: int, *, team_id: str, name: str) -> bool:
    """Did this declaration reserve `name` (so a bot-made channel of that name may be its own)?"""
    row = session.get(ReservedChannelName, (team_id, name))
    return row is not None and row.declaration_id == declaration_id


def channel_recorded(session: Session, *, team_id: str, channel_id: str) -> bool:
    """Does an incident already record this channel?"""
    return session.scalars(select(Incident.id).where(Incident.team_id == team_id, Incident.channel_id == channel_id)).first() is not None


def record_channel(session: Session, declaration: Declaration, *, channel_id: str, channel_name: str, settings: Settings,
                   now: datetime, reply_to: dict[str, str], bot_user_id: str | None) -> Incident:
    """The channel exists: record its incident (recording starts here), mark the declaration
    done, and ask for the channel's set-up and then the reply, in the declaration's lane."""
    key = declaration.idempotency_key
    incident = incidents.start_incident(
        session, team_id=declaration.team_id, channel_id=channel_id, channel_name=channel_name, title=declaration.title,
        severity=declaration.severity, user_id=declaration.user_id, now=now, command_id=f"{key}:declared",
    )
    incident.is_private = declaration.private
    incidents.assign_role(session, incident=incident, role="lead", assignee=declaration.user_id, user_id=declaration.user_id,
                          command_id=f"{key}:lead", now=now)
    if declaration.description:
        incidents.add_command_entry(session, incident=incident, kind="note", text=declaration.description, at=now,
                                    author=declaration.user_id, command_id=f"{key}:description", now=now)
    session.flush()
    declaration.status, declaration.channel_id, declaration.channel_name = "done", channel_id, channel_name
    declaration.incident_id, declaration.updated_at = incident.id, now
    lane = lane_of(declaration.id)
    web_page = incident_url(settings, incident.ref)  # the web view's page, when SCRIBE_PUBLIC_URL is set

    def step(kind: str, payload: dict[str, Any] | None = None) -> None:
        enqueue(session, Effect(kind, f"{key}:{kind}", declaration.team_id, incident_id=incident.id, lane=lane, payload=payload), now=now)

    people = [u for u in dict.fromkeys([declaration.user_id, *declaration.people]) if u != bot_user_id]
    step(kinds.INVITE, {"channel_id": channel_id, "people": people})
    step(kinds.SET_TOPIC)
    step(kinds.WELCOME, {"web_page": web_page})
    if web_page is not None:
        step(kinds.BOOKMARK, {"channel_id": channel_id, "title": f"{incident.ref} web page", "link": web_page})
    announcements.request_announce(session, incident, private=declaration.private, settings=settings, now=now, lane=lane)
    step(kinds.DECLARE_REPLY, {"declaration_id": declaration.id, "reply_to": reply_to})
    return incident


def record_refusal(session: Session, declaration: Declaration, *, reason: str, now: datetime, reply_to: dict[str, str]) -> None:
    """Slack would not create the channel: nothing is declared, and the declarer is told why."""
    declaration.status, declaration.error, declaration.updated_at = "failed", reason, now
    enqueue(session, Effect(kinds.DECLARE_REPLY, f"{declaration.idempotency_key}:{kinds.DECLARE_REPLY}", declaration.team_id,
                            lane=lane_of(declaration.id), payload={"declaration_id": declaration.id, "reply_to": reply_to}), now=now)


def outcome_of(session: Session, declaration: Declaration, *, settings: Settings) -> DeclareOutcome:
    """What became of a declaration, from what each of its steps recorded."""
    if declaration.status != "done" or declaration.incident_id is None:
        return DeclareOutcome("failed", error=declaration.error or "Slack didn't create the channel.")
    incident = session.get(Incident, declaration.incident_id)
    _, fallback = _base_name(declaration, settings)
    outcome = DeclareOutcome("declared", ref=incident.ref if incident else None, channel_id=declaration.channel_id,
                             channel_name=declaration.channel_name, fallback_name=fallback)
    steps = session.scalars(
        select(OutboxItem).where(OutboxItem.lane == lane_of(declaration.id), OutboxItem.kind.in_(SET_UP)).order_by(OutboxItem.id)
    ).all()
    for row in steps:
        result = row.result or {}
        if row.kind == kinds.INVITE:
            outcome.invited = list(result.get("invited") or [])
        outcome.problems += [str(p) for p in result.get("problems") or []]
        if row.status == "failed" and row.last_error and not result.get("problems"):
            outcome.problems.append(row.last_error)
    return outcome
