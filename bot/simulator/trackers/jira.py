"""A Jira simulator: Cloud (REST v3, Basic email:token) or Data Center (REST v2, Bearer PAT).

Served: create issue, get issue, JQL search (Cloud's /rest/api/3/search/jql with
nextPageToken; Data Center's /rest/api/2/search with startAt), assignable user search.
Refused as Jira refuses: bad credentials (401), no project (400 on `project`), fields not on
the create screen or unknown ("Field 'x' cannot be set. It is not on the appropriate screen,
or unknown."), a v3 description that isn't ADF, labels with spaces, bad dates, unassignable
users, unknown JQL fields and projects, the removed Cloud /search (410).
Custom workflows: statuses with any name in a category (new, indeterminate, done) and any
resolutions. `transition`, `assign` change issues the way people do, and send admin
webhooks signed with X-Hub-Signature.
"""

from __future__ import annotations

import base64
import binascii
import json
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

from bot.trackers.webhooks import jira_signature

from ..records import Fault
from .base import Answer, Request, TrackerSimulator

CATEGORIES = {"new": (2, "To Do", "blue-gray"), "indeterminate": (4, "In Progress", "yellow"), "done": (3, "Done", "green")}
UNAUTHENTICATED = "Client must be authenticated to access this resource."
NOT_ON_SCREEN = "Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
DEFAULT_SCREEN = frozenset({"project", "summary", "issuetype", "description", "labels", "priority", "duedate",
                            "assignee", "reporter"})


@dataclass
class JiraStatus:
    id: str
    name: str
    category: Literal["new", "indeterminate", "done"]


@dataclass
class JiraUser:
    account_id: str  # Cloud
    name: str  # Data Center username
    email: str
    display_name: str
    email_visible: bool = True
    active: bool = True


@dataclass
class JiraProject:
    key: str
    id: str
    statuses: list[JiraStatus]
    issue_types: tuple[str, ...] = ("Task", "Bug")
    # Fields on the create screen; a field outside it is refused.
    screen: frozenset[str] = DEFAULT_SCREEN
    assignable: set[str] | None = None  # account ids (Cloud) / names (DC); None: everyone


@dataclass
class JiraIssue:
    id: str
    key: str
    project: str
    summary: str
    issue_type: str
    description: Any
    labels: list[str]
    priority: str | None
    duedate: str | None
    assignee: str | None  # account id (Cloud) or name (DC)
    status: JiraStatus
    resolution: str | None
    created: float
    updated: float


@dataclass
class JiraAccount:
    """Who a credential is: Cloud email + API token, or a Data Center PAT."""

    email: str | None = None
    api_token: str | None = field(default=None, repr=False)
    pat: str | None = field(default=None, repr=False)


def jira_time(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


class JiraSimulator(TrackerSimulator):
    label = "jira"
    server_name = "JiraSim/1.0"

    def __init__(self, *, deployment: Literal["cloud", "datacenter"] = "cloud", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deployment = deployment
        self.accounts: list[JiraAccount] = []
        self.projects: dict[str, JiraProject] = {}
        self.users: dict[str, JiraUser] = {}  # by account id
        self.priorities = ["Highest", "High", "Medium", "Low", "Lowest"]
        self.resolutions = ["Done", "Won't Do", "Duplicate", "Cannot Reproduce"]
        self.issues: dict[str, JiraIssue] = {}
        self._next_id = 10000

    # -- setup ------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.root_url

    @property
    def api(self) -> str:
        return "/rest/api/3" if self.deployment == "cloud" else "/rest/api/2"

    def add_account(self, *, email: str | None = None, api_token: str | None = None, pat: str | None = None) -> None:
        self.accounts.append(JiraAccount(email, api_token, pat))

    def add_project(self, key: str, statuses: list[tuple[str, str]] | None = None, **kwargs: Any) -> JiraProject:
        with self.lock:
            self._next_id += 1
            chosen = statuses or [("To Do", "new"), ("In Progress", "indeterminate"), ("Done", "done")]
            made = [JiraStatus(str(1000 + i), name, category) for i, (name, category) in enumerate(chosen)]  # type: ignore[arg-type]
            project = JiraProject(key, str(self._next_id), made, **kwargs)
            self.projects[key] = project
            return project

    def add_user(self, account_id: str, email: str, display_name: str, *, name: str | None = None,
                 email_visible: bool = True, active: bool = True) -> JiraUser:
        user = JiraUser(account_id, name or email.split("@")[0], email, display_name, email_visible, active)
        self.users[account_id] = user
        return user

    def issue(self, key: str) -> JiraIssue:
        with self.lock:
            return self.issues[key]

    # -- what people do in Jira (each sends the webhook) -----------------------------------------------

    def transition(self, key: str, status_name: str, *, resolution: str | None = None) -> None:
        with self.lock:
            issue = self.issues[key]
            status = next(s for s in self.projects[issue.project].statuses if s.name == status_name)
            if resolution is not None and resolution not in self.resolutions:
                raise ValueError(f"no resolution {resolution!r}")
            issue.status = status
            issue.resolution = (resolution or "Done") if status.category == "done" else None
            issue.updated = self.now()
        self.send_issue_webhook(key, "jira:issue_updated", "issue_generic")

    def assign(self, key: str, assignee: str | None) -> None:
        with self.lock:
            issue = self.issues[key]
            issue.assignee = assignee
            issue.updated = self.now()
        self.send_issue_webhook(key, "jira:issue_updated", "issue_assigned")

    def webhook(self, key: str, event: str = "jira:issue_updated", type_name: str = "issue_generic",
                secret: str | None = None, *, delivery_id: str | None = None, timestamp: float | None = None
                ) -> tuple[bytes, dict[str, str]]:
        """One admin-webhook delivery (body, headers), as Jira would send it."""
        with self.lock:
            payload = {
                "timestamp": int((timestamp if timestamp is not None else self.now()) * 1000),
                "webhookEvent": event,
                "issue_event_type_name": type_name,
                "user": {"accountId": "sim-actor", "displayName": "Someone"},
                "issue": self._issue_json(self.issues[key], None),
            }
        body = json.dumps(payload).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8", "X-Atlassian-Webhook-Flow": "Primary",
                   "X-Atlassian-Webhook-Identifier": delivery_id or self.new_delivery_id()}
        if secret:
            headers["X-Hub-Signature"] = jira_signature(secret, body)
        return body, headers

    def send_issue_webhook(self, key: str, event: str, type_name: str) -> None:
        delivery = self.new_delivery_id()
        self._broadcast(lambda secret: self.webhook(key, event, type_name, secret, delivery_id=delivery))

    # -- HTTP -----------------------------------------------------------------------------------

    def authenticate(self, request: Request) -> tuple[bool, Answer | None]:
        header = request.headers.get("authorization", "")
        ok = False
        if self.deployment == "cloud" and header.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user, password = "", ""
            ok = any(a.email == user and a.api_token == password for a in self.accounts if a.api_token)
        elif self.deployment == "datacenter" and header.lower().startswith("bearer "):
            ok = any(a.pat == header[7:].strip() for a in self.accounts if a.pat)
        if ok:
            return True, None
        return False, (401, UNAUTHENTICATED, {"WWW-Authenticate": 'OAuth realm="jira"'})

    def dispatch(self, request: Request) -> tuple[str, Callable[[], Answer]]:
        method, path = request.method, request.path
        match = re.fullmatch(r"/rest/api/(2|3)(/.*)", path)
        if not match:
            return f"{method} {path}", lambda: (404, {"errorMessages": ["Not found"], "errors": {}}, {})
        version, rest = match.group(1), match.group(2)
        if (version == "3") != (self.deployment == "cloud") and not (self.deployment == "cloud" and rest.startswith("/search")):
            # Data Center has no v3; this simulator serves Cloud on v3 only.
            return f"{method} {path}", lambda: (404, {"errorMessages": ["No API at this version"], "errors": {}}, {})
        route = f"{method} {self.api}{rest}"
        if method == "POST" and rest == "/issue":
            return route, lambda: self._create(request)
        issue = re.fullmatch(r"/issue/([A-Za-z0-9_-]+)", rest)
        if method == "GET" and issue:
            return f"GET {self.api}/issue/{{key}}", lambda: self._get_issue(issue.group(1), request)
        if method == "GET" and rest == "/search/jql" and self.deployment == "cloud":
            return f"GET /rest/api/{version}/search/jql", lambda: self._search(request, paging="token")
        if method == "GET" and rest == "/search":
            if self.deployment == "cloud":
                return f"GET /rest/api/{version}/search", lambda: (410, {
                    "errorMessages": ["The requested API has been removed. Please migrate to the /rest/api/3/search/jql API."],
                    "errors": {}}, {})
            return route, lambda: self._search(request, paging="offset")
        if method == "GET" and rest == "/user/assignable/search":
            return route, lambda: self._assignable(request)
        return route, lambda: (404, {"errorMessages": ["Not found"], "errors": {}}, {})

    def fault_answer(self, route: str, fault: Fault) -> Answer:
        if fault.status == 429:
            wait = fault.retry_after if fault.retry_after is not None else 1
            reset = datetime.fromtimestamp(self.now() + wait, UTC).strftime("%Y-%m-%dT%H:%MZ")
            return 429, {"errorMessages": [fault.error or "Rate limit exceeded."], "errors": {}}, {
                "Retry-After": str(wait), "X-RateLimit-Reset": reset, "RateLimit-Reason": "jira-burst-based"}
        if fault.status == 401:
            return 401, fault.error or UNAUTHENTICATED, {}
        if fault.status == 400 and fault.error and ":" in fault.error:
            name, _, message = fault.error.partition(":")
            return 400, {"errorMessages": [], "errors": {name.strip(): message.strip()}}, {}
        messages = {403: "You do not have permission to do this.", 404: "Issue does not exist or you do not have permission to see it."}
        text = fault.error or messages.get(fault.status, "Internal server error")
        extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        return fault.status, {"errorMessages": [text], "errors": {}}, extra

    def bad_body_answer(self, route: str, problem: str) -> Answer:
        return 400, {"errorMessages": ["Unexpected character in the request body"], "errors": {}}, {}

    def rate_headers(self, remaining: int, reset_at: float) -> dict[str, str]:
        if self.rate_limit is None:
            return {}
        headers = {"X-RateLimit-Limit": str(self.rate_limit), "X-RateLimit-Remaining": str(remaining)}
        if remaining < self.rate_limit * 0.2:
            headers["X-RateLimit-NearLimit"] = "true"
        return headers

    def rate_limited_answer(self, retry_after: int, reset_at: float) -> Answer:
        reset = datetime.fromtimestamp(reset_at, UTC).strftime("%Y-%m-%dT%H:%MZ")
        return 429, {"errorMessages": ["Rate limit exceeded."], "errors": {}}, {
            "Retry-After": str(retry_after), "X-RateLimit-Reset": reset, "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": "0", "RateLimit-Reason": "jira-quota-tenant-based"}

    # -- endpoints ---------------------------------------------------------------------------------

    def _create(self, request: Request) -> Answer:
        body = request.body
        if not isinstance(body, dict) or not isinstance(body.get("fields"), dict):
            return 400, {"errorMessages": ["Can not deserialize instance of issue out of the request body"], "errors": {}}, {}
        fields: dict[str, Any] = body["fields"]
        errors: dict[str, str] = {}
        project_ref: dict[str, Any] = fields["project"] if isinstance(fields.get("project"), dict) else {}
        project = self.projects.get(str(project_ref.get("key") or "")) or next(
            (p for p in self.projects.values() if p.id == str(project_ref.get("id"))), None)
        if project is None:
            return 400, {"errorMessages": [], "errors": {"project": "valid project is required"}}, {}
        for name in fields:
            if name not in project.screen:
                errors[name] = NOT_ON_SCREEN.format(name=name)
        summary = fields.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            errors["summary"] = "You must specify a summary of the issue."
        elif len(summary) > 255:
            errors["summary"] = "Summary must be less than 255 characters."
        issue_type = (fields.get("issuetype") or {}).get("name") if isinstance(fields.get("issuetype"), dict) else None
        if issue_type is None:
            errors["issuetype"] = "Specify an issue type"
        elif issue_type not in project.issue_types:
            errors["issuetype"] = "The issue type selected is invalid."
        description = fields.get("description")
        if description is not None and "description" in project.screen:
            if self.deployment == "cloud" and not _is_adf(description):
                errors["description"] = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
            if self.deployment == "datacenter" and not isinstance(description, str):
                errors["description"] = "Operation value must be a string"
        labels = fields.get("labels", [])
        if "labels" in project.screen:
            if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
                errors["labels"] = "Operation value must be a string array"
            else:
                spaced = next((x for x in labels if " " in x), None)
                if spaced is not None:
                    errors["labels"] = f"The label '{spaced}' contains spaces which is invalid."
        priority = fields.get("priority")
        priority_name = None
        if priority is not None and "priority" in project.screen:
            priority_name = priority.get("name") if isinstance(priority, dict) else None
            if priority_name not in self.priorities:
                errors["priority"] = "Specify the Priority (id or name) in the string format"
        duedate = fields.get("duedate")
        if duedate is not None and "duedate" in project.screen:
            try:
                date.fromisoformat(str(duedate))
            except ValueError:
                errors["duedate"] = f"Error parsing date string: {duedate}"
        assignee_ref = fields.get("assignee")
        assignee = None
        if assignee_ref is not None and "assignee" in project.screen:
            assignee, problem = self._assignee(assignee_ref, project)
            if problem:
                errors["assignee"] = problem
        if errors:
            return 400, {"errorMessages": [], "errors": errors}, {}
        self._next_id += 1
        number = 1 + sum(1 for i in self.issues.values() if i.project == project.key)
        key = f"{project.key}-{number}"
        now = self.now()
        new_status = next(s for s in project.statuses if s.category == "new")
        self.issues[key] = JiraIssue(str(self._next_id), key, project.key, str(summary), str(issue_type), description,
                                     list(labels or []), priority_name or "Medium", duedate, assignee, new_status,
                                     None, now, now)
        return 201, {"id": str(self._next_id), "key": key, "self": f"{self.base_url}{self.api}/issue/{self._next_id}"}, {}

    def _assignee(self, ref: Any, project: JiraProject) -> tuple[str | None, str | None]:
        if not isinstance(ref, dict):
            return None, "Operation value must be an object"
        if self.deployment == "cloud":
            if set(ref) - {"accountId", "id"}:
                return None, "'accountId' must be the only user identifying property in the request: 'name' and 'key' are not supported in Jira Cloud."
            account = str(ref.get("accountId") or ref.get("id") or "")
            user = self.users.get(account)
        else:
            name = str(ref.get("name") or "")
            user = next((u for u in self.users.values() if u.name == name), None)
            account = name
        if user is None or not user.active or (project.assignable is not None and account not in project.assignable):
            return None, f"User '{account}' cannot be assigned issues."
        return account, None

    def _assignable(self, request: Request) -> Answer:
        key = request.param("project") or ""
        project = self.projects.get(key)
        if project is None:
            return 404, {"errorMessages": [f"No project could be found with key '{key}'."], "errors": {}}, {}
        text = (request.param("query") if self.deployment == "cloud" else request.param("username")) or ""
        text = text.strip().lower()
        found = []
        for user in self.users.values():
            ident = user.account_id if self.deployment == "cloud" else user.name
            if not user.active or (project.assignable is not None and ident not in project.assignable):
                continue
            # Jira matches the start of the display name, the username (Data Center), or the
            # email, even when the email is hidden from the caller.
            if text and (user.email.lower().startswith(text) or user.display_name.lower().startswith(text)
                         or (self.deployment == "datacenter" and user.name.lower().startswith(text))):
                entry: dict[str, Any] = {"displayName": user.display_name, "active": user.active}
                if self.deployment == "cloud":
                    entry.update({"accountId": user.account_id, "accountType": "atlassian"})
                else:
                    entry["name"] = user.name
                if user.email_visible:
                    entry["emailAddress"] = user.email
                found.append(entry)
        return 200, found[: int(request.param("maxResults") or 50)], {}

    def _get_issue(self, key: str, request: Request) -> Answer:
        issue = self.issues.get(key.upper()) or next((i for i in self.issues.values() if i.id == key), None)
        if issue is None:
            return 404, {"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}}, {}
        wanted = request.param("fields")
        return 200, self._issue_json(issue, wanted.split(",") if wanted else None), {}

    def _issue_json(self, issue: JiraIssue, wanted: list[str] | None) -> dict[str, Any]:
        status = issue.status
        cat_id, cat_name, color = CATEGORIES[status.category]
        user = self.users.get(issue.assignee or "") if self.deployment == "cloud" else next(
            (u for u in self.users.values() if u.name == issue.assignee), None)
        assignee = None
        if user is not None:
            assignee = {"displayName": user.display_name, "active": user.active}
            if self.deployment == "cloud":
                assignee.update({"accountId": user.account_id, "accountType": "atlassian"})
            else:
                assignee.update({"name": user.name, "key": f"JIRAUSER{abs(hash(user.name)) % 100000}"})
            if user.email_visible:
                assignee["emailAddress"] = user.email
        fields: dict[str, Any] = {
            "summary": issue.summary,
            "issuetype": {"name": issue.issue_type},
            "project": {"key": issue.project, "id": self.projects[issue.project].id},
            "status": {"self": f"{self.base_url}{self.api}/status/{status.id}", "name": status.name, "id": status.id,
                       "statusCategory": {"id": cat_id, "key": status.category, "colorName": color, "name": cat_name}},
            "resolution": {"name": issue.resolution, "id": str(10000 + self.resolutions.index(issue.resolution))}
            if issue.resolution else None,
            "assignee": assignee,
            "labels": list(issue.labels),
            "priority": {"name": issue.priority} if issue.priority else None,
            "duedate": issue.duedate,
            "description": issue.description,
            "created": jira_time(issue.created),
            "updated": jira_time(issue.updated),
        }
        if wanted is not None and "*all" not in wanted and "*navigable" not in wanted:
            fields = {k: v for k, v in fields.items() if k in wanted}
        return {"id": issue.id, "key": issue.key, "self": f"{self.base_url}{self.api}/issue/{issue.id}", "fields": fields}

    def _search(self, request: Request, *, paging: Literal["token", "offset"]) -> Answer:
        jql = request.param("jql") or ""
        try:
            matches = self._jql(jql)
        except JqlError as error:
            return 400, {"errorMessages": [str(error)], "errors": {}}, {}
        wanted = (request.param("fields") or "").split(",") if request.param("fields") else []
        size = max(1, min(100, int(request.param("maxResults") or 50)))
        if paging == "token":
            start = int(base64.urlsafe_b64decode(request.param("nextPageToken") or "MA==").decode() or 0)
        else:
            start = int(request.param("startAt") or 0)
        page = matches[start:start + size]
        issues = [self._issue_json(i, wanted) if wanted else {"id": i.id} for i in page]
        if paging == "offset":
            return 200, {"startAt": start, "maxResults": size, "total": len(matches), "issues": issues}, {}
        answer: dict[str, Any] = {"issues": issues, "isLast": start + size >= len(matches)}
        if not answer["isLast"]:
            answer["nextPageToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
        return 200, answer, {}

    def _jql(self, jql: str) -> list[JiraIssue]:
        clauses, order = parse_jql(jql)
        found = list(self.issues.values())
        for name, op, value in clauses:
            if name == "project":
                if value not in self.projects:
                    raise JqlError(f"The value '{value}' does not exist for the field 'project'.")
                found = [i for i in found if i.project == value]
            elif name == "labels":
                found = [i for i in found if value in i.labels]
            elif name == "key":
                found = [i for i in found if i.key == value]
            elif name == "updated":
                cut = _jql_instant(value, self.now())
                compare = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "=": operator.eq}[op]
                # JQL compares at minute precision.
                found = [i for i in found if compare(int(i.updated // 60) * 60, cut)]
        if order is not None:
            attr, descending = order
            found.sort(key=lambda i: getattr(i, attr), reverse=descending)
        return found


class JqlError(ValueError):
    pass


_CLAUSE = re.compile(r'^\s*(\w+)\s*(>=|<=|=|>|<)\s*("(?:[^"\\]|\\.)*"|[^\s"]+)\s*$')
_ORDER_FIELDS = {"created": "created", "updated": "updated", "key": "id"}


def parse_jql(jql: str) -> tuple[list[tuple[str, str, str]], tuple[str, bool] | None]:
    """The JQL subset the scribe sends: clauses joined by AND, then ORDER BY. Anything
    else is refused as Jira refuses an unknown field."""
    text = jql.strip()
    order = None
    cut = re.search(r"\border\s+by\s+(\w+)(?:\s+(asc|desc))?\s*$", text, re.IGNORECASE)
    if cut:
        field_name = cut.group(1).lower()
        if field_name not in _ORDER_FIELDS:
            raise JqlError(f"Field '{cut.group(1)}' does not exist or you do not have permission to view it.")
        order = (_ORDER_FIELDS[field_name], (cut.group(2) or "asc").lower() == "desc")
        text = text[:cut.start()].strip()
    clauses = []
    for part in re.split(r"\s+AND\s+", text, flags=re.IGNORECASE) if text else []:
        match = _CLAUSE.match(part)
        if not match:
            raise JqlError(f"Error in the JQL Query: the clause '{part.strip()}' is not understood.")
        name = match.group(1).lower()
        if name not in ("project", "labels", "key", "updated"):
            raise JqlError(f"Field '{match.group(1)}' does not exist or you do not have permission to view it.")
        value = match.group(3)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        clauses.append((name, match.group(2), value))
    return clauses, order


def _jql_instant(value: str, now: float) -> float:
    relative = re.fullmatch(r"-(\d+)([mhdw])", value)
    if relative:
        seconds = int(relative.group(1)) * {"m": 60, "h": 3600, "d": 86400, "w": 604800}[relative.group(2)]
        return int((now - seconds) // 60) * 60
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M").replace(tzinfo=UTC).timestamp()
    except ValueError:
        raise JqlError(f"Date value '{value}' for field 'updated' is invalid.") from None


def _is_adf(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") == "doc" and value.get("version") == 1 \
        and isinstance(value.get("content"), list)
