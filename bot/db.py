"""Engine and session factory, and migrations.

SQLite gets WAL (readers don't block the writer) and foreign keys; PostgreSQL gets
`pool_pre_ping` so a restarted server is reconnected to without anyone noticing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain postgresql:// URLs (SQLAlchemy would pick psycopg2)."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            # A busy writer makes others wait instead of failing with "database is locked".
            connect_args={"timeout": 30, "check_same_thread": False},
            pool_pre_ping=True,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            # Let SQLAlchemy own transactions; pysqlite's own BEGIN handling defers locks badly.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # type: ignore[no-untyped-def]
            # IMMEDIATE takes the write lock up front, so two writers queue on busy_timeout
            # rather than deadlocking when both upgrade from a read lock.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=pool_size)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction boundary: commit on success, roll back on any error."""
    with factory.begin() as session:
        yield session


def alembic_config(url: str):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # '%' would be read as interpolation by configparser.
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations; safe to call from several processes at start-up."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def insert_ignoring_duplicates(session: Session, model: type, values: dict, conflict_columns: list[str]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True when a row was inserted.

    This is how redeliveries become no-ops: the unique constraint decides, atomically,
    even when two processes receive the same event at once.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(model).values(**values).on_conflict_do_nothing(index_elements=conflict_columns)
    # RETURNING, not rowcount: an ORM-level insert on psycopg reports rowcount 1 even
    # when the conflict clause skipped the row.
    primary_key = model.__mapper__.primary_key[0]  # type: ignore[attr-defined]
    return session.execute(statement.returning(primary_key)).first() is not None
