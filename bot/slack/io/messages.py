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


def post(client: WebClient, channel: str, text: str, blocks: list[dict[str, Any]] | None = None, *, thread_ts: str | None = None) -> Posted:
    try:
        answer = client.chat_postMessage(channel=channel, text=text, blocks=blocks, thread_ts=thread_ts, unfurl_links=False)
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
