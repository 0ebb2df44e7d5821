"""GitHub adapter against the GitHub simulator over real HTTP (github.com and Enterprise
Server under /api/v3)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bot.simulator.clock import FakeClock
from bot.simulator.records import Fault
from bot.simulator.trackers import GitHubSimulator
from bot.trackers import GitHubTracker, MemoryReplayStore, TicketRef, TrackerError, WebhookRefused, ensure_ticket, verify_github
from tests.tracker_helpers import FAST, START, FakeSleep, WebhookReceiver, assert_clean, aware, full_spec

TOKEN = "github_pat_11AAAA0123456789secret"
SECRET = "github-webhook-secret-0123"
REPO = "acme/ops"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


def _populate(sim: GitHubSimulator) -> None:
    sim.add_user("ana-lima", email="ana@acme.test", email_public=True)
    sim.add_user("bo", email="bo@acme.test", email_public=False)
    sim.add_user("eve", email="eve@acme.test", email_public=True)  # public email, but no access to the repo
    sim.add_token(TOKEN, "scribe-bot")
    sim.add_repo(REPO, collaborators={"scribe-bot", "ana-lima", "bo"})


@pytest.fixture
def github(clock: FakeClock) -> Iterator[GitHubSimulator]:
    sim = GitHubSimulator(clock=clock)
    _populate(sim)
    with sim:
        yield sim


def tracker_for(sim: GitHubSimulator, clock: FakeClock, sleep: FakeSleep | None = None, token: str = TOKEN) -> GitHubTracker:
    return GitHubTracker(token=token, base_url=sim.base_url, web_url=sim.web_url, retry=FAST, clock=aware(clock),
                         sleep=sleep or FakeSleep(clock))


def test_create_sends_every_field_and_puts_the_due_date_in_the_body(github: GitHubSimulator, clock: FakeClock) -> None:
    spec = full_spec(assignee_id="ana-lima")
    ticket = tracker_for(github, clock).create(spec, REPO)

    assert ticket.key == "acme/ops#1"
    assert ticket.url == f"{github.web_url}/acme/ops/issues/1"
    [call] = github.calls_to("POST /repos/{owner}/{repo}/issues")
    assert call.headers["x-github-api-version"] == "2022-11-28"
    assert call.body["title"] == "Add a disk-full alert on the primary"
    assert call.body["labels"] == ["incident-scribe", "inc-7", "sev1", "priority:p1", spec.marker]
    assert call.body["assignees"] == ["ana-lima"]
    assert call.body["body"] == (
        "Action item from INC-7: Checkout database ran out of disk\n\nSeverity: sev1\n\nOwner in Slack: Ana Lima\n\n"
        "Due: 2026-01-15\n\n[Incident channel in Slack](https://acme.slack.com/archives/C0INC7)\n\n"
        "[Incident page](https://scribe.acme.test/incidents/7)\n\nPriority: p1\n\n"
        f"<!-- {spec.marker} -->\n")
    stored = github.issue(REPO, 1)
    assert (stored.labels[-1], stored.assignees) == (spec.marker, ["ana-lima"])
    assert set(github.repos[REPO].labels) == {"incident-scribe", "inc-7", "sev1", "priority:p1", spec.marker}


def test_a_lost_create_answer_is_found_by_its_label_and_not_made_twice(github: GitHubSimulator, clock: FakeClock) -> None:
    tracker = tracker_for(github, clock)
    github.inject("POST /repos/{owner}/{repo}/issues", Fault(status=500, after_serving=True))
    with pytest.raises(TrackerError):
        ensure_ticket(tracker, full_spec(), REPO)
    github.add_pull_request(REPO, "Unrelated PR")  # PRs share the issue list; never a match

    again = ensure_ticket(tracker, full_spec(), REPO)

    assert (again.created, again.ticket.key) == (False, "acme/ops#1")
    assert len([i for i in github.repos[REPO].issues if not i.is_pull_request]) == 1
    assert len(github.calls_to("POST /repos/{owner}/{repo}/issues")) == 1
    assert github.calls_to("GET /search/issues") == []  # the consistent list, not the lagging search


def test_labels_dropped_for_a_token_without_write_access_fall_back_to_the_body(clock: FakeClock) -> None:
    sim = GitHubSimulator(clock=clock)
    _populate(sim)
    sim.add_token("github_pat_triage_only_0001", "outsider")  # can open issues, not label them
    with sim:
        tracker = tracker_for(sim, clock, token="github_pat_triage_only_0001")
        first = ensure_ticket(tracker, full_spec(), REPO)
        assert sim.issue(REPO, 1).labels == []
        again = ensure_ticket(tracker, full_spec(), REPO)
        assert (first.created, again.created, again.ticket.key) == (True, False, "acme/ops#1")
        assert len(sim.repos[REPO].issues) == 1
        assert sim.calls_to("GET /search/issues")[-1].query["q"] == [f'repo:{REPO} is:issue in:body "{full_spec().marker}"']


def test_email_maps_to_a_login_only_when_public_and_assignable(github: GitHubSimulator, clock: FakeClock) -> None:
    tracker = tracker_for(github, clock)
    assert tracker.find_user_by_email("ana@acme.test", REPO) == "ana-lima"
    assert tracker.find_user_by_email("bo@acme.test", REPO) is None  # private email: GitHub can't tell
    assert tracker.find_user_by_email("eve@acme.test", REPO) is None  # found, but not assignable here
    assert github.calls_to("GET /search/users")[0].query["q"] == ["ana@acme.test in:email"]


def test_state_and_state_reason_map_to_our_statuses(github: GitHubSimulator, clock: FakeClock) -> None:
    tracker = tracker_for(github, clock)
    ref = tracker.create(full_spec(), REPO).ref
    assert (tracker.fetch(ref).status, tracker.fetch(ref).status_name) == ("open", "Open")
    github.close(REPO, 1, "completed")
    assert (tracker.fetch(ref).status, tracker.fetch(ref).status_name) == ("done", "Closed as completed")
    github.reopen(REPO, 1)
    assert (tracker.fetch(ref).status, github.issue(REPO, 1).state_reason) == ("open", "reopened")
    github.close(REPO, 1, "not_planned")
    assert (tracker.fetch(ref).status, tracker.fetch(ref).status_name) == ("wontfix", "Closed as not planned")
    github.close(REPO, 1, "duplicate")
    assert tracker.fetch(ref).status == "wontfix"
    github.assign(REPO, 1, "bo")
    assert tracker.fetch(ref).assignee_id == "bo"


@pytest.mark.parametrize(
    ("fault", "kind", "message"),
    [
        (Fault(status=401), "auth", "GitHub refused the token (401): Bad credentials. An admin needs to renew GITHUB_TOKEN."),
        (Fault(status=403), "auth", "GitHub refused access (403): Resource not accessible by personal access token. "
                                    "The token's account needs permission to do this in repository acme/ops."),
        (Fault(status=404), "not_found", "GitHub could not find repository acme/ops (404): Not Found."),
        (Fault(status=422, error="assignees:invalid"), "invalid",
         "GitHub refused the ticket (422): Validation Failed; assignees is invalid."),
        (Fault(status=429, retry_after=45), "rate_limited", "GitHub is rate limiting us (429); it asks us to wait 45 s."),
        (Fault(status=403, retry_after=61), "rate_limited", "GitHub is rate limiting us (403); it asks us to wait 61 s."),
        (Fault(status=502), "unavailable", "GitHub is not answering (502): Server Error."),
    ],
)
def test_each_fault_is_one_plain_sentence_without_the_token(
        github: GitHubSimulator, clock: FakeClock, fault: Fault, kind: str, message: str,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    github.inject("POST /repos/{owner}/{repo}/issues", fault)
    with pytest.raises(TrackerError) as caught:
        tracker_for(github, clock).create(full_spec(), REPO)
    assert (caught.value.kind, str(caught.value)) == (kind, message)
    assert len(github.calls_to("POST /repos/{owner}/{repo}/issues")) == 1
    assert_clean(caught.value, TOKEN)
    assert TOKEN not in caplog.text


def test_unknown_keys_and_a_missing_title_are_refused_as_github_does(github: GitHubSimulator) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "X-GitHub-Api-Version": "2022-11-28"}
    url = f"{github.base_url}/repos/{REPO}/issues"
    unknown = httpx.post(url, headers=headers, json={"title": "x", "due_on": "2026-01-01"})
    assert (unknown.status_code, unknown.json()["message"]) == (422, 'Invalid request.\n\n"due_on" is not a permitted key.')
    untitled = httpx.post(url, headers=headers, json={"body": "x"})
    assert (untitled.status_code, untitled.json()["message"]) == (422, 'Invalid request.\n\n"title" wasn\'t supplied.')
    stranger = httpx.post(url, headers=headers, json={"title": "x", "assignees": ["eve"]})
    assert stranger.status_code == 422
    assert stranger.json()["errors"] == [{"value": "eve", "resource": "Issue", "field": "assignees", "code": "invalid"}]
    version = httpx.get(url, headers={**headers, "X-GitHub-Api-Version": "2019-01-01"})
    assert version.status_code == 400


def test_the_primary_rate_limit_answers_403_with_remaining_zero_and_reset(clock: FakeClock) -> None:
    sim = GitHubSimulator(clock=clock, rate_limit=3, rate_window=3600)
    _populate(sim)
    with sim:
        sleep = FakeSleep(clock)
        tracker = tracker_for(sim, clock, sleep)
        ref = tracker.create(full_spec(), REPO).ref
        tracker.fetch(ref)
        tracker.fetch(ref)
        assert tracker.http.rate_limit.remaining == 0
        assert tracker.http.rate_limit.reset_at == datetime.fromtimestamp(START + 3600, UTC)
        with pytest.raises(TrackerError) as caught:
            tracker.fetch(ref)
        assert caught.value.kind == "rate_limited"
        assert caught.value.status == 403
        assert caught.value.retry_after == pytest.approx(3600, abs=1)
        assert sleep.calls == []  # an hour is the poller's to wait, not this request's


def test_enterprise_server_lives_under_api_v3(clock: FakeClock) -> None:
    sim = GitHubSimulator(clock=clock, enterprise=True)
    _populate(sim)
    with sim:
        tracker = GitHubTracker(token=TOKEN, base_url=sim.base_url, retry=FAST, sleep=FakeSleep(clock))
        assert tracker.web_url == sim.root_url  # https://HOST/api/v3 → https://HOST
        ticket = tracker.create(full_spec(), REPO)
        assert sim.calls[-1].path == "/api/v3/repos/acme/ops/issues"
        assert tracker.ticket_url(ticket.ref) == f"{sim.root_url}/acme/ops/issues/1"


def test_changed_since_pages_and_skips_pull_requests(github: GitHubSimulator, clock: FakeClock) -> None:
    tracker = tracker_for(github, clock)
    since = datetime.fromtimestamp(clock(), UTC)
    for n in range(105):
        tracker.create(full_spec(marker=f"scribe-{n}", title=f"Item {n}"), REPO)
    github.add_pull_request(REPO, "A PR")
    clock.advance(60)
    github.close(REPO, 3, "not_planned")
    states = tracker.changed_since(since, REPO)
    assert len(states) == 105
    assert states[-1].ref.key == "acme/ops#3" and states[-1].status == "wontfix"
    pages = github.calls_to("GET /repos/{owner}/{repo}/issues")[-2:]
    assert [c.query["page"] for c in pages] == [["1"], ["2"]]
    assert pages[0].query["since"] == ["2026-01-01T00:00:00Z"]
    later = tracker.changed_since(since + timedelta(seconds=30), REPO)
    assert [s.ref.key for s in later] == ["acme/ops#3"]


def test_github_webhooks_verify_and_refuse(github: GitHubSimulator, clock: FakeClock) -> None:
    tracker_for(github, clock).create(full_spec(), REPO)
    store = MemoryReplayStore()
    now = aware(clock)
    states = []

    def endpoint(headers: dict[str, str], body: bytes) -> int:
        try:
            delivery = verify_github(headers, body, secret=SECRET, now=now(), replay=store)
        except WebhookRefused as refused:
            return refused.http_status
        states.extend(delivery.states)
        return 200

    with WebhookReceiver(endpoint) as receiver:
        github.subscribe(receiver.url, SECRET)
        github.close(REPO, 1, "not_planned")
        github.reopen(REPO, 1)
        github.close(REPO, 1)
    assert [(s.ref.key, s.status) for s in states] == [("acme/ops#1", "wontfix"), ("acme/ops#1", "open"),
                                                       ("acme/ops#1", "done")]

    body, headers = github.webhook(REPO, 1, "closed", SECRET, delivery_id="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    with pytest.raises(WebhookRefused) as caught:
        verify_github({k: v for k, v in headers.items() if k != "X-Hub-Signature-256"}, body, secret=SECRET, now=now())
    assert caught.value.reason == "unsigned"
    with pytest.raises(WebhookRefused) as caught:
        verify_github(headers, body + b" ", secret=SECRET, now=now())
    assert caught.value.reason == "bad_signature"
    with pytest.raises(WebhookRefused) as caught:
        verify_github(headers, body, secret=SECRET, now=now() + timedelta(hours=2))
    assert caught.value.reason == "stale"
    verify_github(headers, body, secret=SECRET, now=now(), replay=store)
    with pytest.raises(WebhookRefused) as caught:
        verify_github(headers, body, secret=SECRET, now=now(), replay=store)
    assert caught.value.reason == "replayed"
    with pytest.raises(WebhookRefused) as caught:
        verify_github(headers, body, secret=None, now=now())
    assert caught.value.reason == "not_configured"


def test_unknown_repo_or_issue_is_not_found(github: GitHubSimulator, clock: FakeClock) -> None:
    tracker = tracker_for(github, clock)
    with pytest.raises(TrackerError) as caught:
        tracker.fetch(TicketRef("github", "acme/ops#9"))
    assert (caught.value.kind, str(caught.value)) == ("not_found", "GitHub could not find issue acme/ops#9 (404): Not Found.")
    with pytest.raises(TrackerError) as caught:
        tracker.create(full_spec(), "acme/gone")
    assert caught.value.kind == "not_found"
