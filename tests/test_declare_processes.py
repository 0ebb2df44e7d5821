"""Two real `scribe run` processes on one PostgreSQL each receive the same declare twice
(a double-clicked modal submit, and a duplicated slash command): one channel, one
announcement, one reply.

PostgreSQL only (SQLite is one process's database): skipped unless SCRIBE_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.db import make_engine, make_session_factory
from bot.models import Announcement, Declaration, Incident, OutboxItem
from bot.simulator import Fault
from bot.simulator.player import SlackPlayer
from tests.conftest import SIGNING_SECRET, _truncate_postgres
from tests.test_declare import bot_posts, modal_values, replies_to
from tests.test_process_faults import free_port, healthy

pytestmark = pytest.mark.skipif(not os.environ.get("SCRIBE_TEST_DATABASE_URL"), reason="needs PostgreSQL (SCRIBE_TEST_DATABASE_URL)")

ROOT = Path(__file__).resolve().parents[1]


def outbox_done(factory) -> bool:  # type: ignore[no-untyped-def]
    with factory() as s:
        return not s.scalars(select(OutboxItem.id).where(OutboxItem.status.in_(("pending", "sending")), OutboxItem.due_at <= datetime.now(UTC))).all()


@contextmanager
def two_processes(postgres_database: str, slack, tmp_path: Path) -> Iterator[tuple[list[SlackPlayer], Any]]:  # type: ignore[no-untyped-def]
    """Two real `scribe run` processes on one PostgreSQL and one simulated Slack: their players,
    and a session factory on the database. Afterwards, neither logged an error."""
    _truncate_postgres(postgres_database)
    ws = slack.workspace
    ws.add_channel("C0GENERAL", name="general", members={"U0ANN", "U0BOB"})
    ws.add_channel("C0ANNOUNCE", name="incidents")
    factory = make_session_factory(make_engine(postgres_database))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCRIBE_", "DATABASE_URL"))}
    env.update(SLACK_BOT_TOKEN=ws.bot_token, SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=slack.base_url,
               DATABASE_URL=postgres_database, SCRIBE_SCHEDULER="false", SCRIBE_WORKERS="4", SCRIBE_ANNOUNCE_CHANNEL="#incidents",
               PYTHONPATH=str(ROOT))
    ports = [free_port(), free_port()]
    with ExitStack() as stack:  # the logs are closed once both processes have ended
        log_files = [stack.enter_context(open(tmp_path / f"scribe-{n}.log", "w")) for n in range(len(ports))]
        processes = [
            subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], cwd=tmp_path, env={**env, "PORT": str(port)},
                             stdout=subprocess.DEVNULL, stderr=log_file)
            for port, log_file in zip(ports, log_files, strict=True)
        ]
        try:
            deadline = time.monotonic() + 60
            while not all(healthy(p) for p in ports):
                assert time.monotonic() < deadline, "scribe run didn't come up"
                time.sleep(0.1)
            yield [SlackPlayer(ws, slack, app_url=f"http://127.0.0.1:{p}/slack/events", signing_secret=SIGNING_SECRET, timeout=20) for p in ports], factory
        finally:
            for process in processes:
                process.send_signal(signal.SIGINT)
            for process in processes:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
    logs = "\n".join((tmp_path / f"scribe-{n}.log").read_text() for n in range(2))
    assert [line for line in logs.splitlines() if " ERROR " in line or " CRITICAL " in line] == [], logs[-3000:]


def test_two_declares_of_one_title_on_two_processes_at_the_same_moment_each_get_their_own(postgres_database, slack, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Ann and Bob declare "Payments are failing" at the same moment, each through another process.
    Each gets a channel of their own (the title's name and -2), an incident, an announcement
    and a reply; nobody is told of an internal error, and nothing is left orphaned."""
    ws = slack.workspace
    # Slack takes a moment to create a channel, so both creates are under way at once.
    slack.inject_standing(Fault(delay=0.5), methods=("conversations.create",))
    with two_processes(postgres_database, slack, tmp_path) as (players, factory):
        day = datetime.now(UTC).strftime("%Y%m%d")
        with ThreadPoolExecutor(2) as pool:
            acks = list(pool.map(lambda pair: pair[0].command(pair[1], "C0GENERAL", "declare Payments are failing sev1"),
                                 [(players[0], "U0ANN"), (players[1], "U0BOB")]))
        assert [a.status for a in acks] == [200, 200]
        assert [a.json()["text"] for a in acks] == [":hourglass_flowing_sand: Declaring “Payments are failing”: creating its channel…"] * 2
        slack.wait_for(lambda a: replies_to(a, "U0ANN", "declared") and replies_to(a, "U0BOB", "declared"), timeout=30)
        slack.wait_for(lambda a: len(bot_posts(a, "C0ANNOUNCE")) == 2, timeout=30)

    base = f"inc-{day}-payments-are-failing"
    channels = {c.name: c for c in ws.channels.values() if c.name.startswith(base)}
    assert sorted(channels) == [base, f"{base}-2"]
    assert [c.response.get("error") for c in slack.calls_to("conversations.create")] == [None, None]
    with factory() as s:
        incidents = {i.channel_id: i for i in s.scalars(select(Incident))}
        assert sorted(incidents) == sorted(c.id for c in channels.values())
        leads = {channels_by_id.name: incidents[channels_by_id.id].role_holder("lead") for channels_by_id in channels.values()}
        assert sorted(s.scalars(select(Declaration.status)).all()) == ["done", "done"]
        assert len(s.scalars(select(Announcement)).all()) == 2
    # Each declarer leads, and is in, their own channel; each reply links it.
    assert sorted(leads.values()) == ["U0ANN", "U0BOB"]
    for name, lead in leads.items():
        assert lead in channels[name].members
        [reply] = replies_to(slack, lead, "declared")
        assert f"<#{channels[name].id}>" in reply
    assert not [e for e in slack.ephemerals if "internal error" in str(e["message"].get("text"))]


def test_two_processes_receiving_the_same_declare_make_one_incident(postgres_database, slack, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ws = slack.workspace
    with two_processes(postgres_database, slack, tmp_path) as (players, factory):
        day = datetime.now(UTC).strftime("%Y%m%d")
        # The modal, opened once, submitted twice to each process at the same moment.
        players[0].shortcut("U0ANN", callback_id="declare_incident")
        view_id = slack.wait_for(lambda a: a.calls_to("views.open"))[0].response["view"]["id"]
        values = modal_values("Checkout returns 502", severity="sev1", people=("U0BOB",))
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda p: p.submit_view("U0ANN", callback_id="declare_incident_modal", view_id=view_id, values=values),
                                    players + players))
        assert [a.status for a in answers] == [200] * 4

        # The same slash command (one trigger_id) reaching both processes.
        form = players[0].command_form("U0BOB", "C0GENERAL", "declare Search is slow sev3")
        with ThreadPoolExecutor(2) as pool:
            acks = list(pool.map(lambda p: p._post_form(form), players))
        assert [a.status for a in acks] == [200, 200]

        slack.wait_for(lambda a: len(replies_to(a, "U0ANN", "declared")) >= 1 and len(replies_to(a, "U0BOB", "declared")) >= 1, timeout=30)
        slack.wait_for(lambda a: len(bot_posts(a, "C0ANNOUNCE")) >= 2, timeout=30)
        # A second declare could only come from a second claim, refused when the requests came;
        # once both processes' outbox is done, nothing more can be posted.
        slack.wait_for(lambda a: outbox_done(factory), timeout=30)

    names = sorted(c.name for c in ws.channels.values() if c.name.startswith(f"inc-{day}"))
    assert names == [f"inc-{day}-checkout-returns-502", f"inc-{day}-search-is-slow"]
    assert len(slack.calls_to("conversations.create")) == 2
    assert len(bot_posts(slack, "C0ANNOUNCE")) == 2
    assert len(replies_to(slack, "U0ANN", "declared")) == 1
    assert len(replies_to(slack, "U0BOB", "declared")) == 1
    with factory() as s:
        assert len(s.scalars(select(Incident)).all()) == 2
        assert sorted(s.scalars(select(Declaration.status)).all()) == ["done", "done"]
        assert len(s.scalars(select(Announcement)).all()) == 2
