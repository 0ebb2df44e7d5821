"""Property tests one level up from the pure parsers: any text typed after /incident, run
through the command service against a real database (SQLite and PostgreSQL), gives a
reply and never an exception; a refusal writes nothing; whatever is written can be read
back. And any Slack message payload becomes a storable captured message or is skipped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import count

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.config import Settings
from bot.db import engine_of
from bot.groupcommit import GroupCommit
from bot.models import Incident, TimelineEntry
from bot.services.incidents import write_command_entries
from bot.slack import subcommands
from bot.slack.payloads import AUTHOR_MAX, captured_message, is_recordable, storable
from bot.timeparse import slack_ts_to_datetime

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SETTINGS = Settings(slack_bot_token="xoxb-fuzz", slack_signing_secret="fuzz-secret", database_url="sqlite://")

# Every character class, including NUL and lone surrogates, which databases refuse.
_ANY_CHAR = st.characters(codec=None, categories=None)
_WORDS = st.sampled_from([
    "start", "started", "detected", "mitigated", "resolved", "note", "finding", "status", "severity", "sev1", "sev9",
    "role", "lead", "<@U0BOB>", "close", "timeline", "help", "at", "14:23", "10m ago", "2026-11-20 09:00 UTC",
    "tomorrow", "+02:00", "Europe/Berlin", "<!channel>", "\x00", "\ud800", "🔥", "‏שלום", "x" * 300,
])
_TEXT = st.one_of(
    st.text(_ANY_CHAR, max_size=60),
    st.lists(st.one_of(_WORDS, st.text(_ANY_CHAR, max_size=5)), max_size=8).map(" ".join),
)
_command_ids = count()


def _entries(session_factory) -> int:  # type: ignore[no-untyped-def]
    with session_factory() as s:
        return s.scalar(select(func.count()).select_from(TimelineEntry))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=_TEXT)
def test_any_command_text_gets_a_reply_and_refusals_write_nothing(session_factory, text: str) -> None:  # type: ignore[no-untyped-def]
    with session_factory.begin() as s:
        if s.scalar(select(Incident.id).where(Incident.closed_at.is_(None))) is None:
            s.add(Incident(team_id="T0FUZZ", channel_id="C0FUZZ", title="Fuzz", created_by="U0ANN", declared_at=NOW - timedelta(hours=1)))
    before = _entries(session_factory)
    call = subcommands.Call(team_id="T0FUZZ", channel_id="C0FUZZ", channel_name="inc-fuzz", user_id="U0ANN",
                            command_id=f"fuzz-{next(_command_ids)}", now=NOW, settings=SETTINGS)

    entries = GroupCommit(partial(write_command_entries, engine_of(session_factory)))
    reply = subcommands.answer(session_factory, subcommands.route(storable(text)), call, entries=entries)

    assert isinstance(reply, subcommands.Reply) and reply.text
    if reply.text.startswith(":x:"):
        assert not reply.in_channel
        assert _entries(session_factory) == before
    # Whatever was stored reads back, with aware UTC times.
    with session_factory() as s:
        for entry in s.scalars(select(TimelineEntry)):
            assert entry.at.tzinfo is not None and entry.at.utcoffset() == timedelta(0)
            assert entry.text is None or ("\x00" not in entry.text and not any("\ud800" <= c <= "\udfff" for c in entry.text))


_JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(_ANY_CHAR, max_size=12)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8,
)
_TS = st.builds(lambda s, us: f"{s}.{us:06d}", st.integers(0, 4_102_444_800), st.integers(0, 999_999))


@settings(max_examples=300, deadline=None)
@given(
    fields=st.fixed_dictionaries(
        {},
        optional={
            "ts": _TS, "user": st.one_of(st.text(_ANY_CHAR, max_size=40), st.none()), "bot_id": st.text(max_size=12),
            "username": st.text(_ANY_CHAR, max_size=80), "text": st.one_of(st.text(_ANY_CHAR, max_size=40), st.none()),
            "subtype": st.sampled_from(["bot_message", "file_share", "channel_join", "thread_broadcast", "weird"]),
            "files": st.lists(st.dictionaries(st.sampled_from(["name", "title", "permalink", "mode"]), _JSONISH, max_size=3), max_size=2),
            "thread_ts": _TS, "hidden": st.booleans(), "extra": _JSONISH,
        },
    )
)
def test_any_message_payload_is_captured_storably_or_skipped(fields: dict) -> None:  # type: ignore[type-arg]
    if not is_recordable(fields, bot_user_id="U0BOT", bot_id="B0BOT"):
        return
    message = captured_message(fields, channel_id="C0FUZZ")
    assert message.ts == fields["ts"] and slack_ts_to_datetime(message.ts).tzinfo is not None
    assert "\x00" not in message.text and not any("\ud800" <= c <= "\udfff" for c in message.text)
    assert message.author is None or 0 < len(message.author) <= AUTHOR_MAX
    # Name and permalink always; title and types only when Slack gave them as text.
    assert all({"name", "permalink"} <= set(f) <= {"name", "permalink", "title", "mimetype", "filetype"} for f in message.files)
    assert all(isinstance(f["name"], str) and f["name"] for f in message.files)
    assert all(isinstance(f[k], str) and "\x00" not in f[k] for f in message.files for k in ("title", "mimetype", "filetype") if k in f)
