"""Incidents and the entries that commands add to their timeline.

Every function takes the caller's Session and never commits: the listener owns the
transaction, so a command either lands whole or not at all. The exception is the group-commit
write of timeline commands (write_command_entries), which is its own one-statement transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Dialect, Engine, Select, Table, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.db import insert_ignoring_duplicates, insert_ignoring_sql
from bot.db.direct import autocommit_driver_connection
from bot.lifecycle import MILESTONES
from bot.models import Declaration, Incident, RoleAssignment, TimelineEntry
from bot.services.errors import IncidentAlreadyOpen, NoOpenIncident, NotAllowed

MOMENTS = MILESTONES
ENTRY_KINDS = ("note", "finding", "hypothesis", "mitigation", "decision", "rootcause", "status")
ROLES = ("lead", "comms", "scribe")


def open_incident(session: Session, *, team_id: str, channel_id: str) -> Incident | None:
    # Every command and captured edit starts here: the query is built once, not per call.
    return session.scalars(_open_incident_query(), {"team_id": team_id, "channel_id": channel_id}).one_or_none()


@lru_cache(maxsize=1)
def _open_incident_query() -> Select[tuple[Incident]]:
    return select(Incident).where(
        Incident.team_id == bindparam("team_id"), Incident.channel_id == bindparam("channel_id"), Incident.closed_at.is_(None)
    )


def require_open_incident(session: Session, *, team_id: str, channel_id: str, command: str = "/incident") -> Incident:
    incident = open_incident(session, team_id=team_id, channel_id=channel_id)
    if incident is None:
        raise NoOpenIncident(command)
    return incident


def latest_incident(session: Session, *, channel_id: str, team_id: str | None = None) -> Incident | None:
    """The open incident of a channel, else its most recently declared one."""
    query = select(Incident).where(Incident.channel_id == channel_id)
    if team_id is not None:
        query = query.where(Incident.team_id == team_id)
    return session.scalars(query.order_by(Incident.closed_at.is_not(None), Incident.declared_at.desc()).limit(1)).first()


def teams_with_channel(session: Session, *, channel_id: str) -> list[str]:
    """Teams that have had an incident in a channel with this id (ids are only unique per team)."""
    return list(session.scalars(select(Incident.team_id).where(Incident.channel_id == channel_id).distinct().order_by(Incident.team_id)))


def insert_batch_into_open_incidents(
    connection: Any,
    dialect: Dialect,
    rows: Sequence[dict[str, Any]],
    *,
    columns: tuple[str, ...],
    conflict: tuple[str, ...],
    returning: str | None = None,
) -> list[Any]:
    """INSERT timeline entries, each for the open incident of its row's (team_id, channel_id).

    The incident is looked up inside the statement, so a row for a channel without an open
    incident inserts nothing and no incident is loaded; a row that hits `conflict` (a
    redelivery) is skipped. The whole batch is ONE statement (on SQLite, one per
    SQLITE_ROWS_PER_STATEMENT rows), so on an autocommit connection (bot.db.direct.autocommit_driver_connection)
    a batch is one commit: one round trip on PostgreSQL, one call into SQLite. Message events,
    the busiest write there is, go through here (see bot.groupcommit). `connection` is the
    driver's own (sqlite3 or psycopg), which both have `execute(sql, parameters)`.

    How the rows travel differs: SQLite gets a VALUES list with the columns' own bind
    conversions (so a row reads back exactly like an ORM-written one); PostgreSQL gets one
    JSON parameter unpacked by json_to_recordset, because psycopg re-parses, on every call,
    a query with more than 50 parameters, and that cost more than the insert.

    Returns the `returning` column of the rows inserted (in no particular order), else [].
    """
    inserted: list[Any] = []
    for sql, parameters in batch_statements(dialect, rows, columns=columns, conflict=conflict, returning=returning):
        cursor = connection.execute(sql, parameters)
        if returning:
            inserted.extend(row[0] for row in cursor.fetchall())
    return inserted


def batch_statements(
    dialect: Dialect, rows: Sequence[dict[str, Any]], *, columns: tuple[str, ...], conflict: tuple[str, ...], returning: str | None = None,
    numbered: bool = False,
) -> list[tuple[str, tuple[Any, ...]]]:
    """The statements that insert `rows` (see insert_batch_into_open_incidents): SQL in the
    driver's own paramstyle (PostgreSQL's own $1 with `numbered`, for bot.db.direct.LoopConnection),
    and its parameters."""
    if dialect.name == "postgresql":
        payload = _BATCH_JSON.encode(list(rows))
        return [(_batch_sql(dialect, columns, conflict, returning, 0, numbered), (payload,))]
    values_of, conversions = _sqlite_row_reader(dialect, columns)
    statements = []
    for start in range(0, len(rows), SQLITE_ROWS_PER_STATEMENT):
        chunk = rows[start : start + SQLITE_ROWS_PER_STATEMENT]
        values: list[Any] = []
        for row in chunk:
            row_values = list(values_of(row))
            for i, to_db, none_to_db in conversions:
                value = row_values[i]
                row_values[i] = none_to_db if value is None else to_db(value)
            values += row_values
        statements.append((_batch_sql(dialect, columns, conflict, returning, len(chunk)), tuple(values)))
    return statements


@lru_cache(maxsize=8)
def _sqlite_row_reader(
    dialect: Dialect, columns: tuple[str, ...]
) -> tuple[Callable[[dict[str, Any]], tuple[Any, ...]], tuple[tuple[int, Callable[[Any], Any], Any], ...]]:
    """A row's values in column order (one C call), and for each column with a bind
    conversion: its position, the conversion, and what it makes of None. Most columns are
    text, and testing each for a conversion on every row took as long as converting the
    others; and a JSON column's None (no files, no links: most messages) is serialised the
    same way every time, so once here."""
    convert = _bind_conversions(dialect, columns)
    pick = itemgetter(*columns)
    values_of = pick if len(columns) > 1 else (lambda row: (pick(row),))
    return values_of, tuple((i, to_db, to_db(None)) for i, to_db in enumerate(convert) if to_db is not None)


# Old SQLite builds allow 999 parameters in a statement; timeline rows have at most 14 columns.
SQLITE_ROWS_PER_STATEMENT = 64


def _json_value(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()  # aware UTC, microseconds kept: PostgreSQL reads it exactly
    raise TypeError(f"can't send a {type(value).__name__} as JSON")


# Built once: json.dumps with options builds a new encoder on every call, which cost about a
# fifth of encoding a batch of six messages.
_BATCH_JSON = json.JSONEncoder(default=_json_value, separators=(",", ":"))


@lru_cache(maxsize=8)
def _bind_conversions(dialect: Dialect, columns: tuple[str, ...]) -> tuple[Callable[[Any], Any] | None, ...]:
    table = TimelineEntry.__table__
    return tuple(table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns)


@lru_cache(maxsize=128)
def _batch_sql(
    dialect: Dialect, columns: tuple[str, ...], conflict: tuple[str, ...], returning: str | None, rows: int, numbered: bool = False
) -> str:
    """`WITH v AS (<the rows>) INSERT … SELECT incidents.id, v.… FROM v JOIN incidents …` for
    `rows` rows (SQLite) or any number (PostgreSQL, rows=0), in the driver's own paramstyle
    or, `numbered`, PostgreSQL's."""
    quote = dialect.identifier_preparer.quote
    table = TimelineEntry.__table__
    names = ", ".join(quote(c) for c in columns)
    if dialect.name == "postgresql":
        typed = ", ".join(f"{quote(c)} {table.c[c].type.compile(dialect=dialect)}" for c in columns)
        rows_sql = f"SELECT * FROM json_to_recordset({'$1' if numbered else '%s'}::json) AS r({typed})"
    else:
        row = "(" + ", ".join("?" for _ in columns) + ")"
        rows_sql = "VALUES " + ", ".join(row for _ in range(rows))
    incidents = quote(Incident.__tablename__)
    # The WHERE also settles SQLite's reading of the ON that follows a JOIN … ON.
    select_sql = (
        f"SELECT {incidents}.id, {', '.join('v.' + quote(c) for c in columns)} FROM v JOIN {incidents} "
        f"ON {incidents}.team_id = v.team_id AND {incidents}.channel_id = v.channel_id WHERE {incidents}.closed_at IS NULL"
    )
    return f"WITH v ({names}) AS ({rows_sql}) " + insert_ignoring_sql(cast(Table, table), ("incident_id", *columns), select_sql, conflict, returning, quote)


@dataclass(frozen=True)
class CommandEntry:
    """A timeline command without a time (`/incident note …`), waiting to be written with
    others in one statement (see write_command_entries)."""

    team_id: str
    channel_id: str
    kind: str
    text: str | None
    author: str
    # The slash command's trigger_id: Slack's retries of one command carry the same one.
    command_id: str
    now: datetime


_COMMAND_ENTRY_COLUMNS = ("team_id", "channel_id", "command_id", "at", "kind", "text", "author", "source", "key", "recorded_at")


def write_command_entries(engine: Engine, batch: Sequence[CommandEntry]) -> list[bool]:
    """Record each entry on its channel's open incident, all in one autocommit statement.

    For each entry, in order: True if it is on the timeline now (added, or the same command
    already was), False if its channel has no open incident. The most-typed command goes
    this way, through a group commit (bot.groupcommit), because at 50 concurrent senders one
    transaction per command queued every command behind the last one's interpreter-lock
    waits: p99 ack near 600 ms, against about 100 ms this way (README, Benchmarks).
    """
    rows = [
        dict(team_id=e.team_id, channel_id=e.channel_id, command_id=e.command_id, at=e.now, kind=e.kind, text=e.text,
             author=e.author, source="command", key=False, recorded_at=e.now)
        for e in batch
    ]
    with autocommit_driver_connection(engine) as connection:
        added = set(insert_batch_into_open_incidents(
            connection, engine.dialect, rows, columns=_COMMAND_ENTRY_COLUMNS, conflict=("command_id",), returning="command_id",
        ))
    if len(added) == len({e.command_id for e in batch}):
        return [True] * len(batch)
    # Not inserted now: a repeat of a recorded command, or no open incident. Tell them apart.
    with engine.connect() as connection:
        recorded = set(connection.scalars(select(TimelineEntry.command_id).where(TimelineEntry.command_id.in_([e.command_id for e in batch]))))
    return [e.command_id in added or e.command_id in recorded for e in batch]


def add_command_entry(
    session: Session,
    *,
    incident: Incident,
    kind: str,
    text: str | None,
    at: datetime,
    author: str,
    command_id: str | None,
    now: datetime,
) -> bool:
    """Record a command on the timeline; False if this exact command was already recorded."""
    return insert_ignoring_duplicates(
        session,
        TimelineEntry,
        dict(
            incident_id=incident.id,
            team_id=incident.team_id,
            channel_id=incident.channel_id,
            ts=None,
            command_id=command_id,
            at=at,
            kind=kind,
            text=text,
            author=author,
            source="command",
            key=False,
            recorded_at=now,
        ),
        ["command_id"],
    )


def start_incident(
    session: Session,
    *,
    team_id: str,
    channel_id: str,
    channel_name: str | None,
    title: str,
    severity: str | None,
    user_id: str,
    now: datetime,
    command_id: str | None,
) -> Incident:
    existing = open_incident(session, team_id=team_id, channel_id=channel_id)
    if existing is not None:
        raise IncidentAlreadyOpen(existing.ref, existing.title)
    incident = Incident(
        team_id=team_id,
        channel_id=channel_id,
        channel_name=channel_name,
        title=title,
        severity=severity,
        created_by=user_id,
        declared_at=now,
        heard_until=now,  # recorded from its first second
    )
    session.add(incident)
    try:
        # The partial unique index settles a race between two simultaneous starts.
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        existing = open_incident(session, team_id=team_id, channel_id=channel_id)
        raise IncidentAlreadyOpen(existing.ref if existing else "an incident", existing.title if existing else "") from None
    summary = title + (f" ({severity})" if severity else "")
    add_command_entry(session, incident=incident, kind="declared", text=summary, at=now, author=user_id, command_id=command_id, now=now)
    return incident


def record_moment(
    session: Session,
    *,
    incident: Incident,
    moment: str,
    at: datetime,
    text: str,
    user_id: str,
    command_id: str | None,
    now: datetime,
) -> datetime | None:
    """Set when the failure started/was detected/mitigated/resolved; returns the previous value."""
    if moment not in MOMENTS:
        raise ValueError(f"unknown moment {moment!r}")
    attribute = f"{moment}_at"
    previous = getattr(incident, attribute)
    setattr(incident, attribute, at)
    add_command_entry(session, incident=incident, kind=moment, text=text or None, at=at, author=user_id, command_id=command_id, now=now)
    return previous


def set_severity(session: Session, *, incident: Incident, level: str, user_id: str, command_id: str | None, now: datetime) -> str | None:
    previous = incident.severity
    incident.severity = level
    text = f"Severity changed from {previous} to {level}" if previous else f"Severity set to {level}"
    add_command_entry(session, incident=incident, kind="severity", text=text, at=now, author=user_id, command_id=command_id, now=now)
    return previous


def set_title(session: Session, *, incident: Incident, title: str, user_id: str, command_id: str | None, now: datetime) -> str:
    """Rename the incident; returns the previous title."""
    previous = incident.title
    incident.title = title
    add_command_entry(session, incident=incident, kind="title", text=f"Title changed from “{previous}” to “{title}”", at=now,
                      author=user_id, command_id=command_id, now=now)
    return previous


def assign_role(session: Session, *, incident: Incident, role: str, assignee: str, user_id: str, command_id: str | None, now: datetime) -> None:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    current = next((r for r in incident.roles if r.role == role), None)
    if current is None:
        incident.roles.append(RoleAssignment(role=role, user_id=assignee, assigned_at=now))
    else:
        current.user_id = assignee
        current.assigned_at = now
    add_command_entry(session, incident=incident, kind="role", text=f"<@{assignee}> is {role}", at=now, author=user_id, command_id=command_id, now=now)


def may_act_as_lead(incident: Incident, user_id: str, *, rule: str) -> bool:
    """The lead, or whoever started the incident, may do privileged things (unless the rule is 'anyone')."""
    if rule == "anyone":
        return True
    return user_id in {incident.created_by, incident.role_holder("lead")}


def close_incident(session: Session, *, incident: Incident, user_id: str, rule: str, command_id: str | None, now: datetime) -> None:
    if not may_act_as_lead(incident, user_id, rule=rule):
        lead = incident.role_holder("lead")
        who = f"the incident lead (<@{lead}>)" if lead else "the incident lead"
        raise NotAllowed(f"Only {who} or the person who started it (<@{incident.created_by}>) can close {incident.ref}.")
    add_command_entry(session, incident=incident, kind="closed", text="Incident closed; recording stopped", at=now, author=user_id,
                      command_id=command_id, now=now)
    incident.closed_at = now


def recent_entries(session: Session, *, incident: Incident, limit: int) -> list[TimelineEntry]:
    rows = session.scalars(
        select(TimelineEntry)
        .where(TimelineEntry.incident_id == incident.id, TimelineEntry.deleted_at.is_(None))
        .order_by(TimelineEntry.at.desc(), TimelineEntry.id.desc())
        .limit(limit)
    ).all()
    return list(reversed(rows))


def invited_when_declared(session: Session, incident: Incident, user_id: str) -> bool:
    """Whether `/incident declare` (or its form) brought this person into the channel."""
    row = session.scalars(select(Declaration).where(Declaration.incident_id == incident.id)).first()
    return row is not None and (user_id == row.user_id or user_id in (row.people or []))
