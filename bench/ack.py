"""The *ack* rows: how long Slack waits for `scribe run`'s HTTP answer.

p50/p99 time to the HTTP answer for signed message events and `/incident note` commands
sent to a real `scribe run` process on SQLite, at 1, 10 and 50 concurrent senders (closed
loop: each sends its next request when it has its answer). Every write is committed before
the answer; afterwards the database must hold every one of them.
                                                                    target: p99 < 100 ms at 50
"""

from __future__ import annotations

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
    percentile,
    require_all_answered,
    require_durable,
    send_all,
)

ACK_CONCURRENCY = (1, 10, 50)


def ack_sizes(quick: bool) -> dict[int, int]:
    """Requests per (kind, concurrency): enough for a p99 that isn't one unlucky request."""
    return {1: 40, 10: 100, 50: 200} if quick else {1: 200, 10: 600, 50: 1500}


def measure_ack(bench: Bench, *, profile_to: Path | None = None) -> dict[str, tuple[float, float]]:
    """One run: {"events c=50": (p50, p99) in ms, ...} against a fresh `scribe run` on SQLite."""
    database_url = bench.sqlite_url(f"ack-{uuid.uuid4().hex[:6]}")
    channels = [channel_id(0)]
    results: dict[str, tuple[float, float]] = {}
    with fake_slack(1) as api, bench.scribe("scribe-ack", database_url=database_url, api=api, profile_to=profile_to) as server:
        traffic = Traffic(api.workspace, api, bench.signing_secret)
        open_incidents(server, traffic, channels)
        # Warm up: first requests pay for imports, template compilation, pool connections.
        send_all(server.url, traffic.messages(channels, 50) + traffic.notes(channels[0], 20), concurrency=5)
        sent_messages, sent_notes = 50, 20
        for concurrency, count in ack_sizes(bench.quick).items():
            for kind, build in (("events", lambda n: traffic.messages(channels, n)), ("commands", lambda n: traffic.notes(channels[0], n))):
                requests = build(count)
                result = send_all(server.url, requests, concurrency)
                require_all_answered(f"ack {kind} c={concurrency}", result, count, server)
                if kind == "events":
                    sent_messages += count
                else:
                    sent_notes += count
                results[f"{kind} c={concurrency}"] = (percentile(result.latencies, 0.50) * 1000, percentile(result.latencies, 0.99) * 1000)
        server.check_alive()
    require_durable("ack events", database_url, kind="message", expected=sent_messages, channel_ids=channels)
    require_durable("ack commands", database_url, kind="note", expected=sent_notes, channel_ids=channels)
    return results


def ack_rows(bench: Bench) -> list[Row]:
    rows: dict[str, Row] = {}
    for concurrency in ACK_CONCURRENCY:
        for kind in ("events", "commands"):
            for stat in ("p50", "p99"):
                limit = 100.0 if (concurrency == 50 and stat == "p99") else None
                rows[f"{kind} c={concurrency} {stat}"] = Row(f"ack {kind} {stat} @{concurrency}", "ms", limit=limit)
    for _ in range(bench.runs):
        for key, (p50, p99) in measure_ack(bench).items():
            rows[f"{key} p50"].values.append(p50)
            rows[f"{key} p99"].values.append(p99)
        log_progress("ack", rows)
    return list(rows.values())
