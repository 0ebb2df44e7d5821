"""Incidents and the entries that commands add to their timeline.

Every function takes the caller's Session and never commits: the listener owns the
transaction, so a command either lands whole or not at all.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any, Callable

from sqlalchemy import Select, TextClause, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.db import compile_insert_ignoring, insert_ignoring_duplicates
from bot.models import Incident, RoleAssignment, TimelineEntry
from bot.services.errors import IncidentAlreadyOpen, NoOpenIncident, NotAllowed

MOMENTS = ("started", "detected", "mitigated", "resolved")
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


def insert_into_open_incident(session: Session, rows: list[dict[str, Any]], *, columns: tuple[str, ...], conflict: tuple[str, ...]) -> None:
    """INSERT timeline entries for the open incident of each row's (team_id, channel_id), in one statement.

    The incident is looked up inside the INSERT (… SELECT incidents.id … WHERE open), so a row
    for a channel without an open incident inserts nothing, and a row that hits `conflict`
    (a redelivery, a repeated command) is skipped. The hottest writes (message batches,
    timeline commands) go through here: one round trip, no incident loaded into the session.
    """
    session.connection().execute(_into_open_incident_statement(session, columns, conflict, returning=False), rows)


def _into_open_incident_statement(session: Session, columns: tuple[str, ...], conflict: tuple[str, ...], *, returning: bool) -> TextClause:
    dialect = session.get_bind().dialect
    return _into_open_incident_sql(columns, conflict, returning, dialect.name, dialect.identifier_preparer.quote)


@lru_cache(maxsize=16)
def _into_open_incident_sql(
    columns: tuple[str, ...], conflict: tuple[str, ...], returning: bool, dialect_name: str, quote: Callable[[str], str]
) -> TextClause:
    def parameter(column: str) -> str:
        # PostgreSQL doesn't type a parameter from the INSERT's target column when it sits
        # in a SELECT list, and the JSON value arrives as text.
        return f"CAST(:{column} AS JSON)" if column == "files" and dialect_name == "postgresql" else f":{column}"

    incidents = quote(Incident.__tablename__)
    rows_sql = (
        f"SELECT {incidents}.id, {', '.join(parameter(c) for c in columns)} FROM {incidents} "
        f"WHERE {incidents}.team_id = :team_id AND {incidents}.channel_id = :channel_id AND {incidents}.closed_at IS NULL"
    )
    table = TimelineEntry.__table__
    return compile_insert_ignoring(table, ("incident_id", *columns), rows_sql, columns, conflict, "id" if returning else None, quote)  # type: ignore[arg-type]


_COMMAND_ENTRY_COLUMNS = ("team_id", "channel_id", "command_id", "at", "kind", "text", "author", "source", "key", "recorded_at")


def add_entry_to_open_incident(
    session: Session, *, team_id: str, channel_id: str, kind: str, text: str | None, at: datetime, author: str, command_id: str | None, now: datetime
) -> bool:
    """Record a command entry on the channel's open incident without loading it.
    False when nothing was added: no open incident, or this exact command was already recorded."""
    values = dict(team_id=team_id, channel_id=channel_id, command_id=command_id, at=at, kind=kind, text=text, author=author,
                  source="command", key=False, recorded_at=now)
    statement = _into_open_incident_statement(session, _COMMAND_ENTRY_COLUMNS, ("command_id",), returning=True)
    return session.connection().execute(statement, values).first() is not None


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
    add_command_entry(session, incident=incident, kind="closed", text="Incident closed; recording stopped", at=now, author=user_id, command_id=command_id, now=now)
    incident.closed_at = now


def recent_entries(session: Session, *, incident: Incident, limit: int) -> list[TimelineEntry]:
    rows = session.scalars(
        select(TimelineEntry)
        .where(TimelineEntry.incident_id == incident.id, TimelineEntry.deleted_at.is_(None))
        .order_by(TimelineEntry.at.desc(), TimelineEntry.id.desc())
        .limit(limit)
    ).all()
    return list(reversed(rows))
