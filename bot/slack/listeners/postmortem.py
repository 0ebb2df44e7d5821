"""Postmortem review in Slack: the summary message's buttons and the Edit modal.

Everything that redrafts asks for it after the ack (people's names are looked up in Slack
first); the draft is made and posted from the outbox: drafting, the canvas, the file upload
and the chart take several Slack round trips. Edit opens its modal
before the ack because the trigger_id expires within three seconds.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy.orm import Session

from bot.models import Incident
from bot.services import postmortem as pm_service
from bot.services.errors import ScribeError
from bot.slack import drafts
from bot.slack.blocks import drafts as draft_blocks
from bot.slack.blocks import postmortem as pm_blocks
from bot.slack.client import deadline_client
from bot.slack.io.replies import reply_to_command
from bot.slack.lazy import reports_failure
from bot.slack.scribe import Scribe

log = logging.getLogger(__name__)


def request_draft(scribe: Scribe, *, user_id: str, incident_id: int, reply_to: dict[str, str], include_chart: bool = True,
                  before: Callable[[Session, Incident], None] | None = None) -> None:
    """Look the draft's people up in Slack (no transaction open), then, in one transaction,
    `before` (a review status change) and the request for a new draft, which is made and
    posted from the outbox (bot.slack.effects.postmortem); problems are told through `reply_to`."""
    with scribe.transaction() as session:
        incident = pm_service.require_incident(session, incident_id)
        team_id, wanted = incident.team_id, pm_service.names_wanted(session, incident)
    scribe.people.people(team_id, wanted)
    with scribe.transaction() as session:
        incident = pm_service.require_incident(session, incident_id)
        if before is not None:
            before(session, incident)
        pm_service.request_publication(session, incident, settings=scribe.settings, user_id=user_id, template=None, reply_to=reply_to,
                                       always_reply=False, include_chart=include_chart, now=scribe.now(), key=uuid.uuid4().hex)


def _incident_id(body: dict[str, Any]) -> int:
    try:
        return int(body["actions"][0]["value"])
    except (KeyError, IndexError, TypeError, ValueError):
        raise ScribeError("This button doesn't name an incident; run `/incident postmortem` again.") from None


def _tell(respond: Respond, text: str) -> None:
    respond(response_type="ephemeral", replace_original=False, text=text)


def _ack_only(ack: Ack) -> None:
    ack()


def regenerate(body: dict[str, Any], respond: Respond, scribe: Scribe) -> None:
    try:
        request_draft(scribe, user_id=body["user"]["id"], incident_id=_incident_id(body), reply_to=reply_to_command(body))
    except ScribeError as error:
        _tell(respond, f":x: {error}")


def _status_change(status: str):
    def change(body: dict[str, Any], respond: Respond, scribe: Scribe) -> None:
        user_id = body["user"]["id"]

        def mark(session: Session, incident: Incident) -> None:
            pm_service.set_status(session, incident, status=status, user_id=user_id, rule=scribe.settings.privileged_actions, now=scribe.now())

        try:
            request_draft(scribe, user_id=user_id, incident_id=_incident_id(body), reply_to=reply_to_command(body), include_chart=False, before=mark)
        except ScribeError as error:
            _tell(respond, f":x: {error}")

    change.__name__ = f"mark_{status}"
    return change


def open_edit_modal(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond, scribe: Scribe) -> None:
    """Open the modal right away: the trigger_id is only good for three seconds. With AI
    drafts on, its still-empty Summary, Impact and Contributing factors are drafted after
    the ack (`drafts.fill_opened_form`) and put into the open form."""
    try:
        incident_id = _incident_id(body)
        with scribe.transaction() as session:
            incident = pm_service.require_incident(session, incident_id)
            pm = pm_service.postmortem_of(session, incident, now=scribe.now())
            if pm.status == "final":
                raise ScribeError(f"The postmortem of {incident.ref} is Final, so it can no longer be edited.")
            saved = {name: getattr(pm, name) for name in pm_service.REVIEW_FIELDS}
            ref = incident.ref
            # Only fields nobody has written in yet (nothing counts as written until saved).
            empty = tuple(f for f in pm_blocks.DRAFTED_FIELDS if not (saved.get(f) or "").strip()) \
                if drafts.wanted(scribe.settings, private=incident.is_private) else ()
    except ScribeError as error:
        ack()
        _tell(respond, f":x: {error}")
        return
    view = pm_blocks.edit_modal(incident_id=incident_id, ref=ref, saved=saved, drafting=empty)
    try:
        opened = deadline_client(client).views_open(trigger_id=body["trigger_id"], view=view).get("view") or {}
    except (SlackApiError, SlackClientError, OSError) as error:
        reason = error.response.get("error") if isinstance(error, SlackApiError) else type(error).__name__
        ack()
        _tell(respond, f":x: Slack didn't open the Edit form (`{reason}`). Press *Edit* again.")
        return
    if empty:
        context[drafts.REQUEST] = drafts.FormDraft("postmortem", incident_id, fields=empty).opened(view, opened)
    ack()


def save_edit(ack: Ack, body: dict[str, Any], view: dict[str, Any], scribe: Scribe) -> None:
    """Save the fields inside the ack's transaction, so a failure shows in the modal."""
    summary = draft_blocks.field_block(view, "summary")  # the field's own block, or the draft's in it
    try:
        incident_id = int(view.get("private_metadata") or "")
    except ValueError:
        ack(response_action="errors", errors={summary: "This form lost track of its incident; close it and press Edit again."})
        return
    try:
        with scribe.transaction() as session:
            incident = pm_service.require_incident(session, incident_id)
            pm_service.save_review_fields(session, incident, pm_blocks.submitted_fields(view), user_id=body["user"]["id"], now=scribe.now())
    except ScribeError as error:
        ack(response_action="errors", errors={summary: str(error)})
        return
    ack()


def redraft_after_edit(body: dict[str, Any], view: dict[str, Any], scribe: Scribe) -> None:
    user_id = body["user"]["id"]
    incident_id = int(view["private_metadata"])
    with scribe.transaction() as session:
        channel_id = pm_service.require_incident(session, incident_id).channel_id
    try:
        # Problems are told privately in the incident's channel: the form is gone by now.
        request_draft(scribe, user_id=user_id, incident_id=incident_id, reply_to={"user_id": user_id, "channel_id": channel_id},
                      include_chart=False)
    except ScribeError as error:
        log.warning("redraft after edit failed: %s", error)


def register(app: App) -> None:
    app.action(pm_blocks.REGENERATE)(ack=_ack_only, lazy=[reports_failure(regenerate)])
    app.action(pm_blocks.MARK_REVIEWED)(ack=_ack_only, lazy=[reports_failure(_status_change("in_review"))])
    app.action(pm_blocks.MARK_FINAL)(ack=_ack_only, lazy=[reports_failure(_status_change("final"))])
    # With AI drafts on, Edit gets a lazy listener that drafts the empty fields; off, nothing
    # pays for it.
    app.action(pm_blocks.EDIT, matchers=[drafts.on])(ack=open_edit_modal, lazy=[drafts.fill_opened_form])
    app.action(pm_blocks.EDIT)(open_edit_modal)
    app.view(pm_blocks.EDIT_MODAL)(ack=save_edit, lazy=[reports_failure(redraft_after_edit)])
