"""Migrations (Alembic): every process runs them first."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from bot.db.engine import SQLITE_BUSY_TIMEOUT_SECONDS, normalise_url, sqlite_file

log = logging.getLogger(__name__)


MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"


def alembic_config(url: str):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # '%' would be read as interpolation by configparser.
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations; safe to call from several processes at start-up. A SQLite file is
    left in WAL mode."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)
    path = sqlite_file(url)
    if path is not None:
        # Every connection of the app asks for WAL (configure_sqlite_connection), but only the
        # switch itself takes the database for itself, and a thread reading at that moment
        # (catch-up, the checkpointer) would fail with "database is locked" instead of
        # waiting. Switched here, before any of them starts, they find it done.
        connection = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as error:  # another process is switching it right now
            log.info("SQLite's WAL mode is left to the app's connections: %s", error)
        finally:
            connection.close()
