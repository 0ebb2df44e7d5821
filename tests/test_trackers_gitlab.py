"""GitLab adapter against the GitLab simulator over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.simulator.clock import FakeClock
from bot.simulator.records import Fault
from bot.simulator.trackers import GitLabSimulator
from bot.trackers import GitLabTracker, MemoryReplayStore, TicketRef, TrackerError, WebhookRefused, ensure_ticket, verify_gitlab
from tests.tracker_helpers import FAST, START, FakeSleep, WebhookReceiver, assert_clean, aware, full_spec

TOKEN = "glpat-0123456789SECRETabc"
SECRET = "gitlab-webhook-token-0123"
PROJECT = "acme/platform/ops"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def gitlab(clock: FakeClock) -> Iterator[GitLabSimulator]:
    sim = GitLabSimulator(clock=clock)
    sim.add_token(TOKEN, {PROJECT})
    sim.add_project(PROJECT)
    sim.add_project("acme/secret")
    sim.add_user(7, "ana", public_email="ana@acme.test", member_of=PROJECT)
    with sim:
        yield sim


def tracker_for(sim: GitLabSimulator, clock: FakeClock, sleep: FakeSleep | None = None) -> GitLabTracker:
    return GitLabTracker(token=TOKEN, base_url=sim.base_url, retry=FAST, clock=aware(clock), sleep=sleep or FakeSleep(clock))


def test_create_with_every_field_then_find_it_again(gitlab: GitLabSimulator, clock: FakeClock) -> None:
    tracker = tracker_for(gitlab, clock)
    spec = full_spec()
    gitlab.inject("POST /projects/:id/issues", Fault(status=500, after_serving=True))
    with pytest.raises(TrackerError):
        ensure_ticket(tracker, spec, PROJECT, owner_email="ana@acme.test")
    again = ensure_ticket(tracker, spec, PROJECT, owner_email="ana@acme.test")

    assert (again.created, again.assignee_matched, again.ticket.key) == (False, True, "acme/platform/ops#1")
    assert again.ticket.url == f"{gitlab.base_url}/acme/platform/ops/-/issues/1"
    [call] = gitlab.calls_to("POST /projects/:id/issues")
    assert call.path == "/api/v4/projects/acme%2Fplatform%2Fops/issues"
    assert call.body["labels"] == f"incident-scribe,inc-7,sev1,priority:p1,{spec.marker}"
    assert (call.body["due_date"], call.body["assignee_ids"]) == ("2026-01-15", [7])
    assert call.body["description"].endswith(f"<!-- {spec.marker} -->\n")
    assert len(gitlab.projects[PROJECT].issues) == 1


def test_closed_is_done_and_reopened_is_open(gitlab: GitLabSimulator, clock: FakeClock) -> None:
    tracker = tracker_for(gitlab, clock)
    ref = tracker.create(full_spec(), PROJECT).ref
    assert tracker.fetch(ref).status == "open"
    clock.advance(30)
    gitlab.close(PROJECT, 1)
    assert (tracker.fetch(ref).status, tracker.fetch(ref).status_name) == ("done", "Closed")
    states = tracker.changed_since(datetime.fromtimestamp(START + 10, UTC), PROJECT)
    assert [(s.ref.key, s.status) for s in states] == [("acme/platform/ops#1", "done")]
    gitlab.reopen(PROJECT, 1)
    assert tracker.fetch(ref).status == "open"


@pytest.mark.parametrize(
    ("fault", "kind", "message"),
    [
        (Fault(status=401), "auth", "GitLab refused the token (401): 401 Unauthorized. An admin needs to renew GITLAB_TOKEN."),
        (Fault(status=404), "not_found", "GitLab could not find project acme/platform/ops (404): 404 Project Not Found."),
        (Fault(status=400, error="is not a valid label"), "invalid", "GitLab refused the ticket (400): base is not a valid label."),
        (Fault(status=429, retry_after=30), "rate_limited", "GitLab is rate limiting us (429); it asks us to wait 30 s."),
    ],
)
def test_faults(gitlab: GitLabSimulator, clock: FakeClock, fault: Fault, kind: str, message: str) -> None:
    gitlab.inject("POST /projects/:id/issues", fault)
    with pytest.raises(TrackerError) as caught:
        tracker_for(gitlab, clock).create(full_spec(), PROJECT)
    assert (caught.value.kind, str(caught.value)) == (kind, message)
    assert_clean(caught.value, TOKEN)


def test_a_project_the_token_cannot_see_is_not_found(gitlab: GitLabSimulator, clock: FakeClock) -> None:
    with pytest.raises(TrackerError) as caught:
        tracker_for(gitlab, clock).fetch(TicketRef("gitlab", "acme/secret#1"))
    assert caught.value.kind == "not_found"


def test_the_simulator_refuses_what_gitlab_refuses(gitlab: GitLabSimulator) -> None:
    import httpx

    url = f"{gitlab.base_url}/api/v4/projects/acme%2Fplatform%2Fops/issues"
    untitled = httpx.post(url, headers={"PRIVATE-TOKEN": TOKEN}, json={"description": "x"})
    assert (untitled.status_code, untitled.json()) == (400, {"error": "title is missing"})
    bad_date = httpx.post(url, headers={"PRIVATE-TOKEN": TOKEN}, json={"title": "x", "due_date": "soon"})
    assert (bad_date.status_code, bad_date.json()) == (400, {"error": "due_date is invalid"})
    stranger = httpx.post(url, headers={"PRIVATE-TOKEN": "glpat-wrong"}, json={"title": "x"})
    assert (stranger.status_code, stranger.json()) == (401, {"message": "401 Unauthorized"})
    assert gitlab.projects[PROJECT].issues == []


def test_gitlab_webhooks_need_the_token(gitlab: GitLabSimulator, clock: FakeClock) -> None:
    tracker_for(gitlab, clock).create(full_spec(), PROJECT)
    store = MemoryReplayStore()
    now = aware(clock)
    states = []

    def endpoint(headers: dict[str, str], body: bytes) -> int:
        try:
            states.extend(verify_gitlab(headers, body, secret=SECRET, now=now(), replay=store).states)
        except WebhookRefused as refused:
            return refused.http_status
        return 200

    with WebhookReceiver(endpoint) as receiver:
        gitlab.subscribe(receiver.url, SECRET)
        gitlab.close(PROJECT, 1)
        gitlab.subscribe(receiver.url, "a-wrong-token-value")
        gitlab.reopen(PROJECT, 1)
    assert [(s.status, s.ref.key) for s in states] == [("done", "acme/platform/ops#1"), ("open", "acme/platform/ops#1")]
    assert [w.status for w in gitlab.sent_webhooks] == [200, 200, 401]
    body, headers = gitlab.webhook(PROJECT, 1, "update", None)
    with pytest.raises(WebhookRefused) as caught:
        verify_gitlab(headers, body, secret=SECRET, now=now())
    assert caught.value.reason == "unsigned"
    with pytest.raises(WebhookRefused) as caught:
        verify_gitlab({**headers, "X-Gitlab-Token": SECRET}, body, secret=SECRET, now=now() + timedelta(hours=3))
    assert caught.value.reason == "stale"
