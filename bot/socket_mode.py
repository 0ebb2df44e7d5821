"""Socket Mode: Slack's requests over a WebSocket the app opens, on the HTTP server's loop.

`scribe run` with SLACK_APP_TOKEN connects out to Slack instead of taking POSTs, and
still serves `GET /healthz` on PORT (bot.server): both live on one asyncio loop, and an
envelope is dispatched exactly like an HTTP request (`HttpServer.dispatch`: on the loop
for shared writes, in the threads for the rest), so the promise is the same as in HTTP
mode: the ack (Slack's "200") is sent only after the listener's transaction committed.
An envelope whose listener failed gets no ack, so Slack sends it again.

Which client, and why. slack_sdk ships four Socket Mode clients:
- `builtin` (what slack_bolt's SocketModeHandler uses by default, and what this app used
  before): when a connection died without a close frame (a proxy or load balancer dropping
  it), the app was reported deaf for about 54 s, spinning a core at 100 %, until the
  client's own state checks gave up (issue 12);
- `websocket_client` and `websockets` add a dependency and their own threads or loop,
  and have had reconnection bugs reported against them (re-using a spent wss URL);
- `aiohttp` runs on an asyncio loop we already have (aiohttp is our HTTP server), uses
  aiohttp's WebSocket heartbeat, and waits in `select()` instead of polling.
So: slack_sdk's aiohttp client, with its timings set here rather than left to defaults:

- `PING_INTERVAL_SECONDS = 2`: aiohttp sends a ping after 2 s without any incoming frame
  and declares the connection dead if no pong comes within half of that (1 s);
- a watchdog looks every `WATCHDOG_SECONDS = 0.5` for a closed connection and connects
  anew at once (slack_sdk's own monitor only looks every ping interval, and its ping-pong
  staleness check waits 4 intervals);
so a connection that goes silent is replaced within 2 + 1 + 0.5 s plus one
apps.connections.open and one handshake, well inside 5 s, and nothing spins meanwhile:
every wait is a timer on the loop. A shorter interval would detect sooner but would
also take a busy loop for a dead link (a pong must be read within half the interval).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from slack_bolt import BoltRequest, BoltResponse
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

log = logging.getLogger(__name__)

PING_INTERVAL_SECONDS = 2.0
WATCHDOG_SECONDS = 0.5
# apps.connections.open errors that no retry will cure: the token is wrong.
TOKEN_REFUSED = {"invalid_auth", "not_authed", "not_allowed_token_type", "token_revoked", "token_expired",
                 "account_inactive", "missing_scope"}

Dispatch = Callable[[BoltRequest, dict[str, Any]], Awaitable[BoltResponse]]


def bolt_request(req: SocketModeRequest) -> BoltRequest:
    """The envelope as Bolt sees it; a redelivery carries Slack's retry headers as in HTTP mode."""
    headers: dict[str, str | Sequence[str]] = {}
    if req.retry_attempt:
        headers["x-slack-retry-num"] = str(req.retry_attempt)
    if req.retry_reason:
        headers["x-slack-retry-reason"] = req.retry_reason
    return BoltRequest(mode="socket_mode", body=req.payload, headers=headers or None)


def ack_for(req: SocketModeRequest, response: BoltResponse) -> SocketModeResponse:
    """The ack, carrying what an HTTP answer's body would (a command's reply, view errors …)."""
    body = response.body
    if not body:
        return SocketModeResponse(envelope_id=req.envelope_id)
    content_type = (response.headers.get("content-type") or [""])[0]
    if content_type.startswith("application/json"):
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {"text": body}
        return SocketModeResponse(envelope_id=req.envelope_id, payload=payload if isinstance(payload, dict) else {"text": body})
    return SocketModeResponse(envelope_id=req.envelope_id, payload={"text": body})


class SocketModeLink:
    """The app's Socket Mode connection, started and closed by the HTTP server's loop."""

    def __init__(self, app_token: str, api_url: str | None, *, ping_interval: float = PING_INTERVAL_SECONDS,
                 watchdog_seconds: float = WATCHDOG_SECONDS) -> None:
        self._app_token = app_token
        self._api_url = api_url
        self._ping_interval = ping_interval
        self._watchdog_seconds = watchdog_seconds
        self._client: Any = None
        self._dispatch: Dispatch | None = None
        self._accepting = True
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._tasks: list[asyncio.Task[Any]] = []
        self.connections_made = 0
        # Why the link gave up for good (Slack refused the app token), else None.
        self.failure: str | None = None

    # -- state, for /healthz --------------------------------------------------------

    @property
    def state(self) -> str:
        """connecting (never connected yet), connected, reconnecting, or closed."""
        client = self._client
        if client is None or not self._accepting:
            return "closed" if not self._accepting else "connecting"
        if client.closed:
            return "closed"
        session = client.current_session
        if session is not None and not session.closed and not client.stale:
            return "connected"
        return "reconnecting" if self.connections_made else "connecting"

    @property
    def connected(self) -> bool:
        return self.state == "connected"

    # -- lifecycle (on the loop) ------------------------------------------------------

    async def start(self, dispatch: Dispatch, give_up: Callable[[], None] = lambda: None) -> None:
        """Connect in the background; `give_up()` is called if Slack refuses the app token."""
        from slack_sdk.socket_mode.aiohttp import SocketModeClient
        from slack_sdk.web.async_client import AsyncWebClient

        self._dispatch = dispatch
        web_client = AsyncWebClient(base_url=self._api_url) if self._api_url else AsyncWebClient()
        # Built here, on the running loop: the client starts its queue processor at once.
        self._client = SocketModeClient(app_token=self._app_token, web_client=web_client, ping_interval=self._ping_interval,
                                        logger=logging.getLogger("slack_sdk.socket_mode"))
        self._client.socket_mode_request_listeners.append(self._on_request)
        self._client.message_listeners.append(self._on_message)
        self._tasks.append(asyncio.ensure_future(self._first_connection(give_up)))
        self._tasks.append(asyncio.ensure_future(self._watchdog()))

    async def _first_connection(self, give_up: Callable[[], None]) -> None:
        from slack_sdk.errors import SlackApiError

        while not self._client.closed:
            try:
                await self._client.connect_to_new_endpoint()
                return
            except SlackApiError as error:
                code = error.response.get("error") if error.response is not None else None
                if code in TOKEN_REFUSED:
                    self.failure = (f"Slack refused SLACK_APP_TOKEN ({code}): use the app-level token (xapp-…) with "
                                    "connections:write from Basic Information → App-Level Tokens.")
                    log.error("%s", self.failure)
                    give_up()
                    return
                log.warning("apps.connections.open failed (%s); trying again", code)
            except Exception as error:  # Slack unreachable: try again, as the client does
                log.warning("Socket Mode could not connect (%s); trying again", type(error).__name__)
            await asyncio.sleep(self._ping_interval)

    async def close(self, grace_seconds: float) -> None:
        """Stop taking envelopes, let those under way finish and ack (up to the grace), close."""
        self._accepting = False
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=grace_seconds)
        for task in self._tasks:
            task.cancel()
        if self._client is not None:
            try:
                await self._client.close()
            except Exception as error:  # closing a dead link must not stop the shutdown
                log.warning("closing the Socket Mode connection failed: %s", type(error).__name__)

    async def _on_message(self, client: Any, message: dict[str, Any], raw: str | None) -> None:
        # Each new connection starts with Slack's hello.
        if message.get("type") == "hello":
            self.connections_made += 1
            log.info("Socket Mode connected (connection %d)", self.connections_made)

    async def _watchdog(self) -> None:
        """Connect anew as soon as the connection is found closed (see the module's docstring)."""
        client = self._client
        loop = asyncio.get_running_loop()
        down_since: float | None = None
        reconnect: asyncio.Future[None] | None = None
        while not client.closed:
            await asyncio.sleep(self._watchdog_seconds)
            if self.connected or client.closed:
                down_since = None
                continue
            down_since = loop.time() if down_since is None else down_since
            if client.connect_operation_lock.locked():
                # A connect is under way and may be failing: slack_sdk retries a failed
                # handshake with the URL it already has, but a Socket Mode URL is good for
                # one connection only (Slack's are short-lived too). Make its next attempt
                # ask apps.connections.open for a fresh one.
                if loop.time() - down_since > 2 * self._ping_interval:
                    client.wss_uri = None
                continue
            if not self.connections_made:
                continue
            session = client.current_session
            if (session is None or session.closed or client.stale) and (reconnect is None or reconnect.done()):
                log.warning("Socket Mode connection lost; connecting again")
                # In a task of its own, so this watchdog keeps watching a connect that fails.
                reconnect = asyncio.ensure_future(self._reconnect())

    async def _reconnect(self) -> None:
        try:
            await self._client.connect_to_new_endpoint()
        except Exception as error:  # the watchdog tries again on a later tick
            log.warning("Socket Mode reconnect failed: %s", type(error).__name__)

    async def _on_request(self, client: Any, req: SocketModeRequest) -> None:
        if not self._accepting or self._dispatch is None:
            return  # shutting down: no ack, so Slack sends it again to the next connection
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            response = await self._dispatch(bolt_request(req), req.payload if isinstance(req.payload, dict) else {})
            if response.status != 200:
                # Like a 500 in HTTP mode: no ack, and Slack redelivers the event.
                log.info("no ack for a %s envelope: the listener answered %s", req.type, response.status)
                return
            await client.send_socket_mode_response(ack_for(req, response))
        except Exception as error:  # the link went away under us: Slack redelivers unacked events
            log.warning("could not ack a %s envelope: %s", req.type, type(error).__name__)
        finally:
            if task is not None:
                self._in_flight.discard(task)
