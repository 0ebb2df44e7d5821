"""Files: uploading (files_upload_v2) to a channel, or privately to someone's DM with the bot."""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.slack.client import describe_failure

_NOT_A_MEMBER = {"not_in_channel", "channel_not_found"}


def upload_file(client: WebClient, *, channel_id: str, content: bytes, filename: str, title: str,
                initial_comment: str | None = None) -> str | None:
    """Share one file in a channel. None when it went up; otherwise what to tell the person."""
    try:
        client.files_upload_v2(channel=channel_id, content=content, filename=filename, title=title,
                               initial_comment=initial_comment)
        return None
    except SlackApiError as error:
        if error.response.get("error") in _NOT_A_MEMBER:
            return (f"The file `{filename}` wasn't shared here: I'm not a member of this channel. "
                    "Type `/invite @Incident Scribe`, then try again.")
        return f"The file `{filename}` wasn't uploaded: {describe_failure(error)}."
    except (SlackClientError, OSError) as error:
        return f"The file `{filename}` wasn't uploaded: {describe_failure(error)}."


def upload_file_for_user(client: WebClient, *, user_id: str, content: bytes, filename: str, title: str,
                         initial_comment: str | None = None) -> str | None:
    """Upload a file only `user_id` sees: in their DM with the bot (conversations.open)."""
    try:
        dm = client.conversations_open(users=user_id)["channel"]["id"]
    except (SlackApiError, SlackClientError, OSError) as error:
        return f"The file `{filename}` wasn't sent to you: I couldn't open our DM ({describe_failure(error)})."
    return upload_file(client, channel_id=dm, content=content, filename=filename, title=title, initial_comment=initial_comment)
