"""Pure Block Kit builders for follow-ups: reminder DMs, their edited forms, digests, lists.

Buttons carry the item id as their value; the Reassign picker can't carry a value, so
every actions block has the block_id `followup:<item id>` and listeners read it from there.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from bot.markup import neutralize_mentions
from bot.services.actions import STATUS_LABELS, TRACKER_WORDS, ItemView, TicketView
from bot.slack.blocks import submitted_field

DONE = "followup_done"
WONTFIX = "followup_wontfix"
SNOOZE_DAY = "followup_snooze_1d"
SNOOZE_WEEK = "followup_snooze_1w"
REASSIGN = "followup_reassign"
ADD = "followup_add"  # a button whose value is an incident id; opens the "new action item" modal
ADD_VIEW = "followup_add_item"  # that modal's callback_id
SNOOZE_DAYS = {SNOOZE_DAY: 1, SNOOZE_WEEK: 7}
BLOCK_PREFIX = "followup:"
# *Create in <tracker>*: one action id per tracker ("ticket_create:jira"), the item id as value.
CREATE_TICKET = "ticket_create:"

LEADS = {
    "before_due": ":alarm_clock: Your action item is due soon",
    "due": ":alarm_clock: Your action item is due today",
    "overdue": ":rotating_light: Your action item is overdue",
    "snoozed": ":alarm_clock: Snooze is over: your action item is still open",
}

Blocks = list[dict[str, Any]]


def block_id(item_id: int) -> str:
    return f"{BLOCK_PREFIX}{item_id}"


def item_id_from_block(block: str) -> int | None:
    if not block.startswith(BLOCK_PREFIX):
        return None
    rest = block[len(BLOCK_PREFIX):]
    return int(rest) if rest.isdigit() else None


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _button(label: str, action_id: str, item_id: int, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {"type": "button", "text": {"type": "plain_text", "text": label}, "action_id": action_id, "value": str(item_id)}
    if style:
        button["style"] = style
    return button


def _mrkdwn(text: str) -> str:
    """A tracker's words inside Slack markup: its control characters escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def ticket_phrase(ticket: TicketView | None) -> str | None:
    """The item's ticket in a few words: `Jira <url|OPS-12> (Shipped)`, `Jira ticket on its way`."""
    if ticket is None:
        return None
    if ticket.state == "creating":
        return f"{ticket.label} ticket on its way"
    if ticket.state == "failed" or not ticket.key:
        return f"{ticket.label} ticket not created"
    ref = f"<{ticket.url}|{_mrkdwn(ticket.key)}>" if ticket.url else _mrkdwn(ticket.key)
    status = ticket.status_text
    return f"{ticket.label} {ref}" + (f" ({_mrkdwn(status)})" if status else "")


def item_line(item: ItemView) -> str:
    """One line about an item: `#12 Add pool metrics — @owner · due Tue 2026-12-01 · p1 · open`,
    then its ticket and the ticket's status when it has one (`· Jira OPS-12 (In Review)`)."""
    parts = [f"<@{item.owner_id}>"]
    parts.append(f"due {item.due_label}" if item.due_label else "no due date")
    if item.priority:
        parts.append(item.priority)
    parts.append(STATUS_LABELS.get(item.status, item.status))
    ticket = ticket_phrase(item.ticket)
    if ticket:
        parts.append(ticket)
    return f"#{item.id} {neutralize_mentions(item.text)} — {' · '.join(parts)}"


def added_line(item: ItemView) -> str:
    """The channel's confirmation of a new item, the same for the command and the modal."""
    due = f", due {item.due_label}" if item.due_label else ", no due date"
    priority = f" ({item.priority})" if item.priority else ""
    text = f":clipboard: *Action item #{item.id}*{priority} for <@{item.owner_id}>{due}: {neutralize_mentions(item.text)}"
    ticket = ticket_phrase(item.ticket)
    if ticket:
        text += f" · {ticket}"
    if item.due_label:
        text += "\nThe owner gets DM reminders as it comes due, and open items are listed here every week."
    return text


def reminder_message(kind: str, item: ItemView) -> tuple[str, Blocks]:
    """The DM to an item's owner, with Done, Snooze 1 day, Snooze 1 week and Reassign."""
    lead = LEADS.get(kind, LEADS["due"])
    text = f"{lead}: #{item.id} {neutralize_mentions(item.text)} ({item.incident_ref})"
    blocks: Blocks = [
        _section(f"{lead}.\n*{neutralize_mentions(item.text)}*"),
        _context(
            f"#{item.id} from {item.incident_ref} “{neutralize_mentions(item.incident_title)}” in <#{item.channel_id}> · "
            + (f"due {item.due_label}" if item.due_label else "no due date")
            + (f" · {item.priority}" if item.priority else "")
            + (f" · {ticket_phrase(item.ticket)}" if item.ticket else "")
        ),
        {
            "type": "actions",
            "block_id": block_id(item.id),
            "elements": [
                _button("Done", DONE, item.id, "primary"),
                _button("Snooze 1 day", SNOOZE_DAY, item.id),
                _button("Snooze 1 week", SNOOZE_WEEK, item.id),
                {"type": "users_select", "action_id": REASSIGN, "placeholder": {"type": "plain_text", "text": "Reassign"}},
            ],
        },
    ]
    return text, blocks


def settled_reminder(item: ItemView, outcome: str) -> tuple[str, Blocks]:
    """What a reminder becomes once someone acted on it: the item and what happened, no buttons."""
    text = f"#{item.id} {neutralize_mentions(item.text)}: {outcome}"
    return text, [_section(f"*{neutralize_mentions(item.text)}*"), _context(f"#{item.id} from {item.incident_ref} · {outcome}")]


def snoozed_reminder(item: ItemView, until: datetime, owner_tz: tzinfo) -> tuple[str, Blocks]:
    """A snoozed reminder keeps its buttons (Done is still one click away) and says until when."""
    text, blocks = reminder_message("snoozed", item)
    local = until.astimezone(owner_tz)
    note = f":zzz: Snoozed until {local:%a %Y-%m-%d %H:%M} ({local.tzname()})"
    return f"{text} — {note}", [blocks[0], blocks[1], _context(note), blocks[2]]


def digest_message(incident_ref: str, incident_title: str, items: list[ItemView]) -> tuple[str, Blocks]:
    text = f":clipboard: Weekly digest for {incident_ref}: {len(items)} open action item{'s' if len(items) != 1 else ''}"
    lines = "\n".join(f"• {item_line(i)}" for i in items)
    return text, [_section(f"*{text}*  “{neutralize_mentions(incident_title)}”\n{lines}")]


def review_message(incident_ref: str, incident_title: str, days: int, open_items: list[ItemView]) -> tuple[str, Blocks]:
    span = {7: "a week", 30: "a month", 91: "a quarter"}.get(days, f"{days} days")
    text = f":mag: {incident_ref} was resolved {span} ago: time to review its action items"
    if open_items:
        body = f"{len(open_items)} still open:\n" + "\n".join(f"• {item_line(i)}" for i in open_items)
    else:
        body = "All of its action items are closed. Did they work?"
    return text, [_section(f"*{text}*  “{neutralize_mentions(incident_title)}”\n{body}")]


def create_ticket_button(item_id: int, tracker: str) -> dict[str, Any]:
    """*Create in <tracker>*: makes the item's ticket now (bot.slack.listeners.tickets)."""
    return _button(f"Create in {TRACKER_WORDS.get(tracker, tracker)}", f"{CREATE_TICKET}{tracker}", item_id)


def ticket_buttons(item: ItemView, trackers: tuple[str, ...]) -> list[dict[str, Any]]:
    """The *Create in …* buttons an open item without a ticket (or whose create failed) gets."""
    if item.status != "open" or (item.ticket is not None and item.ticket.state != "failed"):
        return []
    if item.ticket is not None:
        return [create_ticket_button(item.id, item.ticket.tracker)]
    return [create_ticket_button(item.id, tracker) for tracker in trackers]


def tracker_of(action_id: str) -> str | None:
    """The tracker a *Create in …* button is for."""
    return action_id[len(CREATE_TICKET):] if action_id.startswith(CREATE_TICKET) else None


def add_button(incident_id: int) -> dict[str, Any]:
    """A button that opens the "new action item" modal; other messages (the postmortem summary) can carry it too."""
    return {"type": "button", "text": {"type": "plain_text", "text": "Add an action item"}, "action_id": ADD, "value": str(incident_id)}


def add_item_modal(incident_id: int, incident_ref: str, default_owner: str, *, ticket_field: bool = False) -> dict[str, Any]:
    """The modal behind `add_button`: the same fields as `/incident action`; with a tracker
    connected, also an optional existing ticket to link (its URL or key)."""
    modal: dict[str, Any] = {
        "type": "modal",
        "callback_id": ADD_VIEW,
        "private_metadata": str(incident_id),
        "title": {"type": "plain_text", "text": f"Action item for {incident_ref}"[:24]},
        "submit": {"type": "plain_text", "text": "Add"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "input", "block_id": "text", "label": {"type": "plain_text", "text": "What needs doing"},
             "element": {"type": "plain_text_input", "action_id": "text", "max_length": 500}},
            {"type": "input", "block_id": "owner", "label": {"type": "plain_text", "text": "Owner"},
             "element": {"type": "users_select", "action_id": "owner", "initial_user": default_owner}},
            {"type": "input", "block_id": "due", "optional": True, "label": {"type": "plain_text", "text": "Due"},
             "hint": {"type": "plain_text", "text": "2026-12-01, dec 1, friday, tomorrow, in 2 weeks, end of month; optionally a time and zone"},
             "element": {"type": "plain_text_input", "action_id": "due", "placeholder": {"type": "plain_text", "text": "friday"}}},
            {"type": "input", "block_id": "priority", "optional": True, "label": {"type": "plain_text", "text": "Priority"},
             "element": {"type": "static_select", "action_id": "priority",
                         "options": [{"text": {"type": "plain_text", "text": p}, "value": p} for p in ("p0", "p1", "p2", "p3")]}},
        ],
    }
    if ticket_field:
        modal["blocks"].append(
            {"type": "input", "block_id": "ticket", "optional": True, "label": {"type": "plain_text", "text": "Existing ticket"},
             "hint": {"type": "plain_text", "text": "Paste its link or key (OPS-12, acme/ops#12) to link it instead of making a new one"},
             "element": {"type": "plain_text_input", "action_id": "ticket", "max_length": 500}})
    return modal


def submitted_ticket(view: dict[str, Any]) -> str | None:
    """The ticket pasted into `add_item_modal`'s optional field, if any."""
    return (submitted_field(view, "ticket").get("value") or "").strip() or None


def submitted_item(view: dict[str, Any]) -> tuple[int | None, str, str | None, str | None, str | None]:
    """(incident id, text, owner, due text, priority) from a submitted `add_item_modal`."""
    def field(block: str) -> dict[str, Any]:
        return submitted_field(view, block)

    metadata = str(view.get("private_metadata") or "")
    priority = (field("priority").get("selected_option") or {}).get("value")
    return (
        int(metadata) if metadata.isdigit() else None,
        (field("text").get("value") or "").strip(),
        field("owner").get("selected_user"),
        (field("due").get("value") or "").strip() or None,
        priority if priority in ("p0", "p1", "p2", "p3") else None,
    )


def action_list(incident_id: int, incident_ref: str, items: list[ItemView], command: str,
                trackers: tuple[str, ...] = ()) -> tuple[str, Blocks]:
    """`/incident actions`: every item with its status and ticket; open ones get Done / Won't fix
    buttons, and *Create in <tracker>* (for each of `trackers`) while they have no ticket."""
    add = {"type": "actions", "block_id": f"followup_add:{incident_id}", "elements": [add_button(incident_id)]}
    if not items:
        text = f"{incident_ref} has no action items yet. Add one with `{command} action <text> [@owner] [due <date>] [p0|p1|p2|p3]`."
        return text, [_section(text), add]
    open_count = sum(1 for i in items if i.status == "open")
    text = f"*{incident_ref} action items* ({open_count} open of {len(items)})"
    blocks: Blocks = [_section(text)]
    for item in items:
        blocks.append(_section(item_line(item)))
        if item.status == "open":
            blocks.append({"type": "actions", "block_id": block_id(item.id),
                           "elements": [_button("Done", DONE, item.id, "primary"), _button("Won't fix", WONTFIX, item.id),
                                        *ticket_buttons(item, trackers)]})
    # Slack allows 50 blocks a message; the text fallback always lists everything.
    if len(blocks) > 48:
        blocks = [*blocks[:47], _context(f"…and more; {len(items)} items in all.")]
    return text + "\n" + "\n".join(f"• {item_line(i)}" for i in items), [*blocks, add]
