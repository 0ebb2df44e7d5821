"""Linear, over its GraphQL API (`POST https://api.linear.app/graphql`).

- Auth: a personal API key is sent bare (`Authorization: <key>`); an OAuth access token
  as `Authorization: Bearer <token>` (give the setting its "Bearer " prefix).
- The marker becomes the issue's id: `issueCreate` takes a client-chosen UUID v4, so the
  id is derived from the marker (`marker_uuid`) and found again with an id filter. The
  marker is also written at the end of the description, for people.
- Labels are ids in Linear: each label name is looked up in the team (or workspace) and
  created in the team when missing, once per process.
- Priority: 1 = Urgent … 4 = Low; due date: `dueDate` (a date).
- Status: the workflow state's `type`, never its name.
- Errors come as GraphQL `errors` with `extensions.type` ("authentication error",
  "forbidden", "ratelimited", "invalid input", "graphql error"…), whatever the HTTP status.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

from .errors import ErrorKind, TrackerError, clip
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
    LINEAR_PRIORITIES,
    Ticket,
    TicketRef,
    TicketSpec,
    TicketState,
    linear_item_status,
    markdown_body,
    marker_uuid,
    priority_index,
)
from .timestamps import iso_z, parse_timestamp

DEFAULT_API_URL = "https://api.linear.app/graphql"
TITLE_LIMIT = 255
PAGE_SIZE = 100
MAX_PAGES = 10

ISSUE_FIELDS = "id identifier url title updatedAt state { name type } assignee { id email name }"

TEAM_QUERY = "query ScribeTeam($key: String!) { teams(filter: {key: {eq: $key}}, first: 1) { nodes { id key } } }"
LABELS_QUERY = """query ScribeLabels($names: [String!]!) {
  issueLabels(filter: {name: {in: $names}}, first: 100) { nodes { id name team { id } } }
}"""
LABEL_CREATE = """mutation ScribeLabelCreate($input: IssueLabelCreateInput!) {
  issueLabelCreate(input: $input) { success issueLabel { id name } }
}"""
ISSUE_CREATE = """mutation ScribeIssueCreate($input: IssueCreateInput!) {
  issueCreate(input: $input) { success issue { id identifier url } }
}"""
ISSUE_BY_ID = """query ScribeIssueById($id: ID!) {
  issues(filter: {id: {eq: $id}}, first: 1) { nodes { id identifier url } }
}"""
ISSUE_STATE = f"query ScribeIssue($id: String!) {{ issue(id: $id) {{ {ISSUE_FIELDS} }} }}"
ISSUES_CHANGED = f"""query ScribeIssuesChanged($team: String!, $since: DateTimeOrDuration!, $after: String) {{
  issues(filter: {{team: {{key: {{eq: $team}}}}, updatedAt: {{gte: $since}}}}, first: {PAGE_SIZE}, after: $after,
         orderBy: updatedAt) {{
    nodes {{ {ISSUE_FIELDS} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}"""
USERS_BY_EMAIL = """query ScribeUsers($email: String!) {
  users(filter: {email: {eqIgnoreCase: $email}}, first: 2) { nodes { id email name active } }
}"""


class LinearTracker:
    name: Literal["linear"] = "linear"
    label = "Linear"

    def __init__(self, *, api_key: str, api_url: str = DEFAULT_API_URL, retry: RetryPolicy | None = None,
                 sleep: Sleep | None = None, clock: Clock = utc_now,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.api_url = api_url
        # httpx would add a slash to a base URL's path; the endpoint path is sent instead.
        parsed = httpx.URL(api_url)
        self._path = parsed.raw_path.decode("ascii") or "/graphql"
        origin = str(parsed.copy_with(raw_path=b"/", query=None, fragment=None)).rstrip("/")
        extra = {"sleep": sleep} if sleep is not None else {}
        bare = api_key[len("Bearer "):] if api_key.startswith("Bearer ") else api_key
        self.http = TrackerHttp(
            tracker="linear", label="Linear", base_url=origin, token_setting="LINEAR_API_KEY", secrets=[bare],
            headers={"Authorization": api_key, "Content-Type": "application/json"},
            classify=_classify, read_rate_limit=_rate_limit, retry=retry, clock=clock, transport=transport, **extra)
        self._lock = threading.Lock()
        self._resolving = threading.Lock()
        self._teams: dict[str, str] = {}  # team key → id
        self._labels: dict[tuple[str, str], str] = {}  # (team id, label name) → label id

    def __repr__(self) -> str:
        return f"LinearTracker({self.api_url!r})"

    def close(self) -> None:
        self.http.close()

    def create(self, spec: TicketSpec, target: str) -> Ticket:
        team_id = self._team_id(target)
        issue_input: dict[str, Any] = {
            "id": marker_uuid(spec.marker),
            "teamId": team_id,
            "title": clip(spec.title, TITLE_LIMIT),
            "description": markdown_body(spec, hidden_marker=False),
            "labelIds": self._label_ids(team_id, [n for n in spec.labels() if n != spec.marker]),
        }
        index = priority_index(spec.priority)
        if index is not None:
            issue_input["priority"] = LINEAR_PRIORITIES[index]
        if spec.due is not None:
            issue_input["dueDate"] = spec.due.isoformat()
        if spec.assignee_id:
            issue_input["assigneeId"] = spec.assignee_id
        data = self._graphql(ISSUE_CREATE, {"input": issue_input}, safe=False, what=f"team {target}")
        created = data["issueCreate"]
        if not created.get("success") or not created.get("issue"):
            raise self.http.error("invalid", "issueCreate did not succeed", what=f"team {target}")
        return _ticket(created["issue"])

    def find_by_marker(self, marker: str, target: str) -> Ticket | None:
        nodes = self._graphql(ISSUE_BY_ID, {"id": marker_uuid(marker)}, safe=True)["issues"]["nodes"]
        return _ticket(nodes[0]) if nodes else None

    def fetch(self, ref: TicketRef) -> TicketState:
        data = self._graphql(ISSUE_STATE, {"id": ref.key}, safe=True, what=f"issue {ref.key}")
        if not data.get("issue"):
            raise self.http.error("not_found", None, what=f"issue {ref.key}")
        return linear_state(data["issue"])

    def changed_since(self, since: datetime, target: str) -> list[TicketState]:
        states: list[TicketState] = []
        after: str | None = None
        for _ in range(MAX_PAGES):
            page = self._graphql(ISSUES_CHANGED, {"team": target, "since": iso_z(since), "after": after}, safe=True,
                                 what=f"team {target}")["issues"]
            states.extend(linear_state(node) for node in page["nodes"])
            info = page.get("pageInfo") or {}
            if not info.get("hasNextPage") or not info.get("endCursor"):
                break
            after = info["endCursor"]
        return sorted((s for s in states if s.updated_at >= since), key=lambda s: s.updated_at)

    def find_user_by_email(self, email: str, target: str) -> str | None:
        nodes = self._graphql(USERS_BY_EMAIL, {"email": email.strip()}, safe=True)["users"]["nodes"]
        active = [n for n in nodes if n.get("active", True)]
        return str(active[0]["id"]) if len(active) == 1 else None

    def ticket_url(self, ref: TicketRef) -> str:
        # Linear's issue URLs carry the workspace's URL key, which the key alone doesn't
        # give; the stored URL from the API is the one to show. This is a working fallback.
        return ref.url or f"https://linear.app/issue/{ref.key}"

    # -- helpers ------------------------------------------------------------------------------

    def _team_id(self, key: str) -> str:
        with self._lock:
            if key in self._teams:
                return self._teams[key]
        nodes = self._graphql(TEAM_QUERY, {"key": key}, safe=True, what=f"team {key}")["teams"]["nodes"]
        if not nodes:
            raise self.http.error("not_found", f"no team with the key {key}", what=f"team {key}")
        with self._lock:
            self._teams[key] = str(nodes[0]["id"])
            return self._teams[key]

    def _label_ids(self, team_id: str, names: list[str]) -> list[str]:
        with self._lock:
            if all((team_id, n) in self._labels for n in names):
                return [self._labels[(team_id, n)] for n in names]
        # One resolution at a time in this process: two threads creating the same label would
        # clash ("A label named … already exists"); another process still may, see _find_or_create.
        with self._resolving:
            with self._lock:
                missing = [n for n in names if (team_id, n) not in self._labels]
            if missing:
                found = self._find_labels(team_id, missing)
                for name in missing:
                    if name not in found:
                        found[name] = self._find_or_create(team_id, name)
                with self._lock:
                    for name, label_id in found.items():
                        self._labels[(team_id, name)] = label_id
        with self._lock:
            return [self._labels[(team_id, n)] for n in names]

    def _find_labels(self, team_id: str, names: list[str]) -> dict[str, str]:
        nodes = self._graphql(LABELS_QUERY, {"names": names}, safe=True)["issueLabels"]["nodes"]
        # A team's own label wins over a workspace label of the same name.
        usable = sorted((n for n in nodes if not n.get("team") or n["team"].get("id") == team_id),
                        key=lambda n: 0 if n.get("team") else 1)
        found: dict[str, str] = {}
        for node in usable:
            found.setdefault(str(node["name"]), str(node["id"]))
        return found

    def _find_or_create(self, team_id: str, name: str) -> str:
        try:
            made = self._graphql(LABEL_CREATE, {"input": {"name": name, "teamId": team_id}}, safe=False)
        except TrackerError as error:
            # Made meanwhile by another process: use that one.
            if error.kind == "invalid" and "already exists" in (error.detail or ""):
                again = self._find_labels(team_id, [name])
                if name in again:
                    return again[name]
            raise
        return str(made["issueLabelCreate"]["issueLabel"]["id"])

    def _graphql(self, query: str, variables: Mapping[str, Any], *, safe: bool, what: str | None = None) -> dict[str, Any]:
        body = self.http.json("POST", self._path, json={"query": query, "variables": dict(variables)}, safe=safe,
                                 what=what)
        errors = body.get("errors") if isinstance(body, dict) else None
        if errors:
            found = _graphql_failure(errors)
            raise self.http.error(found.kind, found.detail, what=what)
        return body["data"]


def linear_state(issue: Mapping[str, Any]) -> TicketState:
    """A Linear issue (GraphQL node or webhook `data`) as a TicketState. Pure."""
    state = issue.get("state") or {}
    assignee = issue.get("assignee") or {}
    return TicketState(
        ref=TicketRef("linear", str(issue["identifier"]), issue.get("url")),
        status=linear_item_status(state.get("type")),
        status_name=str(state.get("name") or "?"),
        title=str(issue.get("title") or ""),
        updated_at=parse_timestamp(str(issue.get("updatedAt"))),
        assignee_id=str(assignee["id"]) if assignee.get("id") else None,
        assignee_email=assignee.get("email"),
        assignee_name=assignee.get("name"),
    )


def _ticket(node: Mapping[str, Any]) -> Ticket:
    url = str(node.get("url") or "")
    return Ticket(TicketRef("linear", str(node["identifier"]), url or None), url, str(node["id"]))


_TYPE_KINDS: dict[str, ErrorKind] = {
    "authentication error": "auth", "forbidden": "auth", "feature not accessible": "auth",
    "ratelimited": "rate_limited", "invalid input": "invalid", "graphql error": "invalid", "user error": "invalid",
    "internal error": "unavailable", "lock timeout": "unavailable", "network error": "unavailable",
    "usage limit exceeded": "invalid",
}


def _graphql_failure(errors: list[Any], status: int | None = None) -> Failure:
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    extensions = first.get("extensions") or {}
    message = str(extensions.get("userPresentableMessage") or first.get("message") or "").strip()
    kind = _TYPE_KINDS.get(str(extensions.get("type") or "").lower())
    code = str(extensions.get("code") or "").upper()
    if code == "RATELIMITED":
        kind = "rate_limited"
    elif code == "AUTHENTICATION_ERROR":
        kind = "auth"
    if str(first.get("message") or "").lower().startswith("entity not found"):
        kind = "not_found"
    if kind is None:
        kind = kind_for_status(status) if status and status >= 400 else "invalid"
    return Failure(kind, message or None)


def _classify(response: httpx.Response, body: Any, now: datetime) -> Failure:
    errors = body.get("errors") if isinstance(body, dict) else None
    found = _graphql_failure(errors, response.status_code) if errors else Failure(
        kind_for_status(response.status_code), clip(str(body)) if body else None)
    if found.kind == "rate_limited":
        wait = retry_after_seconds(response.headers, now)
        if wait is None:
            reset_ms = int_header(response.headers, "x-ratelimit-requests-reset")
            wait = max(1.0, reset_ms / 1000 - now.timestamp()) if reset_ms is not None else 60.0
        return Failure("rate_limited", found.detail, wait)
    return found


def _rate_limit(headers: httpx.Headers, now: datetime) -> RateLimit:
    reset_ms = int_header(headers, "x-ratelimit-requests-reset")
    return RateLimit(int_header(headers, "x-ratelimit-requests-limit"),
                     int_header(headers, "x-ratelimit-requests-remaining"),
                     datetime.fromtimestamp(reset_ms / 1000, UTC) if reset_ms is not None else None)
