"""Pure Block Kit for AI drafts (issue 26, docs/ai-drafts.md): the suggestion above a
catch-up, and the forms that a draft is put into after they opened.

Every draft shown here was checked against the timeline by bot.drafting.drafts and is
rendered by bot.drafting.render; nothing here reads a model's answer.

Forms are opened at once and filled in later with views.update, and Slack keeps what a
person typed in an input only while the input keeps its block_id and action_id: it then
ignores a new initial_value, and the value submitted stays what the person saw (Slack's
views.update reference, "Preserving input entry"; bolt-python issues #572 and #1064). So:
- a draft goes into a NEW block (`<field>_draft`, same action_id), the one way to make
  Slack show its text;
- every other input keeps its ids, so whatever was chosen or typed there stays;
- while a draft is pending, the fields it may fill dispatch a block_actions payload on the
  first character typed (`dispatch_action` + `on_character_entered`); the app then updates
  the form (the pending note goes), which changes its hash, and the draft's views.update,
  made with the hash views.open returned, is refused (`hash_conflict`). Text the person
  typed is never replaced by a draft.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import tzinfo
from typing import Any

from bot.drafting import Draft, citation_numbers, render_mrkdwn
from bot.markup import neutralize_mentions
from bot.postmortem.context import KIND_LABELS
from bot.services.drafting import SourceEntry
from bot.slack.blocks import DRAFTED

Blocks = list[dict[str, Any]]

PENDING = "ai_draft_pending"  # the block_id of the "Drafting…" note while a draft is on its way
SECTION_LIMIT = 3000
CONTEXT_LIMIT = 3000
LEGEND_TEXT_CHARS = 60  # of each cited entry's text, in a form's legend
# What views.update takes of a view (a payload's view also carries id, hash, state…).
_VIEW_KEYS = ("type", "callback_id", "private_metadata", "title", "submit", "close", "blocks", "clear_on_close",
              "notify_on_close")


def _escape(text: str) -> str:
    return neutralize_mentions(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def message_link(channel_id: str, ts: str, thread_ts: str | None = None) -> str:
    """A Slack message's permalink (a reply's carries its thread)."""
    link = f"https://slack.com/archives/{channel_id}/p{ts.replace('.', '')}"
    if thread_ts and thread_ts != ts:
        link += f"?thread_ts={thread_ts}&cid={channel_id}"
    return link


def citation_link(entry: SourceEntry | None, *, channel_id: str, page: str | None) -> str | None:
    """Where a citation points: the Slack message; for a command entry, its line on the
    incident's web page when there is one (SCRIBE_PUBLIC_URL), else nowhere."""
    if entry is None:
        return None
    if entry.ts:
        return message_link(channel_id, entry.ts, entry.thread_ts)
    return f"{page}#entry-{entry.id}" if page else None


def suggested_by(model: str) -> str:
    return f"Suggested by {_escape(model)}, checked against the timeline"


def catch_up_suggestion(draft: Draft, *, model: str, link_for: Callable[[int], str | None]) -> Blocks:
    """"What is going on", above the catch-up's facts: the checked sentences, each with its
    citations linked, and who suggested it. [] if not even one sentence fits a section."""
    title = "*What is going on* _(a suggestion)_\n"
    body = render_mrkdwn(draft, link_for, max_chars=SECTION_LIMIT - len(title))
    if not body:
        return []
    return [
        {"type": "section", "block_id": "ai_draft", "text": {"type": "mrkdwn", "text": title + body}},
        {"type": "context", "block_id": "ai_draft_by", "elements": [
            {"type": "mrkdwn", "text": f":sparkles: {suggested_by(model)}: each [n] links what a sentence rests on. "
                                       "The facts below are the record."}]},
    ]


def legend(draft: Draft, shown: str, entries: dict[int, SourceEntry], *, names: dict[str, str], tz: tzinfo) -> str:
    """What each marker in `shown` (a draft as plain text) cites: "[1] 10:02 Ann Lee, Finding: pool exhausted…"."""
    items = []
    for entry_id, number in citation_numbers(draft).items():
        entry = entries.get(entry_id)
        if entry is None or f"[{number}]" not in shown:
            continue
        who = entry.author_name or names.get(entry.author or "", "") or "someone"
        label = KIND_LABELS.get(entry.kind, (entry.kind, ""))[0] if entry.kind != "message" else "Message"
        words = " ".join(entry.text.split())
        words = words if len(words) <= LEGEND_TEXT_CHARS else words[: LEGEND_TEXT_CHARS - 1] + "…"
        items.append(f"[{number}] {entry.at.astimezone(tz):%H:%M} {who}, {label}: {words}")
    return "\n".join(items)


def draft_note(model: str, legend_text: str, *, how_to_use: str) -> str:
    """The line under a drafted field: it is a draft, who suggested it, what it cites."""
    head = f":sparkles: *Draft* · {suggested_by(model)}. {how_to_use}"
    text = head + ("\n" + _escape(legend_text) if legend_text else "")
    return text if len(text) <= CONTEXT_LIMIT else text[: CONTEXT_LIMIT - 1] + "…"


def pending_note(text: str) -> dict[str, Any]:
    return {"type": "context", "block_id": PENDING, "elements": [{"type": "mrkdwn", "text": text}]}


def watch_typing(block: dict[str, Any]) -> dict[str, Any]:
    """An input block that tells the app when the person types its first character."""
    watched = copy.deepcopy(block)
    watched["dispatch_action"] = True
    watched["element"]["dispatch_action_config"] = {"trigger_actions_on": ["on_character_entered"]}
    return watched


def is_pending(view: dict[str, Any]) -> bool:
    """Whether a draft is still on its way to this form (its "Drafting…" note is there)."""
    return any(b.get("block_id") == PENDING for b in view.get("blocks") or [])


def _definition(view: dict[str, Any]) -> dict[str, Any]:
    return {key: copy.deepcopy(view[key]) for key in _VIEW_KEYS if key in view and view[key] is not None}


def _quiet(block: dict[str, Any]) -> dict[str, Any]:
    if block.get("type") != "input":
        return block
    block = dict(block)
    block.pop("dispatch_action", None)
    block["element"] = {k: v for k, v in block["element"].items() if k != "dispatch_action_config"}
    return block


def without_pending(view: dict[str, Any]) -> dict[str, Any]:
    """The same form with no draft on its way: the note gone, nothing watching keystrokes.
    Every input keeps its ids, so Slack keeps what was typed or chosen."""
    spec = _definition(view)
    spec["blocks"] = [_quiet(b) for b in spec.get("blocks") or [] if b.get("block_id") != PENDING]
    return spec


def with_draft(view: dict[str, Any], field: str, text: str, note: str) -> dict[str, Any]:
    """The form with `text` in the input `field`, under a new block_id so Slack shows it,
    and `note` (it is a draft; what it cites) right under it."""
    spec = _definition(view)
    blocks: Blocks = []
    for block in spec.get("blocks") or []:
        if block.get("type") == "input" and block.get("block_id") == field:
            drafted = _quiet(block)
            drafted["block_id"] = field + DRAFTED
            limit = int(drafted["element"].get("max_length") or len(text))
            drafted["element"] = {**drafted["element"], "initial_value": text[:limit]}
            blocks.append(drafted)
            blocks.append({"type": "context", "block_id": f"{field}{DRAFTED}_note",
                           "elements": [{"type": "mrkdwn", "text": note}]})
        else:
            blocks.append(block)
    spec["blocks"] = blocks
    return spec


def field_block(view: dict[str, Any], field: str) -> str:
    """The block_id that holds `field` in a submitted form: the field's own, or its draft's."""
    values = (view.get("state") or {}).get("values") or {}
    if field + DRAFTED in values:
        return field + DRAFTED
    if field in values:
        return field
    return field + DRAFTED if any(b.get("block_id") == field + DRAFTED for b in view.get("blocks") or []) else field
