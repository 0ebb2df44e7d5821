"""Linear adapter against the Linear simulator (GraphQL validated by graphql-core against a
subset of Linear's schema) over real HTTP."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bot.simulator.clock import FakeClock
from bot.simulator.records import Fault
from bot.simulator.trackers import LinearSimulator
from bot.trackers import LinearTracker, MemoryReplayStore, TicketRef, TrackerError, WebhookRefused, ensure_ticket, marker_uuid, verify_linear
from tests.tracker_helpers import FAST, START, FakeSleep, WebhookReceiver, assert_clean, aware, full_spec

KEY = "lin_api_0123456789abcdefSECRET"
SECRET = "lin_wh_secret_0123456789"
# Workflow states named by the team; only their types mean anything.
STATES = [("Inbox", "triage"), ("Someday", "backlog"), ("Next up", "unstarted"), ("On it", "started"),
          ("Landed", "completed"), ("Dropped", "canceled"), ("Same as", "duplicate")]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


def _populate(sim: LinearSimulator) -> None:
    sim.add_user("user-ana", "ana@acme.test", "Ana Lima")
    sim.add_user("user-bo", "bo@acme.test", "Bo Chen")
    sim.add_user("user-gone", "gone@acme.test", "Gone", active=False)
    sim.add_api_key(KEY, "user-ana")
    sim.add_team("ENG", STATES)
    sim.add_label("sev1")  # a workspace label that already exists


@pytest.fixture
def linear(clock: FakeClock) -> Iterator[LinearSimulator]:
    sim = LinearSimulator(clock=clock)
    _populate(sim)
    with sim:
        yield sim


def tracker_for(sim: LinearSimulator, clock: FakeClock, sleep: FakeSleep | None = None, key: str = KEY) -> LinearTracker:
    return LinearTracker(api_key=key, api_url=sim.base_url, retry=FAST, clock=aware(clock), sleep=sleep or FakeSleep(clock))


def test_create_sends_every_field_with_the_marker_as_the_issue_id(linear: LinearSimulator, clock: FakeClock) -> None:
    spec = full_spec(assignee_id="user-bo")
    ticket = tracker_for(linear, clock).create(spec, "ENG")

    assert ticket.key == "ENG-1"
    assert ticket.url == "https://linear.app/acme/issue/ENG-1/add-a-disk-full-alert-on-the-primary"
    assert ticket.id == marker_uuid(spec.marker)
    [call] = linear.calls_to("issueCreate")
    sent = call.body["variables"]["input"]
    assert sent["id"] == marker_uuid(spec.marker)
    assert sent["teamId"] == linear.team_by_key("ENG")["id"]
    assert (sent["priority"], sent["dueDate"], sent["assigneeId"]) == (2, "2026-01-15", "user-bo")
    assert sent["description"].endswith(f"Priority: p1\n\nScribe marker: {spec.marker}\n")
    names = sorted(linear.labels[i]["name"] for i in sent["labelIds"])
    assert names == ["inc-7", "incident-scribe", "sev1"]
    # The existing workspace label is reused; the missing ones are made in the team, once.
    assert len(linear.calls_to("issueLabelCreate")) == 2
    tracker_for(linear, clock).create(full_spec(marker="scribe-two"), "ENG")
    assert sum(1 for label in linear.labels.values() if label["name"] == "inc-7") == 1


def test_a_lost_create_answer_is_found_by_id_and_not_made_twice(linear: LinearSimulator, clock: FakeClock) -> None:
    tracker = tracker_for(linear, clock)
    linear.inject("issueCreate", Fault(status=503, after_serving=True))
    with pytest.raises(TrackerError) as lost:
        ensure_ticket(tracker, full_spec(), "ENG")
    assert lost.value.kind == "unavailable"

    again = ensure_ticket(tracker, full_spec(), "ENG")

    assert (again.created, again.ticket.key) == (False, "ENG-1")
    assert len(linear.issues) == 1
    assert len(linear.calls_to("issueCreate")) == 1
    # A create sent again with the same id would be refused by Linear, not duplicated.
    with pytest.raises(TrackerError) as twice:
        tracker.create(full_spec(), "ENG")
    assert twice.value.kind == "invalid"
    assert len(linear.issues) == 1


def test_email_maps_to_an_active_user(linear: LinearSimulator, clock: FakeClock) -> None:
    tracker = tracker_for(linear, clock)
    assert tracker.find_user_by_email("BO@acme.test", "ENG") == "user-bo"
    assert tracker.find_user_by_email("gone@acme.test", "ENG") is None
    assert tracker.find_user_by_email("nobody@acme.test", "ENG") is None


def test_state_type_decides_whatever_the_state_is_called(linear: LinearSimulator, clock: FakeClock) -> None:
    tracker = tracker_for(linear, clock)
    ref = tracker.create(full_spec(), "ENG").ref
    expected = {"Inbox": "open", "Someday": "open", "Next up": "open", "On it": "open", "Landed": "done",
                "Dropped": "wontfix", "Same as": "wontfix"}
    seen = {}
    for name in expected:
        linear.move("ENG-1", name)
        state = tracker.fetch(ref)
        seen[state.status_name] = state.status
    assert seen == expected
    linear.assign("ENG-1", "user-bo")
    assert (tracker.fetch(ref).assignee_id, tracker.fetch(ref).assignee_email) == ("user-bo", "bo@acme.test")


@pytest.mark.parametrize(
    ("fault", "kind", "message"),
    [
        (Fault(status=401), "auth", "Linear refused the token (401): You need to authenticate to access this operation. "
                                    "An admin needs to renew LINEAR_API_KEY."),
        (Fault(status=403), "auth", "Linear refused access (403): You don't have permission to do this. The token's "
                                    "account needs permission to do this in team ENG."),
        (Fault(status=400, error="dueDate must be a date"), "invalid",
         "Linear refused the ticket (400): dueDate must be a date."),
        (Fault(status=429, retry_after=12), "rate_limited", "Linear is rate limiting us (429); it asks us to wait 12 s."),
        (Fault(status=500), "unavailable", "Linear is not answering (500): Something went wrong."),
        (Fault(status=404, error="Entity not found: Team"), "not_found",
         "Linear could not find team ENG: Could not find referenced Team."),
    ],
)
def test_each_fault_is_one_plain_sentence_without_the_key(
        linear: LinearSimulator, clock: FakeClock, fault: Fault, kind: str, message: str,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    tracker = tracker_for(linear, clock)
    tracker.create(full_spec(marker="scribe-warm"), "ENG")  # team and labels are cached now
    linear.inject("issueCreate", fault)
    with pytest.raises(TrackerError) as caught:
        tracker.create(full_spec(), "ENG")
    assert (caught.value.kind, str(caught.value)) == (kind, message)
    assert len(linear.calls_to("issueCreate")) == 2
    assert_clean(caught.value, KEY)
    assert KEY not in caplog.text


def test_a_bad_key_and_a_gone_team_and_a_gone_issue(linear: LinearSimulator, clock: FakeClock) -> None:
    with pytest.raises(TrackerError) as caught:
        tracker_for(linear, clock, key="lin_api_revoked_000000").fetch(TicketRef("linear", "ENG-1"))
    assert caught.value.kind == "auth"
    assert_clean(caught.value, "lin_api_revoked_000000")
    tracker = tracker_for(linear, clock)
    with pytest.raises(TrackerError) as caught:
        tracker.create(full_spec(), "OPS")
    assert (caught.value.kind, str(caught.value)) == ("not_found", "Linear could not find team OPS: no team with the key OPS.")
    with pytest.raises(TrackerError) as caught:
        tracker.fetch(TicketRef("linear", "ENG-77"))
    assert (caught.value.kind, str(caught.value)) == (
        "not_found", "Linear could not find issue ENG-77 (400): Could not find referenced Issue.")


def test_the_schema_refuses_what_linear_refuses(linear: LinearSimulator) -> None:
    url = linear.base_url
    unknown = httpx.post(url, headers={"Authorization": KEY}, json={"query": "{ issues { nodes { id severity } } }"})
    assert unknown.status_code == 400
    [error] = unknown.json()["errors"]
    assert error["message"].startswith("Cannot query field 'severity' on type 'Issue'.")
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    no_team = httpx.post(url, headers={"Authorization": KEY}, json={
        "query": "mutation($i: IssueCreateInput!) { issueCreate(input: $i) { success } }", "variables": {"i": {"title": "x"}}})
    assert no_team.status_code == 400
    assert "teamId" in no_team.json()["errors"][0]["message"]
    bearer_key = httpx.post(url, headers={"Authorization": f"Bearer {KEY}"}, json={"query": "{ viewer { id } }"})
    assert bearer_key.json()["errors"][0]["extensions"]["code"] == "AUTHENTICATION_ERROR"


def test_the_request_budget_answers_ratelimited_with_linears_headers(clock: FakeClock) -> None:
    sim = LinearSimulator(clock=clock, rate_limit=3, rate_window=10)
    _populate(sim)
    with sim:
        sleep = FakeSleep(clock)
        tracker = tracker_for(sim, clock, sleep)
        for _ in range(3):
            assert tracker.find_user_by_email("ana@acme.test", "ENG") == "user-ana"
        assert tracker.http.rate_limit.remaining == 0
        assert tracker.http.rate_limit.reset_at == datetime.fromtimestamp(START + 10, UTC)
        assert tracker.find_user_by_email("ana@acme.test", "ENG") == "user-ana"  # waited out the reset
        assert sleep.calls == [10.0]
        refused = [c for c in sim.calls if c.status == 400]
        assert refused[0].response["errors"][0]["extensions"]["code"] == "RATELIMITED"


def test_changed_since_pages_through_the_team(linear: LinearSimulator, clock: FakeClock) -> None:
    tracker = tracker_for(linear, clock)
    since = datetime.fromtimestamp(clock(), UTC)
    for n in range(120):
        tracker.create(full_spec(marker=f"scribe-{n}", title=f"Item {n}"), "ENG")
    clock.advance(90)
    linear.move("ENG-5", "Landed")
    states = tracker.changed_since(since, "ENG")
    assert len(states) == 120
    assert (states[-1].ref.key, states[-1].status) == ("ENG-5", "done")
    assert len(linear.calls_to("issues")) >= 2
    assert [s.ref.key for s in tracker.changed_since(since + timedelta(seconds=60), "ENG")] == ["ENG-5"]


def test_linear_webhooks_verify_and_refuse(linear: LinearSimulator, clock: FakeClock) -> None:
    tracker_for(linear, clock).create(full_spec(), "ENG")
    store = MemoryReplayStore()
    now = aware(clock)
    states = []

    def endpoint(headers: dict[str, str], body: bytes) -> int:
        try:
            delivery = verify_linear(headers, body, secret=SECRET, now=now(), replay=store)
        except WebhookRefused as refused:
            return refused.http_status
        states.extend(delivery.states)
        return 200

    with WebhookReceiver(endpoint) as receiver:
        linear.subscribe(receiver.url, SECRET)
        linear.move("ENG-1", "Landed")
        linear.move("ENG-1", "On it")
        linear.assign("ENG-1", "user-bo")
    assert [(s.status, s.status_name, s.assignee_id) for s in states] == [
        ("done", "Landed", None), ("open", "On it", None), ("open", "On it", "user-bo")]

    body, headers = linear.webhook("ENG-1", SECRET, delivery_id="8f1c7b50-0000-4000-8000-000000000001")
    with pytest.raises(WebhookRefused) as caught:
        verify_linear({k: v for k, v in headers.items() if k != "Linear-Signature"}, body, secret=SECRET, now=now())
    assert caught.value.reason == "unsigned"
    with pytest.raises(WebhookRefused) as caught:
        verify_linear({**headers, "Linear-Signature": "0" * 64}, body, secret=SECRET, now=now())
    assert caught.value.reason == "bad_signature"
    with pytest.raises(WebhookRefused) as caught:  # Linear's own SDK allows one minute
        verify_linear(headers, body, secret=SECRET, now=now() + timedelta(seconds=61))
    assert (caught.value.reason, caught.value.http_status) == ("stale", 400)
    assert verify_linear(headers, body, secret=SECRET, now=now() + timedelta(seconds=59), replay=store).states
    with pytest.raises(WebhookRefused) as caught:
        verify_linear(headers, body, secret=SECRET, now=now(), replay=store)
    assert caught.value.reason == "replayed"
