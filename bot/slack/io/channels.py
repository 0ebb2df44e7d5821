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


class ChannelLookupFailed(Exception):
    """Slack couldn't tell us about a channel (down, timed out, an unexpected error)."""


def channel_is_private(client: WebClient, channel_id: str) -> bool:
    """conversations.info's `is_private`. A channel the bot can't see (Slack answers
    channel_not_found for a private channel it isn't in) counts as private."""
    try:
        channel = client.conversations_info(channel=channel_id)["channel"]
    except SlackApiError as error:
        if error.response.get("error") == "channel_not_found":
            return True
        raise ChannelLookupFailed(describe_failure(error)) from None
    except (SlackClientError, OSError) as error:
        raise ChannelLookupFailed(describe_failure(error)) from None
    return bool(channel.get("is_private") or channel.get("is_group") or channel.get("is_im") or channel.get("is_mpim"))


def channel_members(client: WebClient, channel_id: str) -> frozenset[str]:
    """Every member of a channel (conversations.members, all pages); empty if the bot can't see it."""
    members: set[str] = set()
    cursor: str | None = None
    try:
        while True:
            page = client.conversations_members(channel=channel_id, limit=1000, **({"cursor": cursor} if cursor else {}))
            members.update(page.get("members") or [])
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return frozenset(members)
    except SlackApiError as error:
        if error.response.get("error") in {"channel_not_found", "not_in_channel"}:
            return frozenset()
        raise ChannelLookupFailed(describe_failure(error)) from None
    except (SlackClientError, OSError) as error:
        raise ChannelLookupFailed(describe_failure(error)) from None


def add_link_bookmark(client: WebClient | None, channel_id: str, *, title: str, link: str) -> str | None:
    """Bookmark a link in the channel header. None when added (or there is no client);
    otherwise what went wrong, in words for the person who started the incident."""
    if client is None:
        return None
    try:
        client.bookmarks_add(channel_id=channel_id, title=title, type="link", link=link)
        return None
    except (SlackApiError, SlackClientError, OSError) as error:
        return f"I couldn't bookmark the incident's web page in this channel ({describe_failure(error)})."


def is_member(client: WebClient, channel_id: str, user_id: str) -> bool | None:
    """Is `user_id` in the channel? None when Slack can't say (the bot isn't in a private
    channel any more, an error): the caller decides then."""
    try:
        members = channel_members(client, channel_id)
    except ChannelLookupFailed:
        return None
    return (user_id in members) if members else None
