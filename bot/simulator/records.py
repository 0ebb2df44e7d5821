"""Value types shared by the fake Web API: faults, recorded calls, API errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour for one call to a method (queued with
    FakeSlackWebAPI.inject), or for every matching call (a StandingFault).

    - `Fault(status=500)`: HTTP 500 with an error body.
    - `Fault(status=429, retry_after=1)`: HTTP 429, `Retry-After` header and
      `{"ok": false, "error": "ratelimited"}`, exactly what Slack sends.
    - `Fault(error="not_in_channel")`: HTTP 200 with `ok: false`.
    - `Fault(delay=2.0)`: answer late (normally, unless other fields are set),
      so clients with a shorter timeout give up.
    - `Fault(status=500, after_serving=True)`: Slack did the work (created the
      channel, posted the message) but the answer got lost as a 500: the client
      sees a failure for something that happened.
    """

    status: int = 200
    error: str | None = None
    retry_after: int | None = None
    delay: float = 0.0
    after_serving: bool = False

    @property
    def replaces_answer(self) -> bool:
        """False for a pure delay: the call is then served normally afterwards."""
        return self.status != 200 or self.error is not None


# The arguments through which a Web API method names channels and people (Slack's own
# names; `channels` and `users` take a comma-separated list).
CHANNEL_ARGUMENTS = ("channel", "channel_id", "channels")
USER_ARGUMENTS = ("user", "users")


@dataclass(frozen=True)
class StandingFault:
    """A fault that every matching call meets until it expires or is lifted; unlike a
    queued `Fault`, no call uses it up (FakeSlackWebAPI.inject_standing).

    A call matches when its method is one of `methods` (any method when empty) and, when
    `channels` or `users` are given, one of its channel arguments names one of `channels`
    or one of its user arguments names one of `users`: "every call made about this channel
    or these people is slow", as when one channel's shard of Slack is in trouble. `until`
    is a time on the workspace clock; None stands until lifted.
    """

    fault: Fault
    methods: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()
    users: frozenset[str] = frozenset()
    until: float | None = None

    def applies(self, method: str, params: Mapping[str, Any], now: float) -> bool:
        if self.until is not None and now >= self.until:
            return False
        if self.methods and method not in self.methods:
            return False
        if not self.channels and not self.users:
            return True
        return bool(_named(params, CHANNEL_ARGUMENTS) & self.channels or _named(params, USER_ARGUMENTS) & self.users)


def _named(params: Mapping[str, Any], arguments: tuple[str, ...]) -> set[str]:
    """Every id the call's `arguments` name (a list argument is comma-separated)."""
    ids: set[str] = set()
    for argument in arguments:
        value = params.get(argument)
        if isinstance(value, str):
            ids.update(part.strip() for part in value.split(",") if part.strip())
    return ids


@dataclass
class RecordedCall:
    """One request the fake API received. Tokens are never stored here."""

    method: str
    params: dict[str, Any]
    at: float
    fault: Fault | None = None
    # Request path, e.g. "/api/chat.postMessage" or "/response/R...".
    path: str = ""
    # The JSON (or text) the simulator answered with, for debugging failed asserts.
    response: Any = field(default=None, repr=False)
    status: int = 200

    @property
    def ok(self) -> bool:
        return self.status == 200 and isinstance(self.response, dict) and bool(self.response.get("ok"))


class SlackError(Exception):
    """Raised by method handlers; becomes `{"ok": false, "error": code}`."""

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra
