"""Pure parts of bot.trackers: status by category, markers, labels, link parsing,
timestamps, error messages."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from bot.trackers import (
    TicketRef,
    TrackerError,
    github_item_status,
    gitlab_item_status,
    jira_item_status,
    jira_state,
    linear_item_status,
    make_marker,
    marker_uuid,
    parse_ticket_link,
)
from bot.trackers.errors import scrub
from bot.trackers.http import RateLimit
from bot.trackers.model import JIRA_WONTFIX_RESOLUTIONS, markdown_body
from bot.trackers.polling import paced_interval
from bot.trackers.timestamps import iso_z, parse_timestamp
from tests.tracker_helpers import full_spec


@pytest.mark.parametrize(
    ("category", "resolution", "expected"),
    [
        ("new", None, "open"), ("indeterminate", None, "open"), ("done", None, "done"), ("done", "Done", "done"),
        ("done", "Fixed", "done"), ("done", "Shipped it", "done"), ("done", "Won't Do", "wontfix"),
        ("done", "Won\u2019t Fix", "wontfix"), ("done", "Duplicate", "wontfix"), ("done", "cannot reproduce", "wontfix"),
        # A resolution left on an issue moved back out of done doesn't close it.
        ("indeterminate", "Won't Do", "open"), (None, None, "open"),
    ],
)
def test_jira_status_is_the_category_plus_resolution(category: str | None, resolution: str | None, expected: str) -> None:
    assert jira_item_status(category, resolution) == expected


def test_jira_state_from_a_real_shaped_payload_with_a_custom_status() -> None:
    issue = {"id": "10042", "key": "OPS-12", "self": "https://acme.atlassian.net/rest/api/3/issue/10042",
             "fields": {"summary": "Rotate keys", "updated": "2026-03-04T05:06:07.890+0100",
                        "status": {"name": "Deployed to prod", "statusCategory": {"key": "done", "id": 3}},
                        "resolution": None,
                        "assignee": {"accountId": "abc", "displayName": "Ana", "emailAddress": "ana@acme.test"}}}
    state = jira_state(issue, "https://acme.atlassian.net/")
    assert (state.status, state.status_name, state.title) == ("done", "Deployed to prod", "Rotate keys")
    assert state.ref == TicketRef("jira", "OPS-12", "https://acme.atlassian.net/browse/OPS-12")
    assert state.updated_at == datetime(2026, 3, 4, 4, 6, 7, 890000, tzinfo=UTC)
    assert (state.assignee_id, state.assignee_email) == ("abc", "ana@acme.test")
    assert {"won't do", "duplicate"} <= JIRA_WONTFIX_RESOLUTIONS


@pytest.mark.parametrize(
    ("state_type", "expected"),
    [("triage", "open"), ("backlog", "open"), ("unstarted", "open"), ("started", "open"), ("completed", "done"),
     ("canceled", "wontfix"), ("duplicate", "wontfix"), (None, "open")],
)
def test_linear_status_is_the_state_type(state_type: str | None, expected: str) -> None:
    assert linear_item_status(state_type) == expected


@pytest.mark.parametrize(
    ("state", "reason", "expected"),
    [("open", None, "open"), ("open", "reopened", "open"), ("closed", "completed", "done"), ("closed", None, "done"),
     ("closed", "not_planned", "wontfix"), ("closed", "duplicate", "wontfix")],
)
def test_github_status_is_state_and_state_reason(state: str, reason: str | None, expected: str) -> None:
    assert github_item_status(state, reason) == expected


def test_gitlab_status() -> None:
    assert [gitlab_item_status(s) for s in ("opened", "closed", None)] == ["open", "done", "open"]


def test_markers_are_stable_labels_and_uuid_v4_shaped() -> None:
    marker = make_marker("T0001", 42)
    assert marker == make_marker("T0001", 42)
    assert marker != make_marker("T0001", 43) != make_marker("T0002", 42)
    assert marker.startswith("scribe-") and len(marker) == 23 and marker == marker.lower() and " " not in marker
    parsed = uuid.UUID(marker_uuid(marker))
    assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
    assert marker_uuid(marker) == marker_uuid(marker) != marker_uuid(make_marker("other"))
    with pytest.raises(ValueError):
        make_marker()


def test_spec_labels_and_markdown_body() -> None:
    spec = full_spec(severity="SEV2", extra_labels=("Team Payments",))
    assert spec.labels() == ["incident-scribe", "inc-7", "sev2", "team-payments", spec.marker]
    body = markdown_body(full_spec(channel_url=None, page_url=None, priority=None, owner_name=None, severity=None, due=None))
    assert body == f"Action item from INC-7: Checkout database ran out of disk\n\n<!-- {full_spec().marker} -->\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("OPS-123", TicketRef("jira", "OPS-123")),
        ("ops-123", TicketRef("jira", "OPS-123")),
        ("https://acme.atlassian.net/browse/OPS-9", TicketRef("jira", "OPS-9", "https://acme.atlassian.net/browse/OPS-9")),
        ("<https://acme.atlassian.net/browse/OPS-9|OPS-9>",
         TicketRef("jira", "OPS-9", "https://acme.atlassian.net/browse/OPS-9")),
        ("https://jira.acme.test/jira/browse/INFRA-77", TicketRef("jira", "INFRA-77", "https://jira.acme.test/jira/browse/INFRA-77")),
        ("https://acme.atlassian.net/jira/software/projects/OPS/boards/1?selectedIssue=OPS-5",
         TicketRef("jira", "OPS-5", "https://acme.atlassian.net/jira/software/projects/OPS/boards/1?selectedIssue=OPS-5")),
        ("acme/ops#12", TicketRef("github", "acme/ops#12")),
        ("https://github.com/acme/ops/issues/12", TicketRef("github", "acme/ops#12", "https://github.com/acme/ops/issues/12")),
        ("https://ghe.acme.test/acme/ops/issues/3", TicketRef("github", "acme/ops#3", "https://ghe.acme.test/acme/ops/issues/3")),
        ("https://linear.app/acme/issue/ENG-42/fix-the-thing",
         TicketRef("linear", "ENG-42", "https://linear.app/acme/issue/ENG-42/fix-the-thing")),
        ("group/sub/project#3", TicketRef("gitlab", "group/sub/project#3")),
        ("https://gitlab.com/group/sub/project/-/issues/3",
         TicketRef("gitlab", "group/sub/project#3", "https://gitlab.com/group/sub/project/-/issues/3")),
        ("https://git.acme.test/gitlab/acme/ops/-/issues/8",
         TicketRef("gitlab", "acme/ops#8", "https://git.acme.test/gitlab/acme/ops/-/issues/8")),
        ("https://github.com/acme/ops/pull/12", None),
        ("https://example.com/whatever", None),
        ("fix the alert", None),
        ("OPS-0", None),
        ("javascript://x/browse/OPS-1", None),
    ],
)
def test_links_and_keys(text: str, expected: TicketRef | None) -> None:
    bases = {"github": "https://ghe.acme.test", "gitlab": "https://git.acme.test/gitlab"}
    assert parse_ticket_link(text, default="jira", web_bases=bases) == expected


def test_a_bare_key_goes_to_the_default_tracker_or_the_one_connected() -> None:
    assert parse_ticket_link("ENG-42", default="linear") == TicketRef("linear", "ENG-42")
    assert parse_ticket_link("ENG-42", default="github", configured=("github", "linear")) == TicketRef("linear", "ENG-42")
    assert parse_ticket_link("ENG-42", configured=("github",)) is None
    assert parse_ticket_link("acme/ops#4", default="gitlab") == TicketRef("gitlab", "acme/ops#4")
    assert parse_ticket_link("https://linear.app/acme/issue/ENG-1", configured=("jira",)) is None
    ref = parse_ticket_link("acme/ops#4")
    assert ref is not None and (ref.target, ref.number) == ("acme/ops", 4)


def test_timestamps() -> None:
    expected = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    for raw in ("2026-01-02T03:04:05Z", "2026-01-02T03:04:05.000+0000", "2026-01-02 03:04:05 UTC",
                "2026-01-02T04:04:05+01:00"):
        assert parse_timestamp(raw) == expected
    with pytest.raises(ValueError):
        parse_timestamp("2026-01-02T03:04:05")
    assert iso_z(expected) == "2026-01-02T03:04:05Z"
    assert iso_z(expected + timedelta(milliseconds=250)) == "2026-01-02T03:04:05.250Z"


def test_errors_keep_secrets_out() -> None:
    assert scrub("Bearer tok-123456 was refused", ["tok-123456"]) == "Bearer [redacted] was refused"
    error = TrackerError("rate_limited", "GitHub is rate limiting us (429).", tracker="github", status=429, retry_after=30)
    assert repr(error) == ("TrackerError('rate_limited', tracker='github', status=429, retry_after=30, "
                           "message='GitHub is rate limiting us (429).')")
    assert error.retryable and not TrackerError("auth", "x", tracker="jira").retryable
    with pytest.raises(ValueError):
        TrackerError("boom", "x", tracker="jira")  # type: ignore[arg-type]


def test_paced_interval_spreads_what_is_left_of_the_window() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert paced_interval(300, RateLimit(), now) == 300
    plenty = RateLimit(limit=5000, remaining=4000, reset_at=now + timedelta(hours=1))
    assert paced_interval(300, plenty, now) == 300
    # 100 requests left of 1000 for an hour, 20% kept back for creates: 1 poll every 3600/(100-200<0) → wait the reset
    assert paced_interval(300, RateLimit(limit=1000, remaining=100, reset_at=now + timedelta(hours=1)), now) == 3600
    # 300 left of 1000, 200 kept back: 100 polls over 3600 s → one every 36 s, but never below the interval
    assert paced_interval(30, RateLimit(limit=1000, remaining=300, reset_at=now + timedelta(hours=1)), now) == 36


def test_trackers_are_built_from_settings_and_links_read_with_them() -> None:
    from bot.config import settings_from_env
    from bot.trackers import (
        GitHubTracker,
        JiraTracker,
        LinearTracker,
        Tracker,
        TrackerNotConfigured,
        build_tracker,
        default_target,
        parse_link_for,
        webhook_secret,
    )
    from bot.trackers.gitlab import GitLabTracker

    settings = settings_from_env({
        "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "SCRIBE_TRACKER": "linear",
        "LINEAR_API_KEY": "lin_api_x", "LINEAR_TEAM": "ENG", "LINEAR_WEBHOOK_SECRET": "whs",
        "GITHUB_TOKEN": "ghp_x", "GITHUB_BASE_URL": "https://ghe.acme.test/api/v3",
        "JIRA_BASE_URL": "https://jira.acme.test", "JIRA_PAT": "pat-x", "GITLAB_TOKEN": "glpat-x"}).trackers
    built = {name: build_tracker(settings, name) for name in ("jira", "github", "linear", "gitlab")}
    assert [type(t) for t in built.values()] == [JiraTracker, GitHubTracker, LinearTracker, GitLabTracker]
    assert all(isinstance(t, Tracker) for t in built.values())
    assert built["jira"].deployment == "datacenter"  # type: ignore[attr-defined]
    assert "pat-x" not in repr(built["jira"]) and "ghp_x" not in repr(built["github"].http)  # type: ignore[attr-defined]
    assert (default_target(settings, "linear"), webhook_secret(settings, "linear")) == ("ENG", "whs")
    assert parse_link_for(settings, "ENG-4") == TicketRef("linear", "ENG-4")
    assert parse_link_for(settings, "https://ghe.acme.test/acme/ops/issues/2") == TicketRef(
        "github", "acme/ops#2", "https://ghe.acme.test/acme/ops/issues/2")
    assert parse_link_for(settings, "https://jira.acme.test/browse/OPS-3") == TicketRef(
        "jira", "OPS-3", "https://jira.acme.test/browse/OPS-3")
    for tracker in built.values():
        tracker.close()
    empty = settings_from_env({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}).trackers
    with pytest.raises(TrackerNotConfigured):
        build_tracker(empty, "github")


def test_verify_webhook_dispatches_by_tracker_name() -> None:
    from bot.trackers import WebhookRefused, verify_webhook

    now = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(WebhookRefused) as caught:
        verify_webhook("trello", {}, b"{}", secret="s", now=now)
    assert (caught.value.reason, caught.value.http_status) == ("not_configured", 404)
    with pytest.raises(WebhookRefused) as caught:
        verify_webhook("github", {"X-Hub-Signature-256": "sha256=00"}, b"{}", secret="s", now=now)
    assert caught.value.reason == "bad_signature"
    from bot.trackers import github_signature

    body = b"not json"
    with pytest.raises(WebhookRefused) as caught:
        verify_webhook("github", {"X-Hub-Signature-256": github_signature("s", body)}, body, secret="s", now=now)
    assert (caught.value.reason, caught.value.http_status) == ("malformed", 400)
    ping = b'{"zen": "Keep it logically awesome.", "hook_id": 1}'
    delivery = verify_webhook("github", {"x-hub-signature-256": github_signature("s", ping), "X-GitHub-Event": "ping",
                                         "X-GitHub-Delivery": "d-1"}, ping, secret="s", now=now)
    assert (delivery.event, delivery.states, delivery.delivery_id) == ("ping", (), "d-1")
