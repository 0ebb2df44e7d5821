"""Trackers built from settings: what the integration layer calls instead of naming adapters."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from .base import Tracker
from .github import GitHubTracker, github_web_url
from .gitlab import GitLabTracker
from .http import Clock, RetryPolicy, Sleep, utc_now
from .jira import JiraTracker
from .linear import LinearTracker
from .links import parse_ticket_link
from .model import JIRA_WONTFIX_RESOLUTIONS, TicketRef, TrackerName
from .settings import TrackerSettings


class TrackerNotConfigured(Exception):
    """The named tracker has no credentials in the settings."""


def build_tracker(settings: TrackerSettings, name: str, *, retry: RetryPolicy | None = None,
                  sleep: Sleep | None = None, clock: Clock = utc_now,
                  transport: httpx.BaseTransport | None = None) -> Tracker:
    """The adapter for `name` ("jira", "github", "linear", "gitlab"). One per process is
    enough: adapters are thread-safe (httpx.Client is) and cache team and label ids."""
    if name == "jira" and settings.jira.configured:
        jira = settings.jira
        return JiraTracker(base_url=str(jira.base_url), email=jira.email, api_token=jira.api_token, pat=jira.pat,
                           issue_type=jira.issue_type, priority_names=jira.priorities,
                           wontfix_resolutions=jira.wontfix_resolutions or JIRA_WONTFIX_RESOLUTIONS,
                           retry=retry, sleep=sleep, clock=clock, transport=transport)
    if name == "github" and settings.github.configured:
        return GitHubTracker(token=str(settings.github.token), base_url=settings.github.base_url,
                             retry=retry, sleep=sleep, clock=clock, transport=transport)
    if name == "linear" and settings.linear.configured:
        return LinearTracker(api_key=str(settings.linear.api_key), api_url=settings.linear.base_url,
                             retry=retry, sleep=sleep, clock=clock, transport=transport)
    if name == "gitlab" and settings.gitlab.configured:
        return GitLabTracker(token=str(settings.gitlab.token), base_url=settings.gitlab.base_url,
                             retry=retry, sleep=sleep, clock=clock, transport=transport)
    raise TrackerNotConfigured(f"{name} is not connected: its token is not set.")


def default_target(settings: TrackerSettings, name: str) -> str | None:
    """The tracker's own default target from the settings (JIRA_PROJECT, GITHUB_REPO…)."""
    return {"jira": settings.jira.project, "github": settings.github.repo, "linear": settings.linear.team,
            "gitlab": settings.gitlab.project}.get(name)


def webhook_secret(settings: TrackerSettings, name: str) -> str | None:
    return {"jira": settings.jira.webhook_secret, "github": settings.github.webhook_secret,
            "linear": settings.linear.webhook_secret, "gitlab": settings.gitlab.webhook_secret}.get(name)


def web_bases(settings: TrackerSettings) -> Mapping[str, str]:
    """Self-hosted web addresses, so pasted links to them are recognised."""
    bases = {"github": github_web_url(settings.github.base_url), "gitlab": settings.gitlab.base_url}
    if settings.jira.base_url:
        bases["jira"] = settings.jira.base_url
    return bases


def parse_link_for(settings: TrackerSettings, text: str) -> TicketRef | None:
    """parse_ticket_link with this workspace's trackers, default and self-hosted bases."""
    configured: tuple[TrackerName, ...] = settings.configured()  # type: ignore[assignment]
    default: TrackerName | None = settings.default  # type: ignore[assignment]
    return parse_ticket_link(text, default=default, configured=configured, web_bases=web_bases(settings))
