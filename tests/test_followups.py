"""Action items and follow-ups through the real app: commands and buttons over signed HTTP,
reminders delivered against the simulator with a controllable clock, restarts, faults."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from bot.models import ActionItem, OutboxItem, TimelineEntry
from bot.scheduler import POLLER_JOB_ID
from bot.services.export import export_incident
from bot.services.incidents import latest_incident
from bot.simulator.records import Fault
from bot.slack.blocks import followups as fb
from bot.slack.effects.reminders import CLAIM_LEASE, METADATA_EVENT
from tests.conftest import cmd, start_app

UTC = UTC


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def fapp(database_url, slack, clock):  # type: ignore[no-untyped-def]
    """The app with the test's clock (Monday 2026-11-23 10:00 UTC) and the scheduler off:
    tests deliver with `runtime.outbox.run_due()` at the moments they choose."""
    slack.workspace.clock = lambda: clock().timestamp()  # Slack's ts agree with the app's clock
    # Status-update nudges have their own tests (tests/test_updates.py); off here, so these
    # tests see only the action items' reminders.
    running = start_app(database_url, slack, clock=clock, **NO_NUDGES)
    yield running
    running.stop()


NO_NUDGES = dict(lead_nudge_minutes=0, idle_nudge_hours=0, update_intervals=())


def reminders(app, **where):  # type: ignore[no-untyped-def]
    with app.session_factory() as s:
        query = select(OutboxItem).order_by(OutboxItem.due_at, OutboxItem.id)
        for name, value in where.items():
            query = query.where(getattr(OutboxItem, name) == value)
        return list(s.scalars(query))


def pending(app) -> list[tuple[str, datetime]]:  # type: ignore[no-untyped-def]
    return [(r.dedupe_key, r.due_at) for r in reminders(app, status="pending")]


def posts(app, channel: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Texts of successful chat.postMessage calls to one channel (a user id means their DM)."""
    return [c.response["message"]["text"] for c in app.api.calls_to("chat.postMessage") if c.ok and c.response["channel"] == channel]


def item(app, item_id: int = 1) -> ActionItem:  # type: ignore[no-untyped-def]
    with app.session_factory() as s:
        return s.get(ActionItem, item_id)


def start_with_item(app, text="action Add pool saturation alert <@U0BOB|bob> due 2026-12-01 p1"):  # type: ignore[no-untyped-def]
    cmd(app, "start Checkout errors")
    return cmd(app, text)


# --- the commands ---------------------------------------------------------------------------


def test_action_command_records_item_timeline_entry_and_plans_reminders(fapp) -> None:  # type: ignore[no-untyped-def]
    body = start_with_item(fapp)
    assert body["response_type"] == "in_channel"
    assert body["text"].startswith(":clipboard: *Action item #1* (p1) for <@U0BOB>, due Tue 2026-12-01: Add pool saturation alert")
    with fapp.session_factory() as s:
        data = export_incident(s, latest_incident(s, channel_id="C0INC"))
        entry = s.scalars(select(TimelineEntry).where(TimelineEntry.kind == "action")).one()
    assert data["action_items"] == [
        {"id": 1, "text": "Add pool saturation alert", "owner": "U0BOB", "due": "2026-12-01", "priority": "p1", "status": "open", "created_by": "U0ANN",
         "ticket": None}  # no tracker connected
    ]
    assert (entry.author, entry.text, entry.source) == ("U0ANN", "Add pool saturation alert (owner <@U0BOB>, due 2026-12-01, p1)", "command")
    # Bob is in New York (EST, UTC-5): 09:30 his time is 14:30Z. The digest uses SCRIBE_TIMEZONE (UTC), Mondays.
    assert pending(fapp) == [
        ("digest:1:2026-11-30", utc(2026, 11, 30, 9, 30)),
        ("item:1:before_due:2026-11-30", utc(2026, 11, 30, 14, 30)),
        ("item:1:due:2026-12-01", utc(2026, 12, 1, 14, 30)),
        ("item:1:overdue:2026-12-03", utc(2026, 12, 3, 14, 30)),
    ]


def test_owner_defaults_to_the_typer_and_weekdays_are_read_in_their_zone(fapp, clock) -> None:  # type: ignore[no-untyped-def]
    clock.set(utc(2026, 11, 23, 23, 30))  # Monday 23:30Z is already Tuesday 00:30 in Berlin
    body = start_with_item(fapp, "action Write the runbook due friday")
    assert "for <@U0ANN>, due Fri 2026-11-27" in body["text"]
    assert (item(fapp).owner_id, item(fapp).created_by, item(fapp).due_date.isoformat()) == ("U0ANN", "U0ANN", "2026-11-27")
    # Ann's 09:30 in Berlin (CET) is 08:30Z.
    assert ("item:1:due:2026-11-27", utc(2026, 11, 27, 8, 30)) in pending(fapp)


@pytest.mark.parametrize(
    ("due", "problem"),
    [
        ("feb 30", ":x: After 'due': 'feb 30' is not a date I understand. Feb 30 is not a date."),
        ("frday 5pm", ":x: After 'due': 'frday 5pm' is not a due date I understand."),
        ("today 08:00 UTC", ":x: 'today 08:00 UTC' is in the past: it means 2026-11-23T08:00:00Z, but it is now 2026-11-23T10:00:00Z."),
        ("2026-01-01", ":x: '2026-01-01' is in the past: 2026-01-01 is before today (2026-11-23)."),
    ],
)
def test_bad_due_dates_are_refused_and_nothing_is_recorded(fapp, due, problem) -> None:  # type: ignore[no-untyped-def]
    cmd(fapp, "start Checkout errors")
    body = cmd(fapp, f"action Fix it due {due}")
    assert body["response_type"] == "ephemeral"
    assert body["text"].startswith(problem)
    assert "Due dates I understand:" in body["text"] and "in 2 weeks" in body["text"]
    with fapp.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(ActionItem)) == 0
        assert s.scalar(select(func.count()).select_from(OutboxItem)) == 0
        assert s.scalar(select(func.count()).select_from(TimelineEntry).where(TimelineEntry.kind == "action")) == 0


def test_actions_lists_items_with_status_owner_due_and_priority(fapp) -> None:  # type: ignore[no-untyped-def]
    cmd(fapp, "start Checkout errors")
    assert "has no action items yet" in cmd(fapp, "actions")["text"]
    cmd(fapp, "action Add pool saturation alert <@U0BOB|bob> due 2026-12-01 p1")
    cmd(fapp, "action Document the rollback")
    body = cmd(fapp, "actions", user="U0CHI")
    assert body["response_type"] == "ephemeral"
    assert body["text"].splitlines() == [
        "*INC-1 action items* (2 open of 2)",
        "• #1 Add pool saturation alert — <@U0BOB> · due Tue 2026-12-01 · p1 · open",
        "• #2 Document the rollback — <@U0ANN> · no due date · open",
    ]
    actions_blocks = [b for b in body["blocks"] if b["type"] == "actions"]
    assert [[e["action_id"] for e in b["elements"]] for b in actions_blocks] == [[fb.DONE, fb.WONTFIX]] * 2 + [[fb.ADD]]
    assert [b["block_id"] for b in actions_blocks] == ["followup:1", "followup:2", "followup_add:1"]


# --- delivery with a controllable clock -------------------------------------------------------


def test_every_dm_and_the_digest_arrive_once_at_their_times(fapp, clock) -> None:  # type: ignore[no-untyped-def]
    start_with_item(fapp)
    run = fapp.runtime.outbox.run_due

    clock.set(utc(2026, 11, 30, 9, 29))
    assert run().sent == 0
    clock.set(utc(2026, 11, 30, 9, 30))
    assert run().sent == 1  # the Monday digest in the channel
    assert posts(fapp, "C0INC")[-1] == ":clipboard: Weekly digest for INC-1: 1 open action item"

    clock.set(utc(2026, 11, 30, 14, 30))
    assert run().sent == 1
    assert posts(fapp, "DU0BOB") == [":alarm_clock: Your action item is due soon: #1 Add pool saturation alert (INC-1)"]
    dm = fapp.api.workspace.messages("DU0BOB")[0]
    assert [e["action_id"] for e in dm["blocks"][2]["elements"]] == [fb.DONE, fb.SNOOZE_DAY, fb.SNOOZE_WEEK, fb.REASSIGN]
    assert dm["metadata"] == {"event_type": METADATA_EVENT, "event_payload": {"reminder": "item:1:before_due:2026-11-30"}}
    assert run().sent == 0 and run(clock() + timedelta(hours=3)).sent == 0  # nothing twice

    clock.set(utc(2026, 12, 1, 14, 30))
    assert run().sent == 1
    clock.set(utc(2026, 12, 3, 14, 31))
    assert run().sent == 1
    assert posts(fapp, "DU0BOB")[1:] == [
        ":alarm_clock: Your action item is due today: #1 Add pool saturation alert (INC-1)",
        ":rotating_light: Your action item is overdue: #1 Add pool saturation alert (INC-1)",
    ]
    # Each overdue DM plans the next one, M=2 days later; the digest plans next week's.
    assert pending(fapp) == [("item:1:overdue:2026-12-05", utc(2026, 12, 5, 14, 30)), ("digest:1:2026-12-07", utc(2026, 12, 7, 9, 30))]
    sent = reminders(fapp, status="sent")
    assert [(r.kind, r.attempts, r.channel_id) for r in sent] == [
        ("digest", 1, "C0INC"), ("before_due", 1, "DU0BOB"), ("due", 1, "DU0BOB"), ("overdue", 1, "DU0BOB"),
    ]


def test_a_long_outage_sends_one_reminder_not_a_backlog(fapp, clock) -> None:  # type: ignore[no-untyped-def]
    start_with_item(fapp)
    clock.set(utc(2026, 12, 9, 12))  # before-due, due-day and several overdue slots all passed
    report = fapp.runtime.outbox.run_due()
    assert (report.sent, report.skipped) == (2, 2)  # one DM (the latest) and the digest
    assert posts(fapp, "DU0BOB") == [":rotating_light: Your action item is overdue: #1 Add pool saturation alert (INC-1)"]
    assert [r.kind for r in reminders(fapp, status="skipped")] == ["before_due", "due"]
    assert ("item:1:overdue:2026-12-09", utc(2026, 12, 9, 14, 30)) in pending(fapp)


def test_restart_sends_what_fell_due_while_down_exactly_once(database_url, slack, clock) -> None:  # type: ignore[no-untyped-def]
    slack.workspace.clock = lambda: clock().timestamp()
    a = start_app(database_url, slack, clock=clock, **NO_NUDGES)
    try:
        cmd(a, "start Checkout errors")
        cmd(a, "action Add pool saturation alert <@U0CHI|chi> due tomorrow")
    finally:
        a.stop()
    assert [k for k, _ in pending(a)] == ["item:1:due:2026-11-24", "item:1:overdue:2026-11-26", "digest:1:2026-11-30"]

    clock.set(utc(2026, 11, 27, 12))  # down for four days: due (24th) and overdue (26th) slots passed
    b = start_app(database_url, slack, clock=clock, **NO_NUDGES, scheduler_enabled=True, scheduler_poll_seconds=3600)
    try:
        # The poller runs once on start, by itself.
        slack.wait_for(lambda api: posts(b, "DU0CHI"))
        b.runtime.outbox.run_due()  # waits for the start-up pass, then finds nothing left
        with b.session_factory() as s:
            jobs = s.execute(text("SELECT id FROM apscheduler_jobs")).scalars().all()
        assert jobs == [POLLER_JOB_ID]
    finally:
        b.stop()
    # One DM, the latest that fell due (the overdue one); the due-day one is skipped, not sent late.
    assert posts(b, "DU0CHI") == [":rotating_light: Your action item is overdue: #1 Add pool saturation alert (INC-1)"]
    assert [r.kind for r in reminders(b, status="skipped")] == ["due"]
    assert [k for k, _ in pending(b)] == ["item:1:overdue:2026-11-28", "digest:1:2026-11-30"]

    # No poller this time: its start-up pass runs in its own thread whenever it gets there,
    # and on a busy machine that can be after the clock moves below, taking the send we count.
    c = start_app(database_url, slack, clock=clock, **NO_NUDGES, scheduler_enabled=False)
    try:
        assert c.runtime.outbox.run_due().sent == 0
        clock.set(utc(2026, 11, 28, 9, 30))
        assert c.runtime.outbox.run_due().sent == 1
        assert c.runtime.outbox.run_due().sent == 0
    finally:
        c.stop()
    assert len(posts(c, "DU0CHI")) == 2
    assert [c.params["channel"] for c in slack.calls_to("chat.postMessage")] == ["U0CHI", "U0CHI"]


# --- faults --------------------------------------------------------------------------------


def test_429_is_waited_out_and_posts_once(fapp, clock) -> None:  # type: ignore[no-untyped-def]
    start_with_item(fapp)
    clock.set(utc(2026, 11, 30, 9, 30))
    fapp.runtime.outbox.run_due()  # the digest, out of the way
    fapp.api.inject("chat.postMessage", Fault(status=429, retry_after=1))
    clock.set(utc(2026, 11, 30, 14, 30))
    report = fapp.runtime.outbox.run_due()
    assert (report.sent, report.failed) == (1, 0)
    calls = [c for c in fapp.api.calls_to("chat.postMessage") if c.params["channel"] == "U0BOB"]
    assert [c.status for c in calls] == [429, 200]
    assert len(fapp.api.workspace.messages("DU0BOB")) == 1
    assert reminders(fapp, kind="before_due")[0].attempts == 1


@pytest.mark.parametrize("refusal", ["invalid_blocks", "msg_too_long"])
def test_refused_blocks_are_sent_as_text_once_instead_of_failing_forever(fapp, clock, refusal) -> None:  # type: ignore[no-untyped-def]
    start_with_item(fapp)
    clock.set(utc(2026, 11, 30, 9, 30))
    fapp.runtime.outbox.run_due()  # the digest, out of the way
    fapp.api.inject("chat.postMessage", Fault(error=refusal))
    clock.set(utc(2026, 11, 30, 14, 30))
    report = fapp.runtime.outbox.run_due()
    assert (report.sent, report.failed) == (1, 0)
    calls = [c for c in fapp.api.calls_to("chat.postMessage") if c.params["channel"] == "U0BOB"]
    assert [(c.ok, "blocks" in c.params) for c in calls] == [(False, True), (True, False)]
    assert calls[1].params["text"] == calls[0].params["text"]
    assert [m["text"] for m in fapp.api.workspace.messages("DU0BOB")] == [calls[0].params["text"]]
    assert reminders(fapp, kind="before_due")[0].status == "sent"


def test_a_failed_send_is_logged_and_retried_later(fapp, clock, caplog) -> None:  # type: ignore[no-untyped-def]
    cmd(fapp, "start Checkout errors")
    cmd(fapp, "action Add pool saturation alert <@U0BOB|bob> due 2026-12-01")
    clock.set(utc(2026, 12, 1, 14, 30))
    fapp.api.inject("chat.postMessage", Fault(error="fatal_error"), Fault(status=500), Fault(status=500), Fault(status=500))
    with caplog.at_level(logging.WARNING, logger="bot.scheduler"):
        first = fapp.runtime.outbox.run_due(utc(2026, 12, 1, 14, 30))
    assert first.failed == 2 and first.sent == 0  # the DM and the digest both failed (500 retried twice by the client)
    failed = {r.kind: r for r in reminders(fapp) if r.attempts}
    assert failed["due"].status == "pending" and failed["due"].last_error in {"fatal_error", "internal_error"}
    assert {r.next_attempt_at for r in failed.values()} == {utc(2026, 12, 1, 14, 31)}  # back off a minute
    assert any("failed on attempt 1" in m for m in caplog.messages)
    # Not before the backoff ends; then once.
    assert fapp.runtime.outbox.run_due(utc(2026, 12, 1, 14, 30, 30)).sent == 0
    clock.set(utc(2026, 12, 1, 14, 31))
    assert fapp.runtime.outbox.run_due().sent == 2
    assert posts(fapp, "DU0BOB") == [":alarm_clock: Your action item is due today: #1 Add pool saturation alert (INC-1)"]
    assert {r.attempts for r in reminders(fapp, status="sent")} == {2}


def _abandon(app, key: str, claimed_at: datetime) -> None:  # type: ignore[no-untyped-def]
    with app.session_factory.begin() as s:
        row = s.scalars(select(OutboxItem).where(OutboxItem.dedupe_key == key)).one()
        row.status, row.claimed_by, row.claimed_at, row.attempts = "sending", "dead-process", claimed_at, 1


def _up_to_the_due_day(app, clock) -> None:  # type: ignore[no-untyped-def]
    """Digest and day-before DM sent; the clock at the due-day DM's time."""
    start_with_item(app)
    clock.set(utc(2026, 11, 30, 14, 30))
    assert app.runtime.outbox.run_due().sent == 2
    clock.set(utc(2026, 12, 1, 14, 30))


def test_a_claim_left_by_a_crashed_process_is_taken_over_after_the_lease(fapp, clock) -> None:  # type: ignore[no-untyped-def]
    _up_to_the_due_day(fapp, clock)
    _abandon(fapp, "item:1:due:2026-12-01", clock())
    assert fapp.runtime.outbox.run_due().sent == 0  # still leased to the (dead) process
    assert len(posts(fapp, "DU0BOB")) == 1
    clock.set(utc(2026, 12, 1, 14, 30) + CLAIM_LEASE + timedelta(seconds=1))
    report = fapp.runtime.outbox.run_due()
    assert (report.sent, report.recovered) == (1, 0)
    assert len(posts(fapp, "DU0BOB")) == 2
    row = reminders(fapp, dedupe_key="item:1:due:2026-12-01")[0]
    assert (row.status, row.attempts) == ("sent", 2)


def test_a_reminder_posted_just_before_a_crash_is_not_posted_again(fapp, clock) -> None:  # type: ignore[no-untyped-def]
    _up_to_the_due_day(fapp, clock)
    fapp.runtime.outbox.run_due()  # sends the due-day DM
    row = reminders(fapp, dedupe_key="item:1:due:2026-12-01")[0]
    # As if the process died after Slack posted but before it recorded that.
    _abandon(fapp, row.dedupe_key, clock())
    slack_ts = row.message_ts
    clock.advance(seconds=CLAIM_LEASE.total_seconds() + 1)
    report = fapp.runtime.outbox.run_due()
    assert (report.sent, report.recovered) == (0, 1)
    assert len(posts(fapp, "DU0BOB")) == 2
    again = reminders(fapp, dedupe_key=row.dedupe_key)[0]
    assert (again.status, again.message_ts) == ("sent", slack_ts)


# --- buttons -------------------------------------------------------------------------------


def _dm_reminder(app, clock) -> str:  # type: ignore[no-untyped-def]
    start_with_item(app)
    clock.set(utc(2026, 12, 1, 14, 30))
    app.runtime.outbox.run_due()
    return app.api.workspace.messages("DU0BOB")[-1]["ts"]


def test_done_updates_the_item_edits_the_dm_posts_in_channel_and_cancels_reminders(fapp, clock) -> None:  # type: ignore[no-untyped-def]
    ts = _dm_reminder(fapp, clock)
    before = len(posts(fapp, "C0INC"))
    assert fapp.player.click("U0BOB", "DU0BOB", action_id=fb.DONE, value="1", block_id="followup:1", message_ts=ts).status == 200
    fapp.api.wait_for(lambda api: len(posts(fapp, "C0INC")) > before)
    fapp.api.wait_for(lambda api: api.calls_to("chat.update"))
    assert posts(fapp, "C0INC")[-1] == (
        ":white_check_mark: <@U0BOB> marked action item #1 done: #1 Add pool saturation alert — <@U0BOB> · due Tue 2026-12-01 · p1 · done"
    )
    update = fapp.api.calls_to("chat.update")[0]
    assert (update.params["channel"], update.params["ts"]) == ("DU0BOB", ts)
    edited = fapp.api.workspace.message("DU0BOB", ts)
    assert edited["text"] == "#1 Add pool saturation alert: :white_check_mark: marked done by <@U0BOB>"
    assert all(b["type"] != "actions" for b in edited["blocks"])
    done = item(fapp)
    assert (done.status, done.closed_by, done.closed_at) == ("done", "U0BOB", utc(2026, 12, 1, 14, 30))
    assert pending(fapp) == []  # the next overdue DM and the digest are cancelled
    clock.set(utc(2026, 12, 20))
    assert fapp.runtime.outbox.run_due().sent == 0


def test_someone_else_is_refused_privately_and_nothing_changes(fapp, clock) -> None:  # type: ignore[no-untyped-def]
    ts = _dm_reminder(fapp, clock)
    plan_before = pending(fapp)
    fapp.player.click("U0CHI", "DU0BOB", action_id=fb.DONE, value="1", block_id="followup:1", message_ts=ts)
    refusal = fapp.api.wait_for(lambda api: [e for e in api.ephemerals if e["user"] == "U0CHI"])
    assert refusal[0]["message"]["text"] == (
        ":x: Only the owner (<@U0BOB>), whoever added it (<@U0ANN>) or the incident lead can change action item #1."
    )
    fapp.player.select_user("U0CHI", "DU0BOB", action_id=fb.REASSIGN, selected_user="U0CHI", block_id="followup:1", message_ts=ts)
    fapp.api.wait_for(lambda api: len([e for e in api.ephemerals if e["user"] == "U0CHI"]) == 2)
    assert (item(fapp).status, item(fapp).owner_id) == ("open", "U0BOB")
    assert pending(fapp) == plan_before
    assert fapp.api.calls_to("chat.update") == []


def test_the_incident_lead_may_close_someone_elses_item(fapp, clock) -> None:  # type: ignore[no-untyped-def]
    cmd(fapp, "start Checkout errors")
    cmd(fapp, "role lead <@U0CHI|chi>")
    cmd(fapp, "action Fix alerts <@U0BOB|bob>", user="U0BOB")
    fapp.player.click("U0CHI", "C0INC", action_id=fb.WONTFIX, value="1", block_id="followup:1")
    fapp.api.wait_for(lambda api: any("won't fix" in t for t in posts(fapp, "C0INC")))
    assert (item(fapp).status, item(fapp).closed_by) == ("wontfix", "U0CHI")
    confirmation = fapp.api.wait_for(lambda api: [e for e in api.ephemerals if e["user"] == "U0CHI"])
    assert confirmation[0]["message"]["text"] == "#1 Fix alerts: :heavy_minus_sign: marked won't fix by <@U0CHI>"
    assert fapp.api.calls_to("chat.update") == []  # the channel's messages are left alone


def test_snooze_moves_the_next_reminder_and_keeps_the_buttons(fapp, clock) -> None:  # type: ignore[no-untyped-def]
    ts = _dm_reminder(fapp, clock)
    fapp.player.click("U0BOB", "DU0BOB", action_id=fb.SNOOZE_WEEK, value="1", block_id="followup:1", message_ts=ts)
    fapp.api.wait_for(lambda api: api.calls_to("chat.update"))
    # A week from Bob's Tuesday, 09:30 New York time; the due date itself is unchanged.
    assert item(fapp).snoozed_until == utc(2026, 12, 8, 14, 30)
    assert item(fapp).due_date.isoformat() == "2026-12-01"
    assert [k for k, _ in pending(fapp)] == ["digest:1:2026-12-07", "item:1:snoozed:20261208T143000Z", "item:1:overdue:2026-12-09"]
    edited = fapp.api.workspace.message("DU0BOB", ts)
    assert ":zzz: Snoozed until Tue 2026-12-08 09:30 (EST)" in edited["text"]
    assert any(b["type"] == "actions" for b in edited["blocks"])
    clock.set(utc(2026, 12, 8, 14, 30))
    fapp.runtime.outbox.run_due()
    assert posts(fapp, "DU0BOB")[-1] == ":alarm_clock: Snooze is over: your action item is still open: #1 Add pool saturation alert (INC-1)"


def test_reassign_moves_reminders_to_the_new_owner_in_their_zone(fapp, clock) -> None:  # type: ignore[no-untyped-def]
    ts = _dm_reminder(fapp, clock)
    fapp.player.select_user("U0BOB", "DU0BOB", action_id=fb.REASSIGN, selected_user="U0ANN", block_id="followup:1", message_ts=ts)
    fapp.api.wait_for(lambda api: any("reassigned" in t for t in posts(fapp, "C0INC")))
    assert posts(fapp, "C0INC")[-1].startswith(":arrows_counterclockwise: <@U0BOB> reassigned action item #1 from <@U0BOB> to <@U0ANN>")
    assert item(fapp).owner_id == "U0ANN"
    # The next overdue DM, now at 09:30 Berlin (08:30Z) on the 3rd.
    assert ("item:1:overdue:2026-12-03", utc(2026, 12, 3, 8, 30)) in pending(fapp)
    clock.set(utc(2026, 12, 3, 8, 30))
    fapp.runtime.outbox.run_due()
    assert posts(fapp, "DU0ANN") == [":rotating_light: Your action item is overdue: #1 Add pool saturation alert (INC-1)"]


def test_review_reminders_follow_resolution(fapp, clock) -> None:  # type: ignore[no-untyped-def]
    cmd(fapp, "start Checkout errors")
    cmd(fapp, "action Add pool saturation alert <@U0BOB|bob>")
    cmd(fapp, "resolved at 2026-11-23 09:00 UTC")
    assert [(r.dedupe_key, r.due_at) for r in reminders(fapp, kind="review")] == [
        ("review:1:7", utc(2026, 11, 30, 9, 30)), ("review:1:30", utc(2026, 12, 23, 9, 30)), ("review:1:91", utc(2027, 2, 22, 9, 30))
    ]
    clock.set(utc(2026, 11, 30, 9, 30))
    fapp.runtime.outbox.run_due()
    assert ":mag: INC-1 was resolved a week ago: time to review its action items" in posts(fapp, "C0INC")


def test_items_can_be_added_after_close_and_reviews_count_from_the_close(fapp, clock) -> None:  # type: ignore[no-untyped-def]
    assert cmd(fapp, "action Too early")["text"].startswith(":x: This channel has no incident to attach action items to.")
    cmd(fapp, "start Checkout errors")
    cmd(fapp, "close")
    assert [r.dedupe_key for r in reminders(fapp, kind="review")] == ["review:1:7", "review:1:30", "review:1:91"]
    assert reminders(fapp, kind="review")[0].due_at == utc(2026, 11, 30, 9, 30)
    body = cmd(fapp, "action Add pool saturation alert <@U0BOB|bob> due friday")
    assert body["text"].startswith(":clipboard: *Action item #1* for <@U0BOB>, due Fri 2026-11-27")
    assert "#1 Add pool saturation alert" in cmd(fapp, "actions")["text"]


def test_the_add_button_opens_a_modal_that_adds_an_item(fapp, clock) -> None:  # type: ignore[no-untyped-def]
    cmd(fapp, "start Checkout errors")
    fapp.player.click("U0BOB", "C0INC", action_id=fb.ADD, value="1", block_id="followup_add:1")
    opened = fapp.api.wait_for(lambda api: api.calls_to("views.open"))
    assert opened[0].params["view"]["callback_id"] == fb.ADD_VIEW
    view_id = next(iter(fapp.api.views))

    # A bad due date is shown under its field, and nothing is recorded.
    bad = fapp.player.submit_view("U0BOB", callback_id=fb.ADD_VIEW, view_id=view_id, values={
        "text": "Add pool saturation alert", "owner": {"owner": {"type": "users_select", "selected_user": "U0CHI"}}, "due": "frday",
    })
    assert bad.status == 200
    assert bad.json()["response_action"] == "errors"
    assert bad.json()["errors"]["due"].startswith("'frday' is not a due date I understand")
    with fapp.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(ActionItem)) == 0

    good = fapp.player.submit_view("U0BOB", callback_id=fb.ADD_VIEW, view_id=view_id, values={
        "text": "Add pool saturation alert",
        "owner": {"owner": {"type": "users_select", "selected_user": "U0CHI"}},
        "due": "2026-12-01",
        "priority": {"priority": {"type": "static_select", "selected_option": {"value": "p2"}}},
    })
    assert (good.status, good.body) == (200, "")
    fapp.api.wait_for(lambda api: any(t.startswith(":clipboard: *Action item #1*") for t in posts(fapp, "C0INC")))
    assert posts(fapp, "C0INC")[-1].startswith(":clipboard: *Action item #1* (p2) for <@U0CHI>, due Tue 2026-12-01: Add pool saturation alert")
    added = item(fapp)
    assert (added.owner_id, added.created_by, added.priority, added.source_id) == ("U0CHI", "U0BOB", "p2", f"view:{view_id}")
    # Chi is in UTC: the due-day DM at 09:30Z.
    assert ("item:1:due:2026-12-01", utc(2026, 12, 1, 9, 30)) in pending(fapp)


def test_each_workspace_gets_its_reminders_with_its_own_installation(two_teams) -> None:  # type: ignore[no-untyped-def]
    from tests.workspace_helpers import CHANNEL, install

    running, api, base, teams, players = two_teams
    for ws in teams.values():
        assert install(api, base, ws)[0] == 200
    for team_id, player in players.items():
        player.command("U0ANN", CHANNEL, f"start {team_id} is down")
        player.command("U0ANN", CHANNEL, f"action Fix {team_id} <@U0BOB|bob> due tomorrow")
    later = datetime.now(UTC) + timedelta(days=3)
    running.runtime.outbox.run_due(later)
    for team_id, ws in teams.items():
        dms = [m["text"] for m in ws.messages("DU0BOB")]
        assert len(dms) == 1 and f"Fix {team_id}" in dms[0], (team_id, dms)
    # Once each: nothing more until the next slot.
    assert running.runtime.outbox.run_due(later).sent == 0
