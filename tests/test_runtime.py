"""Start-up, modes, health, the CLI and the demo: what a user running `scribe` meets first."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bot.cli import main
from bot.models import TimelineEntry
from bot.services import capture
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parents[1]


def test_listener_failure_answers_500_and_the_redelivery_records_once(app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    assert app.player.command("U0ANN", "C0INC", "start Checkout errors").status == 200
    # Message events are written by the group-commit writer, through one of these functions:
    # from a writer thread, or on PostgreSQL from the HTTP server's event loop.
    real, real_on_loop = capture.insert_into_open_incidents, capture.insert_into_open_incidents_on_loop
    calls = {"n": 0}

    def first_call_fails() -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database went away")

    def fail_once(*args, **kwargs):  # type: ignore[no-untyped-def]
        first_call_fails()
        return real(*args, **kwargs)

    async def fail_once_on_loop(*args, **kwargs):  # type: ignore[no-untyped-def]
        first_call_fails()
        return await real_on_loop(*args, **kwargs)

    monkeypatch.setattr(capture, "insert_into_open_incidents", fail_once)
    monkeypatch.setattr(capture, "insert_into_open_incidents_on_loop", fail_once_on_loop)
    ts = app.player.say("U0BOB", "C0INC", "first try fails")
    assert app.player.last_reply.status == 500
    envelope = app.player.sent_events[-1]
    assert app.player.send_event(envelope["event"], retry_num=1, retry_reason="http_error", event_id=envelope["event_id"]).status == 200
    with app.session_factory() as s:
        rows = list(s.scalars(select(TimelineEntry.ts).where(TimelineEntry.kind == "message")))
    assert rows == [ts]
    assert calls["n"] == 2  # the failed write and the redelivery's


def test_healthz_and_wrong_method(app) -> None:  # type: ignore[no-untyped-def]
    base = app.runtime.url.rsplit("/slack/events", 1)[0]
    with urllib.request.urlopen(base + "/healthz", timeout=5) as response:
        assert response.status == 200
        assert json.loads(response.read()) == {"ok": True}
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(app.runtime.url, timeout=5)
    assert caught.value.code == 405


def test_socket_mode_is_used_when_an_app_token_is_set(database_url, slack) -> None:  # type: ignore[no-untyped-def]
    from bot.runtime import Runtime
    from bot.simulator.socket_mode import SocketModeServer
    from bot.socket_mode import SocketModeLink

    socket = SocketModeServer(slack.workspace, app_token="xapp-1-A0SIM-1-runtime").start()
    slack.serve_socket_mode(socket)
    settings = make_settings(database_url, slack.base_url, slack_app_token="xapp-1-A0SIM-1-runtime")
    runtime = Runtime.start(settings, host="127.0.0.1", port=0, background=True, history_pause=lambda: None)
    base = f"http://127.0.0.1:{runtime.server.port}"
    try:
        assert isinstance(runtime.socket_link, SocketModeLink)
        assert runtime.app.scribe.settings.socket_mode is True
        socket.wait_for_connection()
        socket.wait_for(lambda s: runtime.socket_link.state == "connected")
        with urllib.request.urlopen(base + "/healthz", timeout=5) as response:
            assert json.loads(response.read()) == {"ok": True, "database": "ok", "socket_mode": "connected"}
        # Socket Mode takes no Slack requests over HTTP.
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(urllib.request.Request(base + "/slack/events", data=b"{}", method="POST"), timeout=5)
        assert caught.value.code == 404
        # Slack's end goes away: /healthz says so until the app is connected again.
        opened = len(slack.calls_to("apps.connections.open"))
        socket.stop()
        socket.wait_for(lambda s: runtime.socket_link.state == "reconnecting")
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(base + "/healthz", timeout=5)
        assert caught.value.code == 503
        assert json.loads(caught.value.read()) == {"ok": False, "database": "ok", "socket_mode": "reconnecting",
                                                   "error": "Socket Mode reconnecting"}
        # The app got a new URL, but to the endpoint that is gone, and its connects fail.
        slack.wait_for(lambda api: len(api.calls_to("apps.connections.open")) > opened)
        # Slack's end comes back elsewhere: the URL the app had is spent, it asks for a new one.
        slack.socket_mode_servers.remove(socket)
        back = SocketModeServer(slack.workspace, app_token="xapp-1-A0SIM-1-runtime").start()
        slack.serve_socket_mode(back)
        try:
            back.wait_for_connection(timeout=20)
            back.wait_for(lambda s: runtime.socket_link.state == "connected")
            with urllib.request.urlopen(base + "/healthz", timeout=5) as response:
                assert json.loads(response.read())["socket_mode"] == "connected"
        finally:
            back.stop()
    finally:
        runtime.stop()
        socket.stop()


def test_cli_db_upgrade_and_export(app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    app.player.command("U0ANN", "C0INC", "start Checkout errors sev1")
    app.player.command("U0ANN", "C0INC", "detected at 2026-01-15 14:23:00.5 UTC")
    ts = app.player.say("U0BOB", "C0INC", "looking")
    monkeypatch.setenv("DATABASE_URL", app.settings.database_url)
    runner = CliRunner()
    upgraded = runner.invoke(main, ["db", "upgrade"])
    assert upgraded.exit_code == 0 and "Database is up to date." in upgraded.output
    exported = runner.invoke(main, ["export", "--channel", "C0INC"])
    assert exported.exit_code == 0, exported.output
    data = json.loads(exported.output)
    assert data["incident"]["severity"] == "sev1"
    assert data["incident"]["detected_at"] == "2026-01-15T14:23:00.500000Z"
    assert [t["ts"] for t in data["timeline"] if t["kind"] == "message"] == [ts]
    missing = runner.invoke(main, ["export", "--channel", "C0NOPE"])
    assert missing.exit_code == 1
    assert "No incident has been recorded in channel C0NOPE" in missing.output


@pytest.fixture(scope="module")
def demo_output(tmp_path_factory) -> str:  # type: ignore[no-untyped-def]
    """What `scribe demo` prints, run once for the tests below."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCRIBE_", "DATABASE_URL"))}
    result = subprocess.run([sys.executable, "-m", "bot.cli", "demo"], cwd=tmp_path_factory.mktemp("demo"), env=env,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_demo_replays_an_incident_end_to_end(demo_output: str) -> None:
    out = demo_output
    assert "*INC-1 started* (sev2): Checkout returns 502 after v2.3.1 deploy" in out
    timeline = out.split("Exported timeline", 1)[1].split("Metrics:", 1)[0]
    assert "DB connection pool exhausted: every connection" in timeline  # the edit applied
    assert "db pool exhausted??" not in timeline
    assert "lunch" not in timeline  # the deleted message is gone
    assert timeline.count("Rolling back checkout to v2.3.0 now") == 1  # redelivery recorded once
    assert timeline.count("📌") == 3  # the pin, the 📌 reaction, and the message marked with Add to timeline
    curation = out.split("Correcting the timeline", 1)[1].split("/incident close", 1)[0]
    assert ":pencil2: @bob corrected a *Detected* entry of INC-1: time from " in curation
    assert "TTM 32 min, TTR 57 min)." in curation  # (TTD depends on the seconds of the wall clock the demo starts at)
    assert "to the timeline as *Finding*: Error rate is 31% on the checkout dashboard" in curation
    followups = out.split("Follow-ups:", 1)[1]
    assert "DM to Chi: :alarm_clock: Your action item is due" in followups
    assert "buttons: Done | Snooze 1 day | Snooze 1 week | Reassign (user picker)" in followups
    assert "DM is now: #1 Alert on DB connection pool saturation: :white_check_mark: marked done by @chi" in followups
    assert ":white_check_mark: @chi marked action item #1 done" in followups
    assert "Reminders still pending for #1: 0" in followups
    metrics = json.loads(out.split("Metrics:", 1)[1].split("\n\n", 1)[0])
    # Detected was corrected four minutes earlier, so mitigate and resolve count from then.
    assert metrics["time_to_mitigate_s"] == 1920.0 and metrics["time_to_resolve_s"] == 3420.0
    summary = out.split("Summary message posted in the channel:", 1)[1].split("Files uploaded:", 1)[0]
    assert "│ Postmortem: Checkout returns 502 after v2.3.1 deploy" in summary
    assert "*Draft* · version 1 · template `standard` · INC-1 (Closed) · severity sev2" in summary
    assert "│ *Time to mitigate (TTM):* 32 min" in summary
    assert "│ [Regenerate]  [Edit]  [Mark reviewed]  [Mark final]" in summary
    assert "Files uploaded: INC-1-postmortem-v1.md, INC-1-timeline.png" in out
    draft = out.split("Start of the draft", 1)[1]
    assert "# Postmortem: Checkout returns 502 after v2.3.1 deploy" in draft
    assert "**Status:** Draft (version 1) · **Incident:** INC-1 (Closed) · **Severity:** sev2" in draft



def test_demo_shows_slack_markup_as_people_see_it(demo_output: str) -> None:
    out = demo_output.split("Start of the draft", 1)[0] + demo_output.split("\nFollow-ups:", 1)[1]  # all but the Markdown draft
    for raw in ("&gt;", "&lt;", "&amp;", "<@", "<#", "<!", "<http", "<U0", "U0ANN", "U0BOB", "U0CHI", "CSIM"):
        assert raw not in out, raw
    assert "<ann> /incident role lead @ann\n         ↳ :bust_in_silhouette: @ann is now *lead* for INC-1\n" in out
    assert "<bob> /incident detected at 6m ago PagerDuty: checkout error rate > 5%\n" in out
    assert "— bob: PagerDuty: checkout error rate > 5% _(edited by bob)_" in out
    assert "— ann: @ann is lead\n" in out
    assert "#inc-checkout-502: :pushpin: @chi added a message to the timeline as *Finding*: Error rate is 31% on the checkout dashboard" in out
    channel = re.search(r"New channel #(inc-\d{8}-search-returns-no-results): members ann, bob, incident-scribe; "
                        r"topic “Search returns no results · sev3 · lead @ann”", out)
    assert channel, out
    assert f":rotating_light: *INC-2 declared* in #{channel.group(1)}. Invited: @ann, @bob." in out
    assert f"*Lead*: @ann · *Channel*: #{channel.group(1)} · *Started*:" in out
    # What is cut short says so.
    assert "         ↳ *INC-1 — last 5 timeline entries* (UTC) …\n" in out  # a reply shown by its first line
    assert demo_output.split("Start of the draft", 1)[1].split("\n\nFollow-ups:", 1)[0].endswith("\n  …")


def test_demo_timeline_columns_line_up_and_cut_text_ends_with_an_ellipsis(demo_output: str) -> None:
    from wcwidth import wcswidth

    lines = demo_output.split("Exported timeline (scribe export --channel C0DEMO1):\n", 1)[1].split("\n\nMetrics:", 1)[0].splitlines()
    header, rows = lines[0], lines[1:]
    titles = ["time (UTC)", "kind", "source", "author", "text"]
    # Where each column starts, in terminal cells, from the header.
    starts = [wcswidth(header[: header.index(title)]) for title in titles]
    assert len(rows) == 19
    for row in rows:
        assert re.match(r"  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d  ", row), row  # to the second, no fraction
        cells, width = [], 0
        for index, char in enumerate(row):  # the character at each column's start cell
            if width in starts:
                cells.append((width, char, row[index - 1]))
            width += max(wcswidth(char), 0)
        # Every column starts where the header's does, right after a blank (the text may be empty).
        assert [w for w, _, _ in cells] == starts[: len(cells)] and len(cells) >= 4, row
        assert all(char != " " and before == " " for w, char, before in cells[1:]), row
        assert wcswidth(row) <= starts[-1] + 60, row
    assert [row.count("📌") for row in rows].count(1) == 3
    cut = [row for row in rows if row.endswith("…")]
    assert [row.split("  ")[-1].lstrip() for row in cut] == [
        "DB connection pool exhausted: every connection is checked o…",
        "Investigating: About 30% of checkouts fail with 502; we sus…",
        "v2.3.1 acquired a DB connection per request and never relea…",
        "Alert on DB connection pool saturation (owner @chi, due tom…",
    ]
    assert all(wcswidth(row.split("  ")[-1].lstrip()) == 60 for row in cut)
