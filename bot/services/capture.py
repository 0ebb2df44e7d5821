"""Where a Slack message becomes a timeline entry.

Capture is exact and idempotent:
- an entry is keyed by (channel, ts), so redeliveries, reconnect repeats and backfill
  all collapse into one row;
- the entry's time is the message's own ts, never the time we happened to see it;
- a delete leaves a tombstone without text, so a late redelivery of the original
  message cannot bring the text back.
Only channels with an open incident are captured; everything else is dropped unseen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Dialect, Engine, or_, select, update
from sqlalchemy.orm import Session

from bot.db import insert_ignoring_duplicates
from bot.db.direct import DatabaseBusy, LoopStatements, autocommit_driver_connection
from bot.models import EntryEdit, Incident, KeyMark, TimelineEntry
from bot.services.incidents import batch_statements, insert_batch_into_open_incidents, open_incident
from bot.timeparse import datetime_to_slack_ts, slack_ts_to_datetime


class CapturedMessage(NamedTuple):
    """The parts of a Slack message the timeline keeps (see bot.slack.payloads).

    Immutable like a frozen dataclass, but a NamedTuple: every new message builds one, and a
    frozen dataclass took twice as long to build (each field set through object.__setattr__)."""

    channel_id: str
    ts: str
    author: str | None
    text: str
    thread_ts: str | None = None
    files: tuple[dict[str, Any], ...] = ()
    # The name a bot posted under (`username`, `bot_profile.name`); None for people.
    author_name: str | None = None
    # Link previews and images (bot.slack.message_text.links_of).
    links: tuple[dict[str, Any], ...] = ()


def _entry(session: Session, team_id: str, channel_id: str, ts: str) -> TimelineEntry | None:
    return session.scalars(
        select(TimelineEntry).where(TimelineEntry.team_id == team_id, TimelineEntry.channel_id == channel_id, TimelineEntry.ts == ts)
    ).one_or_none()


def _columns(team_id: str, message: CapturedMessage, *, source: str, now: datetime) -> dict[str, Any]:
    """A captured message's row, but for the incident it belongs to."""
    return dict(
        team_id=team_id,
        channel_id=message.channel_id,
        ts=message.ts,
        thread_ts=message.thread_ts if message.thread_ts != message.ts else None,
        at=slack_ts_to_datetime(message.ts),
        kind="message",
        text=message.text,
        author=message.author,
        source=source,
        key=False,
        files=list(message.files) or None,
        recorded_at=now,
        author_name=message.author_name,
        links=list(message.links) or None,
    )


def _values(incident_id: int, team_id: str, message: CapturedMessage, *, source: str, now: datetime) -> dict[str, Any]:
    return {"incident_id": incident_id, **_columns(team_id, message, source=source, now=now)}


def record_message(session: Session, *, team_id: str, message: CapturedMessage, source: str = "message", now: datetime) -> bool:
    """Store a message of an incident channel inside the session's transaction, with the same
    statement as every batch (record_messages); True if it was new, False if already recorded
    or its channel has no open incident."""
    session.flush()
    driver = session.connection().connection.driver_connection
    return bool(insert_batch_into_open_incidents(driver, session.get_bind().dialect, [_columns(team_id, message, source=source, now=now)],
                                                 columns=_MESSAGE_COLUMNS, conflict=_MESSAGE_CONFLICT, returning="id"))


class IncomingMessage(NamedTuple):
    """A message event waiting to be recorded with others in one transaction (see record_messages).
    A NamedTuple for the same reason as CapturedMessage."""

    team_id: str
    message: CapturedMessage
    now: datetime


def record_messages(connection: Any, dialect: Dialect, batch: Sequence[IncomingMessage]) -> None:
    """Store many messages at once, exactly as record_message would one by one.

    One INSERT … SELECT … ON CONFLICT DO NOTHING: each row finds its channel's open
    incident inside the statement (so a message for a channel without one inserts
    nothing), and a redelivered message hits the unique key and is skipped. `connection`
    is the driver's own (see write_messages).
    """
    if batch:
        insert_into_open_incidents(connection, dialect, _message_rows(batch))


def _message_rows(batch: Sequence[IncomingMessage]) -> list[dict[str, Any]]:
    return [_columns(incoming.team_id, incoming.message, source="message", now=incoming.now) for incoming in batch]


def write_messages(engine: Engine, batch: Sequence[IncomingMessage]) -> None:
    """The message writer's write (bot.groupcommit): the batch's one statement is its own
    transaction, so when this returns every message in it is committed."""
    with autocommit_driver_connection(engine) as connection:
        record_messages(connection, engine.dialect, batch)


async def write_messages_on_loop(loop: LoopStatements, engine: Engine, batch: Sequence[IncomingMessage]) -> None:
    """write_messages from the server's event loop (bot.groupcommit): the same statement, over
    the loop's own connection (bot.db.direct.loop_connection_for), which costs this process
    far less than handing the batch to a thread and back (README, Benchmarks). Only when that
    would mean waiting (SQLite's write lock is held by a request thread's transaction or
    another process) does the batch go to a thread, which waits its turn while the loop serves
    on. Repeating a statement is harmless: a row already written hits the unique key."""
    try:
        await insert_into_open_incidents_on_loop(loop, engine.dialect, _message_rows(batch))
    except DatabaseBusy:
        await asyncio.to_thread(write_messages, engine, batch)


# Every column of a captured message's entry but incident_id, which the statement looks up.
_MESSAGE_COLUMNS = (
    "team_id", "channel_id", "ts", "thread_ts", "at", "kind", "text", "author", "source", "key", "files", "recorded_at",
    "author_name", "links",
)


_MESSAGE_CONFLICT = ("team_id", "channel_id", "ts")


def insert_into_open_incidents(connection: Any, dialect: Dialect, rows: list[dict[str, Any]]) -> None:
    insert_batch_into_open_incidents(connection, dialect, rows, columns=_MESSAGE_COLUMNS, conflict=_MESSAGE_CONFLICT)


async def insert_into_open_incidents_on_loop(loop: LoopStatements, dialect: Dialect, rows: list[dict[str, Any]]) -> None:
    """insert_into_open_incidents over the event loop's own connection: the same statements."""
    for sql, parameters in batch_statements(dialect, rows, columns=_MESSAGE_COLUMNS, conflict=_MESSAGE_CONFLICT, numbered=loop.numbered):
        await loop.execute(sql, parameters)


def record_edit(
    session: Session,
    *,
    team_id: str,
    message: CapturedMessage,
    previous_text: str | None,
    edit_ts: str | None,
    now: datetime,
) -> bool:
    """Apply an edit and keep the text it replaced. True if something changed."""
    entry = _entry(session, team_id, message.channel_id, message.ts)
    if entry is None:
        # The edit overtook the original (its delivery failed and is being retried):
        # record the message as it now reads, keeping the older text as history.
        if not record_message(session, team_id=team_id, message=message, now=now):
            return False
        entry = _entry(session, team_id, message.channel_id, message.ts)
        assert entry is not None
        if previous_text is not None and previous_text != message.text and edit_ts:
            entry.edits.append(EntryEdit(previous_text=previous_text, edit_ts=edit_ts, edited_at=slack_ts_to_datetime(edit_ts)))
            entry.edited_at = slack_ts_to_datetime(edit_ts)
        return True
    if entry.deleted_at is None and entry.text == message.text and message.links and not entry.links:
        # Slack's unfurl of a pasted link arrives as a message_changed with the same text.
        entry.links = list(message.links)
        return True
    if entry.deleted_at is not None or entry.text == message.text:
        # Deleted messages stay deleted; Slack also sends message_changed for unfurls
        # and new thread replies, which change nothing we keep.
        return False
    stamp = edit_ts or datetime_to_slack_ts(now)
    if any(e.edit_ts == stamp for e in entry.edits):
        return False
    edited_at = slack_ts_to_datetime(stamp)
    entry.edits.append(EntryEdit(previous_text=entry.text, edit_ts=stamp, edited_at=edited_at))
    entry.text = message.text
    entry.files = list(message.files) or entry.files
    entry.links = list(message.links) or entry.links
    entry.edited_at = edited_at
    # A form opened on the old text (bot.services.curation) must not overwrite this edit.
    entry.version = (entry.version or 1) + 1
    return True


def record_delete(session: Session, *, team_id: str, channel_id: str, ts: str, now: datetime) -> bool:
    """Purge a deleted message's text and history; leave a tombstone so it can't come back."""
    entry = _entry(session, team_id, channel_id, ts)
    if entry is None:
        incident = open_incident(session, team_id=team_id, channel_id=channel_id)
        if incident is None:
            return False
        tombstone = CapturedMessage(channel_id=channel_id, ts=ts, author=None, text="")
        values = _values(incident.id, incident.team_id, tombstone, source="message", now=now) | {"text": None, "deleted_at": now}
        return insert_ignoring_duplicates(session, TimelineEntry, values, ["team_id", "channel_id", "ts"])
    if entry.deleted_at is not None:
        return False
    entry.text = None
    entry.files = None
    entry.links = None
    entry.deleted_at = now
    entry.key = False
    entry.edits.clear()
    entry.key_marks.clear()
    return True


def lacks_message(session: Session, *, team_id: str, channel_id: str, ts: str) -> bool:
    """True when a message of an open incident's channel isn't recorded (a 📌 on a message from
    before `/incident start`, or one that was missed): it must be fetched to be marked."""
    return _entry(session, team_id, channel_id, ts) is None and open_incident(session, team_id=team_id, channel_id=channel_id) is not None


def set_key_mark(
    session: Session,
    *,
    team_id: str,
    channel_id: str,
    ts: str,
    marker: str,
    user_id: str,
    marked: bool,
    now: datetime,
    message: CapturedMessage | None = None,
) -> bool:
    """Mark (📌 reaction or pin) or unmark a message as a key event. True if the key flag changed.

    A message we don't have yet (posted before `/incident start`, or missed) is recorded
    from `message` (fetched from Slack beforehand, see `lacks_message`), with the marker as
    its source.
    """
    entry = _entry(session, team_id, channel_id, ts)
    if entry is None:
        if not marked or message is None or open_incident(session, team_id=team_id, channel_id=channel_id) is None:
            return False
        record_message(session, team_id=team_id, message=message, source=marker, now=now)
        entry = _entry(session, team_id, channel_id, ts)
        if entry is None:
            return False
    if entry.deleted_at is not None:
        return False
    was_key = entry.key
    existing = next((m for m in entry.key_marks if m.marker == marker and m.user_id == user_id), None)
    if marked and existing is None:
        entry.key_marks.append(KeyMark(marker=marker, user_id=user_id, marked_at=now))
    elif not marked and existing is not None:
        entry.key_marks.remove(existing)
    entry.key = bool(entry.key_marks)
    return entry.key != was_key


# Slack redelivers an event it got no answer for after 1 and 5 minutes: a message may arrive
# that long after it was said, so a running process vouches only for what is older.
LATE_EVENTS = timedelta(minutes=10)


def read_history_from(session: Session, incident: Incident) -> datetime:
    """Where a catch-up of this incident's channel starts: everything before is recorded."""
    return incident.heard_until or incident.declared_at


def note_heard(session: Session, *, incident_id: int, until: datetime) -> None:
    """A read of the channel's history got to `until` without a gap."""
    session.execute(
        update(Incident).where(Incident.id == incident_id, or_(Incident.heard_until.is_(None), Incident.heard_until < until))
        .values(heard_until=until)
    )


def note_heard_while_up(session: Session, *, up_since: datetime, now: datetime) -> int:
    """A process that has been receiving events since `up_since` vouches for every open
    incident it has caught up on (heard up to at least `up_since`: by its own catch-up, or
    started while it was up): all was heard until LATE_EVENTS ago. Returns how many moved."""
    until = now - LATE_EVENTS
    result = session.execute(
        update(Incident).where(Incident.closed_at.is_(None), Incident.heard_until >= up_since, Incident.heard_until < until)
        .values(heard_until=until)
    )
    return int(getattr(result, "rowcount", 0) or 0)
