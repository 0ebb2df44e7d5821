"""Declaring incidents: the global shortcut and the announcement's button open the Declare
modal; its submit declares; the announcement's Join button invites whoever presses it;
and after commands that change what an announcement shows, it is edited to match.

Opening a modal happens before the ack (trigger_id lives 3 seconds). Everything that
talks to Slack more than once runs in a lazy listener after the ack, with the client
that waits out 429s and retries 5xx.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot import commands as cmd
from bot.models import Announcement, Incident
from bot.services import announcements, incidents
from bot.services.declare import DeclareOutcome, DeclareRequest, declare
from bot.slack.app import Scribe
from bot.slack.blocks import declare as blocks
from bot.slack.client import deadline_client, describe_failure
from bot.slack.io import channels, messages
from bot.slack.lazy import reports_failure

log = logging.getLogger(__name__)

# Names this process in the announcements' claims.
WORKER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def run_declare(scribe: Scribe, client: WebClient, request: DeclareRequest, *, bot_user_id: str | None) -> DeclareOutcome:
    return declare(scribe.session_factory, client, request, settings=scribe.settings, bot_user_id=bot_user_id, now=scribe.now, worker=WORKER)


def declare_from_command(command: dict[str, Any], parsed: cmd.Declare, client: WebClient, respond: Respond, context: Any, scribe: Scribe) -> None:
    """`/incident declare …`, after the ack: the reply goes only to whoever typed it."""
    request = DeclareRequest(
        key=f"command:{command.get('trigger_id') or uuid.uuid4().hex}", team_id=command.get("team_id", ""), user_id=command.get("user_id", ""),
        title=parsed.title, severity=parsed.severity, people=parsed.people,
    )
    outcome = run_declare(scribe, client, request, bot_user_id=context.bot_user_id)
    if outcome.status == "duplicate":
        return  # the same command reached another process (or came twice): that one answers
    respond(response_type="ephemeral", replace_original=False, text=outcome.reply_text(scribe.settings.command))


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


def validate_submission(ack: Ack, view: dict[str, Any]) -> None:
    """Problems show under their field; a good form closes and is declared after the ack."""
    submitted = blocks.submitted_declare(view)
    if not submitted.title:
        ack(response_action="errors", errors={"title": "Give the incident a title, e.g. “Checkout returns 502 for EU users”."})
        return
    if len(submitted.title) > cmd.MAX_TITLE_LENGTH:
        ack(response_action="errors", errors={"title": f"The title is {len(submitted.title)} characters long; the limit is {cmd.MAX_TITLE_LENGTH}."})
        return
    ack()


def declare_from_modal(body: dict[str, Any], view: dict[str, Any], client: WebClient, context: Any, scribe: Scribe) -> None:
    submitted = blocks.submitted_declare(view)
    if not submitted.title or len(submitted.title) > cmd.MAX_TITLE_LENGTH:
        return  # refused in the ack, under the field
    user_id = body["user"]["id"]
    request = DeclareRequest(
        # The view id is the same for every submit of one form: a double click, or the same
        # submit delivered to two processes, is one declaration.
        key=f"view:{view['id']}", team_id=(body.get("team") or {}).get("id", ""), user_id=user_id, title=submitted.title,
        severity=submitted.severity, description=submitted.description, private=submitted.private, people=submitted.people,
    )
    outcome = run_declare(scribe, client, request, bot_user_id=context.bot_user_id)
    if outcome.status != "duplicate":
        messages.tell_privately(client, user_id, outcome.reply_text(scribe.settings.command))


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


def announce_after_command(command: dict[str, Any], client: WebClient, scribe: Scribe) -> None:
    """After a command that changes what the announcement shows: edit it (and post the
    closing line on resolve or close). `start` announces the incident it started."""
    parsed = cmd.parse_command(command.get("text", "") or "")
    if isinstance(parsed, (cmd.UsageError, cmd.UpdateForm)):
        return  # nothing changed (`/incident update` alone only opens the form)
    if isinstance(parsed, cmd.AssignRole) and parsed.role != "lead":
        return
    if isinstance(parsed, cmd.Moment) and parsed.kind not in ("started", "resolved"):
        return
    if isinstance(parsed, cmd.Start) and scribe.settings.announce_channel is None:
        return  # nothing to announce in, and nothing of ours to keep true
    team_id, channel_id = command.get("team_id", ""), command.get("channel_id", "")
    with scribe.transaction() as session:
        incident = incidents.latest_incident(session, channel_id=channel_id, team_id=team_id)
        incident_id = incident.id if incident is not None else None
    if incident_id is None:
        return
    if isinstance(parsed, cmd.Start):
        announcements.announce(scribe.session_factory, client, settings=scribe.settings, incident_id=incident_id,
                               private=channels.is_private_channel(client, channel_id), worker=WORKER, now=scribe.now())
        return
    announcements.refresh(scribe.session_factory, client, settings=scribe.settings, incident_id=incident_id, now=scribe.now())


def register(app: App) -> None:
    app.shortcut(blocks.DECLARE_SHORTCUT)(shortcut_opened)
    app.action(blocks.DECLARE_BUTTON)(button_opened)
    app.view(blocks.DECLARE_VIEW)(ack=validate_submission, lazy=[reports_failure(declare_from_modal)])
    app.action(blocks.JOIN_BUTTON)(ack=acknowledge, lazy=[reports_failure(join_clicked)])
