"""How fast action items get their tickets in Jira, GitHub and Linear, and that the command's
ack never waits for a tracker (issue 25).

1. **Creation**: 100 `/incident action` commands, sent over signed HTTP to `scribe run` (a
   process of its own, as in production; the simulators run in this one), spread
   over three incident channels whose trackers are Jira, GitHub and Linear (`/incident
   tracker`). Each tracker simulator answers with a realistic latency and keeps a fixed-window
   request budget, answering 429 (Linear: RATELIMITED) with its own rate-limit headers beyond
   it. Wall time runs from the first command to the last ticket recorded. The floor is the
   least time those limits allow for the requests the tickets needed (assignee lookup, marker
   search, create; fewer once an owner's account is known): per tracker, the windows its
   requests fill, plus one answer's latency, and never less than one ticket's requests one
   after another; trackers run side by side, so the floor is the slowest tracker's.
   Reported: seconds / floor.                                                   target ≤ 1.3
2. **Ack while trackers are slow**: with every tracker taking `slow_latency` seconds an
   answer, `ack_commands` commands that each ask for a ticket; p50/p99 of the time to their
   HTTP answer (the ticket is made after commit, from the outbox), next to the same commands
   in a channel without a tracker. No ticket may be made before the last ack (each needs
   three answers of `slow_latency`).                                        target p99 < 1 s

    python bench/trackers.py [--items 100] [--database-url postgresql+psycopg://…]

`make bench` (bench/run.py --only trackers) runs both on SQLite and PostgreSQL through
`tracker_rows`; `run(...) -> dict` is the same measurement for a script of one's own.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
if TYPE_CHECKING:
    from bench.harness import Bench, Row

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from bot.db import make_engine  # noqa: E402
from bot.models import ItemTicket  # noqa: E402
from bot.simulator.player import SlackPlayer  # noqa: E402
from bot.simulator.trackers import GitHubSimulator, JiraSimulator, LinearSimulator  # noqa: E402
from bot.simulator.webapi import FakeSlackWebAPI  # noqa: E402
from bot.simulator.workspace import Workspace  # noqa: E402

SIGNING_SECRET = "bench-signing-secret-0123456789"
JIRA_EMAIL, JIRA_TOKEN = "scribe-bot@bench.test", "ATATT-bench-jira-token"
GITHUB_TOKEN, LINEAR_KEY = "github_pat_bench_0123456789", "lin_api_bench_0123456789"
REPO = "acme/ops"
TRACKERS = ("jira", "github", "linear")
# Seconds per answer: what these APIs take from a nearby region for a create or a search.
LATENCY = {"jira": 0.25, "github": 0.20, "linear": 0.15}
# (requests, seconds) per fixed window: the order of each tracker's limits (a few requests a
# second), in windows short enough that a 100-ticket run spends most of its time inside them.
# Jira answers 429 with Retry-After, GitHub 403 with x-ratelimit-reset, Linear RATELIMITED:
# each in whole seconds, as the trackers do.
LIMITS = {"jira": (60, 10.0), "github": (40, 10.0), "linear": (50, 10.0)}
OWNERS = [f"U0OWN{n}" for n in range(5)]
# The ack must come long before Slack's 3-second deadline, whatever the tracker does.
ACK_TARGET = 1.0
CHANNELS = {"jira": "C0JIRA", "github": "C0GITHUB", "linear": "C0LINEAR"}


@dataclass
class Simulators:
    jira: JiraSimulator
    github: GitHubSimulator
    linear: LinearSimulator

    def by_name(self) -> dict[str, Any]:
        return {"jira": self.jira, "github": self.github, "linear": self.linear}


def _simulators(latency: dict[str, float], limits: dict[str, tuple[int, float]] | None) -> Simulators:
    def budget(name: str) -> dict[str, Any]:
        if limits is None:
            return {"latency": latency[name]}
        return {"latency": latency[name], "rate_limit": limits[name][0], "rate_window": limits[name][1]}

    jira = JiraSimulator(deployment="cloud", **budget("jira"))
    jira.add_account(email=JIRA_EMAIL, api_token=JIRA_TOKEN)
    jira.add_project("OPS", statuses=[("To Do", "new"), ("In Progress", "indeterminate"), ("Done", "done")])
    github = GitHubSimulator(**budget("github"))
    github.add_repo(REPO, collaborators={"scribe-bot", *(owner.lower() for owner in OWNERS)})
    github.add_token(GITHUB_TOKEN, "scribe-bot")
    linear = LinearSimulator(**budget("linear"))
    linear.add_api_key(LINEAR_KEY, "user-bot")
    linear.add_team("ENG")
    for owner in OWNERS:
        email = f"{owner.lower()}@bench.test"
        jira.add_user(f"acct-{owner}", email, owner)
        github.add_user(owner.lower(), email=email, email_public=True)
        linear.add_user(f"user-{owner}", email, owner)
    return Simulators(jira, github, linear)


def _workspace() -> Workspace:
    workspace = Workspace()
    workspace.add_user("U0LEAD", name="lead", real_name="Lead", tz="UTC", email="lead@bench.test")
    for owner in OWNERS:
        workspace.add_user(owner, name=owner.lower(), real_name=owner, tz="UTC", email=f"{owner.lower()}@bench.test")
    for tracker, channel in CHANNELS.items():
        workspace.add_channel(channel, name=f"inc-{tracker}")
    return workspace


def _environment(database_url: str, api: FakeSlackWebAPI, sims: Simulators, port: int) -> dict[str, str]:
    """`scribe run`'s settings, as an operator writes them: the three trackers connected, none the
    default (each channel picks its own), no webhook secrets (statuses polled, off the clock here)."""
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("SLACK_", "SCRIBE_", "DATABASE_URL", "JIRA_", "GITHUB_", "LINEAR_", "GITLAB_", "PORT"))}
    return {
        **keep,
        "PYTHONPATH": str(ROOT),
        "SLACK_BOT_TOKEN": api.workspace.bot_token, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": api.base_url,
        "DATABASE_URL": database_url, "PORT": str(port), "SCRIBE_WORKERS": "16", "SCRIBE_LOG_LEVEL": "WARNING",
        "SCRIBE_SCHEDULER_POLL_SECONDS": "1", "SCRIBE_LEAD_NUDGE_MINUTES": "0", "SCRIBE_IDLE_NUDGE_HOURS": "0",
        "SCRIBE_UPDATE_INTERVALS": "none", "SCRIBE_TRACKER": "none",
        "JIRA_BASE_URL": sims.jira.base_url, "JIRA_EMAIL": JIRA_EMAIL, "JIRA_API_TOKEN": JIRA_TOKEN, "JIRA_PROJECT": "OPS",
        "GITHUB_BASE_URL": sims.github.base_url, "GITHUB_TOKEN": GITHUB_TOKEN, "GITHUB_REPO": REPO,
        "LINEAR_BASE_URL": sims.linear.base_url, "LINEAR_API_KEY": LINEAR_KEY, "LINEAR_TEAM": "ENG",
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _App:
    """`scribe run` in a process of its own (the simulators and the load run in this one), and
    a way to send it commands and read what it recorded."""

    def __init__(self, database_url: str, api: FakeSlackWebAPI, sims: Simulators, workdir: Path) -> None:
        port = _free_port()
        self.log_path = workdir / "scribe-run.log"
        with self.log_path.open("wb") as log:
            # In its own folder: no .env of this checkout is read.
            self.process = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], cwd=workdir, stdout=log,
                                            stderr=subprocess.STDOUT, env=_environment(database_url, api, sims, port))
        self._wait_healthy(port)
        self.player = SlackPlayer(api.workspace, api, app_url=f"http://127.0.0.1:{port}/slack/events",
                                  signing_secret=SIGNING_SECRET)
        self.engine = make_engine(database_url)

    def _wait_healthy(self, port: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"scribe run stopped at start:\n{self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"scribe run did not answer /healthz within {timeout:.0f} s")

    def command(self, channel: str, text: str) -> dict[str, Any]:
        reply = self.player.command("U0LEAD", channel, text)
        assert reply.status == 200, (reply.status, reply.body)
        return reply.json() if reply.body else {}

    def timed(self, forms: list[dict[str, str]], senders: int) -> list[float]:
        """Send pre-built command forms, `senders` at a time; each one's seconds to its answer."""

        def send(form: dict[str, str]) -> float:
            started = time.perf_counter()
            reply = self.player.post_raw(urlencode(form).encode(), {"Content-Type": "application/x-www-form-urlencoded"})
            assert reply.status == 200, (reply.status, reply.body)
            return time.perf_counter() - started

        with ThreadPoolExecutor(max_workers=senders) as pool:
            return list(pool.map(send, forms))

    def tickets(self) -> Counter[str]:
        with self.engine.connect() as connection:
            return Counter(dict(connection.execute(select(ItemTicket.state, func.count()).group_by(ItemTicket.state)).all()))

    def stop(self) -> None:
        self.engine.dispose()
        # SIGINT stops `scribe run` cleanly: requests under way finish, the outbox gets its bound.
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def _rate_limited(call: Any) -> bool:
    """A refusal for the budget: Jira's 429, GitHub's 403 (or 429) "rate limit", Linear's RATELIMITED."""
    answer = json.dumps(call.response) if call.response is not None else ""
    return call.status == 429 or (call.status == 403 and "rate limit" in answer) or "RATELIMITED" in answer


def _floor(sim: Any, items: int, latency: float, limit: tuple[int, float] | None, began: float) -> dict[str, float | int]:
    """The least time `sim`'s budget allows for the requests it served (refusals for the budget
    excluded), and when (seconds after the first command) its first and last requests came."""
    served = [c for c in sim.calls if not _rate_limited(c)]
    requests = len(served)
    chain = math.ceil(requests / items) if items else 0  # one ticket's requests, one after another
    seconds = chain * latency
    if limit is not None:
        allowed, window = limit
        seconds = max(seconds, (math.ceil(requests / allowed) - 1) * window + latency)
    return {"requests": requests, "rate_limited": len(sim.calls) - requests, "floor_seconds": round(seconds, 3),
            "first_request_at": round(served[0].at - began, 3) if served else None,
            "last_request_at": round(served[-1].at - began, 3) if served else None}


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def run(items: int = 100, *, database_url: str | None = None, latency: dict[str, float] | None = None,
        limits: dict[str, tuple[int, float]] | None = None, senders: int = 10, slow_latency: float = 2.0,
        ack_commands: int = 40, timeout: float = 300.0) -> dict[str, Any]:
    """Both measurements; each on its own app, database and simulators."""
    latency = latency or LATENCY
    limits = limits or LIMITS
    return {
        "creation": measure_creation(items, database_url=database_url, latency=latency, limits=limits, senders=senders,
                                     timeout=timeout),
        "ack_while_slow": measure_ack_while_slow(ack_commands, database_url=database_url, slow_latency=slow_latency,
                                                 senders=senders),
    }


def _workdir(stack: ExitStack) -> Path:
    workdir = Path(tempfile.mkdtemp(prefix="scribe-bench-trackers-"))
    stack.callback(shutil.rmtree, workdir, ignore_errors=True)
    return workdir


def _database(stack: ExitStack, database_url: str | None, workdir: Path) -> str:
    if database_url is None:
        return f"sqlite:///{workdir / 'bench.db'}"
    # A database of our own on the server named, dropped afterwards.
    from bot.db.scratch import scratch_database

    return stack.enter_context(scratch_database(database_url, "scribe_bench_trackers"))


def measure_creation(items: int = 100, *, database_url: str | None = None, latency: dict[str, float] | None = None,
                     limits: dict[str, tuple[int, float]] | None = None, senders: int = 10,
                     timeout: float = 300.0) -> dict[str, Any]:
    latency = latency or LATENCY
    limits = limits or LIMITS
    with ExitStack() as stack:
        workdir = _workdir(stack)
        url = _database(stack, database_url, workdir)
        api = FakeSlackWebAPI(_workspace()).start()
        stack.callback(api.stop)
        sims = _simulators(latency, limits)
        for sim in sims.by_name().values():
            stack.enter_context(sim)
        app = _App(url, api, sims, workdir)
        stack.callback(app.stop)
        for tracker, channel in CHANNELS.items():
            app.command(channel, f"start Benchmark for {tracker}")
            app.command(channel, f"tracker {tracker}")
        per_tracker = Counter(TRACKERS[n % len(TRACKERS)] for n in range(items))
        forms = [app.player.command_form("U0LEAD", CHANNELS[TRACKERS[n % len(TRACKERS)]],
                                         f"action Follow-up {n} <@{OWNERS[n % len(OWNERS)]}> p{n % 4}")
                 for n in range(items)]

        started, began = time.monotonic(), time.time()  # the simulators stamp requests with time.time()
        acks = app.timed(forms, senders)
        while True:
            # Every command asked for its ticket before its ack: all rows are there by now.
            states = app.tickets()
            if states["ready"] + states["failed"] >= sum(states.values()) or time.monotonic() - started > timeout:
                break
            time.sleep(0.02)
        seconds = time.monotonic() - started

        floors = {name: _floor(sim, per_tracker[name], latency[name], limits.get(name), began)
                  for name, sim in sims.by_name().items()}
        floor = max(float(f["floor_seconds"]) for f in floors.values())
        seconds = round(seconds, 3)  # the ratio is the one the reported figures give
        made = {"jira": len(sims.jira.issues), "linear": len(sims.linear.issues),
                "github": sum(1 for i in sims.github.repos[REPO].issues if not i.is_pull_request)}
        return {
            "items": items,
            "tickets_asked": sum(states.values()),
            "tickets_ready": states["ready"],
            "tickets_failed": states["failed"],
            "tickets_made": made,
            "duplicates": sum(made.values()) - states["ready"],
            "seconds": seconds,
            "floor_seconds": round(floor, 3),
            "ratio": round(seconds / floor, 3) if floor else float("nan"),
            "per_tracker": floors,
            "ack_p99_seconds": round(_percentile(acks, 0.99), 4),
            "latency": latency,
            "limits": {name: {"requests": n, "window_seconds": w} for name, (n, w) in limits.items()},
        }


def measure_ack_while_slow(commands: int = 40, *, database_url: str | None = None, slow_latency: float = 2.0,
                           senders: int = 10) -> dict[str, Any]:
    """Acks of commands that ask for a ticket while the tracker takes `slow_latency` s an answer,
    next to the same commands in a channel without a tracker (the baseline), same app."""
    with ExitStack() as stack:
        workdir = _workdir(stack)
        url = _database(stack, database_url, workdir)
        api = FakeSlackWebAPI(_workspace()).start()
        stack.callback(api.stop)
        sims = _simulators(dict.fromkeys(TRACKERS, slow_latency), None)
        for sim in sims.by_name().values():
            stack.enter_context(sim)
        app = _App(url, api, sims, workdir)
        stack.callback(app.stop)
        # The trackers go first: what is still queued for them then fails at once and is
        # recorded for a later retry, so the app stops within its bound.
        stack.callback(lambda: [sim.stop() for sim in sims.by_name().values()])
        slow, baseline = CHANNELS["jira"], CHANNELS["github"]
        app.command(slow, "start Slow trackers")
        app.command(slow, "tracker jira")
        app.command(baseline, "start No tracker")
        app.command(baseline, "tracker none")

        def forms(channel: str) -> list[dict[str, str]]:
            return [app.player.command_form("U0LEAD", channel, f"action Follow-up {n} <@{OWNERS[n % len(OWNERS)]}>")
                    for n in range(commands)]

        without = app.timed(forms(baseline), senders)
        with_slow = app.timed(forms(slow), senders)
        asked = app.tickets()
        return {
            "commands": commands,
            "tracker_latency_seconds": slow_latency,
            "ack_p50_seconds": round(statistics.median(with_slow), 4),
            "ack_p99_seconds": round(_percentile(with_slow, 0.99), 4),
            "baseline_ack_p50_seconds": round(statistics.median(without), 4),
            "baseline_ack_p99_seconds": round(_percentile(without, 0.99), 4),
            # Each of these commands asked for its ticket before answering (3 calls of
            # `slow_latency` each); none was made by the time the last one was answered.
            "tickets_asked": sum(asked.values()),
            "tickets_made_before_last_ack": asked["ready"],
        }


def tracker_rows(bench: Bench, backend: str) -> list[Row]:
    """The harness's rows (bench/run.py --only trackers): creation time over its floor, and
    the ack of commands that ask for tickets while every tracker takes 2 s an answer."""
    from bench.harness import BenchmarkError, Row

    items = 100  # even with --quick: fewer never meet the rate limits, and the ratio means nothing then
    database_url = bench.postgres_url if backend == "postgresql" else None
    made = Row(f"trackers {backend}: {items} tickets", "s")
    ratio = Row(f"trackers {backend}: {items} tickets, time / floor", "x", limit=1.3)
    ack = Row(f"trackers {backend}: ack p99, trackers taking 2 s", "ms", limit=ACK_TARGET * 1000)
    logging.getLogger("bot").setLevel(logging.ERROR)  # the app's retries and 429s are expected here
    for _ in range(bench.runs):
        creation = measure_creation(items, database_url=database_url)
        if creation["tickets_ready"] != items or creation["duplicates"]:
            raise BenchmarkError(f"trackers {backend}: {creation['tickets_ready']} of {items} tickets made, "
                                 f"{creation['duplicates']} twice")
        made.values.append(float(creation["seconds"]))
        ratio.values.append(float(creation["ratio"]))
        slow = measure_ack_while_slow(10 if bench.quick else 40, database_url=database_url)
        if slow["tickets_made_before_last_ack"]:
            raise BenchmarkError(f"trackers {backend}: a ticket was made before the last ack, so an ack waited for it")
        ack.values.append(float(slow["ack_p99_seconds"]) * 1000)
    return [made, ratio, ack]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--database-url", default=None, help="a PostgreSQL server to create a scratch database on "
                                                              "(default: SQLite in a temporary folder)")
    parser.add_argument("--slow-latency", type=float, default=2.0)
    parser.add_argument("--ack-commands", type=int, default=40)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # the app's own warnings (retries, 429s) are expected here
    result = run(args.items, database_url=args.database_url, slow_latency=args.slow_latency, ack_commands=args.ack_commands)
    print(json.dumps(result, indent=2))
    creation, ack = result["creation"], result["ack_while_slow"]
    ok = creation["ratio"] <= 1.3 and creation["duplicates"] == 0 and creation["tickets_ready"] == creation["items"] \
        and ack["tickets_made_before_last_ack"] == 0 and ack["ack_p99_seconds"] < ACK_TARGET
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
