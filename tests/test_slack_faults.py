"""Slack misbehaving on every call the app makes: 500s, timeouts, 429 with Retry-After,
not_in_channel, channel_not_found, user_not_found. Each is retried or reported in plain
words, and no capture is lost."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from bot.models import Incident, TimelineEntry
from bot.simulator.records import Fault

INVITE = "type `/invite @Incident Scribe` so I can record it."


def start(app, text: str = "start Checkout errors") -> str:  # type: ignore[no-untyped-def]
    reply = app.player.command("U0ANN", "C0INC", text)
    assert reply.status == 200, reply.body
    return reply.json()["text"]


def incident_is_open(app) -> bool:  # type: ignore[no-untyped-def]
    with app.session_factory() as s:
        return s.scalar(select(Incident.closed_at.is_(None)).where(Incident.channel_id == "C0INC")) is True


def entries(app) -> list[tuple[str | None, str | None, str, bool]]:  # type: ignore[no-untyped-def]
    with app.session_factory() as s:
        rows = s.scalars(select(TimelineEntry).where(TimelineEntry.kind == "message").order_by(TimelineEntry.at))
        return [(e.ts, e.text, e.source, e.key) for e in rows]


# -- conversations.join on /incident start --------------------------------------------------

@pytest.mark.parametrize(
    ("faults", "warning", "calls"),
    [
        ([Fault(status=500)], None, 2),  # retried once within the deadline
        ([Fault(status=503), Fault(status=500)], f"I couldn't join this channel (Slack had an internal error): {INVITE}", 2),
        ([Fault(status=429, retry_after=30)], f"I couldn't join this channel (Slack is rate-limiting me right now): {INVITE}", 1),
        ([Fault(delay=2.5)], f"I couldn't join this channel (Slack didn't answer in time): {INVITE}", 1),
        ([Fault(error="channel_not_found")],
         "This is a private channel, so I can't join it myself: type `/invite @Incident Scribe` here so I can record it.", 1),
        ([Fault(error="is_archived")], f"I couldn't join this channel (Slack said `is_archived`): {INVITE}", 1),
    ],
    ids=["500 then ok", "two 5xx", "429", "timeout", "channel_not_found", "is_archived"],
)
def test_join_faults_never_lose_the_incident_and_say_what_to_do(app, faults, warning, calls) -> None:  # type: ignore[no-untyped-def]
    app.api.inject("conversations.join", *faults)
    began = time.monotonic()
    text = start(app)
    assert time.monotonic() - began < 3.0  # Slack's deadline for the ack
    assert text.startswith(":rotating_light: *INC-1 started*: Checkout errors")
    if warning is None:
        assert ":warning:" not in text
        assert "U0BOT" in app.api.workspace.channels["C0INC"].members
    else:
        assert text.endswith(f"\n:warning: {warning}")
    assert incident_is_open(app)
    # A timed-out call is recorded when the simulator finally answers it.
    app.api.wait_for(lambda a: len(a.calls_to("conversations.join")) >= calls)
    assert len(app.api.calls_to("conversations.join")) == calls


# -- users.info for typed local times --------------------------------------------------------

FALLBACK_NOTE = " (read in UTC: I couldn't get your time zone from Slack; add a zone like `14:23 Europe/Berlin` if that's wrong)"


@pytest.mark.parametrize(
    ("faults", "typed", "detected", "note"),
    [
        ([Fault(status=500)], "2026-11-20 09:00", "2026-11-20T08:00:00+00:00", ""),  # retried: Ann's Berlin zone used
        ([Fault(error="user_not_found")], "2026-11-20 09:00", "2026-11-20T09:00:00+00:00", FALLBACK_NOTE),
        ([Fault(status=429, retry_after=30)], "2026-11-20 09:00", "2026-11-20T09:00:00+00:00", FALLBACK_NOTE),
        ([Fault(delay=2.5)], "2026-11-20 09:00", "2026-11-20T09:00:00+00:00", FALLBACK_NOTE),
        ([Fault(error="user_not_found")], "2026-11-20 09:00 +01:00", "2026-11-20T08:00:00+00:00", ""),  # zone given: no guess
    ],
    ids=["500 then ok", "user_not_found", "429", "timeout", "explicit zone"],
)
def test_time_zone_lookup_faults_fall_back_loudly(app, faults, typed, detected, note) -> None:  # type: ignore[no-untyped-def]
    start(app)
    # The impact began before the detection typed below (Bob, so Ann's zone is still to be asked),
    # so the reply has nothing to say but the time and how it was read.
    assert app.player.command("U0BOB", "C0INC", "started at 2026-11-19 00:00 UTC").status == 200
    app.api.inject("users.info", *faults)
    reply = app.player.command("U0ANN", "C0INC", f"detected at {typed}")
    assert reply.status == 200
    text = reply.json()["text"]
    assert text.endswith(" for INC-1" + note)
    with app.session_factory() as s:
        assert s.scalar(select(Incident.detected_at)).isoformat() == detected


# -- conversations.history / replies in catch-up ---------------------------------------------

def backfill_reply(app) -> str:  # type: ignore[no-untyped-def]
    app.api.clear_calls()
    assert app.player.command("U0ANN", "C0INC", "backfill").status == 200
    (posted,) = app.api.wait_for(lambda a: [c for c in a.calls if c.method == "response_url"], timeout=30)
    return posted.params["text"]


def test_catch_up_retries_server_errors_and_loses_nothing(app) -> None:  # type: ignore[no-untyped-def]
    start(app)
    parent = app.player.say("U0BOB", "C0INC", "thread parent")
    missed = [app.player.say("U0CHI", "C0INC", f"missed {i}", deliver=False) for i in range(3)]
    reply = app.player.say("U0ANN", "C0INC", "missed reply", thread_ts=parent, deliver=False)
    app.api.inject("conversations.history", Fault(status=500), Fault(status=503))
    app.api.inject("conversations.replies", Fault(status=500))
    text = backfill_reply(app)
    assert text == "Catch-up for INC-1: 4 missed message(s) recorded, 0 edit(s) applied, 1 thread(s) checked."
    assert [ts for ts, *_ in entries(app)] == [parent, *missed, reply]
    assert [c.status for c in app.api.calls_to("conversations.history")] == [500, 503, 200]


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        (Fault(error="not_in_channel"), "Slack said `not_in_channel` — invite the bot to the channel with /invite"),
        (Fault(error="channel_not_found"), "Slack said `channel_not_found` — invite the bot to the channel with /invite"),
    ],
)
def test_catch_up_reports_what_slack_refused(app, fault, problem) -> None:  # type: ignore[no-untyped-def]
    start(app)
    app.player.say("U0CHI", "C0INC", "missed", deliver=False)
    app.api.inject("conversations.history", fault)
    text = backfill_reply(app)
    assert text == f"Catch-up for INC-1: 0 missed message(s) recorded, 0 edit(s) applied, 0 thread(s) checked. Problems: {problem}"
    # Nothing is lost for good: the next catch-up reads it.
    assert backfill_reply(app).startswith("Catch-up for INC-1: 1 missed message(s) recorded")


def test_catch_up_that_keeps_failing_says_so_and_resumes_later(app) -> None:  # type: ignore[no-untyped-def]
    start(app)
    app.player.say("U0CHI", "C0INC", "missed", deliver=False)
    app.api.inject("conversations.history", *[Fault(status=500)] * 3)
    text = backfill_reply(app)
    assert text.endswith(
        "Problems: Slack had an internal error — what was read so far is saved; try `/incident backfill` again in a minute"
    )
    assert backfill_reply(app).startswith("Catch-up for INC-1: 1 missed message(s) recorded")


# -- the 📌 reaction's message fetch ----------------------------------------------------------

@pytest.mark.parametrize(
    "faults",
    [[Fault(status=500), Fault(status=500)], [Fault(status=429, retry_after=30)], [Fault(delay=2.5)]],
    ids=["5xx", "429", "timeout"],
)
def test_a_pushpin_on_a_message_we_cannot_fetch_yet_is_kept_by_redelivery(app, faults) -> None:  # type: ignore[no-untyped-def]
    """Decision: the reaction event answers 500 (never waiting past Slack's deadline), so
    Slack redelivers it; the redelivery fetches the message and marks it."""
    early = app.player.say("U0BOB", "C0INC", "Rolled back to v2.3.0 at 13:41", deliver=False)
    start(app)
    app.api.inject("conversations.history", *faults)
    began = time.monotonic()
    first = app.player.react("U0ANN", "C0INC", early)
    assert time.monotonic() - began < 3.0
    assert first.status == 500
    assert entries(app) == []
    envelope = app.player.sent_events[-1]
    again = app.player.send_event(envelope["event"], retry_num=1, retry_reason="http_error", event_id=envelope["event_id"])
    assert again.status == 200
    assert entries(app) == [(early, "Rolled back to v2.3.0 at 13:41", "reaction", True)]


def test_a_pushpin_slack_will_never_show_us_is_dropped_quietly(app) -> None:  # type: ignore[no-untyped-def]
    early = app.player.say("U0BOB", "C0INC", "before", deliver=False)
    start(app)
    app.api.inject("conversations.history", Fault(error="not_in_channel"))
    assert app.player.react("U0ANN", "C0INC", early).status == 200
    assert entries(app) == []
