"""The one-statement writes (message batches, timeline commands) find the open incident themselves."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select

from bot.models import TimelineEntry
from bot.services.incidents import add_entry_to_open_incident, close_incident, start_incident

NOW = datetime(2026, 11, 23, 10, 0, 0, 123456, tzinfo=timezone.utc)


def _start(session, team_id: str, channel_id: str):  # type: ignore[no-untyped-def]
    return start_incident(session, team_id=team_id, channel_id=channel_id, channel_name=None, title="Checkout errors",
                          severity=None, user_id="U1", now=NOW, command_id=f"start-{team_id}-{channel_id}")


def _note(session, *, team_id: str = "T1", channel_id: str = "C1", command_id: str = "trig-1", text: str = "pool at 100%") -> bool:  # type: ignore[no-untyped-def]
    return add_entry_to_open_incident(session, team_id=team_id, channel_id=channel_id, kind="note", text=text, at=NOW,
                                      author="U2", command_id=command_id, now=NOW)


def test_a_note_lands_on_the_open_incident_of_its_own_team_and_channel_once(session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_factory.begin() as s:
        ours = _start(s, "T1", "C1")
        theirs = _start(s, "T2", "C1")  # the same channel id in another workspace
        ours_id, theirs_id = ours.id, theirs.id
    with session_factory.begin() as s:
        assert _note(s) is True
        assert _note(s) is False  # the same command again (same trigger_id): not a second entry
        assert _note(s, channel_id="C9", command_id="trig-2") is False  # no incident in that channel
    with session_factory() as s:
        notes = s.execute(select(TimelineEntry.incident_id, TimelineEntry.team_id, TimelineEntry.kind, TimelineEntry.text,
                                 TimelineEntry.author, TimelineEntry.source, TimelineEntry.at, TimelineEntry.ts)
                          .where(TimelineEntry.kind == "note")).all()
    assert [tuple(n) for n in notes] == [(ours_id, "T1", "note", "pool at 100%", "U2", "command", NOW, None)]
    assert theirs_id != ours_id


def test_no_note_lands_on_a_closed_incident(session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_factory.begin() as s:
        incident = _start(s, "T1", "C1")
        close_incident(s, incident=incident, user_id="U1", rule="lead", command_id="close-1", now=NOW)
    with session_factory.begin() as s:
        assert _note(s) is False
    with session_factory() as s:
        assert s.scalars(select(TimelineEntry.kind).where(TimelineEntry.kind == "note")).all() == []
