"""Blame-language detection."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.postmortem import (
    DEFAULT_BLAME_PHRASES,
    EntryFact,
    IncidentFacts,
    ReviewFields,
    available_templates,
    build_context,
    find_blame,
    make_environment,
    render_postmortem,
)

PEOPLE = ["Alice Moreau", "Bob Stone", "Carol"]


@pytest.mark.parametrize("sentence", [
    "Bob caused the outage.",
    "Bob Stone broke the deploy pipeline.",
    "The rollout failed because of Alice.",
    "This happened due to Carol.",
    "Alice forgot to bump the pool size.",
    "Alice's deploy broke checkout.",
    "@Bob Stone should have checked the dashboard.",
    "**Bob** broke prod.",
    "It was Bob's fault.",
    "Honestly it was their fault.",
    "The root cause was human error.",
    "Operator error during the failover.",
    "The on-call engineer was careless.",
    "Someone should have known better!",
    "The reviewer was negligent.",
    "Ops screwed up the config.",
    "We dropped the ball on alerting.",
    "Nobody didn't bother to read the runbook?",
    "Who do we blame for this?",
    "The change was sloppy.",
])
def test_blaming_sentences_are_flagged(sentence: str) -> None:
    findings = find_blame([sentence], people=PEOPLE)
    assert [f.sentence for f in findings] == [sentence.replace("**", "")]


@pytest.mark.parametrize("sentence", [
    "The deploy caused a spike in connections.",
    "Alerting missed the leak for 16 minutes.",
    "The cache broke under load.",
    "Bob restarted the pods at 14:40.",
    "Alice rolled back to v2.3.3 and errors dropped.",
    "This is a blameless review.",
    "We keep a no-blame culture.",
    "The pool was exhausted because of a connection leak.",
    "Review the error budget with Carol.",
    "Timeouts rose because of retries from the mobile app.",
    "The error rate returned to normal.",
])
def test_neutral_sentences_are_not_flagged(sentence: str) -> None:
    assert find_blame([sentence], people=PEOPLE) == []


def test_each_sentence_is_reported_once_in_order() -> None:
    text = ("Checkout failed. Bob caused it. It was human error.\n"
            "- Bob caused it.\n| cell | It was Carol's fault. |")
    findings = find_blame([text, "Bob caused it."], people=PEOPLE)
    assert [f.sentence for f in findings] == [
        "Bob caused it.", "It was human error.", "It was Carol's fault.",
    ]
    assert findings[0].phrase == "Bob Stone as the cause"


def test_markdown_escapes_do_not_hide_blame() -> None:
    findings = find_blame("Root cause: Bob\\'s fault \\(again\\).")
    assert [f.sentence for f in findings] == ["Root cause: Bob's fault (again)."]


def test_phrases_are_configurable() -> None:
    assert find_blame(["That was a brain fart."]) == []
    custom = (*DEFAULT_BLAME_PHRASES, r"brain fart")
    assert [f.phrase for f in find_blame(["That was a brain fart."], phrases=custom)] == [
        "brain fart"]
    assert find_blame(["It was human error."], phrases=()) == []


def test_names_are_case_sensitive_to_avoid_ordinary_words() -> None:
    assert find_blame(["Will broke the build."], people=["Will Hart"])
    assert find_blame(["We will broke nothing."], people=["Will Hart"]) == []


def test_our_own_templates_and_prompts_are_blame_free() -> None:
    utc = UTC
    when = datetime(2026, 11, 20, 14, 0, tzinfo=utc)
    incident = IncidentFacts(
        id=1, ref="INC-1", title="Queue backlog", severity="SEV3", status="closed",
        channel_id="C1", channel_name="inc-1", declared_at=when, started_at=when,
        detected_at=when, mitigated_at=when, resolved_at=when, closed_at=when,
        created_by="U1", roles={"commander": "U1"})
    entries = [EntryFact(at=when, kind="message", text="looking", author="U1",
                         source="message", key=False, ts="1.0")]
    ctx = build_context(incident, entries, [], ReviewFields(), user_name={"U1": "Ann"}.get,
                        generated_at=when, display_tz=ZoneInfo("UTC"))
    env = make_environment()
    for name in available_templates(env):
        assert find_blame(render_postmortem(ctx, name, env), people=["Ann"]) == [], name
