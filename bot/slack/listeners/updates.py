"""The status update form: opened by the *Post an update* button (on nudges), submitted.

A submitted form is recorded before the ack, so a bad field is shown under it in the form;
posting it in the channel (and under the announcement) happens after commit, from the
outbox (bot.slack.effects.updates), which tells the person if Slack refused.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot import commands as cmd
from bot.models import Incident
from bot.services import updates
from bot.slack import drafts
from bot.slack.blocks import drafts as draft_blocks
from bot.slack.blocks import updates as ub
from bot.slack.io import views
from bot.slack.scribe import Scribe

log = logging.getLogger(__name__)


def open_form(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond,
              scribe: Scribe) -> None:
    """Open the form at once; with AI drafts on, its summary is drafted after the ack
    (`drafts.fill_opened_form`) and put into the open form."""
    ack()
    value = str(action.get("value") or "")
    with scribe.transaction() as session:
        incident = session.get(Incident, int(value)) if value.isdigit() else None
        open_incident = incident is not None and incident.closed_at is None
        drafting = open_incident and incident is not None and drafts.wanted(scribe.settings, private=incident.is_private)
        form = ub.update_form(incident.id, incident.ref, status=incident.update_status, next_minutes=None, drafting=drafting) \
            if open_incident and incident is not None else None
    if form is None:
        respond(response_type="ephemeral", replace_original=False, text=":x: That incident is closed (or gone), so it takes no more updates.")
        return
    opened, problem = views.open_modal_view(client, trigger_id=body["trigger_id"], view=form)
    if problem:
        respond(response_type="ephemeral", replace_original=False, text=f":x: {problem}")
    elif opened is not None and drafting:
        context[drafts.REQUEST] = drafts.FormDraft("update", int(value)).opened(form, opened)


def form_errors(status: str | None, summary: str, next_text: str) -> dict[str, str]:
    """What is wrong with a submitted form, under each field's block id."""
    errors: dict[str, str] = {}
    if status is None:
        errors["status"] = "Choose a status: investigating, identified, monitoring or resolved."
    if not summary:
        errors["summary"] = "Say where things stand: what we know, what we're doing."
    elif len(summary) > cmd.MAX_UPDATE_LENGTH:
        errors["summary"] = f"The summary is {len(summary)} characters long; the limit is {cmd.MAX_UPDATE_LENGTH}."
    if next_text and (not next_text.isdigit() or not 1 <= int(next_text) <= cmd.MAX_NEXT_UPDATE_MINUTES):
        errors["next"] = f"Give a whole number of minutes from 1 to {cmd.MAX_NEXT_UPDATE_MINUTES}, e.g. 30, or leave it empty."
    return errors


def form_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], scribe: Scribe) -> None:
    """Recorded before answering; a double-clicked submit carries the same view id, so the
    update is recorded and posted once."""
    user_id = body["user"]["id"]
    incident_id, status, summary, next_text = ub.submitted_update(view)
    # Errors go under the block that holds each field (an AI draft of the summary has its own).
    errors = {draft_blocks.field_block(view, block): text for block, text in form_errors(status, summary, next_text).items()}
    if errors:
        ack(response_action="errors", errors=errors)
        return
    with scribe.transaction() as session:
        incident = session.get(Incident, incident_id) if incident_id is not None else None
        if incident is None or incident.closed_at is not None:
            errors = {draft_blocks.field_block(view, "summary"): "This incident is closed (or gone), so it takes no more updates."}
        else:
            updates.post_update(
                session, incident=incident, status=status, summary=summary, next_minutes=int(next_text) if next_text else None,
                user_id=user_id, command_id=f"view:{view.get('id')}", now=scribe.now(), settings=scribe.settings,
                reply_to={"user_id": user_id},
            )
    if errors:
        ack(response_action="errors", errors=errors)
        return
    ack()


def register(app: App) -> None:
    # With AI drafts on, the button gets a lazy listener that drafts the summary; off, nothing pays for it.
    app.action(ub.OPEN_FORM, matchers=[drafts.on])(ack=open_form, lazy=[drafts.fill_opened_form])
    app.action(ub.OPEN_FORM)(open_form)
    app.view(ub.FORM_VIEW)(form_submitted)
