"""Signed values for the web view: the sign-in state and the session cookie.

Both are signed with SCRIBE_WEB_SECRET (itsdangerous, HMAC-SHA1 over a timestamped
payload, a different salt for each use so one can never pass for the other) and expire:
the state after STATE_MAX_AGE seconds, the session after SCRIBE_WEB_SESSION_HOURS.
Single use of a state is enforced in the database (bot.web.data.spend_sign_in_state).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

STATE_MAX_AGE = 600  # seconds from showing the sign-in button to coming back from Slack


class Refused(Exception):
    """A signed value that didn't check out; `str()` is safe to show."""


@dataclass(frozen=True)
class LoginState:
    state_id: str
    nonce: str
    next_path: str


@dataclass(frozen=True)
class WebSession:
    user_id: str
    team_id: str
    name: str
    # Random per sign-in, inside the signed cookie. The database keeps the sessions not yet
    # ended by this key (bot.web.data), and the Sign out form carries it back, so a sign-out
    # can't be forged by another site (see sign_out_allowed).
    key: str = field(default_factory=lambda: secrets.token_urlsafe(16))

    def sign_out_allowed(self, token: str | None) -> bool:
        return bool(self.key) and hmac.compare_digest(self.key.encode(), (token or "").encode())


def safe_next(path: str | None) -> str:
    """Only a path on this site (no scheme, host or //host), else the list."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path or any(ord(c) < 32 for c in path):
        return "/"
    return path


class Signer:
    def __init__(self, secret: str, *, session_hours: float):
        self._state = URLSafeTimedSerializer(secret, salt="scribe.web.login-state")
        self._browser = URLSafeTimedSerializer(secret, salt="scribe.web.login-browser")
        self._session = URLSafeTimedSerializer(secret, salt="scribe.web.session")
        self.session_seconds = int(session_hours * 3600)

    # -- sign-in state ---------------------------------------------------------------

    def new_state(self, next_path: str) -> tuple[str, str, LoginState]:
        """(state for Slack, value for the browser's login cookie, what they stand for)."""
        login = LoginState(state_id=secrets.token_urlsafe(16), nonce=secrets.token_urlsafe(16), next_path=safe_next(next_path))
        state = self._state.dumps({"s": login.state_id, "n": login.nonce, "next": login.next_path})
        return state, self._browser.dumps(login.state_id), login

    def read_state(self, state: str | None, browser_cookie: str | None, *, now: float | None = None) -> LoginState:
        if not state:
            raise Refused("The sign-in came back without its state. Please sign in again.")
        try:
            payload: dict[str, Any] = self._state.loads(state, max_age=STATE_MAX_AGE)
        except SignatureExpired:
            raise Refused("This sign-in took too long and expired. Please sign in again.") from None
        except BadSignature:
            raise Refused("This sign-in wasn't started here (its state is not ours). Please sign in again.") from None
        try:
            browser_id = self._browser.loads(browser_cookie or "", max_age=STATE_MAX_AGE)
        except BadSignature:
            browser_id = None
        if not isinstance(payload, dict) or browser_id != payload.get("s"):
            raise Refused("This sign-in was started in another browser or tab. Please sign in again here.")
        return LoginState(state_id=str(payload["s"]), nonce=str(payload["n"]), next_path=safe_next(payload.get("next")))

    # -- session cookie --------------------------------------------------------------

    def session_cookie(self, session: WebSession) -> str:
        return self._session.dumps({"u": session.user_id, "t": session.team_id, "n": session.name, "k": session.key})

    def read_session(self, cookie: str | None) -> WebSession | None:
        """The session, or None if there is none, it was tampered with, or it expired."""
        if not cookie:
            return None
        try:
            payload = self._session.loads(cookie, max_age=self.session_seconds)
        except BadSignature:  # SignatureExpired is one too
            return None
        if not isinstance(payload, dict) or not all(isinstance(payload.get(k), str) for k in ("u", "t", "n")):
            return None
        key = payload.get("k")
        # A cookie signed before sessions had a key reads as key "".
        return WebSession(user_id=payload["u"], team_id=payload["t"], name=payload["n"], key=key if isinstance(key, str) else "")
