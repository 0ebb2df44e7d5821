"""One adapter per connected tracker in a process, built on first use and shared by threads
(httpx clients are thread-safe; adapters cache team and label ids)."""

from __future__ import annotations

import threading
import time

from .base import Tracker
from .factory import build_tracker
from .http import Clock, RetryPolicy, Sleep, utc_now
from .settings import TrackerSettings


class TrackerPool:
    """`get("jira")` → the process's JiraTracker; raises TrackerNotConfigured for a tracker
    without a token. `sleep` and `retry` are for tests and benchmarks (set them before the
    first `get`); the adapters wait out a short Retry-After with `sleep`."""

    def __init__(self, settings: TrackerSettings, *, clock: Clock = utc_now, sleep: Sleep = time.sleep,
                 retry: RetryPolicy | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.sleep = sleep
        self.retry = retry
        self._built: dict[str, Tracker] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Tracker:
        with self._lock:
            tracker = self._built.get(name)
            if tracker is None:
                tracker = build_tracker(self.settings, name, retry=self.retry, sleep=self.sleep, clock=self.clock)
                self._built[name] = tracker
            return tracker

    def warm(self) -> None:
        """Build every connected tracker's adapter now (no request is sent): at start, so the
        first ticket doesn't wait for an HTTP client to be made."""
        for name in self.settings.configured():
            self.get(name)

    def close(self) -> None:
        """Close the adapters; the next `get` builds them again (with `sleep` and `retry` as they are then)."""
        with self._lock:
            built, self._built = list(self._built.values()), {}
        for tracker in built:
            tracker.close()
