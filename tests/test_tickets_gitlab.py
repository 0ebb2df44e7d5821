"""GitLab through the real app, as the other three trackers are: the workspace's default
tracker makes the ticket after the ack, and its webhook (X-Gitlab-Token) closes and reopens
the item; a delivery with the wrong token changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from bot.simulator.trackers import GitLabSimulator
from tests.conftest import Clock, cmd
from tests.ticket_helpers import (
    EMAILS,
    GITLAB_PROJECT,
    GITLAB_TOKEN,
    SECRETS,
    item_of,
    pending_reminders,
    routes,
    start_tracked_app,
    ticket_of,
    told,
)

SECRET = SECRETS["gitlab"]
REMINDERS = ["item:1:before_due:2026-11-30", "item:1:due:2026-12-01", "item:1:overdue:2026-12-03"]


@pytest.fixture
def gitlab(clock: Clock) -> Iterator[GitLabSimulator]:
    sim = GitLabSimulator(clock=lambda: clock().timestamp())
    sim.add_token(GITLAB_TOKEN, {GITLAB_PROJECT})
    sim.add_project(GITLAB_PROJECT)
    sim.add_user(7, "bob-stone", public_email=EMAILS["U0BOB"], member_of=GITLAB_PROJECT)
    with sim:
        yield sim


@pytest.fixture
def glapp(database_url, slack, clock, trackers, gitlab):  # type: ignore[no-untyped-def]
    """The app with GitLab as the workspace's tracker (the other three connected too)."""
    running = start_tracked_app(database_url, slack, clock, replace(trackers, gitlab=gitlab), default="gitlab")
    yield running
    running.stop()


def hook_url(app) -> str:  # type: ignore[no-untyped-def]
    return f"http://127.0.0.1:{app.runtime.server.port}/trackers/gitlab/webhook"


def test_gitlab_as_the_default_makes_the_ticket_and_its_webhook_closes_and_reopens_the_item(glapp, gitlab, trackers, clock) -> None:  # type: ignore[no-untyped-def]
    cmd(glapp, "start Checkout errors sev2")
    body = cmd(glapp, "action Add pool saturation alert <@U0BOB|bob> due 2026-12-01 p1")
    assert body["text"].startswith(":clipboard: *Action item #1* (p1) for <@U0BOB>, due Tue 2026-12-01: Add pool saturation alert"
                                   " · GitLab ticket on its way")

    # Bob's account by his public email, the marker looked for, then the one create; no other tracker asked.
    assert routes(gitlab) == ["GET /users", "GET /projects/:id/issues", "POST /projects/:id/issues"]
    assert all(routes(sim) == [] for sim in trackers.all())
    ticket = ticket_of(glapp)
    [create] = gitlab.calls_to("POST /projects/:id/issues")
    assert create.path == "/api/v4/projects/acme%2Fplatform%2Fops/issues"
    assert create.body["title"] == "Add pool saturation alert"
    assert create.body["labels"] == f"incident-scribe,inc-1,sev2,priority:p1,{ticket.marker}"
    assert (create.body["due_date"], create.body["assignee_ids"]) == ("2026-12-01", [7])
    assert "[Incident page](https://scribe.acme.test/incidents/INC-1)" in create.body["description"]
    url = f"{gitlab.base_url}/{GITLAB_PROJECT}/-/issues/1"
    assert (ticket.state, ticket.ticket_key, ticket.url, ticket.status) == ("ready", f"{GITLAB_PROJECT}#1", url, "open")
    assert told(glapp) == []
    assert pending_reminders(glapp) == REMINDERS

    gitlab.subscribe(hook_url(glapp), SECRET)
    clock.advance(minutes=5)
    gitlab.close(GITLAB_PROJECT, 1)
    assert [w.status for w in gitlab.sent_webhooks] == [200]
    item = item_of(glapp)
    assert (ticket_of(glapp).status, ticket_of(glapp).status_name, item.status, item.closed_at) == ("done", "Closed", "done", clock())
    assert pending_reminders(glapp) == []
    assert f"· done · GitLab <{url}|{GITLAB_PROJECT}#1> (Closed)" in cmd(glapp, "actions")["text"]

    clock.advance(minutes=5)
    gitlab.reopen(GITLAB_PROJECT, 1)
    assert (item_of(glapp).status, item_of(glapp).closed_at, ticket_of(glapp).status_name) == ("open", None, "Open")
    assert pending_reminders(glapp) == REMINDERS


def test_a_gitlab_delivery_without_the_right_token_changes_nothing(glapp, gitlab, clock) -> None:  # type: ignore[no-untyped-def]
    cmd(glapp, "start Checkout errors sev2")
    cmd(glapp, "action Add pool saturation alert <@U0BOB|bob> due 2026-12-01")
    gitlab.subscribe(hook_url(glapp), "not-the-secret-token")
    clock.advance(minutes=5)
    gitlab.close(GITLAB_PROJECT, 1)
    assert [w.status for w in gitlab.sent_webhooks] == [401]
    body, headers = gitlab.webhook(GITLAB_PROJECT, 1, "close", None)
    assert httpx.post(hook_url(glapp), content=body, headers=headers).status_code == 401
    assert (item_of(glapp).status, ticket_of(glapp).status) == ("open", "open")
    assert pending_reminders(glapp) == REMINDERS
