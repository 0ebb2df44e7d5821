"""A declared incident in Slack: its channel, then invitations, topic, welcome, and the reply.

The steps are outbox rows in the declaration's lane (bot.services.declare), so they go in
order, once each. What each one must get right when it runs a second time, after a process
died while running it:
- the channel: Slack may have created it before the crash. The name was reserved for this
  declaration before Slack was asked, so a channel of that name made by the bot and
  recorded by no incident is this declaration's own, and is used;
- invitations and the topic: asking again is harmless (already_in_channel);
- the welcome: it carries message metadata, and a re-run looks for it before posting;
- the reply: at worst said twice, never lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db import transaction
from bot.models import Announcement, Declaration, Incident, OutboxItem
from bot.outbox.relay import Outcome
from bot.services import declare
from bot.slack.blocks import declare as blocks
from bot.slack.effects.base import SlackHandler
from bot.slack.effects.tell import Line, Tell
from bot.slack.io import channels, messages

log = logging.getLogger(__name__)

WELCOME_EVENT = "scribe_welcome"



@dataclass(frozen=True)
class ChannelToCreate:
    declaration_id: int
    team_id: str
    name: str | None  # None: every name was taken
    private: bool
    bot_user_id: str | None


class CreateChannel(SlackHandler):
    max_attempts = 5  # 1 + 2 + 4 + 8 minutes of Slack trouble, then the declarer is told


    def prepare(self, session: Session, row: OutboxItem, *, now: datetime) -> ChannelToCreate | None:
        payload = row.payload or {}
        declaration = session.get(Declaration, payload.get("declaration_id"))
        if declaration is None or declaration.status != "creating":
            return None
        name = declare.reserve_name(session, declaration, settings=self.settings, now=now)
        return ChannelToCreate(declaration.id, declaration.team_id, name, declaration.private, payload.get("bot_user_id"))

    def perform(self, work: ChannelToCreate, *, reclaimed_from: datetime | None) -> Outcome:
        if work.name is None:
            return Outcome.failed("Every channel name for this title is taken. Declare it with a more specific title.")
        client = self.client_for(work.team_id)
        if client is None:
            return self.not_installed(work.team_id)

        def is_ours(channel: dict[str, Any]) -> bool:
            # Made by the bot under a name this declaration reserved, and no incident has it:
            # ours, from a try whose answer got lost.
            if work.bot_user_id is None or channel.get("creator") != work.bot_user_id:
                return False
            with transaction(self.session_factory) as session:
                return declare.holds_name(session, work.declaration_id, team_id=work.team_id, name=str(channel.get("name"))) and \
                    not declare.channel_recorded(session, team_id=work.team_id, channel_id=str(channel["id"]))

        def next_name(taken: str) -> str | None:
            # Someone else's channel has this name: reserve the next one.
            with transaction(self.session_factory) as session:
                declaration = session.get(Declaration, work.declaration_id)
                assert declaration is not None
                return declare.reserve_name(session, declaration, settings=self.settings, now=self.clock(), after=taken)

        try:
            created = channels.create_channel(client, work.name, private=work.private, is_ours=is_ours, next_name=next_name)
        except channels.ChannelUnavailable as trouble:
            return Outcome.retry(f"Slack didn't create the channel ({trouble}, even after retries). Nothing was declared; try again in a minute.")
        except channels.ChannelRefused as refused:
            log.info("declaration %s refused by Slack: %s", work.declaration_id, refused.code)
            return Outcome.failed(str(refused))
        return Outcome.sent(channel_id=created.id, result={"channel_id": created.id, "channel_name": created.name, "recovered": created.recovered})

    def record(self, session: Session, row: OutboxItem, work: ChannelToCreate, outcome: Outcome, *, now: datetime) -> None:
        declaration = session.get(Declaration, work.declaration_id)
        if declaration is None:
            return
        reply_to = (row.payload or {}).get("reply_to") or {}
        if outcome.done and outcome.result:
            incident = declare.record_channel(
                session, declaration, channel_id=outcome.result["channel_id"], channel_name=outcome.result["channel_name"],
                settings=self.settings, now=now, reply_to=reply_to, bot_user_id=work.bot_user_id,
            )
            log.info("declared %s in %s", incident.ref, incident.channel_id)
        elif outcome.status == "failed":
            declare.record_refusal(session, declaration, reason=outcome.reason or "Slack didn't create the channel.", now=now, reply_to=reply_to)


@dataclass(frozen=True)
class Invitations:
    team_id: str
    channel_id: str
    people: list[str]


class Invite(SlackHandler):
    def prepare(self, session: Session, row: OutboxItem, *, now: datetime) -> Invitations:
        payload = row.payload or {}
        return Invitations(row.team_id or "", str(payload["channel_id"]), list(payload.get("people") or []))

    def perform(self, work: Invitations, *, reclaimed_from: datetime | None) -> Outcome:
        client = self.client_for(work.team_id)
        if client is None:
            return self.not_installed(work.team_id)
        refused = channels.invite_people(client, work.channel_id, work.people, bot_user_id=None)
        refused_ids = {r.user_id for r in refused}
        return Outcome.sent(result={"invited": [u for u in work.people if u not in refused_ids], "problems": [r.message for r in refused]})



@dataclass(frozen=True)
class Topic:
    team_id: str
    incident_id: int
    channel_id: str
    text: str


class SetTopic(SlackHandler):
    def prepare(self, session: Session, row: OutboxItem, *, now: datetime) -> Topic | None:
        incident = session.get(Incident, row.incident_id)
        if incident is None:
            return None
        return Topic(incident.team_id, incident.id, incident.channel_id, blocks.topic(incident.title, incident.severity, incident.role_holder("lead")))

    def perform(self, work: Topic, *, reclaimed_from: datetime | None) -> Outcome:
        client = self.client_for(work.team_id)
        if client is None:
            return self.not_installed(work.team_id)
        problem = channels.set_topic(client, work.channel_id, work.text)
        return Outcome.sent(result={"problems": [problem] if problem else [], "topic": None if problem else work.text})

    def record(self, session: Session, row: OutboxItem, work: Topic, outcome: Outcome, *, now: datetime) -> None:
        topic = (outcome.result or {}).get("topic")
        announcement = session.get(Announcement, work.incident_id)
        if topic and announcement is not None:
            announcement.topic = topic[:255]


@dataclass(frozen=True)
class WelcomePost:
    team_id: str
    incident_id: int
    channel_id: str
    text: str
    blocks: list[dict[str, Any]]
    since: datetime


class Welcome(SlackHandler):
    def prepare(self, session: Session, row: OutboxItem, *, now: datetime) -> WelcomePost | None:
        incident = session.get(Incident, row.incident_id)
        if incident is None:
            return None
        declaration = session.scalars(select(Declaration).where(Declaration.incident_id == incident.id)).first()
        description = declaration.description if declaration is not None else None
        text, body = blocks.welcome_message(
            ref=incident.ref, title=incident.title, severity=incident.severity, lead=incident.role_holder("lead") or incident.created_by,
            declared_at=incident.declared_at, description=description, private=incident.is_private, command=self.settings.command,
            key_reaction=self.settings.key_reaction, web_page=(row.payload or {}).get("web_page"),
        )
        return WelcomePost(incident.team_id, incident.id, incident.channel_id, text, body, incident.declared_at)

    def perform(self, work: WelcomePost, *, reclaimed_from: datetime | None) -> Outcome:
        client = self.client_for(work.team_id)
        if client is None:
            return self.not_installed(work.team_id)
        metadata = {"event_type": WELCOME_EVENT, "event_payload": {"incident": work.incident_id}}
        try:
            if reclaimed_from is not None:
                ts = messages.find_by_metadata(client, work.channel_id, event_type=WELCOME_EVENT, key="incident", value=work.incident_id,
                                               oldest=work.since.timestamp() - 60)
                if ts is not None:
                    return Outcome.recovered(channel_id=work.channel_id, message_ts=ts)
            posted = messages.post(client, work.channel_id, work.text, work.blocks, metadata=metadata)
        except messages.MessageFailed as failure:
            problem = f"The welcome message wasn't posted in <#{work.channel_id}> ({failure})."
            if failure.code.startswith("http_5") or failure.code in ("ratelimited", "unreachable"):
                return Outcome.retry(problem)
            return Outcome.failed(problem, result={"problems": [problem]})
        return Outcome.sent(channel_id=posted.channel, message_ts=posted.ts)



class Reply(Tell):
    """The declarer's answer, worded from the declaration's outcome when it is carried out,
    and delivered as any line to one person is."""

    lease = SlackHandler.lease

    def prepare(self, session: Session, row: OutboxItem, *, now: datetime) -> Line | None:
        payload = row.payload or {}
        declaration = session.get(Declaration, payload.get("declaration_id"))
        if declaration is None:
            return None
        outcome = declare.outcome_of(session, declaration, settings=self.settings)
        log.info("declaration %s: %s (%d problem(s))", declaration.id, outcome.status, len(outcome.problems))
        return Line(declaration.team_id, payload.get("reply_to") or {"user_id": declaration.user_id}, outcome.reply_text(self.settings.command))


