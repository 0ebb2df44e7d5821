"""`SocketModeServer`: Slack's Socket Mode endpoint, a WebSocket server on 127.0.0.1.

The app asks the Web API for a URL (`apps.connections.open`, with an app-level `xapp-`
token; see FakeSlackWebAPI.serve_socket_mode) and opens a WebSocket to it. Then, as
Slack documents for Socket Mode:

- the server greets each new connection with
  `{"type": "hello", "num_connections": n, "debug_info": {...}, "connection_info": {"app_id": ...}}`;
- requests arrive as envelopes
  `{"envelope_id", "type": "events_api"|"slash_commands"|"interactive", "payload",
  "accepts_response_payload", "retry_attempt", "retry_reason"}` (events carry the same
  `event_callback` body as in HTTP mode; slash commands their form fields as an object);
- the app acknowledges each one with `{"envelope_id": ..., "payload": {...}?}`; a
  command's or an interaction's `payload` is what the person sees (like an HTTP answer);
- the server may say `{"type": "disconnect", "reason": "refresh_requested"|"warning"|
  "link_disabled", "debug_info": {...}}`, after which the app should connect anew;
- an Events API envelope that was never acknowledged is sent again, to whichever
  connection is open by then, with `retry_attempt` one higher and a `retry_reason`.

Tickets are single use, like Slack's: a second connection with the same URL is refused.
The URL is `ws://`, not `wss://`: nothing here speaks TLS.

Tests drive it from their own thread: `send_event / send_command / send_interactive`
return the envelope id, `wait_for_ack` returns the acknowledgement (with its payload),
`disconnect` sends a disconnect message, `kill_connection` makes a connection go silent
without a close frame (it stops reading, answering pings and sending: what a dead proxy
or load balancer looks like from the app), and `redeliver_unacked` resends every Events
API envelope still waiting for its ack. Envelopes sent while no connection is open wait
and go out, in order, to the next connection after its `hello`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .waiting import wait_until
from .workspace import Workspace

EVENTS_API = "events_api"
SLASH_COMMANDS = "slash_commands"
INTERACTIVE = "interactive"


@dataclass
class Ack:
    envelope_id: str
    payload: dict[str, Any] | None
    at: float  # time.monotonic() when it arrived
    connection_id: int


@dataclass
class Envelope:
    envelope_id: str
    type: str
    payload: dict[str, Any]
    accepts_response_payload: bool
    retry_attempt: int = 0
    retry_reason: str = ""
    sent_at: float | None = None  # time.monotonic() of the last send
    deliveries: int = 0

    def frame(self) -> str:
        return json.dumps({
            "envelope_id": self.envelope_id,
            "payload": self.payload,
            "type": self.type,
            "accepts_response_payload": self.accepts_response_payload,
            "retry_attempt": self.retry_attempt,
            "retry_reason": self.retry_reason,
        })


@dataclass
class Connection:
    id: int
    ws: web.WebSocketResponse
    opened_at: float
    state: str = "open"  # open, dead (silent, no close frame), closed
    transport: Any = None
    pings_answered: int = 0
    received: list[str] = field(default_factory=list)  # every text frame, as sent


class SocketModeServer:
    """One app's Socket Mode endpoint. Start it, then `FakeSlackWebAPI.serve_socket_mode(server)`."""

    def __init__(self, workspace: Workspace, *, app_token: str = "xapp-1-A0SIM-1-sim-socket-token") -> None:
        if not app_token.startswith("xapp-"):
            raise ValueError("an app-level token starts with xapp-")
        self.workspace = workspace
        self.app_token = app_token
        self._ids = itertools.count(1)
        self._changed = threading.Condition()
        self._tickets: set[str] = set()
        self.connections: list[Connection] = []
        self.envelopes: dict[str, Envelope] = {}
        self.acks: dict[str, Ack] = {}
        # Every ack as it came, duplicates included (an app acking twice is a bug to see).
        self.ack_log: list[Ack] = []
        self._pending: list[Envelope] = []  # to send when a connection opens
        # Called in the server's thread as each ack arrives, before it is recorded.
        self.on_ack: Callable[[Ack], None] | None = None
        self.refused_handshakes = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        self._stopping: asyncio.Event | None = None

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> SocketModeServer:
        started = threading.Event()
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._open())
            started.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="fake-slack-socket-mode", daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("the Socket Mode simulator did not start")
        return self

    async def _open(self) -> None:
        self._stopping = asyncio.Event()
        app = web.Application()
        app.router.add_get("/link/", self._link)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return

        async def close() -> None:
            assert self._stopping is not None
            self._stopping.set()
            for connection in list(self.connections):
                if connection.state != "closed":
                    connection.state = "closed"
                    if connection.transport is not None:
                        connection.transport.abort()
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        loop.close()

    def __enter__(self) -> SocketModeServer:
        return self.start() if self._loop is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("SocketModeServer not started")
        return self._port

    # -- what apps.connections.open answers ------------------------------------------

    def issue_url(self) -> str:
        ticket = str(uuid.uuid4())
        with self._changed:
            self._tickets.add(ticket)
        return f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={self.workspace.api_app_id}"

    # -- connections ------------------------------------------------------------------

    async def _link(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        with self._changed:
            valid = ticket in self._tickets
            self._tickets.discard(ticket)
            if not valid:
                self.refused_handshakes += 1
        if not valid:
            # Slack refuses a reused or made-up ticket at the handshake.
            return web.Response(status=401, text="invalid ticket")
        # autoping off: pings are answered below, and only while the connection is alive.
        ws = web.WebSocketResponse(autoping=False, max_msg_size=4 * 1024 * 1024)
        await ws.prepare(request)
        with self._changed:
            connection = Connection(id=next(self._ids), ws=ws, opened_at=time.monotonic(), transport=request.transport)
            self.connections.append(connection)
            live = sum(1 for c in self.connections if c.state == "open")
            self._changed.notify_all()
        await ws.send_str(json.dumps({
            "type": "hello",
            "num_connections": live,
            "debug_info": {"host": f"applink-sim-{connection.id}", "build_number": 1,
                           "approximate_connection_time": 18060},
            "connection_info": {"app_id": self.workspace.api_app_id},
        }))
        with self._changed:
            waiting, self._pending = self._pending, []
        for envelope in waiting:
            await self._send_on(connection, envelope)
        try:
            await self._read(connection)
            if connection.state == "dead":
                # Returning would close the TCP connection; a dead link just stays silent.
                assert self._stopping is not None
                await self._stopping.wait()
        finally:
            with self._changed:
                if connection.state == "open":
                    connection.state = "closed"
                self._changed.notify_all()
        return ws

    async def _read(self, connection: Connection) -> None:
        ws = connection.ws
        while connection.state == "open":
            message = await ws.receive()
            if connection.state != "open":
                return  # went silent meanwhile: what it got is dropped unanswered
            if message.type == WSMsgType.PING:
                await ws.pong(message.data)
                connection.pings_answered += 1
            elif message.type == WSMsgType.TEXT:
                connection.received.append(message.data)
                self._acknowledged(connection, message.data)
            elif message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                if message.type == WSMsgType.CLOSE:
                    await ws.close()
                return

    def _acknowledged(self, connection: Connection, data: str) -> None:
        try:
            frame = json.loads(data)
        except ValueError:
            return  # Slack ignores what isn't JSON
        if not isinstance(frame, dict) or not isinstance(frame.get("envelope_id"), str):
            return
        payload = frame.get("payload")
        ack = Ack(envelope_id=frame["envelope_id"], payload=payload if isinstance(payload, dict) else None,
                  at=time.monotonic(), connection_id=connection.id)
        if self.on_ack is not None:
            self.on_ack(ack)
        with self._changed:
            self.ack_log.append(ack)
            if ack.envelope_id in self.envelopes:
                self.acks.setdefault(ack.envelope_id, ack)
            self._changed.notify_all()

    async def _send_on(self, connection: Connection, envelope: Envelope) -> None:
        envelope.sent_at = time.monotonic()
        envelope.deliveries += 1
        await connection.ws.send_str(envelope.frame())

    async def _deliver(self, envelopes: list[Envelope]) -> None:
        with self._changed:
            live = [c for c in self.connections if c.state == "open"]
            if not live:
                self._pending.extend(envelopes)
                return
        connection = live[-1]  # the newest connection, as Slack prefers
        for envelope in envelopes:
            try:
                await self._send_on(connection, envelope)
            except (ConnectionError, RuntimeError):
                with self._changed:
                    self._pending.append(envelope)

    def _run(self, coroutine: Any) -> Any:
        if self._loop is None:
            raise RuntimeError("SocketModeServer not started")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(30)

    # -- what tests do ------------------------------------------------------------------

    def send(self, kind: str, payload: dict[str, Any], *, accepts_response_payload: bool | None = None) -> str:
        envelope = Envelope(
            envelope_id=str(uuid.uuid4()), type=kind, payload=payload,
            accepts_response_payload=kind != EVENTS_API if accepts_response_payload is None else accepts_response_payload,
        )
        with self._changed:
            self.envelopes[envelope.envelope_id] = envelope
        self._run(self._deliver([envelope]))
        return envelope.envelope_id

    def prepare(self, kind: str, payloads: list[dict[str, Any]]) -> list[Envelope]:
        """Envelopes made and registered, not sent yet (see send_prepared)."""
        envelopes = [Envelope(envelope_id=str(uuid.uuid4()), type=kind, payload=p, accepts_response_payload=kind != EVENTS_API)
                     for p in payloads]
        with self._changed:
            for envelope in envelopes:
                self.envelopes[envelope.envelope_id] = envelope
        return envelopes

    def send_prepared(self, envelopes: list[Envelope]) -> None:
        """Write prepared envelopes back to back; from the server's own thread (an `on_ack`
        hook) it schedules the write instead of waiting for it."""
        if threading.current_thread() is self._thread:
            asyncio.get_running_loop().create_task(self._deliver(envelopes))
        else:
            self._run(self._deliver(envelopes))

    def send_many(self, kind: str, payloads: list[dict[str, Any]]) -> list[str]:
        """Several envelopes written back to back, without waiting between them."""
        envelopes = self.prepare(kind, payloads)
        self.send_prepared(envelopes)
        return [e.envelope_id for e in envelopes]

    def send_event(self, body: dict[str, Any]) -> str:
        """An Events API `event_callback` body (as SlackPlayer.envelope builds it)."""
        return self.send(EVENTS_API, body)

    def send_command(self, fields: dict[str, str]) -> str:
        """A slash command's fields (as SlackPlayer.command_form builds them)."""
        return self.send(SLASH_COMMANDS, dict(fields))

    def send_interactive(self, payload: dict[str, Any]) -> str:
        return self.send(INTERACTIVE, payload)

    def unacked(self, kind: str | None = EVENTS_API) -> list[str]:
        with self._changed:
            return [e.envelope_id for e in self.envelopes.values()
                    if e.envelope_id not in self.acks and (kind is None or e.type == kind)]

    def redeliver_unacked(self, reason: str = "timeout") -> list[str]:
        """Send every unacknowledged Events API envelope again, retry_attempt one higher."""
        with self._changed:
            again = [e for e in self.envelopes.values() if e.type == EVENTS_API and e.envelope_id not in self.acks
                     and e not in self._pending]
            for envelope in again:
                envelope.retry_attempt += 1
                envelope.retry_reason = reason
        self._run(self._deliver(again))
        return [e.envelope_id for e in again]

    def resend(self, envelope_id: str, reason: str = "timeout") -> None:
        """Send one envelope again, acked or not (an ack lost on the way), retry_attempt one higher."""
        with self._changed:
            envelope = self.envelopes[envelope_id]
            envelope.retry_attempt += 1
            envelope.retry_reason = reason
            self.acks.pop(envelope_id, None)  # wait_for_ack waits for the new one
        self._run(self._deliver([envelope]))

    def disconnect(self, reason: str = "refresh_requested") -> None:
        """Tell every open connection to go away (it stays open until the app closes it)."""

        async def send() -> None:
            for connection in [c for c in self.connections if c.state == "open"]:
                await connection.ws.send_str(json.dumps({"type": "disconnect", "reason": reason,
                                                         "debug_info": {"host": f"applink-sim-{connection.id}"}}))

        self._run(send())

    def kill_connection(self, connection_id: int | None = None) -> Connection:
        """The connection goes silent, without a close frame: nothing read, no pong, nothing sent.

        The TCP connection stays open, as behind a proxy that lost its upstream.
        """
        with self._changed:
            live = [c for c in self.connections if c.state == "open" and (connection_id is None or c.id == connection_id)]
            if not live:
                raise AssertionError("no open connection to kill")
            connection = live[-1]
            connection.state = "dead"
            self._changed.notify_all()
            return connection

    def live_connections(self) -> list[Connection]:
        with self._changed:
            return [c for c in self.connections if c.state == "open"]

    def wait_for(self, predicate: Callable[[SocketModeServer], Any], timeout: float = 10.0) -> Any:
        return wait_until(self._changed, lambda: predicate(self), timeout=timeout,
                          describe=lambda: f"timed out after {timeout}s; connections: "
                                           f"{[(c.id, c.state) for c in self.connections]}, acks: {len(self.acks)}")

    def wait_for_ack(self, envelope_id: str, timeout: float = 10.0) -> Ack:
        return self.wait_for(lambda s: s.acks.get(envelope_id), timeout)

    def wait_for_connection(self, after: int = 0, timeout: float = 10.0) -> Connection:
        """The first open connection with an id above `after`."""
        return self.wait_for(lambda s: next((c for c in s.connections if c.id > after and c.state == "open"), None), timeout)
