"""Postmortem review in Slack: the summary message's buttons and the Edit modal.

Everything that redrafts runs in a lazy listener after the ack: drafting, the canvas,
the file upload and the chart take several Slack round trips. Edit opens its modal
before the ack because the trigger_id expires within three seconds.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy.orm import Session

from bot.services import postmortem as pm_service
from bot.services.errors import ScribeError
from bot.services.publish_postmortem import PublishReport, publish_postmortem
from bot.slack.app import Scribe
from bot.slack.blocks import postmortem as pm_blocks
from bot.slack.client import deadline_client
from bot.slack.lazy import reports_failure

from bot.slack.listeners import home

log = logging.getLogger(__name__)


def publish(scribe: Scribe, client: WebClient, *, user_id: str, incident_id: int | None = None,
            channel: tuple[str, str] | None = None, template: str | None = None, include_chart: bool = True) -> PublishReport:
    """Draft (by incident id, or the latest incident of (team, channel)) and post it; then
    refresh the App Home of whoever asked, where a postmortem awaiting review is listed."""
    teams: list[str] = []

    def draft(session: Session) -> pm_service.Draft:
        if incident_id is not None:
            incident = pm_service.require_incident(session, incident_id)
        else:
            team_id, channel_id = channel  # type: ignore[misc]
            incident = pm_service.incident_for_channel(session, team_id=team_id, channel_id=channel_id, command=scribe.settings.command)
        teams.append(incident.team_id)
        return pm_service.draft_postmortem(
            session, incident, settings=scribe.settings, client=client, now=scribe.now(), user_id=user_id, template=template
        )

    report = publish_postmortem(scribe.session_factory, client, settings=scribe.settings, now=scribe.now, user_id=user_id,
                                draft=draft, include_chart=include_chart)
    if teams:
        home.refresh_if_opened(scribe, client, team_id=teams[-1], user_ids={user_id})
    return report


def _incident_id(body: dict[str, Any]) -> int:
    try:
        return int(body["actions"][0]["value"])
    except (KeyError, IndexError, TypeError, ValueError):
        raise ScribeError("This button doesn't name an incident; run `/incident postmortem` again.") from None


def _tell(respond: Respond, text: str) -> None:
    respond(response_type="ephemeral", replace_original=False, text=text)


def _ack_only(ack: Ack) -> None:
    ack()


def regenerate(body: dict[str, Any], client: WebClient, respond: Respond, scribe: Scribe) -> None:
    try:
        report = publish(scribe, client, user_id=body["user"]["id"], incident_id=_incident_id(body))
    except ScribeError as error:
        _tell(respond, f":x: {error}")
        return
    if report.problems:
        _tell(respond, report.text())


def _status_change(status: str):  # type: ignore[no-untyped-def]
    def change(body: dict[str, Any], client: WebClient, respond: Respond, scribe: Scribe) -> None:
        user_id = body["user"]["id"]
        try:
            incident_id = _incident_id(body)
            with scribe.transaction() as session:
                incident = pm_service.require_incident(session, incident_id)
                pm_service.set_status(session, incident, status=status, user_id=user_id, rule=scribe.settings.privileged_actions, now=scribe.now())
            report = publish(scribe, client, user_id=user_id, incident_id=incident_id, include_chart=False)
        except ScribeError as error:
            _tell(respond, f":x: {error}")
            return
        if report.problems:
            _tell(respond, report.text())

    change.__name__ = f"mark_{status}"
    return change


def open_edit_modal(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond, scribe: Scribe) -> None:
    """Open the modal right away: the trigger_id is only good for three seconds."""
    try:
        incident_id = _incident_id(body)
        with scribe.transaction() as session:
            incident = pm_service.require_incident(session, incident_id)
            pm = pm_service.postmortem_of(session, incident, now=scribe.now())
            if pm.status == "final":
                raise ScribeError(f"The postmortem of {incident.ref} is Final, so it can no longer be edited.")
            saved = {name: getattr(pm, name) for name in pm_service.REVIEW_FIELDS}
            ref = incident.ref
    except ScribeError as error:
        ack()
        _tell(respond, f":x: {error}")
        return
    try:
        deadline_client(client).views_open(trigger_id=body["trigger_id"], view=pm_blocks.edit_modal(incident_id=incident_id, ref=ref, saved=saved))
    except (SlackApiError, SlackClientError, OSError) as error:
        reason = error.response.get("error") if isinstance(error, SlackApiError) else type(error).__name__
        ack()
        _tell(respond, f":x: Slack didn't open the Edit form (`{reason}`). Press *Edit* again.")
        return
    ack()


def save_edit(ack: Ack, body: dict[str, Any], view: dict[str, Any], scribe: Scribe) -> None:
    """Save the fields inside the ack's transaction, so a failure shows in the modal."""
    try:
        incident_id = int(view.get("private_metadata") or "")
    except ValueError:
        ack(response_action="errors", errors={"summary": "This form lost track of its incident; close it and press Edit again."})
        return
    try:
        with scribe.transaction() as session:
            incident = pm_service.require_incident(session, incident_id)
            pm_service.save_review_fields(session, incident, pm_blocks.submitted_fields(view), user_id=body["user"]["id"], now=scribe.now())
    except ScribeError as error:
        ack(response_action="errors", errors={"summary": str(error)})
        return
    ack()


def redraft_after_edit(body: dict[str, Any], view: dict[str, Any], client: WebClient, scribe: Scribe) -> None:
    user_id = body["user"]["id"]
    try:
        report = publish(scribe, client, user_id=user_id, incident_id=int(view["private_metadata"]), include_chart=False)
    except ScribeError as error:
        log.warning("redraft after edit failed: %s", error)
        return
    if report.problems:
        try:
            client.chat_postEphemeral(channel=report.draft.channel_id, user=user_id, text=report.text())
        except (SlackApiError, SlackClientError, OSError):
            log.warning("could not tell %s about publication problems", user_id)


def register(app: App) -> None:
    app.action(pm_blocks.REGENERATE)(ack=_ack_only, lazy=[reports_failure(regenerate)])
    app.action(pm_blocks.MARK_REVIEWED)(ack=_ack_only, lazy=[reports_failure(_status_change("in_review"))])
    app.action(pm_blocks.MARK_FINAL)(ack=_ack_only, lazy=[reports_failure(_status_change("final"))])
    app.action(pm_blocks.EDIT)(open_edit_modal)
    app.view(pm_blocks.EDIT_MODAL)(ack=save_edit, lazy=[reports_failure(redraft_after_edit)])
