"""Pure parts of declaring: the channel name, the parser, the settings, the announcement's blocks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.channel_names import DEFAULT_PATTERN, channel_name, pattern_problem, slugify, with_suffix
from bot.commands import Declare, SetTitle, UsageError, parse_command
from bot.config import SettingsError, settings_from_env
from bot.simulator.methods import check_channel_name
from bot.simulator.records import SlackError
from bot.slack.blocks.declare import AnnouncementFacts, announcement_message, closing_line, topic

WHEN = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(("title", "slug"), [
    ("Checkout returns 502 (EU)!", "checkout-returns-502-eu"),
    ("Zahlungsausfall Köln", "zahlungsausfall-koln"),
    ("db_primary  --  failover", "db-primary-failover"),
    ("!!! ???", ""),
    ("支払い", ""),
])
def test_slugify(title: str, slug: str) -> None:
    assert slugify(title) == slug


def test_names_fit_slacks_rules_and_fall_back_for_symbol_titles() -> None:
    assert channel_name(DEFAULT_PATTERN, title="Checkout down", severity=None, when=WHEN).name == "inc-20261123-checkout-down"
    fallback = channel_name(DEFAULT_PATTERN, title="!!!", severity="sev1", when=WHEN)
    assert (fallback.name, fallback.fallback) == ("inc-20261123-incident", True)
    assert channel_name("{severity}-{slug}", title="Checkout", severity="sev1", when=WHEN).name == "sev1-checkout"
    assert channel_name("{severity}-{slug}", title="Checkout", severity=None, when=WHEN).name == "checkout"
    long = channel_name(DEFAULT_PATTERN, title="word " * 60, severity=None, when=WHEN).name
    assert len(long) == 80 and not long.endswith("-")
    for n in (2, 10, 20):
        suffixed = with_suffix(long, n)
        assert len(suffixed) <= 80 and suffixed.endswith(f"-{n}")
        check_channel_name(suffixed)  # the simulator's copy of Slack's rules accepts it


@pytest.mark.parametrize(("name", "code"), [
    ("", "invalid_name_required"), ("a" * 81, "invalid_name_maxlength"), ("Checkout", "invalid_name_specials"),
    ("inc checkout", "invalid_name_specials"), ("--", "invalid_name_punctuation"),
])
def test_the_simulator_refuses_what_slack_refuses(name: str, code: str) -> None:
    with pytest.raises(SlackError) as refused:
        check_channel_name(name)
    assert refused.value.code == code


def test_pattern_problems() -> None:
    assert pattern_problem(DEFAULT_PATTERN) is None
    assert "must contain {slug}" in (pattern_problem("inc-{date:%Y%m%d}") or "")
    assert "unknown placeholder(s) {title}" in (pattern_problem("inc-{title}") or "")
    with pytest.raises(SettingsError) as bad:
        settings_from_env({"SCRIBE_CHANNEL_PATTERN": "inc-{nope}-{slug}", "SCRIBE_ANNOUNCE_CHANNEL": "#not ok"}, require_slack=False)
    assert len(bad.value.problems) == 2
    settings = settings_from_env({"SCRIBE_ANNOUNCE_CHANNEL": "#incidents", "SCRIBE_CHANNEL_PATTERN": "{date:%Y-%m-%d}-{slug}"}, require_slack=False)
    assert (settings.announce_channel, settings.channel_pattern) == ("#incidents", "{date:%Y-%m-%d}-{slug}")


def test_declare_parsing() -> None:
    assert parse_command("declare Checkout down sev1 <@U0ANN> <@U0BOB|bob> <@U0ANN>") == Declare("Checkout down", "sev1", ("U0ANN", "U0BOB"))
    assert parse_command("declare Checkout down <@U0ANN> SEV2") == Declare("Checkout down", "sev2", ("U0ANN",))
    assert parse_command("declare Checkout down") == Declare("Checkout down", None, ())
    for text, message in [
        ("declare", "An incident needs a title"), ("declare sev1 <@U0ANN>", "An incident needs a title"),
        ("declare Checkout @ann", "'@ann' is plain text, not a Slack mention"),
        ("declare Checkout sev1 sev2", "Give only one severity"), ("declare " + "x" * 151, "the limit is 150"),
    ]:
        got = parse_command(text)
        assert isinstance(got, UsageError) and message in got.message, text
        assert got.usage == "/incident declare <title> [sev1|sev2|sev3|sev4] [@people…]"
    assert parse_command("title New title") == SetTitle("New title")
    assert isinstance(parse_command("title"), UsageError)


def test_topic_fits_250_characters() -> None:
    assert topic("Checkout", "sev1", "U0ANN") == "Checkout · sev1 · lead <@U0ANN>"
    assert topic("Checkout", None, None) == "Checkout · severity not set · no lead yet"
    long = topic("x" * 300, "sev1", "U0ANN")
    assert len(long) == 250 and long.endswith("… · sev1 · lead <@U0ANN>")


def test_the_announcement_of_a_private_incident_names_nothing() -> None:
    facts = AnnouncementFacts(incident_id=3, ref="INC-3", title="Payroll leak", severity="sev1", status="resolved", lead="U0ANN",
                              channel_id="G1", started_at=WHEN, private=True, resolved_at=WHEN.replace(hour=11),
                              postmortem_url="https://x/archives/G1/p1")
    text, blocks = announcement_message(facts)
    assert text == ":lock: A private incident was resolved; ask <@U0ANN>."
    shown = str(blocks)
    assert "Payroll" not in shown and "G1" not in shown and "sev1" not in shown and "declare_join" not in shown
    assert closing_line(facts, command="/incident", for_announcement=True) == ":white_check_mark: The private incident was resolved."
    inside = closing_line(facts, command="/incident", for_announcement=False)
    assert inside.startswith(":white_check_mark: *INC-3 was resolved* after 1 h 00 min") and "https://x/archives/G1/p1" in inside


def test_the_announcement_shows_update_status_when_known_but_not_for_private_incidents() -> None:
    facts = AnnouncementFacts(incident_id=4, ref="INC-4", title="Checkout", severity="sev1", status="open", lead="U0ANN",
                              channel_id="C1", started_at=WHEN, private=False, update_status="identified",
                              next_update_at=WHEN.replace(minute=30))
    fields = [f["text"] for f in announcement_message(facts)[1][1]["fields"]]
    assert fields[-2:] == ["*Latest update*\nIdentified", "*Next update*\nby 2026-11-23 10:30:00 UTC"]
    from dataclasses import replace

    assert "Identified" not in str(announcement_message(replace(facts, private=True)))
