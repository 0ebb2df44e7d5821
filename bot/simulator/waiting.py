"""Waiting, in tests, for a fake's state to become what the test expects: an explicit wait with
a deadline, never a bare sleep. Woken by the fake's condition (notified on every recorded
call or change), and re-checked every 50 ms as well, because a predicate may watch state that
changes without a notification."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(changed: threading.Condition, check: Callable[[], T], *, timeout: float, describe: Callable[[], str]) -> T:
    """The first truthy value of `check()` within `timeout` seconds; else AssertionError with
    `describe()` (what the fake saw), read while the condition is held."""
    deadline = time.monotonic() + timeout
    with changed:
        while True:
            result = check()
            if result:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(describe())
            changed.wait(min(remaining, 0.05))
