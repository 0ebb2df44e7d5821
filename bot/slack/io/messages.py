"""Messages: post, update, permalinks, private replies (chat.*).

Each function returns a plain result or raises `MessageFailed` with words for people;
callers decide whether a failure matters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.slack.client import describe_failure


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
    try:
        client.chat_postMessage(channel=user_id, text=text, unfurl_links=False)
        return True
    except (SlackApiError, SlackClientError, OSError):
        return False


def find_by_metadata(client: WebClient, channel: str, *, event_type: str, key: str, value: Any, oldest: float) -> str | None:
    """The ts of a message we posted with this metadata since `oldest` (epoch seconds), or None.
    For a claim left by a process that died: did its post reach Slack before it could record it?"""
    try:
        history = client.conversations_history(channel=channel, oldest=f"{oldest:.6f}", include_all_metadata=True, limit=200)
    except (SlackApiError, SlackClientError, OSError) as error:
        raise MessageFailed(_code(error), describe_failure(error)) from None
    for message in history.get("messages") or []:
        metadata = message.get("metadata") or {}
        if metadata.get("event_type") == event_type and (metadata.get("event_payload") or {}).get(key) == value:
            return str(message["ts"])
    return None
