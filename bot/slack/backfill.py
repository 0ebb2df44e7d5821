"""Catch-up: read channel history for what was said while the bot was not listening.

Slack stops redelivering events after about an hour, so after longer downtime history
is the only way back. Reading it is slow on purpose: pages are small, requests are
spaced out, 429s wait for Retry-After (slack_sdk's retry handler), and every message
goes through the same idempotent capture as live events, so nothing is recorded twice.
Each page is committed on its own, so a long catch-up never holds a transaction open.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db import transaction
from bot.models import Incident, TimelineEntry
from bot.services.capture import note_heard, read_history_from, record_delete, record_edit, record_message
from bot.slack.client import describe_failure, is_transient
from bot.slack.payloads import captured_message, is_recordable, is_tombstone
from bot.timeparse import datetime_to_slack_ts, slack_ts_to_datetime

log = logging.getLogger(__name__)


@dataclass
class BackfillReport:
    incident_ref: str
    messages_added: int = 0
    edits_applied: int = 0
    threads_checked: int = 0
    pages_read: int = 0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (
            f"Catch-up for {self.incident_ref}: {self.messages_added} missed message(s) recorded, "
            f"{self.edits_applied} edit(s) applied, {self.threads_checked} thread(s) checked."
        )
        if self.problems:
            text += " Problems: " + "; ".join(self.problems)
        return text


@dataclass(frozen=True)
class BotIdentity:
    user_id: str | None
    bot_id: str | None


def _pages(call: Callable[..., object], *, pause: Callable[[], None], **params: object) -> Iterator[list[dict]]:
    cursor: str | None = None
    first = True
    while True:
        if not first:
            pause()
        first = False
        response = call(**params, **({"cursor": cursor} if cursor else {}))
        yield list(response.get("messages") or [])  # type: ignore[attr-defined]
        cursor = ((response.get("response_metadata") or {}).get("next_cursor") or None)  # type: ignore[attr-defined]
        if not cursor:
            return


def _store_page(
    factory: sessionmaker[Session],
    *,
    team_id: str,
    channel_id: str,
    messages: list[dict],
    bot: BotIdentity,
    now: Callable[[], datetime],
    report: BackfillReport,
    since: datetime,
) -> None:
    with transaction(factory) as session:
        for message in messages:
            if is_tombstone(message) and message.get("ts"):
                # A thread parent deleted while we weren't listening: its text goes, as on a delete.
                if slack_ts_to_datetime(str(message["ts"])) >= since:
                    record_delete(session, team_id=team_id, channel_id=channel_id, ts=str(message["ts"]), now=now())
                continue
            if not is_recordable(message, bot_user_id=bot.user_id, bot_id=bot.bot_id):
                continue
            if slack_ts_to_datetime(str(message["ts"])) < since:
                continue  # said before the incident began (e.g. an old thread's parent)
            captured = captured_message(message, channel_id=channel_id)
            if record_message(session, team_id=team_id, message=captured, source="backfill", now=now()):
                report.messages_added += 1
            elif (message.get("edited") or {}).get("ts") and record_edit(
                    session, team_id=team_id, message=captured, previous_text=None, edit_ts=message["edited"]["ts"], now=now()):
                report.edits_applied += 1


def backfill_incident(
    factory: sessionmaker[Session],
    client: WebClient,
    *,
    incident_id: int,
    bot: BotIdentity,
    now: Callable[[], datetime],
    page_size: int = 15,
    pause: Callable[[], None] = lambda: time.sleep(1.0),
) -> BackfillReport:
    started = now()
    with transaction(factory) as session:
        incident = session.get(Incident, incident_id)
        if incident is None or incident.closed_at is not None:
            return BackfillReport(incident_ref=f"INC-{incident_id}", problems=["the incident is not open"])
        team_id, channel_id, since = incident.team_id, incident.channel_id, incident.declared_at
        report = BackfillReport(incident_ref=incident.ref)
        # From where the record is known whole, not from the newest message: one that arrived
        # live after a restart must not hide what was said while the app was down.
        oldest = datetime_to_slack_ts(read_history_from(session, incident))
        known_threads = set(
            session.scalars(
                select(TimelineEntry.thread_ts).where(TimelineEntry.incident_id == incident_id, TimelineEntry.thread_ts.is_not(None)).distinct()
            )
        )

    threads: set[str] = {t for t in known_threads if t}
    try:
        for page in _pages(client.conversations_history, pause=pause, channel=channel_id, oldest=oldest, inclusive=True, limit=page_size):
            report.pages_read += 1
            _store_page(factory, team_id=team_id, channel_id=channel_id, messages=page, bot=bot, now=now, report=report, since=since)
            threads.update(m["ts"] for m in page if m.get("reply_count"))
        for parent in sorted(threads):
            report.threads_checked += 1
            pause()
            for page in _pages(
                client.conversations_replies, pause=pause, channel=channel_id, ts=parent, oldest=max(oldest, parent, key=float), inclusive=True, limit=page_size
            ):
                report.pages_read += 1
                _store_page(factory, team_id=team_id, channel_id=channel_id, messages=page, bot=bot, now=now, report=report, since=since)
        with transaction(factory) as session:
            # Read whole: what was said before we started reading is on record (later messages
            # arrive as events, the app being up).
            note_heard(session, incident_id=incident_id, until=started)
    except (SlackApiError, SlackClientError, OSError) as error:
        # Pages read so far are committed (pages come newest first, so the record may have a
        # gap): the next catch-up reads again from where the record is known whole.
        if is_transient(error):
            hint = " — what was read so far is saved; try `/incident backfill` again in a minute"
        elif isinstance(error, SlackApiError) and error.response.get("error") in {"not_in_channel", "channel_not_found"}:
            hint = " — invite the bot to the channel with /invite"
        else:
            hint = ""
        report.problems.append(f"{describe_failure(error)}{hint}")
        log.warning("backfill of %s stopped: %s", report.incident_ref, describe_failure(error))
    return report


def open_incidents(factory: sessionmaker[Session]) -> list[tuple[int, str]]:
    """(incident id, team id) of every open incident, oldest first."""
    with transaction(factory) as session:
        rows = session.execute(select(Incident.id, Incident.team_id).where(Incident.closed_at.is_(None)).order_by(Incident.id))
        return [(row.id, row.team_id) for row in rows]
