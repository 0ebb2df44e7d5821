"""Two real `scribe run` processes on one PostgreSQL send every reminder exactly once in total.

PostgreSQL only (SQLite is one process's database): skipped unless SCRIBE_TEST_DATABASE_URL
is set. The processes poll every 0.2 s (SCRIBE_SCHEDULER_POLL_SECONDS) and the reminders
are planned in the past, so no clock control is needed inside them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.db import make_engine, make_session_factory
from bot.models import ActionItem, Incident, OutboxItem
from bot.services import followups
from tests.conftest import SIGNING_SECRET, _truncate_postgres

pytestmark = pytest.mark.skipif(not os.environ.get("SCRIBE_TEST_DATABASE_URL"), reason="needs PostgreSQL (SCRIBE_TEST_DATABASE_URL)")

ROOT = Path(__file__).resolve().parents[1]
UTC = UTC
OWNERS = [f"U0P{n:03d}" for n in range(30)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def plan_in_the_past(session_factory, channel: str, title: str) -> int:  # type: ignore[no-untyped-def]
    """An incident whose items' reminders all fell due days ago; returns the incident id."""
    now = datetime.now(UTC)
    planned_at = now - timedelta(days=10)
    cadence = followups.Cadence()
    with session_factory.begin() as s:
        incident = Incident(team_id="TSIM", channel_id=channel, title=title, created_by=OWNERS[0], declared_at=planned_at)
        s.add(incident)
        s.flush()
        for owner in OWNERS:
            item = ActionItem(
                incident_id=incident.id, text=f"Follow up {owner}", owner_id=owner, created_by=OWNERS[0],
                due_date=(now - timedelta(days=4)).date(), status="open", created_at=planned_at,
            )
            s.add(item)
            s.flush()
            followups.sync_item(s, item, owner_tz=UTC, cadence=cadence, now=planned_at)
        followups.sync_digest(s, incident, zone=UTC, cadence=cadence, now=planned_at)
        return incident.id


def test_two_scribe_run_processes_send_each_reminder_once(postgres_database, slack, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _truncate_postgres(postgres_database)
    for owner in OWNERS:
        slack.workspace.add_user(owner, name=owner.lower(), tz="UTC")
    slack.workspace.add_channel("C0TWO", name="inc-two")
    slack.workspace.add_channel("C0SENTINEL", name="inc-sentinel")
    factory = make_session_factory(make_engine(postgres_database))
    plan_in_the_past(factory, "C0TWO", "Two processes")

    processes = start_scribe_runs(slack, postgres_database, tmp_path)
    try:
        expected = len(OWNERS) + 1  # one DM per item (the latest that fell due) and one digest

        def sent_rows(_api: object) -> int:
            with factory() as s:
                return len(s.scalars(select(OutboxItem.id).where(OutboxItem.status == "sent")).all())

        slack.wait_for(lambda api: sent_rows(api) >= expected, timeout=60)
        send_sentinels(factory, slack, lambda: sent_rows(None), expected)
    finally:
        stop_and_check_logs(processes, tmp_path)

    posted = [c.response["channel"] for c in slack.calls_to("chat.postMessage") if c.ok]
    assert Counter(posted) == Counter([f"D{o}" for o in OWNERS] + ["C0TWO", "C0SENTINEL", "C0SENTINEL"])
    for owner in OWNERS:
        assert len(slack.workspace.messages(f"D{owner}")) == 1
    with factory() as s:
        rows = list(s.scalars(select(OutboxItem)))
    sent = [r for r in rows if r.status == "sent"]
    assert len(sent) == expected + 2
    assert all(r.attempts == 1 for r in sent)
    workers = Counter(r.claimed_by.rsplit(":", 2)[1] for r in sent)  # pid of the sender
    assert len(workers) in (1, 2), workers
    print("reminders sent per process:", dict(workers))


def start_scribe_runs(slack, database_url: str, tmp_path: Path, count: int = 2) -> list[subprocess.Popen]:  # type: ignore[no-untyped-def, type-arg]
    """`count` real `scribe run` processes on one database, polling for due reminders every 0.2 s."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCRIBE_", "DATABASE_URL"))}
    env.update(
        SLACK_BOT_TOKEN=slack.workspace.bot_token,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.base_url,
        DATABASE_URL=database_url,
        SCRIBE_SCHEDULER="true",
        SCRIBE_SCHEDULER_POLL_SECONDS="0.2",
        SCRIBE_WORKERS="4",
    )
    processes = []
    for n in range(count):
        with open(tmp_path / f"scribe-{n}.log", "w") as log:  # the process writes through its own copy
            processes.append(subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], cwd=tmp_path,
                                              env={**env, "PORT": str(free_port()), "PYTHONPATH": str(ROOT)},
                                              stdout=subprocess.DEVNULL, stderr=log))
    return processes


def send_sentinels(factory, slack, sent_rows, already: int) -> None:  # type: ignore[no-untyped-def]
    """Sentinels planned after the first wave: once they are out, both processes have polled
    again since, and a duplicate of the first wave would have shown by now."""
    for n in range(2):
        with factory.begin() as s:
            incident = Incident(team_id="TSIM", channel_id="C0SENTINEL", title=f"Sentinel {n}", created_by=OWNERS[0],
                                declared_at=datetime.now(UTC), closed_at=datetime.now(UTC))
            s.add(incident)
            s.flush()
            s.add(OutboxItem(incident_id=incident.id, kind="review", dedupe_key=f"review:{incident.id}:7",
                           due_at=datetime.now(UTC) - timedelta(seconds=1), status="pending", attempts=0))
        slack.wait_for(lambda api, n=n: sent_rows() >= already + n + 1, timeout=30)


def stop_and_check_logs(processes: list[subprocess.Popen], tmp_path: Path) -> None:  # type: ignore[type-arg]
    """Stop the processes as Ctrl-C does and check neither logged an error."""
    for process in processes:
        process.send_signal(signal.SIGINT)  # `scribe run` stops cleanly on Ctrl-C
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    logs = "\n".join((tmp_path / f"scribe-{n}.log").read_text() for n in range(len(processes)))
    # APScheduler 3 may log "Error submitting job" when a tick races its own shutdown; harmless.
    problems = [line for line in logs.splitlines() if (" ERROR " in line or " CRITICAL " in line) and "Error submitting job" not in line]
    assert problems == [] and "Exception in thread" not in logs, logs[-3000:]
