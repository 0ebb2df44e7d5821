"""One exception for every tracker failure, with a kind the caller branches on and a
sentence for the person who asked.

Kinds:
- unavailable: the tracker is down, slow (timed out) or answered 5xx. Try again later.
- auth: 401 or 403, the token is revoked, expired or lacks a permission.
- not_found: 404, or the project/repository/team is gone or invisible to the token.
- invalid: 400 or 422, the tracker refused a field; `detail` is its own message.
- rate_limited: 429 (or the tracker's equivalent); `retry_after` says how long to wait.

Messages never contain a token: adapters build them from the tracker's answer, scrubbed
of every secret they hold (`scrub`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Literal

ErrorKind = Literal["unavailable", "auth", "not_found", "invalid", "rate_limited"]
ERROR_KINDS: Final[tuple[ErrorKind, ...]] = ("unavailable", "auth", "not_found", "invalid", "rate_limited")
REDACTED: Final = "[redacted]"
MAX_DETAIL: Final = 300


class TrackerError(Exception):
    """A tracker call failed. `str(error)` is the plain-words message for Slack."""

    def __init__(self, kind: ErrorKind, message: str, *, tracker: str, status: int | None = None,
                 detail: str | None = None, retry_after: float | None = None) -> None:
        if kind not in ERROR_KINDS:
            raise ValueError(f"unknown tracker error kind {kind!r}")
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message
        self.tracker = tracker
        self.status = status
        self.detail = detail
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """Whether the same call may succeed later without anyone changing anything."""
        return self.kind in ("unavailable", "rate_limited")

    def __repr__(self) -> str:
        extra = f", retry_after={self.retry_after:g}" if self.retry_after is not None else ""
        return f"TrackerError({self.kind!r}, tracker={self.tracker!r}, status={self.status!r}{extra}, message={self.message!r})"


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every secret (and its Base64 Basic-auth form, if any) replaced."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return text


def clip(text: str, limit: int = MAX_DETAIL) -> str:
    """One line, at most `limit` characters: tracker messages can be long or multi-line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def plain_message(kind: ErrorKind, label: str, *, status: int | None, detail: str | None,
                  retry_after: float | None = None, what: str | None = None, setting: str | None = None) -> str:
    """The sentence for the person who asked, e.g. "Jira refused the token (401): …"."""
    code = f" ({status})" if status is not None else ""
    tail = f": {detail.rstrip('. ')}" if detail else ""
    if kind == "auth":
        if status == 403:
            where = f" in {what}" if what else ""
            return f"{label} refused access{code}{tail}. The token's account needs permission to do this{where}."
        who = f"renew {setting}" if setting else "renew the token"
        return f"{label} refused the token{code}{tail}. An admin needs to {who}."
    if kind == "not_found":
        return f"{label} could not find {what or 'that'}{code}{tail}."
    if kind == "invalid":
        return f"{label} refused the ticket{code}{tail}."
    if kind == "rate_limited":
        wait = f"; it asks us to wait {retry_after:.0f} s" if retry_after is not None else ""
        return f"{label} is rate limiting us{code}{wait}."
    return f"{label} is not answering{code}{tail}."
