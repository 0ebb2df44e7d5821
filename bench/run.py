"""Incident Scribe benchmarks: `make bench` (or `.venv/bin/python bench/run.py`).

Measures, each over --runs runs (median, min, max), and exits 1 if any target is missed:

  ack       p50/p99 time to the HTTP answer for signed message events and `/incident note`
            commands sent to a real `scribe run` process, at 1, 10 and 50 concurrent senders.
            Every write is committed before the answer; afterwards the database must hold
            every one of them.                                      target: p99 < 100 ms at 50
  ingest    message events per second recorded durably by `scribe run`, next to a
            do-nothing Bolt app (bench/floor.py) on the same HTTP server, same load
            generator, same run; SQLite and PostgreSQL.               target: ratio >= 0.7
  draft     loading an incident of 10,000 messages and drafting its postmortem.  target: < 1 s
  reminders delivering 1,000 reminders due at once (bench/reminders.py) to a fake Slack that
            allows 1 message per second per channel and answers 429 beyond it: time / the
            least time that rate limit allows.                       target: < 1.5
  memory    peak RSS of `scribe run` after 100 open incidents with 1,000 messages each,
            sent over HTTP.                                          target: < 150 MB
  socket    Socket Mode: ack p99 at 50 envelopes in flight (target < 100 ms), and ingestion
            next to the do-nothing Bolt app over the same socket simulator (target >= 0.7);
            see bench/socket_mode.py.
  web       p99 of GET / and GET /incidents/<ref> (signed in) from `scribe run` with 10,000
            incidents and an incident of 10,000 messages, SQLite and PostgreSQL
            (bench/web.py).                                          target: < 200 ms

Everything runs on 127.0.0.1: Slack is the local simulator (bot/simulator), the servers
are subprocesses on free ports, databases are temporary (SQLite in a temp dir; PostgreSQL
in a database created and dropped here). Subprocesses and temp dirs are cleaned up on
any exit. With --profile, a pyinstrument profile of the server is saved under bench/out/
for every target missed.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import itertools
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bot.simulator import FakeSlackWebAPI, SlackPlayer, Workspace  # noqa: E402
from bot.simulator.transport import signature_headers  # noqa: E402

OUT_DIR = REPO / "bench" / "out"
BOT_TOKEN = "xoxb-bench-token"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TEAM_ID = "T0SIM"
SENDER_IDS = ("U0ANN", "U0BOB", "U0CHI")


# -- results ---------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the table: a value per run, and the target it is held to (if any)."""

    name: str
    unit: str
    values: list[float] = field(default_factory=list)
    limit: float | None = None
    higher_is_better: bool = False
    note: str = ""

    @property
    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None

    @property
    def target(self) -> str:
        if self.limit is None:
            return ""
        return f"{'>=' if self.higher_is_better else '<'} {format_value(self.limit, self.unit)}"

    @property
    def met(self) -> bool | None:
        """None when the row has no target; a row without values misses its target."""
        if self.limit is None:
            return None
        if self.median is None:
            return False
        return self.median >= self.limit if self.higher_is_better else self.median < self.limit


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "MB":
        return f"{value:.1f} MB"
    if unit == "/s":
        return f"{value:.0f}/s"
    if unit == "x":
        return f"{value:.2f}"
    return f"{value:g} {unit}".strip()


def render_table(rows: Sequence[Row]) -> str:
    """A Markdown table (pastes straight into README)."""
    header = ["benchmark", "median", "min", "max", "runs", "target", "met"]
    lines = [header]
    for row in rows:
        if row.values:
            cells = [format_value(row.median, row.unit), format_value(min(row.values), row.unit), format_value(max(row.values), row.unit)]
        else:
            cells = [row.note or "-", "", ""]
        met = {None: "", True: "yes", False: "**NO**"}[row.met]
        lines.append([row.name, *cells, str(len(row.values)), row.target, met])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = ["| " + " | ".join(cell.ljust(width) for cell, width in zip(line, widths)) + " |" for line in lines]
    out.insert(1, "|" + "|".join("-" * (width + 2) for width in widths) + "|")
    notes = [f"- {row.name}: {row.note}" for row in rows if row.values and row.note]
    return "\n".join(out + ([""] + notes if notes else []))


def percentile(samples: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest sample with at least `fraction` of samples at or below it."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


class BenchmarkError(RuntimeError):
    """A benchmark could not run correctly (a server died, writes were lost...)."""


# -- processes -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServerProcess:
    """A server subprocess on 127.0.0.1, waited for via /healthz, always stopped on exit."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], workdir: Path, port: int):
        self.name, self.argv, self.env, self.workdir, self.port = name, argv, env, workdir, port
        self.log_path = workdir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def __enter__(self) -> "ServerProcess":
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(self.argv, env=self.env, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        try:
            self._wait_healthy(timeout=60)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _wait_healthy(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchmarkError(f"{self.name} exited with {self.process.returncode} on start:\n{self.log_tail()}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    connection.close()
                    return
                connection.close()
            except OSError:
                pass
            time.sleep(0.1)
        raise BenchmarkError(f"{self.name} did not answer /healthz within {timeout:.0f} s:\n{self.log_tail()}")

    def check_alive(self) -> None:
        if self.process is None or self.process.poll() is not None:
            raise BenchmarkError(f"{self.name} died:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        # SIGINT stops the server cleanly: it lets requests under way finish and disposes the engine.
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def python_argv(*args: str) -> list[str]:
    return [sys.executable, *args]


# -- load ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedRequest:
    body: bytes
    headers: dict[str, str]


@dataclass
class LoadResult:
    latencies: list[float]  # seconds, one per request answered 200
    seconds: float  # wall time from the first send to the last answer
    failures: list[str]

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


def send_all(url: str, requests: Sequence[SignedRequest], concurrency: int, *, timeout: float = 30.0) -> LoadResult:
    """Send every request once, from `concurrency` senders that each wait for their answer
    before sending the next (closed loop), each over its own keep-alive connection.

    The senders are asyncio tasks in one thread, not threads: the generator shares the
    machine's two cores with the server it measures, and 16 to 50 threads answered in bursts
    (a group commit answers several requests at once) woke together and queued for this
    process's interpreter lock, which cost it twice the CPU per request against the scribe
    as against the floor and delayed the next requests. Requests are encoded before the
    clock starts; a sender times its request from writing it to reading the whole answer."""
    host_port, path = url.split("//", 1)[1].split("/", 1)
    host, port = host_port.split(":")
    wire = [_http_request(host_port, "/" + path, request) for request in requests]
    return asyncio.run(_send_all(host, int(port), wire, concurrency, timeout))


def _http_request(host_port: str, path: str, request: SignedRequest) -> bytes:
    head = [f"POST {path} HTTP/1.1", f"Host: {host_port}", f"Content-Length: {len(request.body)}"]
    head += [f"{name}: {value}" for name, value in request.headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + request.body


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """The status of one HTTP/1.1 answer, read whole, and whether the server keeps the connection."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
    status = int(head.split(" ", 2)[1])
    length = re.search(r"\r\ncontent-length: *(\d+)", head)
    if length is None:
        raise ConnectionError("answer without Content-Length")
    await reader.readexactly(int(length.group(1)))
    return status, "\r\nconnection: close" not in head


async def _send_all(host: str, port: int, wire: list[bytes], concurrency: int, timeout: float) -> LoadResult:
    latencies: list[float] = []
    failures: list[str] = []
    next_index = itertools.count()
    # When each sender's current request went out (None while it has none), for the watchdog.
    sent_at: list[float | None] = [None] * concurrency
    writers: list[asyncio.StreamWriter | None] = [None] * concurrency

    async def sender(slot: int) -> None:
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        try:
            while (index := next(next_index)) < len(wire):
                began = sent_at[slot] = time.perf_counter()
                try:
                    if reader is None or writer is None:
                        reader, writer = await asyncio.open_connection(host, port)
                        writers[slot] = writer
                    writer.write(wire[index])
                    status, keep = await _read_answer(reader)
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as error:
                    failures.append(type(error).__name__)
                    keep = False
                else:
                    if status == 200:
                        latencies.append(time.perf_counter() - began)
                    else:
                        failures.append(f"HTTP {status}")
                sent_at[slot] = None
                if not keep and writer is not None:
                    writer.close()
                    reader = writer = writers[slot] = None
        finally:
            if writer is not None:
                writer.close()

    async def watchdog() -> None:
        """Closes a connection whose answer is `timeout` late; its sender counts a failure."""
        while True:
            await asyncio.sleep(min(1.0, timeout))
            now = time.perf_counter()
            for slot, began in enumerate(sent_at):
                writer = writers[slot]
                if began is not None and writer is not None and now - began > timeout:
                    writer.transport.abort()

    watching = asyncio.create_task(watchdog())
    began = time.perf_counter()
    try:
        await asyncio.gather(*(sender(slot) for slot in range(concurrency)))
    finally:
        watching.cancel()
    return LoadResult(latencies=latencies, seconds=time.perf_counter() - began, failures=failures)


class Traffic:
    """Builds what Slack would send, signed, ahead of time, so the load generator only sends.

    Uses the simulator's player for the exact envelope and form shapes; messages get
    unique, increasing ts values so every one is a new timeline entry.
    """

    def __init__(self, workspace: Workspace, api: FakeSlackWebAPI, signing_secret: str):
        self.workspace = workspace
        self.signing_secret = signing_secret
        self.player = SlackPlayer(workspace, api, app_url="http://127.0.0.1:1/unused", signing_secret=signing_secret)
        self._base = int(time.time())
        self._serial = itertools.count(1)

    def _next_ts(self) -> str:
        n = next(self._serial)
        return f"{self._base + n // 1_000_000}.{n % 1_000_000:06d}"

    def _sign(self, body: bytes, content_type: str) -> SignedRequest:
        headers = {"Content-Type": content_type, **signature_headers(self.signing_secret, int(time.time()), body)}
        return SignedRequest(body=body, headers=headers)

    def message(self, channel_id: str, index: int) -> SignedRequest:
        ts = self._next_ts()
        event = {
            "type": "message",
            "user": SENDER_IDS[index % len(SENDER_IDS)],
            "text": f"checkout p99 is {index % 900 + 100} ms on shard {index % 7}; rolling back canary {index}",
            "team": self.workspace.team_id,
            "client_msg_id": str(uuid.uuid4()),
            "ts": ts,
            "channel": channel_id,
            "event_ts": ts,
            "channel_type": "channel",
        }
        return self._sign(json.dumps(self.player.envelope(event)).encode(), "application/json")

    def messages(self, channel_ids: Sequence[str], count: int) -> list[SignedRequest]:
        """`count` messages spread round-robin over the channels."""
        return [self.message(channel_ids[i % len(channel_ids)], i) for i in range(count)]

    def command(self, channel_id: str, text: str, user_id: str = "U0ANN") -> SignedRequest:
        form = self.player.command_form(user_id, channel_id, text)
        return self._sign(urlencode(form).encode(), "application/x-www-form-urlencoded")

    def notes(self, channel_id: str, count: int) -> list[SignedRequest]:
        return [self.command(channel_id, f"note load test note {i}: cache hit rate back to {i % 100}%", SENDER_IDS[i % 3]) for i in range(count)]


def bench_workspace(channels: int) -> Workspace:
    workspace = Workspace(bot_token=BOT_TOKEN)
    workspace.add_user("U0ANN", name="ann", real_name="Ann Lee", tz="Europe/Berlin")
    workspace.add_user("U0BOB", name="bob", real_name="Bob Stone", tz="America/New_York")
    workspace.add_user("U0CHI", name="chi", real_name="Chi Okafor", tz="UTC")
    for n in range(channels):
        workspace.add_channel(channel_id(n), name=f"inc-bench-{n}")
    return workspace


def channel_id(n: int) -> str:
    return f"C0BENCH{n:04d}"


# -- the pieces every benchmark shares ----------------------------------------------------


@dataclass
class Bench:
    """Shared state of one `bench/run.py` invocation."""

    workdir: Path
    runs: int
    quick: bool
    postgres_url: str
    workers: int = 16
    signing_secret: str = field(default_factory=lambda: "bench-" + uuid.uuid4().hex)

    def sqlite_url(self, name: str) -> str:
        return f"sqlite:///{self.workdir / (name + '.db')}"

    def scribe_env(self, *, database_url: str, api: FakeSlackWebAPI, port: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCRIBE_", "DATABASE_URL"))}
        env.update(
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=self.signing_secret,
            DATABASE_URL=database_url,
            SLACK_API_URL=api.base_url,
            PORT=str(port),
            SCRIBE_SCHEDULER="false",
            SCRIBE_WORKERS=str(self.workers),
            SCRIBE_LOG_LEVEL="WARNING",
            PYTHONPATH=str(REPO),
        )
        return env

    def scribe(self, name: str, *, database_url: str, api: FakeSlackWebAPI, profile_to: Path | None = None) -> ServerProcess:
        """`scribe run` as Slack would see it; under pyinstrument when `profile_to` is given."""
        port = free_port()
        env = self.scribe_env(database_url=database_url, api=api, port=port)
        if profile_to is not None:
            argv = python_argv(str(REPO / "bench" / "profiled_server.py"), str(profile_to))
        else:
            argv = python_argv("-m", "bot.cli", "run")
        return ServerProcess(name, argv, env, self.workdir, port)

    def floor(self, api: FakeSlackWebAPI) -> ServerProcess:
        port = free_port()
        env = self.scribe_env(database_url="sqlite://", api=api, port=port)
        return ServerProcess("floor", python_argv(str(REPO / "bench" / "floor.py")), env, self.workdir, port)

    @contextmanager
    def postgres_database(self) -> Iterator[str]:
        """A private database on the shared server, dropped afterwards whatever happens."""
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        from bot.db import normalise_url

        name = f"scribe_bench_{os.getpid()}"
        admin = create_engine(normalise_url(self.postgres_url), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            yield make_url(normalise_url(self.postgres_url)).set(database=name).render_as_string(hide_password=False)
        finally:
            try:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            finally:
                admin.dispose()


def open_incidents(server: ServerProcess, traffic: Traffic, channel_ids: Sequence[str]) -> None:
    """`/incident start` in each channel over HTTP, checking each reply says it started."""
    requests = [traffic.command(c, f"start Benchmark load in {c} sev2") for c in channel_ids]
    result = send_all(server.url, requests, concurrency=min(4, len(requests)))
    if result.failures or len(result.latencies) != len(requests):
        raise BenchmarkError(f"/incident start failed: {result.failures[:5]}\n{server.log_tail()}")


def count_entries(database_url: str, *, kind: str, channel_ids: Sequence[str] | None = None) -> int:
    from sqlalchemy import func, select

    from bot.db import make_engine
    from bot.models import TimelineEntry

    engine = make_engine(database_url)
    try:
        query = select(func.count()).select_from(TimelineEntry).where(TimelineEntry.kind == kind)
        if channel_ids is not None:
            query = query.where(TimelineEntry.channel_id.in_(list(channel_ids)))
        with engine.connect() as conn:
            return int(conn.execute(query).scalar_one())
    finally:
        engine.dispose()


def require_all_answered(what: str, result: LoadResult, expected: int, server: ServerProcess) -> None:
    if result.failures or len(result.latencies) != expected:
        counts: dict[str, int] = {}
        for failure in result.failures:
            counts[failure] = counts.get(failure, 0) + 1
        raise BenchmarkError(f"{what}: {len(result.latencies)}/{expected} answered 200; failures {counts}\n{server.log_tail()}")


def require_durable(what: str, database_url: str, *, kind: str, expected: int, channel_ids: Sequence[str]) -> None:
    stored = count_entries(database_url, kind=kind, channel_ids=channel_ids)
    if stored != expected:
        raise BenchmarkError(f"{what}: {expected} acknowledged but {stored} in the database; writes were lost")


@contextmanager
def fake_slack(channels: int) -> Iterator[FakeSlackWebAPI]:
    api = FakeSlackWebAPI(bench_workspace(channels)).start()
    try:
        yield api
    finally:
        api.stop()


# -- 1. ack latency ----------------------------------------------------------------------------

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


# -- 2. ingestion throughput --------------------------------------------------------------------

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
    ratio.values = [o / f for o, f in zip(ours.values, floor.values)]
    log_progress(f"{name} {backend}", {r.name: r for r in (ours, floor, ratio)})
    return [ours, floor, ratio]


# -- 3. draft time ---------------------------------------------------------------------------------


def seed_incident(session_factory: Any, *, messages: int, now: datetime) -> int:
    """An incident with `messages` captured messages (some threaded, some key) and its moments."""
    from datetime import timedelta

    from bot.services import capture, incidents
    from bot.services.capture import CapturedMessage
    from bot.timeparse import datetime_to_slack_ts

    started = now - timedelta(hours=6)
    channel = channel_id(0)
    with session_factory.begin() as session:
        incident = incidents.start_incident(
            session, team_id=TEAM_ID, channel_id=channel, channel_name="inc-bench-0", title="Checkout latency spike",
            severity="sev2", user_id="U0ANN", now=started, command_id="bench-start",
        )
        session.flush()
        incident_id = incident.id
        step = timedelta(hours=5) / max(1, messages)
        for n in range(messages):
            ts = datetime_to_slack_ts(started + step * (n + 1))
            capture.record_message(
                session,
                team_id=TEAM_ID,
                message=CapturedMessage(
                    channel_id=channel,
                    ts=ts,
                    author=SENDER_IDS[n % 3],
                    text=f"p99 on shard {n % 7} is {n % 900 + 100} ms; trying rollback step {n} (see <https://grafana.example/d/{n}|dash>)",
                    thread_ts=None,
                ),
                now=now,
            )
        for n, moment in enumerate(("detected", "mitigated", "resolved")):
            incidents.record_moment(
                session, incident=incident, moment=moment, at=started + timedelta(hours=1 + 2 * n), text=None,
                user_id="U0BOB", command_id=f"bench-{moment}", now=now,
            )
    return incident_id


def measure_draft(session_factory: Any, incident_id: int, *, now: datetime, settings: Any = None) -> tuple[float, str]:
    """Seconds to draft the postmortem of one stored incident with the drafting service, as
    `/incident postmortem` does: from an open session to the new version committed."""
    from bot.config import settings_from_env
    from bot.services.postmortem import draft_postmortem, require_incident

    settings = settings or settings_from_env({}, require_slack=False)
    with session_factory() as session:
        began = time.perf_counter()
        with session.begin():
            incident = require_incident(session, incident_id)
            draft = draft_postmortem(session, incident, settings=settings, now=now, user_id="U0ANN")
        return time.perf_counter() - began, draft.markdown


def draft_size(quick: bool) -> int:
    return 500 if quick else 10_000


def draft_rows(bench: Bench) -> list[Row]:
    from bot.db import make_engine, make_session_factory, upgrade

    row = Row(f"draft {draft_size(bench.quick):,} messages", "s", limit=1.0)
    database_url = bench.sqlite_url("draft")
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        factory = make_session_factory(engine)
        now = datetime.now(timezone.utc)
        incident_id = seed_incident(factory, messages=draft_size(bench.quick), now=now)
        for _ in range(bench.runs):
            seconds, markdown = measure_draft(factory, incident_id, now=now)
            if "Checkout latency spike" not in markdown:
                raise BenchmarkError("the draft does not mention the incident's title")
            row.values.append(seconds)
    finally:
        engine.dispose()
    log_progress("draft", {row.name: row})
    return [row]


# -- 4. reminders (bench/reminders.py) ------------------------------------------------------------


REMINDER_RATIO_TARGET = 1.5


def reminder_rows(bench: Bench) -> list[Row]:
    count = 100 if bench.quick else 1000
    # "Close to the floor": within half again of the least time the rate limit allows.
    row = Row(f"reminders {count:,} due at once: time / floor", "x", limit=REMINDER_RATIO_TARGET)
    from bench.reminders import measure_reminder_delivery
    seconds = Row(f"reminders {count:,} due at once", "s")
    for _ in range(bench.runs):
        result = measure_reminder_delivery(count=count)
        if result["delivered"] != count or result["duplicates"]:
            raise BenchmarkError(f"reminders: {result['delivered']}/{count} delivered, {result['duplicates']} duplicates")
        seconds.values.append(result["seconds"])
        row.values.append(result["ratio"])
    row.note = f"floor from the rate limit: {result['floor_seconds']:.2f} s"
    return [seconds, row]


# -- 5. memory ---------------------------------------------------------------------------------------


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

    def __enter__(self) -> "PeakRss":
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


# -- profiles for missed targets ---------------------------------------------------------------------


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


def profile_draft(bench: Bench, path: Path) -> None:
    from pyinstrument import Profiler
    from sqlalchemy import select

    from bot.db import make_engine, make_session_factory
    from bot.models import Incident

    engine = make_engine(bench.sqlite_url("draft"))
    try:
        factory = make_session_factory(engine)
        with factory() as session:
            incident_id = session.scalars(select(Incident.id)).one()
        profiler = Profiler()
        with profiler:
            measure_draft(factory, incident_id, now=datetime.now(timezone.utc))
        path.write_text(profiler.output_html())
    finally:
        engine.dispose()


def profile_missed(bench: Bench, rows: Sequence[Row]) -> list[Path]:
    """Re-run each missed benchmark once with pyinstrument on; return the HTML reports
    (the server's ones also have a .txt next to them)."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    missed = [row.name.split()[:2] for row in rows if row.met is False and row.values]
    saved: list[Path] = []
    if any(kind == "ack" for kind, _ in missed):
        saved.append(OUT_DIR / "ack-server.html")
        measure_ack(bench, profile_to=saved[-1])
    for backend in sorted({detail.rstrip(":") for kind, detail in missed if kind == "ingest"}):
        saved.append(OUT_DIR / f"ingest-{backend}-server.html")
        profile_ingest(bench, backend, saved[-1])
    if any(kind == "memory:" for kind, _ in missed):
        saved.append(OUT_DIR / "memory-server.html")
        measure_memory(bench, profile_to=saved[-1])
    if any(kind == "draft" for kind, _ in missed):
        saved.append(OUT_DIR / "draft.html")
        profile_draft(bench, saved[-1])
    return saved


# -- main ----------------------------------------------------------------------------------------------

# -- 6. insights: /incident stats over many incidents ------------------------------------------------


def stats_size(quick: bool) -> int:
    return 500 if quick else 10_000


def seed_incidents(session_factory: Any, *, count: int, now: datetime) -> None:
    """`count` incidents spread over the last year (all severities, most with every milestone),
    two action items each, and a postmortem for every other one: bulk inserts."""
    from datetime import date, timedelta

    from sqlalchemy import insert

    from bot.models import ActionItem, Incident, Postmortem

    severities = ("sev1", "sev2", "sev3", "sev4", None)
    incidents, items, postmortems = [], [], []
    for n in range(1, count + 1):
        started = now - timedelta(days=365) + timedelta(minutes=(n * 52_560) // count)  # evenly over a year
        detected = started + timedelta(minutes=n % 45 + 1)
        incidents.append(dict(
            id=n, team_id=TEAM_ID, channel_id=f"C{n:08d}", channel_name=f"inc-{n}", title=f"Benchmark incident {n}",
            severity=severities[n % 5], created_by="U0ANN", declared_at=started, started_at=started, detected_at=detected,
            mitigated_at=detected + timedelta(minutes=n % 90 + 5) if n % 7 else None,
            resolved_at=detected + timedelta(minutes=n % 240 + 30) if n % 11 else None, closed_at=detected + timedelta(days=1),
        ))
        for k in range(2):
            done = (n + k) % 3 == 0
            items.append(dict(
                incident_id=n, text=f"follow-up {k}", owner_id=SENDER_IDS[k], created_by="U0ANN",
                due_date=(started + timedelta(days=14)).date() if k == 0 else date(2099, 1, 1), status="done" if done else "open",
                created_at=detected, closed_at=detected + timedelta(days=(n % 20) + 1) if done else None,
            ))
        if n % 2 == 0:
            postmortems.append(dict(incident_id=n, status=("draft", "in_review", "final")[n % 3], updated_at=now))
    with session_factory.begin() as session:
        session.execute(insert(Incident), incidents)
        session.execute(insert(ActionItem), items)
        session.execute(insert(Postmortem), postmortems)


def measure_stats(session_factory: Any, *, now: datetime) -> tuple[float, Any]:
    """Seconds for `/incident stats last 365d`'s service call (both periods, all three queries)."""
    from bot.insights.stats import parse_period
    from bot.services.stats import incident_stats

    with session_factory() as session:
        began = time.perf_counter()
        stats = incident_stats(session, team_id=TEAM_ID, period=parse_period("last 365d", now), severity=None, now=now)
        return time.perf_counter() - began, stats


def stats_rows(bench: Bench, backend: str) -> list[Row]:
    from bot.db import make_engine, make_session_factory, upgrade

    count = stats_size(bench.quick)
    row = Row(f"stats {count:,} incidents {backend}", "s", limit=1.0)
    try:
        with ExitStack() as stack:
            database_url = bench.sqlite_url("stats") if backend == "sqlite" else stack.enter_context(bench.postgres_database())
            upgrade(database_url)
            engine = make_engine(database_url)
            stack.callback(engine.dispose)
            factory = make_session_factory(engine)
            now = datetime.now(timezone.utc)
            seed_incidents(factory, count=count, now=now)
            for _ in range(bench.runs):
                seconds, stats = measure_stats(factory, now=now)
                if stats.total != count:
                    raise BenchmarkError(f"stats counted {stats.total} incidents of {count}")
                row.values.append(seconds)
    except Exception as error:  # sqlalchemy.exc.OperationalError: PostgreSQL not reachable
        if backend != "sqlite" and type(error).__module__.startswith("sqlalchemy"):
            row.note = f"not measured: database unavailable ({type(error).__name__})"
            return [row]
        raise
    log_progress(f"stats {backend}", {row.name: row})
    return [row]


BENCHMARKS: dict[str, Callable[[Bench], list[Row]]] = {
    "ack": ack_rows,
    "ingest": lambda bench: ingest_rows(bench, "sqlite") + ingest_rows(bench, "postgresql"),
    "draft": draft_rows,
    "reminders": reminder_rows,
    "memory": memory_rows,
    "socket": lambda bench: _socket_rows(bench),
    "web": lambda bench: _web_rows(bench, "sqlite") + _web_rows(bench, "postgresql"),
    "stats": lambda bench: stats_rows(bench, "sqlite") + stats_rows(bench, "postgresql"),
}


def _socket_rows(bench: Bench) -> list[Row]:
    from bench.socket_mode import socket_rows  # imports this module: loaded on use

    return socket_rows(bench)


def _web_rows(bench: Bench, backend: str) -> list[Row]:
    from bench.web import web_rows  # bench/web.py builds on this module

    return web_rows(bench, backend)


def log_progress(name: str, rows: dict[str, Row]) -> None:
    done = ", ".join(f"{row.name}={format_value(row.values[-1], row.unit)}" for row in rows.values() if row.values)
    print(f"[{time.strftime('%H:%M:%S')}] {name}: {done}", file=sys.stderr, flush=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 run at small sizes: a smoke test, not a measurement")
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), help="run only this benchmark (repeatable)")
    parser.add_argument("--runs", type=int, default=None, help="runs per benchmark (default 3, or 1 with --quick)")
    parser.add_argument("--profile", action="store_true", help="save a pyinstrument profile under bench/out/ for every target missed")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("SCRIBE_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="PostgreSQL server (a database scribe_bench_<pid> is created there and dropped); env SCRIBE_BENCH_POSTGRES_URL",
    )
    args = parser.parse_args(argv)
    if args.runs is None:
        args.runs = 1 if args.quick else 3
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if "127.0.0.1" not in args.postgres_url and "localhost" not in args.postgres_url:
        parser.error("--postgres-url must point at 127.0.0.1: the benchmark only talks to this machine")
    return args


def machine_description() -> str:
    import platform

    cores = os.cpu_count() or 0
    return f"{platform.machine()}, {cores} cores, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    names = args.only or list(BENCHMARKS)
    rows: list[Row] = []
    with ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="scribe-bench-"))
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        bench = Bench(workdir=workdir, runs=args.runs, quick=args.quick, postgres_url=args.postgres_url)
        # SIGTERM unwinds like Ctrl-C, so the servers and the temp dir are cleaned up too.
        # SIGINT is set explicitly because a shell starting us in the background ignores
        # it, and the servers would inherit that and ignore the SIGINT that stops them.
        signal.signal(signal.SIGTERM, _interrupt)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        print(f"Incident Scribe benchmarks on {machine_description()}; {args.runs} run(s) each", file=sys.stderr)
        for name in names:
            rows.extend(BENCHMARKS[name](bench))
        print()
        print(render_table(rows))
        missed = [row for row in rows if row.met is False]
        if missed and args.profile:
            for path in profile_missed(bench, missed):
                print(f"profile: {path.relative_to(REPO)}")
    if missed:
        print(f"\n{len(missed)} target(s) missed: " + ", ".join(row.name for row in missed))
        return 1
    print("\nEvery target met.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
