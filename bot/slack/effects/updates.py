"""Status updates: posted in the incident channel and, when there is one, under the announcement.

The update is recorded before this runs (bot.services.updates); posting it can fail without
losing it. Whoever posted it is told what didn't go through. Each copy carries the update's
key in message metadata, so a post whose answer a crash lost is found again, not repeated.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.models import OutboxItem
from bot.outbox.relay import Outcome
from bot.services import announcements
from bot.slack.blocks import updates as ub
from bot.slack.effects.base import SlackHandler
from bot.slack.io import messages
from bot.slack.io.replies import reply

log = logging.getLogger(__name__)

METADATA_EVENT = "scribe_update"


@dataclass(frozen=True)
class UpdatePost:
    key: str
    team_id: str
    channel_id: str
    announcement: tuple[str, str] | None
    text: str
    blocks: list[dict[str, Any]]
    reply_to: dict[str, str]
    at: datetime

    @property
    def pace_channel(self) -> tuple[str, str]:
        return self.team_id, self.channel_id


class PostUpdate(SlackHandler):
    max_attempts = 1  # a failure is told to the person, who can post again
    paced = True

    def prepare(self, session: Session, row: OutboxItem, *, now: datetime) -> UpdatePost | None:
        from bot.models import Incident

        payload = row.payload or {}
        incident = session.get(Incident, row.incident_id)
        if incident is None:
            return None
        at = datetime.fromisoformat(payload["at"])
        next_at = datetime.fromisoformat(payload["next_update_at"]) if payload.get("next_update_at") else None
        text, body = ub.update_message(ref=payload["ref"], title=payload["title"], severity=payload.get("severity"), status=payload.get("status"),
                                       summary=payload["summary"], author=payload["author"], at=at, next_at=next_at)
        return UpdatePost(row.dedupe_key, incident.team_id, incident.channel_id, announcements.thread_target(session, incident.id),
                          text, body, payload.get("reply_to") or {}, at)

    def perform(self, work: UpdatePost, *, reclaimed_from: datetime | None) -> Outcome:
        client = self.client_for(work.team_id)
        if client is None:
            return self.not_installed(work.team_id)
        metadata = {"event_type": METADATA_EVENT, "event_payload": {"update": work.key}}
        problems: list[str] = []
        posted: dict[str, str | None] = {}
        for where, channel, thread in (("channel", work.channel_id, None),
                                       ("announcement", *(work.announcement or (None, None)))):
            if channel is None:
                continue
            try:
                found = messages.find_by_metadata(client, channel, event_type=METADATA_EVENT, key="update", value=work.key,
                                                  oldest=work.at.timestamp() - 60, thread_ts=thread) if reclaimed_from is not None else None
                posted[where] = found or messages.post(client, channel, work.text, work.blocks, thread_ts=thread, metadata=metadata).ts
            except messages.MessageFailed as failure:
                if where == "channel":
                    log.warning("could not post a status update in %s: %s", channel, failure)
                    problem = f"The update is recorded, but I couldn't post it in the channel ({failure})."
                    if failure.code in ("not_in_channel", "channel_not_found"):
                        problem += " Type `/invite @Incident Scribe` here, then post it again."
                else:
                    log.warning("could not thread a status update under the announcement in %s: %s", channel, failure)
                    problem = f"I couldn't add it under the announcement ({failure})."
                problems.append(problem)
        if problems:
            reply(client, work.reply_to, ":warning: " + " ".join(problems))
        if "channel" not in posted:
            return Outcome.failed(" ".join(problems), result={"problems": problems})
        return Outcome.sent(channel_id=work.channel_id, message_ts=posted["channel"], result={"thread_ts": posted.get("announcement"), "problems": problems})

