"""The database: how it is connected to (engine), migrated (migrate), written without
duplicates (upsert), written by the message writer's own connections (direct), kept small
on SQLite (checkpoint), and kept free of network calls while a transaction is open (guard).

The names most code needs are importable from `bot.db` itself.
"""

from bot.db.engine import engine_of, make_engine, make_session_factory, normalise_url, sqlite_file, transaction
from bot.db.migrate import alembic_config, upgrade
from bot.db.upsert import insert_ignoring_duplicates, insert_ignoring_sql

__all__ = [
    "alembic_config",
    "engine_of",
    "insert_ignoring_duplicates",
    "insert_ignoring_sql",
    "make_engine",
    "make_session_factory",
    "normalise_url",
    "sqlite_file",
    "transaction",
    "upgrade",
]
