"""Statistics across a workspace's incidents: read the rows, let bot.insights.stats count.

Three statements whatever the number of incidents (incidents, their action items, their
postmortems' status), each over the current and the previous period at once, and only the
columns the statistics need: 10,000 incidents take well under a second (the *stats* row of
`make bench`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from bot.insights.stats import ActionRecord, IncidentRecord, Period, Stats, compute_stats
from bot.models import ActionItem, Incident, ItemTicket, Postmortem

__all__ = ["incident_stats", "private_flag"]


def private_flag() -> ColumnElement[bool]:
    """Whether an incident is private: the one place that knows."""
    return Incident.is_private.expression


def incident_stats(
    session: Session,
    *,
    team_id: str,
    period: Period,
    severity: str | None,
    now: datetime,
    include_private: bool = False,
) -> Stats:
    """Statistics of `team_id`'s incidents whose impact started in `period` (and of the
    `severity` given), with those of the period just before it for the trend. Private
    incidents are counted; their titles are shown only with `include_private` (for a reader
    known to be a member of their channels)."""
    before = period.previous()
    where: list[Any] = [Incident.team_id == team_id, Incident.began_at >= before.start, Incident.began_at < period.end]
    if severity is not None:
        where.append(Incident.severity == severity)

    # Core rows straight from the connection: the ORM's row loading would double the cost.
    connection = session.connection()
    incidents = [
        IncidentRecord(id_, title, sev, declared, started, detected, mitigated, resolved, bool(private))
        for id_, title, sev, declared, started, detected, mitigated, resolved, private in connection.execute(
            select(
                Incident.id, Incident.title, Incident.severity, Incident.declared_at, Incident.started_at,
                Incident.detected_at, Incident.mitigated_at, Incident.resolved_at, private_flag().label("private"),
            ).where(*where)
        )
    ]
    # An item with a ticket counts by its ticket's status: the status read back is the item's
    # (bot.services.tickets), closed when the tracker closed it.
    actions = [
        ActionRecord(incident_id, status, due_date, due_at, created_at, closed_at, ticket_key is not None)
        for incident_id, status, due_date, due_at, created_at, closed_at, ticket_key in connection.execute(
            select(ActionItem.incident_id, ActionItem.status, ActionItem.due_date, ActionItem.due_at,
                   ActionItem.created_at, ActionItem.closed_at, ItemTicket.ticket_key)
            .join(Incident, Incident.id == ActionItem.incident_id)
            .outerjoin(ItemTicket, ItemTicket.action_item_id == ActionItem.id)
            .where(*where)
        )
    ]
    statuses: dict[int, str] = dict(connection.execute(
            select(Postmortem.incident_id, Postmortem.status).join(Incident, Incident.id == Postmortem.incident_id).where(*where)
        ).tuples().all())
    common = dict(team_id=team_id, severity=severity, now=now, incidents=incidents, actions=actions,
                  postmortems=statuses, show_private_titles=include_private)
    previous = compute_stats(period=before, **common)  # type: ignore[arg-type]
    return compute_stats(period=period, previous=previous, **common)  # type: ignore[arg-type]


def teams_with_incidents(session: Session) -> list[str]:
    """Every team that has recorded an incident, for `scribe stats` without `--team`."""
    return list(session.scalars(select(Incident.team_id).distinct().order_by(Incident.team_id)))
