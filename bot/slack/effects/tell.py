"""One line to one person, later: what a tracker answered, a fault, a reassignment. Kinds
outside the Slack layer (bot.ticket_sync.effects) ask for it as an outbox row of kind `tell`,
with the person's `reply_to` (bot.slack.io.replies) and the text. The declarer's answer
(bot.slack.effects.declare.Reply) is delivered the same way, worded when it goes out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bot.models import OutboxItem
from bot.outbox.relay import Outcome
from bot.slack.effects.base import SlackHandler
from bot.slack.io.replies import reply


@dataclass(frozen=True)
class Line:
    team_id: str
    reply_to: dict[str, str]
    text: str


class Tell(SlackHandler):
    lease = timedelta(minutes=2)

    def prepare(self, session: Session, row: OutboxItem, *, now: datetime) -> Line | None:
        payload = row.payload or {}
        if not payload.get("text") or not payload.get("reply_to"):
            return None
        return Line(row.team_id or "", dict(payload["reply_to"]), str(payload["text"]))

    def perform(self, work: Line, *, reclaimed_from: datetime | None) -> Outcome:
        client = self.client_for(work.team_id)
        if reply(client, work.reply_to, work.text):
            return Outcome.sent()
        # A response_url lasts 30 minutes (and 5 uses); after that, a DM from the app.
        user_id = work.reply_to.get("user_id")
        if work.reply_to.get("response_url") and user_id and reply(client, {"user_id": user_id}, work.text):
            return Outcome.sent()
        return Outcome.retry("the line could not be delivered")
