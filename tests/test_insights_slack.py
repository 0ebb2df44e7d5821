"""/incident stats over signed HTTP against the Slack simulator: the private answer, the chart
in the user's DM, --share and the Share button, an empty period, bad input."""

from __future__ import annotations

import json
from datetime import UTC

import pytest

from tests.conftest import Clock, start_app
from tests.test_insights_stats import NOW, seed

UTC = UTC


@pytest.fixture
def app(database_url: str, slack):  # type: ignore[no-untyped-def]
    running = start_app(database_url, slack, clock=Clock(NOW))
    with running.session_factory.begin() as session:  # type: ignore[attr-defined]
        seed(session)
    yield running
    running.stop()


def cmd(app, text, channel="C0RANDOM", user="U0ANN"):  # type: ignore[no-untyped-def]
    reply = app.player.command(user, channel, text)
    assert reply.status == 200, (reply.status, reply.body)
    return reply.json()


def ephemerals(api, user="U0ANN", containing=""):  # type: ignore[no-untyped-def]
    return [e for e in api.ephemerals if e["user"] == user and containing in str(e["message"].get("text"))]


def blocks_of(message) -> list:  # type: ignore[no-untyped-def]
    blocks = message["blocks"]
    return json.loads(blocks) if isinstance(blocks, str) else blocks


def completed_uploads(api, n: int = 1):  # type: ignore[no-untyped-def]
    return api.wait_for(lambda a: len([c for c in a.calls_to("files.completeUploadExternal") if c.ok]) >= n and
                        [c for c in a.calls_to("files.completeUploadExternal") if c.ok], timeout=20)


EXPECTED_BODY = (
    "*Incidents:* 5 (▲ 2 vs previous 30 days): sev1 1 · sev2 2 · sev3 1 · sev4 0 · no severity 1\n"
    "*Time to detect (TTD):* median 15 min (▼ 20 min vs previous 30 days) · p90 26 min · 5 incidents\n"
    "*Time to mitigate (TTM):* median 25 min (▼ 20 min vs previous 30 days) · p90 37 min · 4 incidents\n"
    "*Time to resolve (TTR):* median 1 h 15 min (▼ 5 min vs previous 30 days) · p90 1 h 51 min · 4 incidents\n"
    "*Duration:* median 1 h 22 min (▼ 28 min vs previous 30 days) · p90 2 h 04 min · 4 incidents\n"
    "*Action items:* 2 open, 1 overdue · 2 done, 1 on time, 1 late · median 2.0 days to done · 1 won't fix\n"
    "*Postmortems:* 1 final · 2 drafted, not final · 2 not started\n"
    "*Longest:* INC-3 Incident number 3 (sev2, 2 h 15 min); INC-2 Incident number 2 (sev2, 1 h 40 min); "
    "INC-1 Incident number 1 (sev1, 1 h 05 min)"
)


def test_stats_answer_privately_from_any_channel_with_the_chart_in_the_users_dm(app) -> None:  # type: ignore[no-untyped-def]
    app.api.clear_calls()
    assert cmd(app, "stats") == {"response_type": "ephemeral", "text": ":hourglass_flowing_sand: Working on it…"}
    [upload] = completed_uploads(app.api)
    [answer] = ephemerals(app.api, containing="Incident stats")
    message = answer["message"]
    assert answer["channel"] == "C0RANDOM"
    assert message["response_type"] == "ephemeral"
    assert message["text"] == "Incident stats: last 30 days: 5 (▲ 2 vs previous 30 days): sev1 1 · sev2 2 · sev3 1 · sev4 0 · no severity 1"
    blocks = blocks_of(message)
    assert blocks[0]["text"]["text"] == "Incident stats: last 30 days"
    assert blocks[1]["text"]["text"] == EXPECTED_BODY
    assert blocks[2]["elements"][0]["text"] == (
        "2026-10-24 10:00:00 UTC to 2026-11-23 10:00:00 UTC · all severities · "
        "medians and p90 over the incidents whose impact started in the period · chart in your DM with me"
    )
    [button] = blocks[3]["elements"]
    assert (button["action_id"], button["text"]["text"]) == ("stats_share", "Share in channel")
    assert json.loads(button["value"]) == {"start": "2026-10-24T10:00:00Z", "end": "2026-11-23T10:00:00Z",
                                           "label": "last 30 days", "severity": None}
    # The chart went to the user's DM with the bot: conversations.open, then files upload v2.
    methods = [c.method for c in app.api.calls if c.method not in {"users.info", "response_url", "upload_url"}]
    assert methods == ["conversations.open", "files.getUploadURLExternal", "files.completeUploadExternal"]
    assert app.api.calls_to("conversations.open")[0].params["users"] == "U0ANN"
    assert upload.params["channel_id"] == "DU0ANN"
    [stored] = app.api.uploaded_files.values()
    assert stored["name"] == "incident-stats-20261024-20261123.png"
    assert stored["bytes"].startswith(b"\x89PNG\r\n\x1a\n")
    assert stored["initial_comment"] == "The chart of your `/incident stats` (TTD, TTM, TTR per week)."
    assert app.api.workspace.messages("C0RANDOM") == []  # nothing posted in the channel


def test_share_flag_posts_in_the_channel_with_the_chart(app) -> None:  # type: ignore[no-untyped-def]
    cmd(app, "stats sev2 last 30d --share", channel="C0INC", user="U0BOB")
    [upload] = completed_uploads(app.api)
    assert upload.params["channel_id"] == "C0INC"
    posted = app.api.wait_for(lambda a: [m for m in a.workspace.messages("C0INC") if "Incident stats" in str(m.get("text"))])
    blocks = blocks_of(posted[0])
    assert blocks[1]["text"]["text"].startswith("*Incidents:* 2 (▲ 1 vs previous 30 days): sev1 0 · sev2 2 · sev3 0")
    assert "median 12 min (▼ 12 min vs previous 30 days) · p90 14 min · 2 incidents" in blocks[1]["text"]["text"]
    assert blocks[2]["elements"][0]["text"].endswith(
        "sev2 only · medians and p90 over the incidents whose impact started in the period · chart below · shared by <@U0BOB>"
    )
    assert [b["type"] for b in blocks] == ["header", "section", "context"]  # no Share button on the shared copy
    [stored] = app.api.uploaded_files.values()
    assert stored["name"] == "incident-stats-20261024-20261123-sev2.png"
    assert not ephemerals(app.api, user="U0BOB", containing="wasn't")


def test_share_button_posts_the_same_numbers_in_the_channel(app) -> None:  # type: ignore[no-untyped-def]
    cmd(app, "stats", channel="C0INC")
    completed_uploads(app.api)
    [answer] = ephemerals(app.api, containing="Incident stats")
    button = blocks_of(answer["message"])[3]["elements"][0]
    app.api.clear_calls()
    reply = app.player.click_ephemeral("U0ANN", "C0INC", action_id="stats_share", value=button["value"])
    assert reply.status == 200
    [upload] = completed_uploads(app.api)
    assert upload.params["channel_id"] == "C0INC"
    [posted] = [m for m in app.api.workspace.messages("C0INC") if "Incident stats" in str(m.get("text"))]
    blocks = blocks_of(posted)
    assert blocks[1]["text"]["text"] == EXPECTED_BODY
    assert blocks[2]["elements"][0]["text"].endswith("chart below · shared by <@U0ANN>")
    assert app.api.calls_to("conversations.open") == []


def test_share_where_the_bot_is_not_a_member_posts_the_numbers_and_says_why_no_chart(app) -> None:  # type: ignore[no-untyped-def]
    app.api.workspace.add_channel("C0LOBBY", name="lobby", bot_member=False)
    cmd(app, "stats --share", channel="C0LOBBY")
    problem = app.api.wait_for(lambda a: ephemerals(a, containing="wasn't shared"), timeout=20)
    assert problem[0]["message"]["text"] == (
        ":warning: The file `incident-stats-20261024-20261123.png` wasn't shared here: I'm not a member of this channel. "
        "Type `/invite @Incident Scribe`, then try again."
    )
    # The response URL posts where the bot can't: the numbers are there.
    assert [m for m in app.api.workspace.messages("C0LOBBY") if "Incident stats" in str(m.get("text"))]
    assert app.api.uploaded_files == {}


def test_a_stale_share_button_is_refused_plainly(app) -> None:  # type: ignore[no-untyped-def]
    app.player.click_ephemeral("U0ANN", "C0RANDOM", action_id="stats_share", value="not json")
    refused = app.api.wait_for(lambda a: ephemerals(a, containing="out of date"), timeout=10)
    assert refused[0]["message"]["text"].startswith(":x: This button is out of date.")


def test_an_empty_period_says_so_and_uploads_nothing(app) -> None:  # type: ignore[no-untyped-def]
    app.api.clear_calls()
    cmd(app, "stats 2025-01-01 to 2025-01-31 sev4")
    [answer] = app.api.wait_for(lambda a: ephemerals(a, containing="No incidents"), timeout=10)
    assert answer["message"]["text"] == (
        ":bar_chart: No incidents of severity sev4 between 2025-01-01 00:00:00 UTC and 2025-02-01 00:00:00 UTC."
    )
    assert app.api.calls_to("files.getUploadURLExternal") == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("stats whenever", ":x: 'whenever' is not a period I understand.\n\nPeriods I understand:"),
        ("stats 2026-03-01 to 2026-01-01",
         ":x: The period ends (2026-01-02 00:00:00 UTC) before it starts (2026-03-01 00:00:00 UTC): put the earlier time first."),
        ("stats last 30d sev7", ":x: 'sev7' is not a severity; use sev1, sev2, sev3 or sev4.\nUsage: `/incident stats"),
        ("stats --everything", ":x: Unknown option '--everything': the only option is `--share`."),
    ],
)
def test_bad_input_gets_the_reason_and_the_usage_in_the_ack(app, text: str, problem: str) -> None:  # type: ignore[no-untyped-def]
    app.api.clear_calls()
    body = cmd(app, text)
    assert body["response_type"] == "ephemeral"
    assert body["text"].startswith(problem)
    assert body["text"].endswith("Usage: `/incident stats [last 30d|90d|365d|<from> to <to>] [sev1|sev2|sev3|sev4] [--share]`")
    assert app.api.calls_to("files.getUploadURLExternal") == []
