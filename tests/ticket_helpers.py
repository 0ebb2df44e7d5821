"""Shared pieces of the app-level tracker tests: the three tracker simulators on the test's
clock, settings that connect the app to them, and small readers of what happened."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from bot.config import GitHubSettings, GitLabSettings, JiraSettings, LinearSettings, TrackerSettings
from bot.models import ActionItem, ItemTicket, OutboxItem
from bot.simulator.trackers import GitHubSimulator, GitLabSimulator, JiraSimulator, LinearSimulator
from bot.trackers import RetryPolicy
from tests.conftest import Clock, start_app

JIRA_EMAIL = "scribe-bot@acme.test"
JIRA_TOKEN = "ATATT-jira-token-0123456789"
GITHUB_TOKEN = "github_pat_0123456789abcdef"
LINEAR_KEY = "lin_api_0123456789abcdefSECRET"
GITLAB_TOKEN = "glpat-0123456789SECRETabc"
SECRETS = {"jira": "jira-webhook-secret-0123", "github": "github-webhook-secret-0123", "linear": "linear-webhook-secret-0123",
           "gitlab": "gitlab-webhook-token-0123"}
REPO = "acme/ops"
GITLAB_PROJECT = "acme/platform/ops"
PUBLIC_URL = "https://scribe.acme.test"
# A team's own Jira workflow: nothing in these names says what they mean.
WORKFLOW = [("Icebox", "new"), ("Cooking", "indeterminate"), ("Shipped", "done")]
# Quick to give up on a slow tracker (the tests' "down or slow" waits half a second).
FAST = RetryPolicy(attempts=2, base_delay=0.1, max_delay=0.2, max_retry_after=30.0, timeout=0.5)
# Slack people and their emails; Jira and Linear know Ann and Bob, GitHub only Ann publicly.
EMAILS = {"U0ANN": "ann@acme.test", "U0BOB": "bob@acme.test", "U0CHI": "chi@acme.test"}
JIRA_ANN, JIRA_BOB = "5b10ac8d82e05b22cc7d4ef5", "5b10ac8d82e05b22cc7d4ef6"


@dataclass
class Trackers:
    jira: JiraSimulator
    github: GitHubSimulator
    linear: LinearSimulator
    # Connected only where a test asks for it (tests/test_tickets_gitlab.py).
    gitlab: GitLabSimulator | None = None

    def settings(self, default: str | None = None, *, webhooks: bool = True) -> TrackerSettings:
        """The app connected to all three; `webhooks`: their secrets set (status by webhook),
        else status by polling."""
        secret = (lambda name: SECRETS[name]) if webhooks else (lambda name: None)
        return TrackerSettings(
            default=default,
            jira=JiraSettings(base_url=self.jira.base_url, email=JIRA_EMAIL, api_token=JIRA_TOKEN, project="OPS",
                              webhook_secret=secret("jira")),
            github=GitHubSettings(base_url=self.github.base_url, token=GITHUB_TOKEN, repo=REPO, webhook_secret=secret("github")),
            linear=LinearSettings(base_url=self.linear.base_url, api_key=LINEAR_KEY, team="ENG", webhook_secret=secret("linear")),
            gitlab=GitLabSettings() if self.gitlab is None else GitLabSettings(
                base_url=self.gitlab.base_url, token=GITLAB_TOKEN, project=GITLAB_PROJECT, webhook_secret=secret("gitlab")),
        )

    def all(self) -> list[Any]:
        return [self.jira, self.github, self.linear]


@pytest.fixture
def trackers(clock: Clock) -> Iterator[Trackers]:
    """Jira Cloud, GitHub and Linear simulators whose time is the app's (the test's clock)."""
    now = lambda: clock().timestamp()  # noqa: E731
    jira = JiraSimulator(deployment="cloud", clock=now)
    jira.add_account(email=JIRA_EMAIL, api_token=JIRA_TOKEN)
    jira.add_project("OPS", statuses=WORKFLOW)
    jira.add_user(JIRA_ANN, EMAILS["U0ANN"], "Ann Lee", name="ann")
    jira.add_user(JIRA_BOB, EMAILS["U0BOB"], "Bob Stone", name="bob", email_visible=False)
    github = GitHubSimulator(clock=now)
    github.add_user("ann-lee", email=EMAILS["U0ANN"], email_public=True)
    github.add_user("bob-stone", email=EMAILS["U0BOB"])
    github.add_repo(REPO, collaborators={"scribe-bot", "ann-lee", "bob-stone"})
    github.add_token(GITHUB_TOKEN, "scribe-bot")
    linear = LinearSimulator(clock=now)
    linear.add_user("user-ann", EMAILS["U0ANN"], "Ann Lee")
    linear.add_user("user-bob", EMAILS["U0BOB"], "Bob Stone")
    linear.add_api_key(LINEAR_KEY, "user-ann")
    linear.add_team("ENG")
    with ExitStack() as stack:
        for sim in (jira, github, linear):
            stack.enter_context(sim)
        yield Trackers(jira, github, linear)


def with_emails(slack: Any) -> None:
    for user_id, email in EMAILS.items():
        slack.workspace.users[user_id].email = email


def start_tracked_app(database_url: str, slack: Any, clock: Clock, trackers: Trackers, *, default: str | None = "jira",
                      webhooks: bool = True, **overrides: Any):  # type: ignore[no-untyped-def]
    """The app on the test's clock, connected to the simulators; the scheduler off (tests run
    the outbox with `run_due`), retries quick, a Retry-After waited on the test's clock."""
    with_emails(slack)
    slack.workspace.clock = lambda: clock().timestamp()
    values: dict[str, Any] = dict(trackers=trackers.settings(default, webhooks=webhooks), public_url=PUBLIC_URL,
                                  lead_nudge_minutes=0, idle_nudge_hours=0, update_intervals=())
    values.update(overrides)
    running = start_app(database_url, slack, clock=clock, **values)
    pool = running.runtime.app.scribe.trackers  # type: ignore[attr-defined]
    pool.retry = FAST
    waits: list[float] = []
    pool.sleep = lambda seconds: (waits.append(seconds), clock.advance(seconds=seconds))
    pool.close()  # built at start; built again on first use, with these
    running.waits = waits  # type: ignore[attr-defined]
    return running


def ticket_of(app: Any, item_id: int = 1) -> ItemTicket | None:
    with app.session_factory() as s:
        return s.scalars(select(ItemTicket).where(ItemTicket.action_item_id == item_id)).first()


def item_of(app: Any, item_id: int = 1) -> ActionItem:
    with app.session_factory() as s:
        return s.get(ActionItem, item_id)


def rows(app: Any, kind: str) -> list[OutboxItem]:
    with app.session_factory() as s:
        return list(s.scalars(select(OutboxItem).where(OutboxItem.kind == kind).order_by(OutboxItem.id)))


def pending_reminders(app: Any, item_id: int = 1) -> list[str]:
    with app.session_factory() as s:
        return list(s.scalars(select(OutboxItem.dedupe_key).where(
            OutboxItem.action_item_id == item_id, OutboxItem.status == "pending").order_by(OutboxItem.due_at)))


def told(app: Any) -> list[str]:
    """What the app told people privately: lines through response URLs and ephemeral
    messages, in order (DMs from reminders are left out)."""
    calls = [c for c in app.api.calls if c.method in ("response_url", "chat.postEphemeral") and c.status == 200]
    return [str(c.params.get("text")) for c in sorted(calls, key=lambda c: c.at) if c.params.get("text")]


def routes(sim: Any) -> list[str]:
    """The tracker API calls a simulator answered, in order."""
    return [c.route for c in sim.calls]


def run_due(app: Any) -> Any:
    """The outbox's poll at the test's time, then what it started (lines to people) finished."""
    report = app.runtime.outbox.run_due()
    app.settle()
    return report
