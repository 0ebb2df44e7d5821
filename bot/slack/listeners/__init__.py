"""All routing lives here and in each module's register(app)."""

from typing import Any

from slack_bolt import App

from bot import commands as cmd
from bot.slack.listeners import catchup, commands, curation, declare, events, followups, postmortem, updates
from bot.slack.listeners import stats as stats_listener


def register_listeners(app: App) -> None:
    # Events first: message events are by far the most frequent request, and Bolt
    # tries listeners in registration order.
    events.register(app)
    commands.register(app)
    postmortem.register(app)
    followups.register(app)
    updates.register(app)
    curation.register(app)
    catchup.register(app)
    stats_listener.register(app)
    declare.register(app)


def waits_only_on_shared_write(body: dict[str, Any]) -> bool:
    """True for the requests whose listener does no I/O but a group-commit write
    (bot.groupcommit): new messages and thread replies, and `/incident note|finding|…`
    without `at`, plus help and usage errors, which do none at all. The HTTP server runs
    these on its event loop (bot.server); edits and deletes, 📌, other commands and every
    button open their own transactions or call Slack, so they go to its threads.
    """
    if body.get("type") == "event_callback":
        event = body.get("event")
        return isinstance(event, dict) and event.get("type") == "message" and event.get("subtype") not in events.MESSAGE_SUBTYPE_HANDLERS
    if "command" in body:
        text = body.get("text")
        parsed = cmd.parse_command(text if isinstance(text, str) else "")
        return (isinstance(parsed, cmd.Entry) and parsed.at is None) or isinstance(parsed, (cmd.Help, cmd.UsageError))
    return False
