"""Block Kit for postmortem review: the summary message and the Edit modal.

Pure functions of a drafting context (see :func:`bot.postmortem.build_context`). Slack
rejects a whole message for one oversized field (`invalid_blocks`), so every piece is
cut to Slack's limits here, with a pointer to the full draft, instead of at Slack.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from bot.slack.blocks import drafts, followups, submitted_field

# Slack's published limits (api.slack.com/reference/block-kit).
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_TEXT = 3000
MAX_BUTTON_TEXT = 75
MAX_FALLBACK_TEXT = 3000
MAX_MODAL_TITLE = 24
MAX_INPUT_LENGTH = 3000

# Action and callback ids the review listeners route on.
REGENERATE = "postmortem_regenerate"
EDIT = "postmortem_edit"
MARK_REVIEWED = "postmortem_mark_reviewed"
MARK_FINAL = "postmortem_mark_final"
EDIT_MODAL = "postmortem_edit_modal"

_STATUS_LABELS = {"draft": "Draft", "in_review": "In review", "final": "Final"}
_STATUS_ICONS = {"draft": ":memo:", "in_review": ":eyes:", "final": ":white_check_mark:"}
_MD_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
# A Markdown link as markup.py writes it, after the escapes are undone: [label](http…).
_MD_LINK = re.compile(r"\[([^\[\]\n]+)\]\((https?://[^\s()<>]+)\)")

#: The Edit modal's fields: (field, label, hint).
EDIT_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("summary", "Summary", "Two or three plain sentences: what users saw, for how long, why, and what fixed it."),
    ("impact", "Impact", "Who and what was affected, and how much: counts, percentages, SLO burn, tickets."),
    ("root_cause", "Root cause", "The technical mechanism and why the system allowed it. Conditions, not people."),
    ("contributing_factors", "Contributing factors", "What made it more likely, worse or slower to fix: one per line."),
    ("lessons", "Lessons learned", "Two to five takeaways, each tied to an action item or a practice to keep."),
)


@dataclass(frozen=True)
class DraftPointer:
    """Where the full draft lives, for the "see the full draft" pointers."""

    version: int
    template: str
    status: str
    filename: str
    canvas_id: str | None = None


def plain(markdown: str) -> str:
    """Undo the document's Markdown escapes (for plain_text fields)."""
    return _MD_ESCAPE.sub(r"\1", markdown)


def slack_text(markdown: str) -> str:
    """Context strings are Markdown-escaped for the document; Slack mrkdwn wants them plain
    with only &, < and > escaped (which also keeps user text from forming mentions)."""
    text = plain(markdown).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # Links stay clickable in Slack; a | would end the label early, so it becomes a look-alike.
    return _MD_LINK.sub(lambda m: f"<{m.group(2)}|{m.group(1).replace('|', '¦')}>", text)


def cut(text: str, limit: int, pointer: str = "…") -> str:
    """*text* if it fits in *limit* characters, else its start followed by *pointer*."""
    if len(text) <= limit:
        return text
    return (text[: max(limit - len(pointer), 0)].rstrip() + pointer)[:limit]


def _lines_within(lines: Sequence[str], limit: int, more: str) -> str:
    """Join whole lines up to *limit*; the rest becomes "…and N more <more>"."""
    out: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        remaining = len(lines) - index
        tail = f"…and {remaining} more {more}"
        cost = len(line) + (1 if out else 0)
        reserve = 0 if remaining == 1 else len(tail) + 1
        if used + cost + reserve > limit:
            if not out:  # one line alone is too long: cut inside it
                return cut(line, limit - len(tail) - 1, "…") + "\n" + tail
            out.append(tail)
            return "\n".join(out)
        out.append(line)
        used += cost
    return "\n".join(out)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": cut(text, MAX_SECTION_TEXT)}}


def _button(text: str, action_id: str, value: str, style: str | None = None, confirm: dict[str, Any] | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text[:MAX_BUTTON_TEXT], "emoji": True},
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    if confirm:
        button["confirm"] = confirm
    return button


def _where(pointer: DraftPointer) -> str:
    places = [f"`{pointer.filename}`"]
    if pointer.canvas_id:
        places.insert(0, "the channel canvas")
    return " and ".join(places)


def summary_blocks(context: dict[str, Any], findings: Sequence[str], pointer: DraftPointer, *, incident_id: int) -> list[dict[str, Any]]:
    """The summary message posted with each draft: status, key numbers, key events, the
    blameless review and the review buttons. Always within Slack's limits."""
    incident = context["incident"]
    review = context["review"]
    status = pointer.status if pointer.status in _STATUS_LABELS else "draft"
    see_full = f"see the full draft in {_where(pointer)}"

    header_text = cut(f"Postmortem: {plain(incident['title'])}", MAX_HEADER_TEXT)
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": header_text, "emoji": True}}]

    facts = (
        f"{_STATUS_ICONS[status]} *{_STATUS_LABELS[status]}* · version {pointer.version} · template `{pointer.template}` · "
        f"{slack_text(incident['ref'])} ({incident['status_label']}) · severity {slack_text(incident['severity_label'])} · "
        f"drafted {context['generated_at_utc']}"
    )
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": cut(facts, MAX_CONTEXT_TEXT)}]})

    summary = review.get("summary")
    if summary:
        blocks.append(_section(cut("*Summary*\n" + slack_text(summary), MAX_SECTION_TEXT, f"… ({see_full})")))
    else:
        blocks.append(_section("*Summary*\n_Not written yet: press *Edit* to add the summary, impact, root cause, contributing factors and lessons._"))

    metrics = "\n".join(f"*{row['title']}:* {row['human']}" for row in context["metric_rows"])
    blocks.append(_section("*Key times*\n" + metrics))

    events = [
        f"`{e['utc']}` {e['icon']} *{slack_text(e['label'])}*"
        + (f" — {slack_text(e['author'])}" if e["author"] and e["author"] != "—" else "")
        + (f": {slack_text(e['text'])}" if e["text"] else "")
        for e in context["key_events"]
    ]
    if events:
        blocks.append(_section(_lines_within(["*Timeline of key events* (UTC)", *events], MAX_SECTION_TEXT, f"events: {see_full}")))
    else:
        blocks.append(_section("*Timeline of key events*\n_None recorded yet. Pin or :pushpin: important messages to mark them._"))

    counts = context["action_counts"]
    blocks.append(_section(
        f"*Action items:* {counts['total']} ({counts['open']} open, {counts['done']} done) · "
        f"*Messages captured:* {context['message_count']:,} · *Participants:* {len(context['participants'])}"
    ))

    blocks.append({"type": "divider"})
    if findings:
        quotes = [f"> {slack_text(' '.join(sentence.split()))}" for sentence in findings]
        intro = (
            f":warning: *Blameless review:* {len(findings)} sentence{'s' if len(findings) != 1 else ''} "
            "may blame people. Rephrase them around what the system and process allowed:"
        )
        blocks.append(_section(_lines_within([intro, *[cut(q, 500) for q in quotes]], MAX_SECTION_TEXT, f"sentences: {see_full}")))
    else:
        blocks.append(_section(":white_check_mark: *Blameless review:* no sentence in this draft blames a person."))

    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": cut(f":page_facing_up: Full draft: {_where(pointer)}.", MAX_CONTEXT_TEXT)}]})

    value = str(incident_id)
    buttons = [_button("Regenerate", REGENERATE, value), _button("Edit", EDIT, value)]
    if status == "draft":
        buttons.append(_button("Mark reviewed", MARK_REVIEWED, value, style="primary"))
    if status != "final":
        buttons.append(_button("Mark final", MARK_FINAL, value, confirm={
            "title": {"type": "plain_text", "text": "Mark final?"},
            "text": {"type": "mrkdwn", "text": "A final postmortem can no longer be edited."},
            "confirm": {"type": "plain_text", "text": "Mark final"},
            "deny": {"type": "plain_text", "text": "Not yet"},
        }))
    # Reviewers find missing follow-ups while reading; let them add one without leaving the draft.
    buttons.append(followups.add_button(incident_id))
    blocks.append({"type": "actions", "block_id": "postmortem_review", "elements": buttons})
    return blocks[:MAX_BLOCKS]


def summary_fallback_text(context: dict[str, Any], pointer: DraftPointer) -> str:
    """The notification text (and what screen readers announce)."""
    status = _STATUS_LABELS.get(pointer.status, "Draft")
    text = f"Postmortem {status.lower()} v{pointer.version} for {slack_text(context['incident']['ref'])}: {slack_text(context['incident']['title'])}"
    return cut(text, MAX_FALLBACK_TEXT)


def compact_summary_blocks(context: dict[str, Any], pointer: DraftPointer, *, incident_id: int) -> list[dict[str, Any]]:
    """A minimal message for when Slack refuses the full one: status, pointer, buttons."""
    full = summary_blocks(context, [], pointer, incident_id=incident_id)
    return [full[0], full[1], _section(f"The summary didn't fit in a Slack message; see the full draft in {_where(pointer)}."), full[-1]]


def _input(field: str, label: str, hint: str, initial: str | None) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": field, "multiline": True, "max_length": MAX_INPUT_LENGTH}
    if initial:
        element["initial_value"] = initial[:MAX_INPUT_LENGTH]
    return {"type": "input", "block_id": field, "optional": True, "label": {"type": "plain_text", "text": label},
            "hint": {"type": "plain_text", "text": hint}, "element": element}


#: The Edit modal's fields an AI draft may fill, while still empty (bot.slack.drafts).
DRAFTED_FIELDS: tuple[str, ...] = ("summary", "impact", "contributing_factors")


def edit_modal(*, incident_id: int, ref: str, saved: dict[str, str | None], drafting: Collection[str] = ()) -> dict[str, Any]:
    """The Edit modal, prefilled with what was saved before. `drafting`: the (empty) fields
    AI drafts will be put into once ready (bot.slack.blocks.drafts says how)."""
    fields = [_input(field, label, hint, saved.get(field)) for field, label, hint in EDIT_FIELDS]
    blocks: list[dict[str, Any]] = [
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "What you write here replaces the matching prompts in the draft "
                                          "and is kept when the draft is regenerated. Leave a field empty to keep its prompt."}]},
    ]
    if drafting:
        labels = [label for field, label, _ in EDIT_FIELDS if field in drafting]
        named = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
        blocks.append(drafts.pending_note(
            f":sparkles: Drafting {named} from the timeline… The drafts appear in a few seconds, unless you start typing "
            "in one of those fields first: what you type is never replaced. Nothing is saved until you press *Save*."))
        fields = [drafts.watch_typing(block) if block["block_id"] in drafting else block for block in fields]
    return {
        "type": "modal",
        "callback_id": EDIT_MODAL,
        "private_metadata": str(incident_id),
        "title": {"type": "plain_text", "text": cut(f"Postmortem {ref}", MAX_MODAL_TITLE)},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks + fields,
    }


def submitted_fields(view: dict[str, Any]) -> dict[str, str | None]:
    """Read the Edit modal's values from a view_submission payload's view (a field's own
    input, or the draft put into it)."""
    return {field: submitted_field(view, field).get("value") for field, _, _ in EDIT_FIELDS}
