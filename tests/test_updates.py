"""Status updates and cadence nudges through the real app: `/incident update`, the form, and
nudges delivered by the reminders' claim-and-send against the simulator, on a controllable clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot import commands as c
from bot.config import SettingsError, settings_from_env
from bot.models import Incident, OutboxItem, TimelineEntry
from bot.services import cadence, updates
from bot.services import postmortem as pm
from bot.services.incidents import latest_incident
from bot.slack.blocks import updates as ub
from tests.conftest import cmd, start_app

UTC = UTC
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # the clock fixture's start


def at(minutes: float = 0, **more: float) -> datetime:
    return T0 + timedelta(minutes=minutes, **more)


@pytest.fixture
def uapp(database_url, slack, clock):  # type: ignore[no-untyped-def]
    """The app with the default cadence (sev1 30 min, sev2 60 min, lead 10 min, idle 24 h) and
    the scheduler off: tests deliver with `run_due()` at the moments they choose."""
    slack.workspace.clock = lambda: clock().timestamp()
    running = start_app(database_url, slack, clock=clock)
    yield running
    running.stop()


def posts(app, channel: str = "C0INC") -> list[str]:  # type: ignore[no-untyped-def]
    return [x.response["message"]["text"] for x in app.api.calls_to("chat.postMessage") if x.ok and x.response["channel"] == channel]


def deliver(app, clock, when: datetime):  # type: ignore[no-untyped-def]
    clock.set(when)
    return app.runtime.outbox.run_due()


def nudge_rows(app, status: str | None = None) -> list[tuple[str, datetime, str]]:  # type: ignore[no-untyped-def]
    with app.session_factory() as s:
        query = select(OutboxItem).where(OutboxItem.kind.in_(updates.NUDGE_KINDS)).order_by(OutboxItem.due_at, OutboxItem.id)
        if status:
            query = query.where(OutboxItem.status == status)
        return [(r.kind, r.due_at, r.status) for r in s.scalars(query)]


def incident(app) -> Incident:  # type: ignore[no-untyped-def]
    with app.session_factory() as s:
        return latest_incident(s, channel_id="C0INC")


# --- parsing (pure) -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("update", c.UpdateForm()),
        ("update monitoring Error rate back to 0.1% next 30m", c.PostUpdate("Error rate back to 0.1%", "monitoring", 30)),
        ("update Identified: bad deploy, next update in 1h", c.PostUpdate("bad deploy", "identified", 60)),
        ("update next steps are a rollback", c.PostUpdate("next steps are a rollback", None, None)),
        ("update rolled back next 1h30m", c.PostUpdate("rolled back", None, 90)),
        ("snooze-updates 2h", c.SnoozeUpdates(120)),
        ("snooze-updates off", c.SnoozeUpdates(None)),
    ],
)
def test_update_and_snooze_parse(text, expected) -> None:  # type: ignore[no-untyped-def]
    assert c.parse_command(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("update monitoring", "A status update needs a summary of where things stand, e.g. `/incident update monitoring Error rate back to 0.1% next 30m`."),
        ("update fixed next 3 days", "After 'next': '3 days' is not a duration I understand. Write a duration like `30m`, `90 min`, `2h` or `1h30m`."),
        ("update fixed next 25h", "The next update must be between 1 minute and 24 hours away, got '25h'."),
        ("snooze-updates", "For how long? e.g. `/incident snooze-updates 2h`, or `/incident snooze-updates off` to resume."),
        ("snooze-updates later", "'later' is not a duration I understand. Write a duration like `30m`, `90 min`, `2h` or `1h30m`. Or `off` to resume."),
        ("snooze-updates 8d", "'8d' is not a duration I understand. Write a duration like `30m`, `90 min`, `2h` or `1h30m`. Or `off` to resume."),
    ],
)
def test_bad_update_and_snooze_commands_say_what_to_type(text, message) -> None:  # type: ignore[no-untyped-def]
    error = c.parse_command(text)
    assert isinstance(error, c.UsageError) and error.message == message


def test_update_interval_settings() -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}
    default = settings_from_env(env)
    assert (default.update_intervals, default.lead_nudge_minutes, default.idle_nudge_hours) == ((("sev1", 30), ("sev2", 60)), 10, 24)
    custom = settings_from_env({**env, "SCRIBE_UPDATE_INTERVALS": "sev1=15m, sev3=2h", "SCRIBE_LEAD_NUDGE_MINUTES": "0"})
    assert (custom.update_intervals, custom.lead_nudge_minutes) == ((("sev1", 15), ("sev3", 120)), 0)
    assert settings_from_env({**env, "SCRIBE_UPDATE_INTERVALS": "none"}).update_intervals == ()
    with pytest.raises(SettingsError) as raised:
        settings_from_env({**env, "SCRIBE_UPDATE_INTERVALS": "sev1=soon", "SCRIBE_IDLE_NUDGE_HOURS": "-1"})
    assert raised.value.problems == [
        "SCRIBE_UPDATE_INTERVALS must list severities with an interval from 1m to 24h, each once, like sev1=30m,sev2=60m (or none), got 'sev1=soon'.",
        "SCRIBE_IDLE_NUDGE_HOURS must be between 0 and 720, got -1.",
    ]


# --- posting updates --------------------------------------------------------------------------


def test_update_is_posted_recorded_and_in_the_draft(uapp, clock) -> None:  # type: ignore[no-untyped-def]
    cmd(uapp, "start Checkout errors sev1")
    clock.set(at(12))
    body = cmd(uapp, "update monitoring Error rate back to 0.1% next 15m")
    assert body == {
        "response_type": "ephemeral",
        "text": ":white_check_mark: Update posted. Next one due by 10:27 UTC; I'll remind the channel then if there isn't one.",
    }
    [post] = [x for x in uapp.api.calls_to("chat.postMessage") if x.ok]
    assert post.params["channel"] == "C0INC"
    assert post.response["message"]["text"] == "INC-1 status update (Monitoring): Error rate back to 0.1%"
    blocks = post.response["message"]["blocks"]
    assert [b["type"] for b in blocks] == ["section", "section", "context"]
    assert blocks[0]["text"]["text"] == ":eyes: *INC-1 status update: Monitoring* · sev1\n_Checkout errors_"
    assert blocks[1]["text"]["text"] == "Error rate back to 0.1%"
    assert blocks[2]["elements"][0]["text"] == "Posted by <@U0ANN> at 10:12 UTC · next update by 10:27 UTC"
    with uapp.session_factory() as s:
        entry = s.scalars(select(TimelineEntry).where(TimelineEntry.kind == "update")).one()
        inc = latest_incident(s, channel_id="C0INC")
        assert (entry.text, entry.author, entry.at, entry.source) == ("Monitoring: Error rate back to 0.1%", "U0ANN", at(12), "command")
        assert (inc.update_status, inc.last_update_at, inc.next_update_at) == ("monitoring", at(12), at(27))
        status = cadence.status_of(inc, uapp.settings)
        assert (status.status, status.next_update_at) == ("monitoring", at(27))
        draft = pm.draft_postmortem(s, inc, settings=uapp.settings, now=at(60), user_id="U0ANN")
    assert "| 2026-11-23 10:12:00 | 📣 Status update posted | U0ANN | Monitoring: Error rate back to 0.1% |" in draft.markdown
    assert "## Communication: status updates\n\n1 status update posted to the channel with `/incident update`." in draft.markdown
    assert "| 2026-11-23 10:12:00 | U0ANN | Monitoring: Error rate back to 0.1% |" in draft.markdown


def test_update_without_status_or_cadence_and_a_repeat_posts_once(uapp, clock) -> None:  # type: ignore[no-untyped-def]
    cmd(uapp, "start Checkout errors sev3")
    form = uapp.player.command_form("U0ANN", "C0INC", "update Rolled back to v2.3.0")
    first = uapp.player._post_form(form)
    again = uapp.player._post_form(form)  # the same trigger_id: one command seen twice
    assert first.json()["text"] == ":white_check_mark: Update posted."
    assert again.json()["text"] == "That update was already posted."
    assert posts(uapp) == ["INC-1 status update (Update): Rolled back to v2.3.0"]


def test_update_resolved_records_the_milestone_and_stops_the_nudges(uapp, clock) -> None:  # type: ignore[no-untyped-def]
    cmd(uapp, "start Checkout errors sev1")
    clock.set(at(20))
    body = cmd(uapp, "update resolved Error rate at baseline for 15 minutes")
    assert body["text"] == ":white_check_mark: Update posted. INC-1 is recorded as resolved; no more update reminders."
    with uapp.session_factory() as s:
        inc = latest_incident(s, channel_id="C0INC")
        assert inc.resolved_at == at(20)
        kinds = [(e.kind, e.text) for e in s.scalars(select(TimelineEntry).where(TimelineEntry.incident_id == inc.id).order_by(TimelineEntry.id))]
        reviews = s.scalars(select(OutboxItem.dedupe_key).where(OutboxItem.kind == "review")).all()
    assert kinds[-2:] == [("update", "Resolved: Error rate at baseline for 15 minutes"), ("resolved", "Error rate at baseline for 15 minutes")]
    assert sorted(reviews) == ["review:1:30", "review:1:7", "review:1:91"]
    assert nudge_rows(uapp, "pending") == []
    assert deliver(uapp, clock, at(days=3)).sent == 0
    assert posts(uapp) == ["INC-1 status update (Resolved): Error rate at baseline for 15 minutes"]


def test_update_outside_an_incident_is_refused(uapp) -> None:  # type: ignore[no-untyped-def]
    body = cmd(uapp, "update All good")
    assert body["response_type"] == "ephemeral" and body["text"].startswith(":x:") and "no open incident" in body["text"].lower()
    assert posts(uapp) == []


def test_a_post_slack_refuses_is_told_and_the_update_kept(uapp, clock) -> None:  # type: ignore[no-untyped-def]
    cmd(uapp, "start Checkout errors sev2")
    ws = uapp.api.workspace
    with ws.lock:
        ws.channel("C0INC").members.discard(ws.bot_user_id)  # someone removed the bot
    body = cmd(uapp, "update identified Bad config push")
    # The update is recorded in the ack; the post comes after it, and its refusal is told privately.
    assert body["text"].startswith(":white_check_mark: Update posted.")
    assert [str(e["message"].get("text")) for e in uapp.api.ephemerals] == [
        ":warning: The update is recorded, but I couldn't post it in the channel (Slack said `not_in_channel`). "
        "Type `/invite @Incident Scribe` here, then post it again."
    ]
    with uapp.session_factory() as s:
        assert s.scalars(select(TimelineEntry.text).where(TimelineEntry.kind == "update")).all() == ["Identified: Bad config push"]


# --- the form ---------------------------------------------------------------------------------


def form_values(status: str | None, summary: str, next_minutes: str = "") -> dict:  # type: ignore[type-arg]
    values: dict = {"summary": summary, "next": {"next": {"type": "number_input", "value": next_minutes or None}}}  # type: ignore[type-arg]
    values["status"] = {"status": {"type": "static_select", "selected_option": {"value": status} if status else None}}
    return values


def test_the_form_opens_checks_its_fields_and_posts_once(uapp, clock) -> None:  # type: ignore[no-untyped-def]
    cmd(uapp, "start Checkout errors sev1")
    assert cmd(uapp, "update") == {}
    [opened] = uapp.api.calls_to("views.open")
    view = opened.response["view"]
    assert view["callback_id"] == ub.FORM_VIEW and view["private_metadata"] == "1"
    assert [b["block_id"] for b in view["blocks"]] == ["status", "summary", "next"]
    assert [o["value"] for o in view["blocks"][0]["element"]["options"]] == ["investigating", "identified", "monitoring", "resolved"]

    bad = uapp.player.submit_view("U0BOB", callback_id=ub.FORM_VIEW, values=form_values(None, "", "0"), view_id=view["id"])
    assert bad.json() == {
        "response_action": "errors",
        "errors": {
            "status": "Choose a status: investigating, identified, monitoring or resolved.",
            "summary": "Say where things stand: what we know, what we're doing.",
            "next": "Give a whole number of minutes from 1 to 1440, e.g. 30, or leave it empty.",
        },
    }
    assert posts(uapp) == []
    clock.set(at(5))
    good = form_values("investigating", "Looking at the DB pool", "45")
    assert uapp.player.submit_view("U0BOB", callback_id=ub.FORM_VIEW, values=good, view_id=view["id"]).status == 200
    # A double-click of Submit: the same view again.
    assert uapp.player.submit_view("U0BOB", callback_id=ub.FORM_VIEW, values=good, view_id=view["id"]).status == 200
    assert posts(uapp) == ["INC-1 status update (Investigating): Looking at the DB pool"]
    assert (incident(uapp).update_status, incident(uapp).next_update_at) == ("investigating", at(50))


def test_the_nudge_button_opens_the_form_and_resolved_there_resolves(uapp, clock) -> None:  # type: ignore[no-untyped-def]
    cmd(uapp, "start Checkout errors sev1")
    cmd(uapp, "role lead <@U0BOB|bob>")
    assert deliver(uapp, clock, at(30)).sent == 1
    nudge = uapp.api.calls_to("chat.postMessage")[-1].response["message"]
    button = nudge["blocks"][-1]["elements"][0]
    assert (button["action_id"], button["value"]) == (ub.OPEN_FORM, "1")
    assert uapp.player.click("U0CHI", "C0INC", action_id=ub.OPEN_FORM, value="1", message_ts=nudge["ts"]).status == 200
    view = uapp.api.wait_for(lambda api: api.calls_to("views.open"))[-1].response["view"]
    uapp.player.submit_view("U0CHI", callback_id=ub.FORM_VIEW, values=form_values("resolved", "Back to normal"), view_id=view["id"])
    assert incident(uapp).resolved_at == at(30)
    assert nudge_rows(uapp, "pending") == []


# --- nudges -----------------------------------------------------------------------------------


def test_each_nudge_falls_due_once_at_its_time(uapp, clock) -> None:  # type: ignore[no-untyped-def]
    cmd(uapp, "start Checkout errors sev1")
    assert deliver(uapp, clock, at(9, seconds=59)).sent == 0
    assert deliver(uapp, clock, at(10)).sent == 1
    assert posts(uapp)[-1] == ":bust_in_silhouette: INC-1 has no lead yet, 10 min after it started. Who is running it? `/incident role lead @person`"
    assert deliver(uapp, clock, at(10)).sent == 0
    assert deliver(uapp, clock, at(29, seconds=59)).sent == 0
    assert deliver(uapp, clock, at(30)).sent == 1
    assert posts(uapp)[-1] == (
        ":loudspeaker: INC-1: no status update since 10:00 UTC. Tell people where things stand: `/incident update <what we know> [next 30m]`, "
        "or press *Post an update*. (This incident's severity asks for one every 30 min; `/incident snooze-updates 1h` pauses these.)"
    )
    assert deliver(uapp, clock, at(59)).sent == 0
    # Still no update: the next nudge an interval after the last one, and the lead nudge never again.
    assert deliver(uapp, clock, at(60)).sent == 1
    assert len(posts(uapp)) == 3
    # An update with "next 15m" overrides the interval once, then the interval resumes.
    clock.set(at(70))
    cmd(uapp, "update identified Connection leak in v2.3.1 next 15m")
    assert deliver(uapp, clock, at(84)).sent == 0
    assert deliver(uapp, clock, at(85)).sent == 1
    assert deliver(uapp, clock, at(114)).sent == 0
    assert deliver(uapp, clock, at(115)).sent == 1
    nudges = [m for m in posts(uapp) if m.startswith(":loudspeaker:")]
    assert len(nudges) == 4 and nudges[-1].startswith(":loudspeaker: INC-1: no status update since 11:10 UTC.")
    sent = [(k, d) for k, d, s in nudge_rows(uapp) if s == "sent"]
    assert sent == [("nudge_lead", at(10)), ("nudge_update", at(30)), ("nudge_update", at(60)), ("nudge_update", at(85)), ("nudge_update", at(115))]


def test_idle_nudge_after_a_day_of_silence_and_activity_postpones_it(uapp, clock) -> None:  # type: ignore[no-untyped-def]
    cmd(uapp, "start Slow reports sev3")
    cmd(uapp, "role lead <@U0ANN|ann>")
    clock.set(at(hours=20))
    uapp.player.say("U0BOB", "C0INC", "Reports are still slow")
    uapp.api.wait_for(lambda api: len(list(_entries(uapp, "message"))) == 1)
    # Planned for 24 h after the start, but a message came at 20 h: nothing at 24 h.
    assert deliver(uapp, clock, at(hours=24)).sent == 0
    assert deliver(uapp, clock, at(hours=44) - timedelta(seconds=1)).sent == 0
    assert deliver(uapp, clock, at(hours=44)).sent == 1
    assert posts(uapp)[-1] == (
        ":zzz: INC-1: nothing has happened here since 2026-11-24 06:00 UTC. Still going? `/incident resolved` or `/incident close`, or post an update."
    )
    assert deliver(uapp, clock, at(hours=44)).sent == 0
    assert deliver(uapp, clock, at(hours=68)).sent == 1  # a day after the nudge, if still nothing


def _entries(app, kind: str):  # type: ignore[no-untyped-def]
    with app.session_factory() as s:
        return s.scalars(select(TimelineEntry).where(TimelineEntry.kind == kind)).all()


def test_no_nudge_during_a_snooze_and_off_resumes(uapp, clock) -> None:  # type: ignore[no-untyped-def]
    cmd(uapp, "start Checkout errors sev1")
    clock.set(at(5))
    body = cmd(uapp, "snooze-updates 2h")
    assert body == {
        "response_type": "in_channel",
        "text": ":no_bell: <@U0ANN> paused the update reminders for INC-1 until 2026-11-23 12:05:00 UTC (`/incident snooze-updates off` resumes them).",
    }
    for minute in (10, 30, 60, 90, 124):
        assert deliver(uapp, clock, at(minute)).sent == 0
    assert posts(uapp) == []
    assert deliver(uapp, clock, at(125)).sent == 2  # no lead, no update: both said when the snooze ends
    clock.set(at(130))
    cmd(uapp, "snooze-updates 8h")
    clock.set(at(140))
    assert cmd(uapp, "snooze-updates off")["text"] == ":bell: Update reminders for INC-1 are back on."
    assert deliver(uapp, clock, at(154)).sent == 0
    assert deliver(uapp, clock, at(155)).sent == 1  # 30 min after the last nudge, as if never snoozed


def test_no_nudge_after_resolve_or_close(uapp, clock) -> None:  # type: ignore[no-untyped-def]
    cmd(uapp, "start Checkout errors sev1")
    cmd(uapp, "start Other sev2", channel="C0RANDOM")
    clock.set(at(5))
    cmd(uapp, "resolved")
    cmd(uapp, "close", channel="C0RANDOM")
    assert [s for _, _, s in nudge_rows(uapp)] == ["cancelled"] * 6
    assert deliver(uapp, clock, at(days=2)).sent == 0
    assert posts(uapp) == [] and posts(uapp, "C0RANDOM") == []


def test_a_nudge_already_due_is_dropped_if_the_incident_was_resolved_meanwhile(uapp, clock) -> None:  # type: ignore[no-untyped-def]
    """A nudge row left pending (planned by another process a moment earlier) is re-checked at send time."""
    cmd(uapp, "start Checkout errors sev1")
    with uapp.session_factory.begin() as s:
        inc = latest_incident(s, channel_id="C0INC")
        inc.resolved_at = at(1)  # as if resolved by a path that didn't re-plan
    report = deliver(uapp, clock, at(60))
    assert (report.sent, report.cancelled) == (0, 2)  # the lead and update nudges that were due
    assert nudge_rows(uapp, "pending") == []  # and the idle one, re-planned away with them
    assert posts(uapp) == []


def test_lead_assigned_and_severity_change_reschedule(uapp, clock) -> None:  # type: ignore[no-untyped-def]
    cmd(uapp, "start Checkout errors sev3")
    assert [(k, d) for k, d, s in nudge_rows(uapp, "pending")] == [("nudge_lead", at(10)), ("nudge_idle", at(hours=24))]
    clock.set(at(3))
    cmd(uapp, "role lead <@U0BOB|bob>")
    cmd(uapp, "severity sev2")
    assert [(k, d) for k, d, s in nudge_rows(uapp, "pending")] == [("nudge_update", at(60)), ("nudge_idle", at(3, hours=24))]  # the commands are activity too
    assert deliver(uapp, clock, at(60)).sent == 1
    assert posts(uapp)[-1].startswith(":loudspeaker: INC-1: no status update since 10:00 UTC.")
    assert "every 60 min" in posts(uapp)[-1]


def test_cadence_settings_change_what_is_nudged(database_url, slack, clock) -> None:  # type: ignore[no-untyped-def]
    slack.workspace.clock = lambda: clock().timestamp()
    running = start_app(database_url, slack, clock=clock, update_intervals=(("sev3", 15),), lead_nudge_minutes=0, idle_nudge_hours=0)
    try:
        cmd(running, "start Checkout errors sev3")
        assert [(k, d) for k, d, s in nudge_rows(running, "pending")] == [("nudge_update", at(15))]
        assert deliver(running, clock, at(15)).sent == 1
    finally:
        running.stop()


def test_0004b_downgrades_and_upgrades(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from alembic import command
    from sqlalchemy import create_engine, inspect

    from bot.db import alembic_config, upgrade

    url = f"sqlite:///{tmp_path / 'm.db'}"
    added = {"update_status", "last_update_at", "next_update_at", "updates_snoozed_until"}
    upgrade(url)
    command.downgrade(alembic_config(url), "0002_followups")
    engine = create_engine(url)
    assert added.isdisjoint(c["name"] for c in inspect(engine).get_columns("incidents"))
    engine.dispose()
    upgrade(url)
    engine = create_engine(url)
    assert added <= {c["name"] for c in inspect(engine).get_columns("incidents")}
    engine.dispose()


def test_post_status_update_threads_a_copy_under_the_announcement(slack) -> None:  # type: ignore[no-untyped-def]
    """The one function updates go through: the channel post, and a reply under the announcement when given."""
    from bot.slack.client import make_client
    from bot.slack.io import messages

    client = make_client(slack.workspace.bot_token, slack.base_url)
    announcement = client.chat_postMessage(channel="C0RANDOM", text="INC-1 declared")["ts"]
    text, blocks = ub.update_message(
        ref="INC-1", title="Checkout", severity="sev1", status="identified", summary="Bad deploy", author="U0ANN", at=T0, next_at=None,
    )
    posted = messages.post_status_update(client, channel_id="C0INC", text=text, blocks=blocks, announcement=("C0RANDOM", announcement))
    assert posted.problem is None and posted.channel_ts is not None
    [reply] = [m for m in slack.workspace.messages("C0RANDOM") if m.get("thread_ts") == announcement and m["ts"] != announcement]
    assert (reply["ts"], reply["text"]) == (posted.thread_ts, "INC-1 status update (Identified): Bad deploy")
    # An announcement the bot can't reach: the channel post stands, and the person is told.
    missing = messages.post_status_update(client, channel_id="C0INC", text=text, blocks=blocks, announcement=("C0GONE", announcement))
    assert missing.channel_ts is not None and missing.thread_ts is None
    assert missing.problem == "I couldn't add it under the announcement (Slack said `channel_not_found`)."
