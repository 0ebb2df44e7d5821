"""The web view as a real `scribe run` process: its settings, signing in over HTTP, and
seeding a database with many incidents fast. Used by bench/run.py's *web* row, the
browser tests (tests/test_web_browser.py) and docs/screenshots.py."""

from __future__ import annotations

import http.client
import os
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.harness import (  # noqa: E402
    Bench,
    BenchmarkError,
    Row,
    ServerProcess,
    bench_workspace,
    channel_id,
    free_port,
    log_progress,
    percentile,
    python_argv,
)
from bot.simulator import FakeSlackWebAPI  # noqa: E402

CLIENT_ID = "1111.2222"
CLIENT_SECRET = "web-client-secret-0123456789"
WEB_SECRET = "web-secret-0123456789-abcdefghijklmnop"
BOT_TOKEN = "xoxb-sim-token"


def web_env(*, database_url: str, api: FakeSlackWebAPI, port: int, signing_secret: str, workers: int = 8) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCRIBE_", "DATABASE_URL"))}
    env.update(
        SLACK_BOT_TOKEN=api.workspace.bot_token, SLACK_SIGNING_SECRET=signing_secret, DATABASE_URL=database_url,
        SLACK_API_URL=api.base_url, PORT=str(port), SCRIBE_SCHEDULER="false", SCRIBE_WORKERS=str(workers),
        SCRIBE_LOG_LEVEL="WARNING", PYTHONPATH=str(REPO),
        SLACK_CLIENT_ID=CLIENT_ID, SLACK_CLIENT_SECRET=CLIENT_SECRET,
        SCRIBE_PUBLIC_URL=f"http://127.0.0.1:{port}", SCRIBE_WEB_SECRET=WEB_SECRET,
    )
    return env


def web_server(workdir: Path, api: FakeSlackWebAPI, *, database_url: str, signing_secret: str, name: str = "scribe-web") -> ServerProcess:
    """`scribe run` with the web view on, against the simulator (not started yet: use `with`)."""
    api.oauth.register(CLIENT_ID, CLIENT_SECRET)
    port = free_port()
    env = web_env(database_url=database_url, api=api, port=port, signing_secret=signing_secret)
    return ServerProcess(name, python_argv("-m", "bot.cli", "run"), env, workdir, port)


def _get(url: str, cookie: str = "") -> http.client.HTTPResponse:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers={"Cookie": cookie} if cookie else {})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def sign_in(base_url: str, api: FakeSlackWebAPI, user_id: str) -> str:
    """Sign in over HTTP as `user_id`; returns the Cookie header value of the session."""
    import html
    import re

    api.openid.sign_in_as(api.workspace, user_id)
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.request("GET", "/login")
    login = conn.getresponse()
    body = login.read().decode()
    conn.close()
    jar: SimpleCookie = SimpleCookie()
    for raw in login.headers.get_all("Set-Cookie") or []:
        jar.load(raw)
    match = re.search(r'id="sign-in" href="([^"]+)"', body)
    assert match, body
    back = _get(html.unescape(match.group(1)))
    callback = back.headers["Location"]
    done = _get(callback, "; ".join(f"{k}={m.value}" for k, m in jar.items()))
    for raw in done.headers.get_all("Set-Cookie") or []:
        jar.load(raw)
    if "scribe_session" not in jar:
        raise RuntimeError(f"sign-in failed: {done.status}")
    return f"scribe_session={jar['scribe_session'].value}"


def seed(database_url: str, *, incidents: int, messages: int, team_id: str = "T0SIM", channels: int = 100,
         channel_of: Callable[[int], str] | None = None) -> int:
    """`incidents` closed incidents spread over `channels` channels and the last year, and one
    more incident with `messages` messages (with thread replies and key events); returns its id."""
    from sqlalchemy import insert

    from bot.db import make_engine
    from bot.models import Incident, RoleAssignment, TimelineEntry

    engine = make_engine(database_url)
    end = datetime(2026, 11, 20, tzinfo=UTC)
    rows = []
    for n in range(incidents):
        started = end - timedelta(minutes=53 * n)
        rows.append(dict(team_id=team_id, channel_id=(channel_of or _channel)(n % channels), channel_name=f"inc-{n % channels}",
                         title=f"Incident number {n}: checkout errors", severity=f"sev{1 + n % 4}", created_by="U0ANN",
                         declared_at=started + timedelta(minutes=4), started_at=started, detected_at=started + timedelta(minutes=3),
                         mitigated_at=started + timedelta(minutes=30), resolved_at=started + timedelta(minutes=45),
                         closed_at=started + timedelta(minutes=50)))
    with engine.begin() as conn:
        for start in range(0, len(rows), 1000):
            conn.execute(insert(Incident), rows[start:start + 1000])
        started = end - timedelta(hours=30)
        big = conn.execute(insert(Incident).returning(Incident.id), [dict(
            team_id=team_id, channel_id="CBIG", channel_name="inc-big", title="The big one: 10,000 messages", severity="sev1",
            created_by="U0ANN", declared_at=started + timedelta(minutes=5), started_at=started,
            detected_at=started + timedelta(minutes=4), mitigated_at=started + timedelta(hours=20),
            resolved_at=started + timedelta(hours=28), closed_at=None)]).scalar_one()
        conn.execute(insert(RoleAssignment), [dict(incident_id=big, role="lead", user_id="U0ANN", assigned_at=started)])
        entries = []
        authors = ("U0ANN", "U0BOB", "U0CHI")
        for n in range(messages):
            at = started + timedelta(seconds=10 * n)
            ts = f"{int(at.timestamp())}.{n % 1000000:06d}"
            parent = entries[-1]["ts"] if n % 10 == 9 and entries else None
            entries.append(dict(incident_id=big, team_id=team_id, channel_id="CBIG", ts=ts, thread_ts=parent, at=at, kind="message",
                                text=f"Message {n}: error rate {n % 40}% on <https://dash.example.com/{n}|the dashboard>",
                                author=authors[n % 3], source="message", key=n % 500 == 0, recorded_at=at))
        for start in range(0, len(entries), 2000):
            conn.execute(insert(TimelineEntry), entries[start:start + 2000])
    engine.dispose()
    return int(big)


def _channel(n: int) -> str:
    return f"C{n:07d}"


# -- the benchmark row ---------------------------------------------------------------------------

WEB_TARGET_MS = 200.0


def _timed_get(host: str, port: int, path: str, cookie: str) -> tuple[float, int, int]:
    conn = http.client.HTTPConnection(host, port, timeout=30)
    began = time.perf_counter()
    conn.request("GET", path, headers={"Cookie": cookie})
    response = conn.getresponse()
    body = response.read()
    seconds = time.perf_counter() - began
    conn.close()
    return seconds, response.status, len(body)


def web_rows(bench: Bench, backend: str) -> list[Row]:
    """p99 of `/` and `/incidents/<ref>` over HTTP against `scribe run`, with 10,000
    incidents in the database and one incident of 10,000 messages."""
    from bot.db import upgrade

    incidents = 500 if bench.quick else 10_000
    messages = 500 if bench.quick else 10_000
    requests = 30 if bench.quick else 200
    listing = Row(f"web {backend}: / p99, {incidents:,} incidents", "ms", limit=WEB_TARGET_MS)
    page = Row(f"web {backend}: /incidents/<ref> p99, {messages:,} msgs", "ms", limit=WEB_TARGET_MS)
    with ExitStack() as stack:
        database_url = bench.sqlite_url(f"web-{backend}") if backend == "sqlite" else stack.enter_context(bench.postgres_database())
        upgrade(database_url)
        workspace = bench_workspace(100)
        workspace.add_channel("CBIG", name="inc-big")
        api = stack.enter_context(FakeSlackWebAPI(workspace))
        big = seed(database_url, incidents=incidents, messages=messages, channel_of=channel_id)
        server = stack.enter_context(web_server(bench.workdir, api, database_url=database_url, signing_secret=bench.signing_secret,
                                                name=f"web-{backend}"))
        cookie = sign_in(f"http://127.0.0.1:{server.port}", api, "U0ANN")
        paths = {"list": ["/", "/?severity=sev2", "/?period=90d&status=closed", "/?before=5000"],
                 "page": [f"/incidents/INC-{big}"]}
        for path in paths["list"] + paths["page"]:  # warm: privacy and names asked of Slack once, then cached
            _, status, _ = _timed_get("127.0.0.1", server.port, path, cookie)
            if status != 200:
                raise BenchmarkError(f"GET {path} answered {status}\n{server.log_tail()}")
        for _ in range(bench.runs):
            for row, which in ((listing, "list"), (page, "page")):
                samples = []
                for n in range(requests):
                    path = paths[which][n % len(paths[which])]
                    seconds, status, size = _timed_get("127.0.0.1", server.port, path, cookie)
                    if status != 200 or size < 1000:
                        raise BenchmarkError(f"GET {path} answered {status} ({size} bytes)\n{server.log_tail()}")
                    samples.append(seconds * 1000)
                row.values.append(percentile(samples, 0.99))
            server.check_alive()
    log_progress(f"web {backend}", {listing.name: listing, page.name: page})
    return [listing, page]
