"""Channels: joining, creating (with Slack's name rules and retries), inviting, topics, lookups."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.slack.client import describe_failure

# Slack's answers to conversations.join for a channel the bot can't join by itself.
_PRIVATE = {"method_not_supported_for_channel_type", "channel_not_found", "is_private"}


@dataclass(frozen=True)
class Joined:
    problem: str | None  # what to tell the person (e.g. how to invite the bot), None when joined
    private: bool  # Slack said the channel is private (it can't be joined, only invited to)


def join_channel(client: WebClient | None, channel_id: str) -> Joined:
    """Join a public channel so its events arrive. Slack's refusal also says whether the
    channel is private, which the incident keeps (who may see it elsewhere depends on it)."""
    if client is None:
        return Joined(None, False)
    try:
        client.conversations_join(channel=channel_id)
        return Joined(None, False)
    except SlackApiError as error:
        if error.response.get("error") in _PRIVATE:
            return Joined("This is a private channel, so I can't join it myself: type `/invite @Incident Scribe` here so I can record it.", True)
        problem = f"I couldn't join this channel ({describe_failure(error)}): type `/invite @Incident Scribe` so I can record it."
    except (SlackClientError, OSError) as error:
        problem = f"I couldn't join this channel ({describe_failure(error)}): type `/invite @Incident Scribe` so I can record it."
    # Joining failed for another reason: ask, and count it private when Slack can't say.
    return Joined(problem, is_private_channel(client, channel_id))


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
# -- creating a channel for a declared incident -------------------------------------------------

_BAD_NAME = {"invalid_name", "invalid_name_specials", "invalid_name_maxlength", "invalid_name_required", "invalid_name_punctuation"}


@dataclass(frozen=True)
class CreatedChannel:
    id: str
    name: str
    # True when Slack's answer to our create was lost (a 5xx after it was done) and the
    # retry's name_taken led back to the channel we had made.
    recovered: bool = False


class ChannelRefused(Exception):
    """Slack would not create the channel; the message says why and what to do."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def find_channel_by_name(client: WebClient, name: str) -> dict[str, Any] | None:
    """The channel called `name` that the bot can see (public ones, private ones it is in)."""
    cursor = None
    while True:
        page = client.conversations_list(types="public_channel,private_channel", exclude_archived=True, limit=200, cursor=cursor)
        for channel in page.get("channels") or []:
            if channel.get("name") == name:
                return dict(channel)
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return None


def _refusal(code: str, *, private: bool, name: str) -> ChannelRefused:
    kind = "private" if private else "public"
    scope = "groups:write" if private else "channels:manage"
    if code == "restricted_action":
        return ChannelRefused(code, "This workspace doesn't let apps create channels (Slack answered `restricted_action`). "
                              "Ask a Slack admin to allow it, or create a channel yourself and type `/incident start <title>` in it.")
    if code == "missing_scope":
        return ChannelRefused(code, f"I'm not allowed to create {kind} channels: the app lacks the `{scope}` scope. Ask whoever manages "
                              "the Slack app to add it (it is in manifest.yml) and reinstall, or create a channel yourself and type "
                              "`/incident start <title>` in it.")
    if code in _BAD_NAME:
        return ChannelRefused(code, f"Slack refused the channel name `#{name}` (`{code}`). Try a title with plain letters and digits, "
                              "or ask whoever runs Incident Scribe to check SCRIBE_CHANNEL_PATTERN.")
    return ChannelRefused(code, f"Slack didn't create the channel (Slack said `{code}`).")


class ChannelUnavailable(Exception):
    """Slack couldn't be asked right now (down, rate-limited, timed out): try again later."""


def create_channel(client: WebClient, name: str, *, private: bool, is_ours: Callable[[dict[str, Any]], bool],
                   next_name: Callable[[str], str | None]) -> CreatedChannel:
    """Create `name`, or whatever `next_name` gives when a name is taken (None: no names left).
    The client retries 429s and 5xx; when a retry answers name_taken because the first try
    did create it, `is_ours` recognises the channel (made by the bot for this declaration)
    and it is used instead of making a twin. Raises ChannelRefused for an answer that won't
    change, ChannelUnavailable for one that may."""
    candidate: str | None = name
    first = name
    while candidate is not None:
        try:
            channel = client.conversations_create(name=candidate, is_private=private)["channel"]
            return CreatedChannel(channel["id"], channel["name"])
        except SlackApiError as error:
            code = str(error.response.get("error") or "")
            status = getattr(error.response, "status_code", 200)
            if code == "name_taken" or status == 429 or status >= 500:
                found = _ours_named(client, candidate, is_ours)
                if found is not None:
                    return found
                if code == "name_taken":
                    candidate = next_name(candidate)
                    continue
                raise ChannelUnavailable(describe_failure(error)) from None
            raise _refusal(code, private=private, name=candidate) from None
        except (SlackClientError, OSError) as error:
            found = _ours_named(client, candidate, is_ours)
            if found is not None:
                return found
            raise ChannelUnavailable(describe_failure(error)) from None
    raise ChannelRefused("name_taken", f"`#{first}` and the names after it (-2, -3…) are all taken. "
                         "Declare it with a more specific title.")


def _ours_named(client: WebClient, name: str, is_ours: Callable[[dict[str, Any]], bool]) -> CreatedChannel | None:
    try:
        found = find_channel_by_name(client, name)
    except (SlackApiError, SlackClientError, OSError):
        return None
    if found is not None and is_ours(found):
        return CreatedChannel(found["id"], found["name"], recovered=True)
    return None


# Slack's answers to conversations.invite for one person, in words for the declarer.
_INVITE_REFUSALS = {
    "user_is_restricted": "is a guest account, and Slack doesn't let apps invite guests; a workspace admin can add them",
    "user_is_ultra_restricted": "is a single-channel guest, and Slack doesn't let apps invite guests; a workspace admin can add them",
    "user_disabled": "has a deactivated account, so they weren't invited",
    "user_is_deactivated": "has a deactivated account, so they weren't invited",
    "user_not_found": "isn't a member of this workspace, so they weren't invited",
    "ura_max_channels": "is a guest already in as many channels as Slack allows",
}


@dataclass(frozen=True)
class InviteRefused:
    user_id: str
    message: str  # for the declarer, naming the person


def invite_people(client: WebClient, channel_id: str, user_ids: list[str], *, bot_user_id: str | None) -> list[InviteRefused]:
    """Invite each person (one call each, so one refusal can't keep the others out).
    Returns those who couldn't be invited, with what to tell the declarer."""
    refused: list[InviteRefused] = []
    for user_id in user_ids:
        if user_id == bot_user_id:
            continue  # the bot made the channel, so it is in it already
        try:
            client.conversations_invite(channel=channel_id, users=user_id)
        except SlackApiError as error:
            code = str(error.response.get("error") or "")
            if code in ("already_in_channel", "cant_invite_self"):
                continue
            reason = _INVITE_REFUSALS.get(code)
            if reason is None:
                reason = f"wasn't invited ({describe_failure(error)}); add them with `/invite` in <#{channel_id}>"
            refused.append(InviteRefused(user_id, f"<@{user_id}> {reason}."))
        except (SlackClientError, OSError) as error:
            refused.append(InviteRefused(user_id, f"<@{user_id}> wasn't invited ({describe_failure(error)}); add them with `/invite` in <#{channel_id}>."))
    return refused


def invite_one(client: WebClient, channel_id: str, user_id: str) -> str:
    """The Join button: "joined", "already", or what to tell the person."""
    try:
        client.conversations_invite(channel=channel_id, users=user_id)
        return "joined"
    except SlackApiError as error:
        code = str(error.response.get("error") or "")
        if code == "already_in_channel":
            return "already"
        if code in _INVITE_REFUSALS:
            return f"I couldn't add you: your account {_INVITE_REFUSALS[code].replace('they', 'you').replace('them', 'you')}."
        return f"I couldn't add you to <#{channel_id}> ({describe_failure(error)}); open the channel and press Join there."
    except (SlackClientError, OSError) as error:
        return f"I couldn't add you to <#{channel_id}> ({describe_failure(error)}); try again in a moment."


def set_topic(client: WebClient, channel_id: str, topic: str) -> str | None:
    """None when set; otherwise what to tell the person."""
    try:
        client.conversations_setTopic(channel=channel_id, topic=topic[:250])
        return None
    except (SlackApiError, SlackClientError, OSError) as error:
        return f"The channel topic wasn't set ({describe_failure(error)})."


def channel_id_for(client: WebClient, ref: str) -> str | None:
    """A configured channel (id, "#name" or "name") as an id; None if no such channel is visible."""
    bare = ref.lstrip("#")
    if ref[:1] in ("C", "G") and bare.isupper() and bare.isalnum():
        return ref
    found = find_channel_by_name(client, bare)
    return str(found["id"]) if found else None


def join_public(client: WebClient, channel_id: str) -> bool:
    try:
        client.conversations_join(channel=channel_id)
        return True
    except (SlackApiError, SlackClientError, OSError):
        return False


def is_private_channel(client: WebClient, channel_id: str) -> bool:
    """Whether a channel is private; unknown counts as private, so nothing leaks."""
    try:
        return channel_is_private(client, channel_id)
    except (ChannelLookupFailed, KeyError):
        return True
