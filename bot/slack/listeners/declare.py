"""Declaring incidents: the global shortcut and the announcement's button open the Declare
modal; its submit declares; the announcement's Join button invites whoever presses it.

Opening a modal happens before the ack (trigger_id lives 3 seconds). A submitted form is
decided before the ack, in one transaction (bot.services.declare); the channel and the rest
are created after commit, from the outbox (bot.slack.effects.declare).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot import commands as cmd
from bot.models import Announcement, Incident
from bot.services import declare
from bot.services.declare import DeclareRequest
from bot.slack.blocks import declare as blocks
from bot.slack.client import deadline_client, describe_failure
from bot.slack.io import channels, messages
from bot.slack.lazy import reports_failure
from bot.slack.scribe import Scribe

log = logging.getLogger(__name__)


def _open_modal(client: WebClient, trigger_id: str, user_id: str, origin_channel: str | None) -> None:
    try:
        # trigger_id expires in 3 seconds: no retries that could outlast it.
        deadline_client(client).views_open(trigger_id=trigger_id, view=blocks.declare_modal(origin_channel=origin_channel))
    except (SlackApiError, SlackClientError, OSError) as error:
        log.warning("the Declare form didn't open: %s", describe_failure(error))
        messages.tell_privately(client, user_id, f":x: Slack didn't open the *Declare an incident* form ({describe_failure(error)}). "
                                "Try again, or type `/incident declare <title> [sev1..sev4] [@people]`.")


def shortcut_opened(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
    ack()
    _open_modal(client, body["trigger_id"], body["user"]["id"], None)


def button_opened(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
    ack()
    _open_modal(client, body["trigger_id"], body["user"]["id"], (body.get("channel") or {}).get("id"))


def declare_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext, scribe: Scribe) -> None:
    """Problems show under their field; a good form closes, and the declaration is decided
    before the ack (its channel is created after commit, from the outbox; the link comes in a DM)."""
    submitted = blocks.submitted_declare(view)
    if not submitted.title:
        ack(response_action="errors", errors={"title": "Give the incident a title, e.g. “Checkout returns 502 for EU users”."})
        return
    if len(submitted.title) > cmd.MAX_TITLE_LENGTH:
        ack(response_action="errors", errors={"title": f"The title is {len(submitted.title)} characters long; the limit is {cmd.MAX_TITLE_LENGTH}."})
        return
    user_id = body["user"]["id"]
    request = DeclareRequest(
        # The view id is the same for every submit of one form: a double click, or the same
        # submit delivered to two processes, is one declaration.
        key=f"view:{view['id']}", team_id=(body.get("team") or {}).get("id", ""), user_id=user_id, title=submitted.title,
        severity=submitted.severity, description=submitted.description, private=submitted.private, people=submitted.people,
        reply_to={"user_id": user_id}, bot_user_id=context.bot_user_id,
    )
    with scribe.transaction() as session:
        declare.request(session, request, now=scribe.now())
    ack()


def join_clicked(body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond, scribe: Scribe) -> None:
    user_id = body["user"]["id"]
    value = str(action.get("value") or "")
    with scribe.transaction() as session:
        incident = session.get(Incident, int(value)) if value.isdigit() else None
        row = session.get(Announcement, incident.id) if incident is not None else None
        found = None if incident is None else (incident.channel_id, incident.closed_at is not None, row is None or row.private)
    if found is None:
        text = ":x: That incident no longer exists."
    elif found[2]:
        text = ":lock: That incident is private; ask its lead to invite you."
    elif found[1]:
        text = f"That incident is closed; its channel <#{found[0]}> stays open to read."
    else:
        text = blocks.join_reply(found[0], channels.invite_one(client, found[0], user_id))
    respond(response_type="ephemeral", replace_original=False, text=text)


def acknowledge(ack: Ack) -> None:
    ack()


def register(app: App) -> None:
    app.shortcut(blocks.DECLARE_SHORTCUT)(shortcut_opened)
    app.action(blocks.DECLARE_BUTTON)(button_opened)
    app.view(blocks.DECLARE_VIEW)(declare_submitted)
    app.action(blocks.JOIN_BUTTON)(ack=acknowledge, lazy=[reports_failure(join_clicked)])
