"""The announcement in SCRIBE_ANNOUNCE_CHANNEL: posted once, edited to stay true, closed.

`Announce` posts it. Every announcement carries its incident in message metadata, so a post
whose answer a crash lost is found in the channel instead of being made twice. `Refresh`
brings the message, the closing line and a declared channel's topic up to what the database
says now. The rows of one incident run in order, and a refresh re-reads the facts after
each edit: two changes in quick succession reach Slack in either order, so whichever runs
last checks again and, if the facts moved on, edits once more.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.db import transaction
from bot.models import Announcement, Incident, OutboxItem
from bot.outbox import kinds
from bot.outbox.relay import Outcome
from bot.services import announcements
from bot.services.announcements import AnnouncementFacts
from bot.slack.blocks import declare as blocks
from bot.slack.effects.base import SlackHandler
from bot.slack.io import channels, messages

log = logging.getLogger(__name__)

METADATA_EVENT = "scribe_announcement"
CLOSING_EVENT = "scribe_closing"


def _metadata(event: str, incident_id: int) -> dict[str, object]:
    return {"event_type": event, "event_payload": {"incident": incident_id}}


def _where(settings: Settings) -> str:
    ref = settings.announce_channel or ""
    return ref if ref.startswith("#") or ref[:1] in ("C", "G") else f"#{ref}"


@dataclass(frozen=True)
class AnnouncementPost:
    team_id: str
    facts: AnnouncementFacts
    since: datetime  # the claim's time: a lost post is looked for from a minute before it


class Announce(SlackHandler):
    max_attempts = 5


    def prepare(self, session: Session, row: OutboxItem, *, now: datetime) -> AnnouncementPost | None:
        incident = session.get(Incident, row.incident_id)
        announcement = session.get(Announcement, row.incident_id)
        if incident is None or announcement is None or announcement.status != "posting" or not self.settings.announce_channel:
            return None
        return AnnouncementPost(incident.team_id, announcements.facts_of(incident, announcement, self.settings), announcement.created_at)

    def perform(self, work: AnnouncementPost, *, reclaimed_from: datetime | None) -> Outcome:
        client = self.client_for(work.team_id)
        if client is None:
            return self.not_installed(work.team_id)
        where = _where(self.settings)
        channel_id = channels.channel_id_for(client, self.settings.announce_channel or "")
        if channel_id is None:
            return Outcome.failed(f"The announcement wasn't posted: I can't find the channel `{where}` (SCRIBE_ANNOUNCE_CHANNEL); "
                                  "it doesn't exist, or it is private and I'm not in it. "
                                  "Ask whoever runs Incident Scribe to fix the setting, or `/invite @Incident Scribe` there.")
        incident_id = work.facts.incident_id
        text, body = blocks.announcement_message(work.facts)
        metadata = _metadata(METADATA_EVENT, incident_id)
        try:
            if reclaimed_from is not None:
                ts = messages.find_by_metadata(client, channel_id, event_type=METADATA_EVENT, key="incident", value=incident_id,
                                               oldest=work.since.timestamp() - 60)
                if ts is not None:
                    return Outcome.recovered(channel_id=channel_id, message_ts=ts, result={"facts_posted": False})
            try:
                posted = messages.post(client, channel_id, text, body, metadata=metadata)
            except messages.MessageFailed as failure:
                if failure.code != "not_in_channel" or not channels.join_public(client, channel_id):
                    raise
                posted = messages.post(client, channel_id, text, body, metadata=metadata)
        except messages.MessageFailed as failure:
            if failure.code in ("not_in_channel", "channel_not_found"):
                return Outcome.failed(f"The announcement wasn't posted: I'm not a member of `{where}` and can't join it myself. "
                                      f"Type `/invite @Incident Scribe` in {where} so the next incidents are announced.")
            if failure.code.startswith("http_5") or failure.code in ("ratelimited", "unreachable"):
                return Outcome.retry(f"The announcement wasn't posted in `{where}` ({failure}).")
            return Outcome.failed(f"The announcement wasn't posted in `{where}` ({failure}). Later changes won't be announced for this incident.")
        return Outcome.sent(channel_id=posted.channel, message_ts=posted.ts, result={"facts_posted": True})

    def record(self, session: Session, row: OutboxItem, work: AnnouncementPost, outcome: Outcome, *, now: datetime) -> None:
        announcement = session.get(Announcement, work.facts.incident_id)
        incident = session.get(Incident, work.facts.incident_id)
        if announcement is None or incident is None:
            return
        announcement.updated_at = now
        if outcome.done:
            announcement.status, announcement.channel_id, announcement.ts, announcement.last_error = "posted", outcome.channel_id, outcome.message_ts, None
            # A change made while we were posting (a `role lead` right after `start`) found no
            # ts to edit; whatever it changed is in the database, so bring the message up to date.
            if announcements.facts_of(incident, announcement, self.settings) != work.facts or not (outcome.result or {}).get("facts_posted"):
                announcements.request_refresh(session, incident, now=now)
        elif outcome.status == "failed":
            announcement.status, announcement.last_error = "failed", outcome.reason
            log.warning("incident %s: %s", incident.id, outcome.reason)
            row.result = {"problems": [outcome.reason]}


@dataclass(frozen=True)
class RefreshWork:
    team_id: str
    incident_id: int
    facts: AnnouncementFacts
    announcement: tuple[str, str] | None  # (channel, ts) of the posted announcement
    post_closing: bool  # the closing line is owed and not posted yet
    closing: tuple[str | None, str | None]  # its ts in the incident channel and under the announcement, once posted
    wanted_topic: str | None
    old_topic: str | None
    since: datetime


class Refresh(SlackHandler):
    max_attempts = 5


    def prepare(self, session: Session, row: OutboxItem, *, now: datetime) -> RefreshWork | None:
        # Refreshes asked for meanwhile are this one: it reads the facts after marking them, so
        # it shows every change they were asked for.
        session.execute(
            update(OutboxItem).where(OutboxItem.incident_id == row.incident_id, OutboxItem.kind == kinds.REFRESH_ANNOUNCEMENT,
                                     OutboxItem.status == "pending", OutboxItem.id != row.id)
            .values(status="skipped", last_error=f"done by row {row.id}")
        )
        incident = session.get(Incident, row.incident_id)
        announcement = session.get(Announcement, row.incident_id)
        if incident is None or announcement is None:
            return None
        facts = announcements.facts_of(incident, announcement, self.settings)
        posted = (announcement.channel_id, announcement.ts) if announcement.status == "posted" and announcement.channel_id and announcement.ts else None
        declared = announcements.is_declared(session, incident.id)
        # The closing line goes with an announcement or a declared channel; an incident opened
        # with `start` and not announced keeps just the command's own confirmation.
        post_closing = facts.ended_at is not None and announcement.closing_status != "posted" and (posted is not None or declared)
        return RefreshWork(
            team_id=incident.team_id, incident_id=incident.id, facts=facts, announcement=posted, post_closing=post_closing,
            closing=(announcement.closing_ts, announcement.closing_thread_ts) if announcement.closing_status == "posted" else (None, None),
            wanted_topic=blocks.topic(incident.title, incident.severity, facts.lead) if declared and not incident.closed_at else None,
            old_topic=announcement.topic, since=announcement.created_at,
        )

    def perform(self, work: RefreshWork, *, reclaimed_from: datetime | None) -> Outcome:
        client = self.client_for(work.team_id)
        if client is None:
            return self.not_installed(work.team_id)
        result: dict[str, Any] = {}
        if work.announcement is not None:
            self._update_until_current(client, work)
        command = self.settings.command
        if work.post_closing:
            result["closing"] = self._post_closing(client, work, command, reclaimed_from)
        else:
            for channel, ts, for_announcement in ((work.facts.channel_id, work.closing[0], False),
                                                  (work.announcement[0] if work.announcement else None, work.closing[1], True)):
                if channel and ts:
                    try:
                        messages.update(client, channel, ts, blocks.closing_line(work.facts, command=command, for_announcement=for_announcement))
                    except messages.MessageFailed as failure:
                        log.warning("incident %s: a closing line wasn't updated: %s", work.incident_id, failure)
        if (work.wanted_topic is not None and work.wanted_topic != work.old_topic
                and channels.set_topic(client, work.facts.channel_id, work.wanted_topic) is None):
            result["topic"] = work.wanted_topic
        return Outcome.sent(result=result)

    def _post_closing(self, client: WebClient, work: RefreshWork, command: str, reclaimed_from: datetime | None) -> list[str | None]:
        posted: list[str | None] = []
        for channel, thread, for_announcement in ((work.facts.channel_id, None, False),
                                                  (work.announcement[0] if work.announcement else None,
                                                   work.announcement[1] if work.announcement else None, True)):
            if channel is None:
                posted.append(None)
                continue
            try:
                found = messages.find_by_metadata(client, channel, event_type=CLOSING_EVENT, key="incident", value=work.incident_id,
                                                  oldest=work.since.timestamp() - 60, thread_ts=thread) if reclaimed_from is not None else None
                posted.append(found or messages.post(client, channel, blocks.closing_line(work.facts, command=command, for_announcement=for_announcement),
                                                     thread_ts=thread, metadata=_metadata(CLOSING_EVENT, work.incident_id)).ts)
            except messages.MessageFailed as failure:
                where = "under the announcement" if for_announcement else "in its channel"
                log.warning("incident %s: the closing line wasn't posted %s: %s", work.incident_id, where, failure)
                posted.append(None)
        return posted

    def _update_until_current(self, client: WebClient, work: RefreshWork) -> None:
        assert work.announcement is not None
        facts = work.facts
        for _ in range(3):
            try:
                messages.update(client, work.announcement[0], work.announcement[1], *blocks.announcement_message(facts))
            except messages.MessageFailed as failure:
                log.warning("incident %s: the announcement wasn't updated: %s", work.incident_id, failure)
                return
            with transaction(self.session_factory) as session:
                incident = session.get(Incident, work.incident_id)
                latest = announcements.facts_of(incident, session.get(Announcement, work.incident_id), self.settings) if incident else facts
            if latest == facts:
                return
            facts = latest

    def record(self, session: Session, row: OutboxItem, work: RefreshWork, outcome: Outcome, *, now: datetime) -> None:
        announcement = session.get(Announcement, work.incident_id)
        if announcement is None or not outcome.done:
            return
        result = outcome.result or {}
        if "closing" in result:
            channel_ts, thread_ts = result["closing"]
            announcement.closing_status, announcement.closing_ts, announcement.closing_thread_ts = "posted", channel_ts, thread_ts
        if result.get("topic"):
            announcement.topic = str(result["topic"])[:255]
        announcement.updated_at = now
