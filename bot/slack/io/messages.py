"""Messages: posting to a channel, private (ephemeral) replies, status updates."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.slack.client import describe_failure

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PostedUpdate:
    channel_ts: str | None  # the update's ts in the incident channel, None if it wasn't posted
    thread_ts: str | None  # the copy's ts under the announcement, if there was one to thread under
    problem: str | None  # what to tell the person who posted it, when something failed


def post_status_update(
    client: WebClient | None,
    *,
    channel_id: str,
    text: str,
    blocks: list[dict[str, Any]],
    announcement: tuple[str, str] | None = None,
) -> PostedUpdate:
    """Post a status update in the incident channel and, given the announcement's
    (channel id, ts), a copy in its thread. Never raises: a failure comes back as words."""
    if client is None:
        return PostedUpdate(None, None, None)
    channel_ts: str | None = None
    thread_ts: str | None = None
    problem: str | None = None
    try:
        channel_ts = client.chat_postMessage(channel=channel_id, text=text, blocks=blocks, unfurl_links=False)["ts"]
    except (SlackApiError, SlackClientError, OSError) as error:
        log.warning("could not post a status update in %s: %s", channel_id, describe_failure(error))
        problem = f"The update is recorded, but I couldn't post it in the channel ({describe_failure(error)})."
        if isinstance(error, SlackApiError) and error.response.get("error") in ("not_in_channel", "channel_not_found"):
            problem += " Type `/invite @Incident Scribe` here, then post it again."
    if announcement is not None:
        try:
            thread_ts = client.chat_postMessage(
                channel=announcement[0], thread_ts=announcement[1], text=text, blocks=blocks, unfurl_links=False
            )["ts"]
        except (SlackApiError, SlackClientError, OSError) as error:
            log.warning("could not thread a status update under the announcement in %s: %s", announcement[0], describe_failure(error))
            problem = (problem + " " if problem else "") + f"I couldn't add it under the announcement ({describe_failure(error)})."
    return PostedUpdate(channel_ts, thread_ts, problem)
def post(client: WebClient, channel_id: str, text: str, blocks: list[dict[str, Any]] | None = None) -> str | None:
    """Post in a channel; the message ts, or None (logged) if Slack refused."""
    try:
        return client.chat_postMessage(channel=channel_id, text=text, blocks=blocks, unfurl_links=False).get("ts")
    except (SlackApiError, SlackClientError, OSError) as error:
        log.warning("could not post in %s: %s", channel_id, describe_failure(error))
        return None


def ephemeral(client: WebClient, channel_id: str, user_id: str, text: str, blocks: list[dict[str, Any]] | None = None) -> bool:
    """A message only `user_id` sees in the channel. False (logged) if Slack refused."""
    try:
        client.chat_postEphemeral(channel=channel_id, user=user_id, text=text, blocks=blocks)
        return True
    except (SlackApiError, SlackClientError, OSError) as error:
        log.warning("could not send a private message in %s: %s", channel_id, describe_failure(error))
        return False
