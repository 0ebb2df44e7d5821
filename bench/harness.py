"""What every benchmark target shares: result rows and their table, the server subprocess,
the load generators (closed loop: send_all; on a timetable: send_at_rate), Slack-shaped
traffic, and one invocation's state (`Bench`).

Each target is a module of its own (bench/ack.py, bench/ingest.py, …) that builds on this
one, and on another target's module where it reuses that measurement (the Socket Mode
rows on ingest's ratio, slow_slack on Socket Mode's load); none imports bench/run.py,
which only picks the targets, prints the table and sets the exit status.
"""

from __future__ import annotations

import asyncio
import http.client
import itertools
import json
import math
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
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
    out = ["| " + " | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) + " |" for line in lines]
    out.insert(1, "|" + "|".join("-" * (width + 2) for width in widths) + "|")
    notes = [f"- {row.name}: {row.note}" for row in rows if row.values and row.note]
    return "\n".join(out + (["", *notes] if notes else []))


def percentile(samples: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest sample with at least `fraction` of samples at or below it."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


class BenchmarkError(RuntimeError):
    """A benchmark could not run correctly (a server died, writes were lost...)."""


def log_progress(name: str, rows: dict[str, Row]) -> None:
    """One line on stderr as each run ends, so a long benchmark shows it is alive."""
    done = ", ".join(f"{row.name}={format_value(row.values[-1], row.unit)}" for row in rows.values() if row.values)
    print(f"[{time.strftime('%H:%M:%S')}] {name}: {done}", file=sys.stderr, flush=True)


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

    def __enter__(self) -> ServerProcess:
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


def send_at_rate(
    url: str, requests: Sequence[SignedRequest], per_second: float, *,
    until: Callable[[float], bool] | None = None, timeout: float = 30.0,
) -> LoadResult:
    """Send the requests in order at a steady `per_second`, each when its time comes whether
    or not earlier ones have been answered (open loop), until they run out or `until(seconds
    since the first send)` says stop; then wait for every answer.

    A closed loop (send_all) sends nothing while its senders wait, so a stall of seconds
    costs it a handful of slow samples among thousands of quick ones; sent on a timetable,
    as Slack sends, every request that arrives during the stall waits in it and is counted.
    Answered connections are reused; a request finding none idle opens another. A request
    is timed from taking its connection to reading the whole answer."""
    host_port, path = url.split("//", 1)[1].split("/", 1)
    host, port = host_port.split(":")
    wire = [_http_request(host_port, "/" + path, request) for request in requests]
    return asyncio.run(_send_at_rate(host, int(port), wire, per_second, until, timeout))


async def _send_at_rate(
    host: str, port: int, wire: list[bytes], per_second: float, until: Callable[[float], bool] | None, timeout: float,
) -> LoadResult:
    latencies: list[float] = []
    failures: list[str] = []
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    opened: list[asyncio.StreamWriter] = []

    async def one(request: bytes) -> None:
        began = time.perf_counter()
        writer: asyncio.StreamWriter | None = None
        try:
            if idle:
                reader, writer = idle.pop()
            else:
                reader, writer = await asyncio.open_connection(host, port)
                opened.append(writer)
            writer.write(request)
            status, keep = await asyncio.wait_for(_read_answer(reader), timeout)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as error:
            failures.append(type(error).__name__)
            if writer is not None:
                writer.transport.abort()
            return
        if status == 200:
            latencies.append(time.perf_counter() - began)
        else:
            failures.append(f"HTTP {status}")
        if keep:
            idle.append((reader, writer))
        else:
            writer.close()

    loop = asyncio.get_running_loop()
    first = loop.time()
    in_flight: list[asyncio.Task[None]] = []
    try:
        for index, request in enumerate(wire):
            due = first + index / per_second
            await asyncio.sleep(max(0.0, due - loop.time()))
            if until is not None and until(loop.time() - first):
                break
            in_flight.append(asyncio.create_task(one(request)))
        await asyncio.gather(*in_flight)
    finally:
        for writer in opened:
            writer.close()
    return LoadResult(latencies=latencies, seconds=loop.time() - first, failures=failures)


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
        from bot.db.scratch import scratch_database

        with scratch_database(self.postgres_url, f"scribe_bench_{os.getpid()}") as url:
            yield url


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
