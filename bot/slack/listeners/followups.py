"""Buttons on reminder DMs and on the `/incident actions` list: Done, Won't fix, Snooze, Reassign.

Each click is acked at once; the work (one transaction, then editing the message and
posting a line in the incident channel) runs in a lazy listener after the ack, so
Slack's 3-second deadline is never at risk. Refusals go only to the person who clicked.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.models import ActionItem, Incident
from bot.services import actions, tickets
from bot.services.errors import ScribeError
from bot.services.people import Person
from bot.slack.blocks import followups as fb
from bot.slack.client import deadline_client
from bot.slack.home_tab import refresh_if_opened
from bot.slack.io import messages
from bot.slack.lazy import reports_failure
from bot.slack.scribe import Scribe
from bot.timeparse import DueParseError
from bot.trackers import parse_link_for

log = logging.getLogger(__name__)


def acknowledge(ack: Ack) -> None:
    ack()


def _item_id(action: dict[str, Any]) -> int:
    value = action.get("value")
    if value and str(value).isdigit():
        return int(value)
    found = fb.item_id_from_block(action.get("block_id") or "")
    if found is None:
        raise ScribeError("This button doesn't say which action item it is for; use `/incident actions` instead.")
    return found


def _is_reminder_for(body: dict[str, Any], item_id: int) -> bool:
    """Was the click on a message carrying this item's buttons (a reminder DM), not some other message?"""
    blocks = (body.get("message") or {}).get("blocks") or []
    return any(b.get("block_id") == fb.block_id(item_id) for b in blocks if isinstance(b, dict))


def _show(body: dict[str, Any], client: WebClient, respond: Respond, item_id: int, text: str, blocks: list[dict[str, Any]]) -> None:
    """Show the outcome: a reminder DM is edited into it (chat.update); a click on the
    `/incident actions` list gets a private confirmation and leaves the list of other items alone."""
    container = body.get("container") or {}
    if container.get("type") == "view":
        return  # a click on the App Home: the refreshed Home shows the outcome
    try:
        if not container.get("is_ephemeral") and _is_reminder_for(body, item_id):
            client.chat_update(channel=container["channel_id"], ts=container["message_ts"], text=text, blocks=blocks)
        else:
            respond(replace_original=False, response_type="ephemeral", text=text, blocks=blocks)
    except (SlackApiError, SlackClientError, OSError) as error:
        # The change is saved; only the message edit failed. Tell the person plainly.
        log.warning("could not update the message for action item %s: %s", item_id, type(error).__name__)
        respond(response_type="ephemeral", replace_original=False, text=f"Saved. ({text})")


def _announce(client: WebClient, channel_id: str, text: str) -> None:
    try:
        client.chat_postMessage(channel=channel_id, text=text, unfurl_links=False)
    except (SlackApiError, SlackClientError, OSError) as error:
        reason = error.response.get("error") if isinstance(error, SlackApiError) else type(error).__name__
        log.warning("could not post the action item change in %s: %s", channel_id, reason)


def _refuse(respond: Respond, error: ScribeError, body: dict[str, Any] | None = None, client: WebClient | None = None) -> None:
    if body is not None and client is not None and (body.get("container") or {}).get("type") == "view":
        # The App Home has no response_url: tell them in their DM with the app.
        messages.try_post(client, body["user"]["id"], f":x: {error}")
        return
    respond(response_type="ephemeral", replace_original=False, text=f":x: {error}")


def _refresh_homes(body: dict[str, Any], client: WebClient, scribe: Scribe, *user_ids: str) -> None:
    """Whoever clicked and the item's owner see the change on their App Home (if they use it)."""
    refresh_if_opened(scribe.session_factory, scribe.settings, scribe.clock, client, team_id=(body.get("team") or {}).get("id") or "",
                      user_ids=set(user_ids))


def _owners(scribe: Scribe, item_id: int, *more: str) -> dict[str, Person]:
    """The item's owner (and `more` people), looked up in Slack before the change's
    transaction: their time zone plans the item's reminders."""
    with scribe.transaction() as session:
        item = session.get(ActionItem, item_id)
        if item is None:
            return {}
        team_id, owner = item.incident.team_id, item.owner_id
    return scribe.people.people(team_id, {owner, *more})


def close_clicked(body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond, scribe: Scribe) -> None:
    user_id = body["user"]["id"]
    status = "wontfix" if action.get("action_id") == fb.WONTFIX else "done"
    try:
        item_id = _item_id(action)
        known = _owners(scribe, item_id)
        with scribe.transaction() as session:
            view = actions.view_of(
                actions.close_item(session, item_id=item_id, status=status, user_id=user_id, now=scribe.now(), settings=scribe.settings, known=known)
            )
    except ScribeError as error:
        _refuse(respond, error, body, client)
        return
    word = "done" if status == "done" else "won't fix"
    emoji = ":white_check_mark:" if status == "done" else ":heavy_minus_sign:"
    _show(body, client, respond, item_id, *fb.settled_reminder(view, f"{emoji} marked {word} by <@{user_id}>"))
    _announce(client, view.channel_id, f"{emoji} <@{user_id}> marked action item #{view.id} {word}: {fb.item_line(view)}")
    _refresh_homes(body, client, scribe, user_id, view.owner_id)


def snooze_clicked(body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond, scribe: Scribe) -> None:
    user_id = body["user"]["id"]
    days = fb.SNOOZE_DAYS[action["action_id"]]
    try:
        item_id = _item_id(action)
        known = _owners(scribe, item_id)
        with scribe.transaction() as session:
            item, zone = actions.snooze_item(session, item_id=item_id, days=days, user_id=user_id, now=scribe.now(), settings=scribe.settings, known=known)
            view, until = actions.view_of(item), item.snoozed_until
    except ScribeError as error:
        _refuse(respond, error, body, client)
        return
    assert until is not None
    _show(body, client, respond, item_id, *fb.snoozed_reminder(view, until, zone))
    _refresh_homes(body, client, scribe, user_id, view.owner_id)


def reassign_clicked(body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond, scribe: Scribe) -> None:
    user_id = body["user"]["id"]
    new_owner = action.get("selected_user")
    try:
        item_id = _item_id(action)
        if not new_owner:
            raise ScribeError("Pick the person who should own this action item.")
        known = _owners(scribe, item_id, new_owner)
        with scribe.transaction() as session:
            item, previous = actions.reassign_item(
                session, item_id=item_id, new_owner=new_owner, user_id=user_id, now=scribe.now(), settings=scribe.settings, known=known
            )
            view = actions.view_of(item)
    except ScribeError as error:
        _refuse(respond, error, body, client)
        return
    _show(body, client, respond, item_id, *fb.settled_reminder(view, f":arrows_counterclockwise: reassigned to <@{new_owner}> by <@{user_id}>"))
    _announce(client, view.channel_id,
              f":arrows_counterclockwise: <@{user_id}> reassigned action item #{view.id} from <@{previous}> to <@{new_owner}>: {fb.item_line(view)}")
    _refresh_homes(body, client, scribe, user_id, previous, new_owner)


def open_add_modal(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond, scribe: Scribe) -> None:
    """"Add an action item" (on the actions list, or any message carrying `fb.add_button`): open the modal."""
    ack()
    value = str(action.get("value") or "")
    with scribe.transaction() as session:
        incident = session.get(Incident, int(value)) if value.isdigit() else None
        ref = incident.ref if incident is not None else None
    if ref is None:
        respond(response_type="ephemeral", replace_original=False, text=":x: That incident no longer exists.")
        return
    # trigger_id expires in 3 seconds: no retries that could outlast it.
    modal = fb.add_item_modal(int(value), ref, body["user"]["id"], ticket_field=bool(tickets.connected(scribe.settings)))
    deadline_client(client).views_open(trigger_id=body["trigger_id"], view=modal)


def add_item_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, scribe: Scribe) -> None:
    """Record the item before answering, so a bad due date is shown in the modal, under its field."""
    incident_id, text, owner, due, priority = fb.submitted_item(view)
    if not text:
        ack(response_action="errors", errors={"text": "Say what needs doing."})
        return
    pasted = fb.submitted_ticket(view)
    if pasted is not None and parse_link_for(scribe.settings.trackers, pasted) is None:
        ack(response_action="errors", errors={"ticket": tickets.link_problem(scribe.settings, pasted)})
        return
    user_id = body["user"]["id"]
    try:
        # The typer's zone reads the due date; the owner's plans the reminders.
        known = scribe.people_before_ack(client, (body.get("team") or {}).get("id") or body["user"].get("team_id", ""), {user_id, owner or user_id})
        with scribe.transaction() as session:
            incident = session.get(Incident, incident_id) if incident_id is not None else None
            if incident is None:
                raise ScribeError("That incident no longer exists.")
            item = actions.add_item(
                session, incident=incident, text=text, owner_id=owner, due_text=due, priority=priority, user_id=user_id,
                command_id=f"view:{view['id']}", now=scribe.now(), settings=scribe.settings, known=known,
            )
            if item is not None:
                # A pasted ticket is linked; otherwise the channel's tracker (if any) makes one after commit.
                tell = {"user_id": user_id, "channel_id": incident.channel_id}
                if pasted is not None:
                    tickets.link(session, item_id=item.id, team_id=incident.team_id, user_id=user_id, text=pasted,
                                 settings=scribe.settings, reply_to=tell, now=scribe.now())
                else:
                    tickets.request_default(session, item, settings=scribe.settings, reply_to=tell, now=scribe.now())
    except DueParseError as error:
        ack(response_action="errors", errors={"due": error.problem})
        return
    except ScribeError as error:
        ack(response_action="errors", errors={"text": str(error)})
        return
    ack()


def announce_added_item(body: dict[str, Any], view: dict[str, Any], client: WebClient, scribe: Scribe) -> None:
    """After the modal closed: confirm the new item in the incident channel, as the command does."""
    with scribe.transaction() as session:
        found = actions.item_added_by_view(session, view_id=view["id"])
        line, channel = (fb.added_line(actions.view_of(found)), found.incident.channel_id) if found is not None else (None, None)
    if line is not None and channel is not None:
        _announce(client, channel, line)


def register(app: App) -> None:
    app.action(fb.DONE)(ack=acknowledge, lazy=[reports_failure(close_clicked)])
    app.action(fb.WONTFIX)(ack=acknowledge, lazy=[reports_failure(close_clicked)])
    app.action(fb.SNOOZE_DAY)(ack=acknowledge, lazy=[reports_failure(snooze_clicked)])
    app.action(fb.SNOOZE_WEEK)(ack=acknowledge, lazy=[reports_failure(snooze_clicked)])
    app.action(fb.REASSIGN)(ack=acknowledge, lazy=[reports_failure(reassign_clicked)])
    app.action(fb.ADD)(open_add_modal)
    app.view(fb.ADD_VIEW)(ack=add_item_submitted, lazy=[reports_failure(announce_added_item)])
