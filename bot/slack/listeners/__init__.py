"""All routing lives here and in each module's register(app)."""

from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltRequest

from bot.slack import subcommands
from bot.slack.listeners import catchup, commands, curation, declare, drafts, events, followups, postmortem, tickets, updates
from bot.slack.listeners import stats as stats_listener
from bot.slack.payloads import storable


def register_listeners(app: App) -> None:
    # Events first: message events are by far the most frequent request, and Bolt
    # tries listeners in registration order.
    events.register(app)
    commands.register(app)
    postmortem.register(app)
    followups.register(app)
    tickets.register(app)
    updates.register(app)
    curation.register(app)
    catchup.register(app)
    stats_listener.register(app)
    declare.register(app)
    drafts.register(app)


def waits_only_on_shared_write(command: str) -> Callable[[dict[str, Any], BoltRequest], bool]:
    """For the HTTP server (bot.server): True for the requests whose listener does no I/O but a
    group-commit write (bot.groupcommit): new messages and thread replies, and the commands
    whose registry row says so (`/incident note|finding|…` without `at`, help, usage
    errors; bot.slack.subcommands). The server runs these on its event loop; edits and
    deletes, 📌, other commands and every button open their own transactions or call Slack,
    so they go to its threads. A command is parsed here once, and the listener finds it
    in Bolt's context."""

    def decide(body: dict[str, Any], request: BoltRequest) -> bool:
        if body.get("type") == "event_callback":
            event = body.get("event")
            return isinstance(event, dict) and event.get("type") == "message" and event.get("subtype") not in events.MESSAGE_SUBTYPE_HANDLERS
        if "command" in body:
            text = body.get("text")
            routed = subcommands.route(storable(text if isinstance(text, str) else ""), command=command)
            request.context[commands.ROUTED] = routed
            return routed.on_loop
        return False

    return decide
