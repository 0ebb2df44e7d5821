"""Smoke tests of the benchmark's building blocks at tiny sizes, so CI notices when the
benchmark breaks. No timing is asserted here: that is what `make bench` is for."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench import harness
from bench import run as bench_run
from bench.draft import draft_rows, measure_draft, seed_incident
from bench.harness import Bench, Row, Traffic, count_entries, percentile, render_table, send_all, send_at_rate
from bench.reminders import reminder_rows
from bench.stats import measure_stats, seed_incidents, stats_rows
from tests.conftest import SIGNING_SECRET


def test_percentile_is_nearest_rank() -> None:
    samples = [float(n) for n in range(1, 101)]  # 1..100
    assert percentile(samples, 0.50) == 50.0
    assert percentile(samples, 0.99) == 99.0
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0


def test_rows_hold_their_targets_and_render_as_markdown() -> None:
    latency = Row("ack events p99 @50", "ms", [80.0, 120.0, 90.0], limit=100.0)
    ratio = Row("ingest sqlite: ours / floor", "x", [0.65, 0.72, 0.71], limit=0.7, higher_is_better=True)
    memory = Row("memory", "MB", [151.0, 149.0, 152.0], limit=150.0)
    missing = Row("reminders", "x", note="not available on this branch")
    assert (latency.median, latency.met) == (90.0, True)
    assert (ratio.median, ratio.met) == (0.71, True)
    assert (memory.median, memory.met) == (151.0, False)
    assert missing.met is None
    lines = render_table([latency, ratio, memory, missing]).splitlines()
    cells = [[cell.strip() for cell in line.split("|")[1:-1]] for line in lines]
    assert cells[0] == ["benchmark", "median", "min", "max", "runs", "target", "met"]
    assert set(lines[1]) == {"|", "-"}
    assert cells[2] == ["ack events p99 @50", "90.0 ms", "80.0 ms", "120.0 ms", "3", "< 100.0 ms", "yes"]
    assert cells[3] == ["ingest sqlite: ours / floor", "0.71", "0.65", "0.72", "3", ">= 0.70", "yes"]
    assert cells[4] == ["memory", "151.0 MB", "149.0 MB", "152.0 MB", "3", "< 150.0 MB", "**NO**"]
    assert cells[5] == ["reminders", "not available on this branch", "", "", "0", "", ""]
    assert len({len(line) for line in lines}) == 1  # columns line up


def test_a_row_without_measurements_misses_its_target() -> None:
    assert Row("ingest postgresql: ours / floor", "x", limit=0.7, higher_is_better=True).met is False


def test_arguments() -> None:
    args = bench_run.parse_args(["--quick", "--only", "draft"])
    assert (args.quick, args.only, args.runs) == (True, ["draft"], 1)
    assert bench_run.parse_args([]).runs == 3
    with pytest.raises(SystemExit):
        bench_run.parse_args(["--postgres-url", "postgresql+psycopg://postgres@db.example.com/test"])
    with pytest.raises(SystemExit):
        bench_run.parse_args(["--only", "nonsense"])


def test_draft_of_a_seeded_incident(session_factory) -> None:  # type: ignore[no-untyped-def]
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    incident_id = seed_incident(session_factory, messages=30, now=now)
    seconds, markdown = measure_draft(session_factory, incident_id, now=now)
    assert seconds > 0
    assert "Checkout latency spike" in markdown
    # The last seeded message (n=29) is in the drafted timeline.
    assert "trying rollback step 29" in markdown
    # Drafted by the service, as /incident postmortem does: the version is stored.
    from sqlalchemy import select

    from bot.models import PostmortemVersion

    with session_factory() as session:
        assert list(session.scalars(select(PostmortemVersion.version).where(PostmortemVersion.incident_id == incident_id))) == [1]


def test_draft_rows_at_quick_size(tmp_path: Path) -> None:
    bench = Bench(workdir=tmp_path, runs=1, quick=True, postgres_url=harness.DEFAULT_POSTGRES_URL)
    (row,) = draft_rows(bench)
    assert row.name == "draft 500 messages"
    assert len(row.values) == 1 and row.limit == 1.0


def test_reminder_rows_report_time_and_ratio_held_to_the_target(tmp_path: Path) -> None:
    seconds, ratio = reminder_rows(Bench(workdir=tmp_path, runs=1, quick=True, postgres_url=""))
    assert (seconds.name, ratio.name) == ("reminders 100 due at once", "reminders 100 due at once: time / floor")
    assert (ratio.limit, ratio.higher_is_better, ratio.target) == (1.5, False, "< 1.50")
    assert len(seconds.values) == len(ratio.values) == 1 and ratio.values[0] > 0


def test_load_generator_sends_signed_events_and_commands_that_are_all_recorded(app, database_url) -> None:  # type: ignore[no-untyped-def]
    assert app.player.command("U0ANN", "C0INC", "start Checkout errors").status == 200
    traffic = Traffic(app.api.workspace, app.api, SIGNING_SECRET)
    messages = send_all(app.runtime.url, traffic.messages(["C0INC"], 40), concurrency=8)
    notes = send_all(app.runtime.url, traffic.notes("C0INC", 10), concurrency=4)
    assert (len(messages.latencies), messages.failures) == (40, [])
    assert (len(notes.latencies), notes.failures) == (10, [])
    assert count_entries(database_url, kind="message", channel_ids=["C0INC"]) == 40
    assert count_entries(database_url, kind="note", channel_ids=["C0INC"]) == 10


def test_load_at_a_rate_sends_on_a_timetable_until_told_to_stop(app, database_url) -> None:  # type: ignore[no-untyped-def]
    assert app.player.command("U0ANN", "C0INC", "start Checkout errors").status == 200
    traffic = Traffic(app.api.workspace, app.api, SIGNING_SECRET)
    stopped = send_at_rate(app.runtime.url, traffic.messages(["C0INC"], 5), per_second=100, until=lambda elapsed: True)
    assert (stopped.latencies, stopped.failures) == ([], [])  # asked to stop before the first send
    result = send_at_rate(app.runtime.url, traffic.messages(["C0INC"], 12), per_second=100)
    assert (len(result.latencies), result.failures) == (12, [])
    assert result.seconds >= 0.11  # the 12th was sent 11/100 s after the first
    assert count_entries(database_url, kind="message", channel_ids=["C0INC"]) == 12


def test_wrongly_signed_requests_count_as_failures(app) -> None:  # type: ignore[no-untyped-def]
    traffic = Traffic(app.api.workspace, app.api, "not-the-signing-secret")
    result = send_all(app.runtime.url, traffic.messages(["C0INC"], 3), concurrency=2)
    assert (result.latencies, sorted(result.failures)) == ([], ["HTTP 401"] * 3)


def test_scribe_run_subprocess_records_every_message(tmp_path: Path) -> None:
    """The path `make bench` takes: `scribe run` as a subprocess, found healthy, fed, stopped."""
    with ExitStack() as stack:
        bench = Bench(workdir=tmp_path, runs=1, quick=True, postgres_url="")
        database_url = bench.sqlite_url("smoke")
        channels = [harness.channel_id(0), harness.channel_id(1)]
        api = stack.enter_context(harness.fake_slack(len(channels)))
        server = stack.enter_context(bench.scribe("scribe-smoke", database_url=database_url, api=api))
        traffic = Traffic(api.workspace, api, bench.signing_secret)
        harness.open_incidents(server, traffic, channels)
        result = send_all(server.url, traffic.messages(channels, 30), concurrency=5)
        harness.require_all_answered("smoke", result, 30, server)
        process = server.process
    assert process is not None and process.returncode is not None  # stopped on leaving
    harness.require_durable("smoke", database_url, kind="message", expected=30, channel_ids=channels)
    with pytest.raises(harness.BenchmarkError, match="writes were lost"):
        harness.require_durable("smoke", database_url, kind="message", expected=31, channel_ids=channels)


def test_socket_mode_rows_at_quick_size(tmp_path: Path) -> None:
    """`make bench`'s Socket Mode rows: a real `scribe run` and the floor, both over the simulator's socket."""
    from bench.socket_mode import socket_ack_rows, socket_ingest_rows

    bench = Bench(workdir=tmp_path, runs=1, quick=True, postgres_url="")
    rows = {row.name: row for row in socket_ack_rows(bench) + socket_ingest_rows(bench, "sqlite")}
    assert sorted(rows) == sorted([
        "socket ack events p50 @50 in flight", "socket ack events p99 @50 in flight",
        "socket ack commands p50 @50 in flight", "socket ack commands p99 @50 in flight",
        "socket ingest sqlite: ours", "socket ingest sqlite: do-nothing Bolt", "socket ingest sqlite: ours / floor",
    ])
    assert rows["socket ack events p99 @50 in flight"].limit == 100.0
    ratio = rows["socket ingest sqlite: ours / floor"]
    assert (ratio.limit, ratio.higher_is_better) == (0.7, True)
    # Each measured once; the durability checks inside would have raised on a lost write.
    assert all(len(row.values) == 1 and row.values[0] > 0 for row in rows.values())
def test_the_web_rows_seed_builds_incidents_and_a_long_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from bench.web import seed
    from bot.db import make_engine, upgrade
    from bot.models import Incident, TimelineEntry

    url = f"sqlite:///{tmp_path / 'web.db'}"
    upgrade(url)
    big = seed(url, incidents=30, messages=40, channels=5)
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Incident)).scalar_one() == 31
        assert conn.execute(select(func.count()).select_from(TimelineEntry).where(TimelineEntry.incident_id == big)).scalar_one() == 40
        assert conn.execute(select(func.count(func.distinct(Incident.channel_id)))).scalar_one() == 6
    engine.dispose()


def test_stats_of_seeded_incidents(session_factory) -> None:  # type: ignore[no-untyped-def]
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    seed_incidents(session_factory, count=50, now=now)
    seconds, stats = measure_stats(session_factory, now=now)
    assert seconds > 0
    assert stats.total == 50
    assert sum(stats.by_severity.values()) == 50
    assert stats.actions.total == 100
    assert stats.postmortems.final + stats.postmortems.drafted == 25


def test_stats_rows_at_quick_size(tmp_path: Path) -> None:
    bench = Bench(workdir=tmp_path, runs=1, quick=True, postgres_url=harness.DEFAULT_POSTGRES_URL)
    (row,) = stats_rows(bench, "sqlite")
    assert row.name == "stats 500 incidents sqlite"
    assert len(row.values) == 1 and row.limit == 1.0
    assert bench_run.parse_args(["--only", "stats"]).only == ["stats"]


def test_slow_call_coverage_is_the_share_of_the_window_with_a_slow_call_under_way() -> None:
    from bench.slow_slack import slow_call_coverage
    from bot.simulator import Fault, RecordedCall

    slow = Fault(delay=2.5)
    calls = [
        RecordedCall("conversations.join", {"channel": "C1"}, at=100.0, fault=slow),  # 100 to 102.5
        RecordedCall("users.info", {"user": "U9"}, at=102.0, fault=slow),  # 102 to 104.5, overlapping the join
        RecordedCall("chat.postMessage", {"channel": "C2"}, at=103.0),  # not slow
        RecordedCall("chat.postMessage", {"channel": "C1"}, at=106.0, fault=slow),  # 106 to 108.5, past the window's end
        RecordedCall("chat.postMessage", {"channel": "C1"}, at=95.0, fault=slow),  # 95 to 97.5, before it
        RecordedCall("users.info", {"user": "U8"}, at=104.0, fault=Fault(delay=1.0)),  # another fault
    ]
    coverage, overlapping = slow_call_coverage(calls, slow, (101.0, 107.0))
    # Under way from 101 to 104.5 and from 106 to 107: 4.5 s of 6.
    assert coverage == 0.75
    assert overlapping == {"conversations.join": 1, "users.info": 1, "chat.postMessage": 1}
    assert slow_call_coverage(calls, slow, (110.0, 120.0)) == (0.0, {})


def test_slow_slack_rows_machinery_at_quick_size(tmp_path: Path) -> None:
    """`make bench`'s slow-Slack rows at quick size on SQLite, in both modes: the other
    channels' requests are all acked and stored (checked inside), and the slow channel's
    calls were under way during the measured window. The target is the benchmark's business."""
    from bench.slow_slack import MIN_COVERAGE, MODES, measure_slow_slack, sizes

    bench = Bench(workdir=tmp_path, runs=1, quick=True, postgres_url="")
    size = sizes(quick=True)
    for mode in MODES:
        measured = measure_slow_slack(bench, mode=mode, database_url=bench.sqlite_url(f"slow-{mode}"))
        # A request every 1/20 s for 4 s, stopped at 4 s: up to 80 samples, all from other channels.
        assert 60 <= len(measured.latencies) <= size.min_window * size.per_second, mode
        assert all(latency > 0 for latency in measured.latencies)
        assert measured.coverage >= MIN_COVERAGE, mode
        assert {"conversations.join", "users.info"} <= set(measured.slow_calls), (mode, measured.slow_calls)
