"""Messages: post, update, permalinks, private replies (chat.*), status updates.

`post` and `update` return a plain result or raise `MessageFailed` with words for people,
for callers that decide whether a failure matters; `try_post` and `ephemeral` log and
carry on, for notices whose loss is not worth failing a request over.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.slack.client import describe_failure

log = logging.getLogger(__name__)


class MessageFailed(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Posted:
    channel: str
    ts: str


def _code(error: Exception) -> str:
    if isinstance(error, SlackApiError):
        return str(error.response.get("error") or f"http_{getattr(error.response, 'status_code', 0)}")
    return "unreachable"


def post(client: WebClient, channel: str, text: str, blocks: list[dict[str, Any]] | None = None, *, thread_ts: str | None = None,
         metadata: dict[str, Any] | None = None) -> Posted:
    try:
        answer = client.chat_postMessage(channel=channel, text=text, blocks=blocks, thread_ts=thread_ts, unfurl_links=False, metadata=metadata)
        return Posted(str(answer["channel"]), str(answer["ts"]))
    except (SlackApiError, SlackClientError, OSError) as error:
        raise MessageFailed(_code(error), describe_failure(error)) from None


def update(client: WebClient, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
    try:
        client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
    except (SlackApiError, SlackClientError, OSError) as error:
        raise MessageFailed(_code(error), describe_failure(error)) from None


def permalink(client: WebClient, channel: str, ts: str) -> str | None:
    try:
        return str(client.chat_getPermalink(channel=channel, message_ts=ts)["permalink"])
    except (SlackApiError, SlackClientError, OSError, KeyError):
        return None


def tell_privately(client: WebClient, user_id: str, text: str) -> bool:
    """A DM from the bot (posting to a user id lands in the bot's DM with them)."""
    return try_post(client, user_id, text) is not None


def ephemeral(client: WebClient, channel_id: str, user_id: str, text: str, blocks: list[dict[str, Any]] | None = None) -> bool:
    """A message only `user_id` sees in the channel. False (logged) if Slack refused."""
    try:
        client.chat_postEphemeral(channel=channel_id, user=user_id, text=text, blocks=blocks)
        return True
    except (SlackApiError, SlackClientError, OSError) as error:
        log.warning("could not send a private message in %s: %s", channel_id, describe_failure(error))
        return False


def find_by_metadata(client: WebClient, channel: str, *, event_type: str, key: str, value: Any, oldest: float,
                     thread_ts: str | None = None) -> str | None:
    """The ts of a message we posted with this metadata since `oldest` (epoch seconds), in the
    channel or in the thread of `thread_ts`, or None. For a claim left by a process that
    died: did its post reach Slack before it could record it?"""
    try:
        if thread_ts is not None:
            history = client.conversations_replies(channel=channel, ts=thread_ts, oldest=f"{oldest:.6f}", include_all_metadata=True, limit=200)
        else:
            history = client.conversations_history(channel=channel, oldest=f"{oldest:.6f}", include_all_metadata=True, limit=200)
    except (SlackApiError, SlackClientError, OSError) as error:
        raise MessageFailed(_code(error), describe_failure(error)) from None
    for message in history.get("messages") or []:
        metadata = message.get("metadata") or {}
        if metadata.get("event_type") == event_type and (metadata.get("event_payload") or {}).get(key) == value:
            return str(message["ts"])
    return None


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
        channel_ts = post(client, channel_id, text, blocks).ts
    except MessageFailed as failure:
        log.warning("could not post a status update in %s: %s", channel_id, failure)
        problem = f"The update is recorded, but I couldn't post it in the channel ({failure})."
        if failure.code in ("not_in_channel", "channel_not_found"):
            problem += " Type `/invite @Incident Scribe` here, then post it again."
    if announcement is not None:
        try:
            thread_ts = post(client, announcement[0], text, blocks, thread_ts=announcement[1]).ts
        except MessageFailed as failure:
            log.warning("could not thread a status update under the announcement in %s: %s", announcement[0], failure)
            problem = (problem + " " if problem else "") + f"I couldn't add it under the announcement ({failure})."
    return PostedUpdate(channel_ts, thread_ts, problem)


def try_post(client: WebClient, channel: str, text: str, blocks: list[dict[str, Any]] | None = None) -> str | None:
    """`post`, but a refusal is logged and comes back as None."""
    try:
        return post(client, channel, text, blocks).ts
    except MessageFailed as error:
        log.warning("could not post in %s: %s", channel, error)
        return None
