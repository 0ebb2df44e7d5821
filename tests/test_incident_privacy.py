"""incidents.is_private (migration 0006): set when an incident is started or declared in a
private channel, filled in for older incidents from their announcement or declaration, and
what keeps a private incident's title out of stats (SQLite and PostgreSQL)."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, inspect, select, text

from bot.db import alembic_config, upgrade
from bot.insights.stats import parse_period
from bot.models import Incident
from bot.services.stats import incident_stats
from tests.test_insights_stats import NOW, add_incident, at


def test_0006_fills_the_flag_from_announcements_and_declarations_and_downgrades(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    command.downgrade(alembic_config(url), "0004_declare")
    engine = create_engine(url)
    assert "is_private" not in {c["name"] for c in inspect(engine).get_columns("incidents")}
    with engine.begin() as conn:  # three incidents recorded before the flag existed
        for n in (1, 2, 3):
            conn.execute(text(f"INSERT INTO incidents (id, team_id, channel_id, title, created_by, declared_at) "
                              f"VALUES ({n}, 'T', 'C{n}', 't{n}', 'U', '2026-01-01 00:00:00')"))
        conn.execute(text("INSERT INTO announcements (incident_id, private, status, created_at, updated_at) "
                          "VALUES (1, 0, 'posted', '2026-01-01 00:00:00', '2026-01-01 00:00:00'), "
                          "(2, 1, 'posted', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"))
        conn.execute(text("INSERT INTO declarations (idempotency_key, team_id, user_id, title, private, people, status, incident_id, created_at, updated_at) "
                          "VALUES ('view:V1', 'T', 'U', 't3', 1, '[]', 'done', 3, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"))
    engine.dispose()
    upgrade(url)
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT id, is_private FROM incidents ORDER BY id")).all() == [(1, 0), (2, 1), (3, 1)]
    engine.dispose()


def test_an_incident_started_in_a_private_channel_is_flagged(database_url, slack, clock) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import start_app

    app = start_app(database_url, slack, clock=clock)
    try:
        app.player.command("U0ANN", "C0INC", "start Checkout down sev2")
        app.player.command("U0BOB", "G0PRIV", "start Payroll export leaked sev1")
        with app.session_factory() as s:
            assert dict(s.execute(select(Incident.channel_id, Incident.is_private)).all()) == {"C0INC": False, "G0PRIV": True}
    finally:
        app.stop()


def test_stats_count_a_private_incident_but_never_show_its_title(session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_factory.begin() as session:
        add_incident(session, 1, "sev1", at(11, 2), 5, 20, 600).is_private = True  # the longest
        add_incident(session, 2, "sev2", at(11, 3), 10, 30, 90)
    with session_factory() as session:
        stats = incident_stats(session, team_id="T0SIM", period=parse_period("last 30d", NOW), severity=None, now=NOW)
        shown = incident_stats(session, team_id="T0SIM", period=parse_period("last 30d", NOW), severity=None, now=NOW, include_private=True)
    assert (stats.total, stats.private) == (2, 1)
    assert [(line.ref, line.title) for line in stats.longest] == [("INC-1", None), ("INC-2", "Incident number 2")]
    assert "Incident number 1" not in str(stats.to_dict())
    assert shown.longest[0].title == "Incident number 1"
