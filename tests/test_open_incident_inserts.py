"""The one-statement writes (message batches, timeline commands) find the open incident themselves."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from bot.db import engine_of
from bot.models import TimelineEntry
from bot.services.incidents import CommandEntry, close_incident, start_incident, write_command_entries

NOW = datetime(2026, 11, 23, 10, 0, 0, 123456, tzinfo=UTC)


def _start(session, team_id: str, channel_id: str):  # type: ignore[no-untyped-def]
    return start_incident(session, team_id=team_id, channel_id=channel_id, channel_name=None, title="Checkout errors",
                          severity=None, user_id="U1", now=NOW, command_id=f"start-{team_id}-{channel_id}")


def _note(*, team_id: str = "T1", channel_id: str = "C1", command_id: str = "trig-1", text: str = "pool at 100%") -> CommandEntry:
    return CommandEntry(team_id=team_id, channel_id=channel_id, kind="note", text=text, author="U2", command_id=command_id, now=NOW)


def _notes(session_factory):  # type: ignore[no-untyped-def]
    with session_factory() as s:
        return [tuple(n) for n in s.execute(
            select(TimelineEntry.incident_id, TimelineEntry.team_id, TimelineEntry.kind, TimelineEntry.text, TimelineEntry.author,
                   TimelineEntry.source, TimelineEntry.at, TimelineEntry.recorded_at, TimelineEntry.ts, TimelineEntry.command_id)
            .where(TimelineEntry.kind == "note").order_by(TimelineEntry.command_id))]


def test_a_note_lands_on_the_open_incident_of_its_own_team_and_channel_once(session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_factory.begin() as s:
        ours = _start(s, "T1", "C1")
        theirs = _start(s, "T2", "C1")  # the same channel id in another workspace
        ours_id, theirs_id = ours.id, theirs.id
    engine = engine_of(session_factory)
    assert write_command_entries(engine, [_note()]) == [True]
    # The same command again (Slack's retry, same trigger_id): recorded already, not a second entry.
    assert write_command_entries(engine, [_note()]) == [True]
    assert write_command_entries(engine, [_note(channel_id="C9", command_id="trig-2")]) == [False]  # no incident there
    assert _notes(session_factory) == [(ours_id, "T1", "note", "pool at 100%", "U2", "command", NOW, NOW, None, "trig-1")]
    assert theirs_id != ours_id


def test_one_batch_answers_each_command_for_itself(session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_factory.begin() as s:
        ours_id = _start(s, "T1", "C1").id
        theirs_id = _start(s, "T2", "C2").id
    batch = [
        _note(command_id="a", text="first"),
        _note(channel_id="C9", command_id="b", text="nowhere"),  # no incident in C9
        _note(team_id="T2", channel_id="C2", command_id="c", text="theirs"),
        _note(command_id="a", text="first"),  # the same command twice in one batch
    ]
    assert write_command_entries(engine_of(session_factory), batch) == [True, False, True, True]
    assert [(n[0], n[3], n[9]) for n in _notes(session_factory)] == [(ours_id, "first", "a"), (theirs_id, "theirs", "c")]


def test_no_note_lands_on_a_closed_incident(session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_factory.begin() as s:
        incident = _start(s, "T1", "C1")
        close_incident(s, incident=incident, user_id="U1", rule="lead", command_id="close-1", now=NOW)
    assert write_command_entries(engine_of(session_factory), [_note()]) == [False]
    assert _notes(session_factory) == []
