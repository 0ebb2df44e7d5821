"""When an incident began is one rule (bot.lifecycle), the same in Python and SQL, for a row,
the drafting core's facts and the stats' records, and nothing else in bot/ computes it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from bot.insights.stats import IncidentRecord
from bot.lifecycle import began_at
from bot.models import Incident
from bot.postmortem.context import compute_metrics
from bot.services.export import export_incident, incident_facts

UTC = UTC
DECLARED = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
STARTED = DECLARED - timedelta(minutes=20)
ROOT = Path(__file__).resolve().parents[1]


def test_the_rule() -> None:
    assert began_at(None, DECLARED) == DECLARED
    assert began_at(STARTED, DECLARED) == STARTED
    assert began_at(DECLARED + timedelta(minutes=5), DECLARED) == DECLARED + timedelta(minutes=5)  # a recorded start wins, even later


def test_a_row_the_facts_and_the_stats_records_agree_in_python_and_sql(session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_factory.begin() as s:
        for channel, started in (("C1", None), ("C2", STARTED)):
            s.add(Incident(team_id="T1", channel_id=channel, title="t", created_by="U1", declared_at=DECLARED, started_at=started,
                           detected_at=DECLARED + timedelta(minutes=10)))
    with session_factory() as s:
        rows = s.scalars(select(Incident).order_by(Incident.id)).all()
        assert [i.began_at for i in rows] == [DECLARED, STARTED]
        assert s.scalars(select(Incident.began_at).order_by(Incident.id)).all() == [DECLARED, STARTED]
        assert s.scalars(select(Incident.id).where(Incident.began_at < DECLARED)).all() == [rows[1].id]
        for incident in rows:
            facts = incident_facts(incident)
            record = IncidentRecord(incident.id, incident.title, None, incident.declared_at, incident.started_at,
                                    incident.detected_at, None, None)
            assert facts.began_at == record.began_at == incident.began_at
            export = export_incident(s, incident)
            assert export["incident"]["started_at"] == incident.began_at.strftime("%Y-%m-%dT%H:%M:%SZ")
            assert export["metrics"]["time_to_detect_s"] == (incident.detected_at - incident.began_at).total_seconds()
            assert compute_metrics(facts) == record.metrics() == export["metrics"]


def test_nothing_else_computes_it() -> None:
    """`started_at or declared_at` and its kin were written out in a dozen places, one of which
    (the milestone order check) forgot the declared time."""
    pattern = re.compile(r"started_at\s+or\b|started_at\s+if\b|coalesce\([^)]*started_at")
    found = {str(path.relative_to(ROOT)): [line.strip() for line in path.read_text().splitlines() if pattern.search(line)]
             for path in sorted((ROOT / "bot").rglob("*.py"))}
    # bot.lifecycle is the rule; Incident.began_at's SQL form is the same rule for queries.
    assert {path: lines for path, lines in found.items() if lines} == {
        "bot/lifecycle.py": ["return started_at if started_at is not None else declared_at"],
        "bot/models.py": ["return func.coalesce(cls.started_at, cls.declared_at, type_=UTCDateTime())"],
    }
