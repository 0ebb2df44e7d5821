"""Channels: joining, and (as they arrive) creating, inviting and topics."""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.slack.client import describe_failure

# Slack's answers to conversations.join for a channel the bot can't join by itself.
_PRIVATE = {"method_not_supported_for_channel_type", "channel_not_found", "is_private"}


def join_channel(client: WebClient | None, channel_id: str) -> str | None:
    """Join a public channel so its events arrive. None when joined (or there is no client
    to join with); otherwise what to tell the person, e.g. how to invite the bot."""
    if client is None:
        return None
    try:
        client.conversations_join(channel=channel_id)
        return None
    except SlackApiError as error:
        if error.response.get("error") in _PRIVATE:
            return "This is a private channel, so I can't join it myself: type `/invite @Incident Scribe` here so I can record it."
        return f"I couldn't join this channel ({describe_failure(error)}): type `/invite @Incident Scribe` so I can record it."
    except (SlackClientError, OSError) as error:
        return f"I couldn't join this channel ({describe_failure(error)}): type `/invite @Incident Scribe` so I can record it."


def is_member(client: WebClient, channel_id: str, user_id: str, *, max_pages: int = 10) -> bool | None:
    """Is `user_id` in the channel (conversations.members, paged)? None when Slack can't
    say (the bot isn't in a private channel any more, an error): the caller decides then."""
    cursor = None
    try:
        for _ in range(max_pages):
            page = client.conversations_members(channel=channel_id, limit=200, **({"cursor": cursor} if cursor else {}))
            if user_id in (page.get("members") or []):
                return True
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return False
    except (SlackApiError, SlackClientError, OSError):
        return None
    return None
