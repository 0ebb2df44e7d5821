"""How often an incident owes a status update, and where it stands: read by the nudges
(bot.services.updates) and shown by the announcement (bot.services.announcements)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.config import Settings
from bot.models import Incident


@dataclass(frozen=True)
class NudgeCadence:
    intervals: dict[str, int]  # severity -> minutes
    lead_minutes: int
    idle_hours: int

    @classmethod
    def from_settings(cls, settings: Settings) -> NudgeCadence:
        return cls(dict(settings.update_intervals), settings.lead_nudge_minutes, settings.idle_nudge_hours)


@dataclass(frozen=True)
class UpdateStatus:
    """What the announcement shows about updates."""

    status: str | None  # investigating | identified | monitoring | resolved, None before the first update
    last_update_at: datetime | None
    next_update_at: datetime | None  # when the next update is expected; None: no cadence
    snoozed_until: datetime | None


def interval_of(cadence: NudgeCadence, severity: str | None) -> timedelta | None:
    minutes = cadence.intervals.get(severity or "")
    return timedelta(minutes=minutes) if minutes else None


def status_of(incident: Incident, settings: Settings) -> UpdateStatus:
    """The latest update's status and when the next one is owed, for the announcement."""
    next_at: datetime | None = None
    if incident.resolved_at is None and incident.closed_at is None:
        if incident.last_update_at is not None:
            next_at = incident.next_update_at
        else:
            interval = interval_of(NudgeCadence.from_settings(settings), incident.severity)
            next_at = incident.declared_at + interval if interval else None
    return UpdateStatus(incident.update_status, incident.last_update_at, next_at, incident.updates_snoozed_until)
