"""The *slow slack* rows: other channels' ack latency while one channel's Slack calls take
2.5 s each (issue 23), over HTTP and Socket Mode, on SQLite and PostgreSQL.
                                                                     target: p99 < 100 ms

Method, for each mode and database, against a fresh `scribe run` subprocess:

1. The simulator serves every incident channel. A standing fault (bot.simulator's
   `inject_standing`) delays, by a real wall-clock 2.5 s, every Web API call that names the
   one *slow* channel (its `channel`/`channel_id`: conversations.join, conversations.info,
   chat.postMessage and chat.update, canvases, files.completeUploadExternal, …) or one of
   the people who act only there (`user`/`users`: users.info), and every
   files.getUploadURLExternal (which names no channel; only the slow channel uploads here).
   It is not used up: it stands until the measurement ends.
2. 12 other channels get an incident each (`/incident start`, before the fault) and a
   warm-up of messages and notes.
3. A loop in the slow channel keeps Slack busy on its behalf, one command after another,
   each sent when the previous one is answered: `/incident start` (conversations.join),
   `/incident detected at 12:00` from someone new whose time zone the app has not cached
   (users.info), `/incident update …` (chat.postMessage), `/incident postmortem` (canvas,
   summary post, files.getUploadURLExternal / completeUploadExternal; the loop waits for
   the upload to complete) and `/incident close`; then again.
4. Once the loop's first command is sent, message events and `/incident note` commands go
   to the other channels in turn, 30 a second on a timetable (open loop: a request is sent
   when its time comes, answered or not, as Slack sends; see harness.send_at_rate), for at
   least 20 s and until the slow loop has been round once. Each is timed from its send to
   its ack (the HTTP answer, or the Socket Mode ack).
5. Afterwards, the simulator's recorded calls must show the slow calls in flight for at
   least MIN_COVERAGE of that window, and each of join, users.info, chat.postMessage and
   both upload steps slow within it; otherwise the run proves nothing and BenchmarkError
   is raised. Every measured request must be acked, and the database must hold every
   message and note.

The rows are the p50 and p99 of the other channels' requests only; the slow channel's
own commands are not measured. `--quick` shortens it to a smoke test (1 s delays, 4 s,
4 other channels) that checks the machinery, not the target.
"""

from __future__ import annotations

import http.client
import itertools
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import parse_qsl

from bench.harness import (
    SENDER_IDS,
    Bench,
    BenchmarkError,
    Row,
    ServerProcess,
    SignedRequest,
    Traffic,
    bench_workspace,
    channel_id,
    log_progress,
    open_incidents,
    percentile,
    require_durable,
    send_at_rate,
)
from bench.socket_mode import SocketLoad, open_incidents_over_socket, scribe_socket, socket_server
from bot.simulator import FakeSlackWebAPI, Fault, RecordedCall
from bot.simulator.socket_mode import EVENTS_API, SLASH_COMMANDS, SocketModeServer

TARGET_MS = 100.0
MODES = ("http", "socket")
SLOW_CHANNEL = channel_id(0)
LEAD = "U0ANN"
# The slow calls that must have been in flight during the window, one kind at least once each.
SLOW_METHODS = (
    "conversations.join", "users.info", "chat.postMessage", "files.getUploadURLExternal", "files.completeUploadExternal",
)
# The share of the window during which at least one slow call must have been under way.
MIN_COVERAGE = 0.8
COMMAND_TIMEOUT = 60.0
WARM_UP_PER_SECOND = 100.0


@dataclass(frozen=True)
class Sizes:
    delay: float  # seconds each slow Slack call takes
    min_window: float  # seconds of measured load, at least
    max_window: float  # ... and at most, while waiting for the slow loop's first full round
    per_second: float  # measured requests a second, to the other channels
    other_channels: int
    full_round: bool  # the window lasts until the slow loop has been round once, every slow kind required


def sizes(quick: bool) -> Sizes:
    if quick:
        return Sizes(delay=1.0, min_window=4.0, max_window=4.0, per_second=20.0, other_channels=4, full_round=False)
    return Sizes(delay=2.5, min_window=20.0, max_window=90.0, per_second=30.0, other_channels=12, full_round=True)


def slow_users(count: int) -> list[str]:
    """People who act only in the slow channel, each once: the app has no time zone for them."""
    return [f"U0SLOW{n:03d}" for n in range(count)]


# -- how the app is reached: over HTTP or Socket Mode -----------------------------------------


class Link(Protocol):
    def command(self, channel: str, text: str, user: str) -> str:
        """Send one `/incident` command and return the text it was answered with."""

    def load(self, items: Sequence[tuple[str, SignedRequest]], per_second: float, until: Callable[[float], bool]) -> list[float]:
        """Send ("events"|"commands", request) items at a rate; each one's ack latency in seconds."""


class HttpLink:
    """The app over HTTP: a command is answered in its HTTP answer."""

    def __init__(self, server: ServerProcess, traffic: Traffic):
        self.server, self.traffic = server, traffic

    def command(self, channel: str, text: str, user: str) -> str:
        request = self.traffic.command(channel, text, user)
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=COMMAND_TIMEOUT)
        try:
            connection.request("POST", "/slack/events", body=request.body, headers=request.headers)
            answer = connection.getresponse()
            body = answer.read()
        finally:
            connection.close()
        if answer.status != 200:
            raise BenchmarkError(f"`/incident {text}` answered HTTP {answer.status}\n{self.server.log_tail()}")
        return str(json.loads(body or b"{}").get("text", ""))

    def load(self, items: Sequence[tuple[str, SignedRequest]], per_second: float, until: Callable[[float], bool]) -> list[float]:
        result = send_at_rate(self.server.url, [request for _, request in items], per_second, until=until)
        if result.failures:
            counts = Counter(result.failures)
            raise BenchmarkError(
                f"slow slack http: {len(result.latencies)} answered 200; failures {dict(counts)}\n{self.server.log_tail()}"
            )
        return result.latencies


class SocketLink:
    """The app over Socket Mode: a command is answered in the payload of its envelope's ack."""

    def __init__(self, socket: SocketModeServer, traffic: Traffic):
        self.socket, self.traffic = socket, traffic

    def command(self, channel: str, text: str, user: str) -> str:
        fields = dict(parse_qsl(self.traffic.command(channel, text, user).body.decode()))
        try:
            ack = self.socket.wait_for_ack(self.socket.send(SLASH_COMMANDS, fields), timeout=COMMAND_TIMEOUT)
        except AssertionError:
            raise BenchmarkError(f"`/incident {text}` over Socket Mode: no ack within {COMMAND_TIMEOUT:.0f} s") from None
        return str((ack.payload or {}).get("text", ""))

    def load(self, items: Sequence[tuple[str, SignedRequest]], per_second: float, until: Callable[[float], bool]) -> list[float]:
        envelopes = [
            (EVENTS_API, json.loads(request.body)) if kind == "events" else (SLASH_COMMANDS, dict(parse_qsl(request.body.decode())))
            for kind, request in items
        ]
        return SocketLoad(self.socket).at_rate(envelopes, per_second, until=until)


# -- the slow channel ---------------------------------------------------------------------------


class SlowChannelLoop(threading.Thread):
    """Keeps Slack calls made on the slow channel's behalf in flight: one command after
    another, each sent when the previous one is answered, round after round."""

    def __init__(self, link: Link, api: FakeSlackWebAPI, users: Sequence[str]):
        super().__init__(name="slow-channel", daemon=True)
        self.link, self.api, self.users = link, api, list(users)
        self.first_sent = threading.Event()
        self.rounds_done = 0
        self.stopping = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for round_number in itertools.count():
                if round_number >= len(self.users):
                    raise BenchmarkError(f"slow slack: the slow loop ran out of new people after {round_number} rounds")
                if not self.round(round_number, self.users[round_number]):
                    return
                self.rounds_done += 1
        except BaseException as error:  # reported by stop(), in the measuring thread
            self.error = error
            self.first_sent.set()

    def round(self, number: int, newcomer: str) -> bool:
        """One round of commands; False when told to stop before its end."""
        steps: list[tuple[str, str, str | None]] = [
            (LEAD, f"start Slack is slow for this channel, round {number} sev2", "started"),
            (newcomer, "detected at 12:00 paging fired", None),
            (LEAD, f"update investigating Still looking into it (round {number})", None),
            (LEAD, "postmortem", None),
            (LEAD, "close", "closed"),
        ]
        for user, text, expected in steps:
            if self.stopping.is_set():
                return False
            uploads = len(self._uploads(self.api))
            self.first_sent.set()  # the measured load starts as this command goes out
            reply = self.link.command(SLOW_CHANNEL, text, user)
            if expected is not None and expected not in reply:
                raise BenchmarkError(f"slow slack: `/incident {text}` in the slow channel answered {reply!r}")
            if text == "postmortem":
                # Published after the ack: wait until its upload is complete (or we're told to stop).
                try:
                    self.api.wait_for(lambda a, uploads=uploads: self.stopping.is_set() or len(self._uploads(a)) > uploads, timeout=COMMAND_TIMEOUT)
                except AssertionError:
                    raise BenchmarkError("slow slack: the slow channel's postmortem was not uploaded") from None
        return True

    @staticmethod
    def _uploads(api: FakeSlackWebAPI) -> list[RecordedCall]:
        return [c for c in api.calls_to("files.completeUploadExternal") if c.params.get("channel_id") == SLOW_CHANNEL]

    def stop(self) -> None:
        """Let the command under way finish, then end; raise what went wrong in the loop."""
        self.stopping.set()
        self.join(timeout=COMMAND_TIMEOUT * 2)
        if self.is_alive():
            raise BenchmarkError("slow slack: the slow channel's loop did not stop")
        if self.error is not None:
            raise self.error


def slow_call_coverage(calls: Sequence[RecordedCall], fault: Fault, window: tuple[float, float]) -> tuple[float, Counter[str]]:
    """The share of `window` (workspace-clock seconds) during which at least one call that met
    `fault` was under way, and how many calls of each method overlapped the window."""
    start, end = window
    spans = sorted((call.at, call.at + fault.delay, call.method) for call in calls if call.fault == fault)
    overlapping = Counter(method for began, ended, method in spans if began < end and ended > start)
    covered, reach = 0.0, start
    for began, ended, _ in spans:
        low, high = max(began, reach), min(ended, end)
        if high > low:
            covered += high - low
            reach = high
    return (covered / (end - start) if end > start else 0.0), overlapping


# -- one measurement -----------------------------------------------------------------------------


@dataclass
class Measured:
    latencies: list[float]  # seconds, the other channels' requests
    window: float  # seconds of measured load
    coverage: float  # share of the window with a slow call under way
    slow_calls: Counter[str]  # slow calls overlapping the window, by method
    rounds: int  # rounds the slow loop finished


def measure_slow_slack(bench: Bench, *, mode: str, database_url: str) -> Measured:
    size = sizes(bench.quick)
    others = [channel_id(n) for n in range(1, size.other_channels + 1)]
    users = slow_users(200)
    workspace = bench_workspace(size.other_channels + 1)
    for user in users:
        workspace.add_user(user, name=user.lower(), real_name=f"Newcomer {user[-3:]}", tz="Asia/Tokyo")
    slow = Fault(delay=size.delay)
    with ExitStack() as stack:
        api = stack.enter_context(FakeSlackWebAPI(workspace))
        traffic = Traffic(api.workspace, api, bench.signing_secret)
        name = f"scribe-slow-slack-{mode}"
        link: Link
        if mode == "http":
            server = stack.enter_context(bench.scribe(name, database_url=database_url, api=api))
            open_incidents(server, traffic, others)
            link = HttpLink(server, traffic)
        else:
            socket = socket_server(api)
            stack.callback(socket.stop)
            server = stack.enter_context(scribe_socket(bench, name, database_url=database_url, api=api, socket=socket))
            open_incidents_over_socket(socket, traffic, others)
            link = SocketLink(socket, traffic)
        # Warm-up, before anything is slow: the first requests pay for pool connections and caches.
        warm_up = load_items(traffic, others, len(others) * 10)
        link.load(warm_up, WARM_UP_PER_SECOND, until=lambda elapsed: False)
        sent_messages = sent_notes = len(warm_up) // 2

        standing = api.inject_standing(slow, channels={SLOW_CHANNEL}, users=users)
        uploads = api.inject_standing(slow, methods={"files.getUploadURLExternal"})
        items = load_items(traffic, others, int(size.max_window * size.per_second) + 1)
        loop = SlowChannelLoop(link, api, users)
        loop.start()
        try:
            loop.first_sent.wait(COMMAND_TIMEOUT)

            def until(elapsed: float) -> bool:
                if elapsed < size.min_window:
                    return False
                return elapsed >= size.max_window or not size.full_round or loop.rounds_done > 0 or loop.error is not None

            began = api.workspace.now()
            latencies = link.load(items, size.per_second, until)
        finally:
            loop.stop()
            api.lift(standing)
            api.lift(uploads)
        window = (began, began + len(latencies) / size.per_second)
        # A call is recorded once answered: wait until every slow call that began within the
        # window has been, so the check below sees them all.
        time.sleep(max(0.0, window[1] + size.delay + 0.1 - api.workspace.now()))
        server.check_alive()
        sent_messages += (len(latencies) + 1) // 2
        sent_notes += len(latencies) // 2
        coverage, overlapping = slow_call_coverage(api.calls, slow, window)
    if coverage < MIN_COVERAGE or not overlapping:
        raise BenchmarkError(
            f"slow slack {mode}: slow calls were under way for {coverage:.0%} of the measured window "
            f"(at least {MIN_COVERAGE:.0%} needed): {dict(overlapping)}"
        )
    missing = [method for method in SLOW_METHODS if not overlapping[method]] if size.full_round else []
    if missing:
        raise BenchmarkError(f"slow slack {mode}: no slow {', '.join(missing)} during the measured window: {dict(overlapping)}")
    require_durable(f"slow slack {mode} messages", database_url, kind="message", expected=sent_messages, channel_ids=others)
    require_durable(f"slow slack {mode} notes", database_url, kind="note", expected=sent_notes, channel_ids=others)
    return Measured(latencies, window[1] - window[0], coverage, overlapping, loop.rounds_done)


def load_items(traffic: Traffic, channels: Sequence[str], count: int) -> list[tuple[str, SignedRequest]]:
    """A message event, then a `/incident note`, and so on, going round the channels."""
    items: list[tuple[str, SignedRequest]] = []
    for n in range(count):
        channel = channels[(n // 2) % len(channels)]
        if n % 2 == 0:
            items.append(("events", traffic.message(channel, n)))
        else:
            text = f"note cache hit rate back to {n % 100}% on shard {n % 7}"
            items.append(("commands", traffic.command(channel, text, SENDER_IDS[n % len(SENDER_IDS)])))
    return items


# -- the rows --------------------------------------------------------------------------------------


def slow_slack_rows(bench: Bench, backend: str) -> list[Row]:
    rows: dict[str, Row] = {}
    for mode in MODES:
        rows[f"{mode} p50"] = Row(f"slow slack {mode} {backend}: other channels' ack p50", "ms")
        rows[f"{mode} p99"] = Row(f"slow slack {mode} {backend}: other channels' ack p99", "ms", limit=TARGET_MS)
    try:
        for _ in range(bench.runs):
            for mode in MODES:
                with ExitStack() as stack:
                    if backend == "sqlite":
                        database_url = bench.sqlite_url(f"slow-slack-{mode}-{uuid.uuid4().hex[:6]}")
                    else:
                        database_url = stack.enter_context(bench.postgres_database())
                    measured = measure_slow_slack(bench, mode=mode, database_url=database_url)
                rows[f"{mode} p50"].values.append(percentile(measured.latencies, 0.50) * 1000)
                rows[f"{mode} p99"].values.append(percentile(measured.latencies, 0.99) * 1000)
                rows[f"{mode} p99"].note = describe(measured)
            log_progress(f"slow slack {backend}", rows)
    except Exception as error:  # sqlalchemy.exc.OperationalError: PostgreSQL not reachable
        if backend != "sqlite" and type(error).__module__.startswith("sqlalchemy"):
            for mode in MODES:
                rows[f"{mode} p99"].note = f"not measured: database unavailable ({type(error).__name__})"
            return list(rows.values())
        raise
    return list(rows.values())


def describe(measured: Measured) -> str:
    """The last run's circumstances, for the table's notes."""
    slowest = max(measured.latencies) * 1000
    calls = ", ".join(f"{method} {count}" for method, count in sorted(measured.slow_calls.items()))
    return (
        f"last run: {len(measured.latencies)} requests over {measured.window:.0f} s, slowest {slowest:.0f} ms; "
        f"slow calls under way {measured.coverage:.0%} of that time ({calls}); slow loop rounds {measured.rounds}"
    )

