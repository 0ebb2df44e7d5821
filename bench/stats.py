"""The *stats* rows: `/incident stats last 365d`'s service call over 10,000 incidents with
20,000 action items, on SQLite and PostgreSQL.                           target: < 1 s
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any

from bench.harness import SENDER_IDS, TEAM_ID, Bench, BenchmarkError, Row, log_progress


def stats_size(quick: bool) -> int:
    return 500 if quick else 10_000


def seed_incidents(session_factory: Any, *, count: int, now: datetime) -> None:
    """`count` incidents spread over the last year (all severities, most with every milestone),
    two action items each, and a postmortem for every other one: bulk inserts."""
    from datetime import date, timedelta

    from sqlalchemy import insert

    from bot.models import ActionItem, Incident, Postmortem

    severities = ("sev1", "sev2", "sev3", "sev4", None)
    incidents, items, postmortems = [], [], []
    for n in range(1, count + 1):
        started = now - timedelta(days=365) + timedelta(minutes=(n * 52_560) // count)  # evenly over a year
        detected = started + timedelta(minutes=n % 45 + 1)
        incidents.append(dict(
            id=n, team_id=TEAM_ID, channel_id=f"C{n:08d}", channel_name=f"inc-{n}", title=f"Benchmark incident {n}",
            severity=severities[n % 5], created_by="U0ANN", declared_at=started, started_at=started, detected_at=detected,
            mitigated_at=detected + timedelta(minutes=n % 90 + 5) if n % 7 else None,
            resolved_at=detected + timedelta(minutes=n % 240 + 30) if n % 11 else None, closed_at=detected + timedelta(days=1),
        ))
        for k in range(2):
            done = (n + k) % 3 == 0
            items.append(dict(
                incident_id=n, text=f"follow-up {k}", owner_id=SENDER_IDS[k], created_by="U0ANN",
                due_date=(started + timedelta(days=14)).date() if k == 0 else date(2099, 1, 1), status="done" if done else "open",
                created_at=detected, closed_at=detected + timedelta(days=(n % 20) + 1) if done else None,
            ))
        if n % 2 == 0:
            postmortems.append(dict(incident_id=n, status=("draft", "in_review", "final")[n % 3], updated_at=now))
    with session_factory.begin() as session:
        session.execute(insert(Incident), incidents)
        session.execute(insert(ActionItem), items)
        session.execute(insert(Postmortem), postmortems)


def measure_stats(session_factory: Any, *, now: datetime) -> tuple[float, Any]:
    """Seconds for `/incident stats last 365d`'s service call (both periods, all three queries)."""
    from bot.insights.stats import parse_period
    from bot.services.stats import incident_stats

    with session_factory() as session:
        began = time.perf_counter()
        stats = incident_stats(session, team_id=TEAM_ID, period=parse_period("last 365d", now), severity=None, now=now)
        return time.perf_counter() - began, stats


def stats_rows(bench: Bench, backend: str) -> list[Row]:
    from bot.db import make_engine, make_session_factory, upgrade

    count = stats_size(bench.quick)
    row = Row(f"stats {count:,} incidents {backend}", "s", limit=1.0)
    try:
        with ExitStack() as stack:
            database_url = bench.sqlite_url("stats") if backend == "sqlite" else stack.enter_context(bench.postgres_database())
            upgrade(database_url)
            engine = make_engine(database_url)
            stack.callback(engine.dispose)
            factory = make_session_factory(engine)
            now = datetime.now(UTC)
            seed_incidents(factory, count=count, now=now)
            for _ in range(bench.runs):
                seconds, stats = measure_stats(factory, now=now)
                if stats.total != count:
                    raise BenchmarkError(f"stats counted {stats.total} incidents of {count}")
                row.values.append(seconds)
    except Exception as error:  # sqlalchemy.exc.OperationalError: PostgreSQL not reachable
        if backend != "sqlite" and type(error).__module__.startswith("sqlalchemy"):
            row.note = f"not measured: database unavailable ({type(error).__name__})"
            return [row]
        raise
    log_progress(f"stats {backend}", {row.name: row})
    return [row]
