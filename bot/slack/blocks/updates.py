"""Pure Block Kit builders for status updates: the posted update, the update form, the nudges."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.commands import MAX_UPDATE_LENGTH, UPDATE_STATUSES
from bot.markup import neutralize_mentions
from bot.slack.blocks import drafts, submitted_field

OPEN_FORM = "status_update_open"  # a button whose value is an incident id; opens the update form
FORM_VIEW = "status_update_form"  # the form's callback_id
NEXT_CHOICES = (15, 30, 60, 120, 240)

STATUS_LABELS = {
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
}
STATUS_ICONS = {
    "investigating": ":mag:",
    "identified": ":dart:",
    "monitoring": ":eyes:",
    "resolved": ":white_check_mark:",
}

Blocks = list[dict[str, Any]]


def _hm(at: datetime) -> str:
    return at.strftime("%H:%M UTC")


def status_label(status: str | None) -> str:
    return STATUS_LABELS.get(status or "", "Update")


def entry_text(status: str | None, summary: str) -> str:
    """The timeline entry's text: the status word, then what was said."""
    return f"{status_label(status)}: {summary}" if status else summary


def update_message(
    *, ref: str, title: str, severity: str | None, status: str | None, summary: str, author: str, at: datetime, next_at: datetime | None
) -> tuple[str, Blocks]:
    """The update as everyone sees it, in the incident channel (and threaded under the announcement)."""
    icon = STATUS_ICONS.get(status or "", ":loudspeaker:")
    summary = neutralize_mentions(summary)
    sev = f" · {severity}" if severity else ""
    head = f"{icon} *{ref} status update: {status_label(status)}*{sev}"
    when = f"Posted by <@{author}> at {_hm(at)}"
    if next_at is not None:
        when += f" · next update by {_hm(next_at)}"
    text = f"{ref} status update ({status_label(status)}): {summary}"
    blocks: Blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{head}\n_{neutralize_mentions(title)}_"[:3000]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": summary[:3000]}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": when}]},
    ]
    return text, blocks


def open_form_button(incident_id: int) -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": "Post an update"}, "action_id": OPEN_FORM, "value": str(incident_id), "style": "primary"}


def nudge_message(kind: str, *, ref: str, incident_id: int, command: str, since: datetime, minutes: int | None = None) -> tuple[str, Blocks]:
    """The channel nudge for a reminder of `kind` (nudge_update | nudge_lead | nudge_idle)."""
    if kind == "nudge_update":
        text = (
            f":loudspeaker: {ref}: no status update since {_hm(since)}. Tell people where things stand: "
            f"`{command} update <what we know> [next 30m]`, or press *Post an update*."
        )
        if minutes:
            text += f" (This incident's severity asks for one every {minutes} min; `{command} snooze-updates 1h` pauses these.)"
    elif kind == "nudge_lead":
        text = f":bust_in_silhouette: {ref} has no lead yet, {minutes} min after it started. Who is running it? `{command} role lead @person`"
    else:
        text = (
            f":zzz: {ref}: nothing has happened here since {since.strftime('%Y-%m-%d %H:%M UTC')}. Still going? "
            f"`{command} resolved` or `{command} close`, or post an update."
        )
    blocks: Blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    if kind != "nudge_lead":
        blocks.append({"type": "actions", "block_id": f"status_update:{incident_id}", "elements": [open_form_button(incident_id)]})
    return text, blocks


# Under the summary while an AI draft of it is on its way (bot.slack.drafts).
DRAFTING_NOTE = (":sparkles: Drafting what changed since the last update from the timeline… It appears in the Summary in a few "
                 "seconds, unless you start typing first: what you type is never replaced.")


def update_form(incident_id: int, ref: str, *, status: str | None, next_minutes: int | None, drafting: bool = False) -> dict[str, Any]:
    """The status update form: status, summary, next update in N minutes. `drafting`: an AI
    draft of the summary follows (bot.slack.blocks.drafts says how it gets in)."""
    status_options = [{"text": {"type": "plain_text", "text": STATUS_LABELS[s]}, "value": s} for s in UPDATE_STATUSES]
    status_element: dict[str, Any] = {"type": "static_select", "action_id": "status", "options": status_options}
    if status in STATUS_LABELS:
        status_element["initial_option"] = next(o for o in status_options if o["value"] == status)
    next_element: dict[str, Any] = {
        "type": "number_input", "action_id": "next", "is_decimal_allowed": False, "min_value": "1", "max_value": "1440",
    }
    if next_minutes:
        next_element["initial_value"] = str(next_minutes)
    summary: Blocks = [{
        "type": "input", "block_id": "summary", "label": {"type": "plain_text", "text": "Summary"},
        "element": {"type": "plain_text_input", "action_id": "summary", "multiline": True, "max_length": MAX_UPDATE_LENGTH,
                    "placeholder": {"type": "plain_text", "text": "What we know, what we're doing, what people should do"}},
    }]
    if drafting:
        summary = [drafts.watch_typing(summary[0]), drafts.pending_note(DRAFTING_NOTE)]
    return {
        "type": "modal",
        "callback_id": FORM_VIEW,
        "private_metadata": str(incident_id),
        "title": {"type": "plain_text", "text": f"Update on {ref}"[:24]},
        "submit": {"type": "plain_text", "text": "Post"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "input", "block_id": "status", "label": {"type": "plain_text", "text": "Status"}, "element": status_element},
            *summary,
            {"type": "input", "block_id": "next", "optional": True, "label": {"type": "plain_text", "text": "Next update in (minutes)"},
             "hint": {"type": "plain_text", "text": "Leave empty to follow the severity's usual cadence."}, "element": next_element},
        ],
    }


def submitted_update(view: dict[str, Any]) -> tuple[int | None, str | None, str, str]:
    """(incident id, status, summary, next-update text) from a submitted `update_form`."""
    def field(block: str) -> dict[str, Any]:
        return submitted_field(view, block)

    metadata = str(view.get("private_metadata") or "")
    status = (field("status").get("selected_option") or {}).get("value")
    return (
        int(metadata) if metadata.isdigit() else None,
        status if status in STATUS_LABELS else None,
        (field("summary").get("value") or "").strip(),
        str(field("next").get("value") or "").strip(),
    )
