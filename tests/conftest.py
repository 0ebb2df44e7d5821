"""Shared fixtures.

Database tests run once per backend: SQLite always, PostgreSQL too when
SCRIBE_TEST_DATABASE_URL is set (CI sets it). Each test gets an empty, migrated
database. App tests start the real app over HTTP against the local Slack simulator.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bot.config import Settings
from bot.db import make_engine, make_session_factory, upgrade
from bot.db.scratch import scratch_database
from bot.models import Base

# Fixtures shared by several test modules, defined beside their helpers.
pytest_plugins = ["tests.ticket_helpers", "tests.workspace_helpers"]

SIGNING_SECRET = "test-signing-secret-0123456789"


@pytest.fixture(autouse=True, scope="session")
def no_network_call_in_a_transaction() -> Iterator[None]:
    """The tripwire (bot.db.guard), on for the whole suite: a Slack Web API call or a
    response_url post made while the same thread has a database transaction open raises,
    and fails the test that made it (in the app, as any listener failure does)."""
    from bot.db import guard

    guard.install()
    guard.set_strict(True)
    yield
    guard.set_strict(False)


@pytest.fixture(autouse=True)
def refused_network_calls_fail_the_test() -> Iterator[None]:
    """Also when the app caught the tripwire's exception (a listener's error handler, a
    lazy listener's failure report), the test that made the call fails."""
    from bot.db import guard

    guard.take_refused()
    yield
    refused = guard.take_refused()
    assert not refused, "network calls inside a database transaction:\n" + "\n".join(refused)


@pytest.fixture(autouse=True)
def no_model_remembered_as_down() -> None:
    """A model server found unreachable is skipped for a while (bot.drafting.client); each
    test starts without that memory, as a port a stopped fake used may be reused."""
    from bot.drafting.client import forget_unreachable

    forget_unreachable()
BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("SCRIBE_TEST_DATABASE_URL") else [])


class Clock:
    """A controllable clock for the app: it moves only when a test moves it."""

    def __init__(self, start: datetime):
        self.value = start

    def __call__(self) -> datetime:
        return self.value

    def advance(self, **delta: float) -> datetime:
        from datetime import timedelta

        self.value += timedelta(**delta)
        return self.value

    def set(self, value: datetime) -> None:
        self.value = value


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once, copy per test: migrations are tested, and tests stay fast."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str | None]:
    base = os.environ.get("SCRIBE_TEST_DATABASE_URL")
    if not base:
        yield None
        return
    with scratch_database(base, f"scribe_test_{os.getpid()}") as url:
        upgrade(url)
        yield url


def _truncate_postgres(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        # Tables that aren't our models: APScheduler's jobs, slack_sdk's OAuth stores.
        extra = [
            r[0]
            for r in conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname='public' AND (tablename LIKE 'apscheduler%' OR tablename LIKE 'slack\\_%')")
            )
        ]
        listed = tables + "".join(f', "{t}"' for t in extra)
        conn.execute(text(f"TRUNCATE {listed} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "scribe.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_database")
    _truncate_postgres(url)
    return url


@pytest.fixture
def session_factory(database_url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC))


@pytest.fixture
def slack():  # type: ignore[no-untyped-def]
    """A simulated workspace with people in several time zones and two channels."""
    from bot.simulator.webapi import FakeSlackWebAPI
    from bot.simulator.workspace import Workspace

    workspace = Workspace()
    workspace.add_user("U0ANN", name="ann", real_name="Ann Lee", tz="Europe/Berlin")
    workspace.add_user("U0BOB", name="bob", real_name="Bob Stone", tz="America/New_York")
    workspace.add_user("U0CHI", name="chi", real_name="Chi Okafor", tz="UTC")
    workspace.add_channel("C0INC", name="inc-checkout")
    workspace.add_channel("C0RANDOM", name="random")
    workspace.add_channel("G0PRIV", name="inc-secret", is_private=True)
    api = FakeSlackWebAPI(workspace).start()
    yield api
    api.stop()


def make_settings(database_url: str, api_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = dict(
        slack_bot_token="xoxb-sim-token",
        slack_signing_secret=SIGNING_SECRET,
        database_url=database_url,
        slack_api_url=api_url,
        port=0,
        workers=8,
        scheduler_enabled=False,
    )
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@dataclass
class RunningApp:
    runtime: object
    player: object
    api: object
    settings: Settings
    session_factory: object

    def stop(self) -> None:
        self.runtime.stop()  # type: ignore[attr-defined]

    def settle(self) -> None:
        """Wait until what the last requests left to do after commit (the outbox) is done."""
        assert self.runtime.app.scribe.settle(timeout=30), "the app was still busy after 30 s"  # type: ignore[attr-defined]


def cmd(app, text: str, user: str = "U0ANN", channel: str = "C0INC"):  # type: ignore[no-untyped-def]
    """`/incident <text>` from `user` in `channel`, through the running app's player: the
    reply's JSON ({} for an empty body, as when a command only opens a form), after
    checking that Slack got a 200."""
    reply = app.player.command(user, channel, text)
    assert reply.status == 200, (reply.status, reply.body)
    return reply.json() if reply.body else {}


def start_app(database_url: str, api, *, clock=None, **overrides: object) -> RunningApp:  # type: ignore[no-untyped-def]
    from bot.runtime import Runtime
    from bot.simulator.player import SlackPlayer

    settings = make_settings(database_url, api.base_url, **overrides)
    extra = {} if clock is None else {"clock": clock}
    runtime = Runtime.start(settings, host="127.0.0.1", port=0, background=True, history_pause=lambda: None, **extra)
    runtime.backfill_thread.join(10)
    player = SlackPlayer(api.workspace, api, app_url=runtime.url, signing_secret=SIGNING_SECRET)
    # Each request waits for what the app does after answering it (tests look at Slack then).
    player.after_request = lambda: runtime.app.scribe.settle(timeout=30)
    return RunningApp(runtime=runtime, player=player, api=api, settings=settings, session_factory=runtime.app.scribe.session_factory)


@pytest.fixture
def app(database_url: str, slack):  # type: ignore[no-untyped-def]
    running = start_app(database_url, slack)
    yield running
    running.stop()


@pytest.fixture
def clocked_app(database_url: str, slack, clock: Clock):  # type: ignore[no-untyped-def]
    """The app on the test's clock (Monday 2026-11-23 10:00 UTC), Slack's ts agreeing with it."""
    slack.workspace.clock = lambda: clock().timestamp()
    running = start_app(database_url, slack, clock=clock)
    yield running
    running.stop()
