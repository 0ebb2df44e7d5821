"""The HTTP layer every adapter shares: one httpx client, timeouts, bounded retries of
safe requests, rate-limit headers, and errors that never carry a token.

Retries: a safe request (a GET, or a GraphQL query) is tried up to `RetryPolicy.attempts`
times on timeouts, connection failures, 5xx and on a rate limit whose wait is short. A
create is never retried here: if its answer is lost the ticket may exist, and the caller's
next attempt searches for the marker first (`bot.trackers.base.ensure_ticket`).

A Retry-After holds every request to that tracker, from every thread, until it has passed:
once the tracker says wait, nobody spends a request to be told again. A hold longer than
`max_retry_after` is raised at once as rate_limited, for the caller to schedule.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from bot.db.guard import network_call

from .errors import ErrorKind, TrackerError, clip, plain_message, scrub

log = logging.getLogger(__name__)

Sleep = Callable[[float], None]
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3  # total tries of a safe request
    base_delay: float = 0.5  # backoff: base_delay * 2**n, capped at max_delay
    max_delay: float = 8.0
    # A safe request waits out a Retry-After up to this long; a longer one is raised as
    # rate_limited so the caller (the outbox, the poller) reschedules instead of blocking.
    max_retry_after: float = 30.0
    timeout: float = 10.0  # seconds, per request (connect, read, write, pool)

    def backoff(self, attempt: int) -> float:
        return min(self.max_delay, self.base_delay * (2 ** attempt))


@dataclass(frozen=True)
class RateLimit:
    """What the last answer said about the rate limit (None where the tracker said nothing)."""

    limit: int | None = None
    remaining: int | None = None
    reset_at: datetime | None = None


@dataclass(frozen=True)
class Failure:
    """An adapter's reading of a failed answer, before the message is written."""

    kind: ErrorKind
    detail: str | None = None
    retry_after: float | None = None
    what: str | None = None  # "project ABC", "issue ABC-12": for not_found and 403


# (answer, parsed body, now) → what went wrong; `now` is the injected clock's.
Classify = Callable[[httpx.Response, Any, datetime], Failure]


class TrackerHttp:
    """An httpx.Client bound to one tracker. Its repr and its errors hold no secret."""

    def __init__(self, *, tracker: str, label: str, base_url: str, headers: Mapping[str, str],
                 secrets: Sequence[str | None], classify: Classify, token_setting: str,
                 read_rate_limit: Callable[[httpx.Headers, datetime], RateLimit] | None = None,
                 retry: RetryPolicy | None = None, sleep: Sleep = time.sleep, clock: Clock = utc_now,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.tracker = tracker
        self.label = label
        self.retry = retry or RetryPolicy()
        self._secrets = [s for s in secrets if s]
        self._classify = classify
        self._token_setting = token_setting
        self._read_rate_limit = read_rate_limit
        self._sleep = sleep
        self._clock = clock
        self.rate_limit = RateLimit()
        # Until when the tracker asked us to wait (its last Retry-After), for every thread.
        self._hold_until: datetime | None = None
        self._hold_lock = threading.Lock()
        self._client = httpx.Client(base_url=base_url, headers=dict(headers), timeout=self.retry.timeout,
                                    transport=transport, follow_redirects=False)

    def __repr__(self) -> str:
        return f"TrackerHttp({self.tracker!r}, base_url={str(self._client.base_url)!r})"

    def close(self) -> None:
        self._client.close()

    def request(self, method: str, path: str, *, safe: bool, params: Mapping[str, Any] | None = None,
                json: Any = None, what: str | None = None) -> httpx.Response:
        """Send one request; return a 2xx answer or raise TrackerError.

        `safe`: the request changes nothing, so it may be repeated (bounded) after a timeout,
        a 5xx or a short rate limit.
        """
        # The tripwire (bot.db.guard): a tracker call must never wait inside a transaction.
        network_call(self.label)
        attempts = self.retry.attempts if safe else 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            self._wait_for_the_tracker(what)
            try:
                response = self._client.request(method, path, params=params, json=json)
            except httpx.TimeoutException:
                error = self._error("unavailable", None, f"no answer within {self.retry.timeout:g} s", None, what)
            except httpx.TransportError as exc:
                error = self._error("unavailable", None, f"could not connect ({type(exc).__name__})", None, what)
            else:
                self._note_rate_limit(response)
                if response.is_success:
                    return response
                error = self.failure(response, what)
            if error.retry_after is not None:
                self._hold(error.retry_after)
            if last or not safe:
                raise error
            if error.kind not in ("rate_limited", "unavailable"):
                raise error
            # A Retry-After (429, or a 503 that carries one) says how long: waited out at the top
            # of the next attempt, with every other request to this tracker; otherwise back off.
            wait = error.retry_after if error.retry_after is not None else self.retry.backoff(attempt)
            if wait > self.retry.max_retry_after:
                raise error
            log.info("%s %s %s failed (%s); retrying in %.1f s", self.label, method, path, error.kind, wait)
            if error.retry_after is None:
                self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _hold(self, seconds: float) -> None:
        """The tracker asked us to wait (Retry-After): every request to it, from any thread, waits."""
        until = self._clock() + timedelta(seconds=seconds)
        with self._hold_lock:
            if self._hold_until is None or until > self._hold_until:
                self._hold_until = until

    def _wait_for_the_tracker(self, what: str | None) -> None:
        """Before sending: wait out what the tracker last asked for, rather than spend a request
        to be told again; a wait longer than `max_retry_after` is the caller's to schedule."""
        with self._hold_lock:
            until = self._hold_until
        if until is None:
            return
        wait = (until - self._clock()).total_seconds()
        if wait <= 0:
            return
        if wait > self.retry.max_retry_after:
            raise self._error("rate_limited", None, None, wait, what)
        self._sleep(wait)

    def json(self, method: str, path: str, *, safe: bool, params: Mapping[str, Any] | None = None,
             json: Any = None, what: str | None = None) -> Any:
        """`request`, then the answer's JSON; an answer that isn't JSON (a proxy's error page)
        is `unavailable`."""
        response = self.request(method, path, safe=safe, params=params, json=json, what=what)
        try:
            return response.json()
        except ValueError:
            raise self._error("unavailable", response.status_code, "the answer is not JSON", None, what) from None

    def failure(self, response: httpx.Response, what: str | None = None) -> TrackerError:
        """The TrackerError for a failed answer, classified by the adapter."""
        body = _json_or_text(response)
        found = self._classify(response, body, self._clock())
        return self._error(found.kind, response.status_code, found.detail, found.retry_after, found.what or what)

    def error(self, kind: ErrorKind, detail: str | None, *, status: int | None = None,
              retry_after: float | None = None, what: str | None = None) -> TrackerError:
        """A TrackerError for a failure read from a 2xx answer (GraphQL errors)."""
        return self._error(kind, status, detail, retry_after, what)

    def _error(self, kind: ErrorKind, status: int | None, detail: str | None, retry_after: float | None,
               what: str | None) -> TrackerError:
        safe_detail = clip(scrub(detail, self._secrets)) if detail else None
        message = plain_message(kind, self.label, status=status, detail=safe_detail, retry_after=retry_after,
                                what=what, setting=self._token_setting)
        return TrackerError(kind, scrub(message, self._secrets), tracker=self.tracker, status=status,
                            detail=safe_detail, retry_after=retry_after)

    def _note_rate_limit(self, response: httpx.Response) -> None:
        if self._read_rate_limit is not None:
            self.rate_limit = self._read_rate_limit(response.headers, self._clock())

    def now(self) -> datetime:
        return self._clock()


def _json_or_text(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def retry_after_seconds(headers: httpx.Headers, now: datetime) -> float | None:
    """`Retry-After` as seconds: a number of seconds, or an HTTP date."""
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def int_header(headers: httpx.Headers, name: str) -> int | None:
    raw = headers.get(name)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def kind_for_status(status: int) -> ErrorKind:
    """The default reading of an HTTP status; adapters refine it from the body."""
    if status in (401, 403):
        return "auth"
    if status in (404, 410):
        return "not_found"
    if status == 429:
        return "rate_limited"
    if status in (400, 409, 422):
        return "invalid"
    return "unavailable"
