"""Group commit: many request threads, one transaction, and each still waits for its commit.

Busy incident channels send many message events at once. Giving each its own transaction
costs a BEGIN, an incident lookup, an INSERT and a COMMIT (plus, on PostgreSQL, a pool
pre-ping) per message, and on SQLite the transactions queue on the single writer anyway.
Here request threads hand their item to one writer thread and wait; the writer takes
everything that is waiting and writes it in one transaction. A caller returns only after
the transaction holding its item has committed, so "Slack gets its 200 only after the
write is durable" still holds (see bot.slack.app).

If a shared transaction fails, each of its items is retried alone, so one bad item fails
only its own request (which answers 500, and Slack redelivers it).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from bot.db import transaction

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class _Pending(Generic[T]):
    item: T
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


_STOP = object()


class GroupCommit(Generic[T]):
    """`submit(item)` returns once `write(session, [..., item, ...])` has committed."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        write: Callable[[Session, Sequence[T]], None],
        *,
        max_batch: int = 500,
        wait_seconds: float = 30.0,
        name: str = "group-commit",
    ) -> None:
        self._factory = session_factory
        self._write = write
        self._max_batch = max_batch
        self._wait_seconds = wait_seconds
        self._name = name
        self._queue: queue.SimpleQueue[_Pending[T] | object] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, item: T) -> None:
        """Write `item`; raises what the write raised, or TimeoutError if the writer is stuck."""
        pending = _Pending(item)
        with self._lock:
            if self._closed:
                # Shutting down: write it here rather than lose it.
                self._commit([pending])
                self._raise_if_failed(pending)
                return
            if self._thread is None:
                # Started on first use: building an app starts no threads.
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._queue.put(pending)
        if not pending.done.wait(self._wait_seconds):
            raise TimeoutError(f"{self._name}: not committed within {self._wait_seconds:.0f} s")
        self._raise_if_failed(pending)

    @staticmethod
    def _raise_if_failed(pending: _Pending[T]) -> None:
        if pending.error is not None:
            raise pending.error

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the writer. Later submits write synchronously."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
            if thread is not None:
                self._queue.put(_STOP)
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch: list[_Pending[T]] = [first]  # type: ignore[list-item]
            stop_after = False
            while len(batch) < self._max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stop_after = True
                    break
                batch.append(more)  # type: ignore[arg-type]
            self._commit(batch)
            if stop_after:
                return

    def _commit(self, batch: list[_Pending[T]]) -> None:
        try:
            with transaction(self._factory) as session:
                self._write(session, [p.item for p in batch])
        except Exception as error:
            if len(batch) == 1:
                batch[0].error = error
            else:
                log.warning("%s: a batch of %d failed (%s); writing each alone", self._name, len(batch), type(error).__name__)
                for pending in batch:
                    self._commit([pending])
                return
        for pending in batch:
            pending.done.set()
