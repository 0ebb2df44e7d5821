"""Migration 0003_real_slack: author_name and links on timeline entries; downgrades and upgrades cleanly."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, inspect, text

from bot.db import alembic_config, upgrade


def test_0003_adds_nullable_columns_and_downgrades(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    command.downgrade(alembic_config(url), "0002_followups")
    engine = create_engine(url)
    assert not {"author_name", "links"} & {c["name"] for c in inspect(engine).get_columns("timeline_entries")}
    with engine.begin() as conn:  # an entry written before the upgrade
        conn.execute(text(
            "INSERT INTO incidents (id, team_id, channel_id, title, created_by, declared_at) VALUES (1, 'T', 'C', 't', 'U', '2026-01-01 00:00:00')"
        ))
        conn.execute(text(
            "INSERT INTO timeline_entries (incident_id, team_id, channel_id, ts, at, kind, text, author, source, key, recorded_at) "
            "VALUES (1, 'T', 'C', '1.000001', '2026-01-01 00:00:00', 'message', 'old', 'B0OLD', 'message', 0, '2026-01-01 00:00:00')"
        ))
    engine.dispose()
    upgrade(url)
    engine = create_engine(url)
    columns = {c["name"]: c for c in inspect(engine).get_columns("timeline_entries")}
    assert columns["author_name"]["nullable"] and columns["links"]["nullable"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT text, author, author_name, links FROM timeline_entries")).one() == ("old", "B0OLD", None, None)
    engine.dispose()
