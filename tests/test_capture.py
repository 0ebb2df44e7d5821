"""Capture through the real app over signed HTTP: messages, threads, files, edits, deletes,
pins, 📌 reactions, redelivery, and channels with no incident."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.models import EntryEdit, TimelineEntry
from bot.services.export import export_incident
from bot.services.incidents import latest_incident
from bot.timefmt import iso_utc
from bot.timeparse import slack_ts_to_datetime


def entries(app, channel="C0INC"):  # type: ignore[no-untyped-def]
    with app.session_factory() as s:
        return list(s.scalars(select(TimelineEntry).where(TimelineEntry.channel_id == channel).order_by(TimelineEntry.at, TimelineEntry.id)))


def export(app, channel="C0INC"):  # type: ignore[no-untyped-def]
    with app.session_factory() as s:
        return export_incident(s, latest_incident(s, channel_id=channel))


def start(app, channel="C0INC"):  # type: ignore[no-untyped-def]
    reply = app.player.command("U0ANN", channel, "start Checkout errors sev2")
    assert reply.status == 200, reply.body
    return reply


def test_nothing_is_stored_from_a_channel_without_an_incident(app) -> None:  # type: ignore[no-untyped-def]
    reply_ts = app.player.say("U0BOB", "C0RANDOM", "lunch?")
    assert reply_ts
    app.player.react("U0ANN", "C0RANDOM", reply_ts)
    with app.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(TimelineEntry)) == 0


def test_message_thread_reply_and_file_are_recorded_with_their_own_time(app) -> None:  # type: ignore[no-untyped-def]
    start(app)
    parent = app.player.say("U0BOB", "C0INC", "Seeing 502s on /checkout")
    reply = app.player.say("U0CHI", "C0INC", "error rate is 30%", thread_ts=parent)
    shared = app.player.say("U0CHI", "C0INC", "dashboard", files=[{"name": "graph.png"}])
    messages = [e for e in entries(app) if e.kind == "message"]
    assert [(m.ts, m.author, m.text, m.thread_ts) for m in messages] == [
        (parent, "U0BOB", "Seeing 502s on /checkout", None),
        (reply, "U0CHI", "error rate is 30%", parent),
        (shared, "U0CHI", "dashboard", None),
    ]
    assert messages[0].at == slack_ts_to_datetime(parent)
    assert messages[2].files[0]["name"] == "graph.png"
    assert messages[2].files[0]["permalink"].startswith("https://")
    timeline = export(app)["timeline"]
    assert [t["at"] for t in timeline if t["kind"] == "message"] == [iso_utc(slack_ts_to_datetime(ts)) for ts in (parent, reply, shared)]
    assert {t["source"] for t in timeline if t["kind"] == "message"} == {"message"}


def test_redelivery_and_duplicate_paths_record_once(app) -> None:  # type: ignore[no-untyped-def]
    start(app)
    ts = app.player.say("U0BOB", "C0INC", "rolling back")
    envelope = app.player.sent_events[-1]
    for retry in (1, 2, 3):
        again = app.player.send_event(envelope["event"], retry_num=retry, retry_reason="http_timeout", event_id=envelope["event_id"])
        assert again.status == 200
    # The same message seen through another path (a new event id, as after a reconnect).
    assert app.player.send_event(envelope["event"]).status == 200
    assert [e.ts for e in entries(app) if e.kind == "message"] == [ts]


def test_edit_keeps_history_and_delete_purges_text(app) -> None:  # type: ignore[no-untyped-def]
    start(app)
    ts = app.player.say("U0CHI", "C0INC", "db pool exhausted?")
    app.player.edit("U0CHI", "C0INC", ts, "DB connection pool exhausted")
    edit_envelope = app.player.sent_events[-1]
    app.player.send_event(edit_envelope["event"], retry_num=1, event_id=edit_envelope["event_id"])
    gone = app.player.say("U0BOB", "C0INC", "my password is hunter2")
    app.player.delete("C0INC", gone)
    recorded = {e.ts: e for e in entries(app)}
    assert recorded[ts].text == "DB connection pool exhausted"
    assert recorded[ts].edited_at is not None
    with app.session_factory() as s:
        edits = list(s.scalars(select(EntryEdit).where(EntryEdit.entry_id == recorded[ts].id)))
    assert [e.previous_text for e in edits] == ["db pool exhausted?"]
    assert recorded[gone].text is None and recorded[gone].deleted_at is not None
    exported = export(app)
    assert "hunter2" not in str(exported)
    assert [t["text"] for t in exported["timeline"] if t["kind"] == "message"] == ["DB connection pool exhausted"]
    assert [t["edited"] for t in exported["timeline"] if t["kind"] == "message"] == [True]


def test_late_redelivery_of_a_deleted_message_does_not_bring_it_back(app) -> None:  # type: ignore[no-untyped-def]
    start(app)
    ts = app.player.say("U0BOB", "C0INC", "secret", deliver=False)
    app.player.delete("C0INC", ts)
    original = {"type": "message", "channel": "C0INC", "user": "U0BOB", "text": "secret", "ts": ts, "channel_type": "channel"}
    assert app.player.send_event(original, retry_num=2).status == 200
    (entry,) = entries(app)[1:]
    assert entry.text is None
    assert "secret" not in str(export(app))


def test_pushpin_reaction_and_pin_mark_key_events_until_removed(app) -> None:  # type: ignore[no-untyped-def]
    start(app)
    ts = app.player.say("U0ANN", "C0INC", "Rolling back v2.3.1")
    app.player.react("U0BOB", "C0INC", ts, name="eyes")
    assert entries(app)[-1].key is False
    app.player.react("U0BOB", "C0INC", ts)
    app.player.pin("U0ANN", "C0INC", ts)
    app.player.react("U0BOB", "C0INC", ts, remove=True)
    assert entries(app)[-1].key is True  # still pinned
    app.player.pin("U0ANN", "C0INC", ts, remove=True)
    assert entries(app)[-1].key is False
    app.player.react("U0CHI", "C0INC", ts)
    assert [t["key"] for t in export(app)["timeline"] if t["kind"] == "message"] == [True]


def test_reaction_on_a_message_from_before_the_incident_records_it_with_its_own_time(app) -> None:  # type: ignore[no-untyped-def]
    early = app.player.say("U0BOB", "C0INC", "is checkout slow for anyone?")
    start(app)
    app.player.react("U0ANN", "C0INC", early)
    (entry,) = [e for e in entries(app) if e.kind == "message"]
    assert (entry.ts, entry.text, entry.source, entry.key) == (early, "is checkout slow for anyone?", "reaction", True)
    assert entry.at == slack_ts_to_datetime(early)


def test_the_bots_own_messages_are_not_recorded(app) -> None:  # type: ignore[no-untyped-def]
    start(app)
    ws = app.api.workspace
    own = {"type": "message", "channel": "C0INC", "user": ws.bot_user_id, "bot_id": ws.bot_id, "text": "INC-1 started", "ts": ws.next_ts()}
    assert app.player.send_event(own).status == 200
    other_bot = {
        "type": "message", "subtype": "bot_message", "channel": "C0INC", "bot_id": "B0PAGER", "username": "PagerDuty",
        "text": "Alert: 5xx > 5%", "ts": ws.next_ts(),
    }
    assert app.player.send_event(other_bot).status == 200
    assert [(e.author, e.text) for e in entries(app) if e.kind == "message"] == [("B0PAGER", "Alert: 5xx > 5%")]


def test_channel_join_and_unknown_events_get_200_and_store_nothing(app) -> None:  # type: ignore[no-untyped-def]
    start(app)
    ws = app.api.workspace
    join = {"type": "message", "subtype": "channel_join", "channel": "C0INC", "user": "U0CHI", "text": "<@U0CHI> has joined", "ts": ws.next_ts()}
    assert app.player.send_event(join).status == 200
    assert app.player.send_event({"type": "emoji_changed", "subtype": "add", "name": "party"}).status == 200
    assert [e.kind for e in entries(app)] == ["declared"]


def test_capture_stops_when_the_incident_is_closed(app) -> None:  # type: ignore[no-untyped-def]
    start(app)
    app.player.say("U0BOB", "C0INC", "before close")
    assert app.player.command("U0ANN", "C0INC", "close").status == 200
    app.player.say("U0BOB", "C0INC", "after close")
    assert [e.text for e in entries(app) if e.kind == "message"] == ["before close"]
