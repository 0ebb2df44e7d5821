"""Migrations match the models; OAuth scopes match the manifest; the simulator's
oauth.v2.access and multi-team routing behave like Slack's."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import MetaData, create_engine, inspect

from bot.db import normalise_url
from bot.models import Base
from bot.simulator.webapi import FakeSlackWebAPI
from bot.simulator.workspace import Workspace
from bot.slack.oauth import BOT_SCOPES

ROOT = Path(__file__).resolve().parents[1]


def test_migrations_build_exactly_the_models_and_slack_sdk_tables(database_url: str) -> None:
    engine = create_engine(normalise_url(database_url))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": False})
            ours = [
                d for d in compare_metadata(context, Base.metadata)
                if "slack_" not in repr(d) and "alembic" not in repr(d) and "apscheduler_" not in repr(d)
            ]
            assert ours == []
            # slack_sdk's stores read and write these tables: the columns must be theirs.
            sdk = MetaData()
            SQLAlchemyInstallationStore.build_installations_table(sdk, "slack_installations")
            SQLAlchemyInstallationStore.build_bots_table(sdk, "slack_bots")
            SQLAlchemyOAuthStateStore.build_oauth_states_table(sdk, "slack_oauth_states")
            inspector = inspect(connection)
            for table in sdk.sorted_tables:
                assert [c["name"] for c in inspector.get_columns(table.name)] == [c.name for c in table.columns], table.name
    finally:
        engine.dispose()


def test_oauth_scopes_are_the_manifests() -> None:
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    assert list(BOT_SCOPES) == manifest["oauth_config"]["scopes"]["bot"]


@pytest.fixture
def api():  # type: ignore[no-untyped-def]
    one = Workspace(team_id="T0ONE", bot_token="xoxb-one", bot_user_id="U0B1", bot_id="B0B1")
    two = Workspace(team_id="T0TWO", bot_token="xoxb-two", bot_user_id="U0B2", bot_id="B0B2")
    for ws in (one, two):
        ws.add_user("U0ANN", "ann", "Ann", tz="UTC")
        ws.add_channel("C0SAME", "general")
    server = FakeSlackWebAPI(one).start()
    server.add_workspace(two)
    server.oauth.register("1.2", "s3cret")
    yield server
    server.stop()


def test_oauth_v2_access_trades_a_code_once_for_that_teams_token(api) -> None:  # type: ignore[no-untyped-def]
    client = WebClient(base_url=api.base_url)
    two = api.workspaces[1]
    code = api.install(two, "U0ANN", client_id="1.2", scopes="commands,chat:write")
    answer = client.oauth_v2_access(client_id="1.2", client_secret="s3cret", code=code)
    assert (answer["access_token"], answer["bot_user_id"], answer["team"], answer["authed_user"], answer["scope"]) == (
        "xoxb-two", "U0B2", {"id": "T0TWO", "name": "Sim Workspace"}, {"id": "U0ANN"}, "commands,chat:write"
    )
    for kwargs, error in (
        (dict(client_id="1.2", client_secret="s3cret", code=code), "invalid_code"),  # used already
        (dict(client_id="1.2", client_secret="wrong", code="x"), "bad_client_secret"),
        (dict(client_id="9.9", client_secret="s3cret", code="x"), "invalid_client_id"),
    ):
        with pytest.raises(SlackApiError) as caught:
            client.oauth_v2_access(**kwargs)
        assert caught.value.response["error"] == error
    # The client secret is never recorded.
    assert all("client_secret" not in c.params for c in api.calls_to("oauth.v2.access"))


def test_each_token_reaches_its_own_team(api) -> None:  # type: ignore[no-untyped-def]
    for token, team, bot in (("xoxb-one", "T0ONE", "U0B1"), ("xoxb-two", "T0TWO", "U0B2")):
        client = WebClient(token=token, base_url=api.base_url)
        identity = client.auth_test()
        assert (identity["team_id"], identity["user_id"]) == (team, bot)
        client.conversations_join(channel="C0SAME")
    one, two = api.workspaces
    assert "U0B1" in one.channels["C0SAME"].members and "U0B2" not in one.channels["C0SAME"].members
    assert "U0B2" in two.channels["C0SAME"].members and "U0B1" not in two.channels["C0SAME"].members
    with pytest.raises(SlackApiError) as caught:
        WebClient(token="xoxb-nobody", base_url=api.base_url).auth_test()
    assert caught.value.response["error"] == "invalid_auth"
