"""Everything `scribe run` starts, in order, so tests, the demo and the benchmark start it the same way.

1. migrate the database (several processes may do this at once; see migrations/env.py)
2. build the Bolt app
3. start the outbox poller (when enabled): an APScheduler tick that carries out what is due
   (reminders, retries, work a process that died left behind; bot.scheduler)
4. catch up on what was said while we were down (in the background)
5. serve: HTTP on PORT; with SLACK_APP_TOKEN, Socket Mode on the same loop (the HTTP
   server then answers only /healthz)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property, partial
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.config import Settings
from bot.db import make_engine, make_session_factory, transaction, upgrade
from bot.db.checkpoint import WalCheckpointer
from bot.outbox.relay import Relay
from bot.scheduler import OutboxPoller
from bot.server import HttpServer
from bot.services.capture import note_heard_while_up
from bot.slack.app import create_app, utc_now
from bot.slack.backfill import BackfillReport, BotIdentity, backfill_incident, open_incidents
from bot.slack.listeners import waits_only_on_shared_write
from bot.slack.scribe import Scribe

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    app: App
    server: HttpServer | None = None
    socket_link: Any = None  # bot.socket_mode.SocketModeLink in Socket Mode
    backfill_thread: threading.Thread | None = None
    backfill_reports: list[BackfillReport] = field(default_factory=list)
    hooks_on_stop: list[Callable[[], None]] = field(default_factory=list)
    # The app's outbox relay (bot.outbox): tests and the demo call `runtime.outbox.run_due()`
    # at the moments they choose; the scheduler calls it periodically.
    outbox: Relay | None = None
    scheduler: OutboxPoller | None = None
    # When this process started receiving events (see note_heard).
    started_at: datetime = field(default_factory=utc_now)
    _configured_team: str | None = None

    @classmethod
    def start(
        cls,
        settings: Settings,
        *,
        client: WebClient | None = None,
        clock: Callable[[], datetime] = utc_now,
        host: str = "0.0.0.0",
        port: int | None = None,
        background: bool = False,
        history_pause: Callable[[], None] | None = None,
        start_scheduler: bool | None = None,
    ) -> Runtime:
        upgrade(settings.database_url)
        engine = make_engine(settings.database_url, pool_size=max(5, settings.workers))
        factory = make_session_factory(engine)
        app = create_app(settings, client, session_factory=factory, clock=clock)
        scribe = app.scribe  # type: ignore[attr-defined]
        if history_pause is not None:
            scribe.history_pause = history_pause
        runtime = cls(settings=settings, app=app, started_at=clock())
        runtime.hooks_on_stop.append(engine.dispose)
        # SQLite: the log is copied into the database file off the event loop (bot.db).
        checkpointer = WalCheckpointer.for_engine(engine)
        if checkpointer is not None:
            runtime.hooks_on_stop.append(checkpointer.start().stop)
        runtime.hooks_on_stop.append(app.scribe.close)  # type: ignore[attr-defined]

        # Background work acts in each team with its own installation's client.
        scribe.client_for = runtime.team_client
        runtime.outbox = scribe.outbox
        if settings.scheduler_enabled if start_scheduler is None else start_scheduler:
            runtime.scheduler = OutboxPoller(runtime.outbox, engine, poll_seconds=settings.scheduler_poll_seconds, also=runtime.note_heard)
            runtime.scheduler.start()
            # Hooks run in reverse: the scheduler stops before the engine it uses is disposed.
            runtime.hooks_on_stop.append(runtime.scheduler.stop)

        runtime.backfill_thread = threading.Thread(target=runtime.catch_up, name="catch-up", daemon=True)
        runtime.backfill_thread.start()

        # With OAuth, Bolt looks each request's installation up in the database, which
        # blocks: then every request goes to the server's threads.
        inline = None if settings.oauth else waits_only_on_shared_write(settings.command)
        pages: list[Callable[..., Any]] = []
        if settings.web_enabled:
            # The web view (bot.web) on the same port, in HTTP and Socket Mode alike.
            from bot.web import register as register_web

            pages.append(partial(register_web, settings=settings, session_factory=factory, client_for=runtime.team_client,
                                 serves_team=runtime.serves_team, clock=clock))
        if settings.trackers.configured():
            # Trackers' webhooks (bot.ticket_sync.receiver); targets read by polling get their poll rows.
            from bot.services.tickets import ensure_polls
            from bot.ticket_sync.receiver import register as register_webhooks

            pages.append(partial(register_webhooks, settings=settings, session_factory=factory, clock=clock))
            with transaction(factory) as session:
                ensure_polls(session, settings, now=clock())
            scribe.trackers.warm()
        routes = (lambda web_app, run_blocking: [add(web_app, run_blocking) for add in pages]) if pages else None
        if settings.socket_mode:
            # Envelopes over a WebSocket, dispatched by the same server that answers
            # /healthz on PORT (bot.socket_mode says which client and why).
            from bot.socket_mode import SocketModeLink

            runtime.socket_link = SocketModeLink(settings.slack_app_token or "", settings.slack_api_url)
        runtime.server = HttpServer(app, host=host, port=settings.port if port is None else port, threads=settings.workers,
                                    inline=inline, socket_mode=runtime.socket_link, routes=routes)
        if background:
            runtime.server.start()
        if runtime.socket_link is not None:
            log.info("Socket Mode; health on http://%s:%s/healthz", host, runtime.server.port)
        else:
            log.info("listening on http://%s:%s/slack/events", host, runtime.server.port)
        if settings.web_enabled:
            log.info("web view at %s (sign-in redirect URL %s/auth/callback)", settings.public_url, settings.public_url)
        return runtime

    @property
    def scribe(self) -> Scribe:
        """What the app's listeners share (bot.slack.scribe)."""
        return self.app.scribe  # type: ignore[attr-defined]

    @property
    def failure(self) -> str | None:
        """Why serving stopped by itself (Socket Mode: Slack refused the app token), else None."""
        return self.socket_link.failure if self.socket_link is not None else None

    @property
    def url(self) -> str:
        assert self.server is not None and self.socket_link is None, "HTTP mode only"
        return self.server.url

    @cached_property
    def _configured_bot(self) -> BotIdentity:
        """Who we are with the single configured token (one auth.test, on first need)."""
        identity = self.app.client.auth_test()
        return BotIdentity(user_id=identity.get("user_id"), bot_id=identity.get("bot_id"))

    def team_client(self, team_id: str) -> WebClient | None:
        """The client to act in a team with, or None if the app isn't installed there.

        One workspace: the configured token. Multi-workspace: the team's installation.
        """
        client = self.app.client
        installed = self._installed_bot(team_id)
        if installed is not None:
            return WebClient(token=installed.bot_token, base_url=client.base_url, timeout=client.timeout, retry_handlers=client.retry_handlers)
        return client if client.token else None

    def serves_team(self, team_id: str) -> bool:
        """Whether this app records `team_id`: the configured token's team, or an installed one."""
        if self.app.client.token:
            if self._configured_team is None:
                self._configured_team = self.app.client.auth_test().get("team_id")
            return team_id == self._configured_team
        return self._installed_bot(team_id) is not None

    def _installed_bot(self, team_id: str) -> Any:
        """The team's installation (slack_sdk Bot) in multi-workspace mode, else None."""
        store = self.app.installation_store
        if store is None or self.app.client.token:
            return None
        installed = store.find_bot(enterprise_id=None, team_id=team_id)
        return installed if installed is not None and installed.bot_token else None

    def _team_client(self, team_id: str) -> tuple[WebClient, BotIdentity] | None:
        """The client and bot identity to read a team's history with, or None if we can't."""
        client = self.team_client(team_id)
        if client is None:
            log.warning("catch-up skipped team %s: the app is not installed there", team_id)
            return None
        installed = self._installed_bot(team_id)
        if installed is not None:
            return client, BotIdentity(user_id=installed.bot_user_id, bot_id=installed.bot_id)
        return client, self._configured_bot

    def note_heard(self) -> None:
        """On every poller tick: this process has been receiving events since it started (in
        Socket Mode, while its socket is connected), so everything of the incidents it has
        caught up on was heard until a few minutes ago (bot.services.capture.note_heard_while_up)."""
        if self.socket_link is not None and self.socket_link.state != "connected":
            return
        scribe = self.scribe
        with scribe.transaction() as session:
            note_heard_while_up(session, up_since=self.started_at, now=scribe.now())

    def catch_up(self) -> None:
        """Backfill every open incident; a failure is logged, never fatal."""
        scribe = self.app.scribe  # type: ignore[attr-defined]
        try:
            for incident_id, team_id in open_incidents(scribe.session_factory):
                found = self._team_client(team_id)
                if found is None:
                    continue
                client, bot = found
                report = backfill_incident(
                    scribe.session_factory,
                    client,
                    incident_id=incident_id,
                    bot=bot,
                    now=scribe.now,
                    page_size=self.settings.history_page_size,
                    pause=scribe.history_pause,
                )
                self.backfill_reports.append(report)
                log.info("%s", report.summary())
        except (SlackApiError, SlackClientError, OSError) as error:
            log.warning("catch-up on start failed: %s", type(error).__name__)

    def serve_forever(self) -> None:
        if self.server is not None:
            self.server.serve_forever()

    def serve_until_interrupted(self) -> None:
        """Serve until Ctrl-C (SIGINT), then stop cleanly."""
        try:
            self.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()  # in Socket Mode, closes the link too
        for hook in reversed(self.hooks_on_stop):
            hook()
