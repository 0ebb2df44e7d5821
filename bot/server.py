"""HTTP mode: Bolt behind waitress, a production-grade threaded WSGI server.

One URL, POST /slack/events, takes commands, events and interactivity; GET /healthz
answers 200 when the database answers, 503 when it does not.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
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
        return slack_handler(environ, start_response)

    return wsgi


class HttpServer:
    """waitress in a background thread (tests, demo, benchmark) or in the foreground (`scribe run`)."""

    def __init__(
        self, app: App, *, host: str = "127.0.0.1", port: int = 0, threads: int = 16,
        health_check: Callable[[], None] | None = None,
    ):
        from waitress.server import create_server

        self.server = create_server(
            make_wsgi_app(app, health_check),
            host=host,
            port=port,
            threads=threads,
            max_request_body_size=MAX_BODY_BYTES,
            # Quiet "Task queue depth" warnings are expected under benchmark bursts.
            channel_timeout=30,
            ident="incident-scribe",
        )
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server.effective_port)  # type: ignore[union-attr]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    def start(self) -> "HttpServer":
        self._thread = threading.Thread(target=self.server.run, name="http-server", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.server.run()

    def stop(self) -> None:
        self.server.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
