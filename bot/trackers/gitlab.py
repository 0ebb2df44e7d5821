"""GitLab issues, on gitlab.com or a self-managed instance (REST v4).

- Auth: `PRIVATE-TOKEN: <token>` (a project or personal access token with the `api` scope).
- Target: the project's full path ("group/subgroup/project") or its numeric id.
- The marker is a label, and a hidden HTML comment in the description.
- Priority is a label ("priority:p1"); the due date is `due_date`.
- Status: `state` is opened or closed; GitLab records no reason, so closed means done.
- Email → account: `/users?search=<email>` matches public emails (every email for an admin
  token); the one exact match is the person.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

import httpx

from .errors import clip
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
    gitlab_item_status,
    markdown_body,
)
from .timestamps import iso_z, parse_timestamp

DEFAULT_BASE_URL = "https://gitlab.com"
TITLE_LIMIT = 255
PAGE_SIZE = 100
MAX_PAGES = 10


class GitLabTracker:
    name: Literal["gitlab"] = "gitlab"
    label = "GitLab"

    def __init__(self, *, token: str, base_url: str = DEFAULT_BASE_URL, retry: RetryPolicy | None = None,
                 sleep: Sleep | None = None, clock: Clock = utc_now,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        extra = {"sleep": sleep} if sleep is not None else {}
        self.http = TrackerHttp(
            tracker="gitlab", label="GitLab", base_url=f"{self.base_url}/api/v4", token_setting="GITLAB_TOKEN",
            secrets=[token], headers={"PRIVATE-TOKEN": token, "Accept": "application/json"},
            classify=_classify, read_rate_limit=_rate_limit, retry=retry, clock=clock, transport=transport, **extra)

    def __repr__(self) -> str:
        return f"GitLabTracker({self.base_url!r})"

    def close(self) -> None:
        self.http.close()

    def create(self, spec: TicketSpec, target: str) -> Ticket:
        labels = spec.labels(priority_as_label=True)
        payload: dict[str, Any] = {"title": clip(spec.title, TITLE_LIMIT), "description": markdown_body(spec),
                                   "labels": ",".join(labels)}
        if spec.due is not None:
            payload["due_date"] = spec.due.isoformat()
        if spec.assignee_id:
            payload["assignee_ids"] = [int(spec.assignee_id)]
        issue = self.http.json("POST", f"/projects/{_project(target)}/issues", json=payload, safe=False,
                                  what=f"project {target}")
        return _ticket(issue, target)

    def find_by_marker(self, marker: str, target: str) -> Ticket | None:
        issues = self.http.json("GET", f"/projects/{_project(target)}/issues",
                                   params={"labels": marker, "scope": "all", "order_by": "created_at", "sort": "asc",
                                           "per_page": 10},
                                   safe=True, what=f"project {target}")
        return _ticket(issues[0], target) if issues else None

    def fetch(self, ref: TicketRef) -> TicketState:
        issue = self.http.json("GET", f"/projects/{_project(ref.target)}/issues/{ref.number}", safe=True,
                                  what=f"issue {ref.key}")
        return gitlab_state(issue, ref.target)

    def changed_since(self, since: datetime, target: str) -> list[TicketState]:
        states: list[TicketState] = []
        for page in range(1, MAX_PAGES + 1):
            issues = self.http.json("GET", f"/projects/{_project(target)}/issues",
                                       params={"updated_after": iso_z(since), "scope": "all", "order_by": "updated_at",
                                               "sort": "asc", "per_page": PAGE_SIZE, "page": page},
                                       safe=True, what=f"project {target}")
            states.extend(gitlab_state(issue, target) for issue in issues)
            if len(issues) < PAGE_SIZE:
                break
        return sorted((s for s in states if s.updated_at >= since), key=lambda s: s.updated_at)

    def find_user_by_email(self, email: str, target: str) -> str | None:
        users = self.http.json("GET", "/users", params={"search": email.strip(), "per_page": 5}, safe=True)
        wanted = email.strip().lower()
        exact = [u for u in users if wanted in {str(u.get("public_email") or "").lower(), str(u.get("email") or "").lower()}
                 and u.get("state", "active") == "active"]
        return str(exact[0]["id"]) if len(exact) == 1 else None

    def ticket_url(self, ref: TicketRef) -> str:
        return f"{self.base_url}/{ref.target}/-/issues/{ref.number}"


def gitlab_state(issue: Mapping[str, Any], project: str) -> TicketState:
    """A GitLab issue (REST answer) as a TicketState. Pure."""
    assignees = issue.get("assignees") or ([issue["assignee"]] if issue.get("assignee") else [])
    first = assignees[0] if assignees else {}
    state = str(issue.get("state") or "")
    key = f"{project}#{issue['iid']}"
    return TicketState(
        ref=TicketRef("gitlab", key, issue.get("web_url")),
        status=gitlab_item_status(state),
        status_name="Closed" if state == "closed" else "Open",
        title=str(issue.get("title") or ""),
        updated_at=parse_timestamp(str(issue.get("updated_at"))),
        assignee_id=str(first["id"]) if first.get("id") is not None else None,
        assignee_email=first.get("email") or first.get("public_email"),
        assignee_name=first.get("username") or first.get("name"),
    )


def _ticket(issue: Mapping[str, Any], target: str) -> Ticket:
    key = f"{target}#{issue['iid']}"
    url = str(issue.get("web_url") or "")
    return Ticket(TicketRef("gitlab", key, url or None), url, str(issue["id"]))


def _project(target: str) -> str:
    """A project's path, URL-encoded as GitLab wants it in a path ("group%2Fproject"), or its id."""
    if not target or target.startswith("/") or target.endswith("/"):
        raise ValueError(f"a GitLab target is group/project or a project id, got {target!r}")
    return target if target.isdigit() else quote(target, safe="")


def _classify(response: httpx.Response, body: Any, now: datetime) -> Failure:
    status = response.status_code
    detail = _gitlab_detail(body)
    kind = kind_for_status(status)
    wait = retry_after_seconds(response.headers, now) if kind == "rate_limited" else None
    return Failure(kind, detail, wait if wait is not None or kind != "rate_limited" else 60.0)


def _gitlab_detail(body: Any) -> str | None:
    """GitLab's {"message": "…"} or {"message": {field: [messages]}} or {"error": "…"}."""
    if not isinstance(body, dict):
        text = str(body or "").strip()
        return None if not text or text.startswith("<") else text
    message = body.get("message", body.get("error"))
    if isinstance(message, dict):
        return "; ".join(f"{field} {' '.join(map(str, texts)) if isinstance(texts, list) else texts}"
                         for field, texts in message.items()) or None
    return str(message) if message else None


def _rate_limit(headers: httpx.Headers, now: datetime) -> RateLimit:
    reset = int_header(headers, "ratelimit-reset")
    return RateLimit(int_header(headers, "ratelimit-limit"), int_header(headers, "ratelimit-remaining"),
                     datetime.fromtimestamp(reset, UTC) if reset is not None else None)
