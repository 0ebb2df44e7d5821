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

from bot.slack.blocks import stats as stats_blocks
from bot.slack.lazy import reports_failure
from bot.slack.publish_stats import send_answer, stats_answer
from bot.slack.scribe import Scribe


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
    send_answer(respond, client, answer, user_id=user_id, channel_id=channel_id)


def register(app: App) -> None:
    app.action(stats_blocks.SHARE)(ack=_ack_only, lazy=[reports_failure(share)])


__all__ = ["register", "share"]
