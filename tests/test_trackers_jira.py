"""Jira adapter against the Jira simulator over real HTTP: Cloud (v3, ADF, Basic) and
Data Center (v2, wiki text, Bearer PAT)."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.simulator.clock import FakeClock
from bot.simulator.records import Fault
from bot.simulator.trackers import JiraSimulator
from bot.trackers import JiraTracker, MemoryReplayStore, TicketRef, TrackerError, WebhookRefused, ensure_ticket, verify_jira
from tests.tracker_helpers import FAST, START, FakeSleep, WebhookReceiver, assert_clean, aware, full_spec

EMAIL = "scribe-bot@acme.test"
TOKEN = "ATATT-jira-token-0123456789"
PAT = "NjE0-jira-pat-0123456789"
SECRET = "jira-webhook-secret-0123"
BASIC = base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()
# A team's own workflow: nothing in these names says what they mean.
WORKFLOW = [("Icebox", "new"), ("Cooking", "indeterminate"), ("Under review", "indeterminate"), ("Shipped", "done")]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


def _populate(sim: JiraSimulator) -> None:
    sim.add_project("OPS", statuses=WORKFLOW)
    sim.add_user("5b10ac8d82e05b22cc7d4ef5", "ana@acme.test", "Ana Lima", name="ana", email_visible=False)
    sim.add_user("5b10ac8d82e05b22cc7d4ef6", "bo@acme.test", "Bo Chen", name="bo")


@pytest.fixture
def cloud(clock: FakeClock) -> Iterator[JiraSimulator]:
    sim = JiraSimulator(deployment="cloud", clock=clock)
    sim.add_account(email=EMAIL, api_token=TOKEN)
    _populate(sim)
    with sim:
        yield sim


@pytest.fixture
def datacenter(clock: FakeClock) -> Iterator[JiraSimulator]:
    sim = JiraSimulator(deployment="datacenter", clock=clock)
    sim.add_account(pat=PAT)
    _populate(sim)
    with sim:
        yield sim


def cloud_tracker(sim: JiraSimulator, clock: FakeClock, sleep: FakeSleep | None = None, **kwargs) -> JiraTracker:  # type: ignore[no-untyped-def]
    return JiraTracker(base_url=sim.base_url, email=EMAIL, api_token=TOKEN, retry=FAST, clock=aware(clock),
                       sleep=sleep or FakeSleep(clock), **kwargs)


def test_cloud_create_sends_every_field_in_v3_shape(cloud: JiraSimulator, clock: FakeClock) -> None:
    tracker = cloud_tracker(cloud, clock)
    spec = full_spec(assignee_id="5b10ac8d82e05b22cc7d4ef5")
    ticket = tracker.create(spec, "OPS")

    assert ticket.key == "OPS-1"
    assert ticket.url == f"{cloud.base_url}/browse/OPS-1"
    [call] = cloud.calls_to("POST /rest/api/3/issue")
    assert call.status == 201
    fields = call.body["fields"]
    assert fields["project"] == {"key": "OPS"}
    assert fields["summary"] == "Add a disk-full alert on the primary"
    assert fields["issuetype"] == {"name": "Task"}
    assert fields["priority"] == {"name": "High"}
    assert fields["duedate"] == "2026-01-15"
    assert fields["assignee"] == {"accountId": "5b10ac8d82e05b22cc7d4ef5"}
    assert fields["labels"] == ["incident-scribe", "inc-7", "sev1", spec.marker]
    description = fields["description"]
    assert description["type"] == "doc" and description["version"] == 1
    texts = [p["content"][0]["text"] for p in description["content"]]
    assert texts[0] == "Action item from INC-7: Checkout database ran out of disk"
    links = {p["content"][0]["text"]: p["content"][0]["marks"][0]["attrs"]["href"]
             for p in description["content"] if "marks" in p["content"][0]}
    assert links == {"Incident channel in Slack": "https://acme.slack.com/archives/C0INC7",
                     "Incident page": "https://scribe.acme.test/incidents/7"}
    stored = cloud.issue("OPS-1")
    assert (stored.priority, stored.duedate, stored.assignee) == ("High", "2026-01-15", "5b10ac8d82e05b22cc7d4ef5")
    # The token travels only in the Authorization header, which is never recorded.
    assert all(TOKEN not in json.dumps(c.body) and "authorization" not in c.headers for c in cloud.calls)


def test_a_lost_create_answer_is_found_by_its_marker_and_not_made_twice(cloud: JiraSimulator, clock: FakeClock) -> None:
    tracker = cloud_tracker(cloud, clock)
    spec = full_spec()
    # Jira creates the issue, then the answer is lost (as if we crashed before our commit).
    cloud.inject("POST /rest/api/3/issue", Fault(status=502, after_serving=True))
    with pytest.raises(TrackerError) as lost:
        ensure_ticket(tracker, spec, "OPS")
    assert lost.value.kind == "unavailable"
    assert len(cloud.issues) == 1

    again = ensure_ticket(tracker, spec, "OPS")

    assert (again.created, again.ticket.key) == (False, "OPS-1")
    assert len(cloud.issues) == 1
    assert len(cloud.calls_to("POST /rest/api/3/issue")) == 1  # the create was never re-sent
    search = cloud.calls_to("GET /rest/api/3/search/jql")[-1]
    assert search.query["jql"] == [f'project = "OPS" AND labels = "{spec.marker}" ORDER BY created ASC']


def test_a_crash_after_jiras_answer_but_before_our_commit_creates_nothing_more(
        cloud: JiraSimulator, clock: FakeClock) -> None:
    first_process = cloud_tracker(cloud, clock)
    first_process.create(full_spec(), "OPS")  # answered 201, then the process died before recording it
    first_process.close()

    next_process = cloud_tracker(cloud, clock)
    again = ensure_ticket(next_process, full_spec(), "OPS")

    assert (again.created, again.ticket.key, list(cloud.issues)) == (False, "OPS-1", ["OPS-1"])


def test_assignee_is_mapped_from_the_owner_email_even_when_jira_hides_it(cloud: JiraSimulator, clock: FakeClock) -> None:
    tracker = cloud_tracker(cloud, clock)
    made = ensure_ticket(tracker, full_spec(), "OPS", owner_email="ana@acme.test")
    assert made.assignee_matched is True
    assert cloud.issue(made.ticket.key).assignee == "5b10ac8d82e05b22cc7d4ef5"

    nobody = ensure_ticket(tracker, full_spec(marker="scribe-other"), "OPS", owner_email="zed@elsewhere.test")
    assert nobody.assignee_matched is False
    assert cloud.issue(nobody.ticket.key).assignee is None
    assert "assignee" not in cloud.calls_to("POST /rest/api/3/issue")[-1].body["fields"]


def test_status_is_read_by_category_not_by_name(cloud: JiraSimulator, clock: FakeClock) -> None:
    tracker = cloud_tracker(cloud, clock)
    ref = tracker.create(full_spec(), "OPS").ref

    state = tracker.fetch(ref)
    assert (state.status, state.status_name) == ("open", "Icebox")

    cloud.transition("OPS-1", "Under review")
    assert (tracker.fetch(ref).status, tracker.fetch(ref).status_name) == ("open", "Under review")

    clock.advance(60)
    cloud.transition("OPS-1", "Shipped")  # a done-category status with a made-up name
    shipped = tracker.fetch(ref)
    assert (shipped.status, shipped.status_name) == ("done", "Shipped")
    assert shipped.updated_at == datetime.fromtimestamp(START + 60, UTC)

    cloud.transition("OPS-1", "Shipped", resolution="Won't Do")
    wont = tracker.fetch(ref)
    assert (wont.status, wont.status_name) == ("wontfix", "Shipped (Won't Do)")

    cloud.transition("OPS-1", "Cooking")  # reopened
    assert tracker.fetch(ref).status == "open"


def test_a_custom_wontfix_resolution_can_be_configured(cloud: JiraSimulator, clock: FakeClock) -> None:
    cloud.resolutions.append("Rejected by CAB")
    tracker = cloud_tracker(cloud, clock, wontfix_resolutions=frozenset({"rejected by cab"}))
    ref = tracker.create(full_spec(), "OPS").ref
    cloud.transition("OPS-1", "Shipped", resolution="Rejected by CAB")
    assert tracker.fetch(ref).status == "wontfix"
    cloud.transition("OPS-1", "Shipped", resolution="Duplicate")  # no longer in the configured list
    assert tracker.fetch(ref).status == "done"


def test_assignee_change_is_read_back(cloud: JiraSimulator, clock: FakeClock) -> None:
    tracker = cloud_tracker(cloud, clock)
    ref = tracker.create(full_spec(), "OPS").ref
    cloud.assign("OPS-1", "5b10ac8d82e05b22cc7d4ef6")
    state = tracker.fetch(ref)
    assert (state.assignee_id, state.assignee_email, state.assignee_name) == (
        "5b10ac8d82e05b22cc7d4ef6", "bo@acme.test", "Bo Chen")


@pytest.mark.parametrize(
    ("fault", "kind", "phrase"),
    [
        (Fault(status=401), "auth", "Jira refused the token (401): Client must be authenticated to access this resource. "
                                    "An admin needs to renew JIRA_API_TOKEN."),
        (Fault(status=403), "auth", "Jira refused access (403): You do not have permission to do this. The token's "
                                    "account needs permission to do this in project OPS."),
        (Fault(status=400, error="customfield_10010: Field 'customfield_10010' cannot be set. It is not on the "
                                 "appropriate screen, or unknown."),
         "invalid", "Jira refused the ticket (400): customfield_10010: Field 'customfield_10010' cannot be set. "
                    "It is not on the appropriate screen, or unknown."),
        (Fault(status=429, retry_after=120), "rate_limited", "Jira is rate limiting us (429); it asks us to wait 120 s."),
        (Fault(status=503), "unavailable", "Jira is not answering (503): Internal server error."),
    ],
)
def test_each_fault_on_create_is_one_plain_sentence_without_the_token(
        cloud: JiraSimulator, clock: FakeClock, fault: Fault, kind: str, phrase: str,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    tracker = cloud_tracker(cloud, clock)
    cloud.inject("POST /rest/api/3/issue", fault)
    with pytest.raises(TrackerError) as caught:
        tracker.create(full_spec(), "OPS")
    assert caught.value.kind == kind
    assert str(caught.value) == phrase
    if kind == "rate_limited":
        assert caught.value.retry_after == 120
    assert len(cloud.calls_to("POST /rest/api/3/issue")) == 1  # a create is never retried blindly
    assert cloud.issues == {}
    assert_clean(caught.value, TOKEN, BASIC)
    assert TOKEN not in caplog.text and BASIC not in caplog.text


def test_a_field_the_project_does_not_take_is_refused_with_jiras_own_words(cloud: JiraSimulator, clock: FakeClock) -> None:
    cloud.add_project("LEAN", screen=frozenset({"project", "summary", "issuetype", "description", "labels"}))
    tracker = cloud_tracker(cloud, clock)
    with pytest.raises(TrackerError) as caught:
        tracker.create(full_spec(), "LEAN")
    assert caught.value.kind == "invalid"
    assert caught.value.status == 400
    assert "priority: Field 'priority' cannot be set. It is not on the appropriate screen, or unknown." in str(caught.value)
    assert "duedate: Field 'duedate' cannot be set." in str(caught.value)


def test_a_project_that_is_gone_is_not_found(cloud: JiraSimulator, clock: FakeClock) -> None:
    tracker = cloud_tracker(cloud, clock)
    with pytest.raises(TrackerError) as create:
        tracker.create(full_spec(), "GONE")
    assert (create.value.kind, str(create.value)) == (
        "not_found", "Jira could not find project GONE (400): project: valid project is required.")
    with pytest.raises(TrackerError) as fetch:
        tracker.fetch(TicketRef("jira", "OPS-404"))
    assert fetch.value.kind == "not_found"
    assert str(fetch.value) == ("Jira could not find issue OPS-404 (404): "
                                "Issue does not exist or you do not have permission to see it.")


def test_a_revoked_token_is_auth(cloud: JiraSimulator, clock: FakeClock) -> None:
    revoked = JiraTracker(base_url=cloud.base_url, email=EMAIL, api_token="ATATT-revoked-999999", retry=FAST,
                          sleep=FakeSleep(clock))
    with pytest.raises(TrackerError) as caught:
        revoked.fetch(TicketRef("jira", "OPS-1"))
    assert caught.value.kind == "auth"
    assert len(cloud.calls) == 1  # 401 is final: no retry
    assert_clean(caught.value, "ATATT-revoked-999999")


def test_a_slow_jira_times_out_as_unavailable_and_reads_are_retried_a_bounded_number_of_times(
        cloud: JiraSimulator, clock: FakeClock) -> None:
    sleep = FakeSleep(clock)
    tracker = cloud_tracker(cloud, clock, sleep)
    cloud.inject("GET /rest/api/3/issue/{key}", Fault(delay=1.0), Fault(status=500), Fault(status=503))
    with pytest.raises(TrackerError) as caught:
        tracker.fetch(TicketRef("jira", "OPS-1"))
    assert caught.value.kind == "unavailable"
    assert str(caught.value) == "Jira is not answering (503): Internal server error."
    cloud.wait_for(lambda s: len(s.calls_to("GET /rest/api/3/issue/{key}")) == 3)
    assert sleep.calls == [0.5, 1.0]  # backoff between the three tries, then give up


def test_a_timeout_on_create_is_unavailable_and_not_retried(cloud: JiraSimulator, clock: FakeClock) -> None:
    tracker = cloud_tracker(cloud, clock)
    cloud.inject("POST /rest/api/3/issue", Fault(delay=1.0))
    with pytest.raises(TrackerError) as caught:
        tracker.create(full_spec(), "OPS")
    assert (caught.value.kind, str(caught.value)) == ("unavailable", "Jira is not answering: no answer within 0.5 s.")
    # The slow create still happened; the marker search finds it next time.
    cloud.wait_for(lambda s: len(s.issues) == 1)
    assert ensure_ticket(tracker, full_spec(), "OPS").created is False


def test_a_short_retry_after_on_a_read_is_waited_out(cloud: JiraSimulator, clock: FakeClock) -> None:
    sleep = FakeSleep(clock)
    tracker = cloud_tracker(cloud, clock, sleep)
    ref = tracker.create(full_spec(), "OPS").ref
    cloud.inject("GET /rest/api/3/issue/{key}", Fault(status=429, retry_after=7))
    assert tracker.fetch(ref).ref.key == "OPS-1"
    assert sleep.calls == [7]
    assert [c.status for c in cloud.calls_to("GET /rest/api/3/issue/{key}")] == [429, 200]


def test_the_request_budget_answers_429_with_jiras_headers(clock: FakeClock) -> None:
    sim = JiraSimulator(deployment="cloud", clock=clock, rate_limit=2, rate_window=20)
    sim.add_account(email=EMAIL, api_token=TOKEN)
    _populate(sim)
    with sim:
        sleep = FakeSleep(clock)
        tracker = cloud_tracker(sim, clock, sleep)
        ref = tracker.create(full_spec(), "OPS").ref
        tracker.fetch(ref)
        assert tracker.http.rate_limit.remaining == 0
        state = tracker.fetch(ref)  # over budget: 429, Retry-After 20, waited out, then served
        assert state.ref.key == "OPS-1"
        assert sleep.calls == [20]
        refused = [c for c in sim.calls if c.status == 429]
        assert len(refused) == 1
        clock.advance(5)
        tracker.fetch(ref)
        with pytest.raises(TrackerError) as caught:  # a wait longer than max_retry_after is the caller's
            replace_policy = JiraTracker(base_url=sim.base_url, email=EMAIL, api_token=TOKEN, sleep=sleep,
                                         retry=replace(FAST, max_retry_after=10), clock=aware(clock))
            replace_policy.fetch(ref)
        assert (caught.value.kind, caught.value.retry_after) == ("rate_limited", 15)
        assert sleep.calls == [20]


def test_changed_since_reads_the_project_by_a_relative_jql_date(cloud: JiraSimulator, clock: FakeClock) -> None:
    tracker = cloud_tracker(cloud, clock)
    tracker.create(full_spec(), "OPS")
    clock.advance(600)
    tracker.create(full_spec(marker="scribe-second", title="Second"), "OPS")
    since = datetime.fromtimestamp(clock(), UTC) - timedelta(seconds=90)
    clock.advance(30)
    cloud.transition("OPS-1", "Shipped")

    states = tracker.changed_since(since, "OPS")

    assert [(s.ref.key, s.status) for s in states] == [("OPS-2", "open"), ("OPS-1", "done")]
    jql = cloud.calls_to("GET /rest/api/3/search/jql")[-1].query["jql"][0]
    assert jql == 'project = "OPS" AND updated >= "-3m" ORDER BY updated ASC'


def test_changed_since_follows_next_page_tokens(cloud: JiraSimulator, clock: FakeClock) -> None:
    tracker = cloud_tracker(cloud, clock)
    since = datetime.fromtimestamp(clock(), UTC)
    for n in range(130):
        tracker.create(full_spec(marker=f"scribe-{n}", title=f"Item {n}"), "OPS")
    states = tracker.changed_since(since, "OPS")
    assert len(states) == 130
    pages = cloud.calls_to("GET /rest/api/3/search/jql")
    assert [c.query.get("nextPageToken") is not None for c in pages[-2:]] == [False, True]


# -- Data Center ------------------------------------------------------------------------------

def test_datacenter_uses_v2_a_bearer_pat_wiki_text_and_usernames(datacenter: JiraSimulator, clock: FakeClock) -> None:
    tracker = JiraTracker(base_url=datacenter.base_url, pat=PAT, retry=FAST, clock=aware(clock), sleep=FakeSleep(clock))
    made = ensure_ticket(tracker, full_spec(), "OPS", owner_email="bo@acme.test")

    assert (made.created, made.assignee_matched, made.ticket.key) == (True, True, "OPS-1")
    [call] = datacenter.calls_to("POST /rest/api/2/issue")
    fields = call.body["fields"]
    assert fields["assignee"] == {"name": "bo"}
    assert fields["description"] == (
        "Action item from INC-7: Checkout database ran out of disk\nSeverity: sev1\nOwner in Slack: Ana Lima\n"
        "Due: 2026-01-15\n[Incident channel in Slack|https://acme.slack.com/archives/C0INC7]\n"
        "[Incident page|https://scribe.acme.test/incidents/7]")
    assert datacenter.calls_to("GET /rest/api/2/search")[0].query["startAt"] == ["0"]
    datacenter.transition("OPS-1", "Shipped", resolution="Cannot Reproduce")
    assert tracker.fetch(made.ticket.ref).status == "wontfix"
    assert ensure_ticket(tracker, full_spec(), "OPS").created is False


def test_datacenter_refuses_cloud_credentials(datacenter: JiraSimulator, clock: FakeClock) -> None:
    tracker = JiraTracker(base_url=datacenter.base_url, pat="wrong-pat-000000", retry=FAST, sleep=FakeSleep(clock))
    with pytest.raises(TrackerError) as caught:
        tracker.create(full_spec(), "OPS")
    assert caught.value.kind == "auth"
    assert str(caught.value).endswith("An admin needs to renew JIRA_PAT.")
    assert_clean(caught.value, "wrong-pat-000000")


def test_the_simulator_refuses_a_plain_text_description_on_v3(cloud: JiraSimulator, clock: FakeClock) -> None:
    import httpx

    response = httpx.post(f"{cloud.base_url}/rest/api/3/issue", headers={"Authorization": f"Basic {BASIC}"},
                          json={"fields": {"project": {"key": "OPS"}, "summary": "x", "issuetype": {"name": "Task"},
                                           "description": "plain text", "labels": ["has space"]}})
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "description": "Operation value must be an Atlassian Document (see the Atlassian Document Format)",
        "labels": "The label 'has space' contains spaces which is invalid."}
    bare = httpx.post(f"{cloud.base_url}/rest/api/3/issue", headers={"Authorization": f"Basic {BASIC}"},
                      json={"fields": {"project": {"key": "OPS"}, "storypoints": 3}})
    assert bare.json()["errors"] == {
        "storypoints": "Field 'storypoints' cannot be set. It is not on the appropriate screen, or unknown.",
        "summary": "You must specify a summary of the issue.", "issuetype": "Specify an issue type"}
    assert cloud.issues == {}
    removed = httpx.get(f"{cloud.base_url}/rest/api/3/search", headers={"Authorization": f"Basic {BASIC}"},
                        params={"jql": "project = OPS"})
    assert removed.status_code == 410
    unknown = httpx.get(f"{cloud.base_url}/rest/api/3/search/jql", headers={"Authorization": f"Basic {BASIC}"},
                        params={"jql": "sprint = 4"})
    assert unknown.json()["errorMessages"] == ["Field 'sprint' does not exist or you do not have permission to view it."]


# -- webhooks -----------------------------------------------------------------------------------

def test_webhooks_are_verified_and_read_into_states(cloud: JiraSimulator, clock: FakeClock) -> None:
    tracker = cloud_tracker(cloud, clock)
    tracker.create(full_spec(), "OPS")
    store = MemoryReplayStore()
    now = aware(clock)
    seen: list[tuple[str, str]] = []

    def endpoint(headers: dict[str, str], body: bytes) -> int:
        try:
            delivery = verify_jira(headers, body, secret=SECRET, now=now(), replay=store)
        except WebhookRefused as refused:
            return refused.http_status
        seen.extend((s.ref.key, s.status) for s in delivery.states)
        return 200

    with WebhookReceiver(endpoint) as receiver:
        cloud.subscribe(receiver.url, SECRET)
        clock.advance(5)
        cloud.transition("OPS-1", "Shipped")
        cloud.transition("OPS-1", "Shipped", resolution="Won't Do")
        cloud.transition("OPS-1", "Icebox")
    assert seen == [("OPS-1", "done"), ("OPS-1", "wontfix"), ("OPS-1", "open")]
    assert [w.status for w in cloud.sent_webhooks] == [200, 200, 200]
    assert all(w.headers["X-Hub-Signature"].startswith("sha256=") for w in cloud.sent_webhooks)


def test_unsigned_bad_stale_and_replayed_jira_deliveries_are_refused(cloud: JiraSimulator, clock: FakeClock) -> None:
    cloud_tracker(cloud, clock).create(full_spec(), "OPS")
    now = aware(clock)
    store = MemoryReplayStore()
    body, headers = cloud.webhook("OPS-1", secret=SECRET, delivery_id="d-1")

    unsigned = {k: v for k, v in headers.items() if k != "X-Hub-Signature"}
    with pytest.raises(WebhookRefused) as caught:
        verify_jira(unsigned, body, secret=SECRET, now=now(), replay=store)
    assert (caught.value.reason, caught.value.http_status) == ("unsigned", 401)

    with pytest.raises(WebhookRefused) as caught:
        verify_jira(headers, body.replace(b"Icebox", b"Shipped"), secret=SECRET, now=now(), replay=store)
    assert caught.value.reason == "bad_signature"

    with pytest.raises(WebhookRefused) as caught:
        verify_jira(headers, body, secret="another-secret-entirely", now=now(), replay=store)
    assert caught.value.reason == "bad_signature"

    stale_body, stale_headers = cloud.webhook("OPS-1", secret=SECRET, delivery_id="d-0", timestamp=clock() - 7200)
    with pytest.raises(WebhookRefused) as caught:
        verify_jira(stale_headers, stale_body, secret=SECRET, now=now(), replay=store)
    assert caught.value.reason == "stale"

    first = verify_jira(headers, body, secret=SECRET, now=now(), replay=store)
    assert [s.status_name for s in first.states] == ["Icebox"]
    with pytest.raises(WebhookRefused) as caught:
        verify_jira(headers, body, secret=SECRET, now=now(), replay=store)
    assert (caught.value.reason, caught.value.http_status) == ("replayed", 200)
