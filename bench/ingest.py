"""The *ingest* rows: message events per second that `scribe run` records durably over HTTP,
next to a do-nothing Bolt app (bench/floor.py) on the same HTTP server, same load
generator, same run; SQLite and PostgreSQL.                       target: ours / floor >= 0.7

`ingest_rows` also makes the Socket Mode ingestion rows (bench/socket_mode.py), with that
mode's measurement.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import ExitStack
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

INGEST_CONCURRENCY = 16


def ingest_size(quick: bool) -> int:
    return 300 if quick else 10_000


def measure_ingest(bench: Bench, database_url: str, backend: str) -> tuple[list[float], list[float]]:
    """Events/s for ours and for the floor, alternating run by run so both see the same noise."""
    channels = [channel_id(n) for n in range(4)]
    ours_rates: list[float] = []
    floor_rates: list[float] = []
    count = ingest_size(bench.quick)
    with ExitStack() as stack:
        api = stack.enter_context(fake_slack(len(channels)))
        traffic = Traffic(api.workspace, api, bench.signing_secret)
        floor = stack.enter_context(bench.floor(api))
        ours = stack.enter_context(bench.scribe(f"scribe-ingest-{backend}", database_url=database_url, api=api))
        open_incidents(ours, traffic, channels)
        # Identical warm-up for both.
        for server in (floor, ours):
            send_all(server.url, traffic.messages(channels, 200), INGEST_CONCURRENCY)
        sent = 200
        for _ in range(bench.runs):
            for name, server, rates in (("floor", floor, floor_rates), ("ours", ours, ours_rates)):
                requests = traffic.messages(channels, count)
                result = send_all(server.url, requests, INGEST_CONCURRENCY)
                require_all_answered(f"ingest {backend} {name}", result, count, server)
                rates.append(result.per_second)
            sent += count
        ours.check_alive()
        floor.check_alive()
    require_durable(f"ingest {backend}", database_url, kind="message", expected=sent, channel_ids=channels)
    return ours_rates, floor_rates


def ingest_rows(
    bench: Bench, backend: str, *, name: str = "ingest",
    measure: Callable[[Bench, str, str], tuple[list[float], list[float]]] | None = None,
) -> list[Row]:
    """ours, floor and their ratio; `measure` (default measure_ingest) gives both rates per run."""
    ours = Row(f"{name} {backend}: ours", "/s")
    floor = Row(f"{name} {backend}: do-nothing Bolt", "/s")
    ratio = Row(f"{name} {backend}: ours / floor", "x", limit=0.7, higher_is_better=True)
    try:
        with ExitStack() as stack:
            if backend == "sqlite":
                database_url = bench.sqlite_url(f"{name.replace(' ', '-')}-{uuid.uuid4().hex[:6]}")
            else:
                database_url = stack.enter_context(bench.postgres_database())
            ours.values, floor.values = (measure or measure_ingest)(bench, database_url, backend)
    except (OSError, ImportError) as error:
        ratio.note = f"not measured: {type(error).__name__}: {error}"
        return [ours, floor, ratio]
    except Exception as error:  # sqlalchemy.exc.OperationalError: PostgreSQL not reachable
        if type(error).__module__.startswith("sqlalchemy"):
            ratio.note = f"not measured: database unavailable ({type(error).__name__})"
            return [ours, floor, ratio]
        raise
    # The ratio of each run's pair, so a noisy moment hits both sides of one ratio.
    ratio.values = [o / f for o, f in zip(ours.values, floor.values, strict=True)]
    log_progress(f"{name} {backend}", {r.name: r for r in (ours, floor, ratio)})
    return [ours, floor, ratio]


def profile_ingest(bench: Bench, backend: str, path: Path) -> None:
    """The ingestion load, once, against a `scribe run` whose requests are profiled."""
    channels = [channel_id(n) for n in range(4)]
    with ExitStack() as stack:
        if backend == "sqlite":
            database_url = bench.sqlite_url(f"profile-{uuid.uuid4().hex[:6]}")
        else:
            database_url = stack.enter_context(bench.postgres_database())
        api = stack.enter_context(fake_slack(len(channels)))
        server = stack.enter_context(bench.scribe(f"scribe-profile-{backend}", database_url=database_url, api=api, profile_to=path))
        traffic = Traffic(api.workspace, api, bench.signing_secret)
        open_incidents(server, traffic, channels)
        result = send_all(server.url, traffic.messages(channels, ingest_size(bench.quick)), INGEST_CONCURRENCY)
        require_all_answered(f"profile ingest {backend}", result, ingest_size(bench.quick), server)
