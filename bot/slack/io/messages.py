"""Messages: posting to a channel and private (ephemeral) replies."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.slack.client import describe_failure

log = logging.getLogger(__name__)


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
