"""HTTP mode: Bolt behind waitress, a production-grade threaded WSGI server.

One URL, POST /slack/events, takes commands, events and interactivity; GET /healthz
answers 200 when the database answers, 503 when it does not.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.request.internals import parse_body
from sqlalchemy import text

log = logging.getLogger(__name__)

# Slack's payloads are a few KB; a large body is refused before it is read into memory.
MAX_BODY_BYTES = 1024 * 1024


def database_health_check(app: App) -> Callable[[], None]:
    """Raises when the app's database does not answer."""
    scribe = app.scribe  # type: ignore[attr-defined]

    def check() -> None:
        with scribe.session_factory() as session:
            session.execute(text("SELECT 1"))

    return check


def make_wsgi_app(app: App, health_check: Callable[[], None] | None = None) -> Callable[..., Iterable[bytes]]:
    """`health_check` defaults to the database check; the benchmark's do-nothing app passes its own."""
    slack_handler = SlackRequestHandler(app, path="/slack/events")
    check_health = health_check or database_health_check(app)

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz" and environ.get("REQUEST_METHOD") == "GET":
            try:
                check_health()
                status, body = "200 OK", {"ok": True}
            except Exception as error:  # any database failure means "not healthy"
                log.warning("health check failed: %s", type(error).__name__)
                status, body = "503 Service Unavailable", {"ok": False, "error": "database unavailable"}
            payload = json.dumps(body).encode()
            start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
            return [payload]
        if path == "/slack/events" and environ.get("REQUEST_METHOD") != "POST":
            start_response("405 Method Not Allowed", [("Allow", "POST"), ("Content-Type", "text/plain")])
            return [b"POST Slack requests here"]
        if path == "/slack/events":
            refusal = _refuse_unreadable(environ)
            if refusal is not None:
                log.warning("refused a request to /slack/events: %s", refusal)
                payload = json.dumps({"error": refusal}).encode()
                start_response("400 Bad Request", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
                return [payload]
        return slack_handler(environ, start_response)

    return wsgi


def _refuse_unreadable(environ: dict[str, Any]) -> str | None:
    """Why a body can't be a Slack request (not UTF-8, broken JSON or form payload), or None.

    Bolt parses the body before it checks the signature and raises on these, which
    would answer 500; such a request can't come from Slack, so it gets a plain 400.
    The body is put back for Bolt to read.
    """
    # slack_sdk's verifier raises (500) on a timestamp that isn't a number; without
    # one, Bolt refuses the request as unsigned (401), which is what it is.
    stamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP")
    if stamp is not None and not stamp.strip().isdigit():
        del environ["HTTP_X_SLACK_REQUEST_TIMESTAMP"]
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return "invalid Content-Length"
    raw = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "body is not UTF-8 text"
    try:
        body = parse_body(text, environ.get("CONTENT_TYPE"))
    except ValueError:
        return "body is neither a JSON object nor form data with a JSON payload"
    if not isinstance(body, dict):
        return "body is not a JSON object"
    return None


class _AtMostEvery(logging.Filter):
    """Lets a record through only if the last one it let through is at least `seconds` old."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self._seconds = seconds
        self._clock = clock
        self._last: float | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        now = self._clock()
        if self._last is not None and now - self._last < self._seconds:
            return False
        self._last = now
        return True


# waitress warns "Task queue depth is N" for every request that has to wait for a free
# thread. In a burst of Slack events that is nearly every request: a log line each, which
# took about a tenth of the server's time at 50 concurrent senders. One a minute still tells
# the operator the threads are saturated (SCRIBE_WORKERS).
QUEUE_DEPTH_WARNINGS = _AtMostEvery(60.0)


class HttpServer:
    """waitress in a background thread (tests, demo, benchmark) or in the foreground (`scribe run`)."""

    def __init__(
        self, app: App, *, host: str = "127.0.0.1", port: int = 0, threads: int = 16,
        health_check: Callable[[], None] | None = None,
    ):
        from waitress.server import create_server

        logging.getLogger("waitress.queue").addFilter(QUEUE_DEPTH_WARNINGS)  # added once, however many servers
        # Our own socket map, so stop() can close the connections clients keep alive too:
        # waitress's loop runs until the map is empty.
        self._socket_map: dict[int, Any] = {}
        self.server = create_server(
            make_wsgi_app(app, health_check),
            map=self._socket_map,
            host=host,
            port=port,
            threads=threads,
            # waitress refuses a body of exactly the limit; allow up to and including it.
            max_request_body_size=MAX_BODY_BYTES + 1,
            channel_timeout=30,
            ident="incident-scribe",
        )
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def port(self) -> int:
        return int(self.server.effective_port)  # type: ignore[union-attr]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    def start(self) -> "HttpServer":
        self._thread = threading.Thread(target=self._run_until_stopped, name="http-server", daemon=True)
        self._thread.start()
        return self

    def _run_until_stopped(self) -> None:
        try:
            self.server.run()
        except OSError:
            # stop() closes the listening socket under the running select loop;
            # the "bad file descriptor" that follows is the loop noticing.
            if not self._stopping.is_set():
                raise

    def serve_forever(self) -> None:
        self.server.run()

    def stop(self) -> None:
        from waitress import wasyncore

        self._stopping.set()
        self.server.close()
        # Idle keep-alive connections would keep the loop (and its thread) running.
        wasyncore.close_all(self._socket_map)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.server.task_dispatcher.shutdown(timeout=5)
