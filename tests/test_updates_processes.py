"""Two real `scribe run` processes on one PostgreSQL: a nudge that falls due is posted once in total.

PostgreSQL only (SQLite is one process's database), like tests/test_followups_processes.py:
the incident is declared in the past, so its nudges are already due when the processes start.
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.db import make_engine, make_session_factory
from bot.models import Incident, OutboxItem
from bot.services import updates
from tests.conftest import _truncate_postgres
from tests.test_followups_processes import send_sentinels, start_scribe_runs, stop_and_check_logs

pytestmark = pytest.mark.skipif(not os.environ.get("SCRIBE_TEST_DATABASE_URL"), reason="needs PostgreSQL (SCRIBE_TEST_DATABASE_URL)")
UTC = UTC


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

    processes = start_scribe_runs(slack, postgres_database, tmp_path)

    def sent_rows() -> int:
        with factory() as s:
            return len(s.scalars(select(OutboxItem.id).where(OutboxItem.status == "sent")).all())

    try:
        slack.wait_for(lambda api: sent_rows() >= 2, timeout=60)
        send_sentinels(factory, slack, sent_rows, 2)
    finally:
        stop_and_check_logs(processes, tmp_path)

    posted = [c.response["message"]["text"] for c in slack.calls_to("chat.postMessage") if c.ok and c.response["channel"] == "C0NUDGE"]
    assert len(posted) == 2, posted
    assert Counter(text.split(" ", 1)[0] for text in posted) == Counter([":bust_in_silhouette:", ":loudspeaker:"])
    with factory() as s:
        rows = list(s.scalars(select(OutboxItem).where(OutboxItem.kind.in_(updates.NUDGE_KINDS))))
    assert sorted((r.kind, r.status) for r in rows if r.status != "cancelled") == [
        ("nudge_idle", "pending"), ("nudge_lead", "sent"), ("nudge_update", "pending"), ("nudge_update", "sent"),
    ]
    assert all(r.attempts == 1 for r in rows if r.status == "sent")
