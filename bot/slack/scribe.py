"""What every listener gets besides the Slack request: the `Scribe` (settings, storage, the
clock, the message writers, the outbox relay and the people directory), put into Bolt's
context by a middleware so listeners receive it as `scribe`."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from slack_bolt import BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware
from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.db import engine_of, transaction
from bot.db.direct import LoopStatements, loop_connection_for
from bot.groupcommit import GroupCommit
from bot.inflight import InFlight
from bot.outbox.relay import Relay
from bot.services.capture import IncomingMessage, write_messages, write_messages_on_loop
from bot.services.incidents import CommandEntry, write_command_entries
from bot.services.people import Person
from bot.slack.client import deadline_client, make_client
from bot.slack.effects import slack_handlers
from bot.slack.io.people import SlackDirectory
from bot.ticket_sync.effects import tracker_handlers
from bot.trackers.pool import TrackerPool


def utc_now() -> datetime:
    return datetime.now(UTC)


AFTER_ACK_DRAIN_SECONDS = 10.0


class AfterAckExecutor(ThreadPoolExecutor):
    """Bolt's pool for lazy listeners (its default has the same size), keeping what is in
    flight so that stopping can wait for it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.in_flight = InFlight()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future = super().submit(fn, *args, **kwargs)
        self.in_flight.add(future)
        return future

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is in flight; True if that happened within `timeout` seconds."""
        return self.in_flight.wait_idle(timeout)

    def drain(self, timeout: float) -> None:
        self.in_flight.wait_idle(timeout)
        self.shutdown(wait=False)


@dataclass
class Scribe:
    """What listeners need besides the Slack request: settings, storage, the clock, and the
    Slack layer's own tools (the outbox relay, the people directory).

    A middleware puts it into Bolt's context, so listeners receive it as `scribe`.
    """

    settings: Settings
    session_factory: sessionmaker[Session]
    clock: Callable[[], datetime] = utc_now
    # Spacing between catch-up page reads; Slack's history methods are rate-limited tightly.
    history_pause: Callable[[], None] = field(default=lambda: time.sleep(1.0))
    # The client to act in a team with (one token, or each team's installation; bot.runtime
    # sets it), None where the app isn't installed.
    client_for: Callable[[str], WebClient | None] | None = None

    # Message events and timeline commands are written in shared statements (see bot.groupcommit).
    message_writer: GroupCommit[IncomingMessage, None] = field(init=False, repr=False)
    # The event loop's own connection for them; None where the loop has none (in-memory SQLite).
    loop_connection: LoopStatements | None = field(init=False, repr=False)
    entry_writer: GroupCommit[CommandEntry, bool] = field(init=False, repr=False)
    # Bolt runs lazy listeners here (App(listener_executor=...)).
    after_ack: AfterAckExecutor = field(init=False, repr=False)
    # Carries out what decisions wrote to the outbox, after their commit (bot.outbox).
    outbox: Relay = field(init=False, repr=False)
    # Who people are (users.info, cached), for work after the ack and in the outbox.
    people: SlackDirectory = field(init=False, repr=False)
    # The connected trackers' adapters, built on first use (bot.ticket_sync.effects calls them).
    trackers: TrackerPool = field(init=False, repr=False)

    def __post_init__(self) -> None:
        engine = engine_of(self.session_factory)
        # Message events that the HTTP server runs on its event loop (bot.server) are written
        # from the loop too, over the loop's own connection.
        self.loop_connection = loop_connection_for(engine)
        write_on_loop = partial(write_messages_on_loop, self.loop_connection, engine) if self.loop_connection is not None else None
        self.message_writer = GroupCommit(partial(write_messages, engine), write_on_loop=write_on_loop, name="message-writer")
        self.entry_writer = GroupCommit(partial(write_command_entries, engine), name="command-writer")
        self.after_ack = AfterAckExecutor(max_workers=10, thread_name_prefix="after-ack")
        if self.client_for is None:
            single = make_client(self.settings.slack_bot_token, self.settings.slack_api_url)
            self.client_for = lambda team_id: single
        self.people = SlackDirectory(self.session_factory, self.team_client, self.clock)
        handlers = slack_handlers(self.session_factory, self.settings, client_for=self.team_client, directory=self.people, clock=self.clock)
        self.trackers = TrackerPool(self.settings.trackers, clock=self.clock)
        handlers.update(tracker_handlers(self.session_factory, self.settings, pool=self.trackers, directory=self.people, clock=self.clock))
        self.outbox = Relay(self.session_factory, handlers, self.clock)
        self.outbox.attach(self.session_factory)

    def settle(self, timeout: float = 30.0) -> bool:
        """Wait until the work after the ack (lazy listeners) and the outbox rows it and the
        requests started are done; True if they were within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.after_ack.wait_idle(max(0.0, deadline - time.monotonic())):
                return False
            if not self.outbox.settle(max(0.0, deadline - time.monotonic())):
                return False
            if self.after_ack.wait_idle(0):
                return True

    def team_client(self, team_id: str) -> WebClient | None:
        """The client for background work in `team_id` (waits out 429s, retries 5xx)."""
        assert self.client_for is not None
        return self.client_for(team_id)

    def people_before_ack(self, client: WebClient, team_id: str, user_ids: set[str]) -> dict[str, Person]:
        """People looked up in Slack before a request's transaction and ack: with a client
        that fails fast rather than wait out a Retry-After (whoever isn't found is left out)."""
        if not user_ids:
            return {}
        quick = deadline_client(client)
        return SlackDirectory(self.session_factory, lambda team: quick, self.clock).people(team_id, user_ids)

    def now(self) -> datetime:
        return self.clock()

    def close(self) -> None:
        # Work after the ack (lazy listeners, outbox rows started at commit) finishes before
        # the database goes away, within a bound, so stopping never hangs on a slow Slack;
        # an outbox row left unfinished is the next poll's, on any process.
        self.after_ack.drain(timeout=AFTER_ACK_DRAIN_SECONDS)
        self.outbox.close(timeout=AFTER_ACK_DRAIN_SECONDS)
        self.trackers.close()
        if self.loop_connection is not None:
            self.loop_connection.close()

    def __deepcopy__(self, memo: dict[int, Any]) -> Scribe:
        # Bolt deep-copies the context for lazy listeners; this is a shared service
        # container (engine pool, clock), so the copy must be the same object.
        return self

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with transaction(self.session_factory) as session:
            yield session


class ProvideScribe(Middleware):
    """Puts the Scribe into Bolt's context, so listeners receive it as `scribe`.

    A Middleware class rather than an `@app.middleware` function: Bolt calls `process`
    directly instead of building keyword arguments for it on every request.
    """

    def __init__(self, scribe: Scribe):
        self.scribe = scribe

    def process(self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]) -> BoltResponse | None:
        req.context["scribe"] = self.scribe
        return next()
