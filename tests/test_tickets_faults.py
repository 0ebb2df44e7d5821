"""Tracker faults through the real app: each one is one plain line to the person who asked,
the item always exists, retries are bounded, nothing is created twice (a lost answer, a
process that died mid-create, two processes), and tokens never reach the logs."""

from __future__ import annotations

import base64
import logging
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.db import make_engine, make_session_factory
from bot.models import ItemTicket, OutboxItem
from bot.outbox import kinds, store
from bot.services import tickets
from bot.simulator.records import Fault
from tests.conftest import cmd
from tests.ticket_helpers import JIRA_EMAIL, JIRA_TOKEN, item_of, routes, rows, run_due, start_tracked_app, ticket_of, told

POST = "POST /rest/api/3/issue"
AGAIN = " Once that is fixed, press *Create in Jira* on `/incident actions` to try again."


@pytest.fixture
def japp(database_url, slack, clock, trackers):  # type: ignore[no-untyped-def]
    running = start_tracked_app(database_url, slack, clock, trackers, default="jira")
    yield running
    running.stop()


def _start_and_add(app) -> None:  # type: ignore[no-untyped-def]
    cmd(app, "start Checkout errors")
    body = cmd(app, "action Add pool saturation alert <@U0BOB|bob>")
    assert body["text"].startswith(":clipboard: *Action item #1* for <@U0BOB>")  # the item is recorded whatever the tracker says


@pytest.mark.parametrize(
    ("fault", "kind", "line"),
    [
        (Fault(status=401), "auth", "Jira refused the token (401): Client must be authenticated to access this resource. "
                                    "An admin needs to renew JIRA_API_TOKEN." + AGAIN),
        (Fault(status=403), "auth", "Jira refused access (403): You do not have permission to do this. The token's account "
                                    "needs permission to do this in project OPS." + AGAIN),
        (Fault(status=400, error="project: valid project is required"), "not_found",
         "Jira could not find project OPS (400): project: valid project is required." + AGAIN),
        (Fault(status=400, error="duedate: Field 'duedate' cannot be set. It is not on the appropriate screen, or unknown."),
         "invalid", "Jira refused the ticket (400): duedate: Field 'duedate' cannot be set. It is not on the appropriate "
                    "screen, or unknown." + AGAIN),
    ],
)
def test_a_refusal_is_told_at_once_and_not_retried(japp, trackers, caplog, fault, kind, line) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    trackers.jira.inject(POST, fault)
    _start_and_add(japp)
    assert told(japp) == [f":warning: Action item #1 is saved, but its Jira ticket wasn't created: {line}"]
    ticket = ticket_of(japp)
    assert (ticket.state, ticket.last_error_kind, ticket.ticket_key) == ("failed", kind, None)
    [row] = rows(japp, kinds.TICKET_CREATE)
    assert (row.status, row.attempts) == ("failed", 1)
    assert run_due(japp).sent == 0  # nothing left to retry
    assert len(trackers.jira.calls_to(POST)) == 1 and trackers.jira.issues == {}
    assert item_of(japp).status == "open"
    # The list says so and offers the button again.
    listed = cmd(japp, "actions")
    assert "· Jira ticket not created" in listed["text"]
    assert any(e["action_id"] == "ticket_create:jira" for b in listed["blocks"] if b["type"] == "actions" for e in b["elements"])
    basic = base64.b64encode(f"{JIRA_EMAIL}:{JIRA_TOKEN}".encode()).decode()
    assert JIRA_TOKEN not in caplog.text and basic not in caplog.text
    assert all(JIRA_TOKEN not in (r.last_error or "") for r in rows(japp, kinds.TICKET_CREATE))

    # Fixed, and pressed again: made once.
    japp.player.click("U0ANN", "C0INC", action_id="ticket_create:jira", value="1", block_id="followup:1")
    assert ticket_of(japp).ticket_key == "OPS-1"
    assert told(japp)[-1] == f":ticket: Action item #1 is now Jira <{trackers.jira.base_url}/browse/OPS-1|OPS-1>."


def test_down_then_back_is_retried_with_backoff_and_told_twice(japp, trackers, clock) -> None:  # type: ignore[no-untyped-def]
    trackers.jira.inject(POST, Fault(status=503))
    _start_and_add(japp)
    assert told(japp) == [":warning: Action item #1 is saved, but its Jira ticket wasn't created: Jira is not answering (503): "
                          "Internal server error. I'll try again at 2026-11-23 10:01:00 UTC."]
    assert (ticket_of(japp).state, ticket_of(japp).last_error_kind) == ("creating", "unavailable")
    assert "· Jira ticket on its way" in cmd(japp, "actions")["text"]
    assert run_due(japp).sent == 0  # not before the backoff
    clock.advance(seconds=61)
    run_due(japp)
    url = f"{trackers.jira.base_url}/browse/OPS-1"
    assert told(japp)[-1] == f":ticket: Jira <{url}|OPS-1> was made for action item #1 after all."
    assert (ticket_of(japp).state, ticket_of(japp).last_error) == ("ready", None)
    assert [c.status for c in trackers.jira.calls_to(POST)] == [503, 201]


def test_a_long_retry_after_is_honoured_and_a_short_one_waited_out(japp, trackers, clock) -> None:  # type: ignore[no-untyped-def]
    trackers.jira.inject(POST, Fault(status=429, retry_after=120))
    _start_and_add(japp)
    assert told(japp) == [":warning: Action item #1 is saved, but its Jira ticket wasn't created: Jira is rate limiting us (429); "
                          "it asks us to wait 120 s. I'll try again at 2026-11-23 10:02:00 UTC."]
    [row] = rows(japp, kinds.TICKET_CREATE)
    assert row.next_attempt_at == clock() + timedelta(seconds=120)
    clock.advance(seconds=119)
    assert run_due(japp).sent == 0
    trackers.jira.inject(POST, Fault(status=429, retry_after=5))  # the next one is short: waited out in the same try
    clock.advance(seconds=1)
    run_due(japp)
    assert japp.waits == [5]
    assert [c.status for c in trackers.jira.calls_to(POST)] == [429, 429, 201]
    assert len(trackers.jira.issues) == 1


def test_retries_are_bounded_then_the_person_is_told_once_more(japp, trackers, clock) -> None:  # type: ignore[no-untyped-def]
    from bot.ticket_sync.effects import CREATE_ATTEMPTS

    trackers.jira.inject(POST, *[Fault(status=502)] * CREATE_ATTEMPTS)
    _start_and_add(japp)
    for _ in range(CREATE_ATTEMPTS - 1):
        clock.advance(hours=1)
        run_due(japp)
    assert len(trackers.jira.calls_to(POST)) == CREATE_ATTEMPTS
    [row] = rows(japp, kinds.TICKET_CREATE)
    assert (row.status, row.attempts) == ("failed", CREATE_ATTEMPTS)
    assert told(japp)[-1] == (":warning: Action item #1 is saved, but its Jira ticket wasn't created: Jira is not answering (502): "
                              f"Internal server error. I gave up after {CREATE_ATTEMPTS} tries; press *Create in Jira* on "
                              "`/incident actions` to try again.")
    assert len(told(japp)) == 2  # the first failure and the last, nothing in between
    clock.advance(days=1)
    assert run_due(japp).sent == 0 and len(trackers.jira.calls_to(POST)) == CREATE_ATTEMPTS
    assert (ticket_of(japp).state, item_of(japp).status) == ("failed", "open")


def test_an_answer_lost_after_jira_created_the_ticket_is_found_by_its_marker(japp, trackers, clock) -> None:  # type: ignore[no-untyped-def]
    trackers.jira.inject(POST, Fault(status=500, after_serving=True))  # made, but the answer is a 500
    _start_and_add(japp)
    assert len(trackers.jira.issues) == 1
    assert ticket_of(japp).state == "creating"
    trackers.jira.clear_calls()
    clock.advance(seconds=61)
    assert run_due(japp).recovered == 1
    # Bob's account is remembered from the first try; the marker is found: no create.
    assert routes(trackers.jira) == ["GET /rest/api/3/search/jql"]
    assert len(trackers.jira.issues) == 1 and ticket_of(japp).ticket_key == "OPS-1"


def test_a_slow_create_that_timed_out_is_found_instead_of_made_again(japp, trackers, clock) -> None:  # type: ignore[no-untyped-def]
    trackers.jira.inject(POST, Fault(delay=1.0))  # longer than the 0.5 s timeout; Jira still makes it
    _start_and_add(japp)
    assert told(japp) == [":warning: Action item #1 is saved, but its Jira ticket wasn't created: Jira is not answering: no answer "
                          "within 0.5 s. I'll try again at 2026-11-23 10:01:00 UTC."]
    trackers.jira.wait_for(lambda sim: sim.issues)
    clock.advance(seconds=61)
    assert run_due(japp).recovered == 1
    assert len(trackers.jira.issues) == 1 and len(trackers.jira.calls_to(POST)) == 1
    assert told(japp)[-1] == f":ticket: Jira <{trackers.jira.base_url}/browse/OPS-1|OPS-1> was made for action item #1 after all."


@pytest.fixture
def quiet(database_url, slack, clock, trackers):  # type: ignore[no-untyped-def]
    """No default tracker: tickets are asked for below through a session factory the relay
    isn't attached to, so nothing starts by itself."""
    running = start_tracked_app(database_url, slack, clock, trackers, default=None)
    engine = make_engine(database_url)
    yield running, make_session_factory(engine)
    engine.dispose()
    running.stop()


def _ask(factory, app, clock, item_ids) -> None:  # type: ignore[no-untyped-def]
    with factory.begin() as s:
        for item_id in item_ids:
            tickets.request_create(s, item_id=item_id, team_id="T0SIM", user_id="U0ANN", tracker="jira", target=None,
                                   settings=app.settings, reply_to={}, now=clock())


def test_a_create_left_by_a_process_that_died_is_found_not_repeated(quiet, trackers, clock) -> None:  # type: ignore[no-untyped-def]
    app, factory = quiet
    cmd(app, "start Checkout errors")
    cmd(app, "action Add pool saturation alert")
    _ask(factory, app, clock, [1])
    relay = app.runtime.outbox
    handler = relay.handlers[kinds.TICKET_CREATE]
    # A process claims the row, the tracker makes the ticket, and the process dies before recording it.
    with factory.begin() as s:
        [claim] = store.claim_due(s, now=clock(), worker="dead-host:1", lease_of=relay.lease_of,
                                  shortest_lease=relay.shortest_lease, limit=10, kinds_wanted=[kinds.TICKET_CREATE])
        work = handler.prepare(s, s.get(OutboxItem, claim.id), now=clock())
    assert handler.perform(work, reclaimed_from=None).status == "sent"
    assert list(trackers.jira.issues) == ["OPS-1"] and ticket_of(app).state == "creating"

    assert relay.run_due().recovered == 0  # the claim stands until its lease runs out
    clock.advance(minutes=11)
    report = relay.run_due()
    assert report.recovered == 1
    assert len(trackers.jira.calls_to(POST)) == 1 and list(trackers.jira.issues) == ["OPS-1"]
    assert (ticket_of(app).state, ticket_of(app).ticket_key) == ("ready", "OPS-1")


def test_two_processes_make_each_ticket_once(quiet, database_url, slack, clock, trackers) -> None:  # type: ignore[no-untyped-def]
    app, factory = quiet
    other = start_tracked_app(database_url, slack, clock, trackers, default=None)
    try:
        cmd(app, "start Checkout errors")
        for n in range(8):
            cmd(app, f"action Follow-up number {n}")
        _ask(factory, app, clock, range(1, 9))
        go = threading.Barrier(2)

        def drain(relay) -> None:  # type: ignore[no-untyped-def]
            go.wait()
            relay.run_due()

        threads = [threading.Thread(target=drain, args=(r,)) for r in (app.runtime.outbox, other.runtime.outbox)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(trackers.jira.calls_to(POST)) == 8
        assert sorted(trackers.jira.issues) == sorted(f"OPS-{n}" for n in range(1, 9))
        with app.session_factory() as s:
            made = s.execute(select(ItemTicket.action_item_id, ItemTicket.state, ItemTicket.ticket_key)).all()
            done = s.scalars(select(OutboxItem.claimed_by).where(OutboxItem.kind == kinds.TICKET_CREATE, OutboxItem.status == "sent")).all()
        assert {state for _, state, _ in made} == {"ready"} and len({key for _, _, key in made}) == 8
        assert len(done) == 8
    finally:
        other.stop()
