"""Declare an incident from anywhere: a new channel, its people, the announcement.

The steps, and what each failure leaves behind:

1. **Claim** a `declarations` row by its idempotency key (the slash command's trigger_id,
   or the modal's view id). A double-clicked submit, or the same submit reaching a second
   process, loses this INSERT and does nothing more.
2. **Create the channel** (bot.slack.io.channels.create_channel): a taken name gets -2, -3…;
   429s and 5xx are retried by the client, and when a retry answers name_taken because
   the lost first try did create it, the channel is recognised (made by the bot, claimed
   by no incident) and used. If Slack refuses, the declaration is marked failed and the
   declarer told why: no incident row exists yet, so none is left without a channel.
3. **Record** the incident for the new channel, with the declarer as lead, in one
   transaction with the declaration's `done`: recording starts here.
4. **Invite, topic, welcome, announce.** Each may fail on its own (a guest, a deactivated
   account, the announce channel missing); that is told to the declarer and never
   undoes the declaration.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.channel_names import channel_name
from bot.config import Settings
from bot.db import insert_ignoring_duplicates, transaction
from bot.models import Announcement, Declaration, Incident
from bot.services import announcements, incidents
from bot.slack.blocks import declare as blocks
from bot.slack.io import channels, messages
from bot.web.links import incident_url

log = logging.getLogger(__name__)


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


@dataclass
class DeclareOutcome:
    status: str  # declared | duplicate | failed
    ref: str | None = None
    channel_id: str | None = None
    channel_name: str | None = None
    invited: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    error: str | None = None
    fallback_name: bool = False

    def reply_text(self, command: str) -> str:
        """The declarer's private reply: the link to the channel, and anything that went wrong."""
        if self.status == "duplicate":
            return "That incident is already being declared; the link to its channel comes in the other reply."
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


def _claim(session: Session, request: DeclareRequest, now: datetime) -> bool:
    return insert_ignoring_duplicates(
        session, Declaration,
        dict(idempotency_key=request.key, team_id=request.team_id, user_id=request.user_id, title=request.title,
             severity=request.severity, description=request.description, private=request.private, people=list(request.people),
             status="creating", created_at=now, updated_at=now),
        ["idempotency_key"],
    )


def declare(
    session_factory: sessionmaker[Session],
    client: WebClient,
    request: DeclareRequest,
    *,
    settings: Settings,
    bot_user_id: str | None,
    now: Callable[[], datetime],
    worker: str,
) -> DeclareOutcome:
    started = now()
    with transaction(session_factory) as session:
        if not _claim(session, request, started):
            return DeclareOutcome("duplicate")
    name = channel_name(settings.channel_pattern, title=request.title, severity=request.severity,
                        when=started.astimezone(settings.timezone))

    def is_ours(channel: dict[str, Any]) -> bool:
        # A channel the bot made that no incident has: ours, from a try whose answer got lost.
        if bot_user_id is None or channel.get("creator") != bot_user_id:
            return False
        with transaction(session_factory) as session:
            taken = session.scalars(select(Incident.id).where(Incident.team_id == request.team_id, Incident.channel_id == channel["id"])).first()
        return taken is None

    try:
        created = channels.create_channel(client, name.name, private=request.private, is_ours=is_ours)
    except channels.ChannelRefused as refused:
        with transaction(session_factory) as session:
            row = session.scalars(select(Declaration).where(Declaration.idempotency_key == request.key)).one()
            row.status, row.error, row.updated_at = "failed", str(refused), now()
        log.info("declare %s refused by Slack: %s", request.key, refused.code)
        return DeclareOutcome("failed", error=str(refused))

    at = now()
    with transaction(session_factory) as session:
        incident = incidents.start_incident(
            session, team_id=request.team_id, channel_id=created.id, channel_name=created.name, title=request.title,
            severity=request.severity, user_id=request.user_id, now=at, command_id=f"{request.key}:declared",
        )
        incident.is_private = request.private
        incidents.assign_role(session, incident=incident, role="lead", assignee=request.user_id, user_id=request.user_id,
                              command_id=f"{request.key}:lead", now=at)
        if request.description:
            incidents.add_command_entry(session, incident=incident, kind="note", text=request.description, at=at,
                                        author=request.user_id, command_id=f"{request.key}:description", now=at)
        row = session.scalars(select(Declaration).where(Declaration.idempotency_key == request.key)).one()
        row.status, row.channel_id, row.channel_name, row.incident_id, row.updated_at = "done", created.id, created.name, incident.id, at
        session.flush()
        incident_id, ref = incident.id, incident.ref

    outcome = DeclareOutcome("declared", ref=ref, channel_id=created.id, channel_name=created.name, fallback_name=name.fallback)
    people = list(dict.fromkeys([request.user_id, *request.people]))
    refused = channels.invite_people(client, created.id, people, bot_user_id=bot_user_id)
    outcome.invited = [u for u in people if u not in {r.user_id for r in refused} and u != bot_user_id]
    outcome.problems += [r.message for r in refused]

    wanted_topic = blocks.topic(request.title, request.severity, request.user_id)
    topic_problem = channels.set_topic(client, created.id, wanted_topic)
    if topic_problem:
        outcome.problems.append(topic_problem)

    page = incident_url(settings, ref)  # the web view's page, when SCRIBE_PUBLIC_URL is set
    text, body = blocks.welcome_message(ref=ref, title=request.title, severity=request.severity, lead=request.user_id, declared_at=at,
                                        description=request.description, private=request.private, command=settings.command,
                                        key_reaction=settings.key_reaction, web_page=page)
    try:
        messages.post(client, created.id, text, body)
    except messages.MessageFailed as failure:
        outcome.problems.append(f"The welcome message wasn't posted in <#{created.id}> ({failure}).")
    if page is not None:
        trouble = channels.add_link_bookmark(client, created.id, title=f"{ref} web page", link=page)
        if trouble:
            outcome.problems.append(trouble)

    problem = announcements.announce(session_factory, client, settings=settings, incident_id=incident_id, private=request.private,
                                     worker=worker, now=at)
    if problem:
        outcome.problems.append(problem)
    if topic_problem is None:
        with transaction(session_factory) as session:
            row_a = session.get(Announcement, incident_id)
            if row_a is not None:
                row_a.topic = wanted_topic[:255]
    log.info("declared %s in %s (%d problem(s))", ref, created.id, len(outcome.problems))
    return outcome
