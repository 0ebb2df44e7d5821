"""What every fake served over HTTP shares: a threaded server on 127.0.0.1, port 0 (never a
fixed port, so tests run in parallel), started and stopped in a background thread. The Slack
Web API (webapi.py), the OpenAI-compatible model (openai_compat.py) and the trackers
(trackers/) are such fakes."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

__all__ = ["LocalHTTPService", "ServiceHandler"]

_Self = TypeVar("_Self", bound="LocalHTTPService")


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a hung client must never keep the test process alive
    # socketserver's default listen backlog is 5: a hundred clients connecting at once
    # would see SYNs dropped and retried after 1 s, 3 s…, a delay the real services don't add.
    request_queue_size = 256

    def __init__(self, service: LocalHTTPService) -> None:
        super().__init__(("127.0.0.1", 0), service.handler_class)
        self.service = service


class ServiceHandler(BaseHTTPRequestHandler):
    """Hands every GET and POST to the service's `_serve(handler)`."""

    server: _Server

    def do_POST(self) -> None:
        self.server.service._serve(self)

    do_GET = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean; each fake records its requests


class LocalHTTPService:
    """start()/stop() (or `with`), `port`; subclasses implement `_serve(handler)`."""

    handler_class: type[ServiceHandler] = ServiceHandler
    thread_name = "fake-http"

    def __init__(self) -> None:
        self._server: _Server | None = None
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        # Set by stop(): wakes handlers that wait (a delayed answer) so they give up.
        self._stopping = threading.Event()

    def _serve(self, handler: ServiceHandler) -> None:
        raise NotImplementedError

    def start(self: _Self) -> _Self:
        if self._server is not None:
            raise RuntimeError(f"{type(self).__name__} already started")
        self._stopping.clear()
        self._server = _Server(self)
        self._port = int(self._server.server_address[1])
        # A short poll interval makes stop() (shutdown) take ~50 ms instead of up to 0.5 s.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    def __enter__(self: _Self) -> _Self:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        # Kept after stop: an answer still being written then names its own address.
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} not started")
        return self._port
