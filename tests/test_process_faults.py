"""Process faults, on 127.0.0.1 only, stopping by themselves:

- a real `scribe run` process is killed with SIGKILL in the middle of a burst of 1,000
  message events; after a restart, every event that got no 200 is redelivered the way
  Slack does (X-Slack-Retry-Num), and every message ends up recorded exactly once;
- a private, throw-away PostgreSQL cluster is restarted under a running app: the app
  reconnects by itself (pool_pre_ping) and redelivery fills the gap.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text

from bot.db import make_engine, make_session_factory
from bot.models import TimelineEntry
from bot.simulator.player import SlackPlayer
from bot.simulator.webapi import FakeSlackWebAPI
from bot.simulator.workspace import Workspace
from tests.conftest import SIGNING_SECRET, start_app

ROOT = Path(__file__).resolve().parents[1]
BOT_TOKEN = "xoxb-kill-test-token-0123456789"
BURST = 1000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


class ScribeProcess:
    """`scribe run` in HTTP mode as a child process, its output kept in a log file."""

    def __init__(self, database_url: str, api_url: str, workdir: Path):
        self.port = free_port()
        self.log_path = workdir / "scribe.log"
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(workdir),
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "DATABASE_URL": database_url,
            "SLACK_API_URL": api_url,
            "PORT": str(self.port),
            "SCRIBE_SCHEDULER": "false",
            "SCRIBE_WORKERS": "8",
        }
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    def start(self) -> ScribeProcess:
        # cwd is a fresh folder, so no .env from the repository is read.
        with open(self.log_path, "ab") as log:  # the process has its own copy of the handle
            self.process = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], cwd=self.workdir, env={**self.env, "PYTHONPATH": str(ROOT)},
                                            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not healthy(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"scribe run did not come up:\n{self.log_path.read_text()}")
            time.sleep(0.1)
        return self

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def deliver(player: SlackPlayer, envelope: dict[str, Any], retry_num: int | None = None) -> int | None:
    """The HTTP status, or None when the connection failed (the process was gone)."""
    try:
        return player.deliver(envelope, retry_num=retry_num).status
    except OSError:  # refused, reset, broken pipe, remote disconnected
        return None


def test_kill_9_mid_burst_then_redelivery_records_every_message_once(database_url: str, tmp_path: Path) -> None:
    workspace = Workspace(bot_token=BOT_TOKEN)
    workspace.add_user("U0ANN", name="ann", real_name="Ann Lee", tz="UTC")
    workspace.add_user("U0BOB", name="bob", real_name="Bob Stone", tz="UTC")
    workspace.add_channel("C0INC", name="inc-burst")
    api = FakeSlackWebAPI(workspace).start()
    scribe = ScribeProcess(database_url, api.base_url, tmp_path).start()
    engine = make_engine(database_url)
    try:
        player = SlackPlayer(workspace, api, app_url=scribe.url, signing_secret=SIGNING_SECRET, timeout=20)
        assert player.command("U0ANN", "C0INC", "start Burst").status == 200
        # Events only, not in channel history: redelivery alone has to fill the gap
        # (the restart's catch-up from history would otherwise mask a loss).
        envelopes = [
            player.envelope({"type": "message", "channel": "C0INC", "channel_type": "channel", "user": "U0BOB",
                             "text": f"burst message {i}", "ts": workspace.next_ts()})
            for i in range(BURST)
        ]
        statuses: dict[int, int | None] = {}
        ok_count = 0
        lock = threading.Lock()
        killed = threading.Event()

        def send(i: int) -> None:
            nonlocal ok_count
            status = deliver(player, envelopes[i])
            with lock:
                statuses[i] = status
                if status == 200:
                    ok_count += 1
                    if ok_count == 250 and not killed.is_set():
                        killed.set()
                        scribe.kill()

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(send, range(BURST)))
        assert killed.is_set()
        unanswered = [i for i in range(BURST) if statuses[i] != 200]
        assert 0 < len(unanswered) < BURST - 249
        assert all(statuses[i] is None or statuses[i] >= 500 for i in unanswered)

        scribe = ScribeProcess(database_url, api.base_url, tmp_path)
        scribe.start()
        player.app_url = scribe.url
        with ThreadPoolExecutor(max_workers=8) as pool:
            retried = list(pool.map(lambda i: deliver(player, envelopes[i], retry_num=1), unanswered))
        assert retried == [200] * len(unanswered)
        # A few answered ones again too, as after a 200 lost on the way back: harmless.
        assert [deliver(player, envelopes[i], retry_num=2) for i in range(3)] == [200, 200, 200]

        with engine.connect() as connection:
            rows = connection.execute(
                select(TimelineEntry.ts, TimelineEntry.text).where(TimelineEntry.kind == "message").order_by(TimelineEntry.ts)
            ).all()
        expected = sorted((e["event"]["ts"], e["event"]["text"]) for e in envelopes)
        assert [tuple(r) for r in rows] == expected  # every message, each exactly once
        log_text = scribe.log_path.read_text()
        assert BOT_TOKEN not in log_text and SIGNING_SECRET not in log_text
    finally:
        scribe.stop()
        engine.dispose()
        api.stop()


# -- a private PostgreSQL cluster, restarted under the app -------------------------------------

def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


class PrivateCluster:
    """A throw-away PostgreSQL on a free 127.0.0.1 port, never the shared one on 5432."""

    def __init__(self, bin_dir: Path):
        self.bin = bin_dir
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="scribe-pg-"))
        self.data = self.dir / "data"
        # initdb refuses to run as root; run the cluster as the postgres user then.
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def init(self) -> PrivateCluster:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        return self.start()

    def start(self) -> PrivateCluster:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.dir / "pg.log"), "-w", "-t", "30", "start")
        return self

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/scribe"


@pytest.fixture
def private_postgres():  # type: ignore[no-untyped-def]
    bin_dir = _postgres_bin()
    if bin_dir is None or not (bin_dir / "initdb").exists():
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed under /usr/lib/postgresql")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: initdb cannot be run as another user")
    cluster = PrivateCluster(bin_dir).init()
    admin = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{cluster.port}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text("CREATE DATABASE scribe"))
    admin.dispose()
    yield cluster
    cluster.destroy()


def test_postgres_restart_mid_run_reconnects_and_redelivery_fills_the_gap(private_postgres, slack) -> None:  # type: ignore[no-untyped-def]
    cluster = private_postgres
    running = start_app(cluster.url, slack)
    base = running.runtime.url.rsplit("/slack/events", 1)[0]
    player = running.player
    try:
        assert player.command("U0ANN", "C0INC", "start Database flapping").status == 200
        player.say("U0BOB", "C0INC", "before the restart")

        cluster.stop()
        ws = slack.workspace
        during = [player.envelope({"type": "message", "channel": "C0INC", "user": "U0BOB", "text": f"while down {i}", "ts": ws.next_ts()})
                  for i in range(5)]
        # No 200 while the database is away: Slack keeps these events for redelivery.
        assert [player.deliver(e).status for e in during] == [500] * 5
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(base + "/healthz", timeout=5)
        assert caught.value.code == 503
        # A command can't be retried by Slack: the person is told nothing was saved.
        refused = player.command("U0ANN", "C0INC", "note written while the database is down")
        assert refused.status == 200
        assert refused.json()["text"].startswith(":warning: Sorry, I couldn't record that because of an internal error, and nothing was saved.")

        cluster.start()
        # The pooled connections died with the server; pre-ping replaces them unprompted.
        assert [player.deliver(e, retry_num=1).status for e in during] == [200] * 5
        player.say("U0BOB", "C0INC", "after the restart")
        assert player.last_reply.status == 200
        with urllib.request.urlopen(base + "/healthz", timeout=5) as response:
            assert response.status == 200

        factory = make_session_factory(make_engine(cluster.url))
        with factory() as s:
            texts = list(s.scalars(select(TimelineEntry.text).where(TimelineEntry.kind != "declared").order_by(TimelineEntry.at)))
            assert texts == ["before the restart", *[f"while down {i}" for i in range(5)], "after the restart"]
            assert s.scalar(select(func.count()).select_from(TimelineEntry).where(TimelineEntry.kind == "note")) == 0
        factory.kw["bind"].dispose()
    finally:
        running.stop()
