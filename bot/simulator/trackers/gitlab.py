"""A GitLab simulator (REST v4): create, list, get project issues; search users.

Auth: `PRIVATE-TOKEN` or `Authorization: Bearer`; a bad token answers 401
{"message": "401 Unauthorized"}. A project the token can't see is 404
{"message": "404 Project Not Found"}. A missing title is 400 {"error": "title is missing"},
a bad due date 400 {"error": "due_date is invalid"}. Rate-limit headers: RateLimit-Limit,
-Remaining, -Reset (epoch seconds), and 429 with Retry-After. `close`, `reopen` send
"Issue Hook" webhooks with the secret in X-Gitlab-Token.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import unquote

from ..records import Fault
from .base import Answer, Request, TrackerSimulator


@dataclass
class GitLabIssue:
    id: int
    iid: int
    title: str
    description: str | None
    labels: list[str]
    assignee_ids: list[int]
    due_date: str | None
    state: str  # opened | closed
    created: float
    updated: float


@dataclass
class GitLabProject:
    id: int
    path: str
    issues: list[GitLabIssue] = field(default_factory=list)
    members: set[int] = field(default_factory=set)


class GitLabSimulator(TrackerSimulator):
    label = "gitlab"
    server_name = "nginx"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tokens: dict[str, set[str] | None] = {}  # token → visible project paths (None: all)
        self.projects: dict[str, GitLabProject] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self._next_id = 500

    @property
    def base_url(self) -> str:
        return self.root_url

    def add_token(self, token: str, projects: set[str] | None = None) -> None:
        self.tokens[token] = projects

    def add_project(self, path: str) -> GitLabProject:
        self._next_id += 1
        project = GitLabProject(self._next_id, path)
        self.projects[path] = project
        return project

    def add_user(self, user_id: int, username: str, *, public_email: str | None = None, member_of: str | None = None) -> None:
        self.users[user_id] = {"id": user_id, "username": username, "name": username.title(), "state": "active",
                               "public_email": public_email or ""}
        if member_of:
            self.projects[member_of].members.add(user_id)

    def issue(self, path: str, iid: int) -> GitLabIssue:
        with self.lock:
            return next(i for i in self.projects[path].issues if i.iid == iid)

    def close(self, path: str, iid: int) -> None:
        self._set_state(path, iid, "closed", "close")

    def reopen(self, path: str, iid: int) -> None:
        self._set_state(path, iid, "opened", "reopen")

    def _set_state(self, path: str, iid: int, state: str, action: str) -> None:
        with self.lock:
            issue = self.issue(path, iid)
            issue.state, issue.updated = state, self.now()
        delivery = self.new_delivery_id()
        self._broadcast(lambda secret: self.webhook(path, iid, action, secret, delivery_id=delivery))

    def webhook(self, path: str, iid: int, action: str, secret: str | None, *,
                delivery_id: str | None = None) -> tuple[bytes, dict[str, str]]:
        with self.lock:
            project = self.projects[path]
            issue = self.issue(path, iid)
            attributes = self._issue_json(project, issue)
            attributes.update({"action": action, "url": attributes["web_url"],
                               "updated_at": _hook_time(issue.updated), "created_at": _hook_time(issue.created)})
            payload = {"object_kind": "issue", "event_type": "issue",
                       "user": {"id": 1, "name": "Someone", "username": "someone"},
                       "project": {"id": project.id, "path_with_namespace": project.path,
                                   "web_url": f"{self.root_url}/{project.path}"},
                       "object_attributes": attributes,
                       "assignees": [self.users[a] for a in issue.assignee_ids if a in self.users],
                       "labels": [{"title": n} for n in issue.labels]}
        body = json.dumps(payload).encode("utf-8")
        headers = {"Content-Type": "application/json", "User-Agent": "GitLab/17.0.0", "X-Gitlab-Event": "Issue Hook",
                   "X-Gitlab-Event-UUID": delivery_id or self.new_delivery_id(), "X-Gitlab-Instance": self.root_url}
        if secret:
            headers["X-Gitlab-Token"] = secret
        return body, headers

    # -- HTTP ---------------------------------------------------------------------------------------

    def authenticate(self, request: Request) -> tuple[bool, Answer | None]:
        token = request.headers.get("private-token")
        auth = request.headers.get("authorization", "")
        if token is None and auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        if token is None or token not in self.tokens:
            return False, (401, {"message": "401 Unauthorized"}, {})
        return True, None

    def _visible(self, request: Request, ref: str) -> GitLabProject | None:
        token = request.headers.get("private-token") or request.headers.get("authorization", "")[7:].strip()
        path = unquote(ref)
        project = self.projects.get(path) or next((p for p in self.projects.values() if str(p.id) == path), None)
        allowed = self.tokens.get(token)
        if project is None or (allowed is not None and project.path not in allowed):
            return None
        return project

    def dispatch(self, request: Request) -> tuple[str, Callable[[], Answer]]:
        raw = request.path
        issues = re.fullmatch(r"/api/v4/projects/([^/]+)/issues", raw)
        if issues and request.method == "POST":
            return "POST /projects/:id/issues", lambda: self._create(request, issues.group(1))
        if issues and request.method == "GET":
            return "GET /projects/:id/issues", lambda: self._list(request, issues.group(1))
        one = re.fullmatch(r"/api/v4/projects/([^/]+)/issues/(\d+)", raw)
        if one and request.method == "GET":
            return "GET /projects/:id/issues/:iid", lambda: self._get(request, one.group(1), int(one.group(2)))
        if raw == "/api/v4/users" and request.method == "GET":
            return "GET /users", lambda: self._users(request)
        return f"{request.method} {raw}", lambda: (404, {"error": "404 Not Found"}, {})

    def fault_answer(self, route: str, fault: Fault) -> Answer:
        if fault.status == 429:
            wait = fault.retry_after if fault.retry_after is not None else 1
            return 429, "Retry later\n", {"Retry-After": str(wait), **self.rate_headers(0, self.now() + wait)}
        if fault.status in (400, 422):
            return fault.status, {"message": {"base": [fault.error or "is invalid"]}}, {}
        messages = {401: "401 Unauthorized", 403: "403 Forbidden", 404: "404 Project Not Found"}
        return fault.status, {"message": fault.error or messages.get(fault.status, "500 Internal Server Error")}, {}

    def bad_body_answer(self, route: str, problem: str) -> Answer:
        return 400, {"error": "The provided content-type 'application/json' is not supported."}, {}

    def rate_headers(self, remaining: int, reset_at: float) -> dict[str, str]:
        limit = self.rate_limit if self.rate_limit is not None else 2000
        return {"RateLimit-Limit": str(limit), "RateLimit-Remaining": str(min(remaining, limit)),
                "RateLimit-Reset": str(int(reset_at)), "RateLimit-Observed": str(limit - min(remaining, limit))}

    def rate_limited_answer(self, retry_after: int, reset_at: float) -> Answer:
        return 429, "Retry later\n", {"Retry-After": str(retry_after), **self.rate_headers(0, reset_at)}

    # -- endpoints -----------------------------------------------------------------------------------

    def _create(self, request: Request, ref: str) -> Answer:
        project = self._visible(request, ref)
        if project is None:
            return 404, {"message": "404 Project Not Found"}, {}
        body = request.body if isinstance(request.body, dict) else {}
        body = body.get("__form__", body)
        title = body.get("title")
        if not isinstance(title, str) or not title.strip():
            return 400, {"error": "title is missing"}, {}
        due = body.get("due_date")
        if due is not None:
            try:
                date.fromisoformat(str(due))
            except ValueError:
                return 400, {"error": "due_date is invalid"}, {}
        labels = body.get("labels") or ""
        names = [n.strip() for n in (labels.split(",") if isinstance(labels, str) else labels) if n.strip()]
        assignees = [int(a) for a in body.get("assignee_ids") or [] if int(a) in project.members]
        self._next_id += 1
        now = self.now()
        issue = GitLabIssue(self._next_id, len(project.issues) + 1, title, body.get("description"), names, assignees,
                            due, "opened", now, now)
        project.issues.append(issue)
        return 201, self._issue_json(project, issue), {}

    def _list(self, request: Request, ref: str) -> Answer:
        project = self._visible(request, ref)
        if project is None:
            return 404, {"message": "404 Project Not Found"}, {}
        found = list(project.issues)
        state = request.param("state")
        if state in ("opened", "closed"):
            found = [i for i in found if i.state == state]
        wanted = [n for n in (request.param("labels") or "").split(",") if n]
        found = [i for i in found if all(n in i.labels for n in wanted)]
        after = request.param("updated_after")
        if after:
            cut = datetime.fromisoformat(after.replace("Z", "+00:00")).timestamp()
            found = [i for i in found if i.updated >= cut]
        order = request.param("order_by", "created_at")
        found.sort(key=lambda i: i.updated if order == "updated_at" else i.created,
                   reverse=request.param("sort", "desc") == "desc")
        per_page = max(1, min(100, int(request.param("per_page") or 20)))
        page = max(1, int(request.param("page") or 1))
        chunk = found[(page - 1) * per_page: page * per_page]
        headers = {"X-Total": str(len(found)), "X-Page": str(page), "X-Per-Page": str(per_page)}
        if page * per_page < len(found):
            headers["X-Next-Page"] = str(page + 1)
        return 200, [self._issue_json(project, i) for i in chunk], headers

    def _get(self, request: Request, ref: str, iid: int) -> Answer:
        project = self._visible(request, ref)
        if project is None:
            return 404, {"message": "404 Project Not Found"}, {}
        issue = next((i for i in project.issues if i.iid == iid), None)
        if issue is None:
            return 404, {"message": "404 Not found"}, {}
        return 200, self._issue_json(project, issue), {}

    def _users(self, request: Request) -> Answer:
        text = (request.param("search") or "").lower()
        found = [u for u in self.users.values() if text and (text == u["public_email"].lower()
                                                             or text in u["username"].lower())]
        return 200, found, {}

    def _issue_json(self, project: GitLabProject, issue: GitLabIssue) -> dict[str, Any]:
        assignees = [self.users[a] for a in issue.assignee_ids if a in self.users]
        return {"id": issue.id, "iid": issue.iid, "project_id": project.id, "title": issue.title,
                "description": issue.description, "state": issue.state, "labels": list(issue.labels),
                "assignees": assignees, "assignee": assignees[0] if assignees else None, "due_date": issue.due_date,
                "created_at": _iso(issue.created), "updated_at": _iso(issue.updated),
                "closed_at": _iso(issue.updated) if issue.state == "closed" else None,
                "web_url": f"{self.root_url}/{project.path}/-/issues/{issue.iid}"}


def _iso(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _hook_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
