"""Answering a person after the ack, wherever the request came from.

A decision that finishes later (a declare, a status update posted after commit) keeps how
to reach the person who asked as plain data: `{"response_url": …}` for a slash command or
a button (Slack keeps it good for 30 minutes and 5 uses), `{"user_id": …}` for a form (a DM
from the bot), and optionally `"channel_id"` to answer privately in that channel instead.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.webhook import WebhookClient

from bot.slack.client import describe_failure

log = logging.getLogger(__name__)


def reply_to_command(command: dict[str, Any]) -> dict[str, str]:
    """How to answer whoever typed a slash command (or pressed a button) later on."""
    if command.get("response_url"):
        return {"response_url": str(command["response_url"])}
    return {"user_id": str(command.get("user_id") or (command.get("user") or {}).get("id") or "")}


def reply(client: WebClient | None, reply_to: dict[str, str] | None, text: str, blocks: list[dict[str, Any]] | None = None) -> bool:
    """Tell the person privately; False (logged) when that didn't work."""
    if not reply_to:
        return False
    try:
        if reply_to.get("response_url"):
            answer = WebhookClient(reply_to["response_url"], timeout=10).send_dict(
                {"response_type": "ephemeral", "replace_original": False, "text": text, **({"blocks": blocks} if blocks else {})}
            )
            if answer.status_code >= 300:
                log.warning("a reply through response_url was refused (HTTP %s)", answer.status_code)
                return False
            return True
        if client is None or not reply_to.get("user_id"):
            return False
        if reply_to.get("channel_id"):
            client.chat_postEphemeral(channel=reply_to["channel_id"], user=reply_to["user_id"], text=text, blocks=blocks)
        else:
            client.chat_postMessage(channel=reply_to["user_id"], text=text, blocks=blocks, unfurl_links=False)
        return True
    except (SlackApiError, SlackClientError, OSError) as error:
        log.warning("could not answer %s: %s", reply_to.get("user_id") or "a response_url", describe_failure(error))
        return False
