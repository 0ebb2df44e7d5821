"""Pure Block Kit builders for curating the timeline: the `/incident timeline` list with a
menu per entry, the Edit form, the Delete confirmation, and the "Add to timeline" form.

Forms carry what they are about in `private_metadata` as JSON: the entry id and the
version it showed (`{"e": 12, "v": 3}`), so a save on a stale version can be refused; the
Edit form also the time as it showed it (`"t"`), so a time left as shown keeps the exact
stored one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from bot.markup import neutralize_mentions
from bot.services.curation import MARK_KINDS, MARK_LABELS, TEXT_LIMIT

ENTRY_MENU = "timeline_entry_menu"  # the overflow menu's action_id
EDIT_VIEW = "timeline_edit_entry"
DELETE_VIEW = "timeline_delete_entry"
MARK_VIEW = "add_to_timeline_form"
SHORTCUT = "add_to_timeline"  # the message shortcut's callback_id (manifest.yml)
MAX_MESSAGE_BLOCKS = 50
SECTION_LIMIT = 3000

Blocks = list[dict[str, Any]]


@dataclass(frozen=True)
class EntryLine:
    """One timeline entry as the list shows it; plain data so the builder stays pure."""

    id: int
    version: int
    at: datetime
    label: str
    author: str | None
    text: str
    key: bool
    hidden: bool
    deletable: bool
    corrected_by: str | None


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _option(text: str, value: str) -> dict[str, Any]:
    return {"text": _plain(text), "value": value}


def entry_menu(line: EntryLine) -> dict[str, Any]:
    options = [_option("Edit", f"edit:{line.id}:{line.version}")]
    options.append(_option("Show again", f"show:{line.id}") if line.hidden else _option("Hide from the postmortem", f"hide:{line.id}"))
    if line.deletable:
        options.append(_option("Delete", f"delete:{line.id}:{line.version}"))
    return {"type": "overflow", "action_id": ENTRY_MENU, "options": options}


def parse_menu_value(value: str) -> tuple[str, int, int | None] | None:
    """("edit", 12, 3) from "edit:12:3"; None for anything else."""
    parts = value.split(":")
    if len(parts) not in (2, 3) or parts[0] not in ("edit", "hide", "show", "delete") or not parts[1].isdigit():
        return None
    version = int(parts[2]) if len(parts) == 3 and parts[2].isdigit() else None
    return parts[0], int(parts[1]), version


def _line_text(line: EntryLine) -> str:
    who = f"<@{line.author}>" if line.author else "unknown"
    text = neutralize_mentions(line.text.replace("\n", " "))
    if len(text) > 600:
        text = text[:599] + "…"
    marks = (" :pushpin:" if line.key else "") + (" _(hidden from the postmortem)_" if line.hidden else "")
    edited = f" _(edited by <@{line.corrected_by}>)_" if line.corrected_by else ""
    return f"`{line.at:%m-%d %H:%M:%S}` *{line.label}*{marks} — {who}: {text}{edited}"


def timeline_message(ref: str, lines: list[EntryLine], command: str) -> tuple[str, Blocks]:
    """`/incident timeline`: each entry with its menu, within Slack's 50 blocks a message."""
    if not lines:
        text = f"{ref} has no timeline entries yet."
        return text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    header = f"*{ref} — last {len(lines)} timeline entries* (UTC)"
    hint = "Use ⋮ on an entry to edit it, hide it from the postmortem or delete it."
    blocks: Blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": f"{header}. {hint}"}}]
    room = MAX_MESSAGE_BLOCKS - 2
    shown = lines[-room:]
    if len(shown) < len(lines):
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": (
            f"The {len(lines) - len(shown)} older entries are left out here (Slack shows 50 blocks a message); "
            f"ask for fewer with `{command} timeline {room}`.")}]})
    for line in shown:
        blocks.append({"type": "section", "block_id": f"entry:{line.id}", "text": {"type": "mrkdwn", "text": _line_text(line)[:SECTION_LIMIT]},
                       "accessory": entry_menu(line)})
    fallback = "\n".join([header] + [f"• {_line_text(line)}" for line in lines])
    return fallback[:40000], blocks


def local_time_text(at: datetime, zone: tzinfo) -> str:
    """An entry's time as the Edit form shows it: parseable back by bot.timeparse."""
    local = at.astimezone(zone)
    name = getattr(zone, "key", None) or "UTC"
    seconds = f":{local:%S}" if local.second or local.microsecond else ""
    return f"{local:%Y-%m-%d %H:%M}{seconds} {name}"


def metadata(entry_id: int, version: int, *, shown_at: str | None = None) -> str:
    data: dict[str, Any] = {"e": entry_id, "v": version}
    if shown_at is not None:
        data["t"] = shown_at
    return json.dumps(data, separators=(",", ":"))


def _metadata_of(view: dict[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def read_metadata(view: dict[str, Any]) -> tuple[int | None, int | None]:
    data = _metadata_of(view)
    entry, version = data.get("e"), data.get("v")
    return (entry if isinstance(entry, int) else None), (version if isinstance(version, int) else None)


def shown_time(view: dict[str, Any]) -> str | None:
    """The time as the Edit form showed it (None for a form from before forms carried it)."""
    shown = _metadata_of(view).get("t")
    return shown if isinstance(shown, str) else None


def edit_modal(*, entry_id: int, version: int, label: str, author: str | None, text: str, at: datetime, zone: tzinfo,
               time_editable: bool, text_optional: bool) -> dict[str, Any]:
    who = f"<@{author}>" if author else "unknown"
    blocks: Blocks = [
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"*{label}* by {who} at {local_time_text(at, zone)}"}]},
        {"type": "input", "block_id": "text", "optional": text_optional, "label": _plain("Text"),
         "element": {"type": "plain_text_input", "action_id": "text", "multiline": True, "max_length": TEXT_LIMIT,
                     **({"initial_value": text[:TEXT_LIMIT]} if text else {})}},
    ]
    shown_at = local_time_text(at, zone) if time_editable else None
    if shown_at is not None:
        blocks.append({"type": "input", "block_id": "at", "label": _plain("When"),
                       "hint": _plain("Any time `at <time>` takes: 14:23, 14:23 UTC, 2026-01-15 14:23 Europe/Berlin, 10m ago. Without a zone: yours."),
                       "element": {"type": "plain_text_input", "action_id": "at", "initial_value": shown_at}})
    else:
        note = "A message keeps its own time in Slack; only its text can be corrected here."
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": note}]})
    return {"type": "modal", "callback_id": EDIT_VIEW, "private_metadata": metadata(entry_id, version, shown_at=shown_at),
            "title": _plain("Edit timeline entry"), "submit": _plain("Save"), "close": _plain("Cancel"), "blocks": blocks}


# Slack's limit for a section's text; the quoted entry is cut well within it.
QUOTE_LIMIT = 2800


def delete_modal(*, entry_id: int, version: int, label: str, author: str | None, text: str, at: datetime, zone: tzinfo) -> dict[str, Any]:
    """"Delete this entry?", quoting it: a delete can't be undone from Slack, so it is asked first."""
    who = f"<@{author}>" if author else "unknown"
    quoted = neutralize_mentions(text) if text else "_(no text)_"
    if len(quoted) > QUOTE_LIMIT:
        quoted = quoted[: QUOTE_LIMIT - 1] + "…"
    quote = "\n".join(f"> {line}" for line in quoted.split("\n"))
    return {
        "type": "modal", "callback_id": DELETE_VIEW, "private_metadata": metadata(entry_id, version),
        "title": _plain("Delete timeline entry?"), "submit": _plain("Delete"), "close": _plain("Cancel"),
        "blocks": [
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"*{label}* by {who} at {local_time_text(at, zone)}"}]},
            {"type": "section", "text": {"type": "mrkdwn", "text": quote}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": (
                "Its text goes from the timeline, the postmortem and the exports, with its earlier versions; "
                "that it was deleted, and by whom, stays. To keep it but leave it out of the postmortem, "
                "choose *Hide from the postmortem* instead.")}]},
        ],
    }


def notice_modal(title: str, text: str) -> dict[str, Any]:
    """What a form turns into once it is done or refused (`response_action: update`)."""
    return {"type": "modal", "title": _plain(title[:24]), "close": _plain("Close"),
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text[:SECTION_LIMIT]}}]}


def submitted_edit(view: dict[str, Any]) -> tuple[str, str | None]:
    values = (view.get("state") or {}).get("values") or {}
    text = ((values.get("text") or {}).get("text") or {}).get("value") or ""
    at_block = values.get("at")
    at = ((at_block or {}).get("at") or {}).get("value") if at_block is not None else None
    return text, (at if at_block is not None else None)


def mark_modal(*, entry_id: int, version: int, author: str | None, text: str, at: datetime, zone: tzinfo, kind: str | None) -> dict[str, Any]:
    who = f"<@{author}>" if author else "someone"
    options = [_option(MARK_LABELS[k], k) for k in MARK_KINDS]
    chosen = kind if kind in MARK_KINDS else "message"
    return {
        "type": "modal", "callback_id": MARK_VIEW, "private_metadata": metadata(entry_id, version),
        "title": _plain("Add to timeline"), "submit": _plain("Add"), "close": _plain("Cancel"),
        "blocks": [
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Message from {who} at {local_time_text(at, zone)}"}]},
            {"type": "input", "block_id": "kind", "label": _plain("What is it?"),
             "hint": _plain("A milestone sets that incident time to this message's time."),
             "element": {"type": "static_select", "action_id": "kind", "options": options,
                         "initial_option": _option(MARK_LABELS[chosen], chosen)}},
            {"type": "input", "block_id": "text", "label": _plain("Text on the timeline"),
             "element": {"type": "plain_text_input", "action_id": "text", "multiline": True, "max_length": TEXT_LIMIT,
                         **({"initial_value": text[:TEXT_LIMIT]} if text else {})}},
        ],
    }


def submitted_mark(view: dict[str, Any]) -> tuple[str | None, str]:
    values = (view.get("state") or {}).get("values") or {}
    kind = (((values.get("kind") or {}).get("kind") or {}).get("selected_option") or {}).get("value")
    text = ((values.get("text") or {}).get("text") or {}).get("value") or ""
    return kind, text
