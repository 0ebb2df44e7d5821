"""Shared pieces of the tracker tests: a fake sleep that moves the simulators' clock, an
aware clock for the adapters, a full TicketSpec, and a receiver for signed webhooks."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bot.simulator.clock import FakeClock
from bot.trackers import RetryPolicy, TicketSpec, TrackerError, make_marker

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
FAST = RetryPolicy(attempts=3, base_delay=0.5, max_delay=8.0, max_retry_after=30.0, timeout=0.5)


class FakeSleep:
    """Records each wait and moves the shared clock by it, so a simulator's rate-limit
    window really passes without the test sleeping."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.clock.advance(seconds)


def aware(clock: FakeClock) -> Callable[[], datetime]:
    return lambda: datetime.fromtimestamp(clock(), UTC)


def full_spec(**changes: Any) -> TicketSpec:
    spec = TicketSpec(
        title="Add a disk-full alert on the primary",
        marker=make_marker("T0001", 42),
        incident_ref="INC-7",
        incident_title="Checkout database ran out of disk",
        severity="sev1",
        priority="p1",
        due=date(2026, 1, 15),
        channel_url="https://acme.slack.com/archives/C0INC7",
        page_url="https://scribe.acme.test/incidents/7",
        owner_name="Ana Lima",
    )
    return replace(spec, **changes)


def assert_clean(error: TrackerError, *secrets: str) -> None:
    """The error's message, detail and repr carry no secret."""
    for secret in secrets:
        for text in (str(error), repr(error), error.detail or "", error.message):
            assert secret not in text, f"{secret!r} leaked into {text!r}"


class WebhookReceiver:
    """A real endpoint a simulator posts to; `handle(headers, body) -> status` decides."""

    def __init__(self, handle: Callable[[dict[str, str], bytes], int]) -> None:
        self.handle = handle
        self.received: list[tuple[dict[str, str], bytes, int]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = dict(self.headers.items())
                status = receiver.handle(headers, body)
                receiver.received.append((headers, body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/trackers/hook"

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
