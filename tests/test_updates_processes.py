"""Two real `scribe run` processes on one PostgreSQL: a nudge that falls due is posted once in total.

PostgreSQL only (SQLite is one process's database), like tests/test_followups_processes.py:
the incident is declared in the past, so its nudges are already due when the processes start.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.db import make_engine, make_session_factory
from bot.models import Incident, Reminder
from bot.services import updates
from tests.conftest import SIGNING_SECRET, _truncate_postgres
from tests.test_followups_processes import ROOT, free_port

pytestmark = pytest.mark.skipif(not os.environ.get("SCRIBE_TEST_DATABASE_URL"), reason="needs PostgreSQL (SCRIBE_TEST_DATABASE_URL)")
UTC = timezone.utc


def test_two_scribe_run_processes_post_each_nudge_once(postgres_database, slack, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _truncate_postgres(postgres_database)
    slack.workspace.add_channel("C0NUDGE", name="inc-nudge")
    slack.workspace.add_channel("C0SENTINEL", name="inc-sentinel")
    factory = make_session_factory(make_engine(postgres_database))
    declared = datetime.now(UTC) - timedelta(hours=2)
    with factory.begin() as s:
        incident = Incident(team_id="TSIM", channel_id="C0NUDGE", title="Checkout down", severity="sev1", created_by="U0ANN", declared_at=declared)
        s.add(incident)
        s.flush()
        planned = updates.sync_nudges(s, incident, settings=Settings())
    # Both due long ago (no lead after 10 min, no update after 30); the idle one is a day off.
    assert [p.kind for p in planned if p.due_at < declared + timedelta(hours=1)] == ["nudge_lead", "nudge_update"]

    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCRIBE_", "DATABASE_URL"))}
    env.update(
        SLACK_BOT_TOKEN=slack.workspace.bot_token, SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=slack.base_url,
        DATABASE_URL=postgres_database, SCRIBE_SCHEDULER="true", SCRIBE_SCHEDULER_POLL_SECONDS="0.2", SCRIBE_WORKERS="4",
    )
    processes = [
        subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], cwd=tmp_path, env={**env, "PORT": str(free_port()), "PYTHONPATH": str(ROOT)},
                         stdout=subprocess.DEVNULL, stderr=open(tmp_path / f"scribe-{n}.log", "w"))
        for n in range(2)
    ]

    def sent_rows(_api: object) -> int:
        with factory() as s:
            return len(s.scalars(select(Reminder.id).where(Reminder.status == "sent")).all())

    try:
        slack.wait_for(lambda api: sent_rows(api) >= 2, timeout=60)
        # Sentinels planned afterwards: once both are out, each process has polled again since,
        # and a second copy of a nudge would have shown by now.
        for n in range(2):
            with factory.begin() as s:
                sentinel = Incident(team_id="TSIM", channel_id="C0SENTINEL", title=f"Sentinel {n}", created_by="U0ANN",
                                    declared_at=datetime.now(UTC), closed_at=datetime.now(UTC))
                s.add(sentinel)
                s.flush()
                s.add(Reminder(incident_id=sentinel.id, kind="review", dedupe_key=f"review:{sentinel.id}:7",
                               due_at=datetime.now(UTC) - timedelta(seconds=1), status="pending", attempts=0))
            slack.wait_for(lambda api: sent_rows(api) >= 3 + n, timeout=30)
    finally:
        for process in processes:
            process.send_signal(signal.SIGINT)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    logs = "\n".join((tmp_path / f"scribe-{n}.log").read_text() for n in range(2))
    problems = [line for line in logs.splitlines() if (" ERROR " in line or " CRITICAL " in line) and "Error submitting job" not in line]
    assert problems == [] and "Exception in thread" not in logs, logs[-3000:]

    posted = [c.response["message"]["text"] for c in slack.calls_to("chat.postMessage") if c.ok and c.response["channel"] == "C0NUDGE"]
    assert len(posted) == 2, posted
    assert Counter(text.split(" ", 1)[0] for text in posted) == Counter([":bust_in_silhouette:", ":loudspeaker:"])
    with factory() as s:
        rows = list(s.scalars(select(Reminder).where(Reminder.kind.in_(updates.NUDGE_KINDS))))
    assert sorted((r.kind, r.status) for r in rows if r.status != "cancelled") == [
        ("nudge_idle", "pending"), ("nudge_lead", "sent"), ("nudge_update", "pending"), ("nudge_update", "sent"),
    ]
    assert all(r.attempts == 1 for r in rows if r.status == "sent")
