"""The `/incident` slash command: ack with the reply, within Slack's 3 seconds.

Thin: unpack the request, look up in Slack what the subcommand needs (with a client that
fails fast), run the subcommand's row in one transaction (bot.slack.subcommands), and ack
with its reply. Quick subcommands are answered in the ack itself (`response_type:
in_channel` posts the confirmation to the channel without an extra API call); slow ones ack
at once and finish after it, answering through the response URL. What the decision wants
done in Slack is in the outbox by then, and starts when the transaction commits.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot import commands as cmd
from bot.slack import drafts, subcommands
from bot.slack.client import deadline_client
from bot.slack.io import channels, views
from bot.slack.io.replies import reply_to_command
from bot.slack.lazy import reports_failure
from bot.slack.payloads import storable
from bot.slack.scribe import Scribe

# Where the server leaves a command it already parsed (bot.server), so it is parsed once.
ROUTED = "incident_command"


def routed_command(command: dict[str, Any], context: BoltContext, scribe: Scribe) -> subcommands.Routed:
    routed = context.get(ROUTED)
    if routed is None:
        routed = subcommands.route(storable(command.get("text", "") or ""), command=scribe.settings.command)
        context[ROUTED] = routed
    return routed


def call_of(command: dict[str, Any], context: BoltContext, scribe: Scribe) -> subcommands.Call:
    return subcommands.Call(
        team_id=command.get("team_id", ""), channel_id=command.get("channel_id", ""), channel_name=command.get("channel_name"),
        user_id=command.get("user_id", ""), command_id=command.get("trigger_id"), now=scribe.now(), settings=scribe.settings,
        reply_to=reply_to_command(command), bot_user_id=context.bot_user_id,
    )


def _with_slack_facts(call: subcommands.Call, row: subcommands.Subcommand, parsed: Any, client: WebClient, scribe: Scribe) -> subcommands.Call:
    """What the row needs from Slack, asked before its transaction opens (and before the ack,
    so with a client that fails fast rather than wait out a Retry-After): people's profiles,
    and for `start` the bot joining the channel."""
    people = scribe.people_before_ack(client, call.team_id, row.people(call, parsed))
    # Joining is harmless to repeat and its answer says whether the channel is private.
    joined = channels.join_channel(deadline_client(client), call.channel_id) if row.joins else None
    return subcommands.Call(**{**call.__dict__, "people": people, "joined": joined})


def incident_command(ack: Ack, command: dict[str, Any], context: BoltContext, client: WebClient, scribe: Scribe) -> None:
    routed = routed_command(command, context, scribe)
    call = call_of(command, context, scribe)
    if routed.subcommand is not None and routed.subcommand.run is not None and not routed.on_loop:
        call = _with_slack_facts(call, routed.subcommand, routed.parsed, client, scribe)
    reply = subcommands.answer(scribe.session_factory, routed, call, entries=scribe.entry_writer)
    if reply.view is not None:
        # The form opens before the ack: the trigger_id lives only 3 seconds.
        opened, problem = views.open_modal_view(client, trigger_id=command.get("trigger_id", ""), view=reply.view)
        if opened is not None and isinstance(reply.draft, drafts.FormDraft):
            context[drafts.REQUEST] = reply.draft.opened(reply.view, opened)  # for the lazy listener
        ack(response_type="ephemeral", text=f":x: {problem}") if problem else ack()
        return
    if reply.draft is not None:
        context[drafts.REQUEST] = reply.draft
    ack(response_type="in_channel" if reply.in_channel else "ephemeral", text=reply.text, blocks=reply.blocks)


def incident_command_later(command: dict[str, Any], context: BoltContext, client: WebClient, respond: Respond, scribe: Scribe) -> None:
    """After the ack, for the subcommands that may take longer than Slack's deadline, and
    for the AI draft that follows a quick one's reply (bot.slack.drafts)."""
    request = context.get(drafts.REQUEST)
    if request is not None:
        drafts.follow_up(scribe, client, respond, request, team_id=command.get("team_id", ""))
        return
    routed = routed_command(command, context, scribe)
    row = routed.subcommand
    if row is None or row.later is None or isinstance(routed.parsed, cmd.UsageError):
        return
    if isinstance(routed.parsed, cmd.ShowStats) and subcommands.stats_request_problem(routed.parsed, scribe.now(), settings=scribe.settings):
        return  # refused in the ack
    row.later(scribe, client, respond, call_of(command, context, scribe), routed.parsed)


def is_slow_command(command: dict[str, Any], context: BoltContext) -> bool:
    """Whether the command gets a lazy listener: a slow one, or, with AI drafts on, one whose
    reply a draft may follow. Nothing else pays for it (no I/O decides this)."""
    scribe: Scribe = context["scribe"]
    routed = routed_command(command, context, scribe)
    row = routed.subcommand
    if row is None:
        return False
    return row.slow or (drafts.lazy_wanted(scribe.settings) and row.drafts(routed.parsed))


def register(app: App) -> None:
    settings = app.scribe.settings  # type: ignore[attr-defined]
    # Only slow commands get the lazy listener: Bolt deep-copies the whole request for a
    # lazy listener and starts it on a thread, which for a quick command was most of its cost.
    app.command(settings.command, matchers=[is_slow_command])(ack=incident_command, lazy=[reports_failure(incident_command_later)])
    app.command(settings.command)(incident_command)
