"""App Home and catch-up, through the real app and the simulator over HTTP, and their pure
builders at Slack's limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.services.actions import ItemView
from bot.services.catchup import CatchUp, Event
from bot.services.home import HomeFacts, IncidentLine, ReviewLine
from bot.slack.blocks import catchup as catchup_blocks
from bot.slack.blocks import followups as fb
from bot.slack.blocks import home as home_blocks
from tests.conftest import cmd

UTC = UTC
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture
def happ(clocked_app):  # type: ignore[no-untyped-def]
    return clocked_app


def texts(blocks):  # type: ignore[no-untyped-def]
    out = []
    for b in blocks:
        if b["type"] in ("section", "header"):
            out.append(b["text"]["text"])
        elif b["type"] == "context":
            out.append(b["elements"][0]["text"])
    return out


# -- App Home ---------------------------------------------------------------------------------------


def test_home_shows_my_incidents_items_and_reviews_and_refreshes_after_done(happ, clock) -> None:  # type: ignore[no-untyped-def]
    ws = happ.api.workspace
    cmd(happ, "start Checkout errors sev2")
    cmd(happ, "role lead <@U0BOB|bob>")
    cmd(happ, "start Secret thing", channel="G0PRIV")  # private: the bot is told to /invite
    ws.join("G0PRIV", ws.bot_user_id)
    cmd(happ, "start Secret thing", channel="G0PRIV")
    cmd(happ, "action Add a pool alert <@U0CHI|chi> due 2026-12-01")
    clock.advance(minutes=65)

    ws.join("C0INC", "U0CHI")
    assert happ.player.open_home("U0CHI").status == 200
    home = happ.api.home_views["U0CHI"]
    shown = texts(home["blocks"])
    assert shown[0] == "Your open incidents"
    assert shown[1] == "<#C0INC> *INC-1* Checkout errors\nsev2 · lead <@U0BOB> · open for 1 h 05 min"
    assert not any("Secret thing" in t for t in shown)  # Chi isn't in the private channel
    assert shown[2] == "Your action items"
    assert shown[3].startswith("#1 Add a pool alert — <@U0CHI> · due Tue 2026-12-01 · open")
    actions = next(b for b in home["blocks"] if b["type"] == "actions")
    assert [e["action_id"] for e in actions["elements"]] == [fb.DONE, fb.SNOOZE_DAY, fb.SNOOZE_WEEK]
    assert shown[5] == "No postmortem is waiting for review."
    members = [c.params["channel"] for c in happ.api.calls_to("conversations.members")]
    assert sorted(members) == ["C0INC", "G0PRIV"]

    # Ann started the private one and is in it.
    happ.player.open_home("U0ANN")
    assert any("*INC-2* Secret thing" in t for t in texts(happ.api.home_views["U0ANN"]["blocks"]))

    # Done from the Home: the item is closed and Chi's Home is republished without it.
    published = len(happ.api.calls_to("views.publish"))
    happ.player.click("U0CHI", None, action_id=fb.DONE, value="1", block_id=fb.block_id(1), view=home["id"])
    happ.api.wait_for(lambda api: len(api.calls_to("views.publish")) > published)
    assert "You own no open action items." in texts(happ.api.home_views["U0CHI"]["blocks"])

    # Drafting the postmortem refreshes the Home of whoever asked: now it awaits review.
    cmd(happ, "postmortem", user="U0CHI")
    happ.api.wait_for(lambda api: any("*INC-1* Checkout errors in <#C0INC> · Draft" in t for t in texts(api.home_views["U0CHI"]["blocks"])), timeout=20)


def test_home_builder_stays_within_100_blocks_with_and_n_more() -> None:
    incidents = [IncidentLine(id=i, ref=f"INC-{i}", title="t", channel_id=f"C{i}", severity="sev2", lead=None, started_at=T0) for i in range(60)]
    items = [ItemView(id=i, text="do it", owner_id="U1", created_by="U1", due_label=None, priority=None, status="open",
                      incident_ref="INC-1", incident_title="t", channel_id="C1") for i in range(60)]
    reviews = [ReviewLine(ref=f"INC-{i}", title="t", channel_id="C1", status_label="Draft", updated_at=T0) for i in range(5)]
    view = home_blocks.home_view(HomeFacts(user_id="U1", now=T0 + timedelta(hours=1), incidents=incidents, items=items, reviews=reviews))
    assert len(view["blocks"]) == 97  # never more than 100
    shown = texts(view["blocks"])
    # The short list shows whole; the two long ones share what is left instead of the first taking it all.
    assert [t for t in shown if t.startswith("…and ")] == ["…and 18 more.", "…and 39 more."]
    assert sum(1 for t in shown if t.startswith("#") and "do it" in t) == 21
    assert sum(1 for t in shown if t.startswith("*INC-") and "Draft" in t) == 5
    small = home_blocks.home_view(HomeFacts(user_id="U1", now=T0, incidents=incidents[:2], items=items[:1], reviews=[]))
    assert len(small["blocks"]) == 11  # 3 headers, 2 dividers, 2 incidents, 1 item (2 blocks), 1 empty note, footer


# -- catch-up ----------------------------------------------------------------------------------------


def test_catchup_command_answers_privately_from_the_record(happ, clock) -> None:  # type: ignore[no-untyped-def]
    cmd(happ, "start Checkout errors sev2")
    cmd(happ, "role lead <@U0BOB|bob>")
    cmd(happ, "started at 09:50 UTC")
    cmd(happ, "detected at 09:58 UTC PagerDuty fired")
    clock.advance(minutes=5)
    cmd(happ, "hypothesis connection leak", user="U0CHI")
    cmd(happ, "note lunch ordered")
    cmd(happ, "status Rolling back now")
    cmd(happ, "action Add a pool alert <@U0CHI|chi> due 2026-12-01")
    body = cmd(happ, "catchup", user="U0CHI")
    assert body["response_type"] == "ephemeral"
    shown = texts(body["blocks"])
    assert shown[0] == "*Catching up on INC-1*: Checkout errors\nOpen · sev2 · lead <@U0BOB>"
    assert shown[1] == ("*Key times (UTC):* Impact started 2026-11-23 09:50:00 UTC · Detected 2026-11-23 09:58:00 UTC · "
                        "Incident declared 2026-11-23 10:00:00 UTC · TTD 8 min")
    assert shown[2] == "*What happened so far*"
    assert shown[3] == ("`09:50` 🔴 *Impact started* <@U0ANN>\n"
                        "`09:58` 🔔 *Detected* <@U0ANN>: PagerDuty fired\n"
                        "`10:00` 🚨 *Incident declared* <@U0ANN>: Checkout errors (sev2)\n"
                        "`10:05` 💭 *Hypothesis* <@U0CHI>: connection leak")
    assert shown[4] == "*Last update* `10:05` 📣 *Status update* <@U0ANN>: Rolling back now"
    assert shown[5].startswith("*Open action items*\n• #1 Add a pool alert — <@U0CHI> · due Tue 2026-12-01")
    assert not any("lunch" in t for t in shown)


def test_catchup_is_cut_to_one_message_with_a_pointer() -> None:
    events = [Event(at=T0 + timedelta(minutes=i), label="Finding", icon="🔍", author="U1", text="x" * 400) for i in range(400)]
    c = CatchUp(ref="INC-1", title="t", status="open", severity=None, lead=None, channel_id="C1", key_times=[("Incident declared", T0)],
                metrics={}, events=events, last_status=None, open_items=[], now=T0)
    text, blocks = catchup_blocks.catch_up_message(c)
    assert len(blocks) == 9  # summary, key times, title, pointer and the newest 12,000 characters in sections
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")
    assert texts(blocks)[3] == "Older events are left out to fit one message: `/incident timeline 50` shows more."
    assert texts(blocks)[-1].endswith("`16:39` 🔍 *Finding* <@U1>: " + "x" * 279 + "…")  # the newest stays
    assert len(text) <= 3000


def test_a_late_joiner_gets_a_welcome_with_a_catch_me_up_button(happ, clock) -> None:  # type: ignore[no-untyped-def]
    cmd(happ, "start Checkout errors sev2")
    cmd(happ, "finding pool exhausted")
    happ.api.workspace.add_user("U0DAN", name="dan", real_name="Dan Roe", tz="UTC")
    clock.advance(minutes=10)
    assert happ.player.join_channel("U0DAN", "C0INC").status == 200
    welcome = happ.api.wait_for(lambda api: [e for e in api.ephemerals if e["user"] == "U0DAN"])[-1]["message"]
    assert welcome["text"] == "Welcome to INC-1: Checkout errors. I've been recording what happened here."
    button = welcome["blocks"][1]["elements"][0]
    assert (button["action_id"], button["value"], button["text"]["text"]) == (catchup_blocks.CATCH_UP, "1", "Catch me up")
    posts = happ.api.calls_to("chat.postEphemeral")
    assert [(c.params["channel"], c.params["user"]) for c in posts] == [("C0INC", "U0DAN")]

    happ.player.click("U0DAN", "C0INC", action_id=catchup_blocks.CATCH_UP, value="1", block_id="catchup:1")
    answer = happ.api.wait_for(lambda api: [e for e in api.ephemerals if e["user"] == "U0DAN" and e["message"]["text"].startswith("Catching up")])
    assert "`10:00` 🔍 *Finding* <@U0ANN>: pool exhausted" in texts(answer[0]["message"]["blocks"])[3]

    # Nobody is welcomed in a channel without an open incident, nor the bot itself.
    happ.api.workspace.join("C0RANDOM", happ.api.workspace.bot_user_id)
    happ.player.join_channel("U0DAN", "C0RANDOM")
    happ.player.join_channel(happ.api.workspace.bot_user_id, "C0INC")
    assert len(happ.api.calls_to("chat.postEphemeral")) == 1


def _last_update(blocks):  # type: ignore[no-untyped-def]
    return [t for t in texts(blocks) if t.startswith("*Last update*")]


def test_the_last_update_is_the_latest_of_status_and_update_in_catchup_and_catch_me_up(happ, clock) -> None:  # type: ignore[no-untyped-def]
    cmd(happ, "start Checkout errors sev2")
    cmd(happ, "status Looking into it")
    clock.advance(minutes=5)
    cmd(happ, "update identified Connection leak in v2.3.1; rolling back next 30m")
    latest = "*Last update* `10:05` 📣 *Status update posted* <@U0ANN>: Identified: Connection leak in v2.3.1; rolling back"
    assert _last_update(cmd(happ, "catchup", user="U0CHI")["blocks"]) == [latest]

    happ.api.workspace.add_user("U0DAN", name="dan", real_name="Dan Roe", tz="UTC")
    happ.player.join_channel("U0DAN", "C0INC")
    happ.api.wait_for(lambda api: [e for e in api.ephemerals if e["user"] == "U0DAN"])
    happ.player.click("U0DAN", "C0INC", action_id=catchup_blocks.CATCH_UP, value="1", block_id="catchup:1")
    answer = happ.api.wait_for(lambda api: [e for e in api.ephemerals if e["user"] == "U0DAN" and e["message"]["text"].startswith("Catching up")])
    assert _last_update(answer[0]["message"]["blocks"]) == [latest]

    clock.advance(minutes=5)
    cmd(happ, "status Rollback done, watching")
    assert _last_update(cmd(happ, "catchup", user="U0CHI")["blocks"]) == ["*Last update* `10:10` 📣 *Status update* <@U0ANN>: Rollback done, watching"]
