"""The Bolt app, built by a function so nothing happens at import time.

`process_before_response=True` is the durability promise: Slack gets its 200 only
after the listener's transaction committed. A crash before that means no 200, so
Slack redelivers, and the (channel, ts) constraint makes the redelivery harmless.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware
from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.db import LoopConnection, SqliteLoopConnection, engine_of, make_engine, make_session_factory, transaction
from bot.groupcommit import GroupCommit
from bot.logs import log_listener_failure
from bot.services.capture import IncomingMessage, write_messages, write_messages_on_loop, write_messages_on_loop_sqlite
from bot.services.incidents import CommandEntry, write_command_entries
from bot.slack.client import make_client

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


AFTER_ACK_DRAIN_SECONDS = 10.0


class AfterAckExecutor(ThreadPoolExecutor):
    """Bolt's pool for lazy listeners (its default has the same size), keeping what is in
    flight so that stopping can wait for it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_flight: set[Future[Any]] = set()
        self._guard = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future = super().submit(fn, *args, **kwargs)
        with self._guard:
            self._in_flight.add(future)
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: Future[Any]) -> None:
        with self._guard:
            self._in_flight.discard(future)

    def wait_idle(self, timeout: float) -> bool:
        """Wait for the work in flight now; True if it all finished within `timeout`. Tests use
        it to know that the lazy listeners of the requests they made have run."""
        with self._guard:
            pending = set(self._in_flight)
        return not pending or not wait(pending, timeout=timeout).not_done

    def drain(self, timeout: float) -> None:
        self.wait_idle(timeout)
        self.shutdown(wait=False)


@dataclass
class Scribe:
    """What listeners need besides the Slack request: settings, storage and the clock.

    A middleware puts it into Bolt's context, so listeners receive it as `scribe`.
    """

    settings: Settings
    session_factory: sessionmaker[Session]
    clock: Callable[[], datetime] = utc_now
    # Spacing between catch-up page reads; Slack's history methods are rate-limited tightly.
    history_pause: Callable[[], None] = field(default=lambda: time.sleep(1.0))

    # Message events and timeline commands are written in shared statements (see bot.groupcommit).
    message_writer: GroupCommit[IncomingMessage, None] = field(init=False, repr=False)
    # The event loop's own connection for them; None where the loop has none (in-memory SQLite).
    loop_connection: LoopConnection | SqliteLoopConnection | None = field(init=False, repr=False)
    entry_writer: GroupCommit[CommandEntry, bool] = field(init=False, repr=False)
    # Bolt runs lazy listeners here (App(listener_executor=...)).
    after_ack: "AfterAckExecutor" = field(init=False, repr=False)

    def __post_init__(self) -> None:
        engine = engine_of(self.session_factory)
        # Message events that the HTTP server runs on its event loop (bot.server) are written
        # from the loop too, over the loop's own connection: on PostgreSQL driving libpq
        # (LoopConnection); on SQLite right there unless another connection holds the write
        # lock (SqliteLoopConnection; then from a thread).
        write_on_loop = None
        if engine.dialect.name == "postgresql":
            self.loop_connection = LoopConnection(engine.url)
            write_on_loop = partial(write_messages_on_loop, self.loop_connection, engine.dialect)
        else:
            self.loop_connection = SqliteLoopConnection.for_engine(engine)
            if self.loop_connection is not None:
                write_on_loop = partial(write_messages_on_loop_sqlite, self.loop_connection, engine)
        self.message_writer = GroupCommit(partial(write_messages, engine), write_on_loop=write_on_loop, name="message-writer")
        self.entry_writer = GroupCommit(partial(write_command_entries, engine), name="command-writer")
        self.after_ack = AfterAckExecutor(max_workers=10, thread_name_prefix="after-ack")

    def now(self) -> datetime:
        return self.clock()

    def close(self) -> None:
        # Work after the ack (lazy listeners: announcements, drafts, catch-up) finishes before
        # the database goes away, within a bound, so stopping never hangs on a slow Slack.
        self.after_ack.drain(timeout=AFTER_ACK_DRAIN_SECONDS)
        if self.loop_connection is not None:
            self.loop_connection.close()

    def __deepcopy__(self, memo: dict[int, Any]) -> "Scribe":
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


NOT_INSTALLED = (
    ":warning: Incident Scribe isn't installed in this workspace (or its installation was removed), "
    "so nothing was recorded. Ask a workspace admin to install it from the Scribe server's /slack/install page."
)


@contextmanager
def _bolt_oauth_from_settings_only(settings: Settings) -> Iterator[None]:
    """Bolt turns on OAuth installs by itself whenever SLACK_CLIENT_ID and SLACK_CLIENT_SECRET
    are in the environment. With a bot token that pair only enables the web view's sign-in
    (bot.web), so Bolt must not see it while the app is built."""
    if settings.oauth:
        yield
        return
    hidden = {name: os.environ.pop(name) for name in ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET") if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(hidden)


def _is_slash_command(body: dict[str, Any]) -> bool:
    return isinstance(body, dict) and "command" in body and "trigger_id" in body


def create_app(
    settings: Settings,
    client: WebClient | None = None,
    *,
    session_factory: sessionmaker[Session] | None = None,
    clock: Callable[[], datetime] = utc_now,
    token_verification: bool = True,
) -> App:
    if session_factory is None:
        session_factory = make_session_factory(make_engine(settings.database_url))
    if client is None:
        # With OAuth there is no single token: Bolt gives each request a copy of this
        # client carrying its own team's token, with the same base URL and retry policy.
        client = make_client(None if settings.oauth else settings.slack_bot_token, settings.slack_api_url)

    scribe = Scribe(settings=settings, session_factory=session_factory, clock=clock)
    app_kwargs: dict[str, Any] = dict(
        signing_secret=settings.slack_signing_secret or "socket-mode-has-no-signing-secret",
        process_before_response=True,
        token_verification_enabled=token_verification,
        # Unknown event types get a quiet 200 from our catch-all listener instead.
        raise_error_for_unhandled_request=False,
    )
    if settings.oauth:
        from bot.slack.oauth import oauth_settings

        app_kwargs["oauth_settings"] = oauth_settings(settings, session_factory)
        app_kwargs["user_facing_authorize_error_message"] = NOT_INSTALLED
    app_kwargs["client"] = client
    app_kwargs["listener_executor"] = scribe.after_ack
    with _bolt_oauth_from_settings_only(settings):
        app = App(**app_kwargs)
    app.scribe = scribe  # type: ignore[attr-defined]

    app.use(ProvideScribe(scribe))

    @app.error
    def on_error(error: Exception, body: dict[str, Any], logger: logging.Logger):  # type: ignore[no-untyped-def]
        log_listener_failure(logger, body, error)
        if _is_slash_command(body):
            # Slack never retries a slash command, so a 500 only shows the user a cryptic
            # "dispatch_failed". Tell them plainly instead; nothing was saved.
            reply = {
                "response_type": "ephemeral",
                "text": ":warning: Sorry, I couldn't record that because of an internal error, and nothing was saved. "
                "Please try again in a moment.",
            }
            return BoltResponse(status=200, body=json.dumps(reply), headers={"content-type": "application/json"})
        if isinstance(body, dict) and body.get("type") in {"block_actions", "view_submission", "shortcut", "message_action"}:
            return BoltResponse(status=200, body="")
        # Events: answer 500 so Slack redelivers; the redelivery is deduplicated.
        return None

    from bot.slack.listeners import register_listeners

    register_listeners(app)
    return app
