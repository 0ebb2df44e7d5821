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

Requests the HTTP server runs on its event loop (bot.server) call `submit` from a greenlet
there. Blocking would stop the loop, so the greenlet is suspended instead (SQLAlchemy's
`await_only`) until the item's write has committed, and the loop serves other requests
meanwhile: the listener's code is the same either way, and so is the promise. Such items are
written by a writer thread that leads batches on the loop's behalf, or, given
`write_on_loop`, by a task on the loop itself (the app gives one for message events on both
databases, each over the loop's own connection: libpq driven from the loop on PostgreSQL,
SQLite's call made right there on SQLite).

A listener whose answer doesn't depend on the write (a new message: Slack only needs its 200)
calls `submit_before_answer` instead. On the loop, inside the server's
`answer_after_commits`, that only queues the item, and the server awaits its commit before
answering. Same promise, without suspending and resuming the listener's greenlet, which with
Bolt's deep call stack cost more than the write itself (README, Benchmarks).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Generator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.util.concurrency import await_only, in_greenlet

log = logging.getLogger(__name__)

# How many rounds of the event loop a batch written on the loop may wait for more items (see
# GroupCommit._gather). Measured with bench/run.py --only socket on PostgreSQL: batches of 6.3
# items on average without it, 8.0 with it, and less of this process's time per message.
GATHER_ROUNDS = 4

T = TypeVar("T")
R = TypeVar("R")

# The commits the request being dispatched on the loop must wait for before it is answered
# (answer_after_commits); None outside one. The listener's greenlet shares the request's
# context (SQLAlchemy's greenlet_spawn hands it on), so it sees the same list.
_commits_before_answer: ContextVar[list[asyncio.Future[Any]] | None] = ContextVar("commits_before_answer", default=None)


class answer_after_commits:
    """For the server, around dispatching one request on the event loop: collects the writes
    its listener queued with `submit_before_answer`, which must all have committed (see
    `all_committed`) before the request may be answered.

    A class rather than @contextmanager: every message event passes through here, and the
    generator machinery cost three times as much."""

    __slots__ = ("_token",)

    def __enter__(self) -> list[asyncio.Future[Any]]:
        commits: list[asyncio.Future[Any]] = []
        self._token = _commits_before_answer.set(commits)
        return commits

    def __exit__(self, *exc_info: object) -> None:
        _commits_before_answer.reset(self._token)


async def all_committed(commits: Sequence[asyncio.Future[Any]]) -> BaseException | None:
    """Waits for every one of `commits`; the first failure among them, or None."""
    failure: BaseException | None = None
    for commit in commits:
        try:
            await commit
        except Exception as error:  # each is awaited, so none is left unretrieved
            failure = failure or error
    return failure


class _Pending(Generic[T]):
    """One submitted item and what its submitter waits on."""

    __slots__ = ("error", "future", "item", "promoted", "result", "wake")

    def __init__(self, item: T, future: asyncio.Future[Any] | None = None) -> None:
        self.item = item
        # A thread waits on `wake`: set when the item's write has finished (see `error`), or
        # when this thread has been made leader of the next batch (see `promoted`). An item
        # from the event loop has `future` instead, settled on the loop after the write.
        self.wake: threading.Event | None = None if future is not None else threading.Event()
        self.future = future
        self.promoted = False
        self.error: BaseException | None = None
        self.result: Any = None


@dataclass
class _OnLoop:
    """What a GroupCommit keeps for one event loop; touched only on that loop."""

    # Items still awaiting their write, oldest first, with their deadlines; and the sweep
    # that times them out.
    watched: deque[tuple[float, _Pending[Any]]] = field(default_factory=deque)
    sweep: asyncio.TimerHandle | None = None
    # With `write_on_loop`: items not yet in a batch, and the task writing batches.
    waiting: list[_Pending[Any]] = field(default_factory=list)
    leader: asyncio.Task[None] | None = None


def _record(batch: list[_Pending[Any]], results: Sequence[Any] | None) -> None:
    if results is not None:
        for pending, result in zip(batch, results, strict=True):
            pending.result = result


def _settle(batch: list[_Pending[Any]]) -> None:
    """On the event loop: hand each written item's outcome to the request awaiting it."""
    for pending in batch:
        future = pending.future
        assert future is not None
        if future.done():  # gave up waiting (see GroupCommit._expire)
            continue
        if pending.error is not None:
            future.set_exception(pending.error)
        else:
            future.set_result(pending.result)


class GroupCommit(Generic[T, R]):
    """`submit(item)` returns once `write([..., item, ...])` has returned, which must mean
    committed. If `write` returns a list (one result per item, in order), `submit` returns
    its item's result; otherwise None.

    `write_on_loop`, if given, is the same write as a coroutine (a driver with an asyncio
    API): items from an event loop are then written by a task on that loop, with no thread
    in between. Without it, the writer thread writes them with `write`.
    """

    def __init__(
        self,
        write: Callable[[Sequence[T]], Sequence[R] | None],
        *,
        write_on_loop: Callable[[Sequence[T]], Awaitable[Sequence[R] | None]] | None = None,
        max_batch: int = 500,
        wait_seconds: float = 30.0,
        name: str = "group-commit",
    ) -> None:
        self._write = write
        self._write_on_loop = write_on_loop
        self._max_batch = max_batch
        self._wait_seconds = wait_seconds
        self._name = name
        self._lock = threading.Lock()
        self._waiting: list[_Pending[T]] = []
        # Invariant: whenever items are waiting, some thread is (or is about to be) leader.
        self._leading = False
        # Leads batches for items from the event loop; started on the first such item.
        self._writer: threading.Thread | None = None
        self._writer_wake = threading.Event()
        # Weak: a loop that has closed (a stopped server, a test's) is forgotten with it.
        self._on_loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _OnLoop] = weakref.WeakKeyDictionary()
        self._sweep_seconds = min(1.0, wait_seconds / 4)

    def submit(self, item: T) -> R | None:
        """Write `item`; raises what the write raised, or TimeoutError if it waited too long."""
        if in_greenlet():
            return await_only(self._queue_on_loop(item))
        pending = _Pending(item)
        lead = self._enqueue(pending)
        assert pending.wake is not None
        if not lead and not pending.wake.wait(self._wait_seconds):
            with self._lock:
                if not pending.wake.is_set():
                    # Neither written nor promoted: withdraw, so nobody writes it later.
                    if pending in self._waiting:
                        self._waiting.remove(pending)
                    raise TimeoutError(f"{self._name}: not committed within {self._wait_seconds:g} s")
        if lead or pending.promoted:
            self._lead()
        if pending.error is not None:
            raise pending.error
        return pending.result

    def submit_before_answer(self, item: T) -> None:
        """Write `item`; the request being handled is answered only once it has committed.

        On the server's loop (inside `answer_after_commits`) this returns at once, and the
        server waits for the commit before answering; a failed write then answers as a
        failed listener would. Anywhere else (a request thread, a test) it is `submit`.
        Only for listeners whose answer does not depend on the write's outcome.
        """
        commits = _commits_before_answer.get()
        if commits is not None and in_greenlet():
            commits.append(self._queue_on_loop(item))
        else:
            self.submit(item)

    def _enqueue(self, pending: _Pending[T]) -> bool:
        """Queue `pending` for the batches threads lead; True if nobody was leading, so the
        caller must see that someone does."""
        with self._lock:
            self._waiting.append(pending)
            lead = not self._leading
            self._leading = True
        return lead

    def _queue_on_loop(self, item: T) -> asyncio.Future[R | None]:
        """`submit` for a request on the event loop: the future its greenlet waits on, while
        the loop serves others. Runs on the loop (in the request's greenlet)."""
        loop = asyncio.get_running_loop()
        pending = _Pending(item, future=loop.create_future())
        on_loop = self._on_loops.get(loop) or self._on_loops.setdefault(loop, _OnLoop())
        # The first item of a batch starts its write only once the loop has dispatched the
        # other requests it already has in hand, so that they join the batch: a batch costs
        # ~30 µs (SQLite) to ~120 µs (PostgreSQL) of this process's time whatever its size,
        # and a row ~10 µs more. Starting at once made batches of about two.
        if self._write_on_loop is not None:
            on_loop.waiting.append(pending)
            if on_loop.leader is None:
                # A task's first step runs after the callbacks already due.
                on_loop.leader = loop.create_task(self._lead_on_loop(on_loop))
        elif self._enqueue(pending):
            loop.call_soon(self._hand_to_writer)
        self._watch(loop, on_loop, pending)
        assert pending.future is not None
        return pending.future

    async def _lead_on_loop(self, on_loop: _OnLoop) -> None:
        try:
            while on_loop.waiting:
                await self._gather(on_loop.waiting)
                batch = on_loop.waiting[: self._max_batch]
                del on_loop.waiting[: len(batch)]
                await self._commit_on_loop(batch)
        finally:
            on_loop.leader = None

    async def _gather(self, waiting: list[_Pending[T]]) -> None:
        """Before a batch's write: let the loop run while each round of it brings more items,
        for at most GATHER_ROUNDS rounds. A request takes several rounds from the socket to
        `submit` (in Socket Mode: aiohttp's reader, slack_sdk's queue, its listener task), so
        requests already read when the write would start arrive a round or two later; they
        join this batch instead of paying for one of their own (on PostgreSQL a batch costs
        this process ~200 µs whatever its size). A round that brings nothing ends it, so a
        lone request waits one round (microseconds), and the bound keeps a steady stream
        from holding a batch back."""
        for _ in range(GATHER_ROUNDS):
            if len(waiting) >= self._max_batch:
                return
            before = len(waiting)
            await asyncio.sleep(0)
            if len(waiting) == before:
                return

    def _split_and_retry(self, batch: list[_Pending[T]]) -> Generator[list[_Pending[T]], Any, None]:
        """The one rule for a failed write, whoever writes: yields the items to write, is sent
        the write's results or its exception. A batch that fails is written again item by
        item, so one bad item fails only its own request."""
        parts = [batch]
        while parts:
            part = parts.pop(0)
            outcome = yield part
            if isinstance(outcome, Exception):
                if len(part) > 1:
                    log.warning("%s: a batch of %d failed (%s); writing each alone", self._name, len(part), type(outcome).__name__)
                    parts[:0] = [[pending] for pending in part]
                    continue
                part[0].error = outcome
            else:
                _record(part, outcome)

    async def _commit_on_loop(self, batch: list[_Pending[T]]) -> None:
        """_commit, with `write_on_loop`."""
        assert self._write_on_loop is not None
        plan = self._split_and_retry(batch)
        part = next(plan)
        while True:
            try:
                outcome: Any = await self._write_on_loop([p.item for p in part])
            except Exception as error:
                outcome = error
            try:
                part = plan.send(outcome)
            except StopIteration:
                break
        _settle(batch)

    def _watch(self, loop: asyncio.AbstractEventLoop, on_loop: _OnLoop, pending: _Pending[T]) -> None:
        """Give up on `pending` after `wait_seconds`. Not a timer per item: asyncio keeps
        cancelled timers in a heap compared in Python, which cost 11 µs a request under
        load. Items are watched oldest first, by one sweep while any are outstanding."""
        on_loop.watched.append((loop.time() + self._wait_seconds, pending))
        if on_loop.sweep is None:
            on_loop.sweep = loop.call_later(self._sweep_seconds, self._sweep, loop, on_loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop, on_loop: _OnLoop) -> None:
        on_loop.sweep = None
        now = loop.time()
        watched = on_loop.watched
        while watched:
            deadline, pending = watched[0]
            assert pending.future is not None
            if not pending.future.done():
                if deadline > now:
                    break
                self._expire(on_loop, pending)
            watched.popleft()
        if watched:
            on_loop.sweep = loop.call_later(self._sweep_seconds, self._sweep, loop, on_loop)

    def _expire(self, on_loop: _OnLoop, pending: _Pending[T]) -> None:
        """On the loop: `pending` waited `wait_seconds`. As for a waiting thread, its request
        fails (and Slack redelivers it); if no batch took it yet it is withdrawn, so nobody
        writes it later."""
        if pending in on_loop.waiting:
            on_loop.waiting.remove(pending)
        with self._lock:
            if pending in self._waiting:
                self._waiting.remove(pending)
        assert pending.future is not None
        pending.future.set_exception(TimeoutError(f"{self._name}: not committed within {self._wait_seconds:g} s"))

    def _hand_to_writer(self) -> None:
        with self._lock:
            self._wake_writer()

    def _wake_writer(self) -> None:
        """Called with the lock held, when nobody leads and the next item is the loop's."""
        if self._writer is None:
            self._writer = threading.Thread(target=self._write_for_loop, name=f"{self._name}-writer", daemon=True)
            self._writer.start()
        self._writer_wake.set()

    def _write_for_loop(self) -> None:
        while True:
            self._writer_wake.wait()
            # Cleared before leading: leadership is only handed here while nobody leads.
            self._writer_wake.clear()
            self._lead()

    def _lead(self) -> None:
        while True:
            with self._lock:
                # The leader's own item is first in line: it was alone, or the oldest waiting.
                batch = self._waiting[: self._max_batch]
                del self._waiting[: len(batch)]
            try:
                self._commit(batch)
            finally:
                lead_on = self._pass_on()
            if not lead_on:
                return

    def _pass_on(self) -> bool:
        """After a batch: hand the lead to the oldest waiter. True if this thread leads the next batch."""
        with self._lock:
            if not self._waiting:
                self._leading = False
                return False
            successor = self._waiting[0]
            if successor.wake is not None:
                successor.promoted = True
                successor.wake.set()
                return False
            # The loop's item can't lead itself: the writer thread does, or goes on doing.
            if threading.current_thread() is self._writer:
                return True
            self._wake_writer()
            return False

    def _commit(self, batch: list[_Pending[T]]) -> None:
        plan = self._split_and_retry(batch)
        part = next(plan)
        while True:
            try:
                outcome: Any = self._write([p.item for p in part])
            except Exception as error:
                outcome = error
            try:
                part = plan.send(outcome)
            except StopIteration:
                break
        on_loops: dict[asyncio.AbstractEventLoop, list[_Pending[T]]] = {}
        for pending in batch:
            if pending.wake is not None:
                pending.wake.set()
            else:
                assert pending.future is not None
                on_loops.setdefault(pending.future.get_loop(), []).append(pending)
        # One wake-up of the loop for all of the batch's requests waiting there.
        for loop, settled in on_loops.items():
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting any more
                loop.call_soon_threadsafe(_settle, settled)
