"""One incident as plain data: the JSON export, and the facts a postmortem is drafted from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.models import ActionItem, Incident, TimelineEntry
from bot.postmortem.context import compute_metrics
from bot.postmortem.facts import ActionFact, EntryFact, FileRef, IncidentFacts, LinkRef, TicketFact
from bot.services.actions import ticket_view
from bot.timefmt import iso_utc


def _iso(value: datetime | None) -> str | None:
    return iso_utc(value) if value is not None else None


def live_entries(session: Session, incident: Incident) -> list[TimelineEntry]:
    """Entries in chronological order; deleted messages are left out entirely."""
    return list(
        session.scalars(
            select(TimelineEntry)
            .where(TimelineEntry.incident_id == incident.id, TimelineEntry.deleted_at.is_(None))
            .order_by(TimelineEntry.at, TimelineEntry.id)
        )
    )


def incident_facts(incident: Incident) -> IncidentFacts:
    return IncidentFacts(
        id=incident.id,
        ref=incident.ref,
        title=incident.title,
        severity=incident.severity,
        status=incident.status,
        channel_id=incident.channel_id,
        channel_name=incident.channel_name,
        declared_at=incident.declared_at,
        started_at=incident.started_at,
        detected_at=incident.detected_at,
        mitigated_at=incident.mitigated_at,
        resolved_at=incident.resolved_at,
        closed_at=incident.closed_at,
        created_by=incident.created_by,
        roles={r.role: r.user_id for r in incident.roles},
    )


def entry_facts(entries: list[TimelineEntry]) -> list[EntryFact]:
    """What a postmortem is drafted from: entries hidden from the postmortem are left out;
    a message marked through "Add to timeline" carries the kind chosen for it (`marked_as`)."""
    return [
        EntryFact(
            at=e.at,
            kind=e.kind,
            # None means "deleted" to the drafting core; a command without text (a bare
            # `/incident mitigated`) was never deleted and keeps its author on the timeline.
            text=e.text if e.text is not None or e.source != "command" else "",
            author=e.author,
            source=e.source,
            key=e.key,
            ts=e.ts,
            thread_ts=e.thread_ts,
            files=tuple(FileRef(name=f.get("name") or "file", permalink=f.get("permalink")) for f in (e.files or [])),
            edited=e.edited_at is not None,
            author_name=e.author_name,
            links=link_refs(e.links),
            edited_by=e.corrected_by,
            marked_as=e.key_kind if e.kind == "message" and e.key_kind != "message" else None,
            entry_id=e.id,
        )
        for e in entries
        if not e.hidden
    ]


def link_refs(links: list[Any] | None) -> tuple[LinkRef, ...]:
    return tuple(
        LinkRef(url=str(link["url"]), title=link.get("title") or None, image_url=link.get("image_url") or None)
        for link in links or []
        if isinstance(link, dict) and isinstance(link.get("url"), str)
    )


def action_items(session: Session, incident: Incident) -> list[ActionItem]:
    return list(session.scalars(select(ActionItem).where(ActionItem.incident_id == incident.id).order_by(ActionItem.id)))


def action_facts(items: list[ActionItem]) -> list[ActionFact]:
    return [
        ActionFact(id=a.id, text=a.text, owner=a.owner_id, due=a.due_date, due_at=a.due_at, priority=a.priority, status=a.status,
                   ticket=ticket_fact(a))
        for a in items
    ]


def ticket_fact(item: ActionItem) -> TicketFact | None:
    ticket = ticket_view(item.ticket)
    if ticket is None:
        return None
    return TicketFact(tracker=ticket.label, key=ticket.key if ticket.state == "ready" else None, url=ticket.url,
                      status=ticket.status_text, state=ticket.state)


def action_item_json(item: ActionItem) -> dict[str, Any]:
    due: str | None
    if item.due_at is not None:
        due = iso_utc(item.due_at)
    else:
        due = item.due_date.isoformat() if item.due_date else None
    return {
        "id": item.id,
        "text": item.text,
        "owner": item.owner_id,
        "due": due,
        "priority": item.priority,
        "status": item.status,
        "created_by": item.created_by,
        # Its ticket in the team's tracker, with the status last read back (null: none).
        "ticket": view.as_dict() if (view := ticket_view(item.ticket)) is not None else None,
    }


def export_incident(session: Session, incident: Incident) -> dict[str, Any]:
    """The export JSON. Its keys are a published contract: add keys, never rename them."""
    facts = incident_facts(incident)
    started = incident.began_at
    return {
        "incident": {
            "id": incident.id,
            "ref": incident.ref,
            "title": incident.title,
            "severity": incident.severity,
            "team_id": incident.team_id,
            "channel_id": incident.channel_id,
            "channel_name": incident.channel_name,
            "status": incident.status,
            "created_by": incident.created_by,
            "declared_at": _iso(incident.declared_at),
            "started_at": _iso(started),
            "detected_at": _iso(incident.detected_at),
            "mitigated_at": _iso(incident.mitigated_at),
            "resolved_at": _iso(incident.resolved_at),
            "closed_at": _iso(incident.closed_at),
            "roles": {r.role: r.user_id for r in sorted(incident.roles, key=lambda r: r.role)},
        },
        "metrics": compute_metrics(facts),
        "timeline": [
            {
                "at": _iso(e.at),
                "kind": e.kind,
                "text": e.text,
                "author": e.author,
                "source": e.source,
                "key": e.key,
                "ts": e.ts,
                "thread_ts": e.thread_ts,
                "files": e.files or [],
                "edited": e.edited_at is not None,
                "author_name": e.author_name,
                "links": e.links or [],
                # Curation: left out of the postmortem; the kind chosen with "Add to timeline";
                # who corrected it last from Slack.
                "hidden": e.hidden,
                "key_kind": e.key_kind,
                "corrected_by": e.corrected_by,
            }
            for e in live_entries(session, incident)
        ],
        "action_items": [action_item_json(a) for a in action_items(session, incident)],
    }
