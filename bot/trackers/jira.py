"""Jira: Cloud over REST v3, Data Center/Server over REST v2.

The differences that matter here:
- Auth: Cloud takes Basic `email:api-token`; Data Center a personal access token as
  `Authorization: Bearer <PAT>`.
- Description: v3 takes Atlassian Document Format (ADF), v2 plain text with wiki markup.
- Assignee: Cloud names people by `accountId`, Data Center by `name` (username).
- Search: Cloud's `GET /rest/api/3/search/jql` pages with `nextPageToken`; v2's
  `GET /rest/api/2/search` with `startAt`.

The marker is a label (`scribe-…`), found again with JQL. Status is read by category
(`fields.status.statusCategory.key`) plus the resolution for won't-do.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

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
    JIRA_PRIORITY_NAMES,
    JIRA_WONTFIX_RESOLUTIONS,
    Ticket,
    TicketRef,
    TicketSpec,
    TicketState,
    jira_item_status,
    priority_index,
)
from .timestamps import parse_timestamp

JiraDeployment = Literal["cloud", "datacenter"]
STATE_FIELDS = "summary,status,resolution,assignee,updated"
SUMMARY_LIMIT = 255  # Jira refuses a longer summary
PAGE_SIZE = 100
MAX_PAGES = 10


class JiraTracker:
    name: Literal["jira"] = "jira"
    label = "Jira"

    def __init__(self, *, base_url: str, email: str | None = None, api_token: str | None = None,
                 pat: str | None = None, issue_type: str = "Task",
                 priority_names: tuple[str, ...] = JIRA_PRIORITY_NAMES,
                 wontfix_resolutions: frozenset[str] = JIRA_WONTFIX_RESOLUTIONS,
                 retry: RetryPolicy | None = None, sleep: Sleep | None = None, clock: Clock = utc_now,
                 transport: httpx.BaseTransport | None = None) -> None:
        if pat:
            self.deployment: JiraDeployment = "datacenter"
            authorization, secrets, setting = f"Bearer {pat}", [pat], "JIRA_PAT"
        elif email and api_token:
            self.deployment = "cloud"
            basic = base64.b64encode(f"{email}:{api_token}".encode()).decode()
            authorization, secrets, setting = f"Basic {basic}", [api_token, basic], "JIRA_API_TOKEN"
        else:
            raise ValueError("Jira needs JIRA_EMAIL with JIRA_API_TOKEN (Cloud) or JIRA_PAT (Data Center)")
        if len(priority_names) != 4:
            raise ValueError("priority_names must name Jira priorities for p0, p1, p2 and p3")
        self.base_url = base_url.rstrip("/")
        self.api = "/rest/api/3" if self.deployment == "cloud" else "/rest/api/2"
        self.issue_type = issue_type
        self.priority_names = priority_names
        self.wontfix_resolutions = wontfix_resolutions
        self._clock = clock
        extra = {"sleep": sleep} if sleep is not None else {}
        self.http = TrackerHttp(
            tracker="jira", label="Jira", base_url=self.base_url, token_setting=setting, secrets=secrets,
            headers={"Authorization": authorization, "Accept": "application/json"},
            classify=_classify, read_rate_limit=_rate_limit, retry=retry, clock=clock, transport=transport, **extra)

    def __repr__(self) -> str:
        return f"JiraTracker({self.base_url!r}, {self.deployment})"

    def close(self) -> None:
        self.http.close()

    # -- the Tracker interface ------------------------------------------------------------

    def create(self, spec: TicketSpec, target: str) -> Ticket:
        fields: dict[str, Any] = {
            "project": {"key": target},
            "summary": clip(spec.title, SUMMARY_LIMIT),
            "issuetype": {"name": self.issue_type},
            "description": self.description(spec),
            "labels": spec.labels(),
        }
        index = priority_index(spec.priority)
        if index is not None:
            fields["priority"] = {"name": self.priority_names[index]}
        if spec.due is not None:
            fields["duedate"] = spec.due.isoformat()
        if spec.assignee_id:
            fields["assignee"] = {"accountId": spec.assignee_id} if self.deployment == "cloud" else {"name": spec.assignee_id}
        answer = self.http.json("POST", f"{self.api}/issue", json={"fields": fields}, safe=False,
                                   what=f"project {target}")
        key = str(answer["key"])
        ref = TicketRef("jira", key, self.browse_url(key))
        return Ticket(ref, self.browse_url(key), str(answer["id"]))

    def find_by_marker(self, marker: str, target: str) -> Ticket | None:
        jql = f"project = {_quote(target)} AND labels = {_quote(marker)} ORDER BY created ASC"
        issues = self._search(jql, fields="summary", limit=1, what=f"project {target}")
        if not issues:
            return None
        key = str(issues[0]["key"])
        return Ticket(TicketRef("jira", key, self.browse_url(key)), self.browse_url(key), str(issues[0]["id"]))

    def fetch(self, ref: TicketRef) -> TicketState:
        issue = self.http.json("GET", f"{self.api}/issue/{ref.key}", params={"fields": STATE_FIELDS}, safe=True,
                                  what=f"issue {ref.key}")
        return self.state(issue)

    def changed_since(self, since: datetime, target: str) -> list[TicketState]:
        # A relative JQL date ("-15m") doesn't depend on the account's time zone, which an
        # absolute one would; its minute precision is covered by one minute more, and the
        # exact cut is made here on `updated`.
        minutes = max(1, math.ceil((self._clock() - since).total_seconds() / 60) + 1)
        jql = f"project = {_quote(target)} AND updated >= \"-{minutes}m\" ORDER BY updated ASC"
        issues = self._search(jql, fields=STATE_FIELDS, limit=PAGE_SIZE * MAX_PAGES, what=f"project {target}")
        states = [self.state(issue) for issue in issues]
        return sorted((s for s in states if s.updated_at >= since), key=lambda s: s.updated_at)

    def find_user_by_email(self, email: str, target: str) -> str | None:
        if self.deployment == "cloud":
            params = {"project": target, "query": email, "maxResults": 10}
        else:
            params = {"project": target, "username": email, "maxResults": 10}
        users = self.http.json("GET", f"{self.api}/user/assignable/search", params=params, safe=True,
                                  what=f"project {target}")
        chosen = _one_person(users, email)
        if chosen is None:
            return None
        return str(chosen.get("accountId") if self.deployment == "cloud" else chosen.get("name"))

    def ticket_url(self, ref: TicketRef) -> str:
        return self.browse_url(ref.key)

    # -- helpers ----------------------------------------------------------------------------

    def browse_url(self, key: str) -> str:
        return f"{self.base_url}/browse/{key}"

    def description(self, spec: TicketSpec) -> Any:
        lines = spec.description_lines()
        if self.deployment == "cloud":
            return adf_document(lines)
        return "\n".join(f"[{text}|{link}]" if link else text for text, link in lines)

    def state(self, issue: Mapping[str, Any]) -> TicketState:
        return jira_state(issue, self.base_url, self.wontfix_resolutions)

    def _search(self, jql: str, *, fields: str, limit: int, what: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        if self.deployment == "cloud":
            token: str | None = None
            while len(found) < limit:
                params: dict[str, Any] = {"jql": jql, "fields": fields, "maxResults": min(PAGE_SIZE, limit)}
                if token:
                    params["nextPageToken"] = token
                page = self.http.json("GET", f"{self.api}/search/jql", params=params, safe=True, what=what)
                found.extend(page.get("issues") or [])
                token = page.get("nextPageToken")
                if page.get("isLast", True) or not token:
                    break
        else:
            start = 0
            while len(found) < limit:
                params = {"jql": jql, "fields": fields, "maxResults": min(PAGE_SIZE, limit), "startAt": start}
                page = self.http.json("GET", f"{self.api}/search", params=params, safe=True, what=what)
                issues = page.get("issues") or []
                found.extend(issues)
                start += len(issues)
                if not issues or start >= int(page.get("total", 0)):
                    break
        return found[:limit]


def jira_state(issue: Mapping[str, Any], base_url: str,
               wontfix_resolutions: frozenset[str] = JIRA_WONTFIX_RESOLUTIONS) -> TicketState:
    """A Jira issue (REST answer or webhook `issue`) as a TicketState. Pure."""
    fields = issue.get("fields") or {}
    status = fields.get("status") or {}
    category = (status.get("statusCategory") or {}).get("key")
    resolution = (fields.get("resolution") or {}).get("name")
    assignee = fields.get("assignee") or {}
    key = str(issue["key"])
    base = base_url.rstrip("/")
    name = str(status.get("name") or "?")
    item_status = jira_item_status(category, resolution, wontfix_resolutions)
    if item_status == "wontfix" and resolution:
        name = f"{name} ({resolution})"
    return TicketState(
        ref=TicketRef("jira", key, f"{base}/browse/{key}"),
        status=item_status,
        status_name=name,
        title=str(fields.get("summary") or ""),
        updated_at=parse_timestamp(str(fields.get("updated"))),
        assignee_id=(assignee.get("accountId") or assignee.get("name")) if assignee else None,
        assignee_email=assignee.get("emailAddress") if assignee else None,
        assignee_name=assignee.get("displayName") if assignee else None,
    )


def adf_document(lines: list[tuple[str, str | None]]) -> dict[str, Any]:
    """Atlassian Document Format: one paragraph per line, links as `link` marks."""
    paragraphs = []
    for text, link in lines:
        node: dict[str, Any] = {"type": "text", "text": text}
        if link:
            node["marks"] = [{"type": "link", "attrs": {"href": link}}]
        paragraphs.append({"type": "paragraph", "content": [node]})
    return {"type": "doc", "version": 1, "content": paragraphs}


def _one_person(users: Any, email: str) -> dict[str, Any] | None:
    """The one active user the email names: an exact emailAddress match, or, since Jira Cloud
    hides most people's email (profile visibility) yet still matches the query on it, the
    only result when it shows no email at all."""
    active = [u for u in users if isinstance(u, dict) and u.get("active", True)] if isinstance(users, list) else []
    wanted = email.strip().lower()
    exact = [u for u in active if str(u.get("emailAddress") or "").lower() == wanted]
    if len(exact) == 1:
        return exact[0]
    if not exact and len(active) == 1 and not active[0].get("emailAddress"):
        return active[0]
    return None


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _classify(response: httpx.Response, body: Any, now: datetime) -> Failure:
    status = response.status_code
    detail = _jira_detail(body)
    kind = kind_for_status(status)
    retry_after = retry_after_seconds(response.headers, now)
    if kind == "invalid" and isinstance(body, dict):
        errors = body.get("errors") or {}
        messages = " ".join(str(m) for m in body.get("errorMessages") or [])
        # Jira answers a create in a missing (or invisible) project with 400 on the
        # `project` field, and JQL on one with "does not exist for the field 'project'".
        if "project" in errors or "for the field 'project'" in messages:
            return Failure("not_found", detail)
    if status == 503 and retry_after is not None:
        return Failure("unavailable", detail, retry_after)
    return Failure(kind, detail, retry_after if kind == "rate_limited" else None)


def _jira_detail(body: Any) -> str | None:
    """Jira's error collection ({"errorMessages": [...], "errors": {field: message}}) in one line."""
    if isinstance(body, dict):
        parts = [str(m) for m in body.get("errorMessages") or []]
        parts += [f"{field}: {message}" for field, message in (body.get("errors") or {}).items()]
        if not parts and body.get("message"):
            parts.append(str(body["message"]))
        return "; ".join(parts) or None
    text = str(body or "").strip()
    return None if not text or text.lstrip().startswith("<") else text


def _rate_limit(headers: httpx.Headers, now: datetime) -> RateLimit:
    reset_at = None
    raw = headers.get("x-ratelimit-reset")
    if raw:
        try:
            reset_at = parse_timestamp(raw)
        except ValueError:
            reset_at = None
    if reset_at is None:
        wait = retry_after_seconds(headers, now)
        reset_at = now + timedelta(seconds=wait) if wait is not None else None
    return RateLimit(int_header(headers, "x-ratelimit-limit"), int_header(headers, "x-ratelimit-remaining"), reset_at)
