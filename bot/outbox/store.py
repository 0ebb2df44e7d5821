"""An outbox row's life in SQL: enqueued with its decision, claimed, then sent, retried or given up.

1. **Enqueue** in the decision's own transaction (`enqueue`). The row's `dedupe_key` is
   unique, so asking twice for the same effect (a redelivered command, two processes) makes
   one row. The ids enqueued are kept on the session, and handed to the relay once that
   transaction has committed (bot.outbox.relay.Relay.attach), so the effect starts at once
   without waiting for the next poll.
2. **Claim** (`claim_due`, `claim`): a due row moves `pending → sending` with a conditional
   UPDATE (`… WHERE id = :id AND status = 'pending'`). The database serialises two processes'
   UPDATEs on that row and only one sees a changed row; on PostgreSQL the candidates are
   also read `FOR UPDATE SKIP LOCKED`, so processes don't even wait on each other's rows.
   A row left `sending` by a process that died is claimable again once its kind's lease
   has run out. A row whose lane has an earlier row still pending or sending waits its turn.
3. **Record** with the claim still standing: `mark_sent`; or `retry_later` (back to
   pending, with `attempts`, `last_error` and an exponential `next_attempt_at`); or
   `give_up` (failed, for an answer that won't change, or after the kind's last attempt).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, or_, select, update
from sqlalchemy.orm import Session, aliased

from bot.db.upsert import insert_ignoring_returning
from bot.models import OutboxItem
from bot.outbox import kinds

# The session.info key under which a transaction's enqueued row ids wait for its commit.
ENQUEUED = "scribe_outbox_enqueued"
UNFINISHED = ("pending", "sending")
MAX_BACKOFF = timedelta(hours=1)
FIRST_BACKOFF = timedelta(minutes=1)


def backoff(attempts: int) -> timedelta:
    """1 min, 2, 4, … capped at an hour: an outage is ridden out without hammering anyone."""
    return min(FIRST_BACKOFF * (2 ** max(0, attempts - 1)), MAX_BACKOFF)


@dataclass(frozen=True)
class Effect:
    """What a decision wants done after its commit (see OutboxItem)."""

    kind: str
    dedupe_key: str
    team_id: str | None
    incident_id: int | None = None
    action_item_id: int | None = None
    lane: str | None = None
    payload: dict[str, Any] | None = None
    due_at: datetime | None = None  # None: at once


def enqueue(session: Session, effect: Effect, *, now: datetime) -> int | None:
    """Add the row in this transaction; its id, or None when a row with its key exists already."""
    row_id = insert_ignoring_returning(
        session, OutboxItem,
        dict(kind=effect.kind, dedupe_key=effect.dedupe_key[:160], team_id=effect.team_id, incident_id=effect.incident_id,
             action_item_id=effect.action_item_id, lane=effect.lane, payload=effect.payload, due_at=effect.due_at or now,
             status="pending", attempts=0),
        ["dedupe_key"], returning="id",
    )
    if row_id is not None and effect.due_at is None:
        # Wanted at once: started at this transaction's commit. Rows planned for a time
        # (reminders, nudges) are the poller's, at that time.
        session.info.setdefault(ENQUEUED, []).append(row_id)
    return row_id


def take_enqueued(session: Session) -> list[int]:
    """The ids this session enqueued for now, forgotten once taken (at commit or rollback)."""
    return session.info.pop(ENQUEUED, None) or []


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: str
    lane: str | None
    # The earlier claim's time, when a process that died held the row: the handler then
    # checks whether the effect already happened before doing it again.
    reclaimed_from: datetime | None


def _claimable(now: datetime, shortest_lease: timedelta) -> Any:
    pending = (OutboxItem.status == "pending") & (OutboxItem.due_at <= now) & or_(
        OutboxItem.next_attempt_at.is_(None), OutboxItem.next_attempt_at <= now
    )
    abandoned = (OutboxItem.status == "sending") & (OutboxItem.claimed_at < now - shortest_lease)
    earlier = aliased(OutboxItem)
    waiting_in_lane = exists().where(earlier.lane == OutboxItem.lane, earlier.id < OutboxItem.id, earlier.status.in_(UNFINISHED))
    return or_(pending, abandoned) & or_(OutboxItem.lane.is_(None), ~waiting_in_lane)


def _claim_rows(session: Session, query: Any, *, now: datetime, worker: str, lease_of: Callable[[str], timedelta]) -> list[Claimed]:
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    claimed: list[Claimed] = []
    lanes: set[str] = set()
    for row_id, kind, lane, status, claimed_at in session.execute(query).all():
        if lane is not None and lane in lanes:
            continue  # one row of a lane at a time, in order
        guard = OutboxItem.status == status
        if status == "sending":
            if claimed_at >= now - lease_of(kind):
                continue
            guard = guard & (OutboxItem.claimed_at == claimed_at)
        taken = session.execute(
            update(OutboxItem)
            .where(OutboxItem.id == row_id, guard)
            .values(status="sending", claimed_by=worker, claimed_at=now, attempts=OutboxItem.attempts + 1)
            .returning(OutboxItem.id)
        ).first()
        if taken is not None:
            claimed.append(Claimed(row_id, kind, lane, claimed_at if status == "sending" else None))
            if lane is not None:
                lanes.add(lane)
    return claimed


def _columns() -> Any:
    return select(OutboxItem.id, OutboxItem.kind, OutboxItem.lane, OutboxItem.status, OutboxItem.claimed_at)


def claim_due(
    session: Session, *, now: datetime, worker: str, lease_of: Callable[[str], timedelta], shortest_lease: timedelta, limit: int,
    kinds_wanted: Iterable[str] | None = None,
) -> list[Claimed]:
    """Atomically take due rows for this worker, oldest first; rows another process took are simply not ours."""
    query = _columns().where(_claimable(now, shortest_lease)).order_by(OutboxItem.due_at, OutboxItem.id).limit(limit)
    if kinds_wanted is not None:
        query = query.where(OutboxItem.kind.in_(tuple(kinds_wanted)))
    return _claim_rows(session, query, now=now, worker=worker, lease_of=lease_of)


def claim(session: Session, ids: Sequence[int], *, now: datetime, worker: str, lease_of: Callable[[str], timedelta],
          shortest_lease: timedelta) -> list[Claimed]:
    """Take these rows, if they are still due and free (a just-committed decision's effects)."""
    query = _columns().where(OutboxItem.id.in_(list(ids)), _claimable(now, shortest_lease)).order_by(OutboxItem.id)
    return _claim_rows(session, query, now=now, worker=worker, lease_of=lease_of)


def next_in_lane(session: Session, lane: str, *, now: datetime) -> int | None:
    """The lane's next row that is due now, to start as soon as the one before it is done."""
    return session.scalars(
        select(OutboxItem.id).where(OutboxItem.lane == lane, OutboxItem.status == "pending", OutboxItem.due_at <= now)
        .order_by(OutboxItem.id).limit(1)
    ).first()


def still_ours(row: OutboxItem | None, worker: str) -> bool:
    return row is not None and row.status == "sending" and row.claimed_by == worker


def mark_sent(row: OutboxItem, *, now: datetime, channel_id: str | None = None, message_ts: str | None = None,
              result: dict[str, Any] | None = None) -> None:
    row.status, row.sent_at, row.last_error, row.next_attempt_at = "sent", now, None, None
    if channel_id is not None:
        row.channel_id = channel_id
    if message_ts is not None:
        row.message_ts = message_ts
    if result is not None:
        row.result = result


def retry_later(row: OutboxItem, reason: str, *, now: datetime, not_before: datetime | None = None) -> datetime:
    """Back to pending, to be tried again after the backoff (or when the service said to, e.g. Retry-After)."""
    retry_at = max(now + backoff(row.attempts), not_before or now)
    row.status, row.claimed_by, row.last_error, row.next_attempt_at = "pending", None, reason[:500], retry_at
    return retry_at


def give_up(row: OutboxItem, reason: str, *, result: dict[str, Any] | None = None) -> None:
    row.status, row.claimed_by, row.last_error = "failed", None, reason[:500]
    if result is not None:
        row.result = result


def cancel(row: OutboxItem, reason: str) -> None:
    row.status, row.last_error = "cancelled", reason[:500]


def skip_superseded_item_reminders(session: Session, now: datetime) -> int:
    """When several DMs for one item are due at once (the bot was down), send only the latest."""
    rows = session.execute(
        select(OutboxItem.id, OutboxItem.action_item_id, OutboxItem.due_at).where(
            OutboxItem.status == "pending", OutboxItem.due_at <= now, OutboxItem.action_item_id.is_not(None),
            OutboxItem.kind.in_(kinds.ITEM_REMINDERS),
        )
    ).all()
    latest: dict[int, tuple[datetime, int]] = {}
    for row_id, item_id, due_at in rows:
        if item_id not in latest or (due_at, row_id) > latest[item_id]:
            latest[item_id] = (due_at, row_id)
    keep = {row_id for _, row_id in latest.values()}
    stale = [row_id for row_id, _, _ in rows if row_id not in keep]
    if stale:
        session.execute(
            update(OutboxItem).where(OutboxItem.id.in_(stale), OutboxItem.status == "pending")
            .values(status="skipped", last_error="a later reminder for this item was due at the same time")
        )
    return len(stale)
