"""An incident channel's web page, bookmarked in the channel header, however the incident began."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy.orm import Session

from bot.models import OutboxItem
from bot.outbox.relay import Outcome
from bot.slack.client import describe_failure, is_transient
from bot.slack.effects.base import SlackHandler
from bot.slack.io.replies import reply


@dataclass(frozen=True)
class ChannelStep:
    team_id: str
    channel_id: str
    reply_to: dict[str, str]
    title: str = ""
    link: str = ""


def _step(row: OutboxItem) -> ChannelStep:
    payload = row.payload or {}
    return ChannelStep(row.team_id or "", str(payload["channel_id"]), payload.get("reply_to") or {},
                       str(payload.get("title") or ""), str(payload.get("link") or ""))


class Bookmark(SlackHandler):
    """The incident's web page in the channel header (when SCRIBE_PUBLIC_URL is set)."""

    def prepare(self, session: Session, row: OutboxItem, *, now: datetime) -> ChannelStep:
        return _step(row)

    def perform(self, work: ChannelStep, *, reclaimed_from: datetime | None) -> Outcome:
        client = self.client_for(work.team_id)
        if client is None:
            return self.not_installed(work.team_id)
        try:
            if reclaimed_from is not None and any(
                b.get("link") == work.link for b in client.bookmarks_list(channel_id=work.channel_id).get("bookmarks") or []
            ):
                return Outcome.recovered(channel_id=work.channel_id)
            client.bookmarks_add(channel_id=work.channel_id, title=work.title, type="link", link=work.link)
        except (SlackApiError, SlackClientError, OSError) as error:
            problem = f"I couldn't bookmark the incident's web page in <#{work.channel_id}> ({describe_failure(error)})."
            if is_transient(error):
                return Outcome.retry(problem)
            reply(client, work.reply_to, f":warning: {problem}")
            return Outcome.failed(problem, result={"problems": [problem]})
        return Outcome.sent(channel_id=work.channel_id)

