"""Group commit: every caller returns after its own item is committed, batches really form,
and a failing item fails only its own caller."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial

import pytest
from sqlalchemy import event, select

from bot.db import engine_of, make_engine
from bot.db.direct import DatabaseBusy, SqliteLoopConnection, autocommit_driver_connection
from bot.db.engine import SQLITE_BUSY_TIMEOUT_SECONDS
from bot.groupcommit import GroupCommit
from bot.models import Incident, TimelineEntry
from bot.services import capture, incidents
from bot.services.capture import CapturedMessage, IncomingMessage, record_messages, write_messages
from bot.services.incidents import SQLITE_ROWS_PER_STATEMENT

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def _open(session_factory, channel_id: str) -> None:  # type: ignore[no-untyped-def]
    with session_factory.begin() as session:
        incidents.start_incident(
            session, team_id="T0SIM", channel_id=channel_id, channel_name="inc", title="Checkout errors",
            severity=None, user_id="U0ANN", now=NOW, command_id=f"start-{channel_id}",
        )


def _message(channel_id: str, n: int, text: str | None = None) -> IncomingMessage:
    return IncomingMessage(
        team_id="T0SIM",
        message=CapturedMessage(channel_id=channel_id, ts=f"1795000000.{n:06d}", author="U0BOB", text=text or f"message {n}"),
        now=NOW,
    )


def _stored(session_factory) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    with session_factory() as session:
        return sorted(session.execute(select(TimelineEntry.channel_id, TimelineEntry.ts).where(TimelineEntry.kind == "message")).tuples())


def test_concurrent_submits_are_all_committed_in_shared_batches(session_factory) -> None:  # type: ignore[no-untyped-def]
    _open(session_factory, "C0INC")
    batch_sizes: list[int] = []

    def write(batch: Sequence[IncomingMessage]) -> None:
        batch_sizes.append(len(batch))
        write_messages(engine_of(session_factory), batch)

    writer = GroupCommit(write)
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def sender(first: int) -> None:
        start.wait()
        for n in range(first, first + 25):
            try:
                writer.submit(_message("C0INC", n))
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

    threads = [threading.Thread(target=sender, args=(k * 100,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert len(_stored(session_factory)) == 200
    assert sum(batch_sizes) == 200
    assert len(batch_sizes) < 200  # some transactions carried several messages


def test_a_submit_returns_only_after_its_commit(session_factory) -> None:  # type: ignore[no-untyped-def]
    _open(session_factory, "C0INC")
    writer = GroupCommit(partial(write_messages, engine_of(session_factory)))
    writer.submit(_message("C0INC", 1))
    # Visible from another session at once: committed, not merely queued.
    assert _stored(session_factory) == [("C0INC", "1795000000.000001")]


def test_messages_of_channels_without_an_open_incident_and_repeats_are_dropped(session_factory) -> None:  # type: ignore[no-untyped-def]
    _open(session_factory, "C0INC")
    engine = engine_of(session_factory)
    with autocommit_driver_connection(engine) as connection:
        record_messages(connection, engine.dialect, [_message("C0INC", 1), _message("C0RANDOM", 2), _message("C0INC", 1, "redelivered"), _message("C0INC", 3)])
    with autocommit_driver_connection(engine) as connection:
        record_messages(connection, engine.dialect, [_message("C0INC", 3, "again")])
    assert _stored(session_factory) == [("C0INC", "1795000000.000001"), ("C0INC", "1795000000.000003")]
    with session_factory() as session:
        texts = list(session.scalars(select(TimelineEntry.text).where(TimelineEntry.kind == "message").order_by(TimelineEntry.ts)))
    assert texts == ["message 1", "message 3"]


def test_a_failing_item_fails_only_its_own_caller(session_factory) -> None:  # type: ignore[no-untyped-def]
    _open(session_factory, "C0INC")
    gate = threading.Event()
    entered = threading.Event()

    def write(batch: Sequence[IncomingMessage]) -> None:
        if not gate.is_set():
            entered.set()
            gate.wait(10)  # hold the first write so the others queue up behind it
        if any(m.message.text == "poison" for m in batch):
            raise ValueError("cannot store this one")
        write_messages(engine_of(session_factory), batch)

    writer = GroupCommit(write)
    outcomes: dict[int, str] = {}

    def send(n: int, text: str | None = None) -> None:
        try:
            writer.submit(_message("C0INC", n, text))
            outcomes[n] = "ok"
        except ValueError as error:
            outcomes[n] = str(error)

    first = threading.Thread(target=send, args=(1,))
    first.start()
    assert entered.wait(10)
    queued = [threading.Thread(target=send, args=(n, "poison" if n == 3 else None)) for n in (2, 3, 4)]
    for thread in queued:
        thread.start()
    while len(writer._waiting) < 3:  # all three wait behind the held transaction
        threading.Event().wait(0.005)
    gate.set()
    for thread in [first, *queued]:
        thread.join(10)
    assert outcomes == {1: "ok", 2: "ok", 3: "cannot store this one", 4: "ok"}
    assert [ts for _, ts in _stored(session_factory)] == ["1795000000.000001", "1795000000.000002", "1795000000.000004"]


def test_a_caller_that_waits_too_long_gets_a_timeout_and_the_next_one_is_not_stuck(session_factory) -> None:  # type: ignore[no-untyped-def]
    _open(session_factory, "C0INC")
    release = threading.Event()
    entered = threading.Event()

    def write(batch: Sequence[IncomingMessage]) -> None:
        if not release.is_set():
            entered.set()
            release.wait(10)
        write_messages(engine_of(session_factory), batch)

    writer = GroupCommit(write, wait_seconds=0.2)
    first = threading.Thread(target=writer.submit, args=(_message("C0INC", 1),))
    first.start()
    assert entered.wait(10)
    with pytest.raises(TimeoutError, match="not committed within"):
        writer.submit(_message("C0INC", 2))
    release.set()
    first.join(10)
    writer.submit(_message("C0INC", 3))
    # The message that timed out was withdrawn: its sender got an error (Slack will redeliver).
    assert [ts for _, ts in _stored(session_factory)] == ["1795000000.000001", "1795000000.000003"]


def test_sqlite_pool_hands_its_connection_to_threads_in_arrival_order() -> None:
    """One SQLite connection, many threads: whoever waited longest gets it next, and a
    thread that gives up waiting is skipped, not handed a connection it will never return."""
    from sqlalchemy.util import queue as sqla_queue

    from bot.db.engine import _FairQueue

    pool: _FairQueue = _FairQueue(1)
    pool.put("connection", False)
    assert pool.get(False) == "connection"
    with pytest.raises(sqla_queue.Empty):
        pool.get(False)
    with pytest.raises(sqla_queue.Empty):
        pool.get(True, 0.01)  # times out and withdraws
    order: list[str] = []
    arrived = threading.Semaphore(0)

    def waiter(name: str) -> None:
        arrived.release()
        item = pool.get(True, 10)
        order.append(name)
        pool.put(item, False)

    threads = []
    for name in ("first", "second", "third"):
        thread = threading.Thread(target=waiter, args=(name,))
        thread.start()
        arrived.acquire()
        while len(pool._waiters) < len(threads) + 1:  # this one is queued before the next starts
            threading.Event().wait(0.001)
        threads.append(thread)
    pool.put("connection", False)
    for thread in threads:
        thread.join(10)
    assert order == ["first", "second", "third"]
    assert pool.get(False) == "connection"  # back in the pool after the last one


def _entry_columns(session_factory, channel_id: str) -> list[dict]:  # type: ignore[no-untyped-def]
    columns = ("ts", "thread_ts", "at", "kind", "text", "author", "source", "key", "files", "recorded_at", "deleted_at", "edited_at")
    with session_factory() as session:
        entries = session.scalars(select(TimelineEntry).where(TimelineEntry.channel_id == channel_id, TimelineEntry.kind == "message")
                                  .order_by(TimelineEntry.ts))
        return [{c: getattr(entry, c) for c in columns} for entry in entries]


def test_a_batch_stores_exactly_what_the_one_by_one_path_stores(session_factory) -> None:  # type: ignore[no-untyped-def]
    """Same message, two ways in: the batch statement (SQLite VALUES / PostgreSQL JSON) and the
    ORM-era single insert must give identical rows, to the microsecond and the file list."""
    _open(session_factory, "C0ONE")
    _open(session_factory, "C0BATCH")
    recorded = datetime(2026, 11, 23, 10, 0, 0, 123456, tzinfo=UTC)
    files = ({"id": "F0LOG", "name": "checkout.log", "mimetype": "text/plain", "size": 2048},)
    messages = [
        CapturedMessage(channel_id="", ts="1795000000.000001", author="U0BOB", text="plain"),
        CapturedMessage(channel_id="", ts="1795000000.000002", author=None, text="reply — ünïcode, 'quotes' and \"json\"",
                        thread_ts="1795000000.000001", files=files),
        CapturedMessage(channel_id="", ts="1795000000.999999", author="U0ANN", text=""),
    ]
    with session_factory.begin() as session:
        for m in messages:
            assert capture.record_message(session, team_id="T0SIM", message=m._replace(channel_id="C0ONE"), now=recorded)
    write_messages(engine_of(session_factory), [IncomingMessage("T0SIM", m._replace(channel_id="C0BATCH"), recorded) for m in messages])

    one_by_one, batched = _entry_columns(session_factory, "C0ONE"), _entry_columns(session_factory, "C0BATCH")
    assert batched == one_by_one
    assert [row["at"] for row in batched] == [
        datetime(2026, 11, 18, 11, 6, 40, 1, tzinfo=UTC),
        datetime(2026, 11, 18, 11, 6, 40, 2, tzinfo=UTC),
        datetime(2026, 11, 18, 11, 6, 40, 999999, tzinfo=UTC),
    ]
    assert [row["recorded_at"] for row in batched] == [recorded] * 3
    assert batched[1]["files"] == list(files) and batched[0]["files"] is None
    assert [row["thread_ts"] for row in batched] == [None, "1795000000.000001", None]
    assert batched[1]["author"] is None and batched[1]["text"].startswith("reply — ünïcode")


def test_a_batch_larger_than_one_sqlite_statement_is_stored_whole(session_factory) -> None:  # type: ignore[no-untyped-def]
    _open(session_factory, "C0INC")
    count = SQLITE_ROWS_PER_STATEMENT * 2 + 5
    write_messages(engine_of(session_factory), [_message("C0INC", n) for n in range(count)])
    stored = _stored(session_factory)
    assert len(stored) == count
    assert stored[0] == ("C0INC", "1795000000.000000") and stored[-1] == ("C0INC", f"1795000000.{count - 1:06d}")


def test_the_writer_gives_its_connection_back_with_transactions_working(session_factory, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The writer runs its connection in autocommit; after a write, and after a failed one,
    the pool must hand out connections on which a rollback still undoes what was written."""
    _open(session_factory, "C0INC")
    engine = engine_of(session_factory)
    write_messages(engine, [_message("C0INC", 1)])

    def broken(connection, dialect, rows):  # type: ignore[no-untyped-def]
        connection.execute("INSERT INTO no_such_table VALUES (1)")

    monkeypatch.setattr(capture, "insert_into_open_incidents", broken)
    with pytest.raises(Exception, match="no_such_table"):
        write_messages(engine, [_message("C0INC", 2)])
    for _ in range(engine.pool.size() + 1):  # whichever pooled connection comes next
        with session_factory() as session:
            incidents.start_incident(
                session, team_id="T0SIM", channel_id="C0OTHER", channel_name="other", title="Rolled back",
                severity=None, user_id="U0ANN", now=NOW, command_id="start-rolled-back",
            )
            session.flush()
            session.rollback()
    with session_factory() as session:
        assert session.scalars(select(Incident.title)).all() == ["Checkout errors"]
    assert _stored(session_factory) == [("C0INC", "1795000000.000001")]


def test_each_caller_gets_its_own_items_result_from_a_shared_write() -> None:
    batch_sizes: list[int] = []
    entered, gate = threading.Event(), threading.Event()

    def write(batch: Sequence[int]) -> list[str]:
        if not gate.is_set():
            entered.set()
            gate.wait(10)  # hold the first write so the others share the next one
        batch_sizes.append(len(batch))
        return [f"stored {n}" for n in batch]

    writer: GroupCommit[int, str] = GroupCommit(write)
    results: dict[int, str | None] = {}
    threads = [threading.Thread(target=lambda n=n: results.__setitem__(n, writer.submit(n))) for n in range(6)]
    threads[0].start()
    assert entered.wait(10)
    for thread in threads[1:]:
        thread.start()
    while len(writer._waiting) < 5:
        threading.Event().wait(0.005)
    gate.set()
    for thread in threads:
        thread.join(10)
    assert results == {n: f"stored {n}" for n in range(6)}
    assert batch_sizes == [1, 5]


# -- SQLite: message batches written on the server's event loop ------------------------------------


@pytest.fixture
def sqlite_factory(tmp_path, sqlite_template):  # type: ignore[no-untyped-def]
    import shutil

    from bot.db import make_engine, make_session_factory

    path = tmp_path / "loop.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    yield make_session_factory(engine)
    engine.dispose()


def _where_inserts_run(monkeypatch, loop_connection=None) -> tuple[list[str], threading.Event]:  # type: ignore[no-untyped-def]
    """The threads the batch statement is tried in, in order (by a thread, or over the loop's
    own connection); and an Event set when the batch is handed to a thread (which may then
    still wait for the connection or the lock)."""
    threads: list[str] = []
    handed_over = threading.Event()
    real_insert, real_write = capture.insert_into_open_incidents, capture.write_messages
    if loop_connection is not None:
        real_execute = loop_connection.execute

        async def execute(sql, params):  # type: ignore[no-untyped-def]
            threads.append(threading.current_thread().name)
            return await real_execute(sql, params)

        monkeypatch.setattr(loop_connection, "execute", execute)

    def insert(connection, dialect, rows):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread().name)
        return real_insert(connection, dialect, rows)

    def write_messages_in_thread(engine, batch):  # type: ignore[no-untyped-def]
        assert threading.current_thread() is not threading.main_thread()
        handed_over.set()
        return real_write(engine, batch)

    monkeypatch.setattr(capture, "insert_into_open_incidents", insert)
    monkeypatch.setattr(capture, "write_messages", write_messages_in_thread)
    return threads, handed_over


@pytest.fixture
def loop_connection(sqlite_factory):  # type: ignore[no-untyped-def]
    connection = SqliteLoopConnection.for_engine(engine_of(sqlite_factory))
    assert connection is not None
    yield connection
    connection.close()


def _pool_checkouts(engine) -> list[int]:  # type: ignore[no-untyped-def]
    checkouts: list[int] = []
    event.listen(engine, "checkout", lambda *args: checkouts.append(1))
    return checkouts


def test_on_sqlite_the_loop_writes_a_batch_itself_on_its_own_connection(sqlite_factory, loop_connection, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _open(sqlite_factory, "C0INC")
    threads, _ = _where_inserts_run(monkeypatch, loop_connection)
    engine = engine_of(sqlite_factory)
    checkouts = _pool_checkouts(engine)
    asyncio.run(capture.write_messages_on_loop(loop_connection, engine, [_message("C0INC", 1), _message("C0INC", 2)]))
    asyncio.run(capture.write_messages_on_loop(loop_connection, engine, [_message("C0INC", 3)]))
    assert threads == ["MainThread", "MainThread"]  # asyncio.run's loop: no thread took part
    assert checkouts == []  # nor the pool's connection, which request threads share
    assert _stored(sqlite_factory) == [("C0INC", f"1795000000.00000{n}") for n in (1, 2, 3)]


def test_on_sqlite_a_request_thread_holding_the_pooled_connection_without_writing_does_not_stop_the_loop(sqlite_factory, loop_connection, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _open(sqlite_factory, "C0INC")
    threads, _ = _where_inserts_run(monkeypatch, loop_connection)
    engine = engine_of(sqlite_factory)
    with autocommit_driver_connection(engine) as connection:  # checked out, reading, no write lock
        assert connection.execute("SELECT count(*) FROM incidents").fetchone() == (1,)
        asyncio.run(capture.write_messages_on_loop(loop_connection, engine, [_message("C0INC", 1)]))
    assert threads == ["MainThread"]
    assert _stored(sqlite_factory) == [("C0INC", "1795000000.000001")]


def test_on_sqlite_a_batch_goes_to_a_thread_while_a_request_threads_transaction_holds_the_write_lock(sqlite_factory, loop_connection, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _open(sqlite_factory, "C0INC")
    threads, handed_over = _where_inserts_run(monkeypatch, loop_connection)
    engine = engine_of(sqlite_factory)
    holding, release = threading.Event(), threading.Event()

    def request_thread() -> None:  # an edit's transaction, say (BEGIN IMMEDIATE: the write lock)
        with sqlite_factory.begin() as session:
            session.execute(select(Incident.id)).all()
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=request_thread, name="slack-request-1")
    holder.start()
    assert holding.wait(10)

    async def main() -> bool:
        write = asyncio.ensure_future(capture.write_messages_on_loop(loop_connection, engine, [_message("C0INC", 1)]))
        # The loop is free meanwhile: it can wait here for the batch to be handed over.
        await asyncio.get_running_loop().run_in_executor(None, handed_over.wait, 10)
        waited = not write.done()
        release.set()
        await write
        return waited

    assert asyncio.run(main()) is True
    holder.join(10)
    # Tried on the loop without waiting, refused at once, then written by a thread that waited.
    assert threads[0] == "MainThread" and len(threads) == 2 and threads[1] != "MainThread"
    assert _stored(sqlite_factory) == [("C0INC", "1795000000.000001")]


def test_on_sqlite_a_batch_goes_to_a_thread_while_another_process_holds_the_write_lock(sqlite_factory, loop_connection, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    _open(sqlite_factory, "C0INC")
    threads, handed_over = _where_inserts_run(monkeypatch, loop_connection)
    engine = engine_of(sqlite_factory)
    other = sqlite3.connect(engine.url.database, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # `scribe import`, say, writing from another process

    async def main() -> bool:
        write = asyncio.ensure_future(capture.write_messages_on_loop(loop_connection, engine, [_message("C0INC", 1)]))
        await asyncio.get_running_loop().run_in_executor(None, handed_over.wait, 10)
        waited = not write.done()
        other.execute("COMMIT")
        await write
        return waited

    try:
        assert asyncio.run(main()) is True
    finally:
        other.close()
    assert threads[0] == "MainThread" and len(threads) == 2 and threads[1] != "MainThread"
    assert _stored(sqlite_factory) == [("C0INC", "1795000000.000001")]
    # The pool's connection, which waited, still waits for locks; the loop's never does.
    with autocommit_driver_connection(engine) as connection:
        assert connection.execute("PRAGMA busy_timeout").fetchone()[0] == SQLITE_BUSY_TIMEOUT_SECONDS * 1000
    with loop_connection.without_waiting() as connection:
        assert connection.execute("PRAGMA busy_timeout").fetchone()[0] == 0


def test_the_loops_sqlite_connection_refuses_at_once_when_the_lock_is_taken_and_reports_other_errors_as_they_are(sqlite_factory, loop_connection) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    engine = engine_of(sqlite_factory)
    other = sqlite3.connect(engine.url.database, isolation_level=None)
    insert = "INSERT INTO web_spent_sign_ins (state_id, spent_at) VALUES (?, '2026-01-01 00:00:00')"
    try:
        other.execute("BEGIN IMMEDIATE")
        # even its opening pragmas meet the lock
        with pytest.raises(DatabaseBusy, match="write lock"), loop_connection.without_waiting() as connection:
            connection.execute(insert, ("first",))
        other.execute("ROLLBACK")
        with loop_connection.without_waiting() as connection:  # opened now
            connection.execute(insert, ("second",))
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(DatabaseBusy, match="write lock"), loop_connection.without_waiting() as connection:
            connection.execute(insert, ("third",))
        other.execute("ROLLBACK")
    finally:
        other.close()
    with loop_connection.without_waiting() as connection:
        assert connection.execute("SELECT state_id FROM web_spent_sign_ins").fetchall() == [("second",)]
    with pytest.raises(sqlite3.OperationalError, match="no such table"), loop_connection.without_waiting() as connection:
        connection.execute("SELECT * FROM no_such_table")
    with loop_connection.without_waiting() as connection:  # usable after both
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert connection.execute("PRAGMA foreign_keys").fetchone() == (1,)
    assert SqliteLoopConnection.for_engine(make_engine("sqlite://")) is None
    assert SqliteLoopConnection.for_engine(make_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test")) is None
