"""The status update form: opened by the *Post an update* button (on nudges), submitted."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from sqlalchemy import select

from bot.models import Incident, TimelineEntry
from bot.services import announcements, slash
from bot.slack.app import Scribe
from bot.slack.blocks import updates as ub
from bot.slack.client import deadline_client
from bot.slack.io import views
from bot.slack.lazy import reports_failure

log = logging.getLogger(__name__)


def open_form(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond, scribe: Scribe) -> None:
    ack()
    value = str(action.get("value") or "")
    with scribe.transaction() as session:
        incident = session.get(Incident, int(value)) if value.isdigit() else None
        form = ub.update_form(incident.id, incident.ref, status=incident.update_status, next_minutes=None) if incident and not incident.closed_at else None
    if form is None:
        respond(response_type="ephemeral", replace_original=False, text=":x: That incident is closed (or gone), so it takes no more updates.")
        return
    problem = views.open_modal(client, trigger_id=body["trigger_id"], view=form)
    if problem:
        respond(response_type="ephemeral", replace_original=False, text=f":x: {problem}")


def form_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, scribe: Scribe) -> None:
    """Recorded and posted before answering, so a bad field is shown under it in the form."""
    user_id = body["user"]["id"]
    errors, note = slash.submit_update_form(
        scribe.session_factory, view, user_id=user_id, now=scribe.now(), settings=scribe.settings, client=deadline_client(client)
    )
    if errors:
        ack(response_action="errors", errors=errors)
        return
    ack()
    if note:
        try:
            client.chat_postMessage(channel=user_id, text=note)
        except (SlackApiError, SlackClientError, OSError) as error:
            log.warning("could not tell %s that their update wasn't posted: %s", user_id, type(error).__name__)


def announce_after_form(view: dict[str, Any], client: WebClient, scribe: Scribe) -> None:
    """After the ack: the announcement shows the new status (and, for resolved, closes).
    Only when the form recorded an update; one sent back with errors changed nothing."""
    with scribe.transaction() as session:
        incident_id = session.scalars(
            select(TimelineEntry.incident_id).where(TimelineEntry.command_id == slash.update_form_command_id(view))
        ).first()
    if incident_id is not None:
        announcements.refresh(scribe.session_factory, client, settings=scribe.settings, incident_id=incident_id, now=scribe.now())


def register(app: App) -> None:
    app.action(ub.OPEN_FORM)(open_form)
    app.view(ub.FORM_VIEW)(ack=form_submitted, lazy=[reports_failure(announce_after_form)])
