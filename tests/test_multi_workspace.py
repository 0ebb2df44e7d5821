"""Multi-workspace installs: two teams installed through the real OAuth flow, each acting
with its own token, and neither ever seeing the other's incidents, even in a channel
with the same id and messages with the same ts."""

from __future__ import annotations

import json
import re
import time

from click.testing import CliRunner
from sqlalchemy import select, text

from bot.cli import main
from bot.models import Incident, TimelineEntry
from bot.slack.app import NOT_INSTALLED
from tests.conftest import start_app
from tests.workspace_helpers import CHANNEL, CLIENT_ID, CLIENT_SECRET, get, install


def incident_texts(factory, team_id: str) -> list[tuple[str | None, str | None]]:  # type: ignore[no-untyped-def]
    with factory() as s:
        return list(
            s.execute(
                select(TimelineEntry.ts, TimelineEntry.text)
                .join(Incident)
                .where(Incident.team_id == team_id, TimelineEntry.kind == "message")
                .order_by(TimelineEntry.id)
            ).all()
        )


def test_two_teams_install_through_oauth_and_never_see_each_other(two_teams, database_url, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    running, api, base, teams, players = two_teams
    factory = running.session_factory

    # Before installing, a team's requests are refused: there is no token to act with.
    refused = players["T0AAA"].command("U0ANN", CHANNEL, "start Too early")
    assert (refused.status, refused.body) == (200, "")
    told = api.wait_for(lambda a: a.ephemerals)
    assert told[-1]["user"] == "U0ANN" and told[-1]["message"]["text"] == NOT_INSTALLED
    with factory() as s:
        assert s.scalar(select(Incident.id)) is None

    for ws in teams.values():
        status, body = install(api, base, ws)
        assert status == 200, body
    with factory() as s:
        bots = s.execute(text("SELECT team_id, bot_token, bot_user_id, bot_id FROM slack_bots ORDER BY team_id")).all()
    assert [tuple(b) for b in bots] == [
        ("T0AAA", "xoxb-team-a-token", "U0BOTA", "B0BOTA"),
        ("T0BBB", "xoxb-team-b-token", "U0BOTB", "B0BOTB"),
    ]

    # Each team starts an incident in its channel C0SAME; each bot joins with its own token.
    a = players["T0AAA"].command("U0ANN", CHANNEL, "start Team A checkout down sev1")
    b = players["T0BBB"].command("U0ANN", CHANNEL, "start Team B login down sev3")
    assert "*INC-1 started* (sev1): Team A checkout down" in a.json()["text"]
    assert "*INC-2 started* (sev3): Team B login down" in b.json()["text"]
    assert "U0BOTA" in teams["T0AAA"].channels[CHANNEL].members and "U0BOTB" not in teams["T0AAA"].channels[CHANNEL].members
    assert "U0BOTB" in teams["T0BBB"].channels[CHANNEL].members and "U0BOTA" not in teams["T0BBB"].channels[CHANNEL].members

    # Same channel id and same ts in both teams: two entries, one per team.
    ts_a = players["T0AAA"].say("U0BOB", CHANNEL, "A: payments 502")
    stored = teams["T0BBB"].post(CHANNEL, {"type": "message", "user": "U0BOB", "text": "B: login 401", "ts": ts_a})
    assert players["T0BBB"].send_event({**stored, "channel": CHANNEL, "channel_type": "channel"}).status == 200
    ts_b = ts_a
    assert incident_texts(factory, "T0AAA") == [(ts_a, "A: payments 502")]
    assert incident_texts(factory, "T0BBB") == [(ts_b, "B: login 401")]

    # An edit and a delete in team B touch only team B's entry with that ts.
    players["T0BBB"].edit("U0BOB", CHANNEL, ts_b, "B: login 401 for SSO users")
    assert incident_texts(factory, "T0AAA") == [(ts_a, "A: payments 502")]
    assert incident_texts(factory, "T0BBB") == [(ts_b, "B: login 401 for SSO users")]
    players["T0BBB"].delete(CHANNEL, ts_b)
    assert incident_texts(factory, "T0AAA") == [(ts_a, "A: payments 502")]
    assert incident_texts(factory, "T0BBB") == [(ts_b, None)]

    # A 📌 on a message the app never saw is fetched with that team's token, from that team.
    old_b = players["T0BBB"].say("U0ANN", CHANNEL, "B: root cause is the SSO cert", deliver=False)
    assert players["T0BBB"].react("U0BOB", CHANNEL, old_b).status == 200
    assert incident_texts(factory, "T0BBB")[-1] == (old_b, "B: root cause is the SSO cert")
    assert all(t != "B: root cause is the SSO cert" for _, t in incident_texts(factory, "T0AAA"))

    # Typed local times use the user's zone in *their* team (users.info with that team's token).
    clock_now = players["T0AAA"].command("U0ANN", CHANNEL, "detected at 2026-11-23 09:00")
    assert clock_now.status == 200
    players["T0BBB"].command("U0ANN", CHANNEL, "detected at 2026-11-23 09:00")
    with factory() as s:
        detected = dict(s.execute(select(Incident.team_id, Incident.detected_at)).all())
    assert detected["T0AAA"].isoformat() == "2026-11-23T08:00:00+00:00"  # Berlin
    assert detected["T0BBB"].isoformat() == "2026-11-23T14:00:00+00:00"  # New York

    # A command in one team never reaches the other's incident.
    players["T0AAA"].command("U0ANN", CHANNEL, "note only team A sees this")
    assert players["T0BBB"].command("U0ANN", CHANNEL, "timeline").json()["text"].count("only team A") == 0

    # Exports: --team picks one; without it, an ambiguous channel id is refused with advice.
    monkeypatch.setenv("DATABASE_URL", database_url)
    runner = CliRunner()
    ambiguous = runner.invoke(main, ["export", "--channel", CHANNEL])
    assert ambiguous.exit_code == 1
    assert "Channel C0SAME has incidents in several workspaces (T0AAA, T0BBB). Say which with --team, e.g. --team T0AAA." in ambiguous.output
    for team_id, own, other in (("T0AAA", "A: payments 502", "B:"), ("T0BBB", "B: root cause is the SSO cert", "A:")):
        result = runner.invoke(main, ["export", "--channel", CHANNEL, "--team", team_id])
        assert result.exit_code == 0, result.output
        data = json.loads(result.output)
        assert data["incident"]["team_id"] == team_id
        texts = [e["text"] for e in data["timeline"]]
        assert own in texts and not any((t or "").startswith(other) for t in texts)
        assert "xoxb-" not in result.output


def test_oauth_redirect_refuses_forged_or_replayed_state(two_teams) -> None:  # type: ignore[no-untyped-def]
    running, api, base, teams, _ = two_teams
    _, headers, page = get(base + "/slack/install")
    cookie = headers["set-cookie"].split(";", 1)[0]
    state = re.search(r"state=([0-9a-f-]+)", page).group(1)  # type: ignore[union-attr]
    code = api.install(teams["T0AAA"], "U0ANN", client_id=CLIENT_ID)

    # No cookie: the redirect was not started in this browser.
    status, _, _ = get(f"{base}/slack/oauth_redirect?code={code}&state={state}")
    assert status == 400
    # A state we never issued.
    status, _, _ = get(f"{base}/slack/oauth_redirect?code={code}&state=forged", {"Cookie": "slack-app-oauth-state=forged"})
    assert status == 401
    # The real one works once; replaying it fails.
    status, _, _ = get(f"{base}/slack/oauth_redirect?code={code}&state={state}", {"Cookie": cookie})
    assert status == 200
    status, _, _ = get(f"{base}/slack/oauth_redirect?code={code}&state={state}", {"Cookie": cookie})
    assert status == 401
    with running.session_factory() as s:
        assert s.execute(text("SELECT count(*) FROM slack_bots")).scalar() == 1


def test_catch_up_after_a_restart_reads_each_team_with_its_own_installation(two_teams, database_url) -> None:  # type: ignore[no-untyped-def]
    running, api, base, teams, players = two_teams
    for ws in teams.values():
        assert install(api, base, ws)[0] == 200
        assert players[ws.team_id].command("U0ANN", CHANNEL, f"start {ws.team_id} down").status == 200
    running.stop()

    # While the app is down, both teams talk in their C0SAME (after the incidents began).
    for ws in teams.values():
        ws.clock.set(time.time() + 1)  # type: ignore[attr-defined]
    missed = {team_id: players[team_id].say("U0BOB", CHANNEL, f"{team_id} said this while you were down", deliver=False) for team_id in teams}
    restarted = start_app(database_url, api, slack_bot_token=None, slack_client_id=CLIENT_ID, slack_client_secret=CLIENT_SECRET)
    try:
        reports = sorted(r.summary() for r in restarted.runtime.backfill_reports)
        assert reports == [
            "Catch-up for INC-1: 1 missed message(s) recorded, 0 edit(s) applied, 0 thread(s) checked.",
            "Catch-up for INC-2: 1 missed message(s) recorded, 0 edit(s) applied, 0 thread(s) checked.",
        ]
        for team_id in teams:
            assert incident_texts(restarted.session_factory, team_id) == [(missed[team_id], f"{team_id} said this while you were down")]
    finally:
        restarted.stop()
