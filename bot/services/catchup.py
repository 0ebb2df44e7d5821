"""A catch-up for someone joining an incident late: what was recorded so far, as plain
data (Block Kit is bot.slack.blocks.catchup). Recorded facts only, nothing guessed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from bot.models import Incident
from bot.postmortem.context import KIND_LABELS, compute_metrics
from bot.postmortem.facts import MILESTONE_KINDS
from bot.services import actions
from bot.services.actions import ItemView
from bot.services.export import entry_facts, incident_facts, live_entries

# What counts as "what happened": milestones, the investigation record, decisions, key
# messages. Role and severity changes are in the summary line; notes stay in the timeline.
EVENT_KINDS = frozenset(MILESTONE_KINDS) | {"finding", "hypothesis", "mitigation", "decision", "rootcause"}
# Where things stand: `/incident status <text>` notes it in the channel, `/incident update`
# (or the update form) posts it; the latest of either is the last update.
STATUS_KINDS = frozenset({"status", "update"})


@dataclass(frozen=True)
class Event:
    at: datetime
    label: str
    icon: str
    author: str | None
    text: str


@dataclass(frozen=True)
class CatchUp:
    ref: str
    title: str
    status: str
    severity: str | None
    lead: str | None
    channel_id: str
    key_times: list[tuple[str, datetime]]
    metrics: dict[str, float | None]
    events: list[Event]
    last_status: Event | None
    open_items: list[ItemView]
    now: datetime


def catch_up(session: Session, incident: Incident, *, now: datetime) -> CatchUp:
    facts = incident_facts(incident)
    entries = [e for e in entry_facts(live_entries(session, incident)) if e.text is not None]
    events = []
    last_status = None
    for e in entries:
        kind = e.marked_as or e.kind  # a message marked with "Add to timeline" counts as what it was marked
        label, icon = KIND_LABELS.get(kind, (kind, "•"))
        event = Event(at=e.at, label=label, icon=icon, author=e.author, text=e.text or "")
        if kind in STATUS_KINDS:
            last_status = event  # entries come in time order: the last one seen is the latest
        if kind in EVENT_KINDS or (kind == "message" and e.key):
            events.append(event)
    key_times = [(KIND_LABELS[k][0], getattr(incident, f"{k}_at")) for k in ("started", "detected", "mitigated", "resolved")
                 if getattr(incident, f"{k}_at") is not None]
    key_times.insert(0, ("Incident declared", incident.declared_at))
    return CatchUp(
        ref=incident.ref, title=incident.title, status=incident.status, severity=incident.severity, lead=incident.role_holder("lead"),
        channel_id=incident.channel_id, key_times=sorted(key_times, key=lambda kt: kt[1]), metrics=compute_metrics(facts),
        events=events, last_status=last_status,
        open_items=[actions.view_of(i) for i in actions.items_of(session, incident) if i.status == "open"], now=now,
    )
