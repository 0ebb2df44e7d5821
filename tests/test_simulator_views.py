"""The simulator's views and membership methods behave like Slack's: a trigger_id opens one
view within 3 seconds, views are validated against Block Kit's limits, the Home tab is
published per user, and conversations.members pages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.simulator import FakeSlackWebAPI, Workspace


@pytest.fixture
def api() -> Iterator[FakeSlackWebAPI]:
    ws = Workspace()
    ws.add_user("U1", name="ann")
    ws.add_channel("C1", name="inc", members=["U1", ws.bot_user_id])
    with FakeSlackWebAPI(ws) as running:
        yield running


@pytest.fixture
def client(api: FakeSlackWebAPI) -> WebClient:
    return WebClient(token=api.workspace.bot_token, base_url=api.base_url)  # type: ignore[attr-defined]


def modal(**extra):  # type: ignore[no-untyped-def]
    return {"type": "modal", "title": {"type": "plain_text", "text": "Add to timeline"}, "blocks": [], **extra}


def error_of(call) -> tuple[str, list[str]]:  # type: ignore[no-untyped-def]
    with pytest.raises(SlackApiError) as err:
        call()
    return err.value.response["error"], (err.value.response.get("response_metadata") or {}).get("messages", [])


def test_a_trigger_opens_one_view_within_three_seconds(api: FakeSlackWebAPI, client: WebClient) -> None:
    trigger = api.issue_trigger()
    assert client.views_open(trigger_id=trigger, view=modal())["view"]["type"] == "modal"
    assert error_of(lambda: client.views_open(trigger_id=trigger, view=modal()))[0] == "exchanged_trigger_id"
    assert error_of(lambda: client.views_open(trigger_id="1.2.made-up", view=modal()))[0] == "invalid_trigger_id"
    late = api.issue_trigger()
    api.age_triggers(3.5)
    assert error_of(lambda: client.views_open(trigger_id=late, view=modal()))[0] == "expired_trigger_id"
    fresh = api.issue_trigger()
    api.age_triggers(2.5)
    assert client.views_push(trigger_id=fresh, view=modal())["ok"]


def test_views_are_validated_like_block_kit(api: FakeSlackWebAPI, client: WebClient) -> None:
    long_title = modal(title={"type": "plain_text", "text": "Edit the timeline entry now"})
    assert error_of(lambda: client.views_open(trigger_id=api.issue_trigger(), view=long_title)) == (
        "invalid_arguments", ["[ERROR] must be less than 25 characters [json-pointer:/view/title/text]"])
    many = modal(blocks=[{"type": "divider"}] * 101)
    assert error_of(lambda: client.views_open(trigger_id=api.issue_trigger(), view=many)) == (
        "invalid_arguments", ["[ERROR] no more than 100 items allowed [json-pointer:/view/blocks]"])
    no_submit = modal(blocks=[{"type": "input", "label": {"type": "plain_text", "text": "x"}, "element": {"type": "plain_text_input"}}])
    assert error_of(lambda: client.views_open(trigger_id=api.issue_trigger(), view=no_submit))[0] == "invalid_arguments"
    duplicate = modal(blocks=[{"type": "divider", "block_id": "a"}, {"type": "divider", "block_id": "a"}])
    assert error_of(lambda: client.views_open(trigger_id=api.issue_trigger(), view=duplicate))[1] == [
        "[ERROR] duplicate block_id [json-pointer:/view/blocks/1/block_id]"]
    assert error_of(lambda: client.views_publish(user_id="U1", view=modal()))[1] == ["[ERROR] must be 'home' [json-pointer:/view/type]"]


def test_views_publish_keeps_one_home_per_user(api: FakeSlackWebAPI, client: WebClient) -> None:
    first = client.views_publish(user_id="U1", view={"type": "home", "blocks": [{"type": "divider"}]})["view"]
    second = client.views_publish(user_id="U1", view={"type": "home", "blocks": []}, hash=first["hash"])["view"]
    assert second["id"] == first["id"] and api.home_views["U1"]["blocks"] == []
    assert error_of(lambda: client.views_publish(user_id="U1", view={"type": "home", "blocks": []}, hash="stale"))[0] == "hash_conflict"
    assert error_of(lambda: client.views_publish(user_id="U404", view={"type": "home", "blocks": []}))[0] == "user_not_found"
    assert error_of(lambda: client.views_publish(user_id="U1", view={"type": "home", "blocks": [{"type": "divider"}] * 101}))[0] == "invalid_arguments"


def test_conversations_members_pages(api: FakeSlackWebAPI, client: WebClient) -> None:
    for n in range(5):
        api.workspace.add_user(f"U9{n}", name=f"u{n}")
        api.workspace.join("C1", f"U9{n}")
    pages, cursor = [], None
    while True:
        page = client.conversations_members(channel="C1", limit=3, **({"cursor": cursor} if cursor else {}))
        pages.append(page["members"])
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert [len(p) for p in pages] == [3, 3, 1]  # 5 people, ann and the bot
    assert sorted(m for p in pages for m in p) == sorted(api.workspace.channel("C1").members)
    assert error_of(lambda: client.conversations_members(channel="CNOPE"))[0] == "channel_not_found"
    assert error_of(lambda: client.conversations_members(channel="C1", cursor="junk"))[0] == "invalid_cursor"
