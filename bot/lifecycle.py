"""When an incident began: the one rule every part of the app uses.

An incident began when its impact started, if someone recorded that (`/incident started`),
else when it was declared: the earliest time known for sure that something was wrong. TTD
and the duration count from it, the announcement shows it as *Started*, stats place an
incident in a period by it, and no milestone may be moved before it.

`Incident.began_at` (bot.models) applies it to a row, in Python and in SQL;
`IncidentFacts.began_at` (bot.postmortem.facts) to the drafting core's records.
"""

from __future__ import annotations

from datetime import datetime


def began_at(started_at: datetime | None, declared_at: datetime) -> datetime:
    return started_at if started_at is not None else declared_at
