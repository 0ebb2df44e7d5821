"""The incident list's filters, read from the query string. Pure: no I/O.

    period   all (default) | 7d | 30d | 90d | 365d   (incidents started in the last N days)
    from/to  YYYY-MM-DD, either or both (UTC days, `to` inclusive); override period
    severity sev1..sev4 | none (not set)
    status   open | closed
    before   an incident id: the next page starts below it
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

PERIODS = {"7d": 7, "30d": 30, "90d": 90, "365d": 365}
SEVERITIES = ("sev1", "sev2", "sev3", "sev4", "none")
STATUSES = ("open", "closed")
PAGE_SIZE = 50


@dataclass(frozen=True)
class ListFilters:
    period: str = "all"
    since: datetime | None = None
    until: datetime | None = None
    date_from: str = ""
    date_to: str = ""
    severity: str = ""
    status: str = ""
    before: int | None = None
    problems: tuple[str, ...] = field(default=())

    def query(self, **changes: object) -> str:
        """This filter's query string, with `changes` applied (used for links)."""
        values: dict[str, object] = {"period": "" if self.period == "all" else self.period, "from": self.date_from,
                                     "to": self.date_to, "severity": self.severity, "status": self.status}
        values.update(changes)
        return urlencode({k: v for k, v in values.items() if v not in ("", None)})


def _day(raw: str, name: str, problems: list[str]) -> date | None:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        problems.append(f"“{name}” must be a date like 2026-01-31, got “{raw[:40]}”.")
        return None


def parse_filters(query: Mapping[str, str], *, now: datetime) -> ListFilters:
    """Every problem is listed; a bad value is dropped, never guessed at."""
    problems: list[str] = []
    get = lambda name: (query.get(name) or "").strip()  # noqa: E731
    period = get("period").lower() or "all"
    since = until = None
    if period != "all" and period not in PERIODS:
        problems.append(f"“period” must be one of all, {', '.join(PERIODS)}, got “{period[:40]}”.")
        period = "all"
    if period in PERIODS:
        since = now - timedelta(days=PERIODS[period])
    raw_from, raw_to = get("from"), get("to")
    day_from = _day(raw_from, "from", problems) if raw_from else None
    day_to = _day(raw_to, "to", problems) if raw_to else None
    if day_from is not None and day_to is not None and day_to < day_from:
        problems.append(f"“to” ({day_to}) is before “from” ({day_from}).")
        day_from = day_to = None
    if day_from is not None or day_to is not None:
        period = "all"
        since = datetime.combine(day_from, time(0), UTC) if day_from else None
        until = datetime.combine(day_to + timedelta(days=1), time(0), UTC) if day_to else None
    severity = get("severity").lower()
    if severity and severity not in SEVERITIES:
        problems.append(f"“severity” must be one of {', '.join(SEVERITIES)}, got “{severity[:40]}”.")
        severity = ""
    status = get("status").lower()
    if status and status not in STATUSES:
        problems.append(f"“status” must be open or closed, got “{status[:40]}”.")
        status = ""
    before = None
    raw_before = get("before")
    if raw_before:
        if raw_before.isdigit() and len(raw_before) < 12:
            before = int(raw_before)
        else:
            problems.append(f"“before” must be an incident number, got “{raw_before[:40]}”.")
    return ListFilters(period=period, since=since, until=until, date_from=str(day_from or ""), date_to=str(day_to or ""),
                       severity=severity, status=status, before=before, problems=tuple(problems))
