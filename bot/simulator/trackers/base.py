"""What every tracker simulator shares: a real HTTP server on 127.0.0.1 (port 0), the
record of requests (secrets never stored), scripted faults, a request budget with the
tracker's own rate-limit headers, realistic latency, and signed webhooks sent out.

Time: records, rate-limit windows and ticket timestamps read `clock` (a FakeClock in
tests), so a test decides when a window resets. Latency and fault delays are real waits.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from ..http_service import LocalHTTPService, ServiceHandler
from ..records import Fault
from ..waiting import wait_until

Answer = tuple[int, Any, dict[str, str]]  # status, JSON value (or text), extra headers
# Headers a recording may keep: none of them carries a secret.
RECORDED_HEADERS = ("content-type", "accept", "x-github-api-version", "user-agent")


@dataclass
class TrackerCall:
    """One request a simulator answered. Tokens are never stored here."""

    route: str  # e.g. "POST /rest/api/3/issue" or, for GraphQL, the root field "issueCreate"
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]
    at: float
    status: int = 200
    response: Any = field(default=None, repr=False)
    fault: Fault | None = None
    authorized: bool = True


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    raw: bytes
    body: Any  # parsed JSON, or None

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


class BodyError(ValueError):
    """The request body is not the JSON the endpoint wants."""


@dataclass
class Subscription:
    url: str
    secret: str | None


@dataclass(frozen=True)
class SentWebhook:
    url: str
    headers: dict[str, str]
    body: bytes
    status: int | None  # None: the receiver did not answer


class _Handler(ServiceHandler):
    # Keep-alive, as the trackers do; without TCP_NODELAY the separate header and body
    # writes of a kept-alive answer meet the client's delayed ACK (40 ms a request).
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    do_PUT = do_PATCH = do_DELETE = ServiceHandler.do_POST



class TrackerSimulator(LocalHTTPService):
    """Base class. Subclasses set `label`, implement `authenticate`, `dispatch`,
    `fault_answer` and `rate_headers`/`rate_limited_answer`."""

    label = "tracker"
    server_name = "TrackerSim/1.0"
    handler_class = _Handler

    def __init__(self, *, clock: Callable[[], float] = time.time, latency: float = 0.0,
                 rate_limit: int | None = None, rate_window: float = 3600.0) -> None:
        self.clock = clock
        self.latency = latency  # seconds each answer takes (real waits, for benchmarks)
        # Requests allowed per window (None: unlimited, but headers are still sent).
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        super().__init__()
        self.thread_name = f"{self.label}-sim"
        self.lock = threading.RLock()
        self._changed = threading.Condition(self.lock)
        self._calls: list[TrackerCall] = []
        self._faults: dict[str, deque[Fault]] = {}
        self._window_start: float | None = None
        self._window_used = 0
        self.errors: list[str] = []  # tracebacks of simulator bugs (answered 500)
        self.subscriptions: list[Subscription] = []
        self.sent_webhooks: list[SentWebhook] = []
        self.auto_webhooks = True  # send to subscriptions on every change

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- what tests read ----------------------------------------------------------------------

    @property
    def calls(self) -> list[TrackerCall]:
        with self.lock:
            return list(self._calls)

    def calls_to(self, route: str) -> list[TrackerCall]:
        with self.lock:
            return [c for c in self._calls if c.route == route]

    def clear_calls(self) -> None:
        with self.lock:
            self._calls.clear()

    def wait_for(self, predicate: Callable[[Any], Any], timeout: float = 5.0) -> Any:
        return wait_until(self._changed, lambda: predicate(self), timeout=timeout,
                          describe=lambda: f"wait_for timed out after {timeout}s; calls: {[(c.route, c.status) for c in self._calls[-10:]]}")

    # -- scripting ------------------------------------------------------------------------------

    def inject(self, route: str, *faults: Fault) -> None:
        """Queue faults for the next requests to `route` (one per request, FIFO); "*" for any."""
        with self.lock:
            self._faults.setdefault(route, deque()).extend(faults)

    def subscribe(self, url: str, secret: str | None) -> None:
        """Send this URL a signed webhook on every change from now on."""
        with self.lock:
            self.subscriptions.append(Subscription(url, secret))

    def now(self) -> float:
        return float(self.clock())

    # -- webhooks out ---------------------------------------------------------------------------

    def post_webhook(self, url: str, body: bytes, headers: dict[str, str], timeout: float = 5.0) -> SentWebhook:
        """POST one delivery; the answer's status is kept (None if the receiver is down)."""
        try:
            with httpx.Client(timeout=timeout) as client:
                status: int | None = client.post(url, content=body, headers=headers).status_code
        except httpx.HTTPError:
            status = None
        sent = SentWebhook(url, dict(headers), body, status)
        with self._changed:
            self.sent_webhooks.append(sent)
            self._changed.notify_all()
        return sent

    def _broadcast(self, build: Callable[[str | None], tuple[bytes, dict[str, str]]]) -> None:
        """Deliver to every subscription, outside the lock (the receiver may call back)."""
        if not self.auto_webhooks:
            return
        with self.lock:
            targets = list(self.subscriptions)
        for subscription in targets:
            body, headers = build(subscription.secret)
            self.post_webhook(subscription.url, body, headers)

    @staticmethod
    def new_delivery_id() -> str:
        return str(uuid.uuid4())

    # -- serving --------------------------------------------------------------------------------

    def authenticate(self, request: Request) -> tuple[bool, Answer | None]:
        """(authorized, refusal): subclasses check their tracker's Authorization scheme."""
        raise NotImplementedError

    def dispatch(self, request: Request) -> tuple[str, Callable[[], Answer]]:
        """(route name, handler) for a request; the handler runs under the lock."""
        raise NotImplementedError

    def fault_answer(self, route: str, fault: Fault) -> Answer:
        raise NotImplementedError

    def rate_headers(self, remaining: int, reset_at: float) -> dict[str, str]:
        return {}

    def rate_limited_answer(self, retry_after: int, reset_at: float) -> Answer:
        raise NotImplementedError

    def parse_body(self, raw: bytes, content_type: str) -> Any:
        if not raw:
            return None
        if "json" not in content_type.lower():
            return {"__form__": {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}}
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise BodyError("body is not JSON") from None

    def _serve(self, handler: ServiceHandler) -> None:
        at = self.now()
        url = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        if self.latency:
            self._stopping.wait(self.latency)
        try:
            body = self.parse_body(raw, headers.get("content-type", ""))
            bad_body = None
        except BodyError as error:
            body, bad_body = None, str(error)
        request = Request(handler.command, url.path, parse_qs(url.query, keep_blank_values=True), headers, raw, body)
        fault: Fault | None = None
        authorized = False
        try:
            route, serve = self.dispatch(request)
            with self._changed:
                queue = self._faults.get(route) or self._faults.get("*")
                fault = queue.popleft() if queue else None
            if fault is not None and fault.delay:
                self._stopping.wait(fault.delay)
            if fault is not None and fault.replaces_answer and not fault.after_serving:
                answer = self.fault_answer(route, fault)
                authorized = True
            else:
                authorized, refusal = self.authenticate(request)
                if refusal is not None:
                    answer = refusal
                elif bad_body is not None:
                    answer = self.bad_body_answer(route, bad_body)
                else:
                    answer = self._budgeted(serve)
                if fault is not None and fault.after_serving:
                    answer = self.fault_answer(route, fault)
        except Exception:  # a simulator bug must not look like a hung tracker
            route = f"{handler.command} {url.path}"
            self.errors.append(traceback.format_exc())
            print(self.errors[-1], file=sys.stderr)
            answer = (500, {"message": "simulator error"}, {})
        status, payload, extra = answer
        recorded = {k: v for k, v in headers.items() if k in RECORDED_HEADERS}
        with self._changed:
            self._calls.append(TrackerCall(route, handler.command, url.path, request.query, body, recorded, at,
                                           status, payload, fault, authorized))
            self._changed.notify_all()
        self._write(handler, status, payload, extra)

    def bad_body_answer(self, route: str, problem: str) -> Answer:
        return 400, {"message": "Problems parsing JSON"}, {}

    def _budgeted(self, serve: Callable[[], Answer]) -> Answer:
        """Spend one request of the window's budget; over it, the tracker's 429."""
        with self._changed:
            now = self.now()
            if self._window_start is None or now >= self._window_start + self.rate_window:
                self._window_start, self._window_used = now, 0
            reset_at = self._window_start + self.rate_window
            limit = self.rate_limit
            if limit is not None and self._window_used >= limit:
                return self.rate_limited_answer(max(1, int(reset_at - now + 0.999)), reset_at)
            self._window_used += 1
            remaining = (limit - self._window_used) if limit is not None else 10**6
            status, payload, extra = serve()
        return status, payload, {**self.rate_headers(remaining, reset_at), **extra}

    def _write(self, handler: ServiceHandler, status: int, payload: Any, headers: dict[str, str]) -> None:
        if payload is None:
            data = b""
        elif isinstance(payload, (str, bytes)):
            data = payload.encode("utf-8") if isinstance(payload, str) else payload
            headers = {"Content-Type": "text/plain;charset=UTF-8", **headers}
        else:
            data = json.dumps(payload).encode("utf-8")
            headers = {"Content-Type": "application/json; charset=utf-8", **headers}
        try:
            handler.send_response(status)
            handler.send_header("Server", self.server_name)
            for key, value in headers.items():
                handler.send_header(key, value)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
