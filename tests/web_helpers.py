"""Helpers for the web view's tests: the app started with the web view on, and a small
cookie-keeping HTTP client that behaves like a browser without following redirects."""

from __future__ import annotations

import html
import http.client
import re
import socket
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

CLIENT_ID = "1111.2222"
CLIENT_SECRET = "sim-client-secret-0123456789"
WEB_SECRET = "web-secret-for-tests-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_web_app(database_url: str, slack: Any, *, clock: Any = None, **overrides: Any) -> Any:
    slack.oauth.register(CLIENT_ID, CLIENT_SECRET)
    port = free_port()
    values: dict[str, Any] = dict(slack_client_id=CLIENT_ID, slack_client_secret=CLIENT_SECRET, web_secret=WEB_SECRET,
                                  public_url=f"http://127.0.0.1:{port}")
    values.update(overrides)
    from bot.runtime import Runtime
    from bot.simulator.player import SlackPlayer
    from tests.conftest import SIGNING_SECRET, RunningApp, make_settings

    settings = make_settings(database_url, slack.base_url, **values)
    extra = {} if clock is None else {"clock": clock}
    runtime = Runtime.start(settings, host="127.0.0.1", port=port, background=True, history_pause=lambda: None, **extra)
    runtime.backfill_thread.join(10)
    player = SlackPlayer(slack.workspace, slack, app_url=runtime.url, signing_secret=SIGNING_SECRET)
    player.after_request = lambda: runtime.app.scribe.settle(timeout=30)
    return RunningApp(runtime=runtime, player=player, api=slack, settings=settings, session_factory=runtime.app.scribe.session_factory)


@dataclass
class Page:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    url: str
    set_cookies: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    @property
    def location(self) -> str | None:
        return self.headers.get("Location")


class Browser:
    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")
        self.cookies: dict[str, str] = {}

    def get(self, url: str, *, cookies: bool = True) -> Page:
        return self.request("GET", url, cookies=cookies)

    def post(self, url: str, fields: dict[str, str]) -> Page:
        """Submit a form (application/x-www-form-urlencoded), as a browser does."""
        return self.request("POST", url, body=urlencode(fields).encode(), content_type="application/x-www-form-urlencoded")

    def request(self, method: str, url: str, *, cookies: bool = True, body: bytes | None = None, content_type: str | None = None) -> Page:
        full = urljoin(self.base_url + "/", url)
        parts = urlsplit(full)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        headers = {}
        ours = full.startswith(self.base_url)
        if cookies and ours and self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if content_type:
            headers["Content-Type"] = content_type
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        set_cookies = response.headers.get_all("Set-Cookie") or []
        if ours:
            for raw in set_cookies:
                jar: SimpleCookie = SimpleCookie()
                jar.load(raw)
                for name, morsel in jar.items():
                    if morsel["max-age"] == "0" or not morsel.value or morsel.value == '""':
                        self.cookies.pop(name, None)
                    else:
                        self.cookies[name] = morsel.value
        return Page(response.status, response.headers, body, full, set_cookies)

    def follow(self, url: str, *, limit: int = 10) -> Page:
        page = self.get(url)
        for _ in range(limit):
            if page.status not in (301, 302, 303, 307) or not page.location:
                return page
            page = self.get(urljoin(page.url, page.location))
        return page

    # -- signing in ------------------------------------------------------------------

    def authorize_url(self, next_path: str = "/") -> str:
        page = self.get(f"/login?next={next_path}")
        assert page.status == 200, page.text
        match = re.search(r'id="sign-in" href="([^"]+)"', page.text)
        assert match, page.text
        return html.unescape(match.group(1))

    def callback_url(self, next_path: str = "/") -> str:
        """Through Slack's authorize page: the redirect back to us, with code and state."""
        answer = self.get(self.authorize_url(next_path))
        assert answer.status == 302, answer.text
        assert answer.location
        return answer.location

    def sign_in(self, next_path: str = "/") -> Page:
        page = self.get(self.callback_url(next_path))
        return page


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
