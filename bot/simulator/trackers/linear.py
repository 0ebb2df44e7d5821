"""A Linear simulator: its GraphQL API, validated and executed by graphql-core against a
subset of Linear's published schema (the types, fields, inputs and filters the scribe
uses, with Linear's names and types). A query for a field or an input Linear doesn't have
is refused as Linear refuses it (GRAPHQL_VALIDATION_FAILED).

Auth: a personal API key sent bare (`Authorization: lin_api_…`), or an OAuth token as
`Bearer …`; a bad one answers AUTHENTICATION_ERROR. Errors carry Linear's extensions
(type, code, userError, userPresentableMessage). The request budget answers RATELIMITED
with X-RateLimit-Requests-Limit/-Remaining/-Reset (epoch ms) headers.
Custom workflows: workflow states with any name and a type (triage, backlog, unstarted,
started, completed, canceled, duplicate). `move`, `assign` send signed webhooks.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from graphql import GraphQLError, build_schema, graphql_sync, parse, validate

from bot.trackers.webhooks import linear_signature

from ..records import Fault
from .base import Answer, Request, TrackerSimulator

SDL = """
scalar DateTime
scalar TimelessDate
scalar DateTimeOrDuration

enum PaginationOrderBy { createdAt updatedAt }

type PageInfo { hasNextPage: Boolean! hasPreviousPage: Boolean! startCursor: String endCursor: String }

type Team { id: ID! key: String! name: String! }
type User { id: ID! name: String! displayName: String! email: String! active: Boolean! }
type WorkflowState { id: ID! name: String! type: String! color: String! position: Float! team: Team! }
type IssueLabel { id: ID! name: String! color: String! team: Team }
type IssueLabelConnection { nodes: [IssueLabel!]! pageInfo: PageInfo! }
type Issue {
  id: ID! identifier: String! number: Float! title: String! description: String
  priority: Float! priorityLabel: String! dueDate: TimelessDate url: String!
  createdAt: DateTime! updatedAt: DateTime! completedAt: DateTime canceledAt: DateTime
  state: WorkflowState! assignee: User team: Team! labels(first: Int): IssueLabelConnection!
}
type IssueConnection { nodes: [Issue!]! pageInfo: PageInfo! }
type TeamConnection { nodes: [Team!]! pageInfo: PageInfo! }
type UserConnection { nodes: [User!]! pageInfo: PageInfo! }
type IssuePayload { lastSyncId: Float! issue: Issue success: Boolean! }
type IssueLabelPayload { lastSyncId: Float! issueLabel: IssueLabel! success: Boolean! }

input StringComparator {
  eq: String neq: String in: [String!] nin: [String!] eqIgnoreCase: String neqIgnoreCase: String
  contains: String containsIgnoreCase: String notContains: String startsWith: String endsWith: String
}
input NullableStringComparator {
  eq: String neq: String in: [String!] nin: [String!] eqIgnoreCase: String contains: String
  containsIgnoreCase: String notContains: String startsWith: String endsWith: String null: Boolean
}
input IDComparator { eq: ID neq: ID in: [ID!] nin: [ID!] }
input IssueIDComparator { eq: ID neq: ID in: [ID!] nin: [ID!] }
input BooleanComparator { eq: Boolean neq: Boolean }
input DateComparator {
  eq: DateTimeOrDuration neq: DateTimeOrDuration gt: DateTimeOrDuration gte: DateTimeOrDuration
  lt: DateTimeOrDuration lte: DateTimeOrDuration
}
input TeamFilter { id: IDComparator key: StringComparator name: StringComparator and: [TeamFilter!] or: [TeamFilter!] }
input NullableTeamFilter { id: IDComparator key: StringComparator null: Boolean }
input IssueFilter {
  id: IssueIDComparator team: TeamFilter updatedAt: DateComparator createdAt: DateComparator
  title: StringComparator description: NullableStringComparator and: [IssueFilter!] or: [IssueFilter!]
}
input IssueLabelFilter { id: IDComparator name: StringComparator team: NullableTeamFilter }
input UserFilter { id: IDComparator email: StringComparator name: StringComparator active: BooleanComparator }

input IssueCreateInput {
  id: String title: String description: String teamId: String! priority: Int dueDate: TimelessDate
  labelIds: [String!] assigneeId: String stateId: String parentId: String projectId: String cycleId: String
  estimate: Int subscriberIds: [String!] sortOrder: Float
}
input IssueLabelCreateInput { id: String name: String! description: String color: String teamId: String parentId: String }

type Query {
  issue(id: String!): Issue!
  issues(filter: IssueFilter, first: Int, after: String, last: Int, before: String,
         orderBy: PaginationOrderBy, includeArchived: Boolean): IssueConnection!
  teams(filter: TeamFilter, first: Int, after: String, includeArchived: Boolean): TeamConnection!
  issueLabels(filter: IssueLabelFilter, first: Int, after: String, includeArchived: Boolean): IssueLabelConnection!
  users(filter: UserFilter, first: Int, after: String, includeDisabled: Boolean): UserConnection!
  viewer: User!
}
type Mutation {
  issueCreate(input: IssueCreateInput!): IssuePayload!
  issueLabelCreate(input: IssueLabelCreateInput!, replaceTeamLabels: Boolean): IssueLabelPayload!
}
"""

PRIORITY_LABELS = {0: "No priority", 1: "Urgent", 2: "High", 3: "Medium", 4: "Low"}
UUID_V4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


class LinearFailure(Exception):
    """Raised by resolvers; becomes a GraphQL error with Linear's extensions."""

    def __init__(self, message: str, *, type_: str = "invalid input", code: str = "INPUT_ERROR",
                 presentable: str | None = None) -> None:
        super().__init__(message)
        self.type = type_
        self.code = code
        self.presentable = presentable


@dataclass
class LinearState:
    id: str
    name: str
    type: str
    team_id: str
    position: float = 0.0


@dataclass
class LinearIssue:
    id: str
    team_id: str
    number: int
    title: str
    description: str | None
    priority: int
    due: str | None
    label_ids: list[str]
    assignee_id: str | None
    state_id: str
    created: float
    updated: float


def _iso_ms(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _parse_instant(value: Any) -> float:
    """A DateTimeOrDuration (ISO 8601 instant; Linear's durations are not used here)."""
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise LinearFailure("Argument Validation Error", presentable=f"Invalid date: {value}") from None


def _parse_date(value: Any) -> str:
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise LinearFailure("Argument Validation Error", presentable=f"dueDate must be a date, got {value}") from None


class LinearSimulator(TrackerSimulator):
    label = "linear"
    server_name = "LinearSim/1.0"

    def __init__(self, *, workspace_url_key: str = "acme", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.url_key = workspace_url_key
        self.api_keys: dict[str, str] = {}  # personal API key → user id
        self.oauth_tokens: dict[str, str] = {}  # OAuth access token → user id
        self.teams: dict[str, dict[str, str]] = {}  # id → {id, key, name}
        self.users: dict[str, dict[str, Any]] = {}  # id → {id, name, displayName, email, active}
        self.states: dict[str, LinearState] = {}
        self.labels: dict[str, dict[str, Any]] = {}  # id → {id, name, color, team_id}
        self.issues: dict[str, LinearIssue] = {}
        self.sync_id = 1000.0
        self.schema = build_schema(SDL)
        self._wire_schema()

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/graphql"

    # -- setup ----------------------------------------------------------------------------------

    def add_api_key(self, key: str, user_id: str) -> None:
        self.api_keys[key] = user_id

    def add_oauth_token(self, token: str, user_id: str) -> None:
        self.oauth_tokens[token] = user_id

    def add_user(self, user_id: str, email: str, name: str, *, active: bool = True) -> None:
        self.users[user_id] = {"id": user_id, "name": name, "displayName": name.split()[0].lower(), "email": email,
                               "active": active}

    def add_team(self, key: str, states: list[tuple[str, str]] | None = None, *, name: str | None = None) -> str:
        team_id = str(uuid.uuid4())
        self.teams[team_id] = {"id": team_id, "key": key, "name": name or key.title()}
        chosen = states or [("Triage", "triage"), ("Backlog", "backlog"), ("Todo", "unstarted"),
                            ("In Progress", "started"), ("Done", "completed"), ("Canceled", "canceled"),
                            ("Duplicate", "duplicate")]
        for position, (state_name, kind) in enumerate(chosen):
            state_id = str(uuid.uuid4())
            self.states[state_id] = LinearState(state_id, state_name, kind, team_id, float(position))
        return team_id

    def add_label(self, name: str, team_key: str | None = None) -> str:
        label_id = str(uuid.uuid4())
        team_id = self.team_by_key(team_key)["id"] if team_key else None
        self.labels[label_id] = {"id": label_id, "name": name, "color": "#bec2c8", "team_id": team_id}
        return label_id

    def team_by_key(self, key: str) -> dict[str, str]:
        return next(t for t in self.teams.values() if t["key"] == key)

    def issue_by_identifier(self, identifier: str) -> LinearIssue:
        with self.lock:
            return next(i for i in self.issues.values() if self._identifier(i) == identifier)

    # -- what people do in Linear --------------------------------------------------------------------

    def move(self, identifier: str, state_name: str) -> None:
        with self.lock:
            issue = self.issue_by_identifier(identifier)
            previous = issue.state_id
            issue.state_id = next(s.id for s in self.states.values() if s.team_id == issue.team_id and s.name == state_name)
            issue.updated = self.now()
        self.send_issue_webhook(identifier, {"stateId": previous})

    def assign(self, identifier: str, user_id: str | None) -> None:
        with self.lock:
            issue = self.issue_by_identifier(identifier)
            previous = issue.assignee_id
            issue.assignee_id = user_id
            issue.updated = self.now()
        self.send_issue_webhook(identifier, {"assigneeId": previous})

    def webhook(self, identifier: str, secret: str | None, *, action: str = "update",
                updated_from: dict[str, Any] | None = None, delivery_id: str | None = None,
                sent_at: float | None = None) -> tuple[bytes, dict[str, str]]:
        with self.lock:
            issue = self.issue_by_identifier(identifier)
            state = self.states[issue.state_id]
            user = self.users.get(issue.assignee_id or "")
            team = self.teams[issue.team_id]
            data = {
                "id": issue.id, "identifier": self._identifier(issue), "number": issue.number, "title": issue.title,
                "description": issue.description, "priority": issue.priority,
                "priorityLabel": PRIORITY_LABELS[issue.priority], "dueDate": issue.due, "url": self._url(issue),
                "createdAt": _iso_ms(issue.created), "updatedAt": _iso_ms(issue.updated),
                "stateId": state.id, "state": {"id": state.id, "name": state.name, "type": state.type, "color": "#95a2b3"},
                "teamId": team["id"], "team": {"id": team["id"], "key": team["key"], "name": team["name"]},
                "assigneeId": issue.assignee_id,
                "assignee": {"id": user["id"], "name": user["name"], "email": user["email"],
                             "url": f"https://linear.app/{self.url_key}/profiles/{user['displayName']}"} if user else None,
                "labelIds": list(issue.label_ids),
                "labels": [{"id": lid, "name": self.labels[lid]["name"], "color": self.labels[lid]["color"]}
                           for lid in issue.label_ids],
            }
            stamp = sent_at if sent_at is not None else self.now()
            payload = {"action": action, "type": "Issue", "createdAt": _iso_ms(stamp), "data": data,
                       "url": self._url(issue), "updatedFrom": updated_from or {}, "organizationId": "org-sim",
                       "webhookId": "webhook-sim", "webhookTimestamp": int(stamp * 1000),
                       "actor": {"id": "actor", "type": "user", "name": "Someone"}}
        body = json.dumps(payload).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Linear-Webhook",
                   "Linear-Delivery": delivery_id or self.new_delivery_id(), "Linear-Event": "Issue"}
        if secret:
            headers["Linear-Signature"] = linear_signature(secret, body)
        return body, headers

    def send_issue_webhook(self, identifier: str, updated_from: dict[str, Any]) -> None:
        delivery = self.new_delivery_id()
        self._broadcast(lambda secret: self.webhook(identifier, secret, updated_from=updated_from, delivery_id=delivery))

    # -- HTTP ------------------------------------------------------------------------------------------

    def authenticate(self, request: Request) -> tuple[bool, Answer | None]:
        header = request.headers.get("authorization", "").strip()
        user = None
        if header.lower().startswith("bearer "):
            user = self.oauth_tokens.get(header[7:].strip())
        elif header:
            user = self.api_keys.get(header)
        if user is None:
            return False, (401, _errors("Authentication required, not authenticated", "authentication error",
                                        "AUTHENTICATION_ERROR", "You need to authenticate to access this operation."), {})
        return True, None

    def dispatch(self, request: Request) -> tuple[str, Callable[[], Answer]]:
        if request.path != "/graphql":
            return f"{request.method} {request.path}", lambda: (404, "Not Found", {})
        if request.method != "POST":
            return "GET /graphql", lambda: (405, "Method Not Allowed", {})
        return _root_field(request.body), lambda: self._execute(request)

    def fault_answer(self, route: str, fault: Fault) -> Answer:
        if fault.status == 429:
            wait = fault.retry_after if fault.retry_after is not None else 1
            return 429, _errors(fault.error or "Rate limit exceeded", "ratelimited", "RATELIMITED",
                                "Too many requests, please slow down."), {
                "Retry-After": str(wait), **self.rate_headers(0, self.now() + wait)}
        if fault.status == 401:
            return 401, _errors("Authentication required, not authenticated", "authentication error",
                                "AUTHENTICATION_ERROR", "You need to authenticate to access this operation."), {}
        if fault.status == 403:
            return 403, _errors(fault.error or "Forbidden", "forbidden", "FORBIDDEN",
                                "You don't have permission to do this."), {}
        if fault.status in (400, 422):
            return 400, _errors("Argument Validation Error", "invalid input", "INPUT_ERROR",
                                fault.error or "The input is not valid."), {}
        if fault.status == 404:
            message = fault.error or "Entity not found: Issue"
            entity = message.rsplit(":", 1)[-1].strip()
            return 200, {"data": None, **_errors(message, "invalid input", "INPUT_ERROR",
                                                 f"Could not find referenced {entity}.")}, {}
        return fault.status, _errors(fault.error or "Internal server error", "internal error", "INTERNAL_ERROR",
                                     "Something went wrong."), {}

    def bad_body_answer(self, route: str, problem: str) -> Answer:
        return 400, _errors("Body is not valid JSON", "graphql error", "BAD_REQUEST", None), {}

    def rate_headers(self, remaining: int, reset_at: float) -> dict[str, str]:
        limit = self.rate_limit if self.rate_limit is not None else 5000
        return {"X-RateLimit-Requests-Limit": str(limit), "X-RateLimit-Requests-Remaining": str(min(remaining, limit)),
                "X-RateLimit-Requests-Reset": str(int(reset_at * 1000))}

    def rate_limited_answer(self, retry_after: int, reset_at: float) -> Answer:
        return 400, _errors("Rate limit exceeded", "ratelimited", "RATELIMITED",
                            "Too many requests, please slow down."), self.rate_headers(0, reset_at)

    # -- GraphQL ------------------------------------------------------------------------------------------

    def _execute(self, request: Request) -> Answer:
        body = request.body
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return 400, _errors("Must provide query string.", "graphql error", "BAD_REQUEST", None), {}
        try:
            document = parse(body["query"])
        except GraphQLError as error:
            return 400, {"errors": [_validation_error(error)]}, {}
        problems = validate(self.schema, document)
        if problems:
            return 400, {"errors": [_validation_error(p) for p in problems]}, {}
        result = graphql_sync(self.schema, body["query"], variable_values=body.get("variables") or {},
                              operation_name=body.get("operationName"))
        if not result.errors:
            return 200, {"data": result.data}, {}
        errors = []
        for failure in result.errors:
            original = failure.original_error
            if isinstance(original, LinearFailure):
                errors.append({"message": str(original), "path": failure.path, "locations": [
                    {"line": loc.line, "column": loc.column} for loc in failure.locations or []],
                    "extensions": {"type": original.type, "code": original.code, "userError": True,
                                   "userPresentableMessage": original.presentable or str(original)}})
            elif original is None or isinstance(original, GraphQLError):  # variables that don't fit the schema
                errors.append(_validation_error(failure))
            else:
                raise original
        return 400 if result.data is None else 200, {"data": result.data, "errors": errors}, {}

    def _wire_schema(self) -> None:
        query = self.schema.query_type.fields  # type: ignore[union-attr]
        query["issue"].resolve = lambda _root, _info, id: self._issue_node(self._find_issue(id))
        query["issues"].resolve = self._resolve_issues
        query["teams"].resolve = lambda _root, _info, filter=None, first=50, **_: _connection(
            [t for t in self.teams.values() if _match_team(t, filter)], first, None)
        query["issueLabels"].resolve = self._resolve_labels
        query["users"].resolve = lambda _root, _info, filter=None, first=50, **_: _connection(
            [u for u in self.users.values() if _match_user(u, filter)], first, None)
        mutation = self.schema.mutation_type.fields  # type: ignore[union-attr]
        mutation["issueCreate"].resolve = lambda _root, _info, input: self._issue_create(input)
        mutation["issueLabelCreate"].resolve = lambda _root, _info, input, **_: self._label_create(input)

    def _find_issue(self, ref: str) -> LinearIssue:
        issue = self.issues.get(ref) or next((i for i in self.issues.values() if self._identifier(i) == ref.upper()), None)
        if issue is None:
            raise LinearFailure("Entity not found: Issue", presentable="Could not find referenced Issue.")
        return issue

    def _resolve_issues(self, _root: Any, _info: Any, filter: dict[str, Any] | None = None, first: int = 50,
                        after: str | None = None, orderBy: str = "createdAt", **_: Any) -> dict[str, Any]:
        found = [i for i in self.issues.values() if self._match_issue(i, filter)]
        # Linear sorts by the orderBy field, newest first.
        found.sort(key=lambda i: (i.updated if orderBy == "updatedAt" else i.created, i.number), reverse=True)
        return _connection([self._issue_node(i) for i in found], first, after)

    def _resolve_labels(self, _root: Any, _info: Any, filter: dict[str, Any] | None = None, first: int = 50,
                        after: str | None = None, **_: Any) -> dict[str, Any]:
        found = [label for label in self.labels.values() if _match_label(label, filter, self.teams)]
        return _connection([self._label_node(label) for label in found], first, after)

    def _match_issue(self, issue: LinearIssue, where: dict[str, Any] | None) -> bool:
        if not where:
            return True
        for key, condition in where.items():
            if key == "and" and not all(self._match_issue(issue, c) for c in condition):
                return False
            if key == "or" and not any(self._match_issue(issue, c) for c in condition):
                return False
            if key == "id" and not _compare(issue.id, condition):
                return False
            if key == "team" and not _match_team(self.teams[issue.team_id], condition):
                return False
            if key in ("updatedAt", "createdAt") and not _compare_time(
                    issue.updated if key == "updatedAt" else issue.created, condition):
                return False
            if key == "title" and not _compare(issue.title, condition):
                return False
            if key == "description" and not _compare(issue.description, condition):
                return False
        return True

    def _issue_create(self, data: dict[str, Any]) -> dict[str, Any]:
        team = self.teams.get(data["teamId"])
        if team is None:
            raise LinearFailure("Entity not found: Team", presentable="Could not find referenced Team.")
        issue_id = data.get("id") or str(uuid.uuid4())
        if not UUID_V4.match(issue_id):
            raise LinearFailure("Argument Validation Error", presentable="id must be a UUID")
        if issue_id in self.issues:
            raise LinearFailure("Entity already exists", presentable="An issue with this id already exists.")
        title = (data.get("title") or "").strip()
        if not title:
            raise LinearFailure("Argument Validation Error", presentable="Title can't be empty.")
        priority = data.get("priority", 0)
        if priority is not None and not 0 <= priority <= 4:
            raise LinearFailure("Argument Validation Error", presentable="priority must not be greater than 4")
        for label_id in data.get("labelIds") or []:
            label = self.labels.get(label_id)
            if label is None or (label["team_id"] not in (None, team["id"])):
                raise LinearFailure("Entity not found: IssueLabel", presentable="Could not find referenced IssueLabel.")
        assignee = data.get("assigneeId")
        if assignee is not None and (assignee not in self.users or not self.users[assignee]["active"]):
            raise LinearFailure("Entity not found: User", presentable="Could not find referenced User.")
        states = sorted((s for s in self.states.values() if s.team_id == team["id"]), key=lambda s: s.position)
        state = next((s for s in states if s.type == "unstarted"), None) or next(s for s in states if s.type == "backlog")
        if data.get("stateId"):
            if data["stateId"] not in self.states:
                raise LinearFailure("Entity not found: WorkflowState")
            state = self.states[data["stateId"]]
        now = self.now()
        number = 1 + sum(1 for i in self.issues.values() if i.team_id == team["id"])
        due = _parse_date(data["dueDate"]) if data.get("dueDate") is not None else None
        issue = LinearIssue(issue_id, team["id"], number, title, data.get("description"), int(priority or 0), due,
                            list(data.get("labelIds") or []), assignee, state.id, now, now)
        self.issues[issue_id] = issue
        self.sync_id += 1
        return {"success": True, "lastSyncId": self.sync_id, "issue": self._issue_node(issue)}

    def _label_create(self, data: dict[str, Any]) -> dict[str, Any]:
        team_id = data.get("teamId")
        if team_id is not None and team_id not in self.teams:
            raise LinearFailure("Entity not found: Team")
        if any(label["name"] == data["name"] and label["team_id"] in (None, team_id) for label in self.labels.values()):
            raise LinearFailure("Duplicate label name", presentable=f"A label named {data['name']} already exists.")
        label_id = data.get("id") or str(uuid.uuid4())
        self.labels[label_id] = {"id": label_id, "name": data["name"], "color": data.get("color") or "#bec2c8",
                                 "team_id": team_id}
        self.sync_id += 1
        return {"success": True, "lastSyncId": self.sync_id, "issueLabel": self._label_node(self.labels[label_id])}

    # -- shapes -----------------------------------------------------------------------------------------------

    def _identifier(self, issue: LinearIssue) -> str:
        return f"{self.teams[issue.team_id]['key']}-{issue.number}"

    def _url(self, issue: LinearIssue) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", issue.title.lower()).strip("-")[:60]
        return f"https://linear.app/{self.url_key}/issue/{self._identifier(issue)}/{slug}"

    def _label_node(self, label: dict[str, Any]) -> dict[str, Any]:
        return {"id": label["id"], "name": label["name"], "color": label["color"],
                "team": self.teams.get(label["team_id"] or "")}

    def _issue_node(self, issue: LinearIssue) -> dict[str, Any]:
        state = self.states[issue.state_id]
        return {
            "id": issue.id, "identifier": self._identifier(issue), "number": float(issue.number), "title": issue.title,
            "description": issue.description, "priority": float(issue.priority),
            "priorityLabel": PRIORITY_LABELS[issue.priority], "dueDate": issue.due, "url": self._url(issue),
            "createdAt": _iso_ms(issue.created), "updatedAt": _iso_ms(issue.updated),
            "completedAt": _iso_ms(issue.updated) if state.type == "completed" else None,
            "canceledAt": _iso_ms(issue.updated) if state.type == "canceled" else None,
            "state": {"id": state.id, "name": state.name, "type": state.type, "color": "#95a2b3",
                      "position": state.position, "team": self.teams[state.team_id]},
            "assignee": self.users.get(issue.assignee_id or ""),
            "team": self.teams[issue.team_id],
            "labels": lambda _info, first=50: _connection([self._label_node(self.labels[i]) for i in issue.label_ids],
                                                          first, None),
        }


def _errors(message: str, type_: str, code: str, presentable: str | None) -> dict[str, Any]:
    extensions: dict[str, Any] = {"type": type_, "code": code, "userError": True}
    if presentable:
        extensions["userPresentableMessage"] = presentable
    return {"errors": [{"message": message, "extensions": extensions}]}


def _validation_error(error: GraphQLError) -> dict[str, Any]:
    return {"message": error.message, "locations": [{"line": loc.line, "column": loc.column} for loc in error.locations or []],
            "extensions": {"type": "graphql error", "code": "GRAPHQL_VALIDATION_FAILED", "userError": True,
                           "userPresentableMessage": error.message}}


def _root_field(body: Any) -> str:
    """The route name of a GraphQL request: its first root field ("issueCreate")."""
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return "graphql"
    match = re.search(r"\{\s*(\w+)", body["query"])
    return match.group(1) if match else "graphql"


def _connection(nodes: list[Any], first: int | None, after: str | None) -> dict[str, Any]:
    start = int(base64.b64decode(after).decode()) if after else 0
    size = max(1, min(250, first or 50))
    chunk = nodes[start:start + size]
    end = start + len(chunk)
    return {"nodes": chunk, "pageInfo": {"hasNextPage": end < len(nodes), "hasPreviousPage": start > 0,
                                         "startCursor": base64.b64encode(str(start).encode()).decode() if chunk else None,
                                         "endCursor": base64.b64encode(str(end).encode()).decode() if chunk else None}}


# Linear's string and equality comparators: (value, value as text, what the filter expects).
_CONDITIONS: dict[str, Callable[[Any, str, Any], bool]] = {
    "eq": lambda value, text, expected: value == expected,
    "neq": lambda value, text, expected: value != expected,
    "in": lambda value, text, expected: value in expected,
    "nin": lambda value, text, expected: value not in expected,
    "eqIgnoreCase": lambda value, text, expected: text.lower() == str(expected).lower(),
    "neqIgnoreCase": lambda value, text, expected: text.lower() != str(expected).lower(),
    "contains": lambda value, text, expected: str(expected) in text,
    "notContains": lambda value, text, expected: str(expected) not in text,
    "containsIgnoreCase": lambda value, text, expected: str(expected).lower() in text.lower(),
    "startsWith": lambda value, text, expected: text.startswith(str(expected)),
    "endsWith": lambda value, text, expected: text.endswith(str(expected)),
    "null": lambda value, text, expected: (value is None) == bool(expected),
}


def _compare(value: Any, condition: dict[str, Any] | None) -> bool:
    if not condition:
        return True
    text = "" if value is None else str(value)
    for op, expected in condition.items():
        ok = _CONDITIONS[op](value, text, expected)
        if not ok:
            return False
    return True


def _compare_time(value: float, condition: dict[str, Any]) -> bool:
    for op, expected in condition.items():
        cut = _parse_instant(expected)
        ok = {"eq": value == cut, "neq": value != cut, "gt": value > cut, "gte": value >= cut, "lt": value < cut,
              "lte": value <= cut}[op]
        if not ok:
            return False
    return True


def _match_team(team: dict[str, str] | None, where: dict[str, Any] | None) -> bool:
    if not where:
        return True
    if team is None:
        return bool(where.get("null"))
    return (_compare(team["id"], where.get("id")) and _compare(team["key"], where.get("key"))
            and _compare(team["name"], where.get("name")) and where.get("null") is not True)


def _match_label(label: dict[str, Any], where: dict[str, Any] | None, teams: dict[str, dict[str, str]]) -> bool:
    if not where:
        return True
    return (_compare(label["id"], where.get("id")) and _compare(label["name"], where.get("name"))
            and ("team" not in where or _match_team(teams.get(label["team_id"] or ""), where["team"])))


def _match_user(user: dict[str, Any], where: dict[str, Any] | None) -> bool:
    if not where:
        return True
    return (_compare(user["id"], where.get("id")) and _compare(user["email"], where.get("email"))
            and _compare(user["name"], where.get("name")) and _compare(user["active"], where.get("active")))
