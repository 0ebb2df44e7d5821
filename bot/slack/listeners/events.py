"""Event listeners: messages, edits, deletes, 📌 reactions and pins → capture service.

Slack gets its 200 only after what the event changed has committed (process_before_response),
and an exception answers 500 so Slack redelivers. Edits, deletes and 📌 commit in their own
transaction before returning. A new message is queued for a shared write (bot.groupcommit),
and the server answers once that write has committed (bot.server).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.services import capture
from bot.services.capture import CapturedMessage, IncomingMessage
from bot.slack.client import deadline_client, describe_failure, is_transient
from bot.slack.listeners import catchup, home
from bot.slack.message_text import readable_text
from bot.slack.payloads import captured_message, is_recordable, is_tombstone, storable
from bot.slack.scribe import Scribe

log = logging.getLogger(__name__)


def on_message(event: dict[str, Any], context: BoltContext, scribe: Scribe) -> None:
    if not is_recordable(event, bot_user_id=context.bot_user_id, bot_id=context.bot_id):
        return
    # Written in a statement shared with concurrent message events; answered after its commit.
    scribe.message_writer.submit_before_answer(
        IncomingMessage(team_id=context.team_id or "", message=captured_message(event, channel_id=event["channel"]), now=scribe.now())
    )


def on_message_changed(event: dict[str, Any], context: BoltContext, scribe: Scribe) -> None:
    message = event.get("message") or {}
    if message.get("ts") and is_tombstone(message):
        # A deleted thread parent with replies: Slack says "changed to a tombstone", not deleted.
        with scribe.transaction() as session:
            capture.record_delete(session, team_id=context.team_id or "", channel_id=event["channel"], ts=str(message["ts"]), now=scribe.now())
        return
    if not message.get("ts") or not is_recordable(message, bot_user_id=context.bot_user_id, bot_id=context.bot_id):
        return
    previous = event.get("previous_message") or {}
    with scribe.transaction() as session:
        capture.record_edit(
            session,
            team_id=context.team_id or "",
            message=captured_message(message, channel_id=event["channel"]),
            # Read like the message itself: an integration's previous text is in its attachments/blocks.
            previous_text=storable(readable_text(previous)) if isinstance(previous, dict) and previous.get("ts") else None,
            edit_ts=(message.get("edited") or {}).get("ts"),
            now=scribe.now(),
        )


def on_message_deleted(event: dict[str, Any], context: BoltContext, scribe: Scribe) -> None:
    ts = event.get("deleted_ts") or (event.get("previous_message") or {}).get("ts")
    if not ts:
        return
    with scribe.transaction() as session:
        capture.record_delete(session, team_id=context.team_id or "", channel_id=event["channel"], ts=ts, now=scribe.now())


# Edits and deletes are message events with a subtype.
MESSAGE_SUBTYPE_HANDLERS = {"message_changed": on_message_changed, "message_deleted": on_message_deleted}


def on_any_message(event: dict[str, Any], context: BoltContext, client: WebClient, scribe: Scribe) -> None:
    handler = MESSAGE_SUBTYPE_HANDLERS.get(event.get("subtype") or "", on_message)
    handler(event, context, scribe)


def _fetch_message(client: WebClient, channel_id: str, ts: str) -> CapturedMessage | None:
    """Read one message by ts: from history, else from its thread (reactions don't say which).

    None when Slack says it can't be had (not_in_channel, thread_not_found…). A passing
    failure (rate limit, 5xx, timeout) is raised instead: the event then answers 500 and
    Slack redelivers it, so the 📌 is not lost to a bad moment.
    """
    try:
        found = client.conversations_history(channel=channel_id, latest=ts, oldest=ts, inclusive=True, limit=1).get("messages") or []
        if not found:
            found = [m for m in client.conversations_replies(channel=channel_id, ts=ts, limit=1).get("messages") or [] if m.get("ts") == ts]
    except (SlackApiError, SlackClientError, OSError) as error:
        if is_transient(error):
            raise
        log.warning("could not fetch a marked message in %s: %s", channel_id, describe_failure(error))
        return None
    return captured_message(found[0], channel_id=channel_id) if found else None


def on_reaction(event: dict[str, Any], context: BoltContext, client: WebClient, scribe: Scribe) -> None:
    item = event.get("item") or {}
    if event.get("reaction") != scribe.settings.key_reaction or item.get("type") != "message":
        return
    channel_id, ts = item["channel"], item["ts"]
    marked = event["type"] == "reaction_added"
    message = None
    if marked:
        with scribe.transaction() as session:
            fetch = capture.lacks_message(session, team_id=context.team_id or "", channel_id=channel_id, ts=ts)
        # Outside the transaction, and before the ack: no waiting out Retry-After here (Slack redelivers instead).
        message = _fetch_message(deadline_client(client), channel_id, ts) if fetch else None
    with scribe.transaction() as session:
        capture.set_key_mark(
            session, team_id=context.team_id or "", channel_id=channel_id, ts=ts, marker="reaction", user_id=event.get("user") or "",
            marked=marked, now=scribe.now(), message=message,
        )


def on_pin(event: dict[str, Any], context: BoltContext, client: WebClient, scribe: Scribe) -> None:
    item = event.get("item") or {}
    message = item.get("message") or {}
    channel_id = event.get("channel_id") or item.get("channel")
    if item.get("type") != "message" or not message.get("ts") or not channel_id:
        return
    with scribe.transaction() as session:
        capture.set_key_mark(
            session,
            team_id=context.team_id or "",
            channel_id=channel_id,
            ts=message["ts"],
            marker="pin",
            user_id="",
            marked=event["type"] == "pin_added",
            now=scribe.now(),
            message=captured_message(message, channel_id=channel_id),
        )


# Bolt tries listeners in order and builds keyword arguments for every matcher it tries,
# which for an ordinary message was a large part of its cost. So events have one listener,
# registered before all others (see listeners/__init__.py), that routes on the event type.
EVENT_HANDLERS = {
    "message": on_any_message,
    "reaction_added": on_reaction,
    "reaction_removed": on_reaction,
    "pin_added": on_pin,
    "pin_removed": on_pin,
    # Curation (issue 14): the welcome with a catch-up for late joiners; the Home tab.
    "member_joined_channel": catchup.on_member_joined,
    "app_home_opened": home.on_home_opened,
}


def on_event(event: dict[str, Any], context: BoltContext) -> None:
    """Every Events API event; types we don't use (joins, topic changes…) get a quiet 200.

    Asks Bolt for two arguments only and takes the client and the scribe from the context:
    Bolt matches every argument name against all it could inject, on every message."""
    handler = EVENT_HANDLERS.get(event.get("type") or "")
    if handler is not None:
        handler(event, context, context.client, context["scribe"])


def register(app: App) -> None:
    app.event(re.compile(".*"))(on_event)
