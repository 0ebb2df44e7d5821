"""Pure helpers that unpack Slack payloads into what the services take."""

from __future__ import annotations

import re
from typing import Any

from bot.services.capture import CapturedMessage
from bot.slack.message_text import links_of, readable_text

# Subtypes that are something a person (or another tool) said. Joins, topic changes,
# "pinned an item" notices and the like are channel bookkeeping, not timeline.
RECORDABLE_SUBTYPES = {None, "thread_broadcast", "file_share", "bot_message", "me_message"}


# NUL can't be stored in a PostgreSQL text column, and a lone UTF-16 surrogate (which a
# JSON "\ud800" escape produces) can't be encoded for either database. Either would make
# the write fail on every redelivery and lose the message, so both become U+FFFD.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# Column width for an author: user and bot ids are short; a bot's display name may not be.
AUTHOR_MAX = 32
# Column width for the name an integration posts under (`username`, `bot_profile.name`).
AUTHOR_NAME_MAX = 255


def storable(text: str) -> str:
    """The text with the characters no database can store replaced by U+FFFD."""
    return _UNSTORABLE.sub("\ufffd", text)


def is_recordable(message: dict[str, Any], *, bot_user_id: str | None, bot_id: str | None) -> bool:
    if message.get("subtype") not in RECORDABLE_SUBTYPES or message.get("hidden"):
        return False
    if not message.get("ts"):
        return False
    # Our own posts (command confirmations, drafts, reminders) are not what people said.
    if bot_id and message.get("bot_id") == bot_id:
        return False
    return not (bot_user_id and message.get("user") == bot_user_id)


def _file_ref(f: dict[str, Any]) -> dict[str, Any]:
    """A file's name, type and permalink; keys without a value are left out."""
    ref: dict[str, Any] = {"name": storable(str(f.get("name") or f.get("title") or "file")), "permalink": f.get("permalink")}
    for key in ("title", "mimetype", "filetype"):
        if isinstance(f.get(key), str) and f[key]:
            ref[key] = storable(f[key])
    return ref


def files_of(message: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    files = message.get("files")
    return tuple(_file_ref(f) for f in (files if isinstance(files, list) else []) if isinstance(f, dict) and f.get("mode") != "tombstone")


def author_name_of(message: dict[str, Any]) -> str | None:
    """The name an integration posted under; None for people (their name comes from users.info)."""
    if not message.get("bot_id") and message.get("subtype") != "bot_message":
        return None
    profile = message.get("bot_profile")
    for name in (message.get("username"), profile.get("name") if isinstance(profile, dict) else None):
        if isinstance(name, str) and name.strip():
            return storable(" ".join(name.split()))[:AUTHOR_NAME_MAX]
    return None


def is_tombstone(message: dict[str, Any]) -> bool:
    """A deleted thread parent that Slack keeps ("This message was deleted.") for its replies."""
    return message.get("subtype") == "tombstone"


def captured_message(message: dict[str, Any], *, channel_id: str) -> CapturedMessage:
    author = message.get("user") or message.get("bot_id") or message.get("username")
    thread_ts = message.get("thread_ts")
    return CapturedMessage(
        channel_id=channel_id,
        ts=str(message["ts"]),
        author=storable(str(author))[:AUTHOR_MAX] if author else None,
        text=storable(readable_text(message)),
        thread_ts=thread_ts if isinstance(thread_ts, str) else None,
        files=files_of(message),
        author_name=author_name_of(message),
        links=tuple({k: storable(v) for k, v in link.items()} for link in links_of(message)),
    )
