"""Pure helpers that unpack Slack payloads into what the services take."""

from __future__ import annotations

from typing import Any

from bot.services.capture import CapturedMessage

# Subtypes that are something a person (or another tool) said. Joins, topic changes,
# "pinned an item" notices and the like are channel bookkeeping, not timeline.
RECORDABLE_SUBTYPES = {None, "thread_broadcast", "file_share", "bot_message", "me_message"}


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
    return CapturedMessage(
        channel_id=channel_id,
        ts=str(message["ts"]),
        author=message.get("user") or message.get("bot_id") or message.get("username"),
        text=message.get("text") or "",
        thread_ts=message.get("thread_ts"),
        files=files_of(message),
    )
