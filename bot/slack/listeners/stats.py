"""`/incident stats` after its ack, and the answer's *Share in channel* button.

The ack already said "Working on it…" (or refused a bad period); here the numbers are
sent through the response URL (privately, or in the channel with --share or the
button) and then the chart is uploaded. Works from any channel: statistics are about
the caller's workspace, not the channel.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot import commands as cmd
from bot.insights.stats import PeriodError, parse_period
from bot.slack.publish_stats import StatsAnswer, deliver_chart, stats_answer
from bot.slack.app import Scribe
from bot.slack.blocks import stats as stats_blocks
from bot.slack.lazy import reports_failure


def _send(respond: Respond, client: WebClient, answer: StatsAnswer, *, user_id: str, channel_id: str) -> None:
    respond(response_type="in_channel" if answer.in_channel else "ephemeral", replace_original=False,
            text=answer.text, blocks=answer.blocks)
    deliver_chart(client, answer, user_id=user_id, channel_id=channel_id)
    if answer.problems:
        respond(response_type="ephemeral", replace_original=False, text="\n".join(f":warning: {p}" for p in answer.problems))


def answer_command(parsed: cmd.ShowStats, command: dict[str, Any], client: WebClient, respond: Respond, scribe: Scribe) -> None:
    now = scribe.now()
    try:
        period = parse_period(parsed.period, now)
    except PeriodError:
        return  # already refused in the ack, with the usage
    user_id, channel_id = command.get("user_id", ""), command.get("channel_id", "")
    answer = stats_answer(scribe.session_factory, team_id=command.get("team_id", ""), user_id=user_id, period=period,
                          severity=parsed.severity, share=parsed.share, now=now)
    _send(respond, client, answer, user_id=user_id, channel_id=channel_id)


def _ack_only(ack: Ack) -> None:
    ack()


def share(body: dict[str, Any], client: WebClient, respond: Respond, scribe: Scribe) -> None:
    user_id = body["user"]["id"]
    channel_id = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id", "")
    team_id = (body.get("team") or {}).get("id") or body["user"].get("team_id", "")
    try:
        period, severity = stats_blocks.request_of_share(str(body["actions"][0].get("value", "")))
    except (KeyError, IndexError, TypeError, ValueError):
        respond(response_type="ephemeral", replace_original=False,
                text=":x: This button is out of date. Type `/incident stats` again, or add `--share` to post the answer here.")
        return
    answer = stats_answer(scribe.session_factory, team_id=team_id, user_id=user_id, period=period, severity=severity,
                          share=True, now=scribe.now())
    _send(respond, client, answer, user_id=user_id, channel_id=channel_id)


def register(app: App) -> None:
    app.action(stats_blocks.SHARE)(ack=_ack_only, lazy=[reports_failure(share)])


__all__ = ["answer_command", "register", "share"]
