"""One adapter per connected tracker in a process, built on first use and shared by threads
(httpx clients are thread-safe; adapters cache team and label ids)."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from .base import Tracker
from .factory import build_tracker
from .http import Clock, RetryPolicy, Sleep, utc_now

if TYPE_CHECKING:
    from bot.config import TrackerSettings


class TrackerPool:
    """`get("jira")` → the process's JiraTracker; raises TrackerNotConfigured for a tracker
    without a token. `sleep` and `retry` are for tests and benchmarks (set them before the
    first `get`); `sleep` also waits out a short Retry-After in bot.trackers.effects."""

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

    def close(self) -> None:
        with self._lock:
            built, self._built = list(self._built.values()), {}
        for tracker in built:
            tracker.close()
