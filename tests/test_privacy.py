"""Privacy, safety and access, end to end through the real app:

- nothing from a channel without an open incident is stored, whatever the event;
- a deleted message leaves no text or edit history in any table or export;
- tokens and signing secrets never reach the log, even inside Slack errors and tracebacks;
- echoed user text can't ping @channel, @here, user groups or people;
- Markdown output can't carry links or HTML that weren't in the source;
- only the lead or the starter may close, unless SCRIBE_PRIVILEGED_ACTIONS=anyone.
"""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
from sqlalchemy import inspect, select, text

from bot.logs import configure_logging
from bot.models import Base, TimelineEntry
from bot.postmortem import ReviewFields, available_templates, build_context, make_environment, render_postmortem
from bot.services import capture
from bot.services.export import entry_facts, export_incident, incident_facts, live_entries
from bot.services.incidents import latest_incident
from bot.simulator.records import Fault
from tests.conftest import SIGNING_SECRET, start_app


def every_stored_value(app) -> str:  # type: ignore[no-untyped-def]
    """Every column of every row of every table, as one string to search."""
    with app.session_factory() as s:
        tables = inspect(s.get_bind()).get_table_names()
        rows = [repr(tuple(row)) for table in tables for row in s.execute(text(f'SELECT * FROM "{table}"'))]
    return "\n".join(rows)


def row_counts(app) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with app.session_factory() as s:
        return {t.name: s.execute(text(f'SELECT count(*) FROM "{t.name}"')).scalar() for t in Base.metadata.sorted_tables}


def export(app) -> dict:  # type: ignore[no-untyped-def]
    with app.session_factory() as s:
        return export_incident(s, latest_incident(s, channel_id="C0INC"))


# -- nothing stored outside incidents -----------------------------------------------------------

def test_no_event_of_any_kind_is_stored_from_a_channel_without_an_open_incident(app) -> None:  # type: ignore[no-untyped-def]
    player = app.player
    for channel in ("C0RANDOM", "C0INC"):
        app.api.workspace.join(channel, "U0BOT")  # the bot is in both channels, so Slack sends it everything
    assert player.command("U0ANN", "C0INC", "start Checkout errors").status == 200
    assert player.command("U0ANN", "C0INC", "close").status == 200
    before = row_counts(app)

    for channel in ("C0RANDOM", "C0INC"):  # never had an incident; incident closed
        ts = player.say("U0BOB", channel, f"private chatter in {channel}")
        reply = player.say("U0CHI", channel, "a thread reply", thread_ts=ts)
        player.say("U0CHI", channel, "a file", files=[{"name": "secret.png"}])
        player.edit("U0BOB", channel, ts, f"edited chatter in {channel}")
        player.react("U0ANN", channel, ts)
        player.pin("U0ANN", channel, ts)
        player.react("U0ANN", channel, ts, remove=True)
        player.pin("U0ANN", channel, ts, remove=True)
        player.delete(channel, reply)
        assert player.last_reply is not None and player.last_reply.status == 200

    assert row_counts(app) == before
    stored = every_stored_value(app)
    assert "chatter" not in stored and "secret.png" not in stored and "thread reply" not in stored
    # Nothing was fetched from Slack for them either (a 📌 outside an incident is not looked up).
    assert app.api.calls_to("conversations.history") == []


# -- deletes purge -------------------------------------------------------------------------------

def test_a_deleted_message_leaves_no_text_anywhere(app) -> None:  # type: ignore[no-untyped-def]
    player = app.player
    assert player.command("U0ANN", "C0INC", "start Checkout errors").status == 200
    ts = player.say("U0BOB", "C0INC", "the root password is hunter2", files=[{"name": "creds-hunter2.txt"}])
    player.edit("U0BOB", "C0INC", ts, "the root password is hunter3")
    player.edit("U0BOB", "C0INC", ts, "the root password is hunter4")
    player.react("U0ANN", "C0INC", ts)
    player.pin("U0CHI", "C0INC", ts)
    player.say("U0CHI", "C0INC", "unrelated, stays")
    assert "hunter4" in every_stored_value(app)

    player.delete("C0INC", ts)
    assert player.last_reply.status == 200
    stored = every_stored_value(app)
    for fragment in ("hunter2", "hunter3", "hunter4", "creds-"):
        assert fragment not in stored
    with app.session_factory() as s:
        tomb = s.scalars(select(TimelineEntry).where(TimelineEntry.ts == ts)).one()
        assert (tomb.text, tomb.files, tomb.key, tomb.edits, tomb.key_marks) == (None, None, False, [], [])
    dumped = json.dumps(export(app))
    assert "hunter" not in dumped and ts not in dumped and "unrelated, stays" in dumped

    # A late redelivery of the original message or of an edit can't bring it back.
    for envelope in [e for e in player.sent_events if e["event"].get("ts") == ts or (e["event"].get("message") or {}).get("ts") == ts]:
        assert player.redeliver(envelope, retry_num=3).status == 200
    assert "hunter" not in every_stored_value(app)


# -- secrets never logged --------------------------------------------------------------------------

@pytest.fixture
def log_output():  # type: ignore[no-untyped-def]
    """The app's real logging set-up (bot.logs.configure_logging) writing into a buffer."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    yield lambda level, secrets: _configure(level, secrets)
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


def _configure(level: str, secrets: list[str]) -> io.StringIO:
    configure_logging(level, secrets)
    buffer = io.StringIO()
    logging.getLogger().handlers[0].setStream(buffer)  # type: ignore[attr-defined]
    return buffer


def test_tokens_and_signing_secret_never_reach_the_log(database_url, slack, log_output, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    running = start_app(database_url, slack)
    token = running.settings.slack_bot_token
    buffer = log_output("DEBUG", running.settings.secrets())
    try:
        player = running.player
        assert player.command("U0ANN", "C0INC", "start Checkout errors").status == 200  # DEBUG logs every Web API call

        # A Slack error whose answer quotes the token, raised inside an event listener.
        early = player.say("U0BOB", "C0INC", "before", deliver=False)
        slack.inject("conversations.history", *[Fault(status=500, error=f"upstream rejected token {token}")] * 2)
        assert player.react("U0ANN", "C0INC", early).status == 500

        # A crash whose message carries both secrets and another workspace's token.
        def leak(*args, **kwargs):  # type: ignore[no-untyped-def]
            raise RuntimeError(f"connect failed with {token} and {SIGNING_SECRET} and xoxb-other-team-999")

        monkeypatch.setattr(capture, "record_message", leak)
        # Message events are written in batches (bot.groupcommit), through these functions:
        # from a writer thread, or on PostgreSQL from the HTTP server's event loop.
        monkeypatch.setattr(capture, "insert_into_open_incidents", leak)

        async def leak_on_loop(*args, **kwargs):  # type: ignore[no-untyped-def]
            leak()

        monkeypatch.setattr(capture, "insert_into_open_incidents_on_loop", leak_on_loop)
        player.say("U0BOB", "C0INC", "this one crashes")
        assert player.last_reply.status == 500
        reply = player.command("U0ANN", "C0INC", "detected")  # a command crashing the same way is answered politely
        assert reply.status == 200
    finally:
        running.stop()

    logged = buffer.getvalue()
    assert "listener failed for reaction_added: SlackApiError" in logged  # the errors were logged…
    assert "listener failed for message: RuntimeError: connect failed with [redacted] and [redacted] and [redacted-token]" in logged
    assert "Traceback" in logged
    assert token not in logged and SIGNING_SECRET not in logged and "xoxb-" not in logged  # …without a secret
    assert "Bearer" not in logged or "Bearer [redacted" in logged


# -- echoed text can't ping ---------------------------------------------------------------------

PINGS = "<!channel> <!here> <!everyone> <!subteam^S0ONCALL|@oncall> <@U0BOB> @here @channel"
ECHOING = [
    "start {p} sev2",
    "started {p}",
    "detected {p}",
    "mitigated at 1m ago {p}",
    "resolved {p}",
    "note {p}",
    "finding {p}",
    "hypothesis {p}",
    "mitigation {p}",
    "decision {p}",
    "rootcause {p}",
    "status {p}",
    "timeline",
]


def assert_cannot_ping(reply_text: str) -> None:
    for token in ("<!channel>", "<!here>", "<!everyone>", "<!subteam", "<@U0BOB>"):
        assert token not in reply_text
    assert not re.search(r"(?<![\w\u2060])@(here|channel|everyone)\b", reply_text)
    assert "S0ONCALL" not in reply_text  # no group handle that could be resolved


def test_no_echoing_command_can_ping_anyone(app) -> None:  # type: ignore[no-untyped-def]
    app.player.say("U0CHI", "C0INC", PINGS, deliver=False)
    for template in ECHOING:
        reply = app.player.command("U0ANN", "C0INC", template.format(p=PINGS))
        assert reply.status == 200
        body = reply.json()
        if template != "timeline":
            assert body["response_type"] == "in_channel", (template, body["text"])
        assert_cannot_ping(body["text"])
        if template.startswith("start"):
            app.player.say("U0CHI", "C0INC", PINGS)  # a captured message, echoed later by `timeline`
    # The words stay readable: people see what was written, Slack just doesn't act on it.
    last = app.player.command("U0ANN", "C0INC", "timeline").json()["text"]
    assert last.count("— <@U0CHI>: @\u2060channel @\u2060here @\u2060everyone @\u2060oncall @U0BOB @\u2060here @\u2060channel") == 2


# -- Markdown can't carry what wasn't there ---------------------------------------------------------

HOSTILE = [
    "<script>alert(1)</script>",
    "&lt;img src=x onerror=alert(1)&gt;",
    "[click me](javascript:alert(1))",
    "![tracker](https://evil.example/pixel.png)",
    "<a href=\"https://evil.example\">support</a>",
    "see <https://status.example.com/incidents/42|the status page>",
    "[docs](<https://evil.example/phish>)",
]


def test_markdown_output_has_no_links_or_html_that_were_not_in_the_source(app) -> None:  # type: ignore[no-untyped-def]
    assert app.player.command("U0ANN", "C0INC", "start <b>Checkout</b> [x](https://evil.example)").status == 200
    for line in HOSTILE:
        app.player.send_event({"type": "message", "channel": "C0INC", "user": "U0BOB", "text": line, "ts": app.api.workspace.next_ts()})
    with app.session_factory() as s:
        incident = latest_incident(s, channel_id="C0INC")
        context = build_context(
            incident_facts(incident), entry_facts(live_entries(s, incident)), [], ReviewFields(),
            user_name=lambda uid: None, generated_at=incident.declared_at, display_tz=app.settings.timezone,
        )
    env = make_environment()
    # The only link a person made with Slack's link syntax, and the one raw URL Slack linked.
    allowed = {"https://status.example.com/incidents/42", "https://evil.example/phish"}
    seen: set[str] = set()
    for template in available_templates(env):
        out = render_postmortem(context, template, env)
        assert not re.search(r"(?<!\\)<\s*/?\s*(script|img|a|iframe|b)\b", out, re.IGNORECASE), template
        targets = set(re.findall(r"(?<!\\)\]\(\s*<?([^)\s>]+)", out)) | set(re.findall(r"(?<!\\)<(https?://[^>\s]+)>", out))
        assert targets <= allowed, (template, targets - allowed)
        seen |= targets
        assert "javascript:" not in "".join(targets)
        assert "![" not in out.replace("\\![", "")
    assert seen == allowed  # the links that were in the source do come through


# -- who may close ---------------------------------------------------------------------------------

def test_only_the_lead_or_starter_may_close(app) -> None:  # type: ignore[no-untyped-def]
    player = app.player
    assert player.command("U0ANN", "C0INC", "start Checkout errors").status == 200
    assert player.command("U0ANN", "C0INC", "role lead <@U0BOB>").status == 200
    before = row_counts(app)
    refused = player.command("U0CHI", "C0INC", "close").json()
    assert refused == {
        "response_type": "ephemeral",
        "text": ":x: Only the incident lead (<@U0BOB>) or the person who started it (<@U0ANN>) can close INC-1.",
    }
    assert row_counts(app) == before and export(app)["incident"]["status"] == "open"
    # The starter still may, even with someone else as lead.
    assert player.command("U0ANN", "C0INC", "close").json()["response_type"] == "in_channel"
    assert export(app)["incident"]["status"] == "closed"


def test_privileged_actions_anyone_lets_everyone_close(database_url, slack) -> None:  # type: ignore[no-untyped-def]
    running = start_app(database_url, slack, privileged_actions="anyone")
    try:
        assert running.player.command("U0ANN", "C0INC", "start Checkout errors").status == 200
        closed = running.player.command("U0CHI", "C0INC", "close").json()
        assert closed["response_type"] == "in_channel" and "*INC-1 closed*" in closed["text"]
        with running.session_factory() as s:
            incident = latest_incident(s, channel_id="C0INC")
            assert incident.closed_at is not None
    finally:
        running.stop()
