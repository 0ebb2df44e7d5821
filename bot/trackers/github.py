"""GitHub Issues, on github.com (`https://api.github.com`) or Enterprise Server
(`https://HOST/api/v3`).

- Auth: `Authorization: Bearer <token>` (a fine-grained token with Issues read/write, or a
  classic one with `repo`), plus `X-GitHub-Api-Version`.
- The marker is a label, and a hidden HTML comment in the body. It is found again by
  listing the repository's issues with that label (consistent, unlike the search API,
  which indexes with a delay). GitHub silently drops the labels of a token without write
  access to the repository; once a create shows that, this process also searches the
  bodies of that repository (the search API allows 30 requests a minute, too few to use
  on every create).
- GitHub has no due date or priority fields: the due date goes in the body, the priority
  in a label ("priority:p1").
- Status: `state` plus `state_reason` (completed, not_planned, duplicate, reopened).
- Email → account: GitHub has no email lookup for most users. We search users by email
  (`/search/users?q=<email> in:email`), which only finds people whose email is public,
  then check the account may be assigned in the repository; otherwise "no match".
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

from .errors import TrackerError, clip
from .http import (
    Clock,
    Failure,
    RateLimit,
    RetryPolicy,
    Sleep,
    TrackerHttp,
    int_header,
    kind_for_status,
    retry_after_seconds,
    utc_now,
)
from .model import (
    Ticket,
    TicketRef,
    TicketSpec,
    TicketState,
    github_item_status,
    github_status_name,
    markdown_body,
    marker_comment,
)
from .timestamps import iso_z, parse_timestamp

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
TITLE_LIMIT = 256
PAGE_SIZE = 100
MAX_PAGES = 10
REPO_PATTERN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")


class GitHubTracker:
    name: Literal["github"] = "github"
    label = "GitHub"

    def __init__(self, *, token: str, base_url: str = DEFAULT_API_URL, web_url: str | None = None,
                 retry: RetryPolicy | None = None, sleep: Sleep | None = None, clock: Clock = utc_now,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.web_url = (web_url or github_web_url(self.base_url)).rstrip("/")
        extra = {"sleep": sleep} if sleep is not None else {}
        self.http = TrackerHttp(
            tracker="github", label="GitHub", base_url=self.base_url, token_setting="GITHUB_TOKEN", secrets=[token],
            headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
                     "X-GitHub-Api-Version": API_VERSION, "User-Agent": "incident-scribe"},
            classify=_classify, read_rate_limit=_rate_limit, retry=retry, clock=clock, transport=transport, **extra)
        self._labels_dropped: set[str] = set()  # repositories whose creates lost their labels

    def __repr__(self) -> str:
        return f"GitHubTracker({self.base_url!r})"

    def close(self) -> None:
        self.http.close()

    def create(self, spec: TicketSpec, target: str) -> Ticket:
        labels = spec.labels(priority_as_label=True)
        payload: dict[str, Any] = {"title": clip(spec.title, TITLE_LIMIT), "body": markdown_body(spec), "labels": labels}
        if spec.assignee_id:
            payload["assignees"] = [spec.assignee_id]
        issue = self.http.json("POST", f"/repos/{_repo(target)}/issues", json=payload, safe=False,
                                  what=f"repository {target}")
        if spec.marker not in {str(label.get("name")) for label in issue.get("labels") or [] if isinstance(label, dict)}:
            log.warning("GitHub dropped the labels of %s#%s: the token needs write access to %s",
                        target, issue.get("number"), target)
            self._labels_dropped.add(target)
        return self._ticket(issue, target)

    def find_by_marker(self, marker: str, target: str) -> Ticket | None:
        listed = self.http.json("GET", f"/repos/{_repo(target)}/issues",
                                   params={"labels": marker, "state": "all", "per_page": 10, "sort": "created",
                                           "direction": "asc"},
                                   safe=True, what=f"repository {target}")
        issues = [i for i in listed if "pull_request" not in i]
        if not issues and target in self._labels_dropped:
            query = f'repo:{target} is:issue in:body "{marker}"'
            found = self.http.json("GET", "/search/issues", params={"q": query, "per_page": 10}, safe=True,
                                      what=f"repository {target}")
            issues = [i for i in found.get("items") or [] if "pull_request" not in i
                      and marker_comment(marker) in str(i.get("body") or "")]
        if not issues:
            return None
        first = min(issues, key=lambda i: int(i["number"]))
        return self._ticket(first, target)

    def fetch(self, ref: TicketRef) -> TicketState:
        issue = self.http.json("GET", f"/repos/{_repo(ref.target)}/issues/{ref.number}", safe=True,
                                  what=f"issue {ref.key}")
        return github_state(issue, ref.target, self.web_url)

    def changed_since(self, since: datetime, target: str) -> list[TicketState]:
        states: list[TicketState] = []
        for page in range(1, MAX_PAGES + 1):
            issues = self.http.json("GET", f"/repos/{_repo(target)}/issues",
                                       params={"state": "all", "since": iso_z(since), "sort": "updated",
                                               "direction": "asc", "per_page": PAGE_SIZE, "page": page},
                                       safe=True, what=f"repository {target}")
            states.extend(github_state(i, target, self.web_url) for i in issues if "pull_request" not in i)
            if len(issues) < PAGE_SIZE:
                break
        return sorted((s for s in states if s.updated_at >= since), key=lambda s: s.updated_at)

    def find_user_by_email(self, email: str, target: str) -> str | None:
        found = self.http.json("GET", "/search/users", params={"q": f"{email} in:email", "per_page": 2},
                                  safe=True)
        items = found.get("items") or []
        if len(items) != 1:
            return None
        login = str(items[0]["login"])
        try:
            self.http.request("GET", f"/repos/{_repo(target)}/assignees/{login}", safe=True,
                              what=f"repository {target}")
        except TrackerError as error:
            if error.kind == "not_found":  # 404: not assignable in this repository
                return None
            raise
        return login

    def ticket_url(self, ref: TicketRef) -> str:
        return f"{self.web_url}/{ref.target}/issues/{ref.number}"

    def _ticket(self, issue: Mapping[str, Any], target: str) -> Ticket:
        key = f"{target}#{issue['number']}"
        url = str(issue.get("html_url") or f"{self.web_url}/{target}/issues/{issue['number']}")
        return Ticket(TicketRef("github", key, url), url, str(issue["id"]))


def github_web_url(api_url: str) -> str:
    """The web address for an API base: api.github.com → github.com; GHES's
    https://HOST/api/v3 → https://HOST."""
    base = api_url.rstrip("/")
    if base == DEFAULT_API_URL:
        return "https://github.com"
    return base[: -len("/api/v3")] if base.endswith("/api/v3") else base


def github_state(issue: Mapping[str, Any], repo: str, web_url: str = "https://github.com") -> TicketState:
    """A GitHub issue (REST answer or webhook `issue`) as a TicketState. Pure."""
    state, reason = issue.get("state"), issue.get("state_reason")
    assignee = issue.get("assignee") or {}
    number = issue["number"]
    key = f"{repo}#{number}"
    url = str(issue.get("html_url") or f"{web_url.rstrip('/')}/{repo}/issues/{number}")
    return TicketState(
        ref=TicketRef("github", key, url),
        status=github_item_status(state, reason),
        status_name=github_status_name(state, reason),
        title=str(issue.get("title") or ""),
        updated_at=parse_timestamp(str(issue.get("updated_at"))),
        assignee_id=str(assignee["login"]) if assignee.get("login") else None,
        assignee_email=assignee.get("email"),
        assignee_name=str(assignee["login"]) if assignee.get("login") else None,
    )


def _repo(target: str) -> str:
    if not REPO_PATTERN.match(target):
        raise ValueError(f"a GitHub target is owner/repo, got {target!r}")
    return target


def _classify(response: httpx.Response, body: Any, now: datetime) -> Failure:
    status = response.status_code
    detail = _github_detail(body)
    retry_after = retry_after_seconds(response.headers, now)
    # The primary rate limit answers 403 or 429 with x-ratelimit-remaining: 0 (wait until
    # x-ratelimit-reset); a secondary one answers 403 or 429 with Retry-After.
    if status in (403, 429):
        remaining = int_header(response.headers, "x-ratelimit-remaining")
        if retry_after is not None or remaining == 0 or status == 429 or "rate limit" in (detail or "").lower():
            if retry_after is None:
                reset = int_header(response.headers, "x-ratelimit-reset")
                retry_after = max(1.0, reset - now.timestamp()) if reset is not None else 60.0
            return Failure("rate_limited", detail, retry_after)
    return Failure(kind_for_status(status), detail)


def _github_detail(body: Any) -> str | None:
    """GitHub's {"message": …, "errors": [{resource, field, code[, message, value]}]} in one line."""
    if not isinstance(body, dict):
        text = str(body or "").strip()
        return text or None
    parts = [str(body.get("message") or "").replace("\n\n", " ").strip()]
    for error in body.get("errors") or []:
        if isinstance(error, dict):
            if error.get("message"):
                parts.append(str(error["message"]))
            else:
                value = f" ({error['value']})" if error.get("value") not in (None, "") else ""
                parts.append(f"{error.get('field', '?')} is {error.get('code', 'invalid')}{value}")
        else:
            parts.append(str(error))
    return "; ".join(p for p in parts if p) or None


def _rate_limit(headers: httpx.Headers, now: datetime) -> RateLimit:
    reset = int_header(headers, "x-ratelimit-reset")
    return RateLimit(int_header(headers, "x-ratelimit-limit"), int_header(headers, "x-ratelimit-remaining"),
                     datetime.fromtimestamp(reset, UTC) if reset is not None else None)
