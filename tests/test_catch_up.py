"""Restart and catch-up: what was said while the bot was down is read back from history, once."""

from __future__ import annotations

from sqlalchemy import select

from bot.models import TimelineEntry
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
        assert [ts for ts, *_ in got] == [live, thread] + missed + [reply]
        assert len(got) == 43
        assert {src for ts, _, src, _ in got if ts in missed} == {"backfill"}
        assert [t for t in got if t[0] == reply] == [(reply, "reply while down", "backfill", thread)]
        # Pages of at most 15: 40 missed + 2 earlier ones, read from the last recorded ts.
        history_calls = slack.calls_to("conversations.history")
        assert history_calls and all(int(c.params["limit"]) == 15 for c in history_calls)
        assert history_calls[0].params["oldest"] == thread
        assert "C0RANDOM" not in {c.params["channel"] for c in history_calls}

        # A second catch-up (the /incident backfill command) finds nothing new.
        answer = second.player.command("U0ANN", "C0INC", "backfill")
        assert answer.status == 200
        slack.wait_for(lambda api: any(c.method == "response_url" for c in api.calls))
        (posted,) = [c for c in slack.calls if c.method == "response_url"]
        assert "Catch-up for INC-1: 0 missed message(s) recorded, 0 edit(s) applied, 1 thread(s) checked." == posted.params["text"]
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
