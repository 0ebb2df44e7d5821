"""Two workspaces installed through Slack's OAuth flow on one app: the fixture, and the
browser side of an install. Used by tests/test_multi_workspace.py and tests/test_followups.py."""

from __future__ import annotations

import http.client
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from bot.simulator.clock import FakeClock
from bot.simulator.player import SlackPlayer
from bot.simulator.webapi import FakeSlackWebAPI
from bot.simulator.workspace import Workspace
from bot.slack.oauth import BOT_SCOPES
from tests.conftest import SIGNING_SECRET, start_app

CLIENT_ID = "1111.2222"
CLIENT_SECRET = "oauth-client-secret-0123456789"
CHANNEL = "C0SAME"  # both teams have a channel with this id


def team(team_id: str, token: str, bot_user: str, bot_id: str, ann_tz: str, clock: FakeClock) -> Workspace:
    ws = Workspace(team_id=team_id, team_domain=team_id.lower(), bot_user_id=bot_user, bot_id=bot_id, bot_token=token, clock=clock,
                   team_name=f"Team {team_id}", api_app_id="A0SCRIBE")
    ws.add_user("U0ANN", name="ann", real_name="Ann", tz=ann_tz)
    ws.add_user("U0BOB", name="bob", real_name="Bob", tz="UTC")
    ws.add_channel(CHANNEL, name="inc-shared-id")
    return ws


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
    finally:
        connection.close()


@pytest.fixture
def two_teams(database_url):  # type: ignore[no-untyped-def]
    # Same clock start in both teams, so their first messages get the same ts.
    team_a = team("T0AAA", "xoxb-team-a-token", "U0BOTA", "B0BOTA", "Europe/Berlin", FakeClock(1_795_000_000.0))
    team_b = team("T0BBB", "xoxb-team-b-token", "U0BOTB", "B0BOTB", "America/New_York", FakeClock(1_795_000_000.0))
    api = FakeSlackWebAPI(team_a).start()
    api.add_workspace(team_b)
    api.oauth.register(CLIENT_ID, CLIENT_SECRET)
    running = start_app(database_url, api, slack_bot_token=None, slack_client_id=CLIENT_ID, slack_client_secret=CLIENT_SECRET)
    base = running.runtime.url.rsplit("/slack/events", 1)[0]
    players = {ws.team_id: SlackPlayer(ws, api, app_url=running.runtime.url, signing_secret=SIGNING_SECRET) for ws in (team_a, team_b)}
    for player in players.values():
        player.after_request = running.player.after_request
    yield running, api, base, {"T0AAA": team_a, "T0BBB": team_b}, players
    running.stop()
    api.stop()


def install(api, base: str, ws: Workspace) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """The browser side of Slack's OAuth: open the install page, approve, follow the redirect."""
    status, headers, page = get(base + "/slack/install")
    assert status == 200, page
    cookie = headers["set-cookie"].split(";", 1)[0]
    authorize = re.search(r'href="(https://slack\.com/oauth/v2/authorize\?[^"]+)"', page)
    assert authorize, page
    query = parse_qs(urlsplit(authorize.group(1).replace("&amp;", "&")).query)
    assert query["client_id"] == [CLIENT_ID]
    assert query["scope"][0].split(",") == list(BOT_SCOPES)
    code = api.install(ws, "U0ANN", client_id=CLIENT_ID, scopes=query["scope"][0])
    status, _, body = get(f"{base}/slack/oauth_redirect?code={code}&state={query['state'][0]}", {"Cookie": cookie})
    return status, body
