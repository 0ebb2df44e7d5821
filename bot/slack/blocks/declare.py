"""Pure Block Kit for declaring incidents: the Declare modal, the new channel's welcome
message, the announcement and the closing line.

The announcement is built from one plain data object, `AnnouncementFacts`, so what it
shows can grow (e.g. the latest status update) by adding a field and a line here.
Private incidents show no title, severity or channel: only that one was declared and
whom to ask.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.markup import neutralize_mentions
from bot.services.announcements import AnnouncementFacts
from bot.timefmt import format_duration, format_utc

DECLARE_SHORTCUT = "declare_incident"  # the global shortcut's callback_id (manifest.yml)
DECLARE_BUTTON = "declare_open_modal"  # the button on each announcement
DECLARE_VIEW = "declare_incident_modal"  # the modal's callback_id
JOIN_BUTTON = "declare_join"
SEVERITIES = ("sev1", "sev2", "sev3", "sev4")
PRIVATE_OPTION = "private"
MAX_TITLE = 150
MAX_DESCRIPTION = 3000

Blocks = list[dict[str, Any]]


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:3000]}]}


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _safe(text: str) -> str:
    return neutralize_mentions(text)


# -- the modal ------------------------------------------------------------------------------


def declare_modal(*, origin_channel: str | None) -> dict[str, Any]:
    """Title, severity, description, private yes/no, people. Submitting declares."""
    severity_options = [{"text": _plain(s), "value": s} for s in SEVERITIES]
    return {
        "type": "modal",
        "callback_id": DECLARE_VIEW,
        "title": _plain("Declare an incident"),
        "submit": _plain("Declare"),
        "close": _plain("Cancel"),
        "private_metadata": json.dumps({"origin": origin_channel}),
        "blocks": [
            {"type": "input", "block_id": "title", "label": _plain("Title"),
             "element": {"type": "plain_text_input", "action_id": "title", "max_length": MAX_TITLE,
                         "placeholder": _plain("Checkout returns 502 for EU users")}},
            {"type": "input", "block_id": "severity", "optional": True, "label": _plain("Severity"),
             "element": {"type": "static_select", "action_id": "severity", "options": severity_options,
                         "placeholder": _plain("Choose one")}},
            {"type": "input", "block_id": "description", "optional": True, "label": _plain("What is happening?"),
             "element": {"type": "plain_text_input", "action_id": "description", "multiline": True, "max_length": MAX_DESCRIPTION}},
            {"type": "input", "block_id": "private", "optional": True, "label": _plain("Visibility"),
             "element": {"type": "checkboxes", "action_id": "private",
                         "options": [{"text": _plain("Private channel: only the people invited see it"), "value": PRIVATE_OPTION}]}},
            {"type": "input", "block_id": "people", "optional": True, "label": _plain("Invite"),
             "element": {"type": "multi_users_select", "action_id": "people", "placeholder": _plain("People to pull in")}},
        ],
    }


@dataclass(frozen=True)
class SubmittedDeclare:
    title: str
    severity: str | None
    description: str | None
    private: bool
    people: tuple[str, ...]
    origin_channel: str | None


def submitted_declare(view: dict[str, Any]) -> SubmittedDeclare:
    values = (view.get("state") or {}).get("values") or {}

    def field(block: str) -> dict[str, Any]:
        found = (values.get(block) or {}).get(block)
        return found if isinstance(found, dict) else {}

    title = str(field("title").get("value") or "").strip()
    severity = ((field("severity").get("selected_option") or {}).get("value")) or None
    description = str(field("description").get("value") or "").strip() or None
    private = any((o or {}).get("value") == PRIVATE_OPTION for o in field("private").get("selected_options") or [])
    people = tuple(dict.fromkeys(u for u in field("people").get("selected_users") or [] if isinstance(u, str)))
    try:
        origin = (json.loads(view.get("private_metadata") or "{}") or {}).get("origin")
    except (ValueError, AttributeError):
        origin = None
    return SubmittedDeclare(title, severity if severity in SEVERITIES else None, description, private, people, origin)


# -- the new channel's welcome ----------------------------------------------------------------


def topic(title: str, severity: str | None, lead: str | None) -> str:
    """title · severity · lead, within Slack's 250 characters for a topic."""
    tail = f" · {severity or 'severity not set'} · lead <@{lead}>" if lead else f" · {severity or 'severity not set'} · no lead yet"
    room = 250 - len(tail)
    shown = title if len(title) <= room else title[: room - 1] + "…"
    return shown + tail


def welcome_message(*, ref: str, title: str, severity: str | None, lead: str, declared_at: datetime,
                    description: str | None, private: bool, command: str, key_reaction: str,
                    web_page: str | None = None) -> tuple[str, Blocks]:
    text = f"{ref} declared: {title}"
    facts = f"*Severity:* {severity or 'not set'} · *Lead:* <@{lead}> · *Declared:* {format_utc(declared_at)}"
    if private:
        facts += " · :lock: private"
    blocks: Blocks = [
        {"type": "header", "text": _plain(f":rotating_light: {ref}: {title}"[:150])},
        _section(facts),
    ]
    if description:
        blocks.append(_section(">" + _safe(description).replace("\n", "\n>")))
    blocks += [
        _section(
            f":red_circle: *I'm recording this channel* from {format_utc(declared_at)}: every message, thread reply "
            f"and file, edits and deletes, pins and :{key_reaction}: reactions, each with its own time. "
            "Talk here, not in DMs, so the timeline and the postmortem have it."
        ),
        _section(
            "*Main commands*\n"
            f"• `{command} detected|mitigated|resolved [at <time>] [text]`: mark the key moments\n"
            f"• `{command} severity sev1..sev4`, `{command} title <new title>`, `{command} role lead|comms|scribe @person`\n"
            f"• `{command} note|finding|decision <text>`: add to the timeline\n"
            f"• `{command} close` when it's over, then `{command} postmortem`\n"
            f"• `{command} help` for everything"
        ),
    ]
    if web_page:
        blocks.append(_section(f":globe_with_meridians: Timeline, metrics and exports on the web: <{web_page}|{ref} web page> (bookmarked in this channel)."))
    return text, blocks


# -- the announcement ---------------------------------------------------------------------------


def _declare_button() -> dict[str, Any]:
    return {"type": "button", "text": _plain("Declare an incident"), "action_id": DECLARE_BUTTON, "value": "announce"}


def announcement_message(facts: AnnouncementFacts) -> tuple[str, Blocks]:
    """(fallback text, blocks) of the announcement, as it should read now."""
    if facts.private:
        ask = f"ask <@{facts.lead}>" if facts.lead else "ask the person who declared it"
        line = {"open": "A private incident was declared", "resolved": "A private incident was resolved",
                "closed": "A private incident was closed"}.get(facts.status, "A private incident was declared")
        text = f":lock: {line}; {ask}."
        return text, [_section(text), _context(f"*Status:* {facts.status_label}"),
                      {"type": "actions", "block_id": f"announce:{facts.incident_id}", "elements": [_declare_button()]}]
    text = f"{facts.ref} {facts.status}: {facts.title} ({facts.severity or 'no severity'})"
    fields = [
        f"*Severity*\n{facts.severity or 'not set'}",
        f"*Status*\n{facts.status_label}",
        f"*Lead*\n<@{facts.lead}>" if facts.lead else "*Lead*\nnobody yet",
        f"*Channel*\n<#{facts.channel_id}>",
        f"*Started*\n{format_utc(facts.started_at)}",
    ]
    if facts.update_status:
        fields.append(f"*Latest update*\n{facts.update_status.capitalize()}")
    if facts.next_update_at is not None and facts.ended_at is None:
        fields.append(f"*Next update*\nby {format_utc(facts.next_update_at)}")
    if facts.ended_at is not None:
        fields.append(f"*{'Resolved' if facts.resolved_at else 'Closed'}*\n{format_utc(facts.ended_at)} (after {format_duration(facts.duration_s)})")
    blocks: Blocks = [
        {"type": "header", "text": _plain(f"{facts.ref}: {facts.title}"[:150])},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
    ]
    if facts.postmortem_url:
        blocks.append(_section(f":memo: <{facts.postmortem_url}|Postmortem draft>"))
    elements = [] if facts.status == "closed" else [
        {"type": "button", "text": _plain("Join"), "action_id": JOIN_BUTTON, "value": str(facts.incident_id), "style": "primary"}
    ]
    elements.append(_declare_button())
    blocks.append({"type": "actions", "block_id": f"announce:{facts.incident_id}", "elements": elements})
    return text, blocks


def closing_line(facts: AnnouncementFacts, *, command: str, for_announcement: bool) -> str:
    """The line that tells everyone it's over: duration and, once drafted, the postmortem."""
    word = "resolved" if facts.resolved_at else "closed"
    if facts.private and for_announcement:
        return f":white_check_mark: The private incident was {word}."
    duration = format_duration(facts.duration_s)
    line = f":white_check_mark: *{facts.ref} was {word}* after {duration} ({format_utc(facts.started_at)} → {format_utc(facts.ended_at)})."
    if facts.postmortem_url:
        line += f" Postmortem: <{facts.postmortem_url}|the draft>."
    elif for_announcement:
        line += f" The postmortem will be linked here once it is drafted in <#{facts.channel_id}>."
    else:
        line += f" Draft the postmortem with `{command} postmortem`; it will be linked here."
    return line


def join_reply(channel_id: str, outcome: str) -> str:
    return {
        "joined": f":wave: You're in: <#{channel_id}>.",
        "already": f"You're already in <#{channel_id}>.",
    }.get(outcome, outcome)
