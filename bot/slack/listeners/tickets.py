"""*Create in <tracker>* on an action item (the `/incident actions` list, App Home): the ticket
is asked for in one transaction after the ack, and made from the outbox after commit
(bot.ticket_sync.effects), which tells the person what the tracker said."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, Respond
from slack_sdk import WebClient

from bot.services import tickets
from bot.services.errors import ScribeError
from bot.slack.blocks import followups as fb
from bot.slack.lazy import reports_failure
from bot.slack.listeners.followups import _item_id, _refresh_homes, _refuse, acknowledge
from bot.slack.scribe import Scribe
from bot.trackers import TRACKER_NAMES


def create_clicked(body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond, scribe: Scribe) -> None:
    user_id = body["user"]["id"]
    team_id = (body.get("team") or {}).get("id") or body["user"].get("team_id", "")
    tracker = fb.tracker_of(str(action.get("action_id") or ""))
    reply_to = {"user_id": user_id}
    if body.get("response_url"):
        reply_to = {"response_url": str(body["response_url"]), "user_id": user_id}
    try:
        item_id = _item_id(action)
        with scribe.transaction() as session:
            ticket = tickets.request_create(session, item_id=item_id, team_id=team_id, user_id=user_id, tracker=tracker, target=None,
                                            settings=scribe.settings, reply_to=reply_to, now=scribe.now())
            name, target, owner = tickets.label(ticket.tracker), ticket.target, ticket.item.owner_id
    except ScribeError as error:
        _refuse(respond, error, body, client)
        return
    if (body.get("container") or {}).get("type") != "view":
        respond(response_type="ephemeral", replace_original=False,
                text=f":hourglass_flowing_sand: Creating action item #{item_id}'s {name} ticket in {target}…")
    _refresh_homes(body, client, scribe, user_id, owner)


def register(app: App) -> None:
    for tracker in TRACKER_NAMES:
        app.action(f"{fb.CREATE_TICKET}{tracker}")(ack=acknowledge, lazy=[reports_failure(create_clicked)])
