"""No network call while a database transaction is open in the same thread.

Why: a transaction holds what other requests need. On SQLite it holds the only write lock,
on PostgreSQL row locks and a pooled connection. A Slack call made inside one (a slow
conversations.join, a 429 whose Retry-After slack_sdk sleeps out) made every other
channel's messages wait for their ack, past Slack's 3-second deadline. So services decide
in a short transaction, and Slack, trackers and model endpoints are called before it opens
or after it has committed (bot.outbox performs what must not be lost).

How it knows: every engine made by bot.db.engine.make_engine counts the connections each
thread (or greenlet, for requests served on the event loop) has checked out of its pool.
A Session holds its connection from its first statement until commit, rollback or close,
and so do `engine.begin()` and raw connections, so "a connection is checked out here" is
"a transaction is open here".

Every outgoing call asks `network_call(what)` first. `install()` puts that question in
front of every Slack Web API call and every response_url post (slack_sdk's own entry
points, so Bolt's per-team clients are covered too); the tracker and model clients ask it
themselves. In production a violation is logged as an error and the call proceeds; the
test suite makes it raise (`strict`), so the test that made such a call fails.
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any

from greenlet import getcurrent
from sqlalchemy import Engine, event

log = logging.getLogger(__name__)


class NetworkCallInTransaction(RuntimeError):
    """A network call was made while this thread had a database transaction open."""


class _Guard:
    def __init__(self) -> None:
        self.strict = False
        # What strict mode refused, kept because a caller may catch the exception (a lazy
        # listener's failure report does): the test suite checks this list after each test.
        self.refused: list[str] = []
        self._open: dict[int, int] = {}  # id of the greenlet → connections it has checked out
        self._lock = threading.Lock()

    def checked_out(self, owner: int) -> None:
        with self._lock:
            self._open[owner] = self._open.get(owner, 0) + 1

    def checked_in(self, owner: int) -> None:
        with self._lock:
            left = self._open.get(owner, 0) - 1
            if left > 0:
                self._open[owner] = left
            else:
                self._open.pop(owner, None)

    def open_here(self) -> bool:
        return id(getcurrent()) in self._open


_guard = _Guard()
_OWNER = "scribe_guard_owner"


def watch(engine: Engine) -> None:
    """Count `engine`'s checked-out connections per thread (called by make_engine)."""

    @event.listens_for(engine, "checkout")
    def _checkout(_dbapi: Any, record: Any, _proxy: Any) -> None:
        owner = id(getcurrent())
        record.info[_OWNER] = owner
        _guard.checked_out(owner)

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi: Any, record: Any) -> None:
        owner = record.info.pop(_OWNER, None)
        if owner is not None:
            _guard.checked_in(owner)


def transaction_open() -> bool:
    """True while this thread (or greenlet) has a database connection checked out."""
    return _guard.open_here()


def network_call(what: str) -> None:
    """Say that a network call to `what` is about to be made; a violation raises in strict
    mode and is logged otherwise."""
    if not _guard.open_here():
        return
    message = f"{what} was called while a database transaction is open in this thread ({_caller()}); decide in the transaction, call after commit"
    if _guard.strict:
        _guard.refused.append(message)
        raise NetworkCallInTransaction(message)
    log.error(message, stack_info=True)


def _caller() -> str:
    """The innermost frames of our own code that led here, for finding the call site."""
    import traceback
    from pathlib import Path

    # The project's own files (bot/, tests/, bench/), not the libraries installed in it.
    ours = Path(__file__).resolve().parents[2]
    frames = [f for f in traceback.extract_stack()[:-3] if f.filename.startswith(str(ours)) and not f.filename.endswith("guard.py")
              and "site-packages" not in f.filename]
    return " < ".join(f"{Path(f.filename).relative_to(ours.parent)}:{f.lineno} {f.name}" for f in reversed(frames[-4:]))


def set_strict(strict: bool) -> None:
    """Raise (True, the test suite) or log (False, the default) on a network call inside a transaction."""
    _guard.strict = strict


def take_refused() -> list[str]:
    """The calls strict mode refused since the last time this was asked, and forget them."""
    refused, _guard.refused = _guard.refused, []
    return refused


_installed = False
_install_lock = threading.Lock()


def install() -> None:
    """Ask `network_call` before every Slack Web API call and response_url post. Idempotent."""
    global _installed
    with _install_lock:
        if _installed:
            return
        from slack_sdk.web.base_client import BaseClient
        from slack_sdk.webhook.client import WebhookClient

        api_call = BaseClient.api_call

        @functools.wraps(api_call)
        def guarded_api_call(self: Any, api_method: str, *args: Any, **kwargs: Any) -> Any:
            network_call(f"Slack {api_method}")
            return api_call(self, api_method, *args, **kwargs)

        send_dict = WebhookClient.send_dict

        @functools.wraps(send_dict)
        def guarded_send_dict(self: Any, *args: Any, **kwargs: Any) -> Any:
            network_call("Slack response_url")
            return send_dict(self, *args, **kwargs)

        BaseClient.api_call = guarded_api_call  # type: ignore[method-assign]
        WebhookClient.send_dict = guarded_send_dict  # type: ignore[method-assign]
        _installed = True
