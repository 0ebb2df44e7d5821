"""The *memory* row: peak RSS of `scribe run` after 100 open incidents with 1,000 messages
each, sent over HTTP.                                                    target: < 150 MB
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

from bench.harness import (
    Bench,
    Row,
    Traffic,
    channel_id,
    fake_slack,
    log_progress,
    open_incidents,
    require_all_answered,
    require_durable,
    send_all,
)
from bench.ingest import INGEST_CONCURRENCY


def memory_size(quick: bool) -> tuple[int, int]:
    """(incidents, messages per incident)."""
    return (10, 100) if quick else (100, 1000)


class PeakRss:
    """Samples a process's RSS with psutil every 50 ms; on Linux also reads the kernel's own
    high-water mark (VmHWM), which catches peaks between samples."""

    def __init__(self, pid: int):
        import psutil

        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except Exception:  # the process is gone; the last sample stands
                return
            self._stop.wait(0.05)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def high_water_mark(self) -> int:
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0


def measure_memory(bench: Bench, *, profile_to: Path | None = None) -> float:
    incidents, per_incident = memory_size(bench.quick)
    database_url = bench.sqlite_url(f"memory-{uuid.uuid4().hex[:6]}")
    channels = [channel_id(n) for n in range(incidents)]
    with fake_slack(incidents) as api, bench.scribe("scribe-memory", database_url=database_url, api=api, profile_to=profile_to) as server:
        traffic = Traffic(api.workspace, api, bench.signing_secret)
        with PeakRss(server.pid) as rss:
            open_incidents(server, traffic, channels)
            total = incidents * per_incident
            batch = 5000
            for first in range(0, total, batch):
                # Round-robin over channels, so every incident is busy the whole time.
                requests = traffic.messages(channels, min(batch, total - first))
                result = send_all(server.url, requests, INGEST_CONCURRENCY)
                require_all_answered("memory", result, len(requests), server)
            server.check_alive()
            peak = max(rss.peak, rss.high_water_mark())
    require_durable("memory", database_url, kind="message", expected=total, channel_ids=channels)
    return peak / (1024 * 1024)


def memory_rows(bench: Bench) -> list[Row]:
    incidents, per_incident = memory_size(bench.quick)
    row = Row(f"memory: peak RSS, {incidents} incidents x {per_incident:,} msgs", "MB", limit=150.0)
    for _ in range(bench.runs):
        row.values.append(measure_memory(bench))
        log_progress("memory", {row.name: row})
    return [row]
