"""Status read back through the real app: webhooks (verified, refused when unsigned, stale or
replayed) and polling (one process per target, Retry-After honoured), mapped by category
(custom workflows), reminders stopping and resuming, owners following the assignee."""

from __future__ import annotations

import threading
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from bot.models import OutboxItem, TrackerCursor
from bot.outbox import kinds
from bot.simulator.records import Fault
from tests.conftest import cmd
from tests.ticket_helpers import JIRA_ANN, REPO, SECRETS, item_of, pending_reminders, rows, run_due, start_tracked_app, ticket_of

REMINDERS = ["item:1:before_due:2026-11-30", "item:1:due:2026-12-01", "item:1:overdue:2026-12-03"]


def hook_url(app, name: str) -> str:  # type: ignore[no-untyped-def]
    return f"http://127.0.0.1:{app.runtime.server.port}/trackers/{name}/webhook"


def _app_with_item(database_url, slack, clock, trackers, default, *, webhooks=True, owner="<@U0BOB|bob>"):  # type: ignore[no-untyped-def]
    app = start_tracked_app(database_url, slack, clock, trackers, default=default, webhooks=webhooks)
    cmd(app, "start Checkout errors sev2")
    cmd(app, f"action Add pool saturation alert {owner} due 2026-12-01")
    assert ticket_of(app).state == "ready" and pending_reminders(app) == REMINDERS
    return app


@pytest.fixture
def gapp(database_url, slack, clock, trackers):  # type: ignore[no-untyped-def]
    app = _app_with_item(database_url, slack, clock, trackers, "github", owner="")
    trackers.github.subscribe(hook_url(app, "github"), SECRETS["github"])
    yield app
    app.stop()


def test_github_webhooks_close_reopen_and_close_as_not_planned(gapp, trackers, clock) -> None:  # type: ignore[no-untyped-def]
    github = trackers.github
    github.clear_calls()
    clock.advance(minutes=5)
    github.close(REPO, 1, "completed")
    assert [w.status for w in github.sent_webhooks] == [200]
    ticket, item = ticket_of(gapp), item_of(gapp)
    assert (ticket.status, ticket.status_name, item.status, item.closed_at) == ("done", "Closed as completed", "done", clock())
    assert pending_reminders(gapp) == []  # reminders stop
    assert "· done · GitHub <" in cmd(gapp, "actions")["text"] and "(Closed as completed)" in cmd(gapp, "actions")["text"]

    clock.advance(minutes=5)
    github.reopen(REPO, 1)
    assert (item_of(gapp).status, item_of(gapp).closed_at, ticket_of(gapp).status_name) == ("open", None, "Open")
    assert pending_reminders(gapp) == REMINDERS  # and resume

    clock.advance(minutes=5)
    github.close(REPO, 1, "not_planned")
    assert (item_of(gapp).status, ticket_of(gapp).status_name) == ("wontfix", "Closed as not planned")
    assert github.calls == []  # webhooks only: GitHub was never asked


def test_webhooks_unsigned_badly_signed_stale_or_replayed_change_nothing(gapp, trackers, clock) -> None:  # type: ignore[no-untyped-def]
    github, url = trackers.github, hook_url(gapp, "github")
    github.auto_webhooks = False
    clock.advance(minutes=5)
    github.close(REPO, 1, "completed")
    body, headers = github.webhook(REPO, 1, "closed", SECRETS["github"], delivery_id="delivery-1")
    unsigned = {k: v for k, v in headers.items() if not k.startswith("X-Hub-Signature")}
    answers = [
        httpx.post(url, content=body, headers=unsigned),
        httpx.post(url, content=body, headers={**headers, "X-Hub-Signature-256": "sha256=" + "0" * 64}),
        httpx.post(url, content=body + b" ", headers=headers),  # the body changed after signing
    ]
    assert [(a.status_code, a.text) for a in answers] == [
        (401, "GitHub delivery is not signed."),
        (401, "GitHub delivery's signature does not match."),
        (401, "GitHub delivery's signature does not match."),
    ]
    assert item_of(gapp).status == "open"

    good = httpx.post(url, content=body, headers=headers)
    assert (good.status_code, good.text) == (200, "1 state(s) received, 1 item(s) changed.")
    assert item_of(gapp).status == "done"
    replay = httpx.post(url, content=body, headers=headers)
    assert (replay.status_code, replay.text) == (200, "Delivery delivery-1 was already received.")

    # Reopened; then the old "closed" delivery again under a new id (GitHub doesn't sign the
    # id): older than the state we hold, it changes nothing.
    clock.advance(minutes=5)
    github.reopen(REPO, 1)
    reopened, reopened_headers = github.webhook(REPO, 1, "reopened", SECRETS["github"], delivery_id="delivery-2")
    assert httpx.post(url, content=reopened, headers=reopened_headers).status_code == 200
    assert item_of(gapp).status == "open"
    again = httpx.post(url, content=body, headers={**headers, "X-GitHub-Delivery": "delivery-3"})
    assert (again.status_code, again.text) == (200, "1 state(s) received, 0 item(s) changed.")
    assert item_of(gapp).status == "open" and pending_reminders(gapp) == REMINDERS

    clock.advance(hours=2)  # a delivery about a change two hours old is stale
    stale_body, stale_headers = github.webhook(REPO, 1, "reopened", SECRETS["github"], delivery_id="delivery-4")
    stale = httpx.post(url, content=stale_body, headers=stale_headers)
    assert stale.status_code == 400 and stale.text.startswith("GitHub delivery is about a change 7200 s old")
    assert httpx.post(hook_url(gapp, "gitlab"), content=b"{}").status_code == 404


def test_jira_custom_workflow_and_owner_change_by_webhook(database_url, slack, clock, trackers) -> None:  # type: ignore[no-untyped-def]
    app = _app_with_item(database_url, slack, clock, trackers, "jira")
    try:
        jira = trackers.jira
        jira.subscribe(hook_url(app, "jira"), SECRETS["jira"])
        clock.advance(minutes=1)
        jira.assign("OPS-1", JIRA_ANN)  # Ann's email is visible in Jira and known in Slack
        item = item_of(app)
        assert (item.owner_id, ticket_of(app).assignee_id) == ("U0ANN", JIRA_ANN)
        # Ann is in Berlin (UTC+1): her reminders at 09:30 her time.
        with app.session_factory() as s:
            due = s.scalars(select(OutboxItem.due_at).where(OutboxItem.dedupe_key == "item:1:due:2026-12-01",
                                                            OutboxItem.status == "pending")).one()
        assert due.hour == 8 and due.minute == 30

        clock.advance(minutes=1)
        jira.transition("OPS-1", "Cooking")  # in progress, whatever it is called
        assert (item_of(app).status, ticket_of(app).status_name) == ("open", "Cooking")
        clock.advance(minutes=1)
        jira.transition("OPS-1", "Shipped")  # the done category: done
        assert (item_of(app).status, ticket_of(app).status_name) == ("done", "Shipped")
        assert pending_reminders(app) == []
        clock.advance(minutes=1)
        jira.transition("OPS-1", "Shipped", resolution="Won't Do")
        assert (item_of(app).status, ticket_of(app).status_name) == ("wontfix", "Shipped (Won't Do)")
        clock.advance(minutes=1)
        jira.transition("OPS-1", "Icebox")
        assert item_of(app).status == "open" and len(pending_reminders(app)) == 3
        assert [w.status for w in jira.sent_webhooks] == [200] * 5
        # Unsigned and replayed deliveries, Jira's way.
        body, headers = jira.webhook("OPS-1", secret=SECRETS["jira"], delivery_id="jira-delivery-1")
        assert httpx.post(hook_url(app, "jira"), content=body, headers={k: v for k, v in headers.items() if k != "X-Hub-Signature"}).status_code == 401
        assert httpx.post(hook_url(app, "jira"), content=body, headers=headers).status_code == 200
        assert httpx.post(hook_url(app, "jira"), content=body, headers=headers).text == "Delivery jira-delivery-1 was already received."
    finally:
        app.stop()


def test_linear_webhooks_by_state_type_and_stale_ones_refused(database_url, slack, clock, trackers) -> None:  # type: ignore[no-untyped-def]
    app = _app_with_item(database_url, slack, clock, trackers, "linear")
    try:
        linear, url = trackers.linear, hook_url(app, "linear")
        linear.subscribe(url, SECRETS["linear"])
        clock.advance(minutes=1)
        linear.move("ENG-1", "Canceled")
        assert (item_of(app).status, ticket_of(app).status_name) == ("wontfix", "Canceled")
        clock.advance(minutes=1)
        linear.move("ENG-1", "Done")
        assert (item_of(app).status, ticket_of(app).status_name) == ("done", "Done")
        body, headers = linear.webhook("ENG-1", SECRETS["linear"], sent_at=clock().timestamp() - 61)
        stale = httpx.post(url, content=body, headers=headers)
        assert (stale.status_code, stale.text) == (400, "Linear delivery is 61 s old (at most 60 s).")
        unsigned = httpx.post(url, content=body, headers={k: v for k, v in headers.items() if k != "Linear-Signature"})
        assert (unsigned.status_code, unsigned.text) == (401, "Linear delivery is not signed.")
    finally:
        app.stop()


def test_github_assignee_maps_back_by_the_login_learned_from_an_email(database_url, slack, clock, trackers) -> None:  # type: ignore[no-untyped-def]
    app = _app_with_item(database_url, slack, clock, trackers, "github", owner="")  # Ann's: made assigned to ann-lee
    try:
        github = trackers.github
        github.subscribe(hook_url(app, "github"), SECRETS["github"])
        cmd(app, "action Second follow-up <@U0BOB|bob>")  # Bob's email is private on GitHub: unassigned
        assert ticket_of(app, 2).assignee_id is None
        clock.advance(minutes=1)
        github.assign(REPO, 2, "bob-stone")  # no email in GitHub's answer, and never learned: the owner stays
        assert item_of(app, 2).owner_id == "U0BOB"
        clock.advance(minutes=1)
        github.assign(REPO, 2, "ann-lee")  # learned when item #1 was made for Ann
        assert (item_of(app, 2).owner_id, ticket_of(app, 2).assignee_id) == ("U0ANN", "ann-lee")
    finally:
        app.stop()


@pytest.fixture
def polled(database_url, slack, clock, trackers):  # type: ignore[no-untyped-def]
    """Jira without a webhook secret: status comes back by polling."""
    app = _app_with_item(database_url, slack, clock, trackers, "jira", webhooks=False)
    yield app
    app.stop()


def _poll_row(app) -> OutboxItem:  # type: ignore[no-untyped-def]
    [row] = rows(app, kinds.TRACKER_POLL)
    return row


def _cursor(app) -> TrackerCursor:  # type: ignore[no-untyped-def]
    with app.session_factory() as s:
        return s.get(TrackerCursor, ("jira", "OPS"))


def test_polling_reads_status_by_category_and_reschedules_itself(polled, trackers, clock) -> None:  # type: ignore[no-untyped-def]
    jira, start = trackers.jira, clock()
    row = _poll_row(polled)
    assert (row.dedupe_key, row.status, row.due_at) == ("tracker_poll:jira:OPS", "pending", start + timedelta(seconds=300))
    assert _cursor(polled).since == start - timedelta(minutes=5)
    clock.advance(seconds=60)
    jira.transition("OPS-1", "Shipped")
    jira.clear_calls()
    assert run_due(polled).sent == 0  # not due yet
    assert jira.calls == []

    clock.advance(seconds=241)
    run_due(polled)
    [search] = jira.calls
    assert search.route == "GET /rest/api/3/search/jql"
    assert search.query["jql"] == ['project = "OPS" AND updated >= "-12m" ORDER BY updated ASC']
    assert (item_of(polled).status, ticket_of(polled).status_name) == ("done", "Shipped")
    assert pending_reminders(polled) == []
    row, cursor = _poll_row(polled), _cursor(polled)
    assert (row.status, row.due_at, row.attempts) == ("pending", clock() + timedelta(seconds=300), 0)
    assert (cursor.since, cursor.failures) == (start + timedelta(seconds=60), 0)

    clock.advance(seconds=10)
    jira.transition("OPS-1", "Icebox")  # reopened
    clock.advance(seconds=300)
    run_due(polled)
    assert item_of(polled).status == "open" and pending_reminders(polled) == REMINDERS


def test_polling_honours_retry_after_and_backs_off_while_down(polled, trackers, clock) -> None:  # type: ignore[no-untyped-def]
    jira = trackers.jira
    clock.advance(seconds=300)
    jira.inject("GET /rest/api/3/search/jql", Fault(status=429, retry_after=600))
    run_due(polled)
    assert (_cursor(polled).failures, _poll_row(polled).due_at) == (1, clock() + timedelta(seconds=600))
    assert _cursor(polled).last_error == "Jira is rate limiting us (429); it asks us to wait 600 s."

    polled_at = clock.advance(seconds=600)
    jira.inject("GET /rest/api/3/search/jql", Fault(status=503), Fault(status=503))  # down: both tries fail
    run_due(polled)
    assert polled.waits == [0.1]  # the read was tried twice, 0.1 s apart (RetryPolicy)
    # Backing off: the interval doubled for each failure in a row (300 s · 2²).
    assert (_cursor(polled).failures, _poll_row(polled).due_at) == (2, polled_at + timedelta(seconds=1200))

    polled_at = clock.advance(seconds=1200)
    jira.inject("GET /rest/api/3/search/jql", Fault(status=429, retry_after=10))  # short: waited out in the poll
    run_due(polled)
    assert polled.waits == [0.1, 10]
    assert (_cursor(polled).failures, _poll_row(polled).due_at) == (0, polled_at + timedelta(seconds=300))


def test_one_process_polls_a_target_at_a_time(polled, database_url, slack, clock, trackers) -> None:  # type: ignore[no-untyped-def]
    other = start_tracked_app(database_url, slack, clock, trackers, default="jira", webhooks=False)
    try:
        trackers.jira.clear_calls()
        clock.advance(seconds=300)
        go = threading.Barrier(2)

        def poll(app) -> None:  # type: ignore[no-untyped-def]
            go.wait()
            app.runtime.outbox.run_due()

        threads = [threading.Thread(target=poll, args=(app,)) for app in (polled, other)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert [c.route for c in trackers.jira.calls] == ["GET /rest/api/3/search/jql"]
        assert _poll_row(polled).status == "pending"
    finally:
        other.stop()
