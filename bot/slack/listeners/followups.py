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

from bot.services import actions
from bot.services.errors import ScribeError
from bot.slack import followup_blocks as fb
from bot.slack.app import Scribe

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


def _refuse(respond: Respond, error: ScribeError) -> None:
    respond(response_type="ephemeral", replace_original=False, text=f":x: {error}")


def close_clicked(body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond, scribe: Scribe) -> None:
    user_id = body["user"]["id"]
    status = "wontfix" if action.get("action_id") == fb.WONTFIX else "done"
    try:
        item_id = _item_id(action)
        with scribe.transaction() as session:
            view = actions.view_of(
                actions.close_item(session, item_id=item_id, status=status, user_id=user_id, now=scribe.now(), settings=scribe.settings, client=client)
            )
    except ScribeError as error:
        _refuse(respond, error)
        return
    word = "done" if status == "done" else "won't fix"
    emoji = ":white_check_mark:" if status == "done" else ":heavy_minus_sign:"
    _show(body, client, respond, item_id, *fb.settled_reminder(view, f"{emoji} marked {word} by <@{user_id}>"))
    _announce(client, view.channel_id, f"{emoji} <@{user_id}> marked action item #{view.id} {word}: {fb.item_line(view)}")


def snooze_clicked(body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond, scribe: Scribe) -> None:
    user_id = body["user"]["id"]
    days = fb.SNOOZE_DAYS[action["action_id"]]
    try:
        item_id = _item_id(action)
        with scribe.transaction() as session:
            item, zone = actions.snooze_item(session, item_id=item_id, days=days, user_id=user_id, now=scribe.now(), settings=scribe.settings, client=client)
            view, until = actions.view_of(item), item.snoozed_until
    except ScribeError as error:
        _refuse(respond, error)
        return
    assert until is not None
    _show(body, client, respond, item_id, *fb.snoozed_reminder(view, until, zone))


def reassign_clicked(body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond, scribe: Scribe) -> None:
    user_id = body["user"]["id"]
    new_owner = action.get("selected_user")
    try:
        item_id = _item_id(action)
        if not new_owner:
            raise ScribeError("Pick the person who should own this action item.")
        with scribe.transaction() as session:
            item, previous = actions.reassign_item(
                session, item_id=item_id, new_owner=new_owner, user_id=user_id, now=scribe.now(), settings=scribe.settings, client=client
            )
            view = actions.view_of(item)
    except ScribeError as error:
        _refuse(respond, error)
        return
    _show(body, client, respond, item_id, *fb.settled_reminder(view, f":arrows_counterclockwise: reassigned to <@{new_owner}> by <@{user_id}>"))
    _announce(client, view.channel_id, f":arrows_counterclockwise: <@{user_id}> reassigned action item #{view.id} from <@{previous}> to <@{new_owner}>: {fb.item_line(view)}")


def register(app: App) -> None:
    app.action(fb.DONE)(ack=acknowledge, lazy=[close_clicked])
    app.action(fb.WONTFIX)(ack=acknowledge, lazy=[close_clicked])
    app.action(fb.SNOOZE_DAY)(ack=acknowledge, lazy=[snooze_clicked])
    app.action(fb.SNOOZE_WEEK)(ack=acknowledge, lazy=[snooze_clicked])
    app.action(fb.REASSIGN)(ack=acknowledge, lazy=[reassign_clicked])
