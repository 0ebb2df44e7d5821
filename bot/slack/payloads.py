"""Pure helpers that unpack Slack payloads into what the services take."""

from __future__ import annotations

import re
from typing import Any

from bot.services.capture import CapturedMessage

# Subtypes that are something a person (or another tool) said. Joins, topic changes,
# "pinned an item" notices and the like are channel bookkeeping, not timeline.
RECORDABLE_SUBTYPES = {None, "thread_broadcast", "file_share", "bot_message", "me_message"}


# NUL can't be stored in a PostgreSQL text column, and a lone UTF-16 surrogate (which a
# JSON "\ud800" escape produces) can't be encoded for either database. Either would make
# the write fail on every redelivery and lose the message, so both become U+FFFD.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# Column width for an author: user and bot ids are short; a bot's display name may not be.
AUTHOR_MAX = 32


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
    if bot_user_id and message.get("user") == bot_user_id:
        return False
    return True


def files_of(message: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    return tuple(
        {"name": f.get("name") or f.get("title") or "file", "permalink": f.get("permalink")}
        for f in message.get("files") or []
        if isinstance(f, dict) and f.get("mode") != "tombstone"
    )


def captured_message(message: dict[str, Any], *, channel_id: str) -> CapturedMessage:
    author = message.get("user") or message.get("bot_id") or message.get("username")
    return CapturedMessage(
        channel_id=channel_id,
        ts=str(message["ts"]),
        author=storable(str(author))[:AUTHOR_MAX] if author else None,
        text=storable(str(message.get("text") or "")),
        thread_ts=message.get("thread_ts"),
        files=files_of(message),
    )
