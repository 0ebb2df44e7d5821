"""Socket Mode end to end: a real `scribe run` with SLACK_APP_TOKEN against the simulator's
apps.connections.open and its Socket Mode WebSocket endpoint on 127.0.0.1.

Each process test starts the app as a child process, like a user does, and talks to it
only as Slack would: envelopes over the socket, acks back, disconnects, a dead link.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import func, select

from bot.db import make_engine
from bot.models import ActionItem, TimelineEntry
from bot.simulator.player import SlackPlayer
from bot.simulator.socket_mode import Ack, SocketModeServer
from bot.simulator.transport import Reply
from bot.simulator.webapi import FakeSlackWebAPI
from bot.simulator.workspace import Workspace
from bot.slack.blocks import followups as fb
from tests.test_process_faults import BOT_TOKEN, ScribeProcess

APP_TOKEN = "xapp-1-A0SIM-1-socket-test-secret-0123456789"
BURST = 1000


class PayloadPlayer(SlackPlayer):
    """The simulator's player, keeping interactivity payloads instead of POSTing them."""

    def _post_payload(self, payload: dict[str, Any]) -> Reply:
        self.payloads.append(payload)
        return Reply(200, "", {})

    payloads: list[dict[str, Any]]


class Slack:
    """The simulated workspace, its Web API and its Socket Mode endpoint."""

    def __init__(self) -> None:
        self.workspace = Workspace(bot_token=BOT_TOKEN)
        self.workspace.add_user("U0ANN", name="ann", real_name="Ann Lee", tz="UTC")
        self.workspace.add_user("U0BOB", name="bob", real_name="Bob Stone", tz="UTC")
        self.workspace.add_channel("C0INC", name="inc-socket")
        self.api = FakeSlackWebAPI(self.workspace).start()
        self.socket = SocketModeServer(self.workspace, app_token=APP_TOKEN).start()
        self.api.serve_socket_mode(self.socket)
        # Builds the payloads; nothing is POSTed in Socket Mode.
        self.player = PayloadPlayer(self.workspace, self.api, app_url="http://127.0.0.1:9/unused", signing_secret="unused")
        self.player.payloads = []

    def command(self, text: str, user: str = "U0ANN") -> str:
        return self.socket.send_command(self.player.command_form(user, "C0INC", text))

    def interactive(self) -> str:
        """Send the payload the player built last as an `interactive` envelope."""
        return self.socket.send_interactive(self.player.payloads[-1])

    def message_body(self, text: str) -> dict[str, Any]:
        return self.player.envelope({"type": "message", "channel": "C0INC", "channel_type": "channel", "user": "U0BOB",
                                     "text": text, "ts": self.workspace.next_ts()})

    def stop(self) -> None:
        self.socket.stop()
        self.api.stop()


@pytest.fixture
def sim() -> Iterator[Slack]:
    slack = Slack()
    yield slack
    slack.stop()


def socket_scribe(database_url: str, slack: Slack, workdir: Path) -> ScribeProcess:
    scribe = ScribeProcess(database_url, slack.api.base_url, workdir)
    scribe.env["SLACK_APP_TOKEN"] = APP_TOKEN
    del scribe.env["SLACK_SIGNING_SECRET"]  # Socket Mode needs none
    return scribe


def health(port: int) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def messages(engine: Any) -> list[tuple[str, str]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(TimelineEntry.ts, TimelineEntry.text).where(TimelineEntry.kind == "message").order_by(TimelineEntry.ts)
        ).all()
    return [tuple(r) for r in rows]


# -- the simulator itself ------------------------------------------------------------------


def test_apps_connections_open_wants_an_app_token_and_tickets_are_single_use(sim: Slack) -> None:
    with pytest.raises(SlackApiError) as caught:
        WebClient(token=BOT_TOKEN, base_url=sim.api.base_url).apps_connections_open(app_token=BOT_TOKEN)
    assert caught.value.response["error"] == "not_allowed_token_type"
    with pytest.raises(SlackApiError) as caught:
        WebClient(base_url=sim.api.base_url).apps_connections_open(app_token="xapp-1-A0SIM-1-unknown")
    assert caught.value.response["error"] == "invalid_auth"
    url = WebClient(base_url=sim.api.base_url).apps_connections_open(app_token=APP_TOKEN)["url"]
    assert url.startswith(f"ws://127.0.0.1:{sim.socket.port}/link/?ticket=")

    import asyncio

    import aiohttp

    async def connect_twice() -> tuple[dict[str, Any], int]:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(url) as ws:
                hello = json.loads((await ws.receive()).data)
            try:
                async with session.ws_connect(url):
                    return hello, 101
            except aiohttp.WSServerHandshakeError as error:
                return hello, error.status

    hello, second = asyncio.run(connect_twice())
    assert hello["type"] == "hello" and hello["num_connections"] == 1
    assert hello["connection_info"] == {"app_id": sim.workspace.api_app_id}
    assert second == 401


# -- the app over a real socket -------------------------------------------------------------


def test_commands_burst_redelivery_disconnect_health_and_sigterm(database_url: str, sim: Slack, tmp_path: Path) -> None:
    scribe = socket_scribe(database_url, sim, tmp_path).start()  # waits for /healthz 200: connected
    engine = make_engine(database_url)
    try:
        assert health(scribe.port) == (200, {"ok": True, "database": "ok", "socket_mode": "connected"})
        first = sim.socket.live_connections()[0]

        # A command is answered through its ack's payload, as an HTTP answer would be.
        started = sim.socket.wait_for_ack(sim.command("start Socket Mode checkout"))
        assert started.payload is not None and started.payload["response_type"] == "in_channel"
        assert started.payload["text"].startswith(":rotating_light: *INC-1 started*: Socket Mode checkout")
        bad = sim.socket.wait_for_ack(sim.command("severity sev9"))
        assert bad.payload is not None and bad.payload["response_type"] == "ephemeral"
        assert "sev9" in bad.payload["text"]

        # 1,000 message envelopes: each ack only after its entry is committed.
        bodies = [sim.message_body(f"socket burst {i}") for i in range(BURST)]
        ts_of: dict[str, str] = {}
        early: list[str] = []

        def committed_before_ack(ack: Ack) -> None:  # runs as the ack arrives, before it is recorded
            ts = ts_of.get(ack.envelope_id)
            if ts is None:
                return
            with engine.connect() as checker:
                found = checker.execute(select(func.count()).select_from(TimelineEntry).where(TimelineEntry.ts == ts)).scalar()
            if found != 1:
                early.append(ts)

        sim.socket.on_ack = committed_before_ack
        began = time.monotonic()
        half = BURST // 2
        ids = sim.socket.send_many("events_api", bodies[:half])
        ts_of.update({i: b["event"]["ts"] for i, b in zip(ids, bodies[:half], strict=True)})
        # Slack asks for a refresh mid-burst: the app connects anew and loses nothing.
        sim.socket.disconnect("refresh_requested")
        second = sim.socket.wait_for_connection(after=first.id)
        more = sim.socket.send_many("events_api", bodies[half:])
        ts_of.update({i: b["event"]["ts"] for i, b in zip(more, bodies[half:], strict=True)})
        ids += more
        sim.socket.wait_for(lambda s: all(i in s.acks for i in more), timeout=30)
        # Envelopes the old connection got but whose acks it could not send come again.
        sim.socket.redeliver_unacked()
        sim.socket.wait_for(lambda s: all(i in s.acks for i in ids), timeout=30)
        elapsed = time.monotonic() - began
        sim.socket.on_ack = None
        assert early == []
        assert elapsed < 20, f"1,000 envelopes took {elapsed:.1f}s"
        assert second.state == "open" and first.state == "closed"  # the old one was closed by the app
        assert messages(engine) == sorted((b["event"]["ts"], b["event"]["text"]) for b in bodies)

        # A redelivery (the first ack lost on the way) is acked again and recorded once.
        sim.socket.resend(ids[7])
        again = sim.socket.wait_for_ack(ids[7])
        assert again.payload is None
        assert sim.socket.envelopes[ids[7]].retry_attempt >= 1
        assert len(messages(engine)) == BURST

        assert health(scribe.port) == (200, {"ok": True, "database": "ok", "socket_mode": "connected"})

        # Interactivity: a button opens a modal; a bad submission's errors travel in the ack.
        sim.player.click("U0BOB", "C0INC", action_id=fb.ADD, value="1", block_id="followup_add:1")
        assert sim.socket.wait_for_ack(sim.interactive()).payload is None
        opened = sim.api.wait_for(lambda api: api.calls_to("views.open"))
        assert opened[0].params["view"]["callback_id"] == fb.ADD_VIEW
        view_id = next(iter(sim.api.views))
        owner = {"owner": {"type": "users_select", "selected_user": "U0ANN"}}
        sim.player.submit_view("U0BOB", callback_id=fb.ADD_VIEW, view_id=view_id,
                               values={"text": "Alert on socket silence", "owner": owner, "due": "frday"})
        refused = sim.socket.wait_for_ack(sim.interactive())
        assert refused.payload is not None and refused.payload["response_action"] == "errors"
        assert refused.payload["errors"]["due"].startswith("'frday' is not a due date I understand")
        in_a_month = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()  # scribe run keeps real time
        sim.player.submit_view("U0BOB", callback_id=fb.ADD_VIEW, view_id=view_id,
                               values={"text": "Alert on socket silence", "owner": owner, "due": in_a_month})
        assert sim.socket.wait_for_ack(sim.interactive()).payload is None
        with engine.connect() as connection:
            assert connection.execute(select(ActionItem.text)).scalars().all() == ["Alert on socket silence"]

        # SIGTERM: a clean exit 0, the socket closed with a close frame, nothing logged as a failure.
        assert scribe.process is not None
        scribe.process.send_signal(signal.SIGTERM)
        assert scribe.process.wait(15) == 0
        sim.socket.wait_for(lambda s: all(c.state == "closed" for c in s.connections), timeout=5)
        log_text = scribe.log_path.read_text()
        assert "Traceback" not in log_text and "ERROR" not in log_text, log_text[-3000:]
        assert APP_TOKEN not in log_text and BOT_TOKEN not in log_text
    finally:
        scribe.stop()
        engine.dispose()


def test_kill_9_mid_burst_then_redelivery_records_every_message_once(database_url: str, sim: Slack, tmp_path: Path) -> None:
    scribe = socket_scribe(database_url, sim, tmp_path).start()
    engine = make_engine(database_url)
    try:
        assert sim.socket.wait_for_ack(sim.command("start Socket burst")).payload is not None
        bodies = [sim.message_body(f"killed burst {i}") for i in range(BURST)]
        acked = {"n": 0}
        killed = threading.Event()

        def kill_at_250(ack: Ack) -> None:
            acked["n"] += 1
            if acked["n"] == 250 and not killed.is_set():
                killed.set()
                assert scribe.process is not None
                scribe.process.send_signal(signal.SIGKILL)

        sim.socket.on_ack = kill_at_250
        ids = sim.socket.send_many("events_api", bodies)
        assert killed.wait(20)
        assert scribe.process is not None
        scribe.process.wait(10)
        sim.socket.on_ack = None
        first_unacked = sim.socket.unacked()
        assert 0 < len(first_unacked) < BURST - 249

        restarted = socket_scribe(database_url, sim, tmp_path)
        restarted.start()
        scribe = restarted
        # Slack sends what was never acked again, to the new connection.
        sim.socket.redeliver_unacked()
        sim.socket.wait_for(lambda s: all(i in s.acks for i in ids), timeout=30)
        assert all(sim.socket.envelopes[i].retry_attempt == 1 for i in first_unacked)
        assert messages(engine) == sorted((b["event"]["ts"], b["event"]["text"]) for b in bodies)  # all, once each
    finally:
        scribe.stop()
        engine.dispose()


def test_a_connection_dead_without_close_frame_is_replaced_within_5s_without_spinning(
    database_url: str, sim: Slack, tmp_path: Path,
) -> None:
    scribe = socket_scribe(database_url, sim, tmp_path).start()
    try:
        assert sim.socket.wait_for_ack(sim.command("start Dead link")).payload is not None
        assert scribe.process is not None
        pid = scribe.process.pid
        dead = sim.socket.kill_connection()  # silent: no close frame, no pongs, no reads
        cpu_before, went_dead = cpu_seconds(pid), time.monotonic()
        # Someone types a command meanwhile; Slack holds it for the next connection.
        note = sim.command("note typed while the link was dead")
        replacement = sim.socket.wait_for_connection(after=dead.id, timeout=8)
        noticed = time.monotonic() - went_dead
        cpu_used = cpu_seconds(pid) - cpu_before
        assert noticed < 5.0, f"the dead connection was replaced after {noticed:.1f}s"
        assert cpu_used < 0.5 * noticed, f"{cpu_used:.2f}s of CPU in {noticed:.1f}s"
        answered = sim.socket.wait_for_ack(note, timeout=5)
        assert answered.connection_id == replacement.id
        assert answered.payload == {"text": ":memo: *Note* recorded: typed while the link was dead", "response_type": "in_channel"}
        assert answered.at - went_dead < 6.0
        assert [a.envelope_id for a in sim.socket.ack_log].count(note) == 1
        assert health(scribe.port) == (200, {"ok": True, "database": "ok", "socket_mode": "connected"})
        engine = make_engine(database_url)
        with engine.connect() as connection:
            notes = connection.execute(select(TimelineEntry.text).where(TimelineEntry.kind == "note")).scalars().all()
        engine.dispose()
        assert notes == ["typed while the link was dead"]
        print(f"dead link replaced after {noticed:.2f}s, {cpu_used:.3f}s CPU meanwhile")
    finally:
        scribe.stop()


def test_a_refused_app_token_stops_scribe_run_with_a_clear_message(database_url: str, sim: Slack, tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.test_process_faults import ROOT

    scribe = socket_scribe(database_url, sim, tmp_path)
    env = {**scribe.env, "SLACK_APP_TOKEN": "xapp-1-A0SIM-1-not-the-app-token", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "bot.cli", "run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().endswith(
        "Incident Scribe stopped: Slack refused SLACK_APP_TOKEN (invalid_auth): use the app-level token (xapp-…) "
        "with connections:write from Basic Information → App-Level Tokens.")
    assert "not-the-app-token" not in result.stderr + result.stdout
    assert sim.api.calls_to("apps.connections.open")[-1].response["error"] == "invalid_auth"
