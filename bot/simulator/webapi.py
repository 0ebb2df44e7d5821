"""`FakeSlackWebAPI`: the Slack Web API served over real HTTP on 127.0.0.1.

The app talks to it exactly as to slack.com (its `SLACK_API_URL` is
`base_url`), so the real slack_sdk request code, retry handlers and timeouts
are exercised. Besides `/api/<method>` the same server takes the raw upload
POSTs of the files v2 flow (`/upload/<file_id>`) and `respond()` POSTs to
response URLs (`/response/<id>`).

Every request is recorded (tokens stripped) after it has been answered, so
when a test sees a call its effects are already visible in the workspace.

Time: rate limiting and `RecordedCall.at` read `workspace.clock`, not the wall
clock, so a test with a `FakeClock` decides when a rate-limit window ends.
Fault delays, by contrast, are real waits: they exist to trip client timeouts.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import secrets
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .http_service import LocalHTTPService, ServiceHandler
from .methods import OAuthApps, SlackMethods, apps_connections_open, truthy
from .openid import OpenIDProvider
from .records import Fault, RecordedCall, SlackError, StandingFault
from .waiting import wait_until
from .workspace import Workspace

Answer = tuple[int, Any, dict[str, str]]  # status, JSON value (or text), extra headers


class _Handler(ServiceHandler):
    server_version = "SlackSim/1.0"


class FakeSlackWebAPI(LocalHTTPService):
    """A Slack Web API double. Start it, point a WebClient at `base_url`."""

    handler_class = _Handler
    thread_name = "fake-slack-api"

    def __init__(self, workspace: Workspace, *, page_size_cap: int = 1000) -> None:
        super().__init__()
        self.workspace = workspace
        self._methods = SlackMethods(workspace, self._root_url, page_size_cap)
        # Further workspaces served by the same API (multi-workspace installs); a
        # request's token decides which one it talks to.
        self._teams: list[SlackMethods] = [self._methods]
        # Triggers are Slack-wide: a trigger issued to any team's interaction opens one view.
        self.triggers = self._methods.triggers
        self.oauth = OAuthApps()
        # Sign in with Slack, for the same registered apps (bot.simulator.openid).
        self.openid = OpenIDProvider(self.oauth.clients)
        self._calls: list[RecordedCall] = []
        # Shares the workspace lock ("one lock"): wait_for predicates may read both.
        self._changed = threading.Condition(workspace.lock)
        self._faults: dict[str, deque[Fault]] = {}
        self._standing: list[StandingFault] = []
        self._rates: dict[str, float] = {}
        self._last_accepted: dict[tuple[str, str], float] = {}
        self._response_urls: dict[str, dict[str, Any]] = {}
        # Tracebacks of simulator bugs, which are answered with HTTP 500.
        self.errors: list[str] = []
        # Socket Mode endpoints (SocketModeServer) that apps.connections.open hands out.
        self.socket_mode_servers: list[Any] = []

    def _root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What the app's SLACK_API_URL / WebClient(base_url=...) should be."""
        return f"{self._root_url()}/api/"

    # -- state the tests read -------------------------------------------------------

    @property
    def page_size_cap(self) -> int:
        return self._methods.page_size_cap

    @page_size_cap.setter
    def page_size_cap(self, cap: int) -> None:
        self._methods.page_size_cap = cap

    @property
    def uploaded_files(self) -> dict[str, dict[str, Any]]:
        """file_id -> {name, title, bytes, channel_id, initial_comment, thread_ts}."""
        return self._methods.uploaded_files

    @property
    def canvases(self) -> dict[str, str]:
        """canvas_id -> latest markdown."""
        return self._methods.canvases

    @property
    def channel_canvases(self) -> dict[str, str]:
        """channel_id -> canvas_id of its channel canvas."""
        return self._methods.channel_canvases

    @property
    def bookmarks(self) -> dict[str, list[dict[str, Any]]]:
        """channel_id -> bookmarks added with bookmarks.add."""
        return self._methods.bookmarks

    @property
    def views(self) -> dict[str, dict[str, Any]]:
        return self._methods.views

    @property
    def ephemerals(self) -> list[dict[str, Any]]:
        return self._methods.ephemerals

    def type_in_view(self, view_id: str, block_id: str, value: str) -> dict[str, Any]:
        """A person typing into an open view's input (see SlackPlayer.type_in_view)."""
        with self._changed:
            view = self._methods.type_in_view(view_id, block_id, value)
            self._changed.notify_all()
        return view

    @property
    def home_views(self) -> dict[str, dict[str, Any]]:
        """user id -> the view last published as their Home tab."""
        return self._methods.home_views

    def issue_trigger(self, trigger_id: str | None = None) -> str:
        """Register a trigger_id as Slack does when someone clicks: views.open may use it
        once, within 3 seconds (`expired_trigger_id` after, `exchanged_trigger_id` twice)."""
        trigger = trigger_id or f"{int(time.time())}.{secrets.token_hex(4)}.{secrets.token_hex(16)}"
        with self._changed:
            self._methods.triggers[trigger] = self._methods.trigger_clock()
        return trigger

    def age_triggers(self, seconds: float) -> None:
        """Make every trigger issued so far `seconds` older (to test expiry without sleeping)."""
        with self._changed:
            for trigger in self._methods.triggers:
                self._methods.triggers[trigger] -= seconds

    @property
    def calls(self) -> list[RecordedCall]:
        with self._changed:
            return list(self._calls)

    def calls_to(self, method: str) -> list[RecordedCall]:
        with self._changed:
            return [c for c in self._calls if c.method == method]

    def clear_calls(self) -> None:
        with self._changed:
            self._calls.clear()

    # -- scripting --------------------------------------------------------------------

    def inject(self, method: str, *faults: Fault) -> None:
        """Queue faults for the next calls to `method` (one per call, FIFO).

        `method` may also be "upload_url" or "response_url" for those endpoints.
        """
        with self._changed:
            self._faults.setdefault(method, deque()).extend(faults)

    def inject_standing(
        self, fault: Fault, *, methods: Iterable[str] = (), channels: Iterable[str] = (), users: Iterable[str] = (),
        seconds: float | None = None,
    ) -> StandingFault:
        """Give `fault` to every matching call for `seconds` (workspace clock; None: until
        lifted), without using it up: see StandingFault for what matches. A queued fault
        (`inject`) for the same call comes first.

            api.inject_standing(Fault(delay=2.5), channels={"C1"}, users={"U9"}, seconds=30)
        """
        standing = StandingFault(
            fault, methods=frozenset(methods), channels=frozenset(channels), users=frozenset(users),
            until=None if seconds is None else self.workspace.now() + seconds,
        )
        with self._changed:
            self._standing.append(standing)
        return standing

    def lift(self, standing: StandingFault) -> None:
        """End a standing fault before it expires (nothing happens if it is gone already)."""
        with self._changed:
            if standing in self._standing:
                self._standing.remove(standing)

    def serve_socket_mode(self, server: Any) -> None:
        """Let apps.connections.open hand out `server`'s URLs to its app-level token."""
        with self._changed:
            self.socket_mode_servers.append(server)

    def add_workspace(self, workspace: Workspace) -> None:
        """Serve another team from this API; its bot token selects it."""
        if any(t.ws.team_id == workspace.team_id for t in self._teams):
            raise ValueError(f"team {workspace.team_id} is already served")
        if self.workspace.known_tokens() & workspace.known_tokens():
            raise ValueError("each workspace needs its own bot token")
        # One lock for everything, as handlers run under the primary workspace's lock.
        workspace.lock = self.workspace.lock
        methods = SlackMethods(workspace, self._root_url, self._methods.page_size_cap)
        methods.triggers, methods.used_triggers = self._methods.triggers, self._methods.used_triggers
        methods.trigger_clock = self._methods.trigger_clock
        self._teams.append(methods)

    @property
    def workspaces(self) -> list[Workspace]:
        """Every team this API serves, the primary one first."""
        return [t.ws for t in self._teams]

    def install(self, workspace: Workspace, user_id: str, *, client_id: str, scopes: str = "commands,chat:write") -> str:
        """A user approves the app on Slack's authorize page: returns the one-time code
        Slack would put in the redirect to the app's /slack/oauth_redirect."""
        return self.oauth.grant(workspace, user_id, client_id=client_id, scopes=scopes)

    def rate_limit(self, method: str, per_channel_per_second: float | None) -> None:
        """Allow `method` at most this often per channel; None lifts the limit.

        Measured on `workspace.clock`, so with a FakeClock nothing expires until
        the test advances it.
        """
        with self._changed:
            if per_channel_per_second is None:
                self._rates.pop(method, None)
            else:
                self._rates[method] = float(per_channel_per_second)

    def new_response_url(self, *, channel_id: str | None, user_id: str, message_ts: str | None = None,
                         workspace: Workspace | None = None) -> str:
        """Issue a response_url; `message_ts` is the message replace/delete_original act on."""
        response_id = self.workspace.new_id("R")
        with self._changed:
            self._response_urls[response_id] = {"channel_id": channel_id, "user_id": user_id,
                                                "message_ts": message_ts, "workspace": workspace or self.workspace}
        return f"{self._root_url()}/response/{response_id}"

    def wait_for(self, predicate: Callable[[FakeSlackWebAPI], Any], timeout: float = 5.0) -> Any:
        """Block until predicate(self) is truthy and return its value.

        Woken by every recorded call, and re-checked every 50 ms as well because
        the predicate may watch workspace state that changes without a call.
        """
        return wait_until(self._changed, lambda: predicate(self), timeout=timeout,
                          describe=lambda: self._timeout_message(predicate, timeout))

    def _timeout_message(self, predicate: Callable[..., Any], timeout: float) -> str:
        name = getattr(predicate, "__qualname__", repr(predicate))
        code = getattr(predicate, "__code__", None)
        where = f" ({code.co_filename}:{code.co_firstlineno})" if code else ""
        recent = [
            f"{c.method}{'' if c.ok else ' -> ' + str(c.response.get('error') if isinstance(c.response, dict) else c.status)}"
            for c in self._calls[-20:]
        ]
        return (f"wait_for timed out after {timeout}s: {name}{where} stayed false; "
                f"{len(self._calls)} calls recorded, last: {recent}")

    # -- request handling -------------------------------------------------------------

    def _serve(self, handler: ServiceHandler) -> None:
        at = self.workspace.now()
        url = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length > 0 else b""
        content_type = handler.headers.get("Content-Type", "")
        if url.path.startswith("/api/"):
            method = url.path[len("/api/"):]
            answer = self._endpoint(method, url.path, at, lambda p: self._api(method, p, handler),
                                    lambda: _parse_params(url.query, body, content_type))
        elif url.path.startswith("/upload/"):
            file_id = url.path[len("/upload/"):]
            answer = self._endpoint("upload_url", url.path, at, lambda p: self._upload(file_id, body, content_type),
                                    lambda: {"file_id": file_id, "size": len(body)})
        elif url.path.startswith("/response/"):
            response_id = url.path[len("/response/"):]
            answer = self._endpoint("response_url", url.path, at, lambda p: self._respond(response_id, p),
                                    lambda: _parse_json_object(body))
        elif url.path == "/openid/connect/authorize":
            answer = self._endpoint("openid.authorize", url.path, at, lambda p: self._authorize(url.query),
                                    lambda: {k: v for k, v in parse_qsl(url.query) if k != "nonce"})
        elif url.path == "/openid/connect/keys":
            answer = self._endpoint("openid.keys", url.path, at, lambda p: (200, self.openid.jwks(), {}), lambda: {})
        else:
            answer = (404, "not found", {})
        if answer is not None:
            _write(handler, *answer)

    def _endpoint(
        self, method: str, path: str, at: float,
        serve: Callable[[dict[str, Any]], Answer], parse: Callable[[], dict[str, Any]],
    ) -> Answer | None:
        """Shared pipeline: parse, apply a queued fault, serve, record."""
        try:
            params = parse()
            secret_free = {k: v for k, v in params.items() if k not in ("token", "client_secret")}
        except ValueError:
            params, secret_free = {}, {}
            bad_body: Answer | None = (200, {"ok": False, "error": "invalid_json"}, {}) if method not in (
                "upload_url", "response_url") else (400, "invalid_payload", {})
        else:
            bad_body = None
        with self._changed:
            queue = self._faults.get(method)
            fault = queue.popleft() if queue else None
            if fault is None:
                fault = next((s.fault for s in self._standing if s.applies(method, params, at)), None)
        if fault is not None and fault.delay > 0 and self._stopping.wait(fault.delay):
            return None  # shutting down: drop the connection unanswered
        if fault is not None and fault.replaces_answer and fault.after_serving and bad_body is None:
            try:
                serve(params)
            except Exception:
                self.errors.append(traceback.format_exc())
            answer = _fault_answer(fault)
        elif fault is not None and fault.replaces_answer:
            answer = _fault_answer(fault)
        elif bad_body is not None:
            answer = bad_body
        else:
            try:
                answer = serve(params)
            except Exception:  # a simulator bug must not look like a hung Slack
                self.errors.append(traceback.format_exc())
                print(self.errors[-1], file=sys.stderr)
                answer = (500, {"ok": False, "error": "internal_error"}, {})
            if answer[0] == 429 and fault is None:
                fault = Fault(status=429, error="ratelimited", retry_after=int(answer[2]["Retry-After"]))
        self._record(RecordedCall(method, secret_free, at, fault, path, answer[1], answer[0]))
        return answer

    def _record(self, call: RecordedCall) -> None:
        with self._changed:
            self._calls.append(call)
            self._changed.notify_all()

    def _api(self, method: str, params: dict[str, Any], handler: ServiceHandler) -> Answer:
        auth = handler.headers.get("Authorization", "")
        if method == "oauth.v2.access":
            # Authenticated by the app's client id and secret (HTTP Basic or params), not a token.
            credentials = _basic_credentials(auth)
            if credentials is not None:
                params = {**params, "client_id": credentials[0], "client_secret": credentials[1]}
            return self._app_answer(lambda: self.oauth.exchange(params))
        if method == "openid.connect.token":
            credentials = _basic_credentials(auth)
            if credentials is not None:
                params = {**params, "client_id": credentials[0], "client_secret": credentials[1]}
            return self._app_answer(lambda: self.openid.token(params, self.workspace.now()))
        if method == "openid.connect.userInfo":
            bearer = auth[len("bearer "):].strip() if auth.lower().startswith("bearer ") else params.get("token")
            if not bearer:
                return 200, {"ok": False, "error": "not_authed"}, {}
            return self._app_answer(lambda: self.openid.user_info(str(bearer)))
        token = params.get("token")
        if auth.lower().startswith("bearer "):
            token = auth[len("bearer "):].strip()
        if method == "apps.connections.open":
            with self._changed:
                return _answer(apps_connections_open(self.socket_mode_servers, token))
        if method not in self._methods.table:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        if not token:
            return 200, {"ok": False, "error": "not_authed"}, {}
        team = next((t for t in self._teams if token in t.ws.known_tokens()), None)
        if team is None:
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        handler_fn = team.table[method]
        with self._changed:
            wait = self._rate_limited(method, params)
            if wait is not None:
                return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(wait)}
            try:
                result = handler_fn({k: v for k, v in params.items() if k != "token"})
            except SlackError as err:
                return 200, {"ok": False, "error": err.code, **err.extra}, {}
            self._accepted(method, params)
            return 200, {"ok": True, **result}, {}

    def _app_answer(self, produce: Callable[[], dict[str, Any]]) -> Answer:
        """An answer to a method authenticated by the app's credentials or a user token
        rather than a bot token (oauth.v2.access, openid.connect.*)."""
        with self._changed:
            try:
                return 200, {"ok": True, **produce()}, {}
            except SlackError as err:
                return 200, {"ok": False, "error": err.code}, {}

    def _rate_key(self, params: dict[str, Any]) -> str:
        ref = str(params.get("channel", ""))
        if ref in self.workspace.channels:
            return ref
        if ref in self.workspace.users:
            return "D" + ref  # posting to a user id lands in their DM
        channel = self.workspace.channel_by_name(ref)
        return channel.id if channel else ref

    def _rate_limited(self, method: str, params: dict[str, Any]) -> int | None:
        """Seconds to wait (>= 1) if this call comes too soon, else None."""
        rate = self._rates.get(method)
        if not rate:
            return None
        last = self._last_accepted.get((method, self._rate_key(params)))
        if last is None:
            return None
        remaining = 1.0 / rate - (self.workspace.now() - last)
        if remaining <= 0:
            return None
        return max(1, math.ceil(remaining))

    def _accepted(self, method: str, params: dict[str, Any]) -> None:
        if method in self._rates:
            self._last_accepted[(method, self._rate_key(params))] = self.workspace.now()

    def _authorize(self, query: str) -> Answer:
        with self._changed:
            return self.openid.authorize(query, self.workspaces)

    def _upload(self, file_id: str, body: bytes, content_type: str) -> Answer:
        data = body
        if content_type.lower().startswith("multipart/form-data"):
            _, files = _parse_multipart(body, content_type)
            data = next(iter(files.values()), b"")
        with self._changed:
            if not self._methods.receive_upload(file_id, data):
                return 404, "not found", {}
        return 200, f"OK - {len(data)}", {"Content-Type": "text/plain; charset=utf-8"}

    def _respond(self, response_id: str, payload: dict[str, Any]) -> Answer:
        """Apply a respond() POST the way Slack would to the originating message."""
        with self._changed:
            info = self._response_urls.get(response_id)
            if info is None:
                return 404, "no_active_hooks", {"Content-Type": "text/plain; charset=utf-8"}
            ws = info["workspace"]
            methods = next(t for t in self._teams if t.ws is ws)
            channel_id, message_ts = info["channel_id"], info["message_ts"]
            original = ws.message(channel_id, message_ts) if channel_id and message_ts else None
            # An interaction on an ephemeral message (the player's click_ephemeral): its
            # response_url replaces or deletes that ephemeral, as Slack documents.
            ephemeral = next((e for e in methods.ephemerals if message_ts and e["ts"] == message_ts
                              and e["channel"] == channel_id and e["user"] == info["user_id"]), None) \
                if original is None else None
            if truthy(payload.get("delete_original")):
                if original is not None:
                    ws.delete(channel_id, message_ts)
                elif ephemeral is not None:
                    methods.ephemerals.remove(ephemeral)
            elif truthy(payload.get("replace_original")) and ephemeral is not None:
                ephemeral["message"] = dict(payload)
                ephemeral["replaced"] = ephemeral.get("replaced", 0) + 1
            elif truthy(payload.get("replace_original")) and original is not None:
                fields = {k: payload[k] for k in ("blocks", "attachments") if k in payload}
                ws.edit(channel_id, message_ts, payload.get("text"), edited_by=ws.bot_user_id, fields=fields)
            elif payload.get("response_type") == "in_channel" and channel_id:
                message = methods.bot_message(str(payload.get("text") or ""), payload)
                if payload.get("thread_ts"):
                    message["thread_ts"] = payload["thread_ts"]
                ws.post(channel_id, message)
            else:
                methods.ephemerals.append({"channel": channel_id, "user": info["user_id"],
                                                 "ts": ws.next_ts(), "message": dict(payload)})
        return 200, "ok", {"Content-Type": "text/plain; charset=utf-8"}


def _answer(call: Callable[[], dict[str, Any]]) -> Answer:
    try:
        return 200, {"ok": True, **call()}, {}
    except SlackError as err:
        return 200, {"ok": False, "error": err.code, **err.extra}, {}


def _basic_credentials(header: str) -> tuple[str, str] | None:
    if not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[len("basic "):].strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


def _fault_answer(fault: Fault) -> Answer:
    if fault.status == 429:
        retry_after = fault.retry_after if fault.retry_after is not None else 1
        return 429, {"ok": False, "error": fault.error or "ratelimited"}, {"Retry-After": str(retry_after)}
    if fault.status >= 500:
        return fault.status, {"ok": False, "error": fault.error or "fatal_error"}, {}
    return fault.status, {"ok": False, "error": fault.error or "request_failed"}, {}


def _parse_params(query: str, body: bytes, content_type: str) -> dict[str, Any]:
    """Merge query-string and body params; raises ValueError on a broken JSON body.

    slack_sdk sends "Content-Type: application/json" even for empty bodies
    (e.g. auth.test), so an empty body is simply no params.
    """
    params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    kind = content_type.split(";")[0].strip().lower()
    if not body:
        return params
    if kind == "application/json":
        params.update(_parse_json_object(body))
    elif kind == "multipart/form-data":
        fields, _ = _parse_multipart(body, content_type)
        params.update(fields)
    else:
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return params


def _parse_json_object(body: bytes) -> dict[str, Any]:
    value = json.loads(body.decode("utf-8"))  # JSONDecodeError is a ValueError
    if not isinstance(value, dict):
        raise ValueError("JSON body is not an object")
    return value


def _parse_multipart(body: bytes, content_type: str) -> tuple[dict[str, str], dict[str, bytes]]:
    """Split a multipart body into text fields and file parts (by field name)."""
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode("latin-1") + body)
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    if not message.is_multipart():
        return fields, files
    for part in message.iter_parts():
        name = str(part.get_param("name", header="content-disposition") or "")
        payload = part.get_payload(decode=True)
        payload = payload if isinstance(payload, bytes) else b""
        if part.get_filename() is not None:
            files[name] = payload
        else:
            fields[name] = payload.decode("utf-8", "replace")
    return fields, files


def _write(handler: ServiceHandler, status: int, payload: Any, headers: dict[str, str]) -> None:
    if isinstance(payload, str):
        data = payload.encode("utf-8")
        headers = {"Content-Type": "text/plain; charset=utf-8", **headers}
    else:
        data = json.dumps(payload).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8", **headers}
    try:
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the client gave up first (a delay fault doing its job)
