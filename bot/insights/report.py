"""The statistics in words, the same for Slack and the command line: pure.

`summary_lines` gives (label, value) pairs; Slack makes the labels bold, `scribe stats`
aligns them in a table. Titles go through `title` so each front end escapes them its way.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable

from bot.insights.stats import METRICS, NO_SEVERITY, SEVERITIES, Stats, count_trend, trend_phrase
from bot.timefmt import format_duration, format_utc

__all__ = ["PRIVATE_TITLE", "empty_text", "stats_csv", "stats_json", "stats_table", "summary_lines"]

PRIVATE_TITLE = "(private incident)"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _with_trend(text: str, trend: str) -> str:
    return f"{text} ({trend})" if trend else text


def scope_text(stats: Stats) -> str:
    sev = "all severities" if stats.severity is None else f"{stats.severity} only"
    return f"{format_utc(stats.period.start)} to {format_utc(stats.period.end)} · {sev}"


def empty_text(stats: Stats) -> str:
    sev = "" if stats.severity is None else f" of severity {stats.severity}"
    return f"No incidents{sev} between {format_utc(stats.period.start)} and {format_utc(stats.period.end)}."


def summary_lines(stats: Stats, *, title: Callable[[str], str] = lambda t: t) -> list[tuple[str, str]]:
    before = stats.previous
    against = before.period if before is not None else None
    counts = " · ".join(f"{sev} {stats.by_severity.get(sev, 0)}" for sev in SEVERITIES)
    counts += f" · no severity {stats.by_severity.get(NO_SEVERITY, 0)}"
    if stats.private:
        counts += f" · {stats.private} private"
    head = _with_trend(str(stats.total), count_trend(stats.total, before.total if before else None, against))
    lines = [("Incidents", f"{head}: {counts}")]
    for key, abbr, label in METRICS:
        m = stats.metrics[key]
        name = f"{label} ({abbr})" if abbr != label else label
        if m.count == 0:
            lines.append((name, "not recorded for any incident"))
            continue
        median = _with_trend(f"median {format_duration(m.median_s)}", trend_phrase(stats.change(key), against))
        lines.append((name, f"{median} · p90 {format_duration(m.p90_s)} · {_plural(m.count, 'incident')}"))
    a = stats.actions
    if a.total == 0:
        lines.append(("Action items", "none"))
    else:
        parts = [f"{a.open} open, {a.overdue} overdue", f"{a.done} done, {a.done_on_time} on time, {a.done_late} late"]
        if a.median_days_to_done is not None:
            parts.append(f"median {a.median_days_to_done:.1f} days to done")
        if a.wontfix:
            parts.append(f"{a.wontfix} won't fix")
        if a.in_tracker:
            parts.append(f"{a.in_tracker} with a ticket in the tracker")
        lines.append(("Action items", " · ".join(parts)))
    p = stats.postmortems
    lines.append(("Postmortems", f"{p.final} final · {p.drafted} drafted, not final · {p.none} not started"))
    if stats.longest:
        lines.append(("Longest", "; ".join(
            f"{line.ref} {PRIVATE_TITLE if line.title is None else title(line.title)} "
            f"({line.severity or 'no severity'}, {format_duration(line.duration_s)})"
            for line in stats.longest
        )))
    return lines


def stats_table(stats: Stats) -> str:
    """What `scribe stats` prints by default."""
    named = f", {stats.period.label}" if stats.period.label else ""
    header = f"Incident stats{named} ({scope_text(stats)})"
    if stats.empty:
        return f"{header}\n{empty_text(stats)}\n"
    lines = summary_lines(stats)
    width = max(len(label) for label, _ in lines)
    body = "\n".join(f"{label.ljust(width)}  {value}" for label, value in lines)
    return f"{header}\n{body}\n"


def stats_json(stats: Stats) -> str:
    return json.dumps(stats.to_dict(), indent=2, ensure_ascii=False) + "\n"


def stats_csv(stats: Stats) -> str:
    """One metric a row, this period's value and the previous period's: for a spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    previous = stats.previous.period if stats.previous is not None else None
    writer.writerow(["metric", "value", "previous", "period_start", "period_end", "previous_start", "previous_end", "severity"])
    for metric, value, before in stats.rows():
        writer.writerow([
            metric, _cell(value), _cell(before),
            format_utc(stats.period.start), format_utc(stats.period.end),
            format_utc(previous.start) if previous else "", format_utc(previous.end) if previous else "",
            stats.severity or "all",
        ])
    return out.getvalue()


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}" if value == int(value) else f"{value:.3f}".rstrip("0")
    return str(value)
