"""Value types shared by the fake Web API: faults, recorded calls, API errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour for one call to a method.

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
