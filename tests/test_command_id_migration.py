"""Migration 0008: command_id's unique constraint becomes a partial unique index.

Message entries (no command_id) leave the index; a retried command still cannot be recorded
twice, entries and their edit history survive the rebuild, and the downgrade restores the
constraint. On SQLite and PostgreSQL (the `database_url` fixture)."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from bot.db import alembic_config, normalise_url, upgrade

INCIDENT = ("INSERT INTO incidents (id, team_id, channel_id, title, created_by, declared_at) "
            "VALUES (1, 'T', 'C', 't', 'U', '2026-01-01 00:00:00')")
ENTRY = ("INSERT INTO timeline_entries (id, incident_id, team_id, channel_id, ts, command_id, at, kind, text, author, source, key, recorded_at) "
         "VALUES (:id, 1, 'T', 'C', :ts, :command_id, '2026-01-01 00:00:00', :kind, :text, 'U', 'message', FALSE, '2026-01-01 00:00:00')")


def _command_id_indexes(engine) -> list[dict]:  # type: ignore[no-untyped-def]
    return [i for i in inspect(engine).get_indexes("timeline_entries") if i["column_names"] == ["command_id"]]


def test_0008_indexes_only_command_entries_and_downgrades(database_url: str) -> None:
    url = normalise_url(database_url)
    upgrade(url)
    command.downgrade(alembic_config(url), "0007_spent_sign_ins")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:  # written before the upgrade: two messages, one command, an edit
            conn.execute(text(INCIDENT))
            conn.execute(text(ENTRY), [
                dict(id=1, ts="1.000001", command_id=None, kind="message", text="first"),
                dict(id=2, ts="1.000002", command_id=None, kind="message", text="second"),
                dict(id=3, ts=None, command_id="trigger-1", kind="note", text="a note"),
            ])
            conn.execute(text("INSERT INTO entry_edits (entry_id, previous_text, edit_ts, edited_at) VALUES (1, 'frist', '2.0', '2026-01-01 00:01:00')"))
        engine.dispose()

        upgrade(url)
        [index] = _command_id_indexes(engine)
        assert index["name"] == "uq_timeline_entries_command_id" and index["unique"]
        assert "uq_timeline_entries_command_id" not in {c["name"] for c in inspect(engine).get_unique_constraints("timeline_entries")}
        with engine.begin() as conn:
            assert conn.execute(text("SELECT id, text, command_id FROM timeline_entries ORDER BY id")).all() == [
                (1, "first", None), (2, "second", None), (3, "a note", "trigger-1")]
            assert conn.execute(text("SELECT entry_id, previous_text FROM entry_edits")).all() == [(1, "frist")]
            # The conflict target the app uses still finds the index: a retry is skipped.
            skipped = conn.execute(text(
                "INSERT INTO timeline_entries (incident_id, team_id, channel_id, command_id, at, kind, text, author, source, key, recorded_at) "
                "VALUES (1, 'T', 'C', 'trigger-1', '2026-01-01 00:00:00', 'note', 'again', 'U', 'command', FALSE, '2026-01-01 00:00:00') "
                "ON CONFLICT (command_id) WHERE command_id IS NOT NULL DO NOTHING RETURNING id")).all()
            assert skipped == []
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text(ENTRY), dict(id=4, ts="1.000004", command_id="trigger-1", kind="note", text="twice"))

        engine.dispose()
        command.downgrade(alembic_config(url), "0007_spent_sign_ins")
        assert "uq_timeline_entries_command_id" in {c["name"] for c in inspect(engine).get_unique_constraints("timeline_entries")}
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM timeline_entries")).scalar() == 3
    finally:
        engine.dispose()
        upgrade(url)
