"""Engine and session factory: one place decides how either database is connected to.

SQLite gets WAL (readers don't block the writer) and foreign keys; PostgreSQL gets
`pool_pre_ping` so a restarted server is reconnected to without anyone noticing (a
SQLite file has no server to lose, so it skips that extra query per transaction).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool
from sqlalchemy.util import queue as sqla_queue

from bot.db import guard

log = logging.getLogger(__name__)


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain postgresql:// URLs (SQLAlchemy would pick psycopg2)."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


# How long a SQLite connection waits for another connection's write lock before failing
# with "database is locked" (sqlite3's `timeout`).
SQLITE_BUSY_TIMEOUT_SECONDS = 30


class _FairQueue(sqla_queue.Queue):
    """The pool's queue, first come first served.

    SQLAlchemy's queue wakes a waiter when a connection comes back, but any thread that
    asks in between takes it first; with one SQLite connection and many request threads,
    some requests lost that race again and again (p99 ack latency 3-4x the median). Here
    a returned connection goes straight to the longest-waiting thread.
    """

    def __init__(self, maxsize: int = 0, use_lifo: bool = False):
        super().__init__(maxsize, use_lifo)
        self._waiters: deque[list[Any]] = deque()  # [event, connection] per waiting thread

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        with self.mutex:
            if not self._waiters and not self._empty():
                return self._get()
            if not block:  # QueuePool then raises its TimeoutError at once
                raise sqla_queue.Empty()
            waiter: list[Any] = [threading.Event(), None]
            self._waiters.append(waiter)
        if waiter[0].wait(timeout):
            return waiter[1]
        with self.mutex:
            if waiter[0].is_set():  # handed over just as the wait timed out
                return waiter[1]
            self._waiters.remove(waiter)
        raise sqla_queue.Empty()

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        with self.mutex:
            if self._waiters:
                waiter = self._waiters.popleft()
                waiter[1] = item
                waiter[0].set()
                return
            if self._full():
                raise sqla_queue.Full()
            self._put(item)


class _FairQueuePool(QueuePool):
    _queue_class = _FairQueue


def sqlite_file(url: str | URL) -> str | None:
    """The file of a SQLite URL; None for an in-memory database (private to each connection)
    or any other database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return str(parsed.database)


def configure_sqlite_connection(connection: sqlite3.Connection) -> None:
    """What every SQLite connection of the app gets: WAL (readers don't block the writer),
    foreign keys, and disk syncs only at checkpoints (in WAL a crashed process loses no
    commit; a power cut can lose the last few, never the database's consistency)."""
    # Let SQLAlchemy own transactions; pysqlite's own BEGIN handling defers locks badly.
    connection.isolation_level = None
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        pool_args: dict[str, object] = {}
        if sqlite_file(url) is not None:
            # SQLite has one writer and every transaction here starts with BEGIN IMMEDIATE,
            # so transactions run one at a time whatever the pool size. With one pooled
            # connection, waiting threads queue on the pool and go in turn; with several,
            # they poll the file lock with sqlite's busy handler, which sleeps 1..100 ms
            # between tries, and that put p99 ack latency at 50 concurrent senders near
            # 600 ms (see README, Benchmarks). No code path nests two sessions in one thread.
            pool_args = dict(poolclass=_FairQueuePool, pool_size=1, max_overflow=0, pool_timeout=30)
        engine = create_engine(
            url,
            # A writer in another process makes us wait instead of failing with "database is locked".
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
            **pool_args,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            configure_sqlite_connection(dbapi_connection)

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            # IMMEDIATE takes the write lock up front, so two writers queue on busy_timeout
            # rather than deadlocking when both upgrade from a read lock. Sent straight to the
            # driver: through exec_driver_sql it cost a whole statement execution (about a
            # fifth of an empty transaction's time) on every transaction.
            conn.connection.dbapi_connection.execute("BEGIN IMMEDIATE")

    else:
        engine = create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=pool_size)
    guard.watch(engine)
    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def engine_of(factory: sessionmaker[Session]) -> Engine:
    """The engine a session factory binds to."""
    return factory.kw["bind"]


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction boundary: commit on success, roll back on any error."""
    with factory.begin() as session:
        yield session
