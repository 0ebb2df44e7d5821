"""Migration 0002_followups: the job store table is APScheduler's, and it downgrades and upgrades cleanly."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, inspect

from bot.db import alembic_config, normalise_url, upgrade


def test_the_job_store_table_is_apschedulers_own(database_url) -> None:  # type: ignore[no-untyped-def]
    """0002 creates apscheduler_jobs (under the migration lock) exactly as SQLAlchemyJobStore defines it."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    engine = create_engine(normalise_url(database_url))
    store = SQLAlchemyJobStore(engine=engine)
    migrated = {c["name"]: c for c in inspect(engine).get_columns("apscheduler_jobs")}
    assert set(migrated) == {c.name for c in store.jobs_t.columns}
    assert [c["name"] for c in migrated.values() if not c["nullable"]] == ["id", "job_state"]
    assert inspect(engine).get_pk_constraint("apscheduler_jobs")["constrained_columns"] == ["id"]
    engine.dispose()


def test_0002_downgrades_and_upgrades(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    command.downgrade(alembic_config(url), "0002_reliability")  # by name: later migrations sit on top
    engine = create_engine(url)
    columns = {c["name"] for c in inspect(engine).get_columns("reminders")}
    assert "next_attempt_at" not in columns and "apscheduler_jobs" not in inspect(engine).get_table_names()
    engine.dispose()
    upgrade(url)
    engine = create_engine(url)
    # At the head, reminders are rows of the outbox (migration 0009).
    assert "next_attempt_at" in {c["name"] for c in inspect(engine).get_columns("outbox")}
    assert "snoozed_until" in {c["name"] for c in inspect(engine).get_columns("action_items")}
    engine.dispose()
