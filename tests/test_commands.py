"""Tests for bot.commands: every subcommand, its errors, and a never-raises property."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.commands import (
    HELP_TEXT,
    MAX_TIMELINE_LIMIT,
    PARSERS,
    USAGE,
    AddAction,
    AssignRole,
    Backfill,
    Close,
    Command,
    Declare,
    Entry,
    Help,
    ListActions,
    Moment,
    Postmortem,
    SetSeverity,
    SetTitle,
    ShowStats,
    ShowTimeline,
    Start,
    UsageError,
    help_text,
    parse_command,
    split_subcommand,
)
from bot.timeparse import ACCEPTED_DUE_FORMS, ACCEPTED_TIME_FORMS

_COMMAND_TYPES = (Start, Moment, Close, Entry, SetSeverity, AssignRole, ShowTimeline, Help,
                  AddAction, ListActions, Postmortem, Backfill, ShowStats, Declare, SetTitle)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Help, including the bare command.
        ("", Help(None)),
        ("   ", Help(None)),
        ("help", Help(None)),
        ("HELP", Help(None)),
        ("help action", Help("action")),
        ("help Root-Cause", Help("rootcause")),
        ("help action items", Help("action")),
        # start
        ("start Checkout errors", Start("Checkout errors", None)),
        ("start Checkout errors sev2", Start("Checkout errors", "sev2")),
        ("START Checkout errors SEV1", Start("Checkout errors", "sev1")),
        ("start  Checkout   errors  sev4 ", Start("Checkout   errors", "sev4")),
        ("start sev2 rollout broke sev3", Start("sev2 rollout broke", "sev3")),
        ("start Payments &amp; refunds down", Start("Payments &amp; refunds down", None)),
        ("start Region 1 down sev 2", Start("Region 1 down sev 2", None)),  # only "sevN" counts
        ("start " + "x" * 150, Start("x" * 150, None)),
        # Moments
        ("started", Moment("started", None, "")),
        ("detected alerts fired", Moment("detected", None, "alerts fired")),
        ("detected at 14:23 UTC alerts fired for checkout",
         Moment("detected", "14:23 UTC", "alerts fired for checkout")),
        ("mitigated at 2026-01-15T14:23:00+02:00 db failover",
         Moment("mitigated", "2026-01-15T14:23:00+02:00", "db failover")),
        ("resolved at 10m ago", Moment("resolved", "10m ago", "")),
        ("Resolved AT 2:23 pm Europe/Berlin all green",
         Moment("resolved", "2:23 pm Europe/Berlin", "all green")),
        ("started at yesterday 23:10 bad deploy", Moment("started", "yesterday 23:10", "bad deploy")),
        ("detected by the on-call at last", Moment("detected", None, "by the on-call at last")),
        # Entries
        ("note paged the db team", Entry("note", None, "paged the db team")),
        ("note at 10m ago paged", Entry("note", "10m ago", "paged")),
        ("finding p99 latency &gt; 2s", Entry("finding", None, "p99 latency &gt; 2s")),
        ("hypothesis cache stampede", Entry("hypothesis", None, "cache stampede")),
        ("mitigation scaled up", Entry("mitigation", None, "scaled up")),
        ("decision roll back", Entry("decision", None, "roll back")),
        ("rootcause expired cert", Entry("rootcause", None, "expired cert")),
        ("root-cause expired cert", Entry("rootcause", None, "expired cert")),
        ("Root_Cause expired cert", Entry("rootcause", None, "expired cert")),
        ("status at 14:00 investigating", Entry("status", "14:00", "investigating")),
        ("note line one\nline two", Entry("note", None, "line one\nline two")),
        # Simple subcommands
        ("close", Close()),
        ("Close ", Close()),
        ("actions", ListActions()),
        ("backfill", Backfill()),
        # Severity
        ("severity sev1", SetSeverity("sev1")),
        ("severity SEV3", SetSeverity("sev3")),
        ("severity 2", SetSeverity("sev2")),
        # Roles
        ("role lead <@U123ABC>", AssignRole("lead", "U123ABC")),
        ("role comms <@U123ABC|ann>", AssignRole("comms", "U123ABC")),
        ("role Scribe <@W0ENTERPRISE|Ann Smith>", AssignRole("scribe", "W0ENTERPRISE")),
        ("role ic <@U1>", AssignRole("lead", "U1")),
        # Timeline
        ("timeline", ShowTimeline(20)),
        ("timeline 5", ShowTimeline(5)),
        (f"timeline {MAX_TIMELINE_LIMIT}", ShowTimeline(MAX_TIMELINE_LIMIT)),
        # Actions: owner, due and priority at the end in any order.
        ("action Add pool alerts <@U1|ann> due friday 17:00 UTC p1",
         AddAction("Add pool alerts", "U1", "friday 17:00 UTC", "p1")),
        ("action Add pool alerts", AddAction("Add pool alerts", None, None, None)),
        ("action Add pool alerts P0", AddAction("Add pool alerts", None, None, "p0")),
        ("action Add pool alerts p2 <@U1> due in 2 weeks",
         AddAction("Add pool alerts", "U1", "in 2 weeks", "p2")),
        ("action Add pool alerts due 2026-12-01 <@U1> p3",
         AddAction("Add pool alerts", "U1", "2026-12-01", "p3")),
        ("action Add pool alerts due eow", AddAction("Add pool alerts", None, "eow", None)),
        ("action Fix due-date bug due tomorrow 17:00",
         AddAction("Fix due-date bug", None, "tomorrow 17:00", None)),
        ("action Update due dates due end of month",
         AddAction("Update due dates", None, "end of month", None)),
        ("action Review due diligence doc", AddAction("Review due diligence doc", None, None, None)),
        ("action Ask <@U2> about p99s <@U1>", AddAction("Ask <@U2> about p99s", "U1", None, None)),
        ("action Rotate keys &amp; certs <@U1>", AddAction("Rotate keys &amp; certs", "U1", None, None)),
        # Postmortem
        ("postmortem", Postmortem(None)),
        ("postmortem default", Postmortem("default")),
        ("postmortem Short_v2-x", Postmortem("short_v2-x")),
    ],
)
def test_parse_command(text: str, expected: Command) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize(
    ("text", "subcommand", "fragments"),
    [
        ("start", "start", ["needs a title", "`/incident start Checkout errors sev2`"]),
        ("start sev2", "start", ["needs a title"]),
        ("start " + "x" * 151, "start", ["151 characters", "limit is 150"]),
        ("detected at", "detected", ["Expected a time after 'at'", ACCEPTED_TIME_FORMS]),
        ("detected at noon db down", "detected", ["'noon' is not a time", ACCEPTED_TIME_FORMS]),
        ("resolved at 25:00 ok", "resolved", ["'25:00' is not a valid time of day"]),
        ("detected at 14:23 PST pager", "detected",
         ["'14:23 PST'", "America/Los_Angeles", ACCEPTED_TIME_FORMS]),
        ("note at 14:23 Europe/Berlinn x", "note", ["Unknown time zone 'Europe/Berlinn'"]),
        ("note", "note", ["`/incident note` needs some text"]),
        ("note at 14:23", "note", ["needs some text"]),
        ("rootcause", "rootcause", ["`/incident rootcause` needs some text"]),
        ("close now", "close", ["takes no arguments", "'now'"]),
        ("actions all", "actions", ["takes no arguments"]),
        ("backfill 30d", "backfill", ["takes no arguments"]),
        ("severity", "severity", ["Which severity?"]),
        ("severity sev5", "severity", ["'sev5' is not a severity"]),
        ("severity sev 2", "severity", ["'sev 2' is not a severity"]),
        ("severity high", "severity", ["'high' is not a severity"]),
        ("role", "role", ["Which role"]),
        ("role boss <@U1>", "role", ["'boss' is not a role"]),
        ("role lead", "role", ["Who should be lead?"]),
        ("role lead @ann", "role", ["'@ann' is plain text", "autocomplete"]),
        ("role lead ann", "role", ["'ann' is not a single @mention"]),
        ("role lead <@U1> <@U2>", "role", ["not a single @mention"]),
        ("timeline 0", "timeline", [f"between 1 and {MAX_TIMELINE_LIMIT}"]),
        ("timeline 100000", "timeline", [f"between 1 and {MAX_TIMELINE_LIMIT}"]),
        ("timeline ten", "timeline", ["'ten' is not a number"]),
        ("timeline -5", "timeline", ["'-5' is not a number"]),
        ("action", "action", ["needs a description"]),
        ("action p1 <@U1>", "action", ["needs a description"]),
        ("action due friday", "action", ["needs a description"]),
        ("action Add alerts @ann", "action", ["'@ann' is plain text", "autocomplete"]),
        ("action Add alerts <@U1> <@U2>", "action", ["one owner"]),
        ("action Add alerts p1 p2", "action", ["only one priority"]),
        ("action Add alerts due friday due monday", "action", ["only one due date"]),
        ("action Add alerts due 12/01/2026", "action",
         ["After 'due'", "uses slashes", ACCEPTED_DUE_FORMS]),
        ("action Add alerts due frday", "action", ["'frday' is not a due date"]),
        ("action Add alerts due friday 17:00 PST", "action", ["America/Los_Angeles"]),
        ("action Add alerts due next friday", "action", ["'next friday'"]),
        ("postmortem two words", "postmortem", ["'two words' is not a template name"]),
        ("postmortem ../etc", "postmortem", ["not a template name"]),
    ],
)
def test_usage_errors(text: str, subcommand: str, fragments: list[str]) -> None:
    got = parse_command(text)
    assert isinstance(got, UsageError)
    assert got.usage == USAGE[subcommand].replace("{cmd}", "/incident")
    for fragment in fragments:
        assert fragment in got.message


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [("strat outage", "start"), ("notes x", "note"), ("timelime", "timeline"),
     ("rootcase x", "rootcause"), ("acton x", "action"), ("xyzzy", None)],
)
def test_unknown_subcommand_suggests_the_closest(text: str, suggestion: str | None) -> None:
    got = parse_command(text)
    assert isinstance(got, UsageError)
    assert got.message.startswith(f"Unknown subcommand '{text.split()[0]}'.")
    assert "Try `/incident help` for the list." in got.message
    assert got.usage == "/incident help [subcommand]"
    if suggestion is None:
        assert "Did you mean" not in got.message
    else:
        assert f"Did you mean `/incident {suggestion}`?" in got.message


def test_unknown_help_topic() -> None:
    got = parse_command("help strat")
    assert got == UsageError(
        "No help on 'strat'. Did you mean `/incident start`? Try `/incident help` for the list.",
        "/incident help [subcommand]",
    )


def test_configurable_command_name() -> None:
    got = parse_command("role lead", command="/ir")
    assert isinstance(got, UsageError)
    assert got.usage == "/ir role <lead|comms|scribe> <@person>"
    assert "`/ir role lead @ann`" in got.message
    assert "/ir start" in help_text("/ir") and "{cmd}" not in help_text("/ir")


def test_user_text_containing_the_placeholder_is_echoed_unchanged() -> None:
    got = parse_command("close {cmd}")
    assert isinstance(got, UsageError)
    assert "but got '{cmd}'" in got.message


def test_usage_and_help_cover_every_subcommand() -> None:
    assert set(USAGE) == {
        "start", "started", "detected", "mitigated", "resolved", "close", "note", "finding",
        "hypothesis", "mitigation", "decision", "rootcause", "status", "severity", "role",
        "timeline", "help", "action", "actions", "postmortem", "backfill", "update", "snooze-updates", "catchup", "stats",
        "declare", "title", "ticket", "tracker",
    }
    for name, usage in USAGE.items():
        assert usage.startswith(f"{{cmd}} {name}")
        assert usage in HELP_TEXT


def test_command_objects_are_frozen() -> None:
    start = Start("x", None)
    with pytest.raises(AttributeError):
        start.title = "y"  # type: ignore[misc]


# ---------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------

_WORDS = st.sampled_from([
    "start", "detected", "resolved", "note", "root-cause", "action", "role", "lead", "timeline",
    "help", "severity", "sev2", "postmortem", "close", "at", "due", "14:23", "UTC", "PST",
    "10m", "ago", "friday", "17:00", "in", "2", "weeks", "12/01", "p1", "p9", "<@U1>",
    "<@U2|ann b>", "@ann", "<@", ">", "|", "&amp;", "{cmd}", "\n", "ünïcødé", "", " ",
])
_COMMAND_TEXT = st.one_of(
    st.text(max_size=80),
    st.lists(st.one_of(_WORDS, st.text(max_size=4)), max_size=10).map(" ".join),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_COMMAND_TEXT)
def test_parse_command_never_raises(text: str) -> None:
    got = parse_command(text)
    assert isinstance(got, (*_COMMAND_TYPES, UsageError))
    if isinstance(got, UsageError):
        assert got.message and got.usage
        assert got.usage.startswith("/incident ")
    if isinstance(got, (Start, Declare, SetTitle)):
        assert 0 < len(got.title) <= 150
    if isinstance(got, (Entry, AddAction)):
        assert got.text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.text(min_size=1, max_size=30).filter(lambda s: s.strip()),
       owner=st.sampled_from([None, "U1", "W2X"]),
       due=st.sampled_from([None, "friday", "in 3 days", "2026-12-01 17:00 UTC", "eom"]),
       priority=st.sampled_from([None, "p0", "p3"]),
       order=st.permutations([0, 1, 2]))
def test_action_suffixes_in_any_order(body: str, owner: str | None, due: str | None,
                                      priority: str | None, order: list[int]) -> None:
    words = body.split()
    # Keep the generated description free of words that are themselves suffixes.
    if any(w.lower() in ("due", "p0", "p1", "p2", "p3") or w.startswith(("@", "<@")) for w in words):
        return
    suffixes = [f"<@{owner}>" if owner else "", f"due {due}" if due else "", priority or ""]
    text = "action " + body + " " + " ".join(suffixes[i] for i in order if suffixes[i])
    got = parse_command(text)
    assert got == AddAction(body.strip(), owner, due, priority)


def test_the_first_word_names_the_row_and_its_parser_reads_the_rest() -> None:
    """The command listener finds the registry row by the first word and parses the rest once,
    with the row's own parser; the outcome is parse_command's."""
    assert split_subcommand("") == ("help", "") and split_subcommand("   ") == ("help", "")
    unknown = split_subcommand("frobnicate the cache")
    assert isinstance(unknown, UsageError) and unknown.message.startswith("Unknown subcommand 'frobnicate'.")
    assert split_subcommand("  NOTE pool at 100%") == ("note", "pool at 100%")
    for name in USAGE:
        assert split_subcommand(f"{name} whatever follows") == (name, "whatever follows")
    assert set(PARSERS) == set(USAGE)
    from bot.slack.subcommands import SUBCOMMANDS, route

    # One registry row per subcommand, each holding its parser, and the row the first word names is the one that runs.
    assert set(SUBCOMMANDS) == set(USAGE)
    assert all(row.parse is PARSERS[name] for name, row in SUBCOMMANDS.items())
    assert {name for name, row in SUBCOMMANDS.items() if row.slow} == {"postmortem", "backfill", "stats"}
    for text in ("postmortem", "postmortem google", "Backfill", "  backfill  "):
        routed = route(text)
        assert routed.subcommand is not None and routed.subcommand.slow and routed.subcommand.name == split_subcommand(text)[0]
        assert routed.parsed == parse_command(text)
    for text in ("note postmortem", "start Backfill broke sev2", "help postmortem", "timeline 5", ""):
        routed = route(text)
        assert routed.subcommand is not None and not routed.subcommand.slow and routed.subcommand.name == split_subcommand(text)[0]
        assert routed.parsed == parse_command(text)
    # A usage error has no row: nothing runs, the reply says what to type.
    for text in ("severity sev9", "frobnicate", "close now"):
        routed = route(text)
        assert routed.subcommand is None and isinstance(routed.parsed, UsageError) and routed.parsed == parse_command(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("stats", ShowStats(period="", severity=None, share=False)),
        ("stats last 90d", ShowStats(period="last 90d", severity=None, share=False)),
        ("stats SEV2 last 365d --share", ShowStats(period="last 365d", severity="sev2", share=True)),
        ("stats 2026-01-01 to 2026-03-31 sev1", ShowStats(period="2026-01-01 to 2026-03-31", severity="sev1", share=False)),
    ],
)
def test_stats(text: str, expected: ShowStats) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("stats sev0", "'sev0' is not a severity; use sev1, sev2, sev3 or sev4."),
        ("stats sev1 sev3", "Give only one severity (sev1, sev2, sev3 or sev4), or none for all."),
        ("stats --public", "Unknown option '--public': the only option is `--share`."),
    ],
)
def test_stats_errors(text: str, message: str) -> None:
    got = parse_command(text)
    assert isinstance(got, UsageError)
    assert (got.message, got.usage) == (message, "/incident stats [last 30d|90d|365d|<from> to <to>] [sev1|sev2|sev3|sev4] [--share]")
