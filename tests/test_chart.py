"""Timeline chart rendering."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.postmortem import (
    EntryFact,
    IncidentFacts,
    ReviewFields,
    build_context,
    render_timeline_chart,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
UTC = UTC
T0 = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)


def make_context(*, full: bool, events: int = 0) -> dict:
    incident = IncidentFacts(
        id=3, ref="INC-3", title="Search latency $$ spike", severity="SEV2", status="closed",
        channel_id="C3", channel_name="inc-3", declared_at=T0 + timedelta(minutes=9),
        started_at=T0 if full else None,
        detected_at=T0 + timedelta(minutes=5) if full else None,
        mitigated_at=T0 + timedelta(minutes=40) if full else None,
        resolved_at=T0 + timedelta(minutes=70) if full else None,
        closed_at=T0 + timedelta(days=2) if full else None,
        created_by="U1", roles={})
    entries = [
        EntryFact(at=T0 + timedelta(minutes=10 + i), kind="finding" if i % 2 else "message",
                  text=f"$x^2$ finding {i} :fire: <@U1> 📌", author="U1", source="command",
                  key=True, ts=f"{i}.0")
        for i in range(events)
    ]
    return build_context(incident, entries, [], ReviewFields(), user_name={"U1": "Ann"}.get,
                         generated_at=T0, display_tz=ZoneInfo("UTC"))


def test_empty_context_gives_a_png() -> None:
    assert render_timeline_chart({}).startswith(PNG_SIGNATURE)


def test_incident_without_phases_gives_a_png() -> None:
    ctx = make_context(full=False)
    assert ctx["phases"] == []
    assert render_timeline_chart(ctx).startswith(PNG_SIGNATURE)


def test_full_incident_gives_a_png() -> None:
    png = render_timeline_chart(make_context(full=True, events=6))
    assert png.startswith(PNG_SIGNATURE)
    assert len(png) > 5_000


def test_many_events_still_render() -> None:
    assert render_timeline_chart(make_context(full=True, events=120)).startswith(PNG_SIGNATURE)


def test_importing_the_module_does_not_import_matplotlib() -> None:
    # Run in a fresh interpreter: other tests in this process load matplotlib.
    import subprocess

    code = ("import sys, bot.postmortem.chart, bot.postmortem; "
            "print('matplotlib' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"
