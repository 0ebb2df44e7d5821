"""When an incident began: the one rule every part of the app uses.

An incident began when its impact started, if someone recorded that (`/incident started`),
else when it was declared: the earliest time known for sure that something was wrong. TTD
and the duration count from it, the announcement shows it as *Started*, stats place an
incident in a period by it, and no milestone may be moved before it.

The milestones' order (started ≤ detected ≤ mitigated ≤ resolved, each no earlier than the
beginning) is also defined here, once: `out_of_order` says what a new milestone time would
contradict. Editing from the timeline refuses such a time (bot.services.curation); a time
given by command is recorded all the same (the latest word wins) and the reply says what it
contradicts (bot.slack.subcommands.run_moment).

`Incident.began_at` (bot.models) applies it to a row, in Python and in SQL;
`IncidentFacts.began_at` (bot.postmortem.facts) to the drafting core's records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

# An incident's milestones, in the order they happen; each is a `<name>_at` time on the incident.
MILESTONES = ("started", "detected", "mitigated", "resolved")
# Which milestone must not come before which: (earlier, later). The nearest neighbours first,
# so a time before both detected and the start is explained against detected.
MILESTONE_ORDER = (("detected", "mitigated"), ("detected", "resolved"), ("mitigated", "resolved"),
                   ("started", "detected"), ("started", "mitigated"), ("started", "resolved"))


def began_at(started_at: datetime | None, declared_at: datetime) -> datetime:
    return started_at if started_at is not None else declared_at


@dataclass(frozen=True)
class OutOfOrder:
    """`later` would come before `earlier`. `before_declaration`: `earlier` is the beginning,
    which is the declaration because no start was recorded."""

    earlier: str
    earlier_at: datetime
    later: str
    later_at: datetime
    before_declaration: bool


def out_of_order(milestones: Mapping[str, datetime | None], declared_at: datetime, moment: str, at: datetime) -> OutOfOrder | None:
    """What setting `moment` to `at` would put out of order, given the recorded `milestones`
    (started, detected, mitigated, resolved; None where not recorded); None if nothing."""
    times = {name: milestones.get(name) for name in MILESTONES}
    times[moment] = at
    times["started"] = began_at(times["started"], declared_at)
    for earlier, later in MILESTONE_ORDER:
        earlier_at, later_at = times[earlier], times[later]
        if moment not in (earlier, later) or earlier_at is None or later_at is None or later_at >= earlier_at:
            continue
        no_start = earlier == "started" and milestones.get("started") is None and moment != "started"
        return OutOfOrder(earlier, earlier_at, later, later_at, no_start)
    return None
