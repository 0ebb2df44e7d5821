"""Work handed to a pool and still running, so that someone can wait until none is: a process
stopping (within a bound), or a test that looks at what the work did."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, wait
from typing import Any


class InFlight:
    def __init__(self) -> None:
        self._futures: set[Future[Any]] = set()
        self._lock = threading.Lock()

    def add(self, future: Future[Any]) -> None:
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: Future[Any]) -> None:
        with self._lock:
            self._futures.discard(future)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is in flight, including work that work in flight started; True if
        that happened within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                pending = set(self._futures)
            if not pending:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            wait(pending, timeout=left)
