"""bot.db.checkpoint.WalCheckpointer: SQLite's log is copied into the database file by a thread of its own,
so the event loop's writer no longer does it (see README, Benchmarks)."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

from sqlalchemy import text

from bot.db import make_engine
from bot.db.checkpoint import WalCheckpointer


def _wait_for(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def _write_rows(engine, first: int, count: int) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body TEXT)"))
        conn.execute(text("INSERT INTO t (id, body) VALUES (:id, :body)"), [{"id": i, "body": "x" * 2000} for i in range(first, first + count)])


def _rows_in_database_file_alone(path: Path, tmp_path: Path) -> int:
    """Rows readable from the database file without its log: what checkpoints have copied."""
    copy = tmp_path / "file-alone.db"
    shutil.copyfile(path, copy)
    connection = sqlite3.connect(copy)
    try:
        tables = connection.execute("SELECT count(*) FROM sqlite_master WHERE name = 't'").fetchone()[0]
        return connection.execute("SELECT count(*) FROM t").fetchone()[0] if tables else 0
    finally:
        connection.close()


def test_copies_each_commit_into_the_database_file_while_the_writer_never_checkpoints(tmp_path: Path) -> None:
    path = tmp_path / "scribe.db"
    engine = make_engine(f"sqlite:///{path}")
    _write_rows(engine, 0, 1)  # creates the file in WAL mode
    checkpointer = WalCheckpointer.for_engine(engine, busy_seconds=0.01, idle_seconds=0.05)
    assert checkpointer is not None
    checkpointer.start()
    try:
        # 40 rows of 2 KB: far below the 1,000 pages at which the writer checkpoints itself.
        _write_rows(engine, 1, 40)
        _wait_for(lambda: checkpointer.last is not None and checkpointer.last[0] > 0 and checkpointer.last[0] == checkpointer.last[1])
        assert _rows_in_database_file_alone(path, tmp_path) == 41
        _write_rows(engine, 41, 10)
        _wait_for(lambda: _rows_in_database_file_alone(path, tmp_path) == 51)
    finally:
        checkpointer.stop()
        engine.dispose()
    assert not checkpointer._thread.is_alive()  # type: ignore[union-attr]


def test_polls_fast_while_the_log_grows_and_slowly_once_it_stops(tmp_path: Path) -> None:
    path = tmp_path / "scribe.db"
    engine = make_engine(f"sqlite:///{path}")
    _write_rows(engine, 0, 5)
    checkpointer = WalCheckpointer(str(path), busy_seconds=0.01, idle_seconds=1.0)
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        assert checkpointer._checkpoint(connection) == 0.01  # first look: pages to copy
        assert checkpointer.last is not None and checkpointer.last[0] == checkpointer.last[1] > 0
        assert checkpointer._checkpoint(connection) == 1.0  # nothing new
        _write_rows(engine, 5, 5)
        assert checkpointer._checkpoint(connection) == 0.01  # a commit since
        assert checkpointer._checkpoint(connection) == 1.0
    finally:
        connection.close()
        engine.dispose()


def test_only_for_sqlite_files() -> None:
    assert WalCheckpointer.for_engine(make_engine("sqlite://")) is None
    assert WalCheckpointer.for_engine(make_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test")) is None


def test_a_missing_directory_turns_it_off_without_failing(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    checkpointer = WalCheckpointer(str(tmp_path / "no-such-dir" / "scribe.db")).start()
    checkpointer.stop()
    assert "background checkpoints are off" in caplog.text


def test_upgrade_leaves_a_sqlite_file_in_wal_mode_before_any_thread_opens_it(tmp_path: Path) -> None:
    # Switching to WAL takes the database for itself; if the app's threads did it as they
    # start, one reading at that moment (catch-up, the checkpointer) failed with "database is locked".
    from bot.db import upgrade

    path = tmp_path / "fresh.db"
    upgrade(f"sqlite:///{path}")
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        connection.close()
