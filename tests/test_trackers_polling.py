"""Polling (Socket Mode, or no public URL): one poll of a target against a simulator, and
when to poll next: after the interval, past a long Retry-After, later and later while the
tracker is down, and stretched when its rate-limit headers say little is left."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.simulator.clock import FakeClock
from bot.simulator.records import Fault
from bot.simulator.trackers import GitHubSimulator, JiraSimulator
from bot.trackers import GitHubTracker, JiraTracker, poll_once
from tests.tracker_helpers import FAST, START, FakeSleep, aware, full_spec

EMAIL, TOKEN = "bot@acme.test", "ATATT-poll-token-012345"
SEARCH = "GET /rest/api/3/search/jql"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def jira(clock: FakeClock):  # type: ignore[no-untyped-def]
    sim = JiraSimulator(clock=clock)
    sim.add_account(email=EMAIL, api_token=TOKEN)
    sim.add_project("OPS", statuses=[("Open", "new"), ("Live", "done")])
    with sim:
        yield sim


def test_a_poll_returns_the_changes_and_moves_its_cursor(jira: JiraSimulator, clock: FakeClock) -> None:
    sleep = FakeSleep(clock)
    tracker = JiraTracker(base_url=jira.base_url, email=EMAIL, api_token=TOKEN, retry=FAST, sleep=sleep, clock=aware(clock))
    now = aware(clock)
    since = now()
    tracker.create(full_spec(), "OPS")
    clock.advance(120)
    jira.transition("OPS-1", "Live")

    result = poll_once(tracker, "OPS", since, now=now(), interval=300)

    assert [(s.ref.key, s.status) for s in result.states] == [("OPS-1", "done")]
    assert result.next_since == datetime.fromtimestamp(START + 120, UTC)
    assert result.next_poll_at == now() + timedelta(seconds=300)
    assert (result.failures, result.error, sleep.calls) == (0, None, [])
    quiet = poll_once(tracker, "OPS", result.next_since, now=now(), interval=300)
    assert [s.ref.key for s in quiet.states] == ["OPS-1"]  # the same moment again: harmless, never missed
    assert quiet.next_since == result.next_since


def test_a_short_retry_after_is_waited_out_within_the_poll(jira: JiraSimulator, clock: FakeClock) -> None:
    sleep = FakeSleep(clock)
    tracker = JiraTracker(base_url=jira.base_url, email=EMAIL, api_token=TOKEN, retry=FAST, sleep=sleep, clock=aware(clock))
    jira.inject(SEARCH, Fault(status=429, retry_after=5))
    result = poll_once(tracker, "OPS", aware(clock)(), now=aware(clock)(), interval=300)
    assert result.error is None
    assert sleep.calls == [5]
    assert [c.status for c in jira.calls_to(SEARCH)] == [429, 200]


def test_a_long_retry_after_moves_the_next_poll_past_it(jira: JiraSimulator, clock: FakeClock) -> None:
    sleep = FakeSleep(clock)
    tracker = JiraTracker(base_url=jira.base_url, email=EMAIL, api_token=TOKEN, retry=FAST, sleep=sleep, clock=aware(clock))
    since, now = aware(clock)(), aware(clock)()
    jira.inject(SEARCH, Fault(status=429, retry_after=900))
    result = poll_once(tracker, "OPS", since, now=now, interval=300)
    assert result.error is not None and result.error.kind == "rate_limited"
    assert result.next_poll_at == now + timedelta(seconds=900)
    assert (result.next_since, result.failures, result.states, sleep.calls) == (since, 1, [], [])
    assert len(jira.calls_to(SEARCH)) == 1


def test_a_tracker_that_is_down_is_polled_less_and_less_often(jira: JiraSimulator, clock: FakeClock) -> None:
    sleep = FakeSleep(clock)
    tracker = JiraTracker(base_url=jira.base_url, email=EMAIL, api_token=TOKEN, retry=FAST, sleep=sleep, clock=aware(clock))
    now = aware(clock)()
    jira.inject(SEARCH, *[Fault(status=503)] * 9)
    first = poll_once(tracker, "OPS", now, now=now, interval=300)
    second = poll_once(tracker, "OPS", now, now=now, interval=300, failures=first.failures)
    assert (first.failures, first.next_poll_at) == (1, now + timedelta(seconds=600))
    assert (second.failures, second.next_poll_at) == (2, now + timedelta(seconds=1200))
    assert first.error is not None and first.error.kind == "unavailable"
    assert sleep.calls == [0.5, 1.0, 0.5, 1.0]  # each poll's own bounded retries
    capped = poll_once(tracker, "OPS", now, now=now, interval=300, failures=9)
    assert capped.next_poll_at == now + timedelta(seconds=3600)


def test_the_interval_stretches_when_the_rate_limit_runs_low(clock: FakeClock) -> None:
    sim = GitHubSimulator(clock=clock, rate_limit=10, rate_window=3600)
    sim.add_token("ghp_poll_token_0123456", "bot")
    sim.add_repo("acme/ops", collaborators={"bot"})
    with sim:
        tracker = GitHubTracker(token="ghp_poll_token_0123456", base_url=sim.base_url, retry=FAST,
                                sleep=FakeSleep(clock), clock=aware(clock))
        now = aware(clock)()
        first = poll_once(tracker, "acme/ops", now, now=now, interval=60)
        # 9 of 10 left, 2 kept for creates: 7 polls over the hour → one every 514 s, not every 60.
        assert tracker.http.rate_limit.remaining == 9
        assert first.next_poll_at == now + timedelta(seconds=3600 / 7)
