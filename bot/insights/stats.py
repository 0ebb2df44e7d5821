"""Statistics across incidents, computed from plain records: pure, no I/O.

Definitions (the same as README "What is recorded" and the export's metrics, computed by
`bot.postmortem.context.compute_metrics`): impact start = `started_at`, else the time the
incident was declared; TTD = detected − impact start, TTM = mitigated − detected,
TTR = resolved − detected, duration = resolved − impact start. An incident belongs to a
period when its impact start lies in it (start included, end excluded). A metric whose end
is missing is left out of that metric; so is a negative one (times that contradict each
other), which would otherwise drag a median below zero.

Median is the middle value (the mean of the two middle ones for an even count); p90 is
interpolated linearly between the closest ranks (numpy's default, `statistics.quantiles(
method="inclusive")`), so one incident gives its own value for both.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final, cast
from zoneinfo import ZoneInfo

from bot.lifecycle import began_at
from bot.postmortem.context import compute_metrics
from bot.postmortem.facts import IncidentFacts
from bot.timefmt import format_duration, format_utc
from bot.timeparse import TimeParseError, parse_moment

__all__ = [
    "ACCEPTED_PERIODS",
    "METRICS",
    "SEVERITIES",
    "ActionRecord",
    "ActionSummary",
    "IncidentLine",
    "IncidentRecord",
    "MetricSummary",
    "Period",
    "PeriodError",
    "PostmortemSummary",
    "Stats",
    "WeekPoint",
    "compute_stats",
    "median",
    "p90",
    "parse_period",
    "trend_phrase",
]

UTC: Final = UTC
SEVERITIES: Final = ("sev1", "sev2", "sev3", "sev4")
NO_SEVERITY: Final = "none"
DEFAULT_DAYS: Final = 30
MAX_DAYS: Final = 3660
# key, abbreviation, label: the same names the postmortem's metrics table uses.
METRICS: Final[tuple[tuple[str, str, str], ...]] = (
    ("time_to_detect_s", "TTD", "Time to detect"),
    ("time_to_mitigate_s", "TTM", "Time to mitigate"),
    ("time_to_resolve_s", "TTR", "Time to resolve"),
    ("duration_s", "Duration", "Duration"),
)
LONGEST_SHOWN: Final = 3

ACCEPTED_PERIODS: Final = """\
Periods I understand:
  last 30d   last 90d   last 365d   (any number of days, e.g. last 7d; default last 30d)
  2026-01-01 to 2026-03-31          (whole days in UTC, both included)
  2026-01-01 09:00 UTC to 2026-01-02 17:30 Europe/Berlin   (times as `at <time>` reads them)"""


class PeriodError(ValueError):
    """A period that can't be read, or that ends before it starts. `str()` is the whole
    message for the user (what was wrong, then the accepted forms)."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(f"{problem}\n\n{ACCEPTED_PERIODS}")


@dataclass(frozen=True)
class Period:
    """[start, end): aware UTC datetimes. `label` says how it was asked for ("last 30 days")."""

    start: datetime
    end: datetime
    label: str | None = field(default=None, compare=False)

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400

    def describe(self) -> str:
        return self.label or f"{format_utc(self.start)} to {format_utc(self.end)}"

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        length = self.end - self.start
        return Period(self.start - length, self.start, label=f"previous {_days_text(length)}")

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def _days_text(length: timedelta) -> str:
    days = length.total_seconds() / 86400
    if days == int(days):
        return "day" if days == 1 else f"{int(days)} days"
    return format_duration(length.total_seconds())


_LAST_RE: Final = re.compile(r"(?:last|past)?\s*(?P<n>\d{1,5})\s*(?:d|days?)", re.IGNORECASE | re.ASCII)
_TO_RE: Final = re.compile(r"\s+to\s+", re.IGNORECASE)
_DATE_RE: Final = re.compile(r"(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})", re.ASCII)


def parse_period(text: str, now: datetime, *, tz: ZoneInfo | None = None) -> Period:
    """Read `last 30d|90d|365d` (any number of days), `<from> to <to>` or nothing (the last
    30 days). A bare date is a whole day in `tz` (UTC by default): `2026-01-01 to 2026-01-31`
    covers all of January. Other times are read as `at <time>` reads them. Raises PeriodError."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    zone = tz or ZoneInfo("UTC")
    now = now.astimezone(UTC)
    s = " ".join(text.split())
    if not s:
        return _last_days(DEFAULT_DAYS, now)
    last = _LAST_RE.fullmatch(s)
    if last is not None:
        days = int(last.group("n"))
        if not 1 <= days <= MAX_DAYS:
            raise PeriodError(f"'{s}': the number of days must be between 1 and {MAX_DAYS}.")
        return _last_days(days, now)
    parts = _TO_RE.split(s, maxsplit=1)
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise PeriodError(f"'{_clip(s)}' is not a period I understand.")
    start = _bound(parts[0], now, zone, end=False)
    end = _bound(parts[1], now, zone, end=True)
    if end <= start:
        raise PeriodError(
            f"The period ends ({format_utc(end)}) before it starts ({format_utc(start)}): put the earlier time first."
        )
    return Period(start, end)


def _last_days(days: int, now: datetime) -> Period:
    return Period(now - timedelta(days=days), now, label=f"last {_days_text(timedelta(days=days))}")


def _bound(text: str, now: datetime, zone: ZoneInfo, *, end: bool) -> datetime:
    which = "end" if end else "start"
    whole_day = _DATE_RE.fullmatch(text)
    if whole_day is not None:
        try:
            day = date(int(whole_day["y"]), int(whole_day["m"]), int(whole_day["d"]))
        except ValueError:
            raise PeriodError(f"The {which} '{text}' is not a real date.") from None
        if end:
            day += timedelta(days=1)  # "to 2026-01-31" includes the 31st
        return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    try:
        return parse_moment(text, now=now, user_tz=zone, default_tz=zone)
    except TimeParseError as error:
        raise PeriodError(f"The {which} of the period: {error.problem}") from None


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------------------
# Records in, statistics out
# ---------------------------------------------------------------------------

# Plain slotted records (not frozen): 10,000 of them are built per request, and a frozen
# dataclass's __init__ costs several times more.
@dataclass(slots=True)
class IncidentRecord:
    id: int
    title: str
    severity: str | None
    declared_at: datetime
    started_at: datetime | None
    detected_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None
    private: bool = False

    @property
    def began_at(self) -> datetime:
        return began_at(self.started_at, self.declared_at)

    def metrics(self) -> dict[str, float | None]:
        # The export's own definitions; compute_metrics reads only these five times.
        return compute_metrics(cast(IncidentFacts, self))


@dataclass(slots=True)
class ActionRecord:
    incident_id: int
    status: str  # open | done | wontfix
    due_date: date | None
    due_at: datetime | None
    created_at: datetime
    closed_at: datetime | None
    # It has a ticket in the team's tracker; its status above is then the ticket's, as read back.
    in_tracker: bool = False

    def due_by(self) -> datetime | None:
        """The instant after which it is late: its due time, else the end of its due day (UTC)."""
        if self.due_at is not None:
            return self.due_at
        if self.due_date is not None:
            return datetime.combine(self.due_date + timedelta(days=1), time(0), tzinfo=UTC)
        return None


@dataclass(frozen=True)
class MetricSummary:
    count: int
    median_s: float | None
    p90_s: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "median_s": self.median_s, "p90_s": self.p90_s}


@dataclass(frozen=True)
class ActionSummary:
    total: int = 0
    open: int = 0
    overdue: int = 0
    done: int = 0
    done_on_time: int = 0
    done_late: int = 0
    wontfix: int = 0
    median_days_to_done: float | None = None
    in_tracker: int = 0  # of `total`, how many have a ticket in the team's tracker

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class PostmortemSummary:
    final: int = 0
    in_review: int = 0
    draft: int = 0
    none: int = 0

    @property
    def drafted(self) -> int:
        """Drafted but not final yet (draft or in review)."""
        return self.draft + self.in_review

    def to_dict(self) -> dict[str, Any]:
        return {"final": self.final, "drafted": self.drafted, "in_review": self.in_review, "draft": self.draft, "none": self.none}


@dataclass(frozen=True)
class WeekPoint:
    """The medians of one severity's incidents in one week (Monday, UTC)."""

    week: date
    severity: str  # sev1..sev4 or "none"
    incidents: int
    time_to_detect_s: float | None
    time_to_mitigate_s: float | None
    time_to_resolve_s: float | None

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "week": self.week.isoformat()}


@dataclass(frozen=True)
class IncidentLine:
    """One of the longest incidents; `title` is None for a private one the reader may not see."""

    id: int
    ref: str
    title: str | None
    severity: str | None
    started_at: datetime
    duration_s: float

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "ref": self.ref, "title": self.title, "private": self.title is None,
                "severity": self.severity, "started_at": format_iso(self.started_at), "duration_s": self.duration_s}


@dataclass(frozen=True)
class Stats:
    team_id: str
    period: Period
    severity: str | None
    total: int
    by_severity: Mapping[str, int]
    private: int
    metrics: Mapping[str, MetricSummary]
    actions: ActionSummary
    postmortems: PostmortemSummary
    weekly: tuple[WeekPoint, ...]
    longest: tuple[IncidentLine, ...]
    previous: Stats | None = None

    @property
    def empty(self) -> bool:
        return self.total == 0

    def change(self, key: str) -> float | None:
        """Median now minus median in the previous period (None when either is unknown)."""
        if self.previous is None:
            return None
        now, before = self.metrics[key].median_s, self.previous.metrics[key].median_s
        return None if now is None or before is None else now - before

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ISO-8601 UTC times, seconds as numbers, None as null."""
        return {
            "team_id": self.team_id,
            "period": {"start": format_iso(self.period.start), "end": format_iso(self.period.end), "label": self.period.describe()},
            "severity": self.severity,
            "incidents": {"total": self.total, "by_severity": dict(self.by_severity), "private": self.private},
            "metrics": {key: summary.to_dict() for key, summary in self.metrics.items()},
            "trend": {key: self.change(key) for key, _, _ in METRICS} if self.previous is not None else None,
            "action_items": self.actions.to_dict(),
            "postmortems": self.postmortems.to_dict(),
            "weekly": [point.to_dict() for point in self.weekly],
            "longest": [line.to_dict() for line in self.longest],
            "previous": self.previous.to_dict() if self.previous is not None else None,
        }

    def rows(self) -> list[tuple[str, Any, Any]]:
        """(metric, value, previous period's value): the flat form for tables and CSV."""
        before = self.previous
        out: list[tuple[str, Any, Any]] = [("incidents", self.total, before.total if before else None)]
        for sev in (*SEVERITIES, NO_SEVERITY):
            out.append((f"incidents_{sev}", self.by_severity.get(sev, 0), before.by_severity.get(sev, 0) if before else None))
        out.append(("incidents_private", self.private, before.private if before else None))
        for key, _, _ in METRICS:
            name = key.removesuffix("_s")
            for part in ("median_s", "p90_s", "count"):
                value = getattr(self.metrics[key], part)
                previous = getattr(before.metrics[key], part) if before else None
                out.append((f"{name}_{part}", value, previous))
        for part, value in self.actions.to_dict().items():
            out.append((f"action_items_{part}", value, before.actions.to_dict()[part] if before else None))
        for part, value in self.postmortems.to_dict().items():
            out.append((f"postmortems_{part}", value, before.postmortems.to_dict()[part] if before else None))
        return out


def format_iso(value: datetime) -> str:
    text = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return text


def median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def p90(values: Sequence[float]) -> float | None:
    return _quantile(values, 0.9)


def _quantile(values: Sequence[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * fraction
    low, high = math.floor(rank), math.ceil(rank)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


def _summary(values: Sequence[float]) -> MetricSummary:
    return MetricSummary(count=len(values), median_s=median(values), p90_s=p90(values))


def _valid(value: float | None) -> bool:
    return value is not None and value >= 0


def compute_stats(
    *,
    team_id: str,
    period: Period,
    severity: str | None,
    now: datetime,
    incidents: Sequence[IncidentRecord],
    actions: Sequence[ActionRecord] = (),
    postmortems: Mapping[int, str] = {},
    show_private_titles: bool = False,
    previous: Stats | None = None,
) -> Stats:
    """Statistics of the incidents of `period` (and matching `severity`) among `incidents`;
    the others are ignored, as are the action items and postmortems of incidents left out."""
    chosen = [i for i in incidents if period.contains(i.began_at) and (severity is None or i.severity == severity)]
    ids = {i.id for i in chosen}
    by_severity = Counter(i.severity if i.severity in SEVERITIES else NO_SEVERITY for i in chosen)
    metrics = {i.id: i.metrics() for i in chosen}

    summaries = {}
    for key, _, _ in METRICS:
        values = [m[key] for m in metrics.values() if _valid(m[key])]
        summaries[key] = _summary(cast(list[float], values))

    return Stats(
        team_id=team_id,
        period=period,
        severity=severity,
        total=len(chosen),
        by_severity={sev: by_severity.get(sev, 0) for sev in (*SEVERITIES, NO_SEVERITY)},
        private=sum(1 for i in chosen if i.private),
        metrics=summaries,
        actions=_action_summary([a for a in actions if a.incident_id in ids], now),
        postmortems=_postmortem_summary(ids, postmortems),
        weekly=_weekly(chosen, metrics),
        longest=_longest(chosen, metrics, show_private_titles),
        previous=previous,
    )


def _action_summary(items: Sequence[ActionRecord], now: datetime) -> ActionSummary:
    open_items = [a for a in items if a.status == "open"]
    done = [a for a in items if a.status == "done"]
    overdue = sum(1 for a in open_items if (due := a.due_by()) is not None and due < now)
    on_time = sum(1 for a in done if (due := a.due_by()) is not None and a.closed_at is not None and a.closed_at <= due)
    late = sum(1 for a in done if (due := a.due_by()) is not None and a.closed_at is not None and a.closed_at > due)
    days = [(a.closed_at - a.created_at).total_seconds() / 86400 for a in done if a.closed_at is not None]
    middle = median(days)
    return ActionSummary(
        total=len(items), open=len(open_items), overdue=overdue, done=len(done), done_on_time=on_time,
        done_late=late, wontfix=sum(1 for a in items if a.status == "wontfix"),
        median_days_to_done=round(middle, 1) if middle is not None else None,
        in_tracker=sum(1 for a in items if a.in_tracker),
    )


def _postmortem_summary(ids: set[int], statuses: Mapping[int, str]) -> PostmortemSummary:
    counts = Counter(statuses.get(i) for i in ids)
    return PostmortemSummary(final=counts["final"], in_review=counts["in_review"], draft=counts["draft"], none=counts[None])


def week_of(moment: datetime) -> date:
    day = moment.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


def _weekly(chosen: Sequence[IncidentRecord], metrics: Mapping[int, dict[str, float | None]]) -> tuple[WeekPoint, ...]:
    groups: dict[tuple[date, str], list[int]] = defaultdict(list)
    for incident in chosen:
        sev = incident.severity if incident.severity in SEVERITIES else NO_SEVERITY
        groups[(week_of(incident.began_at), sev)].append(incident.id)
    points = []
    for (week, sev), members in sorted(groups.items()):
        def mid(key: str, members: list[int] = members) -> float | None:
            return median([cast(float, metrics[i][key]) for i in members if _valid(metrics[i][key])])
        points.append(WeekPoint(week, sev, len(members), mid("time_to_detect_s"), mid("time_to_mitigate_s"), mid("time_to_resolve_s")))
    return tuple(points)


def _longest(chosen: Sequence[IncidentRecord], metrics: Mapping[int, dict[str, float | None]], show_private: bool) -> tuple[IncidentLine, ...]:
    timed = [(cast(float, metrics[i.id]["duration_s"]), i) for i in chosen if _valid(metrics[i.id]["duration_s"])]
    timed.sort(key=lambda pair: (-pair[0], pair[1].id))
    return tuple(
        IncidentLine(id=i.id, ref=f"INC-{i.id}", title=None if i.private and not show_private else i.title,
                     severity=i.severity, started_at=i.began_at, duration_s=seconds)
        for seconds, i in timed[:LONGEST_SHOWN]
    )


# ---------------------------------------------------------------------------
# Words shared by Slack and the command line
# ---------------------------------------------------------------------------

def trend_phrase(change: float | None, previous: Period | None) -> str:
    """"▼ 6 min vs previous 30 days"; "" when there is nothing to compare."""
    if change is None or previous is None:
        return ""
    against = f"vs {previous.describe()}"
    if abs(change) < 0.5:
        return f"= same as {previous.describe()}"
    arrow = "▲" if change > 0 else "▼"
    return f"{arrow} {format_duration(abs(change))} {against}"


def count_trend(now: int, before: int | None, previous: Period | None) -> str:
    if before is None or previous is None:
        return ""
    if now == before:
        return f"= same as {previous.describe()}"
    arrow = "▲" if now > before else "▼"
    return f"{arrow} {abs(now - before)} {against_text(previous)}"


def against_text(previous: Period) -> str:
    return f"vs {previous.describe()}"


def severity_label(severity: str | None) -> str:
    return "all severities" if severity is None else f"{severity} only"
