"""Restart and catch-up: what was said while the bot was down is read back from history, once."""

from __future__ import annotations

from datetime import UTC

from sqlalchemy import select

from bot.models import Incident, TimelineEntry
from bot.timeparse import datetime_to_slack_ts
from tests.conftest import start_app


def messages(running):  # type: ignore[no-untyped-def]
    with running.session_factory() as s:
        rows = s.scalars(select(TimelineEntry).where(TimelineEntry.kind == "message").order_by(TimelineEntry.at, TimelineEntry.id))
        return [(e.ts, e.text, e.source, e.thread_ts) for e in rows]


def test_restart_catches_up_from_history_without_duplicates(database_url, slack) -> None:  # type: ignore[no-untyped-def]
    first = start_app(database_url, slack)
    assert first.player.command("U0ANN", "C0INC", "start Checkout errors").status == 200
    live = first.player.say("U0BOB", "C0INC", "live before the crash")
    thread = first.player.say("U0BOB", "C0INC", "thread parent")
    first.stop()

    # The bot is down: people keep talking, and Slack's redelivery window passes.
    player = first.player
    missed = [player.say("U0CHI", "C0INC", f"missed {i}", deliver=False) for i in range(40)]
    reply = player.say("U0ANN", "C0INC", "reply while down", thread_ts=thread, deliver=False)
    player.say("U0ANN", "C0RANDOM", "not an incident channel", deliver=False)
    slack.page_size_cap = 15

    second = start_app(database_url, slack)
    try:
        (report,) = second.runtime.backfill_reports
        assert (report.messages_added, report.threads_checked) == (41, 1)
        got = messages(second)
        assert [ts for ts, *_ in got] == [live, thread, *missed, reply]
        assert len(got) == 43
        assert {src for ts, _, src, _ in got if ts in missed} == {"backfill"}
        assert [t for t in got if t[0] == reply] == [(reply, "reply while down", "backfill", thread)]
        # Pages of at most 15: 40 missed + 2 earlier ones, read from where the record is known
        # whole (the incident's start here: the first process never caught up or ticked).
        history_calls = slack.calls_to("conversations.history")
        assert history_calls and all(int(c.params["limit"]) == 15 for c in history_calls)
        with second.session_factory() as s:
            declared = s.scalars(select(Incident.declared_at)).one()
        assert history_calls[0].params["oldest"] == datetime_to_slack_ts(declared)
        assert "C0RANDOM" not in {c.params["channel"] for c in history_calls}

        # A second catch-up (the /incident backfill command) finds nothing new.
        answer = second.player.command("U0ANN", "C0INC", "backfill")
        assert answer.status == 200
        slack.wait_for(lambda api: any(c.method == "response_url" for c in api.calls))
        (posted,) = [c for c in slack.calls if c.method == "response_url"]
        assert posted.params["text"] == "Catch-up for INC-1: 0 missed message(s) recorded, 0 edit(s) applied, 1 thread(s) checked."
        assert len(messages(second)) == 43
    finally:
        second.stop()


def test_catch_up_waits_out_rate_limits(database_url, slack) -> None:  # type: ignore[no-untyped-def]
    from bot.simulator.webapi import Fault

    first = start_app(database_url, slack)
    first.player.command("U0ANN", "C0INC", "start Checkout errors")
    first.stop()
    missed = [first.player.say("U0CHI", "C0INC", f"m{i}", deliver=False) for i in range(3)]
    slack.inject("conversations.history", Fault(status=429, retry_after=0))
    second = start_app(database_url, slack)
    try:
        assert [ts for ts, *_ in messages(second)] == missed
        faults = [c for c in slack.calls_to("conversations.history") if c.fault is not None]
        assert len(faults) == 1
    finally:
        second.stop()


def test_a_message_that_arrives_before_the_gap_is_read_does_not_hide_it(database_url, slack) -> None:  # type: ignore[no-untyped-def]
    """After a restart, a live message can be recorded before the missed ones are read back (the
    catch-up failed, or hadn't reached this incident yet). Catch-up reads from where the record
    is known whole, not from the newest message, so what was said while the app was down is
    still read."""
    from bot.simulator.webapi import Fault

    first = start_app(database_url, slack)
    first.player.command("U0ANN", "C0INC", "start Checkout errors")
    before = first.player.say("U0BOB", "C0INC", "said before the crash")
    first.stop()
    missed = [first.player.say("U0CHI", "C0INC", f"missed {i}", deliver=False) for i in range(3)]
    slack.inject("conversations.history", Fault(error="not_in_channel"))  # the catch-up on start fails
    second = start_app(database_url, slack)
    try:
        (report,) = second.runtime.backfill_reports
        assert report.problems == ["Slack said `not_in_channel` — invite the bot to the channel with /invite"]
        live = second.player.say("U0ANN", "C0INC", "said after the restart")
        assert [ts for ts, *_ in messages(second)] == [before, live]
        answer = second.player.command("U0ANN", "C0INC", "backfill")
        assert answer.status == 200
        slack.wait_for(lambda api: any(c.method == "response_url" for c in api.calls))
        (posted,) = [c for c in slack.calls if c.method == "response_url"]
        assert posted.params["text"].startswith("Catch-up for INC-1: 3 missed message(s) recorded")
        assert [ts for ts, *_ in messages(second)] == [before, *missed, live]
    finally:
        second.stop()


def test_a_running_process_vouches_only_for_what_it_has_caught_up_on(session_factory) -> None:  # type: ignore[no-untyped-def]
    """bot.services.capture.note_heard_while_up: an incident heard up to the process's start
    (its catch-up completed, or it began meanwhile) moves to LATE_EVENTS ago; one still behind
    (its catch-up failed) stays, so the next catch-up reads its gap."""
    from datetime import datetime, timedelta

    from bot.services.capture import LATE_EVENTS, note_heard_while_up

    up_since = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    now = up_since + timedelta(hours=1)
    with session_factory.begin() as s:
        for channel, heard in (("C0CAUGHT", up_since), ("C0BEHIND", up_since - timedelta(hours=3)), ("C0NEW", up_since + timedelta(minutes=5))):
            s.add(Incident(team_id="T0SIM", channel_id=channel, title=channel, created_by="U0ANN",
                           declared_at=up_since - timedelta(hours=5), heard_until=heard))
    with session_factory.begin() as s:
        assert note_heard_while_up(s, up_since=up_since, now=now) == 2
    with session_factory() as s:
        heard = dict(s.execute(select(Incident.channel_id, Incident.heard_until)).all())
    assert heard == {"C0CAUGHT": now - LATE_EVENTS, "C0BEHIND": up_since - timedelta(hours=3), "C0NEW": now - LATE_EVENTS}
