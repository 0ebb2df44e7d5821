"""The summary message and Edit modal stay within Slack's Block Kit limits, whatever the input."""

from __future__ import annotations

import json
from datetime import timedelta
from zoneinfo import ZoneInfo

from bot.postmortem import ActionFact, EntryFact, ReviewFields, build_context
from bot.slack.blocks import followups as fb
from bot.slack.blocks import postmortem as pmb
from tests.test_render import GENERATED, NAMES, at, empty_incident, incident, small_entries

POINTER = pmb.DraftPointer(version=3, template="standard", status="draft", filename="INC-12-postmortem-v3.md", canvas_id="F1")


def context(entries=(), review=None, inc=None, actions=()):  # type: ignore[no-untyped-def]
    review = ReviewFields() if review is None else review
    return build_context(inc or incident(), list(entries), list(actions), review, user_name=NAMES.get,
                         generated_at=GENERATED, display_tz=ZoneInfo("UTC"))


def assert_within_limits(blocks: list[dict]) -> None:  # type: ignore[type-arg]
    assert len(blocks) <= pmb.MAX_BLOCKS
    for block in blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
        if block["type"] == "context":
            assert all(len(e["text"]) <= 3000 for e in block["elements"])
        if block["type"] == "actions":
            assert all(len(e["text"]["text"]) <= 75 and len(e["value"]) <= 2000 for e in block["elements"])


def test_small_incident_summary() -> None:
    blocks = pmb.summary_blocks(context(small_entries()), [], POINTER, incident_id=12)
    assert_within_limits(blocks)
    assert blocks[0]["text"]["text"] == "Postmortem: Checkout errors"
    assert blocks[1]["elements"][0]["text"] == (
        ":memo: *Draft* · version 3 · template `standard` · INC-12 (Closed) · severity SEV2 · drafted 2026-11-22 09:00:00 UTC"
    )
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert sections[1] == (
        "*Key times*\n*Time to detect (TTD):* 16 min\n*Time to mitigate (TTM):* 34 min\n*Time to resolve (TTR):* 1 h 07 min\n*Total duration:* 1 h 23 min"
    )
    assert "`2026-11-20 14:45:30 UTC` 📌 *Key message* — Cy Ortiz: Rollback finished :tada:" in sections[2]
    assert blocks[-2]["elements"][0]["text"] == ":page_facing_up: Full draft: the channel canvas and `INC-12-postmortem-v3.md`."


def test_empty_incident_summary_says_what_to_do() -> None:
    blocks = pmb.summary_blocks(context(inc=empty_incident()), [], POINTER, incident_id=12)
    assert_within_limits(blocks)
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert sections[0].startswith("*Summary*\n_Not written yet: press *Edit*")
    assert "*Time to detect (TTD):* —" in sections[1]


def test_huge_inputs_are_cut_with_a_pointer_to_the_full_draft() -> None:
    title = "Checkout " * 200
    entries = [
        EntryFact(at=at(14, 0) + timedelta(seconds=i), kind="finding", text=f"finding {i} " + "x" * 400, author="U1",
                  source="command", key=True, ts=None)
        for i in range(5_000)
    ]
    review = ReviewFields(summary="A long summary. " * 1000)
    ctx = context(entries, review, incident(title=title))
    findings = [f"Bob broke it again, sentence {i}. " + "y" * 600 for i in range(1_000)]
    blocks = pmb.summary_blocks(ctx, findings, POINTER, incident_id=12)
    assert_within_limits(blocks)
    assert len(blocks[0]["text"]["text"]) == 150 and blocks[0]["text"]["text"].endswith("…")
    summary, _, events, _, review_note = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert summary.endswith("… (see the full draft in the channel canvas and `INC-12-postmortem-v3.md`)")
    assert events.splitlines()[-1].startswith("…and ") and events.endswith(
        "more events: see the full draft in the channel canvas and `INC-12-postmortem-v3.md`"
    )
    assert review_note.startswith(":warning: *Blameless review:* 1000 sentences may blame people.")
    assert review_note.splitlines()[-1].endswith("more sentences: see the full draft in the channel canvas and `INC-12-postmortem-v3.md`")
    # Every quoted line is a whole sentence (cut at 500 characters), never half a line.
    assert all(len(line) <= 500 for line in review_note.splitlines()[1:-1])
    assert len(json.dumps(blocks)) < 40_000


def test_user_text_cannot_ping_or_inject_markup_in_the_summary() -> None:
    entries = [EntryFact(at=at(14, 30), kind="decision", text="<!channel> roll back <https://evil.example|now> & <@U2>", author="U1",
                         source="command", key=True, ts=None)]
    blocks = pmb.summary_blocks(context(entries), ["<!here> is Bob's fault"], POINTER, incident_id=12)
    text = json.dumps(blocks)
    assert "<!channel>" not in text and "<!here>" not in text and "<@U2>" not in text
    events = next(b["text"]["text"] for b in blocks if b["type"] == "section" and "key events" in b["text"]["text"])
    assert "*Decision* — Ann Lee: @channel roll back <https://evil.example|now> &amp; @Bob Stone" in events


def test_buttons_follow_the_status() -> None:
    def action_ids(status: str) -> list[str]:
        pointer = pmb.DraftPointer(version=1, template="concise", status=status, filename="x.md")
        return [e["action_id"] for e in pmb.summary_blocks(context(), [], pointer, incident_id=7)[-1]["elements"]]

    assert action_ids("draft") == [pmb.REGENERATE, pmb.EDIT, pmb.MARK_REVIEWED, pmb.MARK_FINAL, fb.ADD]
    assert action_ids("in_review") == [pmb.REGENERATE, pmb.EDIT, pmb.MARK_FINAL, fb.ADD]
    assert action_ids("final") == [pmb.REGENERATE, pmb.EDIT, fb.ADD]


def test_compact_summary_has_status_pointer_and_buttons() -> None:
    blocks = pmb.compact_summary_blocks(context(small_entries()), POINTER, incident_id=12)
    assert [b["type"] for b in blocks] == ["header", "context", "section", "actions"]
    assert blocks[2]["text"]["text"] == "The summary didn't fit in a Slack message; see the full draft in the channel canvas and `INC-12-postmortem-v3.md`."


def test_edit_modal_is_prefilled_and_within_limits() -> None:
    saved = {"summary": "Short summary", "impact": "i" * 5000, "root_cause": None, "contributing_factors": "", "lessons": "Keep the runbook"}
    modal = pmb.edit_modal(incident_id=12, ref="INC-123456789012345678", saved=saved)
    assert len(modal["title"]["text"]) <= 24
    assert modal["callback_id"] == pmb.EDIT_MODAL and modal["private_metadata"] == "12"
    inputs = [b for b in modal["blocks"] if b["type"] == "input"]
    assert [(b["block_id"], b["label"]["text"], b["optional"]) for b in inputs] == [
        ("summary", "Summary", True), ("impact", "Impact", True), ("root_cause", "Root cause", True),
        ("contributing_factors", "Contributing factors", True), ("lessons", "Lessons learned", True),
    ]
    initial = {b["block_id"]: b["element"].get("initial_value") for b in inputs}
    assert initial == {"summary": "Short summary", "impact": "i" * 3000, "root_cause": None, "contributing_factors": None, "lessons": "Keep the runbook"}
    assert all(b["element"]["max_length"] == 3000 and b["element"]["multiline"] for b in inputs)


def test_submitted_fields_read_the_view_state() -> None:
    view = {"state": {"values": {"summary": {"summary": {"type": "plain_text_input", "value": "S"}},
                                 "impact": {"impact": {"type": "plain_text_input", "value": None}}}}}
    assert pmb.submitted_fields(view) == {"summary": "S", "impact": None, "root_cause": None, "contributing_factors": None, "lessons": None}


def test_action_items_are_counted() -> None:
    actions = [ActionFact(id=i, text=f"fix {i}", owner="U1", due=None, due_at=None, priority="P1", status="done" if i % 2 else "open") for i in range(1, 6)]
    blocks = pmb.summary_blocks(context(actions=actions), [], POINTER, incident_id=12)
    assert any(b["type"] == "section" and b["text"]["text"].startswith("*Action items:* 5 (2 open, 3 done)") for b in blocks)
