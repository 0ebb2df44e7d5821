"""The `/incident` slash command: ack with the reply, within Slack's 3 seconds.

Quick commands are answered in the ack itself (`response_type: in_channel` posts the
confirmation to the channel without an extra API call). Slow ones (postmortem,
backfill) ack at once and finish in a lazy listener that answers via response_url.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot import commands as cmd
from bot.services import slash
from bot.slack.backfill import BotIdentity, backfill_incident
from bot.services.incidents import require_open_incident
from bot.services.errors import ScribeError
from bot.slack.app import Scribe
from bot.slack.client import deadline_client
from bot.slack.io import views
from bot.slack.listeners import declare, postmortem
from bot.slack.listeners import stats as stats_listener
from bot.slack.lazy import reports_failure


def invocation(command: dict[str, Any], scribe: Scribe) -> slash.Invocation:
    return slash.Invocation(
        team_id=command.get("team_id", ""),
        channel_id=command.get("channel_id", ""),
        channel_name=command.get("channel_name"),
        user_id=command.get("user_id", ""),
        command_id=command.get("trigger_id"),
        now=scribe.now(),
    )


def incident_command(ack: Ack, command: dict[str, Any], client: WebClient, scribe: Scribe) -> None:
    reply, _ = slash.handle(
        scribe.session_factory,
        command.get("text", ""),
        invocation(command, scribe),
        settings=scribe.settings,
        client=deadline_client(client),
        entries=scribe.entry_writer,
    )
    if reply.view is not None:
        # The form opens before the ack: the trigger_id lives only 3 seconds.
        problem = views.open_modal(client, trigger_id=command.get("trigger_id", ""), view=reply.view)
        ack(response_type="ephemeral", text=f":x: {problem}") if problem else ack()
        return
    ack(response_type="in_channel" if reply.in_channel else "ephemeral", text=reply.text, blocks=reply.blocks)


def incident_command_slow(command: dict[str, Any], client: WebClient, respond: Respond, context: Any, scribe: Scribe) -> None:
    """Runs after the ack for commands that may take longer than Slack's deadline."""
    parsed = cmd.parse_command(command.get("text", "") or "")
    inv = invocation(command, scribe)
    if isinstance(parsed, cmd.Backfill):
        try:
            with scribe.transaction() as session:
                incident_id = require_open_incident(session, team_id=inv.team_id, channel_id=inv.channel_id, command=scribe.settings.command).id
        except ScribeError as error:
            respond(response_type="ephemeral", text=f":x: {error}")
            return
        report = backfill_incident(
            scribe.session_factory,
            client,
            incident_id=incident_id,
            bot=BotIdentity(user_id=context.bot_user_id, bot_id=context.bot_id),
            now=scribe.now,
            page_size=scribe.settings.history_page_size,
            pause=scribe.history_pause,
        )
        respond(response_type="ephemeral", text=report.summary())
    elif isinstance(parsed, cmd.Declare):
        declare.declare_from_command(command, parsed, client, respond, context, scribe)
    elif isinstance(parsed, cmd.Postmortem):
        try:
            published = postmortem.publish(scribe, client, user_id=inv.user_id, channel=(inv.team_id, inv.channel_id), template=parsed.template)
        except ScribeError as error:
            respond(response_type="ephemeral", text=f":x: {error}")
            return
        respond(response_type="ephemeral", text=published.text())
    elif isinstance(parsed, cmd.ShowStats):
        stats_listener.answer_command(parsed, command, client, respond, scribe)


def is_slow_command(command: dict[str, Any]) -> bool:
    # Every command passes this matcher, so it reads the first word only; the text is parsed
    # once, in slash.handle. A slow subcommand with bad arguments gets its usage error from
    # there too, and its lazy half then has nothing to do.
    return cmd.subcommand_of(command.get("text", "") or "") in slash.SLOW_SUBCOMMANDS


def changes_announcement(command: dict[str, Any]) -> bool:
    """Commands after which the announcement is edited to match (first word only, like is_slow_command)."""
    return cmd.subcommand_of(command.get("text", "") or "") in slash.ANNOUNCED_SUBCOMMANDS


def register(app: App) -> None:
    settings = app.scribe.settings  # type: ignore[attr-defined]
    # Only slow commands get the lazy listener: Bolt deep-copies the whole request for a
    # lazy listener and starts it on a thread, which for a quick command was most of its cost.
    app.command(settings.command, matchers=[is_slow_command])(ack=incident_command, lazy=[reports_failure(incident_command_slow)])
    app.command(settings.command, matchers=[changes_announcement])(ack=incident_command, lazy=[reports_failure(declare.announce_after_command)])
    app.command(settings.command)(incident_command)
