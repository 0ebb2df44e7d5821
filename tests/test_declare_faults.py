"""What a declare does when Slack refuses or misbehaves: taken names, lost answers, 429s,
refused names and scopes, people Slack won't invite, a missing announce channel."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import select

from bot.models import Announcement, Declaration, Incident
from bot.simulator.records import Fault
from tests.conftest import start_app
from tests.test_declare import DAY, bot_posts, incident_channel, modal_values, wait_reply


def _start(database_url, slack, clock, **overrides):  # type: ignore[no-untyped-def]
    slack.workspace.add_channel("C0GENERAL", name="general", members={"U0ANN", "U0BOB", "U0CHI"})
    return start_app(database_url, slack, clock=clock, **overrides)


@contextmanager
def declared_with(database_url, slack, clock, announce_channel: str):  # type: ignore[no-untyped-def]
    """Start the app, declare "Checkout down" from #general, and hand over (app, reply)."""
    running = _start(database_url, slack, clock, announce_channel=announce_channel)
    try:
        running.player.command("U0ANN", "C0GENERAL", "declare Checkout down")
        yield running, wait_reply(running.api, "U0ANN", "declared")
    finally:
        running.stop()


@pytest.fixture
def declaring(database_url: str, slack, clock):  # type: ignore[no-untyped-def]
    slack.workspace.add_channel("C0ANNOUNCE", name="incidents")
    running = _start(database_url, slack, clock, announce_channel="#incidents")
    yield running
    running.stop()


def channels_named(api, prefix: str) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(c.name for c in api.workspace.channels.values() if c.name.startswith(prefix))


def test_a_taken_name_gets_the_next_suffix(declaring) -> None:  # type: ignore[no-untyped-def]
    api, player = declaring.api, declaring.player
    api.workspace.add_channel("C0TAKEN", name=f"inc-{DAY}-db-failover", bot_member=False)
    player.command("U0ANN", "C0GENERAL", "declare DB failover")
    reply = wait_reply(api, "U0ANN", "declared")
    assert f"<#{incident_channel(api, f'inc-{DAY}-db-failover-2').id}>" in reply
    # A second incident with the same title the same day: the bot's own channel belongs to INC-1, so -3.
    player.command("U0BOB", "C0GENERAL", "declare DB failover")
    wait_reply(api, "U0BOB", "INC-2 declared")
    assert channels_named(api, f"inc-{DAY}-db") == [f"inc-{DAY}-db-failover", f"inc-{DAY}-db-failover-2", f"inc-{DAY}-db-failover-3"]
    # INC-2 never asks Slack for the two names INC-1's declaration reserved: it starts at -3.
    assert [c.response.get("error") for c in api.calls_to("conversations.create")] == ["name_taken", None, None]
    assert [c.params["name"] for c in api.calls_to("conversations.create")] == [
        f"inc-{DAY}-db-failover", f"inc-{DAY}-db-failover-2", f"inc-{DAY}-db-failover-3"]


def test_a_create_whose_answer_was_lost_is_recognised_not_made_twice(declaring) -> None:  # type: ignore[no-untyped-def]
    api, player = declaring.api, declaring.player
    # Slack made the channel but answered 500; slack_sdk retries, and the retry hears name_taken.
    api.inject("conversations.create", Fault(status=500, after_serving=True))
    player.command("U0ANN", "C0GENERAL", "declare Payments timeout sev2")
    reply = wait_reply(api, "U0ANN", "declared")
    assert channels_named(api, f"inc-{DAY}-payments") == [f"inc-{DAY}-payments-timeout"]
    channel = incident_channel(api, f"inc-{DAY}-payments-timeout")
    assert f"<#{channel.id}>" in reply
    assert [c.status for c in api.calls_to("conversations.create")] == [500, 200]
    assert api.calls_to("conversations.create")[1].response["error"] == "name_taken"
    with declaring.session_factory() as s:
        assert s.scalars(select(Incident.channel_id)).all() == [channel.id]
    assert len(bot_posts(api, "C0ANNOUNCE")) == 1


def test_a_rate_limited_create_is_retried_once_and_makes_one_channel(declaring) -> None:  # type: ignore[no-untyped-def]
    api, player = declaring.api, declaring.player
    api.inject("conversations.create", Fault(status=429, retry_after=1))
    player.command("U0ANN", "C0GENERAL", "declare Queue backlog")
    wait_reply(api, "U0ANN", "declared")
    assert [c.status for c in api.calls_to("conversations.create")] == [429, 200]
    assert channels_named(api, f"inc-{DAY}-queue") == [f"inc-{DAY}-queue-backlog"]


@pytest.mark.parametrize(("setup", "expected"), [
    (lambda ws: setattr(ws, "channel_creation_restricted", True), "doesn't let apps create channels (Slack answered `restricted_action`)"),
    (lambda ws: ws.missing_scopes.add("channels:manage"), "I'm not allowed to create public channels: the app lacks the `channels:manage` scope"),
])
def test_slack_refusing_the_channel_leaves_no_incident(declaring, setup, expected) -> None:  # type: ignore[no-untyped-def]
    api, player = declaring.api, declaring.player
    setup(api.workspace)
    player.command("U0ANN", "C0GENERAL", "declare Checkout down sev1")
    reply = wait_reply(api, "U0ANN", "Nothing was declared")
    assert reply.startswith(":x: Nothing was declared. ") and expected in reply
    with declaring.session_factory() as s:
        assert s.scalars(select(Incident)).all() == []
        assert s.scalars(select(Declaration.status)).one() == "failed"
    assert bot_posts(api, "C0ANNOUNCE") == []


def test_a_private_declare_without_groups_write_says_so(declaring) -> None:  # type: ignore[no-untyped-def]
    api, player = declaring.api, declaring.player
    api.workspace.missing_scopes.add("groups:write")
    player.shortcut("U0ANN", callback_id="declare_incident")
    player.submit_view("U0ANN", callback_id="declare_incident_modal", values=modal_values("HR data exposed", private=True))
    reply = wait_reply(api, "U0ANN", "Nothing was declared")
    assert "I'm not allowed to create private channels: the app lacks the `groups:write` scope" in reply
    assert api.calls_to("conversations.create")[0].response["needed"] == "groups:write"


def test_slack_refusing_the_name_is_explained(declaring) -> None:  # type: ignore[no-untyped-def]
    api, player = declaring.api, declaring.player
    api.inject("conversations.create", Fault(error="invalid_name_specials"))
    player.command("U0ANN", "C0GENERAL", "declare Checkout down")
    reply = wait_reply(api, "U0ANN", "Nothing was declared")
    assert f"Slack refused the channel name `#inc-{DAY}-checkout-down` (`invalid_name_specials`)" in reply


def test_people_slack_wont_invite_are_named_and_the_declare_stands(declaring) -> None:  # type: ignore[no-untyped-def]
    api, player = declaring.api, declaring.player
    guest = api.workspace.add_user("U0GST", name="gus")
    guest.is_restricted = True
    gone = api.workspace.add_user("U0OLD", name="olga")
    gone.deleted = True
    player.command("U0ANN", "C0GENERAL", "declare Cache stampede sev2 <@U0GST> <@U0BOB> <@U0OLD> <@U0BOT>")
    reply = wait_reply(api, "U0ANN", "declared")
    channel = incident_channel(api, f"inc-{DAY}-cache-stampede")
    assert channel.members == {"U0BOT", "U0ANN", "U0BOB"}
    assert "Invited: <@U0ANN>, <@U0BOB>. I'm recording" in reply
    assert ":warning: <@U0GST> is a guest account, and Slack doesn't let apps invite guests; a workspace admin can add them." in reply
    assert ":warning: <@U0OLD> has a deactivated account, so they weren't invited." in reply
    invited = [c.params["users"] for c in api.calls_to("conversations.invite")]
    assert invited == ["U0ANN", "U0GST", "U0BOB", "U0OLD"]  # never the bot itself
    with declaring.session_factory() as s:
        assert s.scalars(select(Incident.channel_id)).one() == channel.id


def test_a_title_without_letters_or_digits_falls_back_and_says_so(declaring) -> None:  # type: ignore[no-untyped-def]
    api, player = declaring.api, declaring.player
    player.command("U0ANN", "C0GENERAL", "declare !!! ??? sev2")
    reply = wait_reply(api, "U0ANN", "declared")
    assert incident_channel(api, f"inc-{DAY}-incident") is not None
    assert f"so the channel is `#inc-{DAY}-incident`. Change the title any time with `/incident title <new title>`." in reply


def test_a_missing_announce_channel_is_told_once_and_the_declare_works(database_url, slack, clock) -> None:  # type: ignore[no-untyped-def]
    with declared_with(database_url, slack, clock, "#nope") as (running, reply):
        api, player = running.api, running.player
        assert "The announcement wasn't posted: I can't find the channel `#nope` (SCRIBE_ANNOUNCE_CHANNEL)" in reply
        channel = incident_channel(api, f"inc-{DAY}-checkout-down")
        player.command("U0ANN", channel.id, "severity sev1")
        player.command("U0ANN", channel.id, "resolved")
        api.wait_for(lambda a: [m for m in bot_posts(a, channel.id) if "was resolved" in m.get("text", "")])
        assert len([e for e in api.ephemerals if "announcement" in str(e["message"].get("text"))]) == 1
        assert api.calls_to("chat.update") == []
        with running.session_factory() as s:
            assert s.scalars(select(Announcement.status)).one() == "failed"


def test_the_bot_joins_a_public_announce_channel_it_is_not_in(database_url, slack, clock) -> None:  # type: ignore[no-untyped-def]
    slack.workspace.add_channel("C0ANNOUNCE", name="incidents", bot_member=False)
    with declared_with(database_url, slack, clock, "C0ANNOUNCE") as (running, reply):
        api = running.api
        assert ":warning:" not in reply
        assert [c.response.get("error") for c in api.calls_to("chat.postMessage") if c.params.get("channel") == "C0ANNOUNCE"] == ["not_in_channel", None]
        assert len(bot_posts(api, "C0ANNOUNCE")) == 1


def test_a_private_announce_channel_without_the_bot_is_told(database_url, slack, clock) -> None:  # type: ignore[no-untyped-def]
    slack.workspace.add_channel("G0ANNOUNCE", name="incidents-private", is_private=True, bot_member=False)
    with declared_with(database_url, slack, clock, "G0ANNOUNCE") as (_, reply):
        assert "I'm not a member of `G0ANNOUNCE` and can't join it myself. Type `/invite @Incident Scribe` in G0ANNOUNCE" in reply
