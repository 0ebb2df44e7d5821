"""A GitHub Issues simulator (REST, github.com or Enterprise Server under /api/v3).

Served: create issue, list a repository's issues (labels, state, since, sort, paging with
Link headers), get an issue, search issues, search users, check an assignee. Refused as
GitHub refuses: a missing or bad token (401 "Bad credentials"), a token that can't see the
repository (404), a read-only token (403 "Resource not accessible by personal access
token"), unknown keys ('"x" is not a permitted key.'), a missing title, an unassignable
assignee (422 Validation Failed), disabled issues (410), an unsupported
X-GitHub-Api-Version (400). Labels that don't exist are created; labels and assignees from
a token without push access are silently dropped, as GitHub does. Rate-limit headers on
every answer; the primary limit answers 403 with x-ratelimit-remaining: 0.
`close`, `reopen`, `assign` change issues as people do and send signed `issues` webhooks.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from bot.trackers.webhooks import github_signature

from ..records import Fault
from .base import Answer, Request, TrackerSimulator

API_VERSIONS = ("2022-11-28", "2026-03-10")
CREATE_KEYS = {"title", "body", "assignee", "milestone", "labels", "assignees", "type"}
DOCS = "https://docs.github.com/rest"


@dataclass
class GitHubUser:
    login: str
    id: int
    email: str | None = None
    email_public: bool = False


@dataclass
class GitHubIssue:
    id: int
    number: int
    title: str
    body: str | None
    labels: list[str]
    assignees: list[str]
    state: Literal["open", "closed"]
    state_reason: str | None
    created: float
    updated: float
    closed: float | None = None
    user: str = "scribe-bot"
    is_pull_request: bool = False


@dataclass
class GitHubRepo:
    full_name: str
    id: int
    issues: list[GitHubIssue] = field(default_factory=list)
    labels: dict[str, int] = field(default_factory=dict)  # name → id
    collaborators: set[str] = field(default_factory=set)  # may be assigned; push access
    has_issues: bool = True


@dataclass
class GitHubToken:
    login: str
    repos: set[str] | None = None  # None: every repository
    write: bool = True


class GitHubSimulator(TrackerSimulator):
    label = "github"
    server_name = "GitHub.com"

    def __init__(self, *, enterprise: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.enterprise = enterprise  # serve under /api/v3 as GitHub Enterprise Server does
        self.users: dict[str, GitHubUser] = {}
        self.repos: dict[str, GitHubRepo] = {}
        self.tokens: dict[str, GitHubToken] = {}
        self._next_id = 1000

    @property
    def base_url(self) -> str:
        """What the adapter's base URL is: the root, or /api/v3 for Enterprise Server."""
        return self.root_url + ("/api/v3" if self.enterprise else "")

    @property
    def web_url(self) -> str:
        return self.root_url

    def add_user(self, login: str, *, email: str | None = None, email_public: bool = False) -> GitHubUser:
        self._next_id += 1
        user = GitHubUser(login, self._next_id, email, email_public)
        self.users[login] = user
        return user

    def add_repo(self, full_name: str, *, collaborators: set[str] | None = None, has_issues: bool = True) -> GitHubRepo:
        self._next_id += 1
        repo = GitHubRepo(full_name, self._next_id, collaborators=set(collaborators or ()), has_issues=has_issues)
        self.repos[full_name] = repo
        return repo

    def add_token(self, token: str, login: str, *, repos: set[str] | None = None, write: bool = True) -> None:
        if login not in self.users:
            self.add_user(login)
        self.tokens[token] = GitHubToken(login, repos, write)

    def issue(self, repo: str, number: int) -> GitHubIssue:
        with self.lock:
            return next(i for i in self.repos[repo].issues if i.number == number)

    def add_pull_request(self, repo: str, title: str) -> GitHubIssue:
        """Pull requests share the issues list and numbering, as on GitHub."""
        with self.lock:
            made = self._new_issue(self.repos[repo], title, None, [], [])
            made.is_pull_request = True
            return made

    # -- what people do on GitHub ------------------------------------------------------------------

    def close(self, repo: str, number: int, reason: Literal["completed", "not_planned", "duplicate"] = "completed") -> None:
        with self.lock:
            issue = self.issue(repo, number)
            issue.state, issue.state_reason = "closed", reason
            issue.updated = issue.closed = self.now()
        self.send_issues_webhook(repo, number, "closed")

    def reopen(self, repo: str, number: int) -> None:
        with self.lock:
            issue = self.issue(repo, number)
            issue.state, issue.state_reason, issue.closed = "open", "reopened", None
            issue.updated = self.now()
        self.send_issues_webhook(repo, number, "reopened")

    def assign(self, repo: str, number: int, login: str | None) -> None:
        with self.lock:
            issue = self.issue(repo, number)
            issue.assignees = [login] if login else []
            issue.updated = self.now()
        self.send_issues_webhook(repo, number, "assigned" if login else "unassigned")

    def webhook(self, repo: str, number: int, action: str, secret: str | None, *,
                delivery_id: str | None = None) -> tuple[bytes, dict[str, str]]:
        with self.lock:
            issue = self.issue(repo, number)
            payload = {"action": action, "issue": self._issue_json(self.repos[repo], issue),
                       "repository": self._repo_json(self.repos[repo]),
                       "sender": {"login": "someone", "id": 1, "type": "User"}}
        body = json.dumps(payload).encode("utf-8")
        headers = {"Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/sim", "X-GitHub-Event": "issues",
                   "X-GitHub-Delivery": delivery_id or self.new_delivery_id(), "X-GitHub-Hook-ID": "4242"}
        if secret:
            headers["X-Hub-Signature-256"] = github_signature(secret, body)
            headers["X-Hub-Signature"] = "sha1=" + _sha1(secret, body)
        return body, headers

    def send_issues_webhook(self, repo: str, number: int, action: str) -> None:
        delivery = self.new_delivery_id()
        self._broadcast(lambda secret: self.webhook(repo, number, action, secret, delivery_id=delivery))

    # -- HTTP ------------------------------------------------------------------------------------------

    def authenticate(self, request: Request) -> tuple[bool, Answer | None]:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        token = self.tokens.get(value.strip()) if scheme.lower() in ("bearer", "token") else None
        if token is None:
            return False, (401, {"message": "Bad credentials" if header else "Requires authentication",
                                 "documentation_url": DOCS, "status": "401"}, {})
        version = request.headers.get("x-github-api-version")
        if version is not None and version not in API_VERSIONS:
            return True, (400, {"message": f"Unsupported 'X-GitHub-Api-Version' header: {version}. Supported "
                                           f"versions are: {', '.join(API_VERSIONS)}", "documentation_url": DOCS,
                                "status": "400"}, {})
        return True, None

    def _token(self, request: Request) -> GitHubToken:
        return self.tokens[request.headers["authorization"].partition(" ")[2].strip()]

    def dispatch(self, request: Request) -> tuple[str, Callable[[], Answer]]:
        path = request.path
        if self.enterprise:
            if not path.startswith("/api/v3/"):
                return f"{request.method} {path}", lambda: (404, {"message": "Not Found", "documentation_url": DOCS}, {})
            path = path[len("/api/v3"):]
        method = request.method
        issues = re.fullmatch(r"/repos/([^/]+/[^/]+)/issues", path)
        if issues and method == "POST":
            return "POST /repos/{owner}/{repo}/issues", lambda: self._create(request, issues.group(1))
        if issues and method == "GET":
            return "GET /repos/{owner}/{repo}/issues", lambda: self._list(request, issues.group(1))
        one = re.fullmatch(r"/repos/([^/]+/[^/]+)/issues/(\d+)", path)
        if one and method == "GET":
            return "GET /repos/{owner}/{repo}/issues/{number}", lambda: self._get(request, one.group(1), int(one.group(2)))
        assignee = re.fullmatch(r"/repos/([^/]+/[^/]+)/assignees/([^/]+)", path)
        if assignee and method == "GET":
            return "GET /repos/{owner}/{repo}/assignees/{assignee}", lambda: self._assignee(
                request, assignee.group(1), assignee.group(2))
        if path == "/search/issues" and method == "GET":
            return "GET /search/issues", lambda: self._search_issues(request)
        if path == "/search/users" and method == "GET":
            return "GET /search/users", lambda: self._search_users(request)
        return f"{method} {path}", lambda: (404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, {})

    def fault_answer(self, route: str, fault: Fault) -> Answer:
        if fault.status == 429 or (fault.status == 403 and fault.retry_after is not None):
            wait = fault.retry_after if fault.retry_after is not None else 60
            return fault.status, {"message": fault.error or "You have exceeded a secondary rate limit. Please wait a "
                                  "few minutes before you try again.", "documentation_url": DOCS, "status": str(fault.status)}, {
                "Retry-After": str(wait)}
        if fault.status == 422:
            field_name, _, code = (fault.error or "labels:invalid").partition(":")
            return 422, {"message": "Validation Failed", "errors": [
                {"resource": "Issue", "field": field_name, "code": code or "invalid"}],
                "documentation_url": f"{DOCS}/issues/issues#create-an-issue", "status": "422"}, {}
        messages = {401: "Bad credentials", 403: "Resource not accessible by personal access token", 404: "Not Found",
                    400: "Problems parsing JSON", 410: "Issues are disabled for this repo"}
        text = fault.error or messages.get(fault.status, "Server Error")
        return fault.status, {"message": text, "documentation_url": DOCS, "status": str(fault.status)}, {}

    def bad_body_answer(self, route: str, problem: str) -> Answer:
        return 400, {"message": "Problems parsing JSON", "documentation_url": DOCS, "status": "400"}, {}

    def rate_headers(self, remaining: int, reset_at: float) -> dict[str, str]:
        limit = self.rate_limit if self.rate_limit is not None else 5000
        remaining = min(remaining, limit)
        return {"x-ratelimit-limit": str(limit), "x-ratelimit-remaining": str(remaining),
                "x-ratelimit-used": str(limit - remaining), "x-ratelimit-reset": str(math.ceil(reset_at)),
                "x-ratelimit-resource": "core"}

    def rate_limited_answer(self, retry_after: int, reset_at: float) -> Answer:
        headers = self.rate_headers(0, reset_at)
        return 403, {"message": "API rate limit exceeded for user ID 1001. If you reach out to GitHub Support for "
                                "help, please include the request ID.",
                     "documentation_url": f"{DOCS}/overview/rate-limits-for-the-rest-api", "status": "403"}, headers

    # -- endpoints --------------------------------------------------------------------------------------

    def _visible(self, request: Request, full_name: str) -> GitHubRepo | None:
        repo = self.repos.get(full_name)
        token = self._token(request)
        if repo is None or (token.repos is not None and full_name not in token.repos):
            return None
        return repo

    def _not_found(self) -> Answer:
        return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, {}

    def _create(self, request: Request, full_name: str) -> Answer:
        repo = self._visible(request, full_name)
        if repo is None:
            return self._not_found()
        token = self._token(request)
        if not token.write:
            return 403, {"message": "Resource not accessible by personal access token",
                         "documentation_url": f"{DOCS}/issues/issues#create-an-issue", "status": "403"}, {}
        if not repo.has_issues:
            return 410, {"message": "Issues are disabled for this repo", "documentation_url": DOCS, "status": "410"}, {}
        body = request.body
        if not isinstance(body, dict):
            return 400, {"message": "Problems parsing JSON", "documentation_url": DOCS, "status": "400"}, {}
        for key in body:
            if key not in CREATE_KEYS:
                return 422, {"message": f'Invalid request.\n\n"{key}" is not a permitted key.',
                             "documentation_url": f"{DOCS}/issues/issues#create-an-issue", "status": "422"}, {}
        title = body.get("title")
        if title is None:
            return 422, {"message": 'Invalid request.\n\n"title" wasn\'t supplied.',
                         "documentation_url": f"{DOCS}/issues/issues#create-an-issue", "status": "422"}, {}
        if not isinstance(title, (str, int)) or not str(title).strip():
            return 422, {"message": "Validation Failed", "errors": [
                {"resource": "Issue", "field": "title", "code": "missing_field"}],
                "documentation_url": f"{DOCS}/issues/issues#create-an-issue", "status": "422"}, {}
        labels = body.get("labels") or []
        assignees = body.get("assignees") or []
        if not isinstance(labels, list) or not all(isinstance(x, (str, dict)) for x in labels):
            return 422, {"message": 'Invalid request.\n\nFor \'items\', {} is not a string.',
                         "documentation_url": f"{DOCS}/issues/issues#create-an-issue", "status": "422"}, {}
        if not isinstance(assignees, list) or not all(isinstance(x, str) for x in assignees):
            return 422, {"message": 'Invalid request.\n\nFor \'items\', {} is not a string.',
                         "documentation_url": f"{DOCS}/issues/issues#create-an-issue", "status": "422"}, {}
        pusher = token.login in repo.collaborators
        if pusher:
            bad = [a for a in assignees if a not in repo.collaborators]
            if bad:
                return 422, {"message": "Validation Failed", "errors": [
                    {"value": b, "resource": "Issue", "field": "assignees", "code": "invalid"} for b in bad],
                    "documentation_url": f"{DOCS}/issues/issues#create-an-issue", "status": "422"}, {}
        names = [x if isinstance(x, str) else str(x.get("name")) for x in labels]
        if pusher:
            for name in names:
                if name not in repo.labels:
                    self._next_id += 1
                    repo.labels[name] = self._next_id
        issue = self._new_issue(repo, str(title), body.get("body"), names if pusher else [],
                                list(assignees) if pusher else [])
        issue.user = token.login
        answer = self._issue_json(repo, issue)
        return 201, answer, {"Location": answer["url"]}

    def _new_issue(self, repo: GitHubRepo, title: str, body: str | None, labels: list[str], assignees: list[str]) -> GitHubIssue:
        self._next_id += 1
        now = self.now()
        issue = GitHubIssue(self._next_id, len(repo.issues) + 1, title, body, labels, assignees, "open", None, now, now)
        repo.issues.append(issue)
        return issue

    def _list(self, request: Request, full_name: str) -> Answer:
        repo = self._visible(request, full_name)
        if repo is None:
            return self._not_found()
        state = request.param("state", "open")
        if state not in ("open", "closed", "all"):
            return 422, {"message": "Validation Failed", "errors": [{"resource": "Issue", "field": "state", "code": "invalid"}],
                         "documentation_url": DOCS, "status": "422"}, {}
        found = [i for i in repo.issues if state == "all" or i.state == state]
        wanted = [x for x in (request.param("labels") or "").split(",") if x]
        found = [i for i in found if all(label in i.labels for label in wanted)]
        since = request.param("since")
        if since:
            try:
                cut = datetime.fromisoformat(since.replace("Z", "+00:00")).timestamp()
            except ValueError:
                return 422, {"message": "Validation Failed", "errors": [{"resource": "Issue", "field": "since",
                                                                          "code": "invalid"}], "status": "422"}, {}
            found = [i for i in found if i.updated >= cut]
        sort = request.param("sort", "created")
        descending = request.param("direction", "desc") == "desc"
        found.sort(key=lambda i: (i.updated if sort == "updated" else i.created, i.number), reverse=descending)
        per_page = max(1, min(100, int(request.param("per_page") or 30)))
        page = max(1, int(request.param("page") or 1))
        chunk = found[(page - 1) * per_page: page * per_page]
        headers = {}
        if page * per_page < len(found):
            headers["Link"] = f'<{self.base_url}/repos/{full_name}/issues?page={page + 1}&per_page={per_page}>; rel="next"'
        return 200, [self._issue_json(repo, i) for i in chunk], headers

    def _get(self, request: Request, full_name: str, number: int) -> Answer:
        repo = self._visible(request, full_name)
        issue = next((i for i in repo.issues if i.number == number), None) if repo else None
        if issue is None:
            return self._not_found()
        return 200, self._issue_json(repo, issue), {}  # type: ignore[arg-type]

    def _assignee(self, request: Request, full_name: str, login: str) -> Answer:
        repo = self._visible(request, full_name)
        if repo is None or login not in repo.collaborators:
            return self._not_found()
        return 204, None, {}

    def _search_issues(self, request: Request) -> Answer:
        query = request.param("q") or ""
        repo_name = re.search(r"\brepo:(\S+)", query)
        phrases = re.findall(r'"([^"]+)"', query)
        found = []
        for repo in self.repos.values():
            if repo_name and repo.full_name != repo_name.group(1):
                continue
            for issue in repo.issues:
                if "is:issue" in query and issue.is_pull_request:
                    continue
                if all(p in (issue.body or "") for p in phrases):
                    found.append(self._issue_json(repo, issue))
        return 200, {"total_count": len(found), "incomplete_results": False, "items": found[:100]}, {}

    def _search_users(self, request: Request) -> Answer:
        query = (request.param("q") or "").strip()
        email = query.split()[0].lower() if " in:email" in query or query.endswith("in:email") else None
        found = [u for u in self.users.values() if email and u.email_public and (u.email or "").lower() == email]
        items = [{"login": u.login, "id": u.id, "type": "User", "score": 1.0} for u in found]
        return 200, {"total_count": len(items), "incomplete_results": False, "items": items}, {}

    # -- shapes ------------------------------------------------------------------------------------------

    def _repo_json(self, repo: GitHubRepo) -> dict[str, Any]:
        owner = repo.full_name.split("/")[0]
        return {"id": repo.id, "name": repo.full_name.split("/")[1], "full_name": repo.full_name,
                "html_url": f"{self.web_url}/{repo.full_name}", "owner": {"login": owner},
                "url": f"{self.base_url}/repos/{repo.full_name}"}

    def _user_json(self, login: str) -> dict[str, Any]:
        user = self.users.get(login)
        return {"login": login, "id": user.id if user else 0, "type": "User"}

    def _issue_json(self, repo: GitHubRepo, issue: GitHubIssue) -> dict[str, Any]:
        api = f"{self.base_url}/repos/{repo.full_name}/issues/{issue.number}"
        kind = "pull" if issue.is_pull_request else "issues"
        answer: dict[str, Any] = {
            "id": issue.id, "node_id": f"I_sim{issue.id}", "number": issue.number, "url": api,
            "html_url": f"{self.web_url}/{repo.full_name}/{kind}/{issue.number}",
            "repository_url": f"{self.base_url}/repos/{repo.full_name}",
            "title": issue.title, "body": issue.body, "user": self._user_json(issue.user),
            "labels": [{"id": repo.labels.get(n, 0), "name": n, "color": "ededed", "default": False} for n in issue.labels],
            "state": issue.state, "state_reason": issue.state_reason, "locked": False,
            "assignee": self._user_json(issue.assignees[0]) if issue.assignees else None,
            "assignees": [self._user_json(a) for a in issue.assignees],
            "comments": 0, "created_at": _iso(issue.created), "updated_at": _iso(issue.updated),
            "closed_at": _iso(issue.closed) if issue.closed else None, "author_association": "MEMBER",
        }
        if issue.is_pull_request:
            answer["pull_request"] = {"url": f"{self.base_url}/repos/{repo.full_name}/pulls/{issue.number}"}
        return answer


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sha1(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
