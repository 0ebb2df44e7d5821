"""Read a standard Slack workspace export into postmortem facts (for `scribe draft`).

The export layout: `users.json`, `channels.json` (and `groups.json` for private
channels), and one folder per channel with a `<YYYY-MM-DD>.json` list of messages per
day. Reading only; nothing is stored. Messages become :class:`EntryFact`s the same way
live capture records them: joins and other housekeeping are left out, bots keep
their posts, pinned or 📌-reacted messages are key events.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.postmortem.facts import EntryFact, FileRef, IncidentFacts, LinkRef
from bot.slack.message_text import links_of, readable_text
from bot.slack.payloads import author_name_of
from bot.timeparse import slack_ts_to_datetime

# Channel housekeeping that is not part of what happened.
_SKIPPED_SUBTYPES = {
    "channel_join", "channel_leave", "group_join", "group_leave", "bot_add", "bot_remove",
    "channel_topic", "channel_purpose", "channel_name", "group_topic", "group_purpose", "group_name",
    "channel_archive", "channel_unarchive", "pinned_item", "unpinned_item", "message_deleted",
    "tombstone", "joiner_notification", "reminder_add",
}
_DAY_FILE = re.compile(r"^\d{4}-\d{2}-\d{2}\.json$")


class ExportError(Exception):
    """The export can't be read as asked; the message says what to fix."""


@dataclass(frozen=True)
class ExportDraftInput:
    incident: IncidentFacts
    entries: list[EntryFact]
    names: dict[str, str]


def _read_json(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise ExportError(f"{path} is missing; is this the folder of an unzipped Slack export?") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ExportError(f"{path} can't be read as JSON ({error}).") from None


def _channels(root: Path) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for name in ("channels.json", "groups.json"):
        if (root / name).is_file():
            listed = _read_json(root / name)
            if not isinstance(listed, list):
                raise ExportError(f"{root / name} should hold a list of channels.")
            found.extend(c for c in listed if isinstance(c, dict) and c.get("name"))
    if not found and not (root / "channels.json").exists():
        raise ExportError(f"{root / 'channels.json'} is missing; is this the folder of an unzipped Slack export?")
    return found


def _names(root: Path) -> dict[str, str]:
    users = _read_json(root / "users.json") if (root / "users.json").is_file() else []
    names: dict[str, str] = {}
    for user in users if isinstance(users, list) else []:
        if not isinstance(user, dict) or not user.get("id"):
            continue
        profile = user.get("profile") or {}
        name = profile.get("display_name") or user.get("real_name") or profile.get("real_name") or user.get("name")
        if name:
            names[user["id"]] = name
    return names


def _message_text(message: dict[str, Any]) -> str:
    if message.get("subtype") == "file_comment" and isinstance(message.get("comment"), dict):
        return str(message["comment"].get("comment") or "")
    # The same rule as live capture: text, then attachments (integrations), then blocks.
    return readable_text(message)


def _links(message: dict[str, Any]) -> tuple[LinkRef, ...]:
    return tuple(LinkRef(url=link["url"], title=link.get("title"), image_url=link.get("image_url")) for link in links_of(message))


def _author(message: dict[str, Any], names: dict[str, str]) -> str | None:
    if message.get("subtype") == "file_comment" and isinstance(message.get("comment"), dict):
        return message["comment"].get("user")
    if message.get("user"):
        return str(message["user"])
    bot_id = message.get("bot_id")
    if bot_id:
        # Bots aren't in users.json; the name they posted under is the best label.
        names.setdefault(bot_id, str(message.get("username") or (message.get("bot_profile") or {}).get("name") or f"bot {bot_id}"))
        return str(bot_id)
    return None


def _files(message: dict[str, Any]) -> tuple[FileRef, ...]:
    files = list(message.get("files") or [])
    if isinstance(message.get("file"), dict):
        files.append(message["file"])
    return tuple(
        FileRef(name=str(f.get("title") or f.get("name") or "file"), permalink=f.get("permalink"))
        for f in files
        if isinstance(f, dict)
    )


def _is_key(message: dict[str, Any], key_reaction: str) -> bool:
    if message.get("pinned_to"):
        return True
    return any(isinstance(r, dict) and r.get("name") == key_reaction and r.get("users") for r in message.get("reactions") or [])


def read_export(
    root: Path, channel: str, *, start: datetime | None = None, end: datetime | None = None, key_reaction: str = "pushpin"
) -> ExportDraftInput:
    """The facts of one channel of an export, optionally between *start* and *end* (UTC)."""
    root = Path(root)
    if not root.is_dir():
        raise ExportError(f"{root} is not a folder. Unzip the Slack export and pass the folder it made.")
    if start is not None and end is not None and end < start:
        raise ExportError("--to is before --from; swap them.")
    wanted = channel.removeprefix("#")
    channels = _channels(root)
    found = next((c for c in channels if c.get("name") == wanted or c.get("id") == wanted), None)
    if found is None:
        listing = ", ".join(sorted(str(c["name"]) for c in channels)) or "(none)"
        raise ExportError(f"There is no channel called {channel!r} in this export. Channels: {listing}.")
    folder = root / str(found["name"])
    if not folder.is_dir():
        raise ExportError(f"{folder} is missing: the export lists #{found['name']} but has no messages for it.")

    names = _names(root)
    entries: list[EntryFact] = []
    for day_file in sorted(p for p in folder.iterdir() if _DAY_FILE.match(p.name)):
        messages = _read_json(day_file)
        if not isinstance(messages, list):
            raise ExportError(f"{day_file} should hold a list of messages.")
        for message in messages:
            if not isinstance(message, dict) or message.get("type", "message") != "message" or not message.get("ts"):
                continue
            if message.get("subtype") in _SKIPPED_SUBTYPES:
                continue
            at = slack_ts_to_datetime(str(message["ts"]))
            if (start is not None and at < start) or (end is not None and at > end):
                continue
            text = _message_text(message)
            files = _files(message)
            links = _links(message)
            if not text and not files and not links:
                continue
            entries.append(
                EntryFact(
                    at=at,
                    kind="message",
                    text=text,
                    author=_author(message, names),
                    source="backfill",
                    key=_is_key(message, key_reaction),
                    ts=str(message["ts"]),
                    thread_ts=message.get("thread_ts"),
                    files=files,
                    edited=bool(message.get("edited")),
                    author_name=author_name_of(message),
                    links=links,
                )
            )
    entries.sort(key=lambda e: e.at)
    if not entries:
        window = "" if start is None and end is None else " in that time window"
        raise ExportError(f"#{found['name']} has no messages{window}, so there is nothing to draft.")

    purpose = ((found.get("purpose") or {}).get("value") or "").strip()
    incident = IncidentFacts(
        id=0,
        ref=f"#{found['name']}",
        title=purpose or f"Incident in #{found['name']}",
        severity=None,
        status="closed",
        channel_id=str(found.get("id") or found["name"]),
        channel_name=str(found["name"]),
        declared_at=entries[0].at,
        started_at=None,
        detected_at=None,
        mitigated_at=None,
        resolved_at=None,
        closed_at=entries[-1].at,
        created_by=found.get("creator"),
    )
    return ExportDraftInput(incident=incident, entries=entries, names=names)
