"""Socket Mode rows of `make bench` (`bench/run.py --only socket`).

  socket ack     p50/p99 from an envelope written to the socket to its ack, with 50 envelopes
                 in flight (a new one is sent as each ack comes back), message events and
                 `/incident note` commands, against a real `scribe run` with SLACK_APP_TOKEN.
                 Every ack follows the commit; afterwards the database must hold every entry.
                                                                     target: p99 < 100 ms
  socket ingest  message envelopes per second recorded by `scribe run` in Socket Mode, next
                 to the do-nothing Bolt app (bench/floor.py) served the same way (the same
                 server, Socket Mode link and dispatch) over the same simulator, same load,
                 same run, in short interleaved pairs (PAIRS_PER_RUN a run, each its own
                 ratio); SQLite and PostgreSQL.                      target: ratio >= 0.7

The Socket Mode endpoint is the simulator's (bot/simulator/socket_mode.py), in this process;
each app gets its own app token and endpoint, handed out by apps.connections.open.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import Any
from urllib.parse import parse_qsl

from bench.harness import (
    REPO,
    Bench,
    BenchmarkError,
    Row,
    ServerProcess,
    Traffic,
    channel_id,
    fake_slack,
    free_port,
    log_progress,
    percentile,
    python_argv,
    require_durable,
)
from bench.ingest import ingest_rows
from bot.simulator.socket_mode import EVENTS_API, SLASH_COMMANDS, Ack, SocketModeServer
from bot.simulator.webapi import FakeSlackWebAPI

IN_FLIGHT = 50
INGEST_IN_FLIGHT = 16  # as the HTTP ingestion rows' concurrency


class SocketLoad:
    """Keeps `in_flight` envelopes unacknowledged and times each one to its ack.

    The next envelope is written from the simulator's own loop as each ack arrives, so the
    generator adds no thread hand-off between an ack and the next send.
    """

    def __init__(self, server: SocketModeServer):
        self.server = server

    def run(self, kind: str, payloads: Sequence[dict[str, Any]], in_flight: int, *, timeout: float = 120.0) -> tuple[list[float], float]:
        """(latency of each envelope in seconds, wall time from the first send to the last ack)."""
        envelopes = self.server.prepare(kind, list(payloads))
        ours = {e.envelope_id for e in envelopes}
        waiting = list(reversed(envelopes[in_flight:]))
        done = threading.Event()
        latencies: list[float] = []
        expected = len(envelopes)

        def on_ack(ack: Ack) -> None:  # in the simulator's loop, as each ack arrives
            if ack.envelope_id not in ours:
                return
            ours.discard(ack.envelope_id)
            sent_at = self.server.envelopes[ack.envelope_id].sent_at
            latencies.append(ack.at - (sent_at if sent_at is not None else ack.at))
            if waiting:
                self.server.send_prepared([waiting.pop()])
            if len(latencies) == expected:
                done.set()

        self.server.on_ack = on_ack
        began = time.monotonic()
        try:
            self.server.send_prepared(envelopes[:in_flight])
            if not done.wait(timeout):
                raise BenchmarkError(f"socket load: {len(latencies)}/{expected} acked within {timeout:.0f} s")
        finally:
            self.server.on_ack = None
        return latencies, time.monotonic() - began

    def at_rate(
        self, items: Sequence[tuple[str, dict[str, Any]]], per_second: float, *,
        until: Callable[[float], bool] | None = None, timeout: float = 60.0,
    ) -> list[float]:
        """Send (kind, payload) envelopes in order at a steady `per_second`, whether or not
        earlier ones are acked (open loop, as bench.harness.send_at_rate), until they run out
        or `until(seconds since the first send)` says stop; then wait for every ack. Returns
        each sent envelope's latency in seconds, from its write to its ack."""
        envelopes = [self.server.prepare(kind, [payload])[0] for kind, payload in items]
        sent: list[str] = []
        began = time.monotonic()
        for index, envelope in enumerate(envelopes):
            wait = began + index / per_second - time.monotonic()
            if wait > 0:
                time.sleep(wait)  # the timetable: Slack sends when people type, not when acked
            if until is not None and until(time.monotonic() - began):
                break
            self.server.send_prepared([envelope])
            sent.append(envelope.envelope_id)
        try:
            self.server.wait_for(lambda server: all(e in server.acks for e in sent), timeout)
        except AssertionError:
            acked = sum(1 for e in sent if e in self.server.acks)
            raise BenchmarkError(f"socket load at a rate: {acked}/{len(sent)} acked within {timeout:.0f} s") from None
        return [self.server.acks[e].at - (self.server.envelopes[e].sent_at or 0.0) for e in sent]


def event_bodies(traffic: Traffic, channels: Sequence[str], count: int) -> list[dict[str, Any]]:
    """The same event_callback bodies the HTTP rows send, unsigned (Socket Mode has no signature)."""
    return [json.loads(request.body) for request in traffic.messages(channels, count)]


def command_fields(traffic: Traffic, channel: str, count: int) -> list[dict[str, Any]]:
    return [dict(parse_qsl(request.body.decode())) for request in traffic.notes(channel, count)]


def socket_server(api: FakeSlackWebAPI) -> SocketModeServer:
    server = SocketModeServer(api.workspace, app_token=f"xapp-1-A0BENCH-1-{uuid.uuid4().hex}").start()
    api.serve_socket_mode(server)
    return server


def scribe_socket(bench: Bench, name: str, *, database_url: str, api: FakeSlackWebAPI, socket: SocketModeServer) -> ServerProcess:
    port = free_port()
    env = bench.scribe_env(database_url=database_url, api=api, port=port)
    env["SLACK_APP_TOKEN"] = socket.app_token
    return ServerProcess(name, python_argv("-m", "bot.cli", "run"), env, bench.workdir, port)


def floor_socket(bench: Bench, api: FakeSlackWebAPI, socket: SocketModeServer) -> ServerProcess:
    port = free_port()
    env = bench.scribe_env(database_url="sqlite://", api=api, port=port)
    env["SLACK_APP_TOKEN"] = socket.app_token
    return ServerProcess("floor-socket", python_argv(str(REPO / "bench" / "floor.py")), env, bench.workdir, port)


def open_incidents_over_socket(socket: SocketModeServer, traffic: Traffic, channels: Sequence[str]) -> None:
    for channel in channels:
        fields = dict(parse_qsl(traffic.command(channel, f"start Benchmark load in {channel} sev2").body.decode()))
        ack = socket.wait_for_ack(socket.send(SLASH_COMMANDS, fields), timeout=30)
        if not ack.payload or "started" not in str(ack.payload.get("text")):
            raise BenchmarkError(f"/incident start over Socket Mode failed: {ack.payload}")


def socket_ack_sizes(quick: bool) -> int:
    return 200 if quick else 1500


def measure_socket_ack(bench: Bench) -> dict[str, tuple[float, float]]:
    database_url = bench.sqlite_url(f"socket-ack-{uuid.uuid4().hex[:6]}")
    channels = [channel_id(0)]
    count = socket_ack_sizes(bench.quick)
    results: dict[str, tuple[float, float]] = {}
    with ExitStack() as stack:
        api = stack.enter_context(fake_slack(1))
        socket = socket_server(api)
        stack.callback(socket.stop)
        server = stack.enter_context(scribe_socket(bench, "scribe-socket-ack", database_url=database_url, api=api, socket=socket))
        traffic = Traffic(api.workspace, api, bench.signing_secret)
        open_incidents_over_socket(socket, traffic, channels)
        load = SocketLoad(socket)
        load.run(EVENTS_API, event_bodies(traffic, channels, 50), 5)  # warm-up
        load.run(SLASH_COMMANDS, command_fields(traffic, channels[0], 20), 5)
        sent_messages, sent_notes = 50, 20
        latencies, _ = load.run(EVENTS_API, event_bodies(traffic, channels, count), IN_FLIGHT)
        results["events"] = (percentile(latencies, 0.50) * 1000, percentile(latencies, 0.99) * 1000)
        sent_messages += count
        latencies, _ = load.run(SLASH_COMMANDS, command_fields(traffic, channels[0], count), IN_FLIGHT)
        results["commands"] = (percentile(latencies, 0.50) * 1000, percentile(latencies, 0.99) * 1000)
        sent_notes += count
        server.check_alive()
    require_durable("socket ack events", database_url, kind="message", expected=sent_messages, channel_ids=channels)
    require_durable("socket ack commands", database_url, kind="note", expected=sent_notes, channel_ids=channels)
    return results


def socket_ack_rows(bench: Bench) -> list[Row]:
    rows: dict[str, Row] = {}
    for kind in ("events", "commands"):
        rows[f"{kind} p50"] = Row(f"socket ack {kind} p50 @{IN_FLIGHT} in flight", "ms")
        rows[f"{kind} p99"] = Row(f"socket ack {kind} p99 @{IN_FLIGHT} in flight", "ms", limit=100.0)
    for _ in range(bench.runs):
        for kind, (p50, p99) in measure_socket_ack(bench).items():
            rows[f"{kind} p50"].values.append(p50)
            rows[f"{kind} p99"].values.append(p99)
        log_progress("socket ack", rows)
    return list(rows.values())


def socket_ingest_size(quick: bool) -> int:
    return 300 if quick else 10_000


# Each run is this many floor/ours pairs of socket_ingest_size / PAIRS_PER_RUN messages, in
# alternating order, and every pair gives a ratio. On this kind of machine (a 2-core VM)
# the speed of both apps drifts by a third over seconds; one 10,000-message pair per run
# gave single ratios from 0.43 to 0.80 for the same code, while short interleaved pairs
# let both sides of a ratio see the same moment.
PAIRS_PER_RUN = 5


def socket_ingest_pairs(quick: bool) -> int:
    return 1 if quick else PAIRS_PER_RUN


def measure_socket_ingest(bench: Bench, database_url: str, backend: str) -> tuple[list[float], list[float]]:
    channels = [channel_id(n) for n in range(4)]
    count = socket_ingest_size(bench.quick)
    ours_rates: list[float] = []
    floor_rates: list[float] = []
    with ExitStack() as stack:
        api = stack.enter_context(fake_slack(len(channels)))
        ours_socket, floor_socket_server = socket_server(api), socket_server(api)
        stack.callback(ours_socket.stop)
        stack.callback(floor_socket_server.stop)
        traffic = Traffic(api.workspace, api, bench.signing_secret)
        floor = stack.enter_context(floor_socket(bench, api, floor_socket_server))
        ours = stack.enter_context(scribe_socket(bench, f"scribe-socket-ingest-{backend}", database_url=database_url, api=api, socket=ours_socket))
        open_incidents_over_socket(ours_socket, traffic, channels)
        loads = {"floor": SocketLoad(floor_socket_server), "ours": SocketLoad(ours_socket)}
        for load in loads.values():  # identical warm-up for both
            load.run(EVENTS_API, event_bodies(traffic, channels, 200), INGEST_IN_FLIGHT)
        sent = 200
        order = [("floor", floor_rates), ("ours", ours_rates)]
        pairs = socket_ingest_pairs(bench.quick)
        per_load = max(1, count // pairs)
        for _ in range(bench.runs * pairs):
            for name, rates in order:
                latencies, seconds = loads[name].run(EVENTS_API, event_bodies(traffic, channels, per_load), INGEST_IN_FLIGHT)
                rates.append(len(latencies) / seconds)
            order.reverse()  # whoever went second goes first next time, so drift hits both alike
            sent += per_load
        ours.check_alive()
        floor.check_alive()
    require_durable(f"socket ingest {backend}", database_url, kind="message", expected=sent, channel_ids=channels)
    return ours_rates, floor_rates


def socket_ingest_rows(bench: Bench, backend: str) -> list[Row]:
    return ingest_rows(bench, backend, name="socket ingest", measure=measure_socket_ingest)


def socket_rows(bench: Bench) -> list[Row]:
    return socket_ack_rows(bench) + socket_ingest_rows(bench, "sqlite") + socket_ingest_rows(bench, "postgresql")
