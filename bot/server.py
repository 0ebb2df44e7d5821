"""HTTP mode: Bolt behind aiohttp's asyncio server.

One URL, POST /slack/events, takes commands, events and interactivity; GET /healthz
answers 200 when the database answers, 503 when it does not; Bolt's OAuth pages
(/slack/install, /slack/oauth_redirect) are served when multi-workspace mode is on.

Why asyncio: every request Slack sends is answered only after its write has committed
(bot.slack.app), and in a busy channel most requests are new messages waiting for a
shared write (bot.groupcommit). A threaded server parks one thread per such request and
wakes each one after the commit, and under one interpreter lock those hand-offs cost
more than the write itself: ingestion stayed at 0.56-0.62 of a do-nothing Bolt app
served the same way (README, Benchmarks).

So a request is dispatched one of two ways:
- **on the loop**, when `inline(body, request)` says its listener's only wait is a shared write
  (new messages, `/incident note` …): Bolt's `dispatch` runs in a greenlet on the event
  loop, and `GroupCommit.submit` suspends that greenlet until the commit instead of
  blocking. The loop serves other requests meanwhile, with no thread hand-off at all.
- **in the thread pool** (`threads` threads), everything else: listeners that open their
  own transactions or call Slack's Web API block, so they must not run on the loop.
A wrong answer from `inline` costs latency, never correctness: the listener's code and
its commit-before-answer promise are the same either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import json
import logging
import signal
import socket
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from aiohttp import web
from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.request.internals import parse_body
from sqlalchemy import text
from sqlalchemy.util.concurrency import greenlet_spawn

from bot.groupcommit import all_committed, answer_after_commits
from bot.logs import log_listener_failure

log = logging.getLogger(__name__)

# Slack's payloads are a few KB; a larger body is refused (413) before it is read whole.
MAX_BODY_BYTES = 1024 * 1024
EVENTS_PATH = "/slack/events"
# Requests still being answered when the server stops get this long to finish.
SHUTDOWN_GRACE_SECONDS = 5.0

# Whether a request may run on the loop; it may also leave what it parsed in the request's
# context for the listener (a command is parsed once).
Inline = Callable[[dict[str, Any], BoltRequest], bool]
T = TypeVar("T")


def database_health_check(app: App) -> Callable[[], None]:
    """Raises when the app's database does not answer."""
    scribe = app.scribe  # type: ignore[attr-defined]

    def check() -> None:
        with scribe.session_factory() as session:
            session.execute(text("SELECT 1"))

    return check


def _json_response(status: int, body: dict[str, Any]) -> web.Response:
    return web.Response(status=status, body=json.dumps(body).encode(), content_type="application/json")


def read_slack_body(raw: bytes, content_type: str | None) -> tuple[str, dict[str, Any]] | str:
    """The body as text and parsed, or why it can't be a Slack request (not UTF-8, broken
    JSON or form payload, not an object).

    Bolt parses the body before it checks the signature and raises on these, which would
    answer 500; such a request can't come from Slack, so it gets a plain 400.
    """
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "body is not UTF-8 text"
    try:
        body = parse_body(decoded, content_type)
    except ValueError:
        return "body is neither a JSON object nor form data with a JSON payload"
    if not isinstance(body, dict):
        return "body is not a JSON object"
    return decoded, body


def bolt_headers(request: web.Request) -> dict[str, str | Sequence[str]]:
    headers: dict[str, str | Sequence[str]] = {}
    for name, value in request.headers.items():
        values = headers.setdefault(name.lower(), [])
        assert isinstance(values, list)
        values.append(value)
    # slack_sdk's verifier raises (500) on a timestamp that isn't a number; without
    # one, Bolt refuses the request as unsigned (401), which is what it is.
    stamp = headers.get("x-slack-request-timestamp")
    if stamp is not None and not stamp[0].strip().isdigit():
        del headers["x-slack-request-timestamp"]
    return headers


def to_web_response(bolt: BoltResponse) -> web.Response:
    response = web.Response(status=bolt.status, body=bolt.body.encode() if isinstance(bolt.body, str) else bolt.body)
    for name, values in bolt.headers.items():
        for value in values:
            response.headers.add(name, value)
    return response


class HttpServer:
    """The asyncio server, its loop in a background thread (tests, demo, benchmark) or in
    the foreground (`scribe run`). The port is bound at construction, so it is known
    before the server starts."""

    def __init__(
        self, app: App, *, host: str = "127.0.0.1", port: int = 0, threads: int = 16,
        health_check: Callable[[], None] | None = None, inline: Inline | None = None,
        socket_mode: Any = None,
        routes: Callable[[web.Application, Callable[..., Any]], Any] | None = None,
    ):
        self.app = app
        # Socket Mode (bot.socket_mode.SocketModeLink): envelopes come over its WebSocket and
        # this server only answers /healthz, reporting the socket's state too.
        self.socket_mode = socket_mode
        self._check_health = health_check or database_health_check(app)
        self._inline = inline
        # More pages on the same port (the web view, bot.web): called with the aiohttp app
        # and the way to run blocking work in the server's threads.
        self._routes = routes
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="slack-request")
        self._socket = socket.create_server((host, port), backlog=1024)
        self._socket.setblocking(False)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested: asyncio.Event | None = None
        self._stopping = False  # stop() may come before the loop has made its Event
        self._thread: threading.Thread | None = None
        self._serving = threading.Event()  # serving, or failed to start (see _failure)
        self._finished = threading.Event()  # the loop has stopped and closed
        self._failure: BaseException | None = None

    @property
    def port(self) -> int:
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{EVENTS_PATH}"

    # -- requests ------------------------------------------------------------------------

    def _web_app(self) -> web.Application:
        # aiohttp answers 413 to a body larger than client_max_size; up to it is read.
        web_app = web.Application(client_max_size=MAX_BODY_BYTES)
        web_app.router.add_get("/healthz", self._healthz)
        if self._routes is not None:
            self._routes(web_app, self._in_threads)
        if self.socket_mode is not None:
            return web_app
        web_app.router.add_post(EVENTS_PATH, self._slack_events)
        web_app.router.add_route("*", EVENTS_PATH, self._post_only)
        oauth = self.app.oauth_flow
        if oauth is not None:
            web_app.router.add_get(oauth.install_path, self._oauth(oauth.handle_installation))
            web_app.router.add_get(oauth.redirect_uri_path, self._oauth(oauth.handle_callback))
        return web_app

    async def _in_threads(self, blocking: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`blocking(*args, **kwargs)` in the server's threads, for work that must not stop the loop."""
        call = functools.partial(blocking, *args, **kwargs) if kwargs else blocking
        return await asyncio.get_running_loop().run_in_executor(self._pool, call, *(() if kwargs else args))

    async def _healthz(self, request: web.Request) -> web.Response:
        database_ok = True
        try:
            await self._in_threads(self._check_health)
        except Exception as error:  # any database failure means "not healthy"
            log.warning("health check failed: %s", type(error).__name__)
            database_ok = False
        if self.socket_mode is not None:
            state = self.socket_mode.state
            ok = database_ok and state == "connected"
            body: dict[str, Any] = {"ok": ok, "database": "ok" if database_ok else "unavailable", "socket_mode": state}
            if not ok:
                body["error"] = "database unavailable" if not database_ok else f"Socket Mode {state}"
            return _json_response(200 if ok else 503, body)
        if not database_ok:
            return _json_response(503, {"ok": False, "error": "database unavailable"})
        return _json_response(200, {"ok": True})

    async def _post_only(self, request: web.Request) -> web.Response:
        return web.Response(status=405, text="POST Slack requests here", headers={"Allow": "POST"})

    async def _slack_events(self, request: web.Request) -> web.Response:
        raw = await request.read()  # 413 from aiohttp past client_max_size
        read = read_slack_body(raw, request.headers.get("Content-Type"))
        if isinstance(read, str):
            log.warning("refused a request to %s: %s", EVENTS_PATH, read)
            return _json_response(400, {"error": read})
        decoded, body = read
        bolt_request = BoltRequest(body=decoded, query=request.query_string, headers=bolt_headers(request))
        return to_web_response(await self.dispatch(bolt_request, body))

    async def dispatch(self, bolt_request: BoltRequest, body: dict[str, Any]) -> BoltResponse:
        """Bolt's answer to one Slack request (HTTP or Socket Mode), after its listener's commit."""
        if self._inline is not None and self._inline(body, bolt_request):
            # The listener may leave its write to commit after it returns (bot.groupcommit,
            # submit_before_answer); the answer still waits for that commit.
            with answer_after_commits() as commits:
                response = await greenlet_spawn(self.app.dispatch, bolt_request)
            if commits:
                failure = await all_committed(commits)
                if failure is not None:
                    # As for a listener that raised: 500, so Slack sends the event again.
                    log_listener_failure(log, body, failure)
                    return BoltResponse(status=500, body="")
            return response
        return await self._in_threads(self.app.dispatch, bolt_request)

    def _oauth(self, handle: Callable[[BoltRequest], BoltResponse]) -> Callable[[web.Request], Any]:
        async def page(request: web.Request) -> web.Response:
            bolt_request = BoltRequest(body="", query=request.query_string, headers=bolt_headers(request))
            return to_web_response(await self._in_threads(handle, bolt_request))

        return page

    # -- lifecycle -----------------------------------------------------------------------

    async def _serve(self) -> None:
        self._stop_requested = asyncio.Event()
        if self._stopping:
            self._stop_requested.set()
        runner = web.AppRunner(self._web_app(), access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_GRACE_SECONDS)
        await runner.setup()
        await web.SockSite(runner, self._socket).start()
        if self.socket_mode is not None:
            await self.socket_mode.start(self.dispatch, self._request_stop)
        self._serving.set()
        try:
            await self._stop_requested.wait()
        finally:
            if self.socket_mode is not None:
                await self.socket_mode.close(SHUTDOWN_GRACE_SECONDS)
            # Closes the listening socket and kept-alive connections, after letting
            # requests under way finish.
            await runner.cleanup()

    def _run(self, *, foreground: bool) -> None:
        # What start-up loaded (SQLAlchemy, Bolt, Jinja, migrations…) lives as long as the
        # process; frozen, the cyclic collector stops walking it again and again while
        # requests allocate. It cut our server's time per message event by about a tenth.
        gc.collect()
        gc.freeze()
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            if foreground:
                # SIGINT (Ctrl-C) and SIGTERM stop the server the same clean way.
                for signum in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(signum, self._request_stop)
            loop.run_until_complete(self._serve())
        except BaseException as error:
            self._failure = error
            raise
        finally:
            self._serving.set()  # also when it failed to start: nobody waits forever
            loop.close()
            self._finished.set()

    def _request_stop(self) -> None:
        self._stopping = True
        if self._stop_requested is not None:
            self._stop_requested.set()

    def start(self) -> HttpServer:
        self._thread = threading.Thread(target=self._run, kwargs={"foreground": False}, name="http-server", daemon=True)
        self._thread.start()
        self._serving.wait(timeout=30)
        if self._failure is not None:
            raise RuntimeError(f"the HTTP server did not start: {self._failure}") from self._failure
        return self

    def serve_forever(self) -> None:
        """Serve in this (the main) thread until SIGINT or SIGTERM, or `stop()` from another thread."""
        self._run(foreground=True)

    def stop(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._request_stop)
        if loop is None:
            self._socket.close()  # never served
        else:
            # Also when serve_forever runs in another thread: the loop finishes the requests
            # under way (which may still hand work to the pool) before the pool goes.
            self._finished.wait(timeout=SHUTDOWN_GRACE_SECONDS + 5)
        self._pool.shutdown(wait=True, cancel_futures=True)
