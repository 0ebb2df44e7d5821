"""Pure Block Kit for `/incident stats`: the private answer and its shared copy.

The *Share in channel* button carries what was asked (period bounds, label, severity) as
compact JSON, so sharing recomputes the same numbers as of the click.
"""

from __future__ import annotations

import json
from typing import Any

from bot.insights.report import empty_text, scope_text, summary_lines
from bot.insights.stats import Period, Stats, format_iso
from bot.markup import neutralize_mentions

SHARE = "stats_share"
Blocks = list[dict[str, Any]]
_SECTION_LIMIT = 3000


def _mrkdwn_title(text: str) -> str:
    # Titles are user text: no pings, and no stray bold/italic/code from their characters.
    return neutralize_mentions(" ".join(text.split())).replace("*", "∗").replace("`", "'")


def share_value(stats: Stats) -> str:
    return json.dumps({"start": format_iso(stats.period.start), "end": format_iso(stats.period.end),
                       "label": stats.period.label, "severity": stats.severity}, separators=(",", ":"))


def request_of_share(value: str) -> tuple[Period, str | None]:
    """(period, severity) from a Share button's value; ValueError when it isn't one of ours."""
    from datetime import datetime

    data = json.loads(value)
    if not isinstance(data, dict):
        raise ValueError("not an object")
    start = datetime.fromisoformat(str(data["start"]).replace("Z", "+00:00"))
    end = datetime.fromisoformat(str(data["end"]).replace("Z", "+00:00"))
    if start.tzinfo is None or end.tzinfo is None or end <= start:
        raise ValueError("bad period")
    severity = data.get("severity")
    if severity not in (None, "sev1", "sev2", "sev3", "sev4"):
        raise ValueError("bad severity")
    label = data.get("label")
    return Period(start, end, label=str(label) if label else None), severity


def stats_message(stats: Stats, *, shared_by: str | None = None, chart: str | None = None) -> tuple[str, Blocks]:
    """(fallback text, blocks). Private (with a Share button) unless `shared_by` is given;
    `chart` says where the chart went, e.g. "in your DM with me"."""
    period = stats.period
    heading = f"Incident stats: {period.label}" if period.label else f"Incident stats: {period.start:%Y-%m-%d %H:%M} to {period.end:%Y-%m-%d %H:%M} UTC"
    if stats.empty:
        text = f":bar_chart: {empty_text(stats)}"
        return text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    lines = summary_lines(stats, title=_mrkdwn_title)
    body = "\n".join(f"*{label}:* {value}" for label, value in lines)
    if len(body) > _SECTION_LIMIT:
        body = body[: _SECTION_LIMIT - 1] + "…"
    notes = [scope_text(stats), "medians and p90 over the incidents whose impact started in the period"]
    if chart:
        notes.append(f"chart {chart}")
    if shared_by:
        notes.append(f"shared by <@{shared_by}>")
    blocks: Blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": heading, "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": body}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(notes)}]},
    ]
    if shared_by is None:
        blocks.append({"type": "actions", "block_id": "stats", "elements": [
            {"type": "button", "action_id": SHARE, "text": {"type": "plain_text", "text": "Share in channel", "emoji": True},
             "value": share_value(stats)},
        ]})
    first = lines[0][1]
    return f"{heading}: {first}", blocks
