"""Where decisions reach the trackers: the outbox handlers (bot.outbox.relay.Handler) that
create a ticket, read a linked one, and poll a target. Nothing here imports Slack: a line for
the person who asked is an outbox row of kind `tell`, carried out by the Slack layer.

Each handler reads what to do in a short transaction (prepare), calls the tracker with no
transaction open (perform), and records the answer in another (record), while its claim on
the row stands. Exactly once:
- a create searches for the item's marker before creating (bot.trackers.ensure_ticket), so
  a crash between the tracker's answer and our commit, or a row a dead process left behind
  and another claimed, finds the ticket instead of making a second one;
- the outbox claim keeps two processes off one row; a poll row per target keeps one process
  polling it.
Faults come back in plain words (bot.trackers.TrackerError): the ones worth waiting for
(down, slow, rate limited) are retried a bounded number of times, after Retry-After when the
tracker gave one; the others are told at once. A short Retry-After (≤ 30 s) is waited out in
perform, and the refused call made again (a refusal did nothing, so a create is not searched
for again); a longer one goes back to the outbox with `not_before`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.models import ItemTicket, OutboxItem, TrackerCursor
from bot.outbox import kinds
from bot.outbox.relay import Handler, Outcome
from bot.outbox.store import Effect, enqueue
from bot.services import tickets
from bot.services.people import Directory
from bot.timefmt import format_utc
from bot.trackers.base import Tracker, ensure_ticket
from bot.trackers.errors import TrackerError
from bot.trackers.factory import TrackerNotConfigured
from bot.trackers.model import TicketRef, TicketState
from bot.trackers.polling import PollResult, poll_once
from bot.trackers.pool import TrackerPool

log = logging.getLogger(__name__)

# A Retry-After up to this long is waited out inside perform (no transaction is open there),
# for at most MAX_INLINE_TOTAL seconds per call; a longer one is the outbox's, with `not_before`.
MAX_INLINE_WAIT = 30.0
MAX_INLINE_TOTAL = 120.0
# Tries of a create before it is given up and the person told (1 min, 2, 4, 8, 16 apart,
# or the tracker's Retry-After).
CREATE_ATTEMPTS = 6
FETCH_ATTEMPTS = 5
# Tickets asked for by requests are made on threads of their own (bot.outbox.relay: a handler's
# `threads`): a tracker that is slow, down or rate limiting never holds up Slack's effects.
TRACKER_THREADS = 64
# How long an owner's account (or that they have none) is believed without asking again.
ACCOUNT_CACHE = timedelta(minutes=10)


def tracker_handlers(session_factory: sessionmaker[Session], settings: Settings, *, pool: TrackerPool,
                     directory: Directory, clock: Callable[[], datetime]) -> dict[str, Handler]:
    """Every tracker kind this process carries out, by kind."""
    return {
        kinds.TICKET_CREATE: CreateTicket(settings, pool=pool, directory=directory, clock=clock),
        kinds.TICKET_FETCH: FetchTicket(settings, pool=pool, clock=clock),
        kinds.TRACKER_POLL: PollTarget(settings, pool=pool, clock=clock),
    }


def tell(session: Session, row: OutboxItem, reply_to: dict[str, str] | None, text: str, *, what: str, now: datetime) -> None:
    """A line for the person who asked, carried out in Slack after this commit."""
    if not reply_to or not text:
        return
    enqueue(session, Effect(kinds.TELL, f"tell:{row.id}:{row.attempts}:{what}", row.team_id, incident_id=row.incident_id,
                            payload={"reply_to": reply_to, "text": text}), now=now)


def _fault_outcome(error: TrackerError, now: datetime) -> Outcome:
    if error.retryable:
        not_before = now + timedelta(seconds=error.retry_after) if error.retry_after is not None else None
        return Outcome.retry(error.message, not_before=not_before)
    return Outcome.failed(error.message, result={"kind": error.kind})


def _again_after_short_limits(clock: Callable[[], datetime]) -> Callable[[Callable[[], Any]], Any]:
    """How each tracker call is made in a perform: a rate-limit refusal with a short Retry-After
    did nothing, so the call is made again; the adapter holds it until the wait is over (with
    every other request to that tracker). At most MAX_INLINE_TOTAL seconds of that per call."""

    def call(tracker_call: Callable[[], Any]) -> Any:
        started = clock()
        while True:
            try:
                return tracker_call()
            except TrackerError as error:
                short = error.kind == "rate_limited" and error.retry_after is not None and error.retry_after <= MAX_INLINE_WAIT
                if not short or (clock() - started).total_seconds() + (error.retry_after or 0.0) > MAX_INLINE_TOTAL:
                    raise

    return call


# -- creating ---------------------------------------------------------------------------------


class AccountsByEmail:
    """Owners' tracker accounts by email, looked up once per process for `keep`: items made
    together for one owner (a postmortem review's dozen) wait for one lookup, not one each."""

    def __init__(self, clock: Callable[[], datetime], keep: timedelta = ACCOUNT_CACHE) -> None:
        self.clock = clock
        self.keep = keep
        self._found: dict[tuple[str, str, str], tuple[datetime, str | None]] = {}
        self._locks: dict[tuple[str, str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def account(self, tracker: str, target: str, email: str, lookup: Callable[[], str | None]) -> str | None:
        key = (tracker, target, email.strip().lower())
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            hit = self._found.get(key)
            if hit is not None and self.clock() - hit[0] < self.keep:
                return hit[1]
            found = lookup()  # a failure is not remembered
            self._found[key] = (self.clock(), found)
            return found



@dataclass
class CreateWork:
    order: tickets.CreateOrder
    reply_to: dict[str, str]
    announce: bool
    error_kind: str | None = None  # set by perform when the tracker refused


class CreateTicket:
    lease = timedelta(minutes=10)  # a perform may wait out a few Retry-Afters
    max_attempts: int | None = CREATE_ATTEMPTS
    paced = False
    threads = TRACKER_THREADS

    def __init__(self, settings: Settings, *, pool: TrackerPool, directory: Directory, clock: Callable[[], datetime]):
        self.settings = settings
        self.pool = pool
        self.directory = directory
        self.clock = clock
        self.accounts = AccountsByEmail(clock)

    def prepare(self, session: Session, row: OutboxItem, *, now: datetime) -> CreateWork | None:
        payload = row.payload or {}
        order = tickets.create_order(session, int(payload["ticket_id"]), settings=self.settings, now=now)
        if order is None:
            return None
        return CreateWork(order, dict(payload.get("reply_to") or {}), bool(payload.get("announce")))

    def perform(self, work: CreateWork, *, reclaimed_from: datetime | None) -> Outcome:
        order = work.order
        try:
            tracker = self.pool.get(order.tracker)
        except TrackerNotConfigured:
            work.error_kind = "not_configured"
            return Outcome.failed(f"{tickets.label(order.tracker)} is not connected to Incident Scribe any more "
                                  "(its token is not set).")
        email = order.owner_email
        if email is None and order.known_account is None:
            # Not in the users.info cache: ask Slack now (no transaction is open here).
            person = self.directory.people(order.team_id, [order.owner_id]).get(order.owner_id)
            email = person.email if person is not None else None
        try:
            account, matched, note = self._assignee(tracker, order, email)
            # The marker is searched for before anything is created: after a crash between the
            # tracker's answer and our commit, or on a row re-claimed from a dead process, the
            # ticket made then is found, not made again.
            made = ensure_ticket(tracker, replace(order.spec, assignee_id=account), order.target,
                                 each=_again_after_short_limits(self.clock))
        except TrackerError as error:
            work.error_kind = error.kind
            log.warning("creating the %s ticket of action item %s failed: %s", order.tracker, order.item_id, error.kind)
            return _fault_outcome(error, self.clock())
        result = {"key": made.ticket.key, "url": made.ticket.url, "id": made.ticket.id, "created": made.created,
                  "assignee": account, "matched": matched, "note": note, "email_known": email is not None}
        return Outcome.sent(result=result) if made.created else Outcome.recovered(result=result)

    def _assignee(self, tracker: Tracker, order: tickets.CreateOrder, email: str | None) -> tuple[str | None, bool | None, str | None]:
        """(account, matched, note): the owner's account in the tracker, by email; a lookup the
        tracker refuses for good doesn't stop the ticket, it goes unassigned with a note."""
        if order.known_account is not None:
            return order.known_account, True, None
        if not email:
            return None, None, None
        try:
            account = self.accounts.account(order.tracker, order.target, email, lambda: _again_after_short_limits(self.clock)(
                lambda: tracker.find_user_by_email(email, order.target)))
        except TrackerError as error:
            if error.retryable:
                raise
            return None, None, f"I couldn't look the owner up in {tracker.label}: {error.message}"
        return account, account is not None, None

    def record(self, session: Session, row: OutboxItem, work: CreateWork, outcome: Outcome, *, now: datetime) -> None:
        order = work.order
        name = tickets.label(order.tracker)
        if outcome.done:
            result = outcome.result or {}
            tickets.created(session, order.ticket_id, key=result["key"], url=result["url"], tracker_id=str(result["id"]),
                            assignee_id=result.get("assignee"), owner_id=order.owner_id, settings=self.settings, now=now)
            link = f"<{result['url']}|{result['key']}>"
            notes = _assignee_notes(order, result, name)
            after_all = " after all" if row.attempts > 1 else ""
            if work.announce:
                text = f":ticket: Action item #{order.item_id} is now {name} {link}{after_all}." + (f" {notes}" if notes else "")
            elif notes or after_all:
                # Made without anyone asking: worth a word only if something needs saying, or
                # the person was told of a failure before.
                text = f":ticket: {name} {link} was made for action item #{order.item_id}{after_all}." + (f" {notes}" if notes else "")
            else:
                text = ""
            tell(session, row, work.reply_to, text, what="created", now=now)
            return
        final = outcome.status == "failed"
        tickets.create_problem(session, order.ticket_id, kind=work.error_kind or "unavailable",
                               message=outcome.reason or "failed", final=final)
        text = f":warning: Action item #{order.item_id} is saved, but its {name} ticket wasn't created: {outcome.reason}"
        if not final:
            if row.attempts > 1:
                return  # told on the first failure; the next word is the outcome
            text += f" I'll try again at {format_utc(row.next_attempt_at or now)}."
        elif work.error_kind in ("unavailable", "rate_limited"):
            text += f" I gave up after {row.attempts} tries; press *Create in {name}* on `/incident actions` to try again."
        else:
            text += f" Once that is fixed, press *Create in {name}* on `/incident actions` to try again."
        tell(session, row, work.reply_to, text, what="fault", now=now)


def _assignee_notes(order: tickets.CreateOrder, result: dict[str, Any], name: str) -> str:
    owner = f"<@{order.owner_id}>"
    if result.get("note"):
        return f"{result['note']}; it is unassigned."
    if result.get("matched") is False:
        return f"{owner}'s Slack email matches no one who can be assigned in {name} {order.target}, so it is unassigned."
    if result.get("matched") is None and not result.get("email_known"):
        return f"I couldn't read {owner}'s email in Slack, so it is unassigned."
    return ""


# -- reading a linked ticket ------------------------------------------------------------------


@dataclass
class FetchWork:
    ticket_id: int
    item_id: int
    ref: TicketRef
    reply_to: dict[str, str]
    state: TicketState | None = None
    error_kind: str | None = None


class FetchTicket:
    lease = timedelta(minutes=5)
    max_attempts: int | None = FETCH_ATTEMPTS
    paced = False
    threads = TRACKER_THREADS

    def __init__(self, settings: Settings, *, pool: TrackerPool, clock: Callable[[], datetime]):
        self.settings = settings
        self.pool = pool
        self.clock = clock

    def prepare(self, session: Session, row: OutboxItem, *, now: datetime) -> FetchWork | None:
        payload = row.payload or {}
        ticket = session.get(ItemTicket, int(payload["ticket_id"]))
        if ticket is None or ticket.ticket_key != payload.get("key"):
            return None  # linked to another ticket since
        return FetchWork(ticket.id, ticket.action_item_id, TicketRef(ticket.tracker, ticket.ticket_key, ticket.url),  # type: ignore[arg-type]
                         dict(payload.get("reply_to") or {}))

    def perform(self, work: FetchWork, *, reclaimed_from: datetime | None) -> Outcome:
        try:
            tracker = self.pool.get(work.ref.tracker)
            work.state = _again_after_short_limits(self.clock)(lambda: tracker.fetch(work.ref))
        except TrackerNotConfigured:
            work.error_kind = "not_configured"
            return Outcome.failed(f"{tickets.label(work.ref.tracker)} is not connected to Incident Scribe (its token is not set).")
        except TrackerError as error:
            work.error_kind = error.kind
            return _fault_outcome(error, self.clock())
        return Outcome.sent(result={"status": work.state.status, "status_name": work.state.status_name})

    def record(self, session: Session, row: OutboxItem, work: FetchWork, outcome: Outcome, *, now: datetime) -> None:
        name = tickets.label(work.ref.tracker)
        ticket = session.get(ItemTicket, work.ticket_id)
        if ticket is None:
            return
        if outcome.done and work.state is not None:
            change = tickets.apply_state(session, ticket, work.state, settings=self.settings, now=now)
            tickets.ensure_poll(session, self.settings, tracker=ticket.tracker, target=ticket.target, now=now)
            text = (f":link: Action item #{work.item_id} is linked to {name} <{ticket.url or work.ref.key}|{work.ref.key}>"
                    f" ({work.state.status_name}).")
            if change is not None and change.status in ("done", "wontfix"):
                text += f" It is closed there, so #{work.item_id} is now {tickets.STATUS_WORDS[change.status]} and its reminders stop."
            tell(session, row, work.reply_to, text, what="linked", now=now)
            return
        tickets.fetch_problem(session, work.ticket_id, kind=work.error_kind or "unavailable", message=outcome.reason or "failed")
        if outcome.status == "retry" and row.attempts > 1:
            return
        text = f":warning: Action item #{work.item_id} is linked to {name} {work.ref.key}, but I couldn't read its status: {outcome.reason}"
        if outcome.status == "retry":
            text += f" I'll try again at {format_utc(row.next_attempt_at or now)}."
        tell(session, row, work.reply_to, text, what="fetch", now=now)


# -- polling ----------------------------------------------------------------------------------


@dataclass
class PollWork:
    tracker: str
    target: str
    since: datetime
    failures: int
    poll: PollResult | None = field(default=None)


class PollTarget:
    """A target's poll row reschedules itself at `next_poll_at` (poll_once stretches the
    interval near a rate limit, waits out a short Retry-After, backs off while the tracker is
    down), so the row, not a timer, says when and the claim says who."""

    lease = timedelta(minutes=10)
    max_attempts: int | None = None  # a poll that raised (a bug) is retried with backoff, never dropped
    paced = False

    def __init__(self, settings: Settings, *, pool: TrackerPool, clock: Callable[[], datetime]):
        self.settings = settings
        self.pool = pool
        self.clock = clock

    def prepare(self, session: Session, row: OutboxItem, *, now: datetime) -> PollWork | None:
        payload = row.payload or {}
        tracker, target = str(payload["tracker"]), str(payload["target"])
        if not tickets.polls(self.settings, tracker) or tracker not in tickets.connected(self.settings):
            return None  # webhooks bring its states now, or it is no longer connected
        cursor = session.get(TrackerCursor, (tracker, target))
        if cursor is None:
            return None
        return PollWork(tracker, target, cursor.since, cursor.failures)

    def perform(self, work: PollWork, *, reclaimed_from: datetime | None) -> Outcome:
        tracker = self.pool.get(work.tracker)
        work.poll = poll_once(tracker, work.target, work.since, now=self.clock(), interval=self.settings.trackers.poll_seconds,
                              failures=work.failures)
        error = work.poll.error
        if error is not None:
            log.warning("polling %s %s failed (%s); next poll at %s", work.tracker, work.target, error.kind,
                        work.poll.next_poll_at)
        return Outcome.sent(result={"states": len(work.poll.states), "error": error.message if error else None})

    def record(self, session: Session, row: OutboxItem, work: PollWork, outcome: Outcome, *, now: datetime) -> None:
        if not outcome.done or work.poll is None:
            return  # retried by the outbox
        poll = work.poll
        tickets.apply_states(session, work.tracker, poll.states, settings=self.settings, now=now)
        cursor = session.get(TrackerCursor, (work.tracker, work.target))
        next_at = poll.next_poll_at or now + timedelta(seconds=self.settings.trackers.poll_seconds)
        if cursor is not None:
            cursor.since = poll.next_since or cursor.since
            cursor.next_poll_at, cursor.failures = next_at, poll.failures
            cursor.last_error = poll.error.message if poll.error else None
        # The same row waits for the next poll: one row per target, whoever polls it.
        row.status, row.due_at, row.attempts, row.next_attempt_at = "pending", next_at, 0, None
        row.claimed_by = row.claimed_at = None
