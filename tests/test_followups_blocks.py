"""Pure Block Kit builders for follow-ups: shapes Slack accepts, ids that round-trip, no stray pings."""

from __future__ import annotations

from bot.markup import neutralize_mentions
from bot.services.actions import ItemView
from bot.slack.blocks import followups as fb


def view(item_id: int = 3, text: str = "Add pool alert", status: str = "open") -> ItemView:
    return ItemView(id=item_id, text=text, owner_id="U0BOB", created_by="U0ANN", due_label="Tue 2026-12-01", priority="p1",
                    status=status, incident_ref="INC-1", incident_title="Checkout errors", channel_id="C0INC")


def test_block_ids_round_trip() -> None:
    assert fb.item_id_from_block(fb.block_id(42)) == 42
    assert fb.item_id_from_block("followup:x") is None and fb.item_id_from_block("other:1") is None


def test_reminder_has_the_four_controls_for_its_item() -> None:
    text, blocks = fb.reminder_message("overdue", view())
    assert text == ":rotating_light: Your action item is overdue: #3 Add pool alert (INC-1)"
    actions = blocks[-1]
    assert actions["block_id"] == "followup:3"
    assert [(e["type"], e["action_id"], e.get("value")) for e in actions["elements"]] == [
        ("button", fb.DONE, "3"), ("button", fb.SNOOZE_DAY, "3"), ("button", fb.SNOOZE_WEEK, "3"), ("users_select", fb.REASSIGN, None)
    ]
    assert blocks[1]["elements"][0]["text"] == "#3 from INC-1 “Checkout errors” in <#C0INC> · due Tue 2026-12-01 · p1"


def test_item_text_cannot_ping_the_channel() -> None:
    hostile = view(text="ping <!channel> and <!here>")
    text, blocks = fb.reminder_message("due", hostile)
    assert "<!channel>" not in text and "<!here>" not in str(blocks)
    assert neutralize_mentions("<!channel>") in text
    assert "<!channel>" not in fb.item_line(hostile)


def test_action_list_stays_within_slacks_50_blocks() -> None:
    items = [view(n, f"Item {n}") for n in range(1, 40)]
    text, blocks = fb.action_list(1, "INC-1", items, "/incident")
    assert len(blocks) <= 50
    assert blocks[-1]["elements"][0]["action_id"] == fb.ADD
    assert text.count("\n• ") == 39  # the text fallback lists every item


def test_submitted_modal_values_are_read() -> None:
    state = {"values": {
        "text": {"text": {"type": "plain_text_input", "value": "  Fix it  "}},
        "owner": {"owner": {"type": "users_select", "selected_user": "U0CHI"}},
        "due": {"due": {"type": "plain_text_input", "value": None}},
        "priority": {"priority": {"type": "static_select", "selected_option": None}},
    }}
    assert fb.submitted_item({"private_metadata": "7", "state": state}) == (7, "Fix it", "U0CHI", None, None)
