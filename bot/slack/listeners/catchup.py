"""Catch-up for people joining late: a private welcome with a *Catch me up* button when
someone joins an incident channel after the start, and the button itself."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot.models import Incident
from bot.services import catchup, incidents
from bot.slack import drafts
from bot.slack.blocks import catchup as blocks
from bot.slack.client import deadline_client
from bot.slack.io import messages
from bot.slack.lazy import reports_failure
from bot.slack.scribe import Scribe
from bot.timeparse import slack_ts_to_datetime


def on_member_joined(event: dict[str, Any], context: BoltContext, client: WebClient, scribe: Scribe) -> None:
    """`member_joined_channel`: welcome whoever joins an open incident after it started."""
    user_id = event.get("user") or ""
    channel_id = event.get("channel") or ""
    if not user_id or user_id == context.bot_user_id:
        return
    with scribe.transaction() as session:
        incident = incidents.open_incident(session, team_id=context.team_id or "", channel_id=channel_id)
        joined = slack_ts_to_datetime(event["event_ts"]) if event.get("event_ts") else scribe.now()
        late = incident is not None and joined >= incident.declared_at and not incidents.invited_when_declared(session, incident, user_id)
        if incident is None or not late:
            return  # not an incident channel; or there from the start, or pulled in by the declare itself
        text, welcome = blocks.welcome_message(incident.ref, incident.title, incident.id, scribe.settings.command)
    # Before the event's 200: fail fast rather than wait out a rate limit.
    messages.ephemeral(deadline_client(client), channel_id, user_id, text, welcome)


def acknowledge(ack: Ack) -> None:
    ack()


def catch_up_clicked(body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond, context: BoltContext,
                     scribe: Scribe) -> None:
    """The facts at once (after the ack). With AI drafts on, they replace the welcome, and
    "what is going on" replaces them once drafted (its response_url acts on that message)."""
    value = str(action.get("value") or "")
    with scribe.transaction() as session:
        incident = session.get(Incident, int(value)) if value.isdigit() else None
        found = incident is not None and incident.team_id == context.team_id
        text, message = blocks.catch_up_message(catchup.catch_up(session, incident, now=scribe.now()), command=scribe.settings.command) \
            if found and incident is not None else (":x: That incident no longer exists.", None)
        drafting = found and incident is not None and drafts.wanted(scribe.settings, private=incident.is_private)
    respond(response_type="ephemeral", replace_original=drafting, text=text, blocks=message)
    if drafting:
        drafts.follow_up(scribe, client, respond, drafts.CatchUpDraft(int(value)), team_id=context.team_id or "")


def register(app: App) -> None:
    app.action(blocks.CATCH_UP)(ack=acknowledge, lazy=[reports_failure(catch_up_clicked)])
