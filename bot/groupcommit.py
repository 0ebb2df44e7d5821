"""Group commit: many request threads, one write, and each still waits for its commit.

Busy incident channels send many message events at once. Giving each its own transaction
costs a BEGIN, an incident lookup, an INSERT and a COMMIT per message, and on SQLite the
transactions queue on the single writer anyway.

Here the first request thread to arrive while nothing is being written becomes the
leader: it writes its own item and everything queued behind it at once. Threads arriving
meanwhile queue; when the leader's write has committed they are woken, and the oldest one
still waiting (if any) leads the next batch. So a lone request pays for no thread hand-off
at all, and under load a batch grows to whatever arrived during the previous commit. A
caller returns only after the write holding its item has committed, so "Slack gets its
200 only after the write is durable" still holds (see bot.slack.app).

Why the write should be few database calls (bot.services.capture.write_messages makes it
one autocommit statement): every call into the driver releases the interpreter lock, and
under load the leader then queues for it behind request threads that are parsing JSON,
while the whole batch waits. Measured with bench/run.py, a BEGIN, an INSERT per row and a
COMMIT left ingestion at about 0.6 of the do-nothing app; one statement per batch, ~0.7.

If a shared write fails, each of its items is retried alone, so one bad item fails only
its own request (which answers 500, and Slack redelivers it).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


@dataclass(eq=False)
class _Pending(Generic[T]):
    item: T
    # Set when the item's write has finished (see `error`), or when this
    # thread has been made leader of the next batch (see `promoted`).
    wake: threading.Event = field(default_factory=threading.Event)
    promoted: bool = False
    error: BaseException | None = None
    result: Any = None


class GroupCommit(Generic[T, R]):
    """`submit(item)` returns once `write([..., item, ...])` has returned, which must mean
    committed. If `write` returns a list (one result per item, in order), `submit` returns
    its item's result; otherwise None."""

    def __init__(
        self,
        write: Callable[[Sequence[T]], Sequence[R] | None],
        *,
        max_batch: int = 500,
        wait_seconds: float = 30.0,
        name: str = "group-commit",
    ) -> None:
        self._write = write
        self._max_batch = max_batch
        self._wait_seconds = wait_seconds
        self._name = name
        self._lock = threading.Lock()
        self._waiting: list[_Pending[T]] = []
        # Invariant: whenever items are waiting, some thread is (or is about to be) leader.
        self._leading = False

    def submit(self, item: T) -> R | None:
        """Write `item`; raises what the write raised, or TimeoutError if it waited too long."""
        pending = _Pending(item)
        with self._lock:
            self._waiting.append(pending)
            lead = not self._leading
            self._leading = True
        if not lead and not pending.wake.wait(self._wait_seconds):
            with self._lock:
                if not pending.wake.is_set():
                    # Neither written nor promoted: withdraw, so nobody writes it later.
                    if pending in self._waiting:
                        self._waiting.remove(pending)
                    raise TimeoutError(f"{self._name}: not committed within {self._wait_seconds:.0f} s")
        if lead or pending.promoted:
            self._lead()
        if pending.error is not None:
            raise pending.error
        return pending.result  # type: ignore[no-any-return]

    def _lead(self) -> None:
        with self._lock:
            # The leader's own item is first in line: it was alone, or the oldest waiting.
            batch = self._waiting[: self._max_batch]
            del self._waiting[: len(batch)]
        try:
            self._commit(batch)
        finally:
            with self._lock:
                if self._waiting:
                    successor = self._waiting[0]
                    successor.promoted = True
                    successor.wake.set()
                else:
                    self._leading = False

    def _commit(self, batch: list[_Pending[T]]) -> None:
        results: Sequence[R] | None = None
        try:
            results = self._write([p.item for p in batch])
        except Exception as error:
            if len(batch) > 1:
                log.warning("%s: a batch of %d failed (%s); writing each alone", self._name, len(batch), type(error).__name__)
                for pending in batch:
                    self._commit([pending])
                return
            batch[0].error = error
        for index, pending in enumerate(batch):
            if results is not None:
                pending.result = results[index]
            pending.wake.set()
