"""SQLite's write-ahead log, copied into the database file by a thread of its own."""

from __future__ import annotations

import logging
import sqlite3
import threading

from sqlalchemy import Engine

from bot.db.engine import sqlite_file

log = logging.getLogger(__name__)


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
    def for_engine(cls, engine: Engine, **timing: float) -> WalCheckpointer | None:
        """A checkpointer for `engine`'s database if it is a SQLite file (WAL, see make_engine), else None."""
        path = sqlite_file(engine.url)
        return None if path is None else cls(path, **timing)

    def start(self) -> WalCheckpointer:
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
