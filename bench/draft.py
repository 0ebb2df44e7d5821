"""The *draft* row: loading an incident of 10,000 messages and drafting its postmortem with
the drafting service, as `/incident postmortem` does.                     target: < 1 s
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.harness import SENDER_IDS, TEAM_ID, Bench, BenchmarkError, Row, channel_id, log_progress


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
        now = datetime.now(UTC)
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
            measure_draft(factory, incident_id, now=datetime.now(UTC))
        path.write_text(profiler.output_html())
    finally:
        engine.dispose()
