"""`/incident declare`, the Declare modal, private incidents, the announcement and the closing line,
through the real app over HTTP against the Slack simulator, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from bot.models import Announcement, Declaration, Incident, OutboxItem, TimelineEntry
from bot.outbox import kinds, store
from bot.services import announcements
from tests.conftest import start_app

DAY = "20261123"  # the test clock's date


@pytest.fixture
def declaring(database_url: str, slack, clock):  # type: ignore[no-untyped-def]
    slack.workspace.add_channel("C0GENERAL", name="general", members={"U0ANN", "U0BOB", "U0CHI"})
    slack.workspace.add_channel("C0ANNOUNCE", name="incidents")
    running = start_app(database_url, slack, clock=clock, announce_channel="#incidents")
    yield running
    running.stop()


def replies_to(api: Any, user: str, word: str) -> list[str]:
    """Private replies (response_url ephemerals and DMs) to `user` containing `word`."""
    texts = [str(e["message"].get("text")) for e in api.ephemerals if e["user"] == user]
    dm = api.workspace.channels.get(f"D{user}")
    texts += [m.get("text", "") for m in (api.workspace.messages(dm.id) if dm else [])]
    return [t for t in texts if word in t]


def wait_reply(api: Any, user: str, word: str) -> str:
    return api.wait_for(lambda a: replies_to(a, user, word), timeout=15)[0]


def bot_posts(api: Any, channel: str) -> list[dict[str, Any]]:
    return [m for m in api.workspace.messages(channel) if m.get("user") == api.workspace.bot_user_id]


def incident_channel(api: Any, name: str):  # type: ignore[no-untyped-def]
    return api.workspace.channel_by_name(name)


def test_declare_from_general_creates_the_channel_invites_announces_and_records(declaring) -> None:  # type: ignore[no-untyped-def]
    api, player = declaring.api, declaring.player
    ack = player.command("U0ANN", "C0GENERAL", "declare Checkout returns 502 (EU) sev1 <@U0BOB|bob>")
    assert ack.status == 200 and "Declaring “Checkout returns 502 (EU)”" in ack.json()["text"]
    assert ack.json()["response_type"] == "ephemeral"
    reply = wait_reply(api, "U0ANN", "declared")

    channel = incident_channel(api, f"inc-{DAY}-checkout-returns-502-eu")
    assert channel is not None and not channel.is_private
    assert channel.creator == "U0BOT"
    assert channel.members == {"U0BOT", "U0ANN", "U0BOB"}
    assert channel.topic == "Checkout returns 502 (EU) · sev1 · lead <@U0ANN>"
    assert f"*INC-1 declared* in <#{channel.id}>" in reply and "Invited: <@U0ANN>, <@U0BOB>." in reply
    assert len(api.calls_to("conversations.create")) == 1
    # Nothing was posted in #general: the declare is answered privately.
    assert bot_posts(api, "C0GENERAL") == []

    welcome = bot_posts(api, channel.id)
    assert len(welcome) == 1 and welcome[0]["blocks"][0]["text"]["text"] == ":rotating_light: INC-1: Checkout returns 502 (EU)"
    assert "I'm recording this channel" in str(welcome[0]["blocks"])

    announced = bot_posts(api, "C0ANNOUNCE")
    assert len(announced) == 1
    fields = [f["text"] for f in announced[0]["blocks"][1]["fields"]]
    assert fields[:4] == ["*Severity*\nsev1", "*Status*\n:red_circle: Open", "*Lead*\n<@U0ANN>", f"*Channel*\n<#{channel.id}>"]
    assert fields[4] == "*Started*\n2026-11-23 10:00:00 UTC"
    buttons = [e["action_id"] for e in announced[0]["blocks"][-1]["elements"]]
    assert buttons == ["declare_join", "declare_open_modal"]

    with declaring.session_factory() as s:
        incident = s.scalars(select(Incident)).one()
        assert (incident.channel_id, incident.title, incident.severity, incident.role_holder("lead")) == (
            channel.id, "Checkout returns 502 (EU)", "sev1", "U0ANN",
        )
        assert s.scalars(select(Declaration.status)).one() == "done"
        assert announcements.thread_target(s, incident.id) == ("C0ANNOUNCE", announced[0]["ts"])

    # Recording from the first second: the first message in the new channel is on the timeline.
    ts = player.say("U0BOB", channel.id, "Error rate is 31%")
    with declaring.session_factory() as s:
        assert s.scalars(select(TimelineEntry.text).where(TimelineEntry.ts == ts)).one() == "Error rate is 31%"


def test_the_announcement_is_edited_as_the_incident_changes_and_closing_links_the_postmortem(declaring, clock) -> None:  # type: ignore[no-untyped-def]
    api, player = declaring.api, declaring.player
    player.command("U0ANN", "C0GENERAL", "declare Checkout down sev2")
    wait_reply(api, "U0ANN", "declared")
    channel = incident_channel(api, f"inc-{DAY}-checkout-down")
    [announcement] = bot_posts(api, "C0ANNOUNCE")

    def announcement_text() -> str:
        return str(api.workspace.message("C0ANNOUNCE", announcement["ts"])["blocks"])

    player.command("U0ANN", channel.id, "severity sev1")
    api.wait_for(lambda a: "sev1" in announcement_text())
    assert api.wait_for(lambda a: channel.topic == "Checkout down · sev1 · lead <@U0ANN>")
    player.command("U0ANN", channel.id, "title Checkout down for EU users")
    api.wait_for(lambda a: "Checkout down for EU users" in announcement_text())
    player.command("U0ANN", channel.id, "role lead <@U0BOB>")
    api.wait_for(lambda a: "*Lead*\\n<@U0BOB>" in announcement_text())
    clock.advance(minutes=72)
    player.command("U0BOB", channel.id, "resolved error rate back to baseline")
    api.wait_for(lambda a: "Resolved" in announcement_text())

    closing = api.wait_for(lambda a: [m for m in bot_posts(a, channel.id) if "was resolved" in m.get("text", "")])
    assert closing[0]["text"].startswith(":white_check_mark: *INC-1 was resolved* after 1 h 12 min")
    thread = api.wait_for(lambda a: list(api.workspace.replies("C0ANNOUNCE", announcement["ts"])[1:]))
    assert len(thread) == 1 and "was resolved* after 1 h 12 min" in thread[0]["text"]

    player.command("U0BOB", channel.id, "close")
    api.wait_for(lambda a: ":white_check_mark: Closed" in announcement_text())
    player.command("U0BOB", channel.id, "postmortem")
    api.wait_for(lambda a: "Postmortem: <https://" in api.workspace.message(channel.id, closing[0]["ts"])["text"])
    api.wait_for(lambda a: "Postmortem draft" in announcement_text())
    api.wait_for(lambda a: "Postmortem: <https://sim.slack.com/archives/" in a.workspace.replies("C0ANNOUNCE", announcement["ts"])[1]["text"])

    # One announcement and one closing line each, however many edits.
    assert len(bot_posts(api, "C0ANNOUNCE")) == 2  # the announcement and its threaded closing line
    assert len([m for m in bot_posts(api, channel.id) if "was resolved" in m.get("text", "")]) == 1
    with declaring.session_factory() as s:
        titles = s.scalars(select(TimelineEntry.text).where(TimelineEntry.kind == "title")).all()
    assert titles == ["Title changed from “Checkout down” to “Checkout down for EU users”"]


def modal_values(title: str, *, severity: str | None = None, private: bool = False, people: tuple[str, ...] = (),
                 description: str | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {"title": title}
    if severity:
        values["severity"] = {"severity": {"type": "static_select", "selected_option": {"value": severity}}}
    if description:
        values["description"] = description
    values["private"] = {"private": {"type": "checkboxes", "selected_options": [{"value": "private"}] if private else []}}
    values["people"] = {"people": {"type": "multi_users_select", "selected_users": list(people)}}
    return values


def test_the_shortcut_opens_the_modal_and_a_private_declare_names_nothing_outside_its_channel(declaring) -> None:  # type: ignore[no-untyped-def]
    api, player = declaring.api, declaring.player
    assert player.shortcut("U0ANN", callback_id="declare_incident").status == 200
    [opened] = api.calls_to("views.open")
    view = api.views[opened.response["view"]["id"]]
    assert view["callback_id"] == "declare_incident_modal"
    assert [b["block_id"] for b in view["blocks"]] == ["title", "severity", "description", "private", "people"]

    refused = player.submit_view("U0ANN", callback_id="declare_incident_modal", values=modal_values("   "), view_id=view["id"])
    assert refused.json() == {"response_action": "errors", "errors": {"title": "Give the incident a title, e.g. “Checkout returns 502 for EU users”."}}
    assert api.calls_to("conversations.create") == []

    done = player.submit_view("U0ANN", callback_id="declare_incident_modal", view_id=view["id"],
                              values=modal_values("Payroll export leaks salaries", severity="sev1", private=True, people=("U0CHI",),
                                                  description="Export job writes to a public bucket"))
    assert done.status == 200 and done.body == ""
    reply = wait_reply(api, "U0ANN", "declared")
    channel = incident_channel(api, f"inc-{DAY}-payroll-export-leaks-salaries")
    assert channel.is_private and channel.id.startswith("G") and channel.members == {"U0BOT", "U0ANN", "U0CHI"}
    assert f"<#{channel.id}>" in reply

    [announcement] = bot_posts(api, "C0ANNOUNCE")
    assert announcement["text"] == ":lock: A private incident was declared; ask <@U0ANN>."
    shown = str(announcement)
    assert "Payroll" not in shown and "sev1" not in shown and channel.id not in shown and "declare_join" not in shown
    with declaring.session_factory() as s:
        note = s.scalars(select(TimelineEntry.text).where(TimelineEntry.kind == "note")).one()
        assert note == "Export job writes to a public bucket"
        assert s.scalars(select(Announcement.private)).one() is True
        assert announcements.thread_target(s, 1) is None  # status updates never thread under it

    player.command("U0ANN", channel.id, "severity sev2")
    player.command("U0ANN", channel.id, "resolved")
    api.wait_for(lambda a: len(api.workspace.replies("C0ANNOUNCE", announcement["ts"])) == 2)
    assert api.workspace.replies("C0ANNOUNCE", announcement["ts"])[1]["text"] == ":white_check_mark: The private incident was resolved."
    api.wait_for(lambda a: "was resolved" in api.workspace.message("C0ANNOUNCE", announcement["ts"])["text"])
    # Nowhere outside the private channel (and the declarer's own DM) does the title appear.
    for other in api.workspace.channels.values():
        if other.id not in (channel.id, "DU0ANN"):
            assert "Payroll" not in str(api.workspace.messages(other.id)), other.name


def test_a_double_submitted_modal_makes_one_incident(declaring) -> None:  # type: ignore[no-untyped-def]
    api, player = declaring.api, declaring.player
    player.shortcut("U0BOB", callback_id="declare_incident")
    view_id = api.calls_to("views.open")[0].response["view"]["id"]
    for _ in range(2):
        assert player.submit_view("U0BOB", callback_id="declare_incident_modal", view_id=view_id,
                                  values=modal_values("Search is slow", severity="sev3")).status == 200
    wait_reply(api, "U0BOB", "declared")
    api.wait_for(lambda a: len(bot_posts(a, "C0ANNOUNCE")) == 1)
    with declaring.session_factory() as s:
        assert len(s.scalars(select(Declaration)).all()) == 1
        assert len(s.scalars(select(Incident)).all()) == 1
    assert len(api.calls_to("conversations.create")) == 1
    assert len(replies_to(api, "U0BOB", "declared")) == 1


def test_the_announcements_buttons_join_and_declare(declaring) -> None:  # type: ignore[no-untyped-def]
    api, player = declaring.api, declaring.player
    player.command("U0ANN", "C0GENERAL", "declare Login fails")
    wait_reply(api, "U0ANN", "declared")
    channel = incident_channel(api, f"inc-{DAY}-login-fails")
    [announcement] = bot_posts(api, "C0ANNOUNCE")
    value = announcement["blocks"][-1]["elements"][0]["value"]
    player.click("U0CHI", "C0ANNOUNCE", action_id="declare_join", value=value, message_ts=announcement["ts"])
    assert wait_reply(api, "U0CHI", "You're in") == f":wave: You're in: <#{channel.id}>."
    assert "U0CHI" in channel.members
    player.click("U0CHI", "C0ANNOUNCE", action_id="declare_join", value=value, message_ts=announcement["ts"])
    assert wait_reply(api, "U0CHI", "already") == f"You're already in <#{channel.id}>."

    player.click("U0BOB", "C0ANNOUNCE", action_id="declare_open_modal", value="announce", message_ts=announcement["ts"])
    opened = api.wait_for(lambda a: a.calls_to("views.open"))
    assert opened[0].response["view"]["callback_id"] == "declare_incident_modal"


def test_an_incident_started_in_its_channel_is_announced_too_and_a_private_one_says_nothing(declaring) -> None:  # type: ignore[no-untyped-def]
    api, player = declaring.api, declaring.player
    assert player.command("U0ANN", "C0INC", "start Checkout down sev2").json()["response_type"] == "in_channel"
    announced = api.wait_for(lambda a: bot_posts(a, "C0ANNOUNCE"))
    assert announced[0]["text"] == "INC-1 open: Checkout down (sev2)"
    player.command("U0BOB", "G0PRIV", "start Secret payroll thing")
    api.wait_for(lambda a: len(bot_posts(a, "C0ANNOUNCE")) == 2)
    assert bot_posts(api, "C0ANNOUNCE")[1]["text"] == ":lock: A private incident was declared; ask the person who declared it."
    player.command("U0BOB", "G0PRIV", "role lead <@U0BOB>")
    api.wait_for(lambda a: "ask <@U0BOB>" in api.workspace.message("C0ANNOUNCE", bot_posts(a, "C0ANNOUNCE")[1]["ts"])["text"])
    # A second start in the same channel is refused and announces nothing more.
    player.command("U0ANN", "C0INC", "start Checkout down again")
    player.command("U0ANN", "C0INC", "severity sev1")
    api.wait_for(lambda a: "sev1" in str(api.workspace.message("C0ANNOUNCE", announced[0]["ts"])["blocks"]))
    assert len(bot_posts(api, "C0ANNOUNCE")) == 2


def test_an_announcement_left_half_posted_by_a_dead_process_is_found_or_posted_once(declaring, clock) -> None:  # type: ignore[no-untyped-def]
    api, player = declaring.api, declaring.player
    player.command("U0ANN", "C0GENERAL", "declare Checkout down")
    wait_reply(api, "U0ANN", "declared")
    channel = incident_channel(api, f"inc-{DAY}-checkout-down")
    [posted] = bot_posts(api, "C0ANNOUNCE")

    def die_mid_post() -> None:
        """As a process that claimed the announcement's outbox row and died while posting it
        leaves things: the row claimed (sending) by a worker that is gone, the post unrecorded."""
        with declaring.session_factory.begin() as s:
            row = s.scalars(select(Announcement)).one()
            row.status, row.ts = "posting", None
            post = s.scalars(select(OutboxItem).where(OutboxItem.kind == kinds.ANNOUNCE)).one()
            post.status, post.claimed_by, post.claimed_at = "sending", "dead-host:1:abcdef", clock()

    def announcement_row() -> tuple[str, str | None]:
        with declaring.session_factory() as s:
            row = s.scalars(select(Announcement)).one()
            return row.status, row.ts

    # Died after Slack posted, before recording it: found by its metadata, not posted again.
    die_mid_post()
    player.command("U0ANN", channel.id, "severity sev2")  # within the lease: nobody takes the claim over
    api.wait_for(lambda a: [c for c in a.calls_to("conversations.setTopic") if "sev2" in c.params.get("topic", "")])
    assert announcement_row() == ("posting", None)
    clock.advance(minutes=6)
    player.command("U0ANN", channel.id, "severity sev1")
    declaring.runtime.outbox.run_due()  # past the lease, the next poll takes the dead process's row over
    api.wait_for(lambda a: announcement_row() == ("posted", posted["ts"]))
    api.wait_for(lambda a: "sev1" in str(api.workspace.message("C0ANNOUNCE", posted["ts"])["blocks"]))
    assert len(bot_posts(api, "C0ANNOUNCE")) == 1

    # Died before Slack posted: posted once now.
    api.workspace.delete("C0ANNOUNCE", posted["ts"])
    die_mid_post()
    clock.advance(minutes=6)
    player.command("U0ANN", channel.id, "severity sev3")
    declaring.runtime.outbox.run_due()
    api.wait_for(lambda a: len(bot_posts(a, "C0ANNOUNCE")) == 1 and announcement_row()[0] == "posted")
    [again] = bot_posts(api, "C0ANNOUNCE")
    assert again["ts"] != posted["ts"] and again["metadata"]["event_payload"] == {"incident": 1}
    api.wait_for(lambda a: "sev3" in str(api.workspace.message("C0ANNOUNCE", again["ts"])["blocks"]))


def test_status_updates_thread_under_the_announcement_which_shows_the_latest_status(declaring, clock) -> None:  # type: ignore[no-untyped-def]
    api, player = declaring.api, declaring.player
    player.command("U0ANN", "C0GENERAL", "declare Checkout down sev1")
    wait_reply(api, "U0ANN", "declared")
    channel = incident_channel(api, f"inc-{DAY}-checkout-down")
    [announcement] = bot_posts(api, "C0ANNOUNCE")

    def fields() -> list[str]:
        return [f["text"] for f in api.workspace.message("C0ANNOUNCE", announcement["ts"])["blocks"][1]["fields"]]

    # sev1's cadence: the first update is owed 30 minutes after the declare (10:00).
    assert "*Next update*\nby 2026-11-23 10:30:00 UTC" in fields()
    assert not any(f.startswith("*Latest update*") for f in fields())

    clock.advance(minutes=5)
    player.command("U0ANN", channel.id, "update monitoring Error rate falling after the rollback next 15m")
    thread = api.wait_for(lambda a: a.workspace.replies("C0ANNOUNCE", announcement["ts"])[1:])
    assert len(thread) == 1 and "Error rate falling after the rollback" in str(thread[0].get("blocks") or thread[0]["text"])
    api.wait_for(lambda a: "*Latest update*\nMonitoring" in fields())
    assert "*Next update*\nby 2026-11-23 10:20:00 UTC" in fields()
    # The update itself is in the incident channel too, once.
    assert len([m for m in bot_posts(api, channel.id) if "Error rate falling" in str(m.get("blocks") or m["text"])]) == 1


def test_a_private_incidents_updates_stay_in_its_channel(declaring) -> None:  # type: ignore[no-untyped-def]
    api, player = declaring.api, declaring.player
    player.command("U0BOB", "G0PRIV", "start Secret payroll thing sev1")
    [announcement] = api.wait_for(lambda a: bot_posts(a, "C0ANNOUNCE"))
    player.command("U0BOB", "G0PRIV", "update identified Payroll export job leaks salaries")
    api.wait_for(lambda a: [m for m in bot_posts(a, "G0PRIV") if "leaks salaries" in str(m.get("blocks") or m["text"])])
    assert api.workspace.replies("C0ANNOUNCE", announcement["ts"])[1:] == []
    assert "leaks salaries" not in str(api.workspace.message("C0ANNOUNCE", announcement["ts"]))
    assert "Identified" not in str(api.workspace.message("C0ANNOUNCE", announcement["ts"]))


def test_a_declared_channel_links_to_its_web_page_when_there_is_one(database_url: str, slack, clock) -> None:  # type: ignore[no-untyped-def]
    slack.workspace.add_channel("C0GENERAL", name="general", members={"U0ANN"})
    app = start_app(database_url, slack, clock=clock, public_url="https://scribe.example.com")
    try:
        app.player.command("U0ANN", "C0GENERAL", "declare Checkout down sev2")
        wait_reply(app.api, "U0ANN", "declared")
        channel = incident_channel(app.api, f"inc-{DAY}-checkout-down")
        [bookmark] = app.api.calls_to("bookmarks.add")
        assert (bookmark.params["channel_id"], bookmark.params["title"], bookmark.params["link"]) == (
            channel.id, "INC-1 web page", "https://scribe.example.com/incidents/INC-1")
        [welcome] = bot_posts(app.api, channel.id)
        assert "<https://scribe.example.com/incidents/INC-1|INC-1 web page>" in str(welcome["blocks"])
    finally:
        app.stop()


def test_people_the_declare_invited_are_not_welcomed_as_late_joiners(declaring, clock) -> None:  # type: ignore[no-untyped-def]
    api, player = declaring.api, declaring.player
    player.command("U0ANN", "C0GENERAL", "declare Checkout down sev2 <@U0BOB|bob>")
    wait_reply(api, "U0ANN", "declared")
    channel = incident_channel(api, f"inc-{DAY}-checkout-down")
    # Slack tells the app about each member the declare's invites brought in…
    player.join_channel("U0BOB", channel.id, inviter="U0BOT")
    # …and about someone who comes along later.
    clock.advance(minutes=20)
    player.join_channel("U0CHI", channel.id, inviter="U0BOB")
    late = api.wait_for(lambda a: [e for e in a.ephemerals if e["user"] == "U0CHI"])
    assert late[0]["message"]["text"] == "Welcome to INC-1: Checkout down. I've been recording what happened here."
    assert [c.params["user"] for c in api.calls_to("chat.postEphemeral")] == ["U0CHI"]


def test_the_update_form_edits_the_announcement_only_when_it_records_an_update(declaring, clock) -> None:  # type: ignore[no-untyped-def]
    from bot.slack.blocks import updates as ub
    from tests.test_updates import form_values

    api, player = declaring.api, declaring.player
    player.command("U0ANN", "C0GENERAL", "declare Checkout down sev2")
    wait_reply(api, "U0ANN", "declared")
    channel = incident_channel(api, f"inc-{DAY}-checkout-down")
    [announcement] = bot_posts(api, "C0ANNOUNCE")
    player.command("U0ANN", channel.id, "update")
    view = api.calls_to("views.open")[-1].response["view"]
    edits_before = len(api.calls_to("chat.update"))

    bad = player.submit_view("U0ANN", callback_id=ub.FORM_VIEW, values=form_values(None, ""), view_id=view["id"])
    assert bad.json()["response_action"] == "errors"
    good = player.submit_view("U0ANN", callback_id=ub.FORM_VIEW, values=form_values("identified", "Index rebuild stuck"), view_id=view["id"])
    assert good.status == 200
    api.wait_for(lambda a: "*Latest update*\\nIdentified" in str(a.workspace.message("C0ANNOUNCE", announcement["ts"])["blocks"]))
    # One edit, for the accepted form; the one sent back with errors changed nothing.
    edits = [c for c in api.calls_to("chat.update")[edits_before:] if c.params["channel"] == "C0ANNOUNCE"]
    assert len(edits) == 1


def test_a_process_that_died_between_creating_the_channel_and_recording_it_leaves_work_the_next_one_finishes(declaring, clock, database_url) -> None:  # type: ignore[no-untyped-def]
    """The declare is decided (a declaration and its outbox row), a process claims the row and
    creates the channel in Slack, and dies before recording it. After the claim's lease, the
    next poll takes the row over: the channel is recognised as this declaration's own (not
    made twice, not orphaned), the incident is recorded, its people invited, it is announced,
    and the declarer gets the answer the dead process never sent."""
    from bot.db import make_engine, make_session_factory
    from bot.services import declare as declare_service

    api, ws = declaring.api, declaring.api.workspace
    dying = make_session_factory(make_engine(database_url))  # the other process's own connections: nothing kicks its rows
    with dying.begin() as session:
        assert declare_service.request(session, declare_service.DeclareRequest(
            key="command:trigger-1", team_id=ws.team_id, user_id="U0ANN", title="Payments are failing", severity="sev1",
            people=("U0BOB",), reply_to={"user_id": "U0ANN"}, bot_user_id=ws.bot_user_id), now=clock())
    handler = declaring.runtime.outbox.handlers[kinds.DECLARE_CHANNEL]
    with dying.begin() as session:
        [claim] = store.claim_due(session, now=clock(), worker="dead-host:1:abcdef", lease_of=lambda kind: handler.lease,
                                  shortest_lease=handler.lease, limit=10)
        work = handler.prepare(session, session.get(OutboxItem, claim.id), now=clock())
    assert handler.perform(work, reclaimed_from=None).done  # Slack made the channel; then the process died
    name = f"inc-{DAY}-payments-are-failing"
    made = incident_channel(api, name)
    assert replies_to(api, "U0ANN", "declared") == []

    clock.advance(minutes=4)
    assert declaring.runtime.outbox.run_due().sent == 0  # still the dead process's claim
    clock.advance(minutes=1, seconds=1)
    declaring.runtime.outbox.run_due()
    declaring.settle()

    reply = wait_reply(api, "U0ANN", "declared")
    assert f"*INC-1 declared* in <#{made.id}>" in reply and "Invited: <@U0ANN>, <@U0BOB>." in reply
    assert [c.params["name"] for c in api.calls_to("conversations.create")] == [name, name]
    assert [c.response.get("error") for c in api.calls_to("conversations.create")] == [None, "name_taken"]
    assert channels_named(api, f"inc-{DAY}-payments") == [name]
    assert {"U0ANN", "U0BOB"} <= made.members
    assert len(bot_posts(api, "C0ANNOUNCE")) == 1
    with declaring.session_factory() as s:
        assert s.scalars(select(Incident.channel_id)).all() == [made.id]
        assert s.scalars(select(Declaration.status)).all() == ["done"]


def channels_named(api: Any, prefix: str) -> list[str]:
    return sorted(c.name for c in api.workspace.channels.values() if c.name.startswith(prefix))
