"""The outbox (bot.outbox) on its own, with a handler that talks to nobody: rows enqueued in a
decision's transaction start at its commit and not at a rollback; two relays (two processes)
carry each row out once; a lane goes in order; failures back off, give up when the kind says,
and a dead process's claim is taken over after its lease."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.models import OutboxItem
from bot.outbox import store
from bot.outbox.relay import Outcome, Relay
from bot.outbox.store import Effect, enqueue

UTC = UTC
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@dataclass
class Recorder:
    """A handler: performs by noting the row's payload; answers what `answers` says, in turn."""

    lease: timedelta = timedelta(minutes=5)
    max_attempts: int | None = 3
    paced: bool = False
    answers: list[Outcome] = field(default_factory=list)
    performed: list[tuple[str, str, bool]] = field(default_factory=list)  # (what, worker thread, reclaimed)
    recorded: list[tuple[str, str]] = field(default_factory=list)
    hold: threading.Event | None = None
    started: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def prepare(self, session: Session, row: OutboxItem, *, now: datetime) -> Any:
        return (row.payload or {}).get("what")

    def perform(self, work: Any, *, reclaimed_from: datetime | None) -> Outcome:
        self.started.set()
        if self.hold is not None:
            self.hold.wait(10)
        with self.lock:
            self.performed.append((work, threading.current_thread().name, reclaimed_from is not None))
            return self.answers.pop(0) if self.answers else Outcome.sent(result={"did": work})

    def record(self, session: Session, row: OutboxItem, work: Any, outcome: Outcome, *, now: datetime) -> None:
        self.recorded.append((work, row.status))


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def add(session_factory, what: str, *, key: str | None = None, lane: str | None = None, due: datetime | None = None) -> int | None:  # type: ignore[no-untyped-def]
    with session_factory.begin() as session:
        return enqueue(session, Effect("test", key or what, "T0SIM", lane=lane, payload={"what": what}, due_at=due), now=T0)


def rows(session_factory) -> list[tuple[str, str, int]]:  # type: ignore[no-untyped-def]
    with session_factory() as session:
        return [(r.dedupe_key, r.status, r.attempts) for r in session.scalars(select(OutboxItem).order_by(OutboxItem.id))]


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_rows_start_at_their_commit_and_a_rollback_starts_nothing(session_factory, clock) -> None:  # type: ignore[no-untyped-def]
    handler = Recorder()
    relay = Relay(session_factory, {"test": handler}, clock)
    relay.attach(session_factory)
    with pytest.raises(RuntimeError), session_factory.begin() as session:
        enqueue(session, Effect("test", "rolled-back", "T0SIM", payload={"what": "rolled-back"}), now=T0)
        raise RuntimeError("the decision failed")
    add(session_factory, "first")
    assert relay.settle(10)
    assert [p[0] for p in handler.performed] == ["first"]
    assert handler.performed[0][1].startswith("outbox")  # on the relay's thread, not the committing one
    assert rows(session_factory) == [("first", "sent", 1)]
    relay.close()


def test_asking_twice_for_one_effect_makes_one_row(session_factory, clock) -> None:  # type: ignore[no-untyped-def]
    assert add(session_factory, "post", key="update:1") is not None
    assert add(session_factory, "post again", key="update:1") is None
    relay = Relay(session_factory, {"test": Recorder()}, clock)
    assert relay.run_due().sent == 1
    assert rows(session_factory) == [("update:1", "sent", 1)]


def test_a_row_planned_for_later_waits_for_its_time(session_factory, clock) -> None:  # type: ignore[no-untyped-def]
    handler = Recorder()
    relay = Relay(session_factory, {"test": handler}, clock)
    relay.attach(session_factory)
    add(session_factory, "reminder", due=T0 + timedelta(hours=1))
    assert relay.settle(10) and handler.performed == []  # planned rows are the poller's, at their time
    assert relay.run_due().sent == 0
    clock.now = T0 + timedelta(hours=1)
    assert relay.run_due().sent == 1
    relay.close()


def test_two_relays_polling_at_once_carry_each_row_out_once(session_factory, clock) -> None:  # type: ignore[no-untyped-def]
    for n in range(40):
        add(session_factory, f"row {n}")
    handler = Recorder()
    relays = [Relay(session_factory, {"test": handler}, clock, worker=f"process-{n}") for n in range(2)]
    start = threading.Barrier(2)

    def poll(relay: Relay) -> None:
        start.wait(10)
        relay.run_due()

    threads = [threading.Thread(target=poll, args=(r,)) for r in relays]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(p[0] for p in handler.performed) == sorted(f"row {n}" for n in range(40))
    assert {status for _, status, _ in rows(session_factory)} == {"sent"}


def test_a_lane_goes_in_order_one_row_at_a_time(session_factory, clock) -> None:  # type: ignore[no-untyped-def]
    handler = Recorder(answers=[Outcome.retry("Slack is down")])
    relay = Relay(session_factory, {"test": handler}, clock)
    for what in ("create", "invite", "reply"):
        add(session_factory, what, lane="declare:1")
    add(session_factory, "elsewhere", lane="declare:2")
    report = relay.run_due()
    # The lane's first row failed: the rest of its lane waits, the other lane goes on.
    assert [p[0] for p in handler.performed] == ["create", "elsewhere"]
    assert (report.failed, report.sent) == (1, 1)
    clock.now = T0 + timedelta(minutes=1)  # the first backoff
    relay.run_due()
    relay.settle()  # the lane's next rows start as each one before them is done, on the relay's threads
    assert [p[0] for p in handler.performed] == ["create", "elsewhere", "create", "invite", "reply"]
    assert rows(session_factory) == [("create", "sent", 2), ("invite", "sent", 1), ("reply", "sent", 1), ("elsewhere", "sent", 1)]


def test_failures_back_off_and_the_last_attempt_gives_up_with_the_reason(session_factory, clock) -> None:  # type: ignore[no-untyped-def]
    handler = Recorder(max_attempts=3, answers=[Outcome.retry("HTTP 503")] * 3)
    relay = Relay(session_factory, {"test": handler}, clock)
    add(session_factory, "post")
    relay.run_due()
    with session_factory() as s:
        row = s.scalars(select(OutboxItem)).one()
        assert (row.status, row.attempts, row.next_attempt_at, row.last_error) == ("pending", 1, T0 + timedelta(minutes=1), "HTTP 503")
    clock.now = T0 + timedelta(seconds=59)
    assert relay.run_due().failed == 0  # not before its backoff
    clock.now = T0 + timedelta(minutes=1)
    relay.run_due()
    clock.now = T0 + timedelta(minutes=3)  # 1, then 2 minutes
    report = relay.run_due()
    assert report.given_up == 1
    assert rows(session_factory) == [("post", "failed", 3)]
    assert handler.recorded[-1] == ("post", "failed")
    with session_factory() as s:
        assert s.scalars(select(OutboxItem.last_error)).one() == "HTTP 503"


def test_a_refusal_that_wont_change_gives_up_at_once(session_factory, clock) -> None:  # type: ignore[no-untyped-def]
    handler = Recorder(answers=[Outcome.failed("Slack answered `restricted_action`", result={"problems": ["not allowed"]})])
    relay = Relay(session_factory, {"test": handler}, clock)
    add(session_factory, "create")
    assert relay.run_due().given_up == 1
    with session_factory() as s:
        row = s.scalars(select(OutboxItem)).one()
        assert (row.status, row.attempts, row.last_error, row.result) == ("failed", 1, "Slack answered `restricted_action`", {"problems": ["not allowed"]})


def test_a_dead_processs_claim_is_taken_over_after_its_lease_and_the_handler_is_told(session_factory, clock) -> None:  # type: ignore[no-untyped-def]
    add(session_factory, "post")
    with session_factory.begin() as s:  # a process claimed it, then died
        claimed = store.claim_due(s, now=T0, worker="dead:1", lease_of=lambda kind: timedelta(minutes=5),
                                  shortest_lease=timedelta(minutes=5), limit=10)
    assert [c.id for c in claimed] == [1]
    handler = Recorder()
    relay = Relay(session_factory, {"test": handler}, clock, worker="alive:2")
    clock.now = T0 + timedelta(minutes=4, seconds=59)
    assert relay.run_due().sent == 0 and handler.performed == []  # still the dead process's
    clock.now = T0 + timedelta(minutes=5, seconds=1)
    assert relay.run_due().sent == 1
    assert handler.performed[0][2] is True  # told it was re-claimed, to look before doing it again
    assert rows(session_factory) == [("post", "sent", 2)]


def test_a_claim_lost_mid_perform_is_not_recorded_by_the_slow_process(session_factory, clock) -> None:  # type: ignore[no-untyped-def]
    add(session_factory, "post")
    hold = threading.Event()
    slow = Recorder(hold=hold)
    slow_relay = Relay(session_factory, {"test": slow}, clock, worker="slow:1")
    result: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: result.update(report=slow_relay.run_due()))
    worker.start()
    # The slow process is stuck past its lease; another takes the row over and does it.
    assert slow.started.wait(10)
    clock.now = T0 + timedelta(minutes=6)
    fast = Recorder()
    assert Relay(session_factory, {"test": fast}, clock, worker="fast:2").run_due().sent == 1
    hold.set()
    worker.join(10)
    assert result["report"].lost_claims == 1 and result["report"].sent == 0
    with session_factory() as s:
        assert s.scalars(select(OutboxItem.claimed_by)).one() == "fast:2"


def test_a_kind_with_threads_of_its_own_never_holds_up_the_others(session_factory, clock) -> None:  # type: ignore[no-untyped-def]
    """Tracker rows (bot.ticket_sync.effects) say `threads`: started at commit, they run on a pool of
    their own, so a tracker waiting out its rate limit doesn't keep Slack's rows waiting."""
    slow = Recorder(hold=threading.Event())
    slow.threads = 2  # type: ignore[attr-defined]
    quick = Recorder()
    relay = Relay(session_factory, {"slow": slow, "quick": quick}, clock, kick_threads=1)
    relay.attach(session_factory)
    with session_factory.begin() as session:
        for n in range(3):
            enqueue(session, Effect("slow", f"slow-{n}", "T0SIM", payload={"what": f"slow-{n}"}), now=T0)
    assert slow.started.wait(10)
    with session_factory.begin() as session:
        enqueue(session, Effect("quick", "quick", "T0SIM", payload={"what": "quick"}), now=T0)
    # The one shared thread is free: the Slack-side row goes out while all three slow ones wait
    # (two performing on their own threads, the third queued behind them).
    deadline = threading.Event()
    for _ in range(500):
        if quick.performed:
            break
        deadline.wait(0.01)
    assert [p[0] for p in quick.performed] == ["quick"] and slow.performed == []
    slow.hold.set()  # type: ignore[union-attr]
    assert relay.settle(10)
    assert sorted(p[0] for p in slow.performed) == ["slow-0", "slow-1", "slow-2"]
    assert {p[1].rsplit("_", 1)[0] for p in slow.performed} == {"outbox-slow"}
    relay.close()
