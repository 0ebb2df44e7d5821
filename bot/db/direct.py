"""The driver's own connections, for the message writer's one-statement batches (bot.groupcommit):
the pool's connection in autocommit mode, and the event loop's own connection on either database.

Both loop connections offer the same two things (`LoopStatements`): `execute(sql, params)`,
a statement run from the event loop and committed when it returns, and `numbered`, the
paramstyle it takes. `loop_connection_for(engine)` gives the one that fits the engine, so
nothing above this module branches on the database.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlalchemy.engine import URL, make_url

from bot.db.engine import configure_sqlite_connection, sqlite_file

log = logging.getLogger(__name__)


class DatabaseBusy(Exception):
    """The database can't be written right now without waiting: another connection (a
    request thread's transaction, another process) holds SQLite's write lock."""


class LoopStatements(Protocol):
    """A connection the event loop runs statements on (autocommit), without leaving the loop."""

    # PostgreSQL's own $1, $2… placeholders (True), or the driver's qmark style (False).
    numbered: bool

    async def execute(self, sql: str, params: Sequence[Any]) -> None:
        """Run one statement; DatabaseBusy if the database can't take it without waiting."""
        ...

    def close(self) -> None: ...


def loop_connection_for(engine: Engine) -> LoopStatements | None:
    """The event loop's own connection to `engine`'s database: libpq driven from the loop on
    PostgreSQL, sqlite3 on SQLite; None for an in-memory SQLite (private to each connection)."""
    if engine.dialect.name == "postgresql":
        return LoopConnection(engine.url)
    return SqliteLoopConnection.for_engine(engine)


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

    numbered = True

    async def execute(self, sql: str, params: Sequence[Any]) -> None:
        """LoopStatements.execute: never busy (PostgreSQL's writers don't wait on one lock)."""
        await self.execute_repeatable(sql, params)

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
            writable: asyncio.Future[None] = loop.create_future()

            def drained(writable: asyncio.Future[None] = writable) -> None:
                if not writable.done():
                    writable.set_result(None)

            loop.add_writer(self._fd, drained)
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
    assert driver is not None
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

    numbered = False

    def __init__(self, path: str) -> None:
        self.path = path
        self._connection: sqlite3.Connection | None = None

    @classmethod
    def for_engine(cls, engine: Engine) -> SqliteLoopConnection | None:
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

    async def execute(self, sql: str, params: Sequence[Any]) -> None:
        """LoopStatements.execute, right here on the loop: the call takes a fraction of a
        millisecond, less than handing it to a thread and back would."""
        with self.without_waiting() as connection:
            connection.execute(sql, params)

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
