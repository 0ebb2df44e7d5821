"""Answer `/incident stats` and its Share button: the numbers, then the chart.

Runs after the ack (lazy listeners): the statistics are one read-only transaction, the
chart is drawn from them after it, and the chart goes privately to the asker's DM with the
bot, or into the channel when shared. A failed upload never costs the numbers: the person
is told what went wrong.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from bot.db import transaction
from bot.insights.stats import Period, Stats
from bot.services.stats import incident_stats
from bot.slack.blocks.stats import stats_message
from bot.slack.io import files

log = logging.getLogger(__name__)


@dataclass
class StatsAnswer:
    stats: Stats
    text: str
    blocks: list[dict[str, Any]]
    in_channel: bool
    problems: list[str] = field(default_factory=list)

    @property
    def chart_filename(self) -> str:
        p = self.stats.period
        sev = f"-{self.stats.severity}" if self.stats.severity else ""
        return f"incident-stats-{p.start:%Y%m%d}-{p.end:%Y%m%d}{sev}.png"


def stats_answer(session_factory: sessionmaker[Session], *, team_id: str, user_id: str, period: Period,
                 severity: str | None, share: bool, now: datetime) -> StatsAnswer:
    """The message (private with a Share button, or to post in the channel)."""
    with transaction(session_factory) as session:
        stats = incident_stats(session, team_id=team_id, period=period, severity=severity, now=now)
    where = None if stats.empty else ("below" if share else "in your DM with me")
    text, blocks = stats_message(stats, shared_by=user_id if share else None, chart=where)
    return StatsAnswer(stats=stats, text=text, blocks=blocks, in_channel=share)


def deliver_chart(client: WebClient, answer: StatsAnswer, *, user_id: str, channel_id: str) -> None:
    """Upload the weekly chart: to the channel when shared, else to the user's DM. Problems
    are added to `answer.problems`. Nothing to draw for an empty period."""
    if answer.stats.empty:
        return
    from bot.insights.chart import weekly_metrics_chart

    try:
        png = weekly_metrics_chart(answer.stats)
    except Exception as error:  # a drawing failure must not cost the numbers already posted
        log.exception("stats chart failed")
        answer.problems.append(f"The chart couldn't be drawn ({type(error).__name__}).")
        return
    title = f"Incident stats per week: {answer.stats.period.describe()}"
    if answer.in_channel:
        problem = files.upload_file(client, channel_id=channel_id, content=png, filename=answer.chart_filename, title=title)
    else:
        problem = files.upload_file_for_user(client, user_id=user_id, content=png, filename=answer.chart_filename, title=title,
                                             initial_comment="The chart of your `/incident stats` (TTD, TTM, TTR per week).")
    if problem:
        answer.problems.append(problem)


def send_answer(respond: Any, client: WebClient, answer: StatsAnswer, *, user_id: str, channel_id: str) -> None:
    """The numbers through the response URL, then the chart, then what went wrong, if anything."""
    respond(response_type="in_channel" if answer.in_channel else "ephemeral", replace_original=False,
            text=answer.text, blocks=answer.blocks)
    deliver_chart(client, answer, user_id=user_id, channel_id=channel_id)
    if answer.problems:
        respond(response_type="ephemeral", replace_original=False, text="\n".join(f":warning: {p}" for p in answer.problems))


def answer_stats(scribe: Any, client: WebClient, respond: Any, parsed: Any, *, team_id: str, user_id: str, channel_id: str) -> None:
    """`/incident stats …` after its ack (a bad period was already refused in the ack)."""
    from bot.insights.stats import PeriodError, parse_period

    now = scribe.now()
    try:
        period = parse_period(parsed.period, now)
    except PeriodError:
        return
    answer = stats_answer(scribe.session_factory, team_id=team_id, user_id=user_id, period=period, severity=parsed.severity,
                          share=parsed.share, now=now)
    send_answer(respond, client, answer, user_id=user_id, channel_id=channel_id)
