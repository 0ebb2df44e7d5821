"""A hand-driven clock for tests.

The simulator reads time only through `Workspace.clock`, so swapping in a
`FakeClock` makes message timestamps and rate limits deterministic without
sleeping.
"""

from __future__ import annotations

import threading


class FakeClock:
    """A callable returning a time that only moves when told to."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = float(start)
        # Own lock: the clock is called from inside workspace critical sections,
        # so it must never need the workspace lock itself.
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, now: float) -> None:
        with self._lock:
            self._now = float(now)
