"""Curating the timeline by clicking, through the real app and the simulator over HTTP:
"Add to timeline", the menu on `/incident timeline` entries (Edit, Hide / Show, Delete),
who may, stale forms, bad times, and what the draft and the export make of it all."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.markup import neutralize_mentions
from bot.models import EntryRevision, TimelineEntry
from bot.services.curation import STALE
from bot.services.export import export_incident
from bot.services.incidents import latest_incident
from bot.slack.blocks import curation as cb
from tests.conftest import cmd, start_app

UTC = UTC


@pytest.fixture
def capp(clocked_app):  # type: ignore[no-untyped-def]
    return clocked_app


def export(app):  # type: ignore[no-untyped-def]
    with app.session_factory() as s:
        return export_incident(s, latest_incident(s, channel_id="C0INC"))


def entry(app, **where):  # type: ignore[no-untyped-def]
    with app.session_factory() as s:
        query = select(TimelineEntry)
        for key, value in where.items():
            query = query.where(getattr(TimelineEntry, key) == value)
        found = s.scalars(query).one()
        s.expunge(found)
        return found


def ephemerals(app):  # type: ignore[no-untyped-def]
    return [e["message"]["text"] for e in app.api.ephemerals]


def posts(app, channel="C0INC"):  # type: ignore[no-untyped-def]
    return [m.get("text", "") for m in app.api.workspace.messages(channel) if m.get("user") == app.api.workspace.bot_user_id]


def last_view(app, callback_id):  # type: ignore[no-untyped-def]
    opened = [c for c in app.api.calls_to("views.open") if c.ok]
    view = opened[-1].params["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["callback_id"] == callback_id
    stored = [v for v in app.api.views.values() if v["callback_id"] == callback_id][-1]
    return view, stored["id"]


def menu(app, user, value):  # type: ignore[no-untyped-def]
    reply = app.player.choose_overflow(user, "C0INC", action_id=cb.ENTRY_MENU, value=value, ephemeral=True)
    assert reply.status == 200, reply.body
    return reply


# -- Add to timeline ---------------------------------------------------------------------------------


def test_add_to_timeline_marks_the_message_entry_and_a_milestone_sets_ttd(capp, clock) -> None:  # type: ignore[no-untyped-def]
    cmd(capp, "start Checkout errors")
    cmd(capp, "started at 09:50 UTC first 502s")
    clock.advance(minutes=3)
    ts = capp.player.say("U0CHI", "C0INC", "PagerDuty: checkout error rate > 5%")
    clock.advance(minutes=2)

    reply = capp.player.message_shortcut("U0BOB", "C0INC", ts, callback_id=cb.SHORTCUT)
    assert (reply.status, reply.body) == (200, "")
    view, view_id = last_view(capp, cb.MARK_VIEW)
    assert view["title"]["text"] == "Add to timeline"
    # Prefilled with the message's text, author and its own time in Bob's zone (New York).
    assert view["blocks"][0]["elements"][0]["text"] == "Message from <@U0CHI> at 2026-11-23 05:03 America/New_York"
    assert view["blocks"][2]["element"]["initial_value"] == "PagerDuty: checkout error rate > 5%"
    metadata = json.loads(view["private_metadata"])
    assert metadata["e"] == entry(capp, ts=ts).id

    done = capp.player.submit_view("U0BOB", callback_id=cb.MARK_VIEW, view_id=view_id, values={
        "kind": {"kind": {"type": "static_select", "selected_option": {"value": "detected"}}},
        "text": "PagerDuty paged: error rate > 5%",
    })
    assert (done.status, done.body) == (200, "")
    marked = entry(capp, ts=ts)
    # The message's own entry, not a copy; its time is the message's.
    assert (marked.kind, marked.key_kind, marked.key, marked.text) == ("message", "detected", True, "PagerDuty paged: error rate > 5%")
    assert marked.at == datetime(2026, 11, 23, 10, 3, tzinfo=UTC)
    data = export(capp)
    assert data["incident"]["detected_at"] == "2026-11-23T10:03:00Z"
    assert data["metrics"]["time_to_detect_s"] == 13 * 60.0
    assert len([e for e in data["timeline"] if e["ts"] == ts]) == 1
    capp.api.wait_for(lambda api: any("added a <https://slack.com/archives/C0INC/p" in t for t in posts(capp)))
    assert posts(capp)[-1].endswith("to the timeline as *Milestone: detected*: PagerDuty paged: error rate > 5% (now TTD 13 min)")
    with capp.session_factory() as s:
        revisions = [(r.field, r.old_value, r.new_value, r.changed_by) for r in s.scalars(select(EntryRevision).order_by(EntryRevision.id))]
    assert revisions == [("key_kind", None, "detected", "U0BOB"),
                         ("text", "PagerDuty: checkout error rate > 5%", "PagerDuty paged: error rate > 5%", "U0BOB")]


def test_add_to_timeline_records_a_message_from_before_the_incident(capp, clock) -> None:  # type: ignore[no-untyped-def]
    capp.api.workspace.join("C0INC", capp.api.workspace.bot_user_id)
    ts = capp.player.say("U0ANN", "C0INC", "deploy v2.3.1 started", deliver=False)
    clock.advance(minutes=5)
    cmd(capp, "start Checkout errors")
    capp.player.message_shortcut("U0ANN", "C0INC", ts, callback_id=cb.SHORTCUT)
    _, view_id = last_view(capp, cb.MARK_VIEW)
    capp.player.submit_view("U0ANN", callback_id=cb.MARK_VIEW, view_id=view_id, values={
        "kind": {"kind": {"type": "static_select", "selected_option": {"value": "finding"}}}, "text": "deploy v2.3.1 started"})
    found = entry(capp, ts=ts)
    assert (found.source, found.key_kind, found.at) == ("shortcut", "finding", datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    markdown = draft(capp)
    assert "| 2026-11-23 10:00:00 | 🔍 Finding | ann | deploy v2.3.1 started |" in markdown
    assert "- `10:00:00` **ann**: deploy v2.3.1 started 📌" in markdown  # and it stays in the communication log


def test_shortcut_outside_an_incident_on_the_bots_post_and_on_a_deleted_message(capp, clock) -> None:  # type: ignore[no-untyped-def]
    ws = capp.api.workspace
    ws.join("C0RANDOM", ws.bot_user_id)
    ts = capp.player.say("U0ANN", "C0RANDOM", "lunch?")
    capp.player.message_shortcut("U0ANN", "C0RANDOM", ts, callback_id=cb.SHORTCUT)
    capp.api.wait_for(lambda api: api.ephemerals)
    assert ephemerals(capp)[-1].startswith(":x: This channel has no open incident")
    assert "`/incident declare <title>` (or `/incident start <title>`)" in ephemerals(capp)[-1]

    cmd(capp, "start Checkout errors")
    bot_ts = capp.player.say("U0ANN", "C0INC", "x")
    own = ws.post("C0INC", {"user": ws.bot_user_id, "bot_id": ws.bot_id, "text": ":memo: *Note* recorded: x"})  # one of the bot's posts
    capp.player.message_shortcut("U0ANN", "C0INC", own["ts"], callback_id=cb.SHORTCUT)
    capp.api.wait_for(lambda api: len(api.ephemerals) >= 2)
    assert ephemerals(capp)[-1].startswith(":x: That's one of my own posts")

    gone = dict(ws.message("C0INC", bot_ts))
    capp.player.delete("C0INC", bot_ts)
    capp.player.message_shortcut("U0ANN", "C0INC", bot_ts, callback_id=cb.SHORTCUT, message=gone)
    capp.api.wait_for(lambda api: len(api.ephemerals) >= 3)
    assert ephemerals(capp)[-1] == ":x: That message was deleted, so it can't be added to the timeline."
    assert [c for c in capp.api.calls_to("views.open") if c.ok] == []


def test_an_expired_trigger_is_told_and_nothing_opens(capp, clock) -> None:  # type: ignore[no-untyped-def]
    cmd(capp, "start Checkout errors")
    ts = capp.player.say("U0ANN", "C0INC", "rolling back")
    original = capp.api._methods.trigger_clock
    offsets = iter([0.0])  # issued now; by the time the app calls views.open, 4 s have passed
    capp.api._methods.trigger_clock = lambda: original() + next(offsets, 4.0)
    try:
        capp.player.message_shortcut("U0ANN", "C0INC", ts, callback_id=cb.SHORTCUT)
    finally:
        capp.api._methods.trigger_clock = original
    assert [c.response["error"] for c in capp.api.calls_to("views.open")] == ["expired_trigger_id"]
    capp.api.wait_for(lambda api: api.ephemerals)
    assert ephemerals(capp)[-1] == ":x: Slack took too long to let me open the form. Please try again."


# -- the menu on each entry ------------------------------------------------------------------------


def draft(app):  # type: ignore[no-untyped-def]
    from bot.services.postmortem import draft_postmortem

    with app.session_factory.begin() as s:
        incident = latest_incident(s, channel_id="C0INC")
        return draft_postmortem(s, incident, settings=app.settings, now=datetime(2026, 11, 23, 12, tzinfo=UTC), user_id="U0ANN").markdown


def test_timeline_lists_entries_with_a_menu_each(capp, clock) -> None:  # type: ignore[no-untyped-def]
    cmd(capp, "start Checkout errors")
    cmd(capp, "finding pool exhausted")
    capp.player.say("U0CHI", "C0INC", "error rate 31%")
    body = cmd(capp, "timeline")
    sections = [b for b in body["blocks"] if b.get("accessory")]
    assert len(sections) == 3
    finding = sections[1]
    assert finding["text"]["text"] == "`11-23 10:00:00` *Finding* — <@U0ANN>: pool exhausted"
    found = entry(capp, kind="finding")
    assert [o["value"] for o in finding["accessory"]["options"]] == [f"edit:{found.id}:1", f"hide:{found.id}", f"delete:{found.id}:1"]
    # A captured message can't be deleted from here (delete it in Slack); the declaration neither.
    assert [o["text"]["text"] for o in sections[2]["accessory"]["options"]] == ["Edit", "Hide from the postmortem"]
    assert [o["text"]["text"] for o in sections[0]["accessory"]["options"]] == ["Edit", "Hide from the postmortem"]


def test_timeline_stays_within_50_blocks() -> None:
    lines = [cb.EntryLine(id=i, version=1, at=datetime(2026, 11, 23, 10, tzinfo=UTC), label="Note", author="U1", text=f"n{i}",
                          key=False, hidden=False, deletable=True, corrected_by=None) for i in range(1, 121)]
    text, blocks = cb.timeline_message("INC-1", lines, "/incident")
    assert len(blocks) == 50
    assert blocks[1]["elements"][0]["text"].startswith("The 72 older entries are left out here")
    assert blocks[-1]["block_id"] == "entry:120" and blocks[2]["block_id"] == "entry:73"
    assert text.count("\n• ") == 120


def test_the_delete_confirmation_quotes_a_long_entry_within_slacks_limits() -> None:
    modal = cb.delete_modal(entry_id=7, version=3, label="Note", author=None, text="x" * 5000 + "\nlast", at=datetime(2026, 11, 23, 10, tzinfo=UTC), zone=UTC)
    quote = modal["blocks"][1]["text"]["text"]
    assert len(quote) <= 3000 and quote.startswith("> xxx") and quote.endswith("…")
    assert modal["blocks"][0]["elements"][0]["text"] == "*Note* by unknown at 2026-11-23 10:00 UTC"
    assert json.loads(modal["private_metadata"]) == {"e": 7, "v": 3}
    assert cb.delete_modal(
        entry_id=7, version=1, label="Note", author="U1", text="", at=datetime(2026, 11, 23, 10, tzinfo=UTC), zone=UTC,
    )["blocks"][1]["text"]["text"] == "> _(no text)_"


def test_editing_a_mistyped_detected_time_recomputes_ttd_and_shows_in_the_draft(capp, clock) -> None:  # type: ignore[no-untyped-def]
    cmd(capp, "start Checkout errors")
    cmd(capp, "started at 09:00 UTC first 502s")
    cmd(capp, "detected at 09:55 UTC PagerDuty fired", user="U0BOB")
    assert export(capp)["metrics"]["time_to_detect_s"] == 55 * 60.0
    detected = entry(capp, kind="detected")

    menu(capp, "U0BOB", f"edit:{detected.id}:{detected.version}")
    view, view_id = last_view(capp, cb.EDIT_VIEW)
    assert view["title"]["text"] == "Edit timeline entry"
    assert view["blocks"][2]["element"]["initial_value"] == "2026-11-23 04:55 America/New_York"

    # Unreadable, future, and before the start: under the field, nothing changes.
    for typed, error in (
        ("yesterday-ish", "'yesterday-ish' is not a time I understand"),
        ("2026-11-23 11:00 UTC", "'2026-11-23 11:00 UTC' is in the future"),
        ("08:30 UTC", "That would put detected (2026-11-23T08:30:00Z) before started (2026-11-23T09:00:00Z)."),
    ):
        bad = capp.player.submit_view("U0BOB", callback_id=cb.EDIT_VIEW, view_id=view_id, values={"text": "PagerDuty fired", "at": typed})
        assert bad.json()["response_action"] == "errors"
        assert bad.json()["errors"]["at"].startswith(error), bad.json()
    assert entry(capp, kind="detected").version == detected.version
    assert export(capp)["incident"]["detected_at"] == "2026-11-23T09:55:00Z"

    good = capp.player.submit_view("U0BOB", callback_id=cb.EDIT_VIEW, view_id=view_id, values={"text": "PagerDuty fired", "at": "04:05"})
    assert (good.status, good.body) == (200, "")
    data = export(capp)
    assert data["incident"]["detected_at"] == "2026-11-23T09:05:00Z"
    assert data["metrics"]["time_to_detect_s"] == 5 * 60.0
    capp.api.wait_for(lambda api: any(t.startswith(":pencil2:") for t in posts(capp)))
    assert posts(capp)[-1] == (":pencil2: <@U0BOB> corrected a *Detected* entry of INC-1: time from 2026-11-23T09:55:00Z "
                               "to 2026-11-23T09:05:00Z (now TTD 5 min).")
    markdown = draft(capp)
    assert "| 2026-11-23 09:05:00 | 🔔 Detected | bob | PagerDuty fired _(edited by bob)_ |" in markdown

    # The same form again is stale now: refused, nothing lost.
    stale = capp.player.submit_view("U0BOB", callback_id=cb.EDIT_VIEW, view_id=view_id, values={"text": "PagerDuty", "at": "04:06"})
    assert stale.json()["errors"]["text"].startswith("This entry changed since you opened it.")
    assert export(capp)["incident"]["detected_at"] == "2026-11-23T09:05:00Z"
    with capp.session_factory() as s:
        revisions = [(r.field, r.old_value, r.new_value, r.changed_by) for r in s.scalars(select(EntryRevision))]
    assert revisions == [("at", "2026-11-23T09:55:00Z", "2026-11-23T09:05:00Z", "U0BOB")]


def test_only_author_lead_or_starter_may_correct(capp, clock) -> None:  # type: ignore[no-untyped-def]
    cmd(capp, "start Checkout errors")
    cmd(capp, "role lead <@U0BOB|bob>")
    cmd(capp, "hypothesis connection leak", user="U0CHI")
    capp.api.workspace.add_user("U0DAN", name="dan", real_name="Dan Roe", tz="UTC")
    hypothesis = entry(capp, kind="hypothesis")
    menu(capp, "U0DAN", f"hide:{hypothesis.id}")
    capp.api.wait_for(lambda api: api.ephemerals)
    assert ephemerals(capp)[-1] == (":x: Only its author (<@U0CHI>), the incident lead (<@U0BOB>) or the person who started INC-1 "
                                    "(<@U0ANN>) can hide or show this entry.")
    menu(capp, "U0DAN", f"edit:{hypothesis.id}:1")
    capp.api.wait_for(lambda api: len(api.ephemerals) >= 2)
    assert "can edit this entry." in ephemerals(capp)[-1]
    # Refused before any confirmation opens.
    menu(capp, "U0DAN", f"delete:{hypothesis.id}:1")
    capp.api.wait_for(lambda api: len(api.ephemerals) >= 3)
    assert ephemerals(capp)[-1].endswith("(<@U0ANN>) can delete this entry.")
    assert [c for c in capp.api.calls_to("views.open") if c.ok] == []
    assert entry(capp, kind="hypothesis").hidden is False
    for user in ("U0CHI", "U0BOB"):
        menu(capp, user, f"hide:{hypothesis.id}" if user == "U0CHI" else f"show:{hypothesis.id}")
    assert entry(capp, kind="hypothesis").hidden is False
    assert ephemerals(capp)[-2:] == [":white_check_mark: Entry hidden from the postmortem (INC-1).",
                                     ":white_check_mark: Entry shown in the postmortem again (INC-1)."]


def test_anyone_may_correct_with_privileged_actions_anyone(database_url, slack, clock) -> None:  # type: ignore[no-untyped-def]
    slack.workspace.clock = lambda: clock().timestamp()
    running = start_app(database_url, slack, clock=clock, privileged_actions="anyone")
    try:
        cmd(running, "start Checkout errors")
        cmd(running, "note typo here", user="U0ANN")
        note = entry(running, kind="note")
        menu(running, "U0CHI", f"delete:{note.id}:1")
        _, view_id = last_view(running, cb.DELETE_VIEW)
        done = running.player.submit_view("U0CHI", callback_id=cb.DELETE_VIEW, view_id=view_id, values={})
        assert done.json()["view"]["blocks"][0]["text"]["text"] == ":white_check_mark: Entry deleted (INC-1)."
        assert entry(running, kind="note").deleted_at is not None
    finally:
        running.stop()


def test_hidden_entries_leave_the_draft_but_stay_in_the_export_marked(capp, clock) -> None:  # type: ignore[no-untyped-def]
    cmd(capp, "start Checkout errors")
    cmd(capp, "hypothesis it's DNS")
    cmd(capp, "finding pool exhausted")
    hypothesis = entry(capp, kind="hypothesis")
    menu(capp, "U0ANN", f"hide:{hypothesis.id}")
    markdown = draft(capp)
    assert "pool exhausted" in markdown and "it's DNS" not in markdown
    timeline = {e["kind"]: e for e in export(capp)["timeline"]}
    assert (timeline["hypothesis"]["hidden"], timeline["finding"]["hidden"]) == (True, False)
    shown = cmd(capp, "timeline")
    line = next(b for b in shown["blocks"] if b.get("block_id") == f"entry:{hypothesis.id}")
    assert "_(hidden from the postmortem)_" in line["text"]["text"]
    assert [o["text"]["text"] for o in line["accessory"]["options"]][1] == "Show again"


def confirm_delete(app, user):  # type: ignore[no-untyped-def]
    """Press Delete on the confirmation the menu opened last; what the form turned into."""
    _, view_id = last_view(app, cb.DELETE_VIEW)
    reply = app.player.submit_view(user, callback_id=cb.DELETE_VIEW, view_id=view_id, values={})
    assert reply.status == 200, reply.body
    answer = reply.json()
    assert answer["response_action"] == "update"
    return answer["view"]["title"]["text"], answer["view"]["blocks"][0]["text"]["text"]


def ask_to_delete_a_note(app, text):  # type: ignore[no-untyped-def]
    """Start an incident, note `text`, choose Delete on it: (the entry, the form opened, its view id)."""
    cmd(app, "start Checkout errors")
    cmd(app, f"note {text}")
    note = entry(app, kind="note")
    menu(app, "U0ANN", f"delete:{note.id}:1")
    view, view_id = last_view(app, cb.DELETE_VIEW)
    return note, view, view_id


def test_delete_asks_first_quoting_the_entry_and_nothing_goes_until_confirmed(capp, clock) -> None:  # type: ignore[no-untyped-def]
    note, view, _ = ask_to_delete_a_note(capp, "restarted <@U0BOB> by mistake\nsecond line")
    assert (view["title"]["text"], view["submit"]["text"], view["close"]["text"]) == ("Delete timeline entry?", "Delete", "Cancel")
    assert json.loads(view["private_metadata"]) == {"e": note.id, "v": 1}
    assert view["blocks"][0]["elements"][0]["text"] == "*Note* by <@U0ANN> at 2026-11-23 11:00 Europe/Berlin"  # in her own zone
    # Quoted line by line, with the mention shown but not pinging anyone.
    assert view["blocks"][1]["text"]["text"] == f"> restarted {neutralize_mentions('<@U0BOB>')} by mistake\n> second line"
    # Cancel (or just closing the form) sends nothing: the entry is untouched.
    assert entry(capp, id=note.id).deleted_at is None and entry(capp, id=note.id).text.startswith("restarted")
    assert capp.api.ephemerals == []


def test_a_confirmation_left_open_while_the_entry_is_edited_deletes_nothing(capp, clock) -> None:  # type: ignore[no-untyped-def]
    note, _, delete_view = ask_to_delete_a_note(capp, "disk full on db-1")
    menu(capp, "U0ANN", f"edit:{note.id}:1")
    _, edit_view = last_view(capp, cb.EDIT_VIEW)
    saved = capp.player.submit_view("U0ANN", callback_id=cb.EDIT_VIEW, view_id=edit_view, values={"text": "disk full on db-2", "at": "10:00"})
    assert saved.status == 200 and saved.body in (b"", "")
    reply = capp.player.submit_view("U0ANN", callback_id=cb.DELETE_VIEW, view_id=delete_view, values={})
    answer = reply.json()
    assert (answer["response_action"], answer["view"]["title"]["text"]) == ("update", "Not deleted")
    assert answer["view"]["blocks"][0]["text"]["text"] == f":x: {STALE}"
    assert (entry(capp, id=note.id).text, entry(capp, id=note.id).deleted_at) == ("disk full on db-2", None)


def test_delete_keeps_a_tombstone_and_a_deleted_milestone_gives_back_the_earlier_time(capp, clock) -> None:  # type: ignore[no-untyped-def]
    cmd(capp, "start Checkout errors")
    cmd(capp, "mitigated at 09:40 UTC rollback")
    cmd(capp, "mitigated at 09:50 UTC typo")
    assert export(capp)["incident"]["mitigated_at"] == "2026-11-23T09:50:00Z"
    typo = entry(capp, kind="mitigated", text="typo")
    menu(capp, "U0ANN", f"delete:{typo.id}:1")
    assert entry(capp, id=typo.id).deleted_at is None  # only asked so far
    title, text = confirm_delete(capp, "U0ANN")
    assert (title, text) == ("Entry deleted", ":white_check_mark: Entry deleted (INC-1).")
    gone = entry(capp, id=typo.id)
    assert (gone.text, gone.deleted_at is not None) == (None, True)
    assert export(capp)["incident"]["mitigated_at"] == "2026-11-23T09:40:00Z"
    assert "typo" not in json.dumps(export(capp))
    # A captured message can't be deleted from the menu: refused at once, no form opens.
    opened = len(capp.api.calls_to("views.open"))
    ts = capp.player.say("U0ANN", "C0INC", "hello")
    menu(capp, "U0ANN", f"delete:{entry(capp, ts=ts).id}:1")
    capp.api.wait_for(lambda api: api.ephemerals)
    assert ephemerals(capp)[-1].startswith(":x: A captured message is removed by deleting it in Slack")
    # Deleting again: it's gone, whether from the menu or from a second confirmation left open.
    menu(capp, "U0ANN", f"delete:{typo.id}:1")
    capp.api.wait_for(lambda api: len(api.ephemerals) >= 2)
    assert ephemerals(capp)[-1] == ":x: That timeline entry was deleted meanwhile; nothing was changed."
    assert len(capp.api.calls_to("views.open")) == opened
    assert confirm_delete(capp, "U0ANN") == ("Not deleted", ":x: That timeline entry was deleted meanwhile; nothing was changed.")


def test_a_message_in_a_thread_is_edited_text_only_and_a_slack_edit_makes_the_open_form_stale(capp, clock) -> None:  # type: ignore[no-untyped-def]
    cmd(capp, "start Checkout errors")
    parent = capp.player.say("U0CHI", "C0INC", "error rate 31%")
    reply = capp.player.say("U0BOB", "C0INC", "db conections flat", thread_ts=parent)
    message = entry(capp, ts=reply)
    menu(capp, "U0BOB", f"edit:{message.id}:{message.version}")
    view, view_id = last_view(capp, cb.EDIT_VIEW)
    assert [b.get("block_id") for b in view["blocks"] if b["type"] == "input"] == ["text"]  # a message keeps its Slack time
    assert view["blocks"][2]["elements"][0]["text"] == "A message keeps its own time in Slack; only its text can be corrected here."

    capp.player.edit("U0BOB", "C0INC", reply, "DB connections flat at 100/100")  # Bob fixes it in Slack meanwhile
    stale = capp.player.submit_view("U0BOB", callback_id=cb.EDIT_VIEW, view_id=view_id, values={"text": "db connections flat"})
    assert stale.json()["errors"] == {"text": "This entry changed since you opened it. Close this form and open it again to see the current version."}
    assert entry(capp, ts=reply).text == "DB connections flat at 100/100"

    menu(capp, "U0BOB", f"edit:{message.id}:{entry(capp, ts=reply).version}")
    _, view_id = last_view(capp, cb.EDIT_VIEW)
    ok = capp.player.submit_view("U0BOB", callback_id=cb.EDIT_VIEW, view_id=view_id, values={"text": "DB connections flat at 100/100 (pool max)"})
    assert (ok.status, ok.body) == (200, "")
    fixed = entry(capp, ts=reply)
    assert (fixed.text, fixed.corrected_by, fixed.at, fixed.thread_ts) == ("DB connections flat at 100/100 (pool max)", "U0BOB", message.at, parent)

    # The shortcut works on the thread reply too: it marks the same entry.
    capp.player.message_shortcut("U0ANN", "C0INC", reply, callback_id=cb.SHORTCUT)
    _, view_id = last_view(capp, cb.MARK_VIEW)
    capp.player.submit_view("U0ANN", callback_id=cb.MARK_VIEW, view_id=view_id, values={
        "kind": {"kind": {"type": "static_select", "selected_option": {"value": "decision"}}}, "text": "DB connections flat at 100/100 (pool max)"})
    assert entry(capp, ts=reply).key_kind == "decision"
    # Mitigated before detected is refused under the kind, nothing changes.
    cmd(capp, "detected at 09:59 UTC alarm")
    early = capp.player.say("U0ANN", "C0INC", "x")
    with capp.session_factory.begin() as s:
        row = s.scalars(select(TimelineEntry).where(TimelineEntry.ts == early)).one()
        row.at = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    capp.player.message_shortcut("U0ANN", "C0INC", early, callback_id=cb.SHORTCUT)
    _, view_id = last_view(capp, cb.MARK_VIEW)
    bad = capp.player.submit_view("U0ANN", callback_id=cb.MARK_VIEW, view_id=view_id, values={
        "kind": {"kind": {"type": "static_select", "selected_option": {"value": "mitigated"}}}, "text": "x"})
    assert bad.json()["errors"]["kind"].startswith("That would put mitigated (2026-11-23T09:30:00Z) before detected (2026-11-23T09:59:00Z).")
    assert export(capp)["incident"]["mitigated_at"] is None


def settle(app) -> None:  # type: ignore[no-untyped-def]
    """Wait until the lazy listeners of the requests made so far have run (announcements…)."""
    assert app.runtime.app.scribe.after_ack.wait_idle(30)


def test_editing_only_the_text_keeps_the_exact_time_and_tells_the_channel_text(capp, clock) -> None:  # type: ignore[no-untyped-def]
    cmd(capp, "start Checkout errors")
    cmd(capp, "started at 09:00 UTC first 502s")
    clock.advance(seconds=7.654321)
    cmd(capp, "detected PagerDuty fired", user="U0BOB")
    detected = entry(capp, kind="detected")
    assert detected.at == datetime(2026, 11, 23, 10, 0, 7, 654321, tzinfo=UTC)

    menu(capp, "U0BOB", f"edit:{detected.id}:{detected.version}")
    view, view_id = last_view(capp, cb.EDIT_VIEW)
    shown = view["blocks"][2]["element"]["initial_value"]
    assert shown == "2026-11-23 05:00:07 America/New_York"  # whole seconds, in Bob's zone
    done = capp.player.submit_view("U0BOB", callback_id=cb.EDIT_VIEW, view_id=view_id, values={"text": "PagerDuty fired: 5xx > 5%", "at": shown})
    assert (done.status, done.body) == (200, "")
    fixed = entry(capp, kind="detected")
    assert (fixed.text, fixed.at, fixed.version) == ("PagerDuty fired: 5xx > 5%", detected.at, detected.version + 1)
    data = export(capp)
    assert data["incident"]["detected_at"] == "2026-11-23T10:00:07.654321Z"
    assert data["metrics"]["time_to_detect_s"] == 3607.654321
    capp.api.wait_for(lambda api: any(t.startswith(":pencil2:") for t in posts(capp)))
    assert posts(capp)[-1] == ":pencil2: <@U0BOB> corrected a *Detected* entry of INC-1: text."
    with capp.session_factory() as s:
        revisions = [(r.field, r.old_value, r.new_value) for r in s.scalars(select(EntryRevision))]
    assert revisions == [("text", "PagerDuty fired", "PagerDuty fired: 5xx > 5%")]

    # A form from before forms carried the time they showed: the second shown, typed back, is the stored time too.
    menu(capp, "U0BOB", f"edit:{fixed.id}:{fixed.version}")
    _, view_id = last_view(capp, cb.EDIT_VIEW)
    old_form = json.dumps({"e": fixed.id, "v": fixed.version})
    again = capp.player.submit_view("U0BOB", callback_id=cb.EDIT_VIEW, view_id=view_id, private_metadata=old_form,
                                    values={"text": "PagerDuty fired: 5xx > 6%", "at": "05:00:07"})
    assert (again.status, again.body) == (200, "")
    assert (entry(capp, kind="detected").at, entry(capp, kind="detected").text) == (detected.at, "PagerDuty fired: 5xx > 6%")


def _record_every_kind_of_entry(app, clock) -> None:  # type: ignore[no-untyped-def]
    """An incident whose timeline has an entry of every kind, each at a time with microseconds."""
    def later() -> None:
        clock.advance(seconds=1.234567)

    ws = app.api.workspace
    cmd(app, "start Checkout errors sev2")
    for text in ("started at 09:50 UTC first 502s", "detected PagerDuty fired", "note lunch ordered", "finding pool exhausted",
                 "hypothesis connection leak", "mitigation rolling back", "decision roll back, don't scale", "rootcause leak on the error path",
                 "status Rolling back now", "severity sev1", "title Checkout 502s", "role lead <@U0BOB|bob>",
                 "action Add a pool alert <@U0CHI|chi> due 2026-12-01", "update investigating Rolling back next 30m",
                 "mitigated rollback done"):
        later()
        cmd(app, text)
    later()
    ts = app.player.say("U0CHI", "C0INC", "error rate 31% &gt; 5%")
    later()
    app.player.say("U0BOB", "C0INC", "DB connections flat at 100/100", thread_ts=ts)
    later()
    pinned = app.player.say("U0BOB", "C0INC", "Rolling back to v2.3.0")
    app.player.react("U0CHI", "C0INC", pinned, name="pushpin")
    later()
    marked = app.player.say("U0CHI", "C0INC", "the pool never recovers")
    app.player.message_shortcut("U0ANN", "C0INC", marked, callback_id=cb.SHORTCUT)
    _, view_id = last_view(app, cb.MARK_VIEW)
    app.player.submit_view("U0ANN", callback_id=cb.MARK_VIEW, view_id=view_id, values={
        "kind": {"kind": {"type": "static_select", "selected_option": {"value": "finding"}}}, "text": "The pool never recovers"})
    later()
    milestone = app.player.say("U0BOB", "C0INC", "error rate back to 0.4%")
    app.player.message_shortcut("U0ANN", "C0INC", milestone, callback_id=cb.SHORTCUT)
    _, view_id = last_view(app, cb.MARK_VIEW)
    app.player.submit_view("U0ANN", callback_id=cb.MARK_VIEW, view_id=view_id, values={
        "kind": {"kind": {"type": "static_select", "selected_option": {"value": "mitigated"}}}, "text": "error rate back to 0.4%"})
    later()
    cmd(app, "resolved error rate normal for 25 minutes")
    later()
    cmd(app, "close")
    assert ws.messages("C0INC")


def _everything(app):  # type: ignore[no-untyped-def]
    """What a save could change: every entry's fields, the incident's times, the revisions."""
    from bot.models import Incident

    with app.session_factory() as s:
        entries = [(e.id, e.kind, e.source, e.at, e.text, e.version, e.key, e.key_kind, e.hidden, e.corrected_by, e.deleted_at)
                   for e in s.scalars(select(TimelineEntry).order_by(TimelineEntry.id))]
        incident = s.scalars(select(Incident)).one()
        times = (incident.started_at, incident.detected_at, incident.mitigated_at, incident.resolved_at, incident.closed_at)
        revisions = [(r.id, r.field, r.old_value, r.new_value) for r in s.scalars(select(EntryRevision).order_by(EntryRevision.id))]
    return entries, times, revisions


def test_every_edit_form_saved_as_shown_changes_nothing(capp, clock) -> None:  # type: ignore[no-untyped-def]
    _record_every_kind_of_entry(capp, clock)
    settle(capp)
    entries, _times, _revisions = before = _everything(capp)
    kinds = {(kind, source) for _, kind, source, *_ in entries}
    assert {k for k, _ in kinds} >= {"declared", "started", "detected", "mitigated", "resolved", "closed", "note", "finding", "hypothesis",
                                     "mitigation", "decision", "rootcause", "status", "severity", "title", "role", "action", "update", "message"}
    assert [e[7] for e in entries if e[1] == "message" and e[7]] == ["finding", "mitigated"]  # marked with Add to timeline
    assert any(e[3].microsecond for e in entries if e[2] == "command") and any(e[3].microsecond for e in entries if e[1] == "message")
    posted = len(capp.api.calls_to("chat.postMessage"))

    for entry_id, kind, source, *_ in entries:
        version = next(e[5] for e in entries if e[0] == entry_id)
        menu(capp, "U0ANN", f"edit:{entry_id}:{version}")
        view, view_id = last_view(capp, cb.EDIT_VIEW)
        assert json.loads(view["private_metadata"])["e"] == entry_id
        assert [b["block_id"] for b in view["blocks"] if b["type"] == "input"] == (["text", "at"] if source == "command" else ["text"]), kind
        saved = capp.player.submit_view_as_shown("U0ANN", view_id=view_id)
        assert (saved.status, saved.body) == (200, ""), (kind, saved.body)  # the form closes, no error under a field
        settle(capp)
        assert _everything(capp) == before, kind

    assert len(capp.api.calls_to("chat.postMessage")) == posted  # the channel heard of no correction
    assert capp.api.ephemerals == []


def test_a_milestone_cant_be_moved_before_the_incident_began_when_no_start_was_recorded(capp, clock) -> None:  # type: ignore[no-untyped-def]
    cmd(capp, "start Checkout errors")  # declared 10:00 UTC; no `started`
    clock.advance(minutes=10)
    cmd(capp, "detected PagerDuty fired", user="U0CHI")
    detected = entry(capp, kind="detected")
    menu(capp, "U0CHI", f"edit:{detected.id}:{detected.version}")
    _, view_id = last_view(capp, cb.EDIT_VIEW)
    bad = capp.player.submit_view("U0CHI", callback_id=cb.EDIT_VIEW, view_id=view_id, values={"text": "PagerDuty fired", "at": "09:50"})
    assert bad.json() == {"response_action": "errors", "errors": {"at": (
        "That would put detected (2026-11-23T09:50:00Z) before the incident began: it was declared at 2026-11-23T10:00:00Z, and no start "
        "was recorded. Check the time, or first record when the impact started with `/incident started at <time>`.")}}
    data = export(capp)
    assert (data["incident"]["detected_at"], data["metrics"]["time_to_detect_s"]) == ("2026-11-23T10:10:00Z", 600.0)
    assert entry(capp, kind="detected").version == detected.version

    # Once the start is recorded, the same save is fine: TTD counts from it.
    cmd(capp, "started at 09:40 UTC")
    good = capp.player.submit_view("U0CHI", callback_id=cb.EDIT_VIEW, view_id=view_id, values={"text": "PagerDuty fired", "at": "09:50"})
    assert (good.status, good.body) == (200, "")
    data = export(capp)
    assert (data["incident"]["detected_at"], data["metrics"]["time_to_detect_s"]) == ("2026-11-23T09:50:00Z", 600.0)


def test_0005_downgrades_and_upgrades(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from alembic import command
    from sqlalchemy import create_engine, inspect

    from bot.db import alembic_config, upgrade

    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    command.downgrade(alembic_config(url), "0005_curation-1")
    engine = create_engine(url)
    assert not {"hidden", "key_kind", "version", "corrected_by"} & {c["name"] for c in inspect(engine).get_columns("timeline_entries")}
    assert not {"entry_revisions", "home_tabs"} & set(inspect(engine).get_table_names())
    engine.dispose()
    upgrade(url)
    engine = create_engine(url)
    assert {"hidden", "key_kind", "version", "corrected_by"} <= {c["name"] for c in inspect(engine).get_columns("timeline_entries")}
    engine.dispose()
