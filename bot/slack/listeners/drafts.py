"""A person starting to type in a field an AI draft is on its way to (bot.slack.blocks.drafts).

Such fields dispatch a block_actions payload on the first character typed. Updating the form
then (same inputs, same ids, so Slack keeps the text; only the "Drafting…" note goes)
changes its hash, and the draft's own views.update, made with the hash views.open gave, is
refused by Slack: the draft never replaces what the person writes.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.slack.blocks import drafts as draft_blocks
from bot.slack.blocks import postmortem as pm_blocks
from bot.slack.blocks import updates as ub
from bot.slack.io import views

# The action_ids of the inputs a draft may fill, in the forms that have them.
WATCHED = tuple(dict.fromkeys(("summary", *pm_blocks.DRAFTED_FIELDS)))
FORMS = (ub.FORM_VIEW, pm_blocks.EDIT_MODAL)


def writing_started(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
    ack()
    view = body.get("view") or {}
    if view.get("callback_id") not in FORMS or not draft_blocks.is_pending(view):
        return  # the draft is in already (nothing watches keystrokes then), or this isn't our form
    views.update_modal(client, view_id=str(view.get("id") or ""), view_hash=str(view.get("hash") or ""),
                       view=draft_blocks.without_pending(view))


def register(app: App) -> None:
    for action_id in WATCHED:
        app.action(action_id)(writing_started)
