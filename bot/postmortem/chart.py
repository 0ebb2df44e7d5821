"""A PNG picture of the incident: phases as bands, key events as markers.

matplotlib is imported inside the function: it takes about half a second to
import and most code paths that import this module (the Slack handlers)
never draw a chart.  We build a bare ``Figure`` on the Agg canvas instead of
using ``pyplot`` so no global backend state is touched and concurrent
renders in different threads do not share a "current figure".
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["render_timeline_chart"]

_PHASE_COLOURS = {
    "detection": "#f4a259",
    "investigation": "#f6d55c",
    "mitigation": "#8ecae6",
    "resolution": "#90be6d",
}
_MILESTONE_COLOUR = "#c0392b"
_EVENT_COLOUR = "#34495e"
# Beyond this many events, only milestones get text labels; the rest are
# drawn as unlabeled ticks so the picture stays legible.
_MAX_LABELS = 24

# DejaVu Sans (matplotlib's bundled font) has no emoji or invisible joiners;
# drawing them only produces "missing glyph" warnings and empty boxes.
_UNDRAWABLE_RE = re.compile("[\u200b-\u200f\u2060-\u206f\ufe00-\ufe0f\U00010000-\U0010ffff"
                            "\u2600-\u27bf]")


def _drawable(text: str) -> str:
    return " ".join(_UNDRAWABLE_RE.sub("", text).split())


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def render_timeline_chart(context: dict[str, Any]) -> bytes:
    """Draw the timeline for a context from :func:`build_context` as PNG.

    Uses ``phases`` (start/end/label/key), ``key_events`` (at/kind/
    chart_label/milestone) and ``incident.ref``; missing keys are treated as
    empty so partial contexts still produce a picture rather than an error.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    incident = context.get("incident") or {}
    ref = _drawable(str(incident.get("ref", ""))).replace("\\", "")
    title = f"{ref} timeline (UTC)" if ref else "Incident timeline (UTC)"
    phases = [p for p in context.get("phases") or []
              if p.get("start") is not None and p.get("end") is not None]
    events = [e for e in context.get("key_events") or [] if e.get("at") is not None]

    if not phases and not events:
        fig = Figure(figsize=(6, 2), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        ax.set_title(title, loc="left", fontsize=12)
        ax.set_axis_off()
        ax.text(0.5, 0.5, "Not enough data to draw a timeline yet",
                ha="center", va="center", fontsize=12, color="#666666",
                transform=ax.transAxes, parse_math=False)
        return _png(fig)

    events.sort(key=lambda e: _as_utc(e["at"]))
    core = [_as_utc(p["start"]) for p in phases] + [_as_utc(p["end"]) for p in phases]
    core += [_as_utc(e["at"]) for e in events if e.get("kind") != "closed"]
    if not core:
        core = [_as_utc(e["at"]) for e in events]
    first, last = min(core), max(core)
    # Events long after the response (typically the administrative "closed")
    # would squash the interesting part into a sliver; they are listed in a
    # footnote instead of being drawn.
    cutoff = last + max(last - first, timedelta(minutes=30))
    late = [e for e in events if _as_utc(e["at"]) > cutoff]
    events = [e for e in events if _as_utc(e["at"]) <= cutoff]
    if events:
        last = max(last, _as_utc(events[-1]["at"]))
        first = min(first, _as_utc(events[0]["at"]))

    labelled = [e for e in events if len(events) <= _MAX_LABELS or e.get("milestone")]
    unlabelled = [e for e in events if e not in labelled] if len(labelled) < len(events) else []
    rows = max(len(labelled), 1)
    # One row per labelled event: labels can never overprint each other.
    height = min(2.2 + 0.3 * rows, 12)
    fig = Figure(figsize=(11, height), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_title(title, loc="left", fontsize=12)

    # Pad so markers at the very edges, or a single instant, stay visible.
    pad = max((last - first) * 0.04, timedelta(minutes=2))
    lo, hi = date2num(first - pad), date2num(last + pad)
    ax.set_xlim(lo, hi)
    ax.set_ylim(-0.2 if unlabelled else 0.3, rows + 0.8)
    ax.set_yticks([])

    legend = []
    for phase in phases:
        colour = _PHASE_COLOURS.get(str(phase.get("key")), "#cccccc")
        start, end = date2num(_as_utc(phase["start"])), date2num(_as_utc(phase["end"]))
        ax.axvspan(start, end, color=colour, alpha=0.35, linewidth=0)
        label = _drawable(str(phase.get("label", phase.get("key", ""))))
        legend.append(Patch(facecolor=colour, alpha=0.35,
                            label=f"{label} ({_drawable(str(phase.get('human', '')))})"))

    middle = (lo + hi) / 2
    for index, event in enumerate(labelled):
        x = date2num(_as_utc(event["at"]))
        y = rows - index  # earliest event on top, reading downwards
        milestone = bool(event.get("milestone"))
        colour = _MILESTONE_COLOUR if milestone else _EVENT_COLOUR
        ax.plot([x], [y], marker="D" if milestone else "o", markersize=6 if milestone else 4.5,
                color=colour, zorder=3)
        text = _drawable(str(event.get("chart_label") or event.get("label") or ""))
        # Labels in the right half go to the left of their marker so they
        # stay inside the picture.
        right = x <= middle
        ax.annotate(text, (x, y), xytext=(5 if right else -5, 0), textcoords="offset points",
                    fontsize=8, va="center", ha="left" if right else "right", color=colour,
                    annotation_clip=False, parse_math=False)
    for event in unlabelled:
        ax.plot([date2num(_as_utc(event["at"]))], [0.1], marker="|", markersize=8,
                color=_EVENT_COLOUR, alpha=0.7)
    notes = []
    if unlabelled:
        notes.append(f"{len(unlabelled)} more key events shown as ticks")
    if late:
        notes.append("Later: " + "; ".join(
            f"{_drawable(str(e.get('chart_label') or e.get('label') or ''))} "
            f"{_as_utc(e['at']).strftime('%Y-%m-%d %H:%M')} UTC" for e in late[:3]))
    if notes:
        # Figure coordinates, bottom-left: clear of the axis' date offset text.
        fig.text(0.01, 0.01, " · ".join(notes), fontsize=7, color="#666666",
                 ha="left", va="bottom", parse_math=False)

    locator = AutoDateLocator(tz=UTC)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator, tz=UTC))
    ax.set_xlabel("Time (UTC)")
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    if legend:
        fig.legend(handles=legend, loc="upper right", fontsize=8, frameon=False,
                   ncols=len(legend))
    fig.tight_layout(rect=(0, 0.05 if notes else 0, 1, 0.95 if legend else 1))
    return _png(fig)


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    # No "Software"/date metadata so the same incident gives identical bytes.
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
