"""Delivering follow-ups: each reminder row sent once, by whichever process claims it first.

APScheduler 3 (with its job store in our database) only provides the heartbeat: one
interval job, `poll_due_reminders`, in every `scribe run` process. APScheduler 3 cannot
coordinate one job store between processes, so every process may run the poller at the
same moment; correctness comes from the `reminders` rows, never from the scheduler:

1. **Claim.** A due row moves `pending → sending` with a conditional UPDATE
   (`… WHERE id = :id AND status = 'pending'`). The database serialises the two
   processes' UPDATEs on that row, and only one sees a changed row; on PostgreSQL
   the candidates are also read `FOR UPDATE SKIP LOCKED`, so processes don't even
   wait on each other's rows.
2. **Send**, then **mark sent** with the message ts, only if our claim still stands.
3. **Failures** put the row back to `pending` with `attempts`, `last_error` and an
   exponential `next_attempt_at`; nothing is ever dropped. A 429 is waited out inside
   the send (slack_sdk's RateLimitErrorRetryHandler honours Retry-After), and a 429
   means Slack did not post the message, so the retry cannot make a duplicate.
4. **Crashes.** A row left in `sending` by a process that died is re-claimable after
   `CLAIM_LEASE`. This is the one place where exactly-once and never-lost pull apart:
   the dead process may have crashed *after* Slack posted but *before* it recorded
   that. chat.postMessage has no idempotency key, so instead every reminder carries
   its dedupe key in Slack message metadata, and a re-claimed row first looks in the
   channel's recent history for a message with that key; if it is there, the row is
   marked sent without posting again. A duplicate would need the crash in that window
   *and* the history check to fail, in which case we prefer sending twice (at least
   once) over losing a reminder.

Reminders that fell due while every process was down are simply due rows: the poller
runs once at start and sends each once. Overdue repeats are new rows for the next slot
(planned after each send), so a long outage yields one reminder, not a backlog.
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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import Engine, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.models import ActionItem, Incident, Reminder
from bot.services import actions, followups, updates
from bot.slack.blocks import followups as fb

log = logging.getLogger(__name__)
UTC = timezone.utc

# A claim must outlive the slowest batch: CLAIM_BATCH messages all to one channel at
# Slack's 1 message/second/channel take ~17 minutes, under the 30-minute lease. Big
# batches keep every channel busy (1,000 reminders due at once go out in one pass).
CLAIM_LEASE = timedelta(minutes=30)
CLAIM_BATCH = 1000
MAX_BACKOFF = timedelta(hours=1)
FIRST_BACKOFF = timedelta(minutes=1)
METADATA_EVENT = "scribe_reminder"
# Slack's answers for a message whose blocks or text it will never accept as they are.
MESSAGE_REFUSED = frozenset({"invalid_blocks", "invalid_blocks_format", "too_many_blocks", "msg_too_long", "msg_blocks_too_long"})
MAX_TEXT_ONLY = 3000
# Slack allows chat.postMessage about once per second per channel. Spacing a channel's
# sends that far apart (from Slack's answer to the next request) avoids 429s; any that
# still come are waited out by the client. Relying on 429s alone would cost a whole
# Retry-After second (Slack rounds it up) on top of every message.
CHANNEL_POST_INTERVAL = 1.0
POLLER_JOB_ID = "scribe-reminder-poller"
ITEM_KINDS = set(followups.ITEM_KINDS)


def backoff(attempts: int) -> timedelta:
    """1 min, 2, 4, … capped at an hour: a Slack outage is ridden out without hammering it."""
    return min(FIRST_BACKOFF * (2 ** max(0, attempts - 1)), MAX_BACKOFF)


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    cancelled: int = 0
    skipped: int = 0
    recovered: int = 0  # re-claimed rows found already posted, so not posted again
    lost_claims: int = 0


@dataclass
class Outgoing:
    reminder_id: int
    dedupe_key: str
    team_id: str
    channel: str  # channel id, or a user id for a DM
    owner_id: str | None
    text: str
    blocks: list[dict[str, Any]]
    reclaimed_from: datetime | None  # the earlier claim's time, when a dead process held it


@dataclass
class _Claimed:
    reminder_id: int
    reclaimed_from: datetime | None


def _due_condition(now: datetime) -> Any:
    pending = (Reminder.status == "pending") & (Reminder.due_at <= now) & or_(Reminder.next_attempt_at.is_(None), Reminder.next_attempt_at <= now)
    abandoned = (Reminder.status == "sending") & (Reminder.claimed_at < now - CLAIM_LEASE)
    return or_(pending, abandoned)


def skip_superseded(session: Session, now: datetime) -> int:
    """When several DMs for one item are due at once (the bot was down), send only the latest."""
    rows = session.execute(
        select(Reminder.id, Reminder.action_item_id, Reminder.due_at).where(
            Reminder.status == "pending", Reminder.due_at <= now, Reminder.action_item_id.is_not(None), Reminder.kind.in_(ITEM_KINDS)
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
            update(Reminder).where(Reminder.id.in_(stale), Reminder.status == "pending").values(status="skipped", last_error="a later reminder for this item was due at the same time")
        )
    return len(stale)


def claim_due(session: Session, *, now: datetime, worker: str, limit: int = CLAIM_BATCH) -> list[_Claimed]:
    """Atomically take due rows for this worker; rows another process took are simply not ours."""
    query = select(Reminder.id, Reminder.status, Reminder.claimed_at).where(_due_condition(now)).order_by(Reminder.due_at, Reminder.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    claimed: list[_Claimed] = []
    for row_id, status, claimed_at in session.execute(query).all():
        guard = Reminder.status == status
        if status == "sending":
            guard = guard & (Reminder.claimed_at == claimed_at)
        result = session.execute(
            update(Reminder)
            .where(Reminder.id == row_id, guard)
            .values(status="sending", claimed_by=worker, claimed_at=now, attempts=Reminder.attempts + 1)
            .returning(Reminder.id)
        )
        if result.first() is not None:
            claimed.append(_Claimed(row_id, claimed_at if status == "sending" else None))
    return claimed


def _open_item_views(session: Session, incident: Incident) -> list[actions.ItemView]:
    return [actions.view_of(i) for i in actions.items_of(session, incident) if i.status == "open"]


def compose(
    session: Session, reminder: Reminder, *, settings: Settings | None = None, now: datetime | None = None
) -> tuple[str, list[dict[str, Any]], str, str | None] | None:
    """(text, blocks, destination, owner) for a reminder, or None when there is nothing left to say."""
    incident = session.get(Incident, reminder.incident_id)
    if incident is None:
        return None
    if reminder.kind in updates.NUDGE_KINDS:
        # A nudge is re-checked against the incident as it is now: an update, a lead, any
        # activity, a snooze, the resolve or close since it was planned each make it void.
        if settings is None or now is None:
            return None
        return updates.compose_nudge(session, reminder, settings=settings, now=now)
    if reminder.kind in ITEM_KINDS:
        item = session.get(ActionItem, reminder.action_item_id) if reminder.action_item_id else None
        if item is None or item.status != "open":
            return None
        text, blocks = fb.reminder_message(reminder.kind, actions.view_of(item))
        return text, blocks, item.owner_id, item.owner_id
    open_items = _open_item_views(session, incident)
    if reminder.kind == "digest":
        if not open_items:
            return None
        text, blocks = fb.digest_message(incident.ref, incident.title, open_items)
        return text, blocks, incident.channel_id, None
    if reminder.kind == "review":
        days = int(reminder.dedupe_key.rsplit(":", 1)[1])
        text, blocks = fb.review_message(incident.ref, incident.title, days, open_items)
        return text, blocks, incident.channel_id, None
    log.error("reminder %s has unknown kind %r; cancelling it", reminder.id, reminder.kind)
    return None


@dataclass
class ReminderDelivery:
    """Sends due reminders. `run_due()` is what the poller calls; tests call it directly."""

    session_factory: sessionmaker[Session]
    # The client to act in a team with (one token, or each team's installation), None if not installed.
    client_for: Callable[[str], WebClient | None]
    settings: Settings
    clock: Callable[[], datetime]
    worker: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}")
    # Parallel sends across channels; each channel's reminders go one after another,
    # since Slack's chat.postMessage limit is per channel. The threads mostly sleep on
    # Retry-After, so many are cheap; fewer would serialise channels and stretch delivery.
    concurrency: int = 100
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def run_due(self, now: datetime | None = None) -> DeliveryReport:
        """Send everything due at `now` (default: the clock), claim by claim, until nothing is due."""
        report = DeliveryReport()
        # One pass at a time per process; the other process is kept out by the claims.
        with self._lock:
            when = now or self.clock()
            with self.session_factory.begin() as session:
                report.skipped += skip_superseded(session, when)
            while True:
                with self.session_factory.begin() as session:
                    claimed = claim_due(session, now=when, worker=self.worker)
                if not claimed:
                    break
                self._deliver(claimed, when, report)
        if report.sent or report.failed:
            log.info("follow-ups: %s", report)
        return report

    # -- one batch ---------------------------------------------------------------------------

    def _deliver(self, claimed: list[_Claimed], now: datetime, report: DeliveryReport) -> None:
        outgoing: list[Outgoing] = []
        with self.session_factory.begin() as session:
            for claim in claimed:
                reminder = session.get(Reminder, claim.reminder_id)
                composed = compose(session, reminder, settings=self.settings, now=now) if reminder is not None else None
                if reminder is None:
                    continue
                if composed is None:
                    reminder.status, reminder.last_error = "cancelled", "nothing to remind about any more"
                    report.cancelled += 1
                    continue
                text, blocks, destination, owner = composed
                team_id = session.get(Incident, reminder.incident_id).team_id  # type: ignore[union-attr]
                outgoing.append(Outgoing(reminder.id, reminder.dedupe_key, team_id, destination, owner, text, blocks, claim.reclaimed_from))
        by_channel: dict[tuple[str, str], list[Outgoing]] = defaultdict(list)
        for message in outgoing:
            by_channel[(message.team_id, message.channel)].append(message)
        if not by_channel:
            return
        recorder = _SentRecorder(self)
        try:
            with ThreadPoolExecutor(max_workers=min(self.concurrency, len(by_channel)), thread_name_prefix="reminders") as pool:
                for results in pool.map(lambda batch: self._send_channel(batch, now, recorder), by_channel.values()):
                    for outcome in results:
                        setattr(report, outcome, getattr(report, outcome) + 1)
        finally:
            recorder.close()
        report.sent += recorder.counts["sent"]
        report.recovered += recorder.counts["recovered"]
        report.lost_claims += recorder.counts["lost_claims"]
        self._plan_next(outgoing)

    def _send_channel(self, batch: list[Outgoing], now: datetime, recorder: "_SentRecorder") -> list[str]:
        """One channel's reminders, in order, paced to Slack's per-channel rate. Returns the failures."""
        failures: list[str] = []
        client = self.client_for(batch[0].team_id)
        if client is None:
            # Uninstalled (or not yet reinstalled): kept and retried with backoff, like any failure.
            for message in batch:
                self._failed(message, f"the app is not installed in team {message.team_id}", now)
            return ["failed"] * len(batch)
        next_post = 0.0
        for message in batch:
            wait = next_post - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            posted = self._send_one(message, now, client)
            if posted is None:
                failures.append("failed")
            else:
                recorder.record(message, *posted)
            # Measured from Slack's answer, so the next send can't arrive within the second.
            next_post = time.monotonic() + CHANNEL_POST_INTERVAL
        return failures

    def _send_one(self, message: Outgoing, now: datetime, client: WebClient) -> tuple[str, str, str] | None:
        """Post (or, after a crash, find) one reminder: (channel, ts, "sent" | "recovered"), or None if it failed."""
        try:
            found = self._already_posted(message, client) if message.reclaimed_from is not None else None
            if found is not None:
                return found[0], found[1], "recovered"
            metadata = {"event_type": METADATA_EVENT, "event_payload": {"reminder": message.dedupe_key}}
            try:
                response = client.chat_postMessage(
                    channel=message.channel, text=message.text, blocks=message.blocks, unfurl_links=False, metadata=metadata
                )
            except SlackApiError as refused:
                if refused.response.get("error") not in MESSAGE_REFUSED:
                    raise
                # The same blocks would be refused on every retry: send the words alone, cut to fit.
                log.warning("reminder %s: Slack refused its blocks (%s); sent as text", message.dedupe_key, refused.response.get("error"))
                response = client.chat_postMessage(
                    channel=message.channel, text=message.text[:MAX_TEXT_ONLY], unfurl_links=False, metadata=metadata
                )
            return response["channel"], response["ts"], "sent"
        except (SlackApiError, SlackClientError, OSError) as error:
            reason = error.response.get("error") if isinstance(error, SlackApiError) else f"{type(error).__name__}: {error}"
            self._failed(message, str(reason), now)
            return None

    def _already_posted(self, message: Outgoing, client: WebClient) -> tuple[str, str] | None:
        """After a crash mid-send: is the reminder already in Slack? Looks for our metadata key."""
        assert message.reclaimed_from is not None
        channel = message.channel
        if message.owner_id is not None:
            channel = client.conversations_open(users=message.owner_id)["channel"]["id"]
        history = client.conversations_history(
            channel=channel, oldest=f"{(message.reclaimed_from - timedelta(minutes=1)).timestamp():.6f}", include_all_metadata=True, limit=200
        )
        for posted in history.get("messages") or []:
            payload = (posted.get("metadata") or {}).get("event_payload") or {}
            if payload.get("reminder") == message.dedupe_key:
                return channel, posted["ts"]
        return None

    def mark_sent(self, posted: list[tuple[Outgoing, str, str, str]]) -> dict[str, int]:
        """Record several posted reminders in one transaction; each only if our claim still stands."""
        counts = {"sent": 0, "recovered": 0, "lost_claims": 0}
        sent_at = self.clock()
        with self.session_factory.begin() as session:
            for message, channel, ts, outcome in posted:
                result = session.execute(
                    update(Reminder)
                    .where(Reminder.id == message.reminder_id, Reminder.status == "sending", Reminder.claimed_by == self.worker)
                    .values(status="sent", sent_at=sent_at, channel_id=channel, message_ts=ts, last_error=None, next_attempt_at=None)
                    .returning(Reminder.id)
                )
                if result.first() is None:
                    # Our lease ran out mid-send and another process took the row over.
                    log.warning("reminder %s was re-claimed by another process while this one sent it", message.reminder_id)
                    outcome = "lost_claims"
                counts[outcome] += 1
        return counts

    def _plan_next(self, outgoing: list[Outgoing]) -> None:
        """After sends, plan what comes next from that moment: the next overdue DM, next week's digest."""
        if not outgoing:
            return
        cadence = followups.Cadence.from_settings(self.settings)
        # Clients first, outside the transaction: finding a team's installation reads the
        # database too, and on SQLite a second connection would wait on our own write lock.
        clients = {team_id: self.client_for(team_id) for team_id in {m.team_id for m in outgoing}}
        with self.session_factory.begin() as session:
            rows = session.scalars(select(Reminder).where(Reminder.id.in_([m.reminder_id for m in outgoing]), Reminder.status == "sent")).all()
            items: dict[int, datetime] = {}
            digests: dict[int, datetime] = {}
            nudged: set[int] = set()
            for row in rows:
                after = max(row.sent_at or row.due_at, row.due_at) + timedelta(microseconds=1)
                if row.kind in updates.NUDGE_KINDS:
                    nudged.add(row.incident_id)  # the next nudge counts from this one
                    continue
                if row.action_item_id is not None:
                    items[row.action_item_id] = max(after, items.get(row.action_item_id, after))
                # Any send may change what the incident's digest should be; re-plan each once.
                digests[row.incident_id] = max(after, digests.get(row.incident_id, after))
            for item_id, after in items.items():
                item = session.get(ActionItem, item_id)
                if item is not None:
                    client = clients.get(item.incident.team_id)
                    actions.replan(session, item, settings=self.settings, client=client, now=after, digest=False)
            for incident_id, after in digests.items():
                incident = session.get(Incident, incident_id)
                if incident is not None:
                    followups.sync_digest(session, incident, zone=self.settings.timezone, cadence=cadence, now=after)
            for incident_id in nudged:
                incident = session.get(Incident, incident_id)
                if incident is not None:
                    updates.sync_nudges(session, incident, settings=self.settings)

    def _failed(self, message: Outgoing, reason: str, now: datetime) -> None:
        with self.session_factory.begin() as session:
            reminder = session.get(Reminder, message.reminder_id)
            if reminder is None or reminder.status != "sending" or reminder.claimed_by != self.worker:
                return
            retry_at = now + backoff(reminder.attempts)
            reminder.status, reminder.claimed_by, reminder.last_error, reminder.next_attempt_at = "pending", None, str(reason)[:500], retry_at
            log.warning(
                "reminder %s (%s) failed on attempt %d: %s; retrying at %s", reminder.id, reminder.dedupe_key, reminder.attempts, reason, retry_at.isoformat()
            )


class _SentRecorder:
    """Marks posted reminders sent from one thread, many per transaction.

    With a hundred channels sending at once, a transaction per message would queue on
    the database (SQLite has a single writer) and slow every channel down; batching
    keeps each channel's pace at Slack's rate. A row is marked within moments of its
    post; a crash in between is what the lease and the metadata check are for.
    """

    def __init__(self, delivery: ReminderDelivery):
        self.delivery = delivery
        self.counts = {"sent": 0, "recovered": 0, "lost_claims": 0}
        self._queue: queue.Queue[tuple[Outgoing, str, str, str] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="reminders-recorder", daemon=True)
        self._thread.start()

    def record(self, message: Outgoing, channel: str, ts: str, outcome: str) -> None:
        self._queue.put((message, channel, ts, outcome))

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
            posted = [entry for entry in batch if entry is not None]
            if not posted:
                continue
            try:
                for name, n in self.delivery.mark_sent(posted).items():
                    self.counts[name] += n
            except Exception:  # rows stay 'sending'; after the lease they are checked against Slack, not re-posted blindly
                log.exception("could not record %d sent reminders", len(posted))


# --- the APScheduler heartbeat -------------------------------------------------------------

# Job functions must be importable by reference (the job store pickles "module:function"),
# so the job names a delivery registered in this process rather than carrying it.
_DELIVERIES: dict[str, ReminderDelivery] = {}


def poll_due_reminders(name: str) -> None:
    delivery = _DELIVERIES.get(name)
    if delivery is None:
        log.warning("reminder poller %r ran but this process has no delivery registered", name)
        return
    try:
        delivery.run_due()
    except Exception:  # the scheduler thread must survive a database blip; the next tick retries
        log.exception("reminder poll failed")


class FollowupScheduler:
    """A BackgroundScheduler with a SQLAlchemyJobStore in the app's own database."""

    def __init__(self, delivery: ReminderDelivery, engine: Engine, *, poll_seconds: float, name: str = "reminders"):
        self.delivery = delivery
        self.engine = engine
        self.poll_seconds = poll_seconds
        self.name = name
        self.scheduler: Any = None

    def start(self) -> None:
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
        from apscheduler.schedulers.background import BackgroundScheduler

        _DELIVERIES[self.name] = self.delivery
        self.scheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=self.engine)},
            timezone=UTC,
            # Missed ticks collapse into one run: the rows, not the ticks, say what is due.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self.scheduler.start()
        self.scheduler.add_job(
            poll_due_reminders,
            "interval",
            seconds=self.poll_seconds,
            args=[self.name],
            id=POLLER_JOB_ID,
            replace_existing=True,
            # First run at once: whatever fell due while we were down goes out on start.
            next_run_time=datetime.now(UTC),
        )
        log.info("follow-up scheduler started (poll every %ss)", self.poll_seconds)

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
            self.scheduler = None
        if _DELIVERIES.get(self.name) is self.delivery:
            del _DELIVERIES[self.name]
