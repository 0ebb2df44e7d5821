"""The insights chart: TTD, TTM and TTR per week, one line per severity, labelled where it ends.

Drawn like the postmortem's timeline chart (bot/postmortem/chart.py): a bare Figure on
the Agg canvas, matplotlib imported only when a chart is drawn, the same PNG writer.
Each severity's line carries its name at its last point, so nobody hunts in a legend.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from bot.insights.stats import METRICS, NO_SEVERITY, SEVERITIES, Stats
from bot.postmortem.chart import _drawable, _png

__all__ = ["SEVERITY_COLOURS", "weekly_metrics_chart"]

# Hotter for worse; distinguishable with the common colour-vision deficiencies (Okabe-Ito).
SEVERITY_COLOURS = {"sev1": "#d55e00", "sev2": "#e69f00", "sev3": "#0072b2", "sev4": "#009e73", NO_SEVERITY: "#7f7f7f"}
_SEVERITY_NAMES = {**{s: s for s in SEVERITIES}, NO_SEVERITY: "no severity"}
_PANELS = [(key, abbr, label) for key, abbr, label in METRICS if key != "duration_s"]


def _day(value: date) -> datetime:
    return datetime.combine(value, time(0), tzinfo=UTC)


def weekly_metrics_chart(stats: Stats) -> bytes:
    """PNG: one panel per metric (median of the week's incidents, in minutes), weeks on the x axis."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
    from matplotlib.figure import Figure

    scope = "" if stats.severity is None else f", {stats.severity}"
    title = _drawable(f"Median response times per week (UTC{scope}): {stats.period.describe()}")
    if stats.empty:
        fig = Figure(figsize=(8, 2.2), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        ax.set_title(title, loc="left", fontsize=11)
        ax.set_axis_off()
        ax.text(0.5, 0.45, "No incidents in this period", ha="center", va="center", fontsize=14, color="#444444",
                transform=ax.transAxes, parse_math=False)
        ax.text(0.5, 0.2, f"{stats.period.start:%Y-%m-%d %H:%M} to {stats.period.end:%Y-%m-%d %H:%M} UTC",
                ha="center", va="center", fontsize=9, color="#777777", transform=ax.transAxes, parse_math=False)
        return _png(fig)

    fig = Figure(figsize=(10, 2.4 * len(_PANELS) + 0.6), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(_PANELS), 1, sharex=True)
    fig.suptitle(title, x=0.01, ha="left", fontsize=11)
    weeks = sorted({p.week for p in stats.weekly})
    lo, hi = _day(weeks[0]) - timedelta(days=2), _day(weeks[-1]) + timedelta(days=9)  # room for the end labels
    present = [s for s in (*SEVERITIES, NO_SEVERITY) if any(p.severity == s for p in stats.weekly)]
    for ax, (key, abbr, label) in zip(axes, _PANELS, strict=True):
        ax.set_title(f"{label} ({abbr}), minutes", loc="left", fontsize=9, color="#333333")
        drawn = False
        ends: list[tuple[float, float, str, str]] = []
        for severity in present:
            points = [(p.week, getattr(p, key)) for p in stats.weekly if p.severity == severity and getattr(p, key) is not None]
            if not points:
                continue
            drawn = True
            colour = SEVERITY_COLOURS[severity]
            xs = [date2num(_day(week)) for week, _ in points]
            ys = [seconds / 60 for _, seconds in points]
            ax.plot(xs, ys, marker="o", markersize=4, linewidth=1.6, color=colour)
            ends.append((xs[-1], ys[-1], _SEVERITY_NAMES[severity], colour))
        ax.set_ylim(bottom=0)
        _label_line_ends(ax, ends)
        if not drawn:
            ax.text(0.5, 0.5, f"No {abbr} recorded in this period", ha="center", va="center", fontsize=9,
                    color="#777777", transform=ax.transAxes, parse_math=False)
        ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
        for side in ("right", "top"):
            ax.spines[side].set_visible(False)
    axes[-1].set_xlim(date2num(lo), date2num(hi))
    locator = AutoDateLocator(tz=UTC, minticks=3, maxticks=10)
    axes[-1].xaxis.set_major_locator(locator)
    axes[-1].xaxis.set_major_formatter(ConciseDateFormatter(locator, tz=UTC))
    axes[-1].set_xlabel("Week starting (Monday, UTC)")
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    return _png(fig)


def _label_line_ends(ax, ends: list[tuple[float, float, str, str]]) -> None:
    """Name each line just right of its last point; labels that would overprint are spread
    apart vertically, each with a thin leader to its point."""
    top = ax.get_ylim()[1]
    gap = top * 0.11
    placed: list[float] = []
    for x, y, name, colour in sorted(ends, key=lambda end: end[1]):
        label_y = max(y, placed[-1] + gap) if placed else y
        placed.append(label_y)
        ax.annotate(name, (x, y), xytext=(x + 0.8, label_y), textcoords="data", fontsize=8, va="center", ha="left",
                    color=colour, fontweight="bold", annotation_clip=False, parse_math=False,
                    arrowprops={"arrowstyle": "-", "color": colour, "linewidth": 0.6, "shrinkA": 0, "shrinkB": 2})
    if placed and placed[-1] > top:
        ax.set_ylim(top=placed[-1] + gap / 2)
