"""Everywhere an action item shows, its ticket shows with the status last read back: the
actions list, App Home, reminder DMs, the postmortem's table, the web page, `scribe export`
and the stats. Also: migration 0011 goes down and up, and a tracker call inside a
transaction trips the wire like a Slack call."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text

from bot.db import alembic_config, guard, normalise_url, upgrade
from bot.db.scratch import scratch_database
from bot.insights.stats import parse_period
from bot.models import Incident
from bot.services.export import export_incident
from bot.services.incidents import latest_incident
from bot.services.postmortem import latest_markdown
from bot.services.stats import incident_stats
from bot.trackers import JiraTracker
from tests.conftest import cmd
from tests.ticket_helpers import JIRA_EMAIL, JIRA_TOKEN, SECRETS, run_due, start_tracked_app, with_emails
from tests.tracker_helpers import full_spec
from tests.web_helpers import start_web_app

UTC = UTC
TRACKER_TABLES = {"item_tickets", "channel_trackers", "tracker_deliveries", "tracker_cursors", "tracker_people"}


@pytest.fixture
def web(database_url, slack, clock, trackers):  # type: ignore[no-untyped-def]
    """The app with Jira as the workspace's tracker, status by webhook."""
    running = start_tracked_app(database_url, slack, clock, trackers, default="jira")
    trackers.jira.subscribe(f"http://127.0.0.1:{running.runtime.server.port}/trackers/jira/webhook", SECRETS["jira"])
    yield running
    running.stop()


def test_the_web_page_shows_each_items_ticket(database_url, slack, clock, trackers) -> None:  # type: ignore[no-untyped-def]
    from bot.simulator.records import Fault
    from tests.test_web import signed_in

    clock.set(datetime.now(UTC))  # the sign-in's identity token is checked on the wall clock
    with_emails(slack)
    running = start_web_app(database_url, slack, clock=clock, trackers=trackers.settings("jira"))
    try:
        trackers.jira.subscribe(f"{running.settings.public_url}/trackers/jira/webhook", SECRETS["jira"])
        cmd(running, "start Checkout errors sev2")
        cmd(running, "action Add pool saturation alert <@U0BOB|bob>")
        clock.advance(seconds=1)
        trackers.jira.transition("OPS-1", "Cooking")
        trackers.jira.inject("POST /rest/api/3/issue", Fault(status=401))
        cmd(running, "action Write the runbook")
        page = signed_in(running).get("/incidents/INC-1")
        assert page.status == 200
        url = f"{trackers.jira.base_url}/browse/OPS-1"
        assert "<th>Ticket</th>" in page.text
        assert f'<td class="ticket">Jira <a href="{url}" rel="noopener noreferrer nofollow">OPS-1</a> (Cooking)</td>' in page.text
        assert '<td class="ticket">Jira: not created</td>' in page.text
    finally:
        running.stop()


def test_the_ticket_and_its_status_show_everywhere_the_item_does(web, trackers, clock) -> None:  # type: ignore[no-untyped-def]
    jira = trackers.jira
    cmd(web, "start Checkout errors sev2")
    cmd(web, "action Add pool saturation alert <@U0BOB|bob> due 2026-12-01 p1")
    clock.advance(minutes=1)
    jira.transition("OPS-1", "Cooking")
    url = f"{jira.base_url}/browse/OPS-1"
    phrase = f"Jira <{url}|OPS-1> (Cooking)"

    assert phrase in cmd(web, "actions", user="U0BOB")["text"]
    web.player.open_home("U0BOB")
    home = web.api.calls_to("views.publish")[-1].params["view"]
    assert any(phrase in (b.get("text") or {}).get("text", "") for b in home["blocks"])

    # Bob's reminder the day before, at 09:30 in New York.
    clock.set(datetime(2026, 11, 30, 14, 30, tzinfo=UTC))
    run_due(web)
    [dm] = [c for c in web.api.calls_to("chat.postMessage") if c.params.get("channel") == "U0BOB"]
    context = dm.params["blocks"][1]["elements"][0]["text"]
    assert context.endswith(f"· due Tue 2026-12-01 · p1 · {phrase}")

    with web.session_factory() as s:
        incident = latest_incident(s, channel_id="C0INC")
        exported = export_incident(s, incident)["action_items"][0]["ticket"]
        markdown = latest_markdown(s, incident, settings=web.settings, now=clock())
        stats = incident_stats(s, team_id="T0SIM", period=parse_period("last 30d", clock()), severity=None, now=clock())
    assert exported == {"tracker": "jira", "state": "ready", "key": "OPS-1", "url": url, "status": "open", "status_name": "Cooking",
                        "error": None}
    assert "| ID | Action | Owner | Due | Priority | Status | Ticket |" in markdown
    assert f"| 1 | Add pool saturation alert | bob | 2026-12-01 | p1 | Open | Jira [OPS-1]({url}) (Cooking) |" in markdown
    assert (stats.actions.total, stats.actions.open, stats.actions.in_tracker) == (1, 1, 1)

    # Shipped in Jira: the stats count it done, when Jira closed it (on time: before its due day ended).
    jira.transition("OPS-1", "Shipped")
    with web.session_factory() as s:
        stats = incident_stats(s, team_id="T0SIM", period=parse_period("last 30d", clock()), severity=None, now=clock())
        exported = export_incident(s, latest_incident(s, channel_id="C0INC"))["action_items"][0]
    assert (stats.actions.done, stats.actions.done_on_time, stats.actions.open) == (1, 1, 0)
    assert (exported["status"], exported["ticket"]["status_name"]) == ("done", "Shipped")
    from bot.insights.report import summary_lines

    lines = dict(summary_lines(stats))
    assert lines["Action items"] == "0 open, 0 overdue · 1 done, 1 on time, 0 late · median 7.2 days to done · 1 with a ticket in the tracker"


def test_a_tracker_call_inside_a_transaction_trips_the_wire(session_factory, trackers) -> None:  # type: ignore[no-untyped-def]
    tracker = JiraTracker(base_url=trackers.jira.base_url, email=JIRA_EMAIL, api_token=JIRA_TOKEN)
    with session_factory.begin() as session:
        session.get(Incident, 1)
        with pytest.raises(guard.NetworkCallInTransaction, match=r"^Jira was called while a database transaction is open"):
            tracker.create(full_spec(), "OPS")
    assert trackers.jira.calls == []  # it never reached Jira
    assert len(guard.take_refused()) == 1
    assert tracker.create(full_spec(), "OPS").key == "OPS-1"  # after commit it goes through
    tracker.close()


@contextmanager
def _fresh_database(tmp_path, database_url: str) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """An empty database of the backend under test, of its own (migrations change its schema)."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    with scratch_database(os.environ["SCRIBE_TEST_DATABASE_URL"], "scribe_migrations") as url:
        yield url


def test_0011_downgrades_and_upgrades(tmp_path, database_url) -> None:  # type: ignore[no-untyped-def]
    with _fresh_database(tmp_path, database_url) as url:
        upgrade(url)
        engine = create_engine(normalise_url(url))
        assert set(inspect(engine).get_table_names()) >= TRACKER_TABLES
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO outbox (kind, dedupe_key, due_at, status, attempts) VALUES "
                              "('tracker_poll', 'tracker_poll:jira:OPS', '2026-11-23 10:00:00', 'pending', 0), "
                              "('digest', 'digest:1:2026-11-30', '2026-11-30 09:30:00', 'pending', 0)"))
        engine.dispose()
        command.downgrade(alembic_config(url), "0010_web_sessions")
        engine = create_engine(normalise_url(url))
        assert not TRACKER_TABLES & set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            # Rows of the kinds 0011 brought are gone (the older code has no handler); the others stay.
            assert conn.execute(text("SELECT kind FROM outbox")).scalars().all() == ["digest"]
        engine.dispose()
        upgrade(url)
        engine = create_engine(normalise_url(url))
        columns = {c["name"] for c in inspect(engine).get_columns("item_tickets")}
        assert {"action_item_id", "tracker", "target", "ticket_key", "marker", "linked", "status", "tracker_updated_at",
                "last_error_kind"} <= columns
        assert inspect(engine).get_pk_constraint("tracker_deliveries")["constrained_columns"] == ["tracker", "delivery_id"]
        engine.dispose()
