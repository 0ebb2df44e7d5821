"""The relay: claims due outbox rows and carries each out with its kind's handler, once.

Each row goes through three steps, and only the middle one talks to the outside world:

1. **prepare**, in a short transaction: the handler reads what to do *now* (a reminder's
   text, the announcement's current facts); None means there is nothing left to do.
2. **perform**, with no transaction open: the Slack (or tracker) calls. Rows bound for the
   same channel go one after another, a second apart where the handler posts there
   (Slack's chat.postMessage allows about one a second per channel); channels go in
   parallel.
3. **record**, in a short transaction and only while the claim is still ours: what came
   back (a ts, a channel id), and whatever follows (a declare's next steps). Many rows are
   recorded per transaction, by one thread, so a hundred channels sending at once don't
   queue on the database (SQLite has a single writer).

Rows arrive two ways. A request's transaction that enqueued rows hands their ids over at
its commit (`attach`), and they start at once on this process's threads (`kick`); the
request itself never waits for them. Kinds that may wait long on someone else (a tracker's
rate limit) have threads of their own (`threads` on their handler), so they never hold up
the rest. And `run_due`, called by the poller in every process
(bot.scheduler) and by tests, claims whatever is due: reminders whose time has come, rows
whose retry is due, rows a dead process left behind, rows nobody kicked.

The failure rules are the rows': a transient failure (Slack down, a 429, a timeout) puts
the row back with exponential backoff, and it is never dropped unless its kind has a last
attempt; an answer that won't change gives up at once, with the reason kept for whoever
is told. A handler that raises is a bug, not a Slack failure: it is logged with its
traceback and retried like a transient failure.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from bot.inflight import InFlight
from bot.models import OutboxItem
from bot.outbox import store
from bot.outbox.store import Claimed

log = logging.getLogger(__name__)

CLAIM_BATCH = 1000
# Slack allows chat.postMessage about once per second per channel. Spacing a channel's
# sends that far apart (from Slack's answer to the next request) avoids 429s; any that
# still come are waited out by the client. Relying on 429s alone would cost a whole
# Retry-After second (Slack rounds it up) on top of every message.
CHANNEL_POST_INTERVAL = 1.0


@dataclass(frozen=True)
class Outcome:
    """What performing a row came to."""

    status: str  # sent | recovered (found already done after a crash) | retry | failed
    reason: str | None = None
    not_before: datetime | None = None  # for retry: not before this (a Retry-After)
    channel_id: str | None = None
    message_ts: str | None = None
    result: dict[str, Any] | None = None

    @classmethod
    def sent(cls, *, channel_id: str | None = None, message_ts: str | None = None, result: dict[str, Any] | None = None) -> Outcome:
        return cls("sent", channel_id=channel_id, message_ts=message_ts, result=result)

    @classmethod
    def recovered(cls, *, channel_id: str | None = None, message_ts: str | None = None, result: dict[str, Any] | None = None) -> Outcome:
        return cls("recovered", channel_id=channel_id, message_ts=message_ts, result=result)

    @classmethod
    def retry(cls, reason: str, *, not_before: datetime | None = None) -> Outcome:
        return cls("retry", reason=reason, not_before=not_before)

    @classmethod
    def failed(cls, reason: str, *, result: dict[str, Any] | None = None) -> Outcome:
        return cls("failed", reason=reason, result=result)

    @property
    def done(self) -> bool:
        return self.status in ("sent", "recovered")


class Handler(Protocol):
    """Carries out one kind of row. `prepare` and `record` run inside a transaction and
    must not call out; `perform` runs with none open and may."""

    @property
    def lease(self) -> timedelta:
        """How long a claim lasts before another process may take the row over; longer than
        the slowest perform (reminders: a whole channel's batch at one a second)."""

    @property
    def max_attempts(self) -> int | None:
        """Attempts before giving up (None: never; a reminder is retried until it goes out)."""

    @property
    def paced(self) -> bool:
        """Posts to a channel: paced to one a second per channel."""

    # Optional `threads: int`: rows of this kind started at commit run on that many threads of
    # their own (trackers: a perform may wait out a rate-limit window), so they never hold up
    # the Slack rows started alongside them, nor wait behind them.

    def prepare(self, session: Session, row: OutboxItem, *, now: datetime) -> Any | None: ...

    def perform(self, work: Any, *, reclaimed_from: datetime | None) -> Outcome: ...

    def record(self, session: Session, row: OutboxItem, work: Any, outcome: Outcome, *, now: datetime) -> None: ...


def pace_key(work: Any, row_id: int) -> tuple[str, ...]:
    """Rows bound for the same (team, channel) go one after another."""
    channel = getattr(work, "pace_channel", None)
    return tuple(channel) if channel else ("row", str(row_id))


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0  # attempts that failed and will be retried
    given_up: int = 0
    cancelled: int = 0
    skipped: int = 0
    recovered: int = 0  # re-claimed rows found already done, so not done again
    lost_claims: int = 0

    def add(self, other: DeliveryReport) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class _Performed:
    claim: Claimed
    work: Any
    outcome: Outcome


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class Relay:
    session_factory: sessionmaker[Session]
    handlers: Mapping[str, Handler]
    clock: Callable[[], datetime]
    worker: str = field(default_factory=_worker_name)
    # Parallel sends across channels; the threads mostly wait on Slack, so many are cheap.
    concurrency: int = 100
    # Threads for rows started at their decision's commit.
    kick_threads: int = 8
    _pass_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _kicks: ThreadPoolExecutor | None = field(default=None, repr=False)
    _in_flight: InFlight = field(default_factory=InFlight, repr=False)
    _own_pools: dict[str, ThreadPoolExecutor] = field(default_factory=dict, repr=False)
    _guard: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _closed: bool = field(default=False, repr=False)

    # -- leases --------------------------------------------------------------------------

    def lease_of(self, kind: str) -> timedelta:
        handler = self.handlers.get(kind)
        return handler.lease if handler is not None else max(h.lease for h in self.handlers.values())

    @property
    def shortest_lease(self) -> timedelta:
        return min(h.lease for h in self.handlers.values())

    # -- rows started at their decision's commit ------------------------------------------

    def attach(self, session_factory: sessionmaker[Session]) -> None:
        """Start the rows a transaction enqueued as soon as it commits; forget them if it rolls back."""

        @event.listens_for(session_factory, "after_commit")
        def _committed(session: Session) -> None:
            ids = store.take_enqueued(session)
            if ids:
                self.kick(ids)

        @event.listens_for(session_factory, "after_rollback")
        def _rolled_back(session: Session) -> None:
            store.take_enqueued(session)

    def kick(self, ids: Sequence[int]) -> None:
        """Carry these rows out on this process's threads, now; the caller doesn't wait."""
        with self._guard:
            if self._closed:
                return  # stopping: the next process's poll finds them
            if self._kicks is None:
                self._kicks = ThreadPoolExecutor(max_workers=self.kick_threads, thread_name_prefix="outbox")
            future = self._kicks.submit(self._run_kicked, list(ids))
        self._in_flight.add(future)
        future.add_done_callback(_log_failure)

    def _run_kicked(self, ids: list[int]) -> None:
        now = self.clock()
        with self.session_factory.begin() as session:
            claimed = store.claim(session, ids, now=now, worker=self.worker, lease_of=self.lease_of, shortest_lease=self.shortest_lease)
        shared = [c for c in claimed if self._own_threads(c.kind) is None]
        for claim in claimed:
            if self._own_threads(claim.kind) is not None:
                self._submit_own(claim, now)
        if shared:
            self._deliver(shared, now, DeliveryReport(), chain_lanes=True)

    def _own_threads(self, kind: str) -> int | None:
        return getattr(self.handlers.get(kind), "threads", None)

    def _submit_own(self, claim: Claimed, now: datetime) -> None:
        """A claimed row of a kind with threads of its own, carried out on them."""
        with self._guard:
            if self._closed:
                return  # stopping: the claim runs out and the next poll, on any process, takes it
            pool = self._own_pools.get(claim.kind)
            if pool is None:
                pool = ThreadPoolExecutor(max_workers=self._own_threads(claim.kind) or 1, thread_name_prefix=f"outbox-{claim.kind}")
                self._own_pools[claim.kind] = pool
            future = pool.submit(self._deliver, [claim], now, DeliveryReport(), chain_lanes=True)
        self._in_flight.add(future)
        future.add_done_callback(_log_failure)

    def settle(self, timeout: float = 30.0) -> bool:
        """Wait until the rows kicked on this process (and the lane rows they started) are
        done; True if they all were within `timeout` seconds."""
        return self._in_flight.wait_idle(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Let kicked rows finish, within a bound, then stop taking new ones (a row left
        pending is the next poll's, on any process)."""
        self.settle(timeout)
        with self._guard:
            self._closed = True
            kicks, self._kicks = self._kicks, None
            own, self._own_pools = list(self._own_pools.values()), {}
        for pool in [kicks, *own]:
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)

    # -- the poller's pass ----------------------------------------------------------------

    def run_due(self, now: datetime | None = None, *, kinds: Iterable[str] | None = None) -> DeliveryReport:
        """Carry out everything due at `now` (default: the clock), claim by claim, until nothing is due.
        Rows already started by a commit on this process are let finish first."""
        self.settle()
        report = DeliveryReport()
        wanted = tuple(kinds) if kinds is not None else None
        # One pass at a time per process; other processes are kept out by the claims.
        with self._pass_lock:
            when = now or self.clock()
            with self.session_factory.begin() as session:
                for handler in {id(h): h for h in self.handlers.values()}.values():
                    before = getattr(handler, "before_pass", None)
                    if before is not None:
                        report.skipped += before(session, when)
            while True:
                with self.session_factory.begin() as session:
                    claimed = store.claim_due(session, now=when, worker=self.worker, lease_of=self.lease_of,
                                              shortest_lease=self.shortest_lease, limit=CLAIM_BATCH, kinds_wanted=wanted)
                if not claimed:
                    break
                # The pass itself claims each lane's next row on its next round.
                self._deliver(claimed, when, report, chain_lanes=False)
        if report.sent or report.failed or report.given_up:
            log.info("outbox: %s", report)
        return report

    # -- one batch ------------------------------------------------------------------------

    def _deliver(self, claimed: list[Claimed], now: datetime, report: DeliveryReport, *, chain_lanes: bool) -> None:
        prepared: list[tuple[Claimed, Any]] = []
        with self.session_factory.begin() as session:
            for claim in claimed:
                row = session.get(OutboxItem, claim.id)
                handler = self.handlers.get(claim.kind)
                if row is None:
                    continue
                if handler is None:
                    store.give_up(row, f"no handler for kind {claim.kind!r} in this process")
                    report.given_up += 1
                    log.error("outbox row %s has kind %r, which nothing here carries out", claim.id, claim.kind)
                    continue
                try:
                    work = handler.prepare(session, row, now=now)
                except Exception:
                    log.exception("outbox row %s (%s) could not be prepared", claim.id, claim.kind)
                    work = _PrepareFailed()
                if work is None:
                    if row.status == "sending":  # the handler may have cancelled it with its own reason
                        store.cancel(row, "nothing left to do")
                    report.cancelled += 1
                    continue
                prepared.append((claim, work))
        groups: dict[tuple[str, ...], list[tuple[Claimed, Any]]] = defaultdict(list)
        for claim, work in prepared:
            groups[pace_key(work, claim.id)].append((claim, work))
        if not groups:
            if chain_lanes:
                self._next_in_lanes([c for c in claimed if c.lane], now)
            return
        recorder = _Recorder(self, now)
        try:
            if len(groups) == 1:
                self._perform_group(next(iter(groups.values())), recorder)
            else:
                with ThreadPoolExecutor(max_workers=min(self.concurrency, len(groups)), thread_name_prefix="outbox-send") as pool:
                    list(pool.map(lambda group: self._perform_group(group, recorder), groups.values()))
        finally:
            recorder.close()
        report.add(recorder.report)
        by_kind: dict[str, list[_Performed]] = defaultdict(list)
        for performed in recorder.performed:
            by_kind[performed.claim.kind].append(performed)
        for kind, done in by_kind.items():
            after = getattr(self.handlers[kind], "after_batch", None)
            if after is not None:
                try:
                    after([(p.claim.id, p.work, p.outcome) for p in done])
                except Exception:
                    log.exception("planning after %d %s row(s) failed", len(done), kind)
        if chain_lanes:
            self._next_in_lanes([c for c in claimed if c.lane], now)

    def _perform_group(self, group: list[tuple[Claimed, Any]], recorder: _Recorder) -> None:
        next_post = 0.0
        for claim, work in group:
            handler = self.handlers[claim.kind]
            if handler.paced:
                pause = next_post - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
            if isinstance(work, _PrepareFailed):
                outcome = Outcome.retry("it could not be prepared (an error in Incident Scribe; see its log)")
            else:
                try:
                    outcome = handler.perform(work, reclaimed_from=claim.reclaimed_from)
                except Exception as error:
                    log.exception("outbox row %s (%s) failed", claim.id, claim.kind)
                    outcome = Outcome.retry(f"an error in Incident Scribe: {type(error).__name__}")
            recorder.record(_Performed(claim, work, outcome))
            if handler.paced:
                # Measured from Slack's answer, so the next send can't arrive within the second.
                next_post = time.monotonic() + CHANNEL_POST_INTERVAL

    def record(self, performed: Sequence[_Performed], now: datetime) -> DeliveryReport:
        """Record several performed rows in one transaction; each only if our claim still stands."""
        report = DeliveryReport()
        with self.session_factory.begin() as session:
            for item in performed:
                row = session.get(OutboxItem, item.claim.id)
                if not store.still_ours(row, self.worker):
                    # Our lease ran out mid-perform and another process took the row over.
                    log.warning("outbox row %s was re-claimed by another process while this one carried it out", item.claim.id)
                    report.lost_claims += 1
                    continue
                assert row is not None
                handler = self.handlers[item.claim.kind]
                outcome = item.outcome
                if outcome.status == "retry" and handler.max_attempts is not None and row.attempts >= handler.max_attempts:
                    log.warning("outbox row %s (%s): giving up after %d attempts", row.id, row.dedupe_key, row.attempts)
                    outcome = Outcome.failed(outcome.reason or "failed")
                if outcome.done:
                    store.mark_sent(row, now=self.clock(), channel_id=outcome.channel_id, message_ts=outcome.message_ts, result=outcome.result)
                    if outcome.status == "recovered":
                        report.recovered += 1
                    else:
                        report.sent += 1
                elif outcome.status == "retry":
                    retry_at = store.retry_later(row, outcome.reason or "failed", now=now, not_before=outcome.not_before)
                    report.failed += 1
                    log.warning("outbox row %s (%s) failed on attempt %d: %s; retrying at %s",
                                row.id, row.dedupe_key, row.attempts, outcome.reason, retry_at.isoformat())
                else:
                    store.give_up(row, outcome.reason or "failed", result=outcome.result)
                    report.given_up += 1
                    log.warning("outbox row %s (%s) given up: %s", row.id, row.dedupe_key, outcome.reason)
                item.outcome = outcome
                handler.record(session, row, item.work, outcome, now=self.clock())
        return report

    def _next_in_lanes(self, claimed: list[Claimed], now: datetime) -> None:
        """A lane's next row starts as soon as the one before it is finished."""
        lanes = {c.lane for c in claimed if c.lane}
        if not lanes:
            return
        with self.session_factory.begin() as session:
            following = [row_id for lane in sorted(lanes) if (row_id := store.next_in_lane(session, lane, now=self.clock())) is not None]
        if following:
            self.kick(following)


def _log_failure(future: Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("outbox work failed", exc_info=future.exception())


class _PrepareFailed:
    """Stands for the work of a row whose handler raised in prepare: retried later."""


class _Recorder:
    """Records performed rows from one thread, many per transaction (see Relay.record)."""

    def __init__(self, relay: Relay, now: datetime):
        self.relay = relay
        self.now = now
        self.report = DeliveryReport()
        self.performed: list[_Performed] = []
        self._queue: queue.Queue[_Performed | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="outbox-recorder", daemon=True)
        self._thread.start()

    def record(self, performed: _Performed) -> None:
        self._queue.put(performed)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        finished = False
        while not finished:
            batch = [self._queue.get()]
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            finished = None in batch
            performed = [item for item in batch if item is not None]
            if not performed:
                continue
            try:
                self.report.add(self.relay.record(performed, self.now))
                self.performed.extend(performed)
            except Exception:  # rows stay 'sending'; after the lease they are checked again, not redone blindly
                log.exception("could not record %d outbox row(s)", len(performed))
