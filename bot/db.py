"""Engine and session factory, and migrations.

SQLite gets WAL (readers don't block the writer) and foreign keys; PostgreSQL gets
`pool_pre_ping` so a restarted server is reconnected to without anyone noticing (a
SQLite file has no server to lose, so it skips that extra query per transaction).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, TextClause, bindparam, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool
from sqlalchemy.util import queue as sqla_queue

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain postgresql:// URLs (SQLAlchemy would pick psycopg2)."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


# How long a SQLite connection waits for another connection's write lock before failing
# with "database is locked" (sqlite3's `timeout`).
SQLITE_BUSY_TIMEOUT_SECONDS = 30

class DatabaseBusy(Exception):
    """The database can't be written right now without waiting: another connection (a
    request thread's transaction, another process) holds SQLite's write lock."""


class _FairQueue(sqla_queue.Queue):  # type: ignore[type-arg]
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
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            configure_sqlite_connection(dbapi_connection)

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # type: ignore[no-untyped-def]
            # IMMEDIATE takes the write lock up front, so two writers queue on busy_timeout
            # rather than deadlocking when both upgrade from a read lock. Sent straight to the
            # driver: through exec_driver_sql it cost a whole statement execution (about a
            # fifth of an empty transaction's time) on every transaction.
            conn.connection.dbapi_connection.execute("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=pool_size)


class WalCheckpointer:
    """Copies a SQLite database's write-ahead log into the database file, from a thread of its own.

    Why: by itself SQLite does that copy (a checkpoint) in the connection whose commit took
    the log past 1,000 pages (`wal_autocheckpoint`): it reads those pages back, writes them
    into the database file and syncs both files, and for those milliseconds the event loop
    that committed a message batch (bot.groupcommit) serves nobody. This thread copies the
    pages as they come in instead, outside the interpreter lock, with PASSIVE checkpoints,
    which never take the write lock, so no writer ever waits for it. The committing
    connection's own checkpoint still runs at the mark but finds next to nothing left to
    copy; it is the one that lets the log start again from its beginning (the writer
    restarts the log only after a checkpoint that caught up with every commit), so the log
    file stays near its usual 4 MB. README, Benchmarks, has the figures.

    Polls every `busy_seconds` while commits come in, every `idle_seconds` once they stop.
    """

    def __init__(self, path: str, *, busy_seconds: float = 0.01, idle_seconds: float = 1.0) -> None:
        self.path = path
        self.busy_seconds = busy_seconds
        self.idle_seconds = idle_seconds
        # (pages in the log, pages of it copied into the database) after the latest checkpoint.
        self.last: tuple[int, int] | None = None
        self._data_version: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def for_engine(cls, engine: Engine, **timing: float) -> "WalCheckpointer | None":
        """A checkpointer for `engine`'s database if it is a SQLite file (WAL, see make_engine), else None."""
        path = sqlite_file(engine.url)
        return None if path is None else cls(path, **timing)

    def start(self) -> "WalCheckpointer":
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            # It never sets the journal mode: upgrade() left the database in WAL, and its
            # `data_version` read before each checkpoint is what makes it see so.
            connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as error:
            log.warning("background checkpoints are off, SQLite's writer does them (%s)", error)
            return
        try:
            wait = self.busy_seconds
            while not self._stop.wait(wait):
                wait = self._checkpoint(connection)
        finally:
            connection.close()

    def _checkpoint(self, connection: sqlite3.Connection) -> float:
        """One PASSIVE checkpoint; how long to wait before the next."""
        try:
            # Changes whenever another connection has committed since this one last asked.
            version = connection.execute("PRAGMA data_version").fetchone()[0]
            _, in_log, copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as error:  # e.g. the file went away; the writer's checkpoints still run
            log.warning("background checkpoint failed: %s", error)
            return self.idle_seconds
        writing = version != self._data_version or copied < in_log
        self._data_version = version
        self.last = (in_log, copied)
        return self.busy_seconds if writing else self.idle_seconds


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def engine_of(factory: sessionmaker[Session]) -> Engine:
    """The engine a session factory binds to."""
    return factory.kw["bind"]  # type: ignore[no-any-return]


class LoopConnection:
    """One PostgreSQL connection (autocommit) for a writer that runs on the HTTP server's
    event loop (bot.groupcommit): its statement goes out and its answer comes back on the
    loop, without another thread having to take the interpreter lock in turn.

    It is driven with libpq's own non-blocking calls, which psycopg publishes as psycopg.pq,
    and its socket is registered with the loop once for the connection's life. psycopg's
    AsyncConnection registers and unregisters the socket around every wait and steps every
    statement through generators, which cost this process twice the CPU per statement
    (README, Benchmarks). Each distinct statement is prepared once per connection.

    Opened on first use (libpq's connect blocks, so in a thread). No ping before each use,
    unlike the engine's pool (pre-ping, a round trip a checkout): a dead connection shows as
    a failed statement instead, and `execute_repeatable` then runs it once more on a new
    connection. When the database is down, connecting fails at once, so the request answers
    500 without waiting and Slack redelivers it.
    """

    def __init__(self, url: URL | str):
        # libpq takes a URI: the same URL without SQLAlchemy's driver name. Text parameters
        # and results are UTF-8 whatever the server's default.
        uri = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._conninfo = uri + ("&" if "?" in uri else "?") + "client_encoding=UTF8"
        self._pg: Any = None
        # The loop the socket is registered with, and the socket (kept: libpq can't tell it
        # once the connection is lost).
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fd = -1
        self._prepared: dict[str, bytes] = {}
        # Set when libpq has a whole answer to give (see _on_readable).
        self._answer: asyncio.Future[None] | None = None

    async def execute_repeatable(self, sql: str, params: Sequence[str | None] = ()) -> list[tuple[str | None, ...]]:
        """Run `sql` (placeholders $1, $2…, text parameters) and return its rows as text; if
        the connection turns out dead (the server restarted since it was opened), once more on
        a new connection. Only for statements harmless to repeat, since the first try may
        have committed before the connection dropped."""
        import psycopg
        from psycopg import pq

        pg = await self._connected()
        try:
            return await self._execute(pg, sql, params)
        except psycopg.OperationalError:
            if pg.status == pq.ConnStatus.OK:
                raise
        return await self._execute(await self._connected(), sql, params)

    async def _connected(self) -> Any:
        import psycopg
        from psycopg import pq

        pg = self._pg
        if pg is not None and pg.status == pq.ConnStatus.OK:
            return pg
        self.close()
        pg = await asyncio.to_thread(pq.PGconn.connect, self._conninfo.encode())
        if pg.status != pq.ConnStatus.OK:
            message = pg.get_error_message()
            pg.finish()
            raise psycopg.OperationalError(f"connection failed: {message}")
        pg.nonblocking = 1
        self._pg, self._loop, self._fd, self._prepared = pg, asyncio.get_running_loop(), pg.socket, {}
        self._loop.add_reader(self._fd, self._on_readable)
        return pg

    async def _execute(self, pg: Any, sql: str, params: Sequence[str | None]) -> list[tuple[str | None, ...]]:
        name = self._prepared.get(sql)
        if name is None:
            name = b"scribe_%d" % len(self._prepared)
            pg.send_prepare(name, sql.encode())
            await self._results(pg)
            self._prepared[sql] = name
        pg.send_query_prepared(name, [None if p is None else p.encode() for p in params])
        return await self._results(pg)

    async def _results(self, pg: Any) -> list[tuple[str | None, ...]]:
        """The rows of the statement just sent, once libpq has all of its answer; raises what
        the server said if it failed (psycopg's exception for its SQLSTATE)."""
        import psycopg
        from psycopg import pq

        loop = asyncio.get_running_loop()
        while pg.flush():  # the rest didn't fit in the socket's buffer: wait until it drains
            writable = loop.create_future()
            loop.add_writer(self._fd, lambda: writable.done() or writable.set_result(None))
            try:
                await writable
            finally:
                loop.remove_writer(self._fd)
        rows: list[tuple[str | None, ...]] = []
        failure: Exception | None = None
        while True:
            if pg.is_busy():
                self._answer = loop.create_future()
                try:
                    await self._answer
                finally:
                    self._answer = None
            result = pg.get_result()
            if result is None:
                break
            if result.status == pq.ExecStatus.TUPLES_OK:
                for row in range(result.ntuples):
                    values = (result.get_value(row, column) for column in range(result.nfields))
                    rows.append(tuple(None if v is None else bytes(v).decode() for v in values))
            elif result.status != pq.ExecStatus.COMMAND_OK and failure is None:
                sqlstate = (result.error_field(pq.DiagnosticField.SQLSTATE) or b"").decode()
                message = (result.error_message or b"").decode(errors="replace").strip()
                failure = psycopg.errors.lookup(sqlstate)(message) if sqlstate else psycopg.OperationalError(message)
        if failure is not None:
            raise failure
        return rows

    def _on_readable(self) -> None:
        """The loop's reader for the connection's socket: hand what arrived to libpq, and wake
        the statement waiting for its answer once the answer is complete."""
        import psycopg

        pg, answer = self._pg, self._answer
        if pg is None:
            return
        try:
            pg.consume_input()
        except psycopg.OperationalError as error:  # the server went away
            self._forget_socket()
            if answer is not None and not answer.done():
                answer.set_exception(error)
            return
        if answer is not None and not answer.done() and not pg.is_busy():
            answer.set_result(None)

    def _forget_socket(self) -> None:
        """Unregister the socket from its loop, when called on that loop (on another thread,
        or once the loop has stopped, the loop is shutting down with it)."""
        loop, self._loop = self._loop, None
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:  # not on a loop's thread
            return
        if running is loop:
            loop.remove_reader(self._fd)

    def close(self) -> None:
        """Closes the connection from any thread, also once its loop has stopped."""
        self._forget_socket()
        pg, self._pg = self._pg, None
        if pg is not None:
            pg.finish()


@contextmanager
def autocommit_driver_connection(engine: Engine) -> Iterator[Any]:
    """The driver's own connection (sqlite3 or psycopg), from the engine's pool, on which each
    statement is its own transaction, committed when the call returns.

    Only for the message batch writer (bot.groupcommit), whose write is one statement:
    - no BEGIN and COMMIT around it: on PostgreSQL one round trip instead of three, on
      SQLite one call into the driver instead of three. Each such call is a moment the
      thread gives up the interpreter lock and then queues to get it back behind busy
      request threads, while the whole batch waits.
    - no SQLAlchemy execution around it: that machinery costs about 50 µs a statement,
      the driver's own execute about 2 µs (README, Benchmarks).
    The pool still does everything else: pre-ping on PostgreSQL, limits, reset on return.
    """
    pooled = engine.raw_connection()
    driver = pooled.driver_connection
    # Our SQLite connections are in the driver's autocommit mode all along (isolation_level=None,
    # see make_engine); psycopg's must be switched, and switched back before anyone else gets it.
    switch = engine.dialect.name == "postgresql"
    try:
        if switch:
            driver.autocommit = True
        yield driver
    finally:
        try:
            if switch:
                driver.autocommit = False
        except Exception:  # a broken connection: make sure it is never handed out again
            pooled.invalidate()
        pooled.close()


class SqliteLoopConnection:
    """The event loop's own SQLite connection, for the message writer (bot.groupcommit), as
    LoopConnection is on PostgreSQL.

    Why not the pool's: the pool has one connection, shared with the request threads, and
    taking it and giving it back for every batch, and turning its busy timeout off and on
    again around the statement, cost the loop more than a tenth of a message's time in
    Socket Mode (README, Benchmarks). This one waits for nothing (busy timeout 0): while
    another connection holds the write lock (a request thread's transaction, another process)
    a statement fails at once, whole, with DatabaseBusy, and the caller hands the batch to a
    thread that waits its turn on the pool. The lock itself is held only for the statement,
    a fraction of a millisecond; a request thread that asks meanwhile waits in SQLite's busy
    handler. Opened on first use, on the loop's thread.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._connection: sqlite3.Connection | None = None

    @classmethod
    def for_engine(cls, engine: Engine) -> "SqliteLoopConnection | None":
        """For a SQLite file; None otherwise (an in-memory database is private to its connection)."""
        path = sqlite_file(engine.url)
        return None if path is None else cls(path)

    @contextmanager
    def without_waiting(self) -> Iterator[sqlite3.Connection]:
        """The driver's connection, in autocommit mode; DatabaseBusy for a statement that met
        the write lock taken."""
        try:
            yield self._connection or self._open()
        except sqlite3.OperationalError as error:
            # SQLITE_BUSY or SQLITE_LOCKED (5, 6; extended codes keep them in the low byte):
            # the statement failed whole, so nothing of it was written.
            if getattr(error, "sqlite_errorcode", 0) & 0xFF in (5, 6):
                raise DatabaseBusy("another connection holds SQLite's write lock") from None
            raise

    def _open(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=0, check_same_thread=False)
        try:
            # Its pragmas too can meet the lock taken: then it is opened again next time.
            configure_sqlite_connection(connection)
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        return connection

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


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


def insert_ignoring_duplicates(session: Session, model: type, values: dict, conflict_columns: list[str]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True when a row was inserted.

    This is how redeliveries become no-ops: the unique constraint decides, atomically,
    even when two processes receive the same event at once.
    """
    primary_key = model.__mapper__.primary_key[0].name  # type: ignore[attr-defined]
    statement = _insert_ignoring_sql(session, model, tuple(values), tuple(conflict_columns), returning=primary_key)
    # RETURNING, not rowcount: psycopg can report rowcount 1 even when the conflict
    # clause skipped the row. session.execute (not the connection) so pending ORM
    # changes are flushed first.
    return session.execute(statement, values).first() is not None


def _insert_ignoring_sql(
    session: Session, model: type, columns: tuple[str, ...], conflict_columns: tuple[str, ...], returning: str | None = None
) -> TextClause:
    dialect = session.get_bind().dialect
    return _compiled_insert_ignoring(model.__table__, columns, conflict_columns, returning, dialect.identifier_preparer.quote)  # type: ignore[attr-defined]


@lru_cache(maxsize=64)
def _compiled_insert_ignoring(
    table: Table, columns: tuple[str, ...], conflict_columns: tuple[str, ...], returning: str | None, quote: Callable[[str], str]
) -> TextClause:
    """INSERT … VALUES … ON CONFLICT DO NOTHING as typed text. These inserts run for many
    commands, and SQLAlchemy cannot cache the compiled form of its dialect
    `on_conflict_do_nothing()` (it has no cache key), so it compiled them on every call;
    text is compiled once."""
    values = ", ".join(f":{c}" for c in columns)
    sql = insert_ignoring_sql(table, columns, f"VALUES ({values})", conflict_columns, returning, quote)
    # Typed parameters, so datetimes and JSON are converted exactly as in ORM inserts.
    return text(sql).bindparams(*(bindparam(c, type_=table.c[c].type) for c in columns))


def _partial_index_predicate(table: Table, columns: tuple[str, ...]) -> str:
    """` WHERE <predicate>` when `columns` are those of a partial unique index of `table`, else "":
    both databases only match an ON CONFLICT target to a partial index that repeats its WHERE."""
    for index in table.indexes:
        if index.unique and tuple(c.name for c in index.columns) == columns:
            # The models give both databases the same predicate (bot.models).
            where = index.dialect_options["postgresql"].get("where")
            if where is None:
                where = index.dialect_options["sqlite"].get("where")
            if where is not None:
                return f" WHERE {where}"
    return ""


def insert_ignoring_sql(
    table: Table, target_columns: tuple[str, ...], rows_sql: str, conflict_columns: tuple[str, ...], returning: str | None, quote: Callable[[str], str]
) -> str:
    """`INSERT INTO table (target_columns) <rows_sql> ON CONFLICT (…) DO NOTHING [RETURNING …]`,
    where `rows_sql` is a VALUES list or a SELECT. Both SQLite (3.35+) and PostgreSQL accept
    this exact syntax."""
    names = ", ".join(quote(c) for c in target_columns)
    conflict = ", ".join(quote(c) for c in conflict_columns)
    sql = f"INSERT INTO {quote(table.name)} ({names}) {rows_sql} ON CONFLICT ({conflict}){_partial_index_predicate(table, conflict_columns)} DO NOTHING"
    if returning:
        sql += f" RETURNING {quote(returning)}"
    return sql
