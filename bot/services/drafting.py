"""What an AI draft of an incident is made from (issue 26, docs/ai-drafts.md), read in one
short transaction as plain data. The model is asked after that transaction has closed
(bot.slack.drafts), so nothing here calls the network.

Only the incident's own live entries are read: not deleted, not hidden from the postmortem,
recorded in the incident's channel. Columns are read as rows, not ORM objects: an incident
of 10,000 messages is read in milliseconds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.drafting import RecordedEntry
from bot.models import Incident, TimelineEntry

__all__ = ["DraftSource", "SourceEntry", "draft_source"]

_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


@dataclass(frozen=True)
class SourceEntry:
    """One entry as a draft may cite it: what the model is sent, and where it lives in Slack."""

    id: int
    at: datetime  # aware UTC
    author: str | None  # Slack user id (a bot id for an integration)
    author_name: str | None  # the name an integration posted under
    kind: str  # for a message marked through "Add to timeline": the kind chosen
    text: str
    key: bool
    ts: str | None  # Slack message ts; None for a command entry
    thread_ts: str | None


@dataclass(frozen=True)
class DraftSource:
    incident_id: int
    team_id: str
    channel_id: str
    ref: str
    private: bool
    last_update_at: datetime | None
    entries: tuple[SourceEntry, ...]

    def people_wanted(self) -> set[str]:
        """Whose display names the prompt needs: authors (people, not integrations) and the
        people mentioned in the entries."""
        wanted: set[str] = set()
        for entry in self.entries:
            if entry.author and entry.author_name is None:
                wanted.add(entry.author)
            if "<@" in entry.text:
                wanted.update(_MENTION.findall(entry.text))
        return wanted

    def recorded(self, names: Mapping[str, str]) -> list[RecordedEntry]:
        """The entries as bot.drafting takes them, authors named (`names`: user id -> display name)."""
        return [
            RecordedEntry(
                id=e.id, incident_id=self.incident_id, at=e.at, kind=e.kind, text=e.text, key=e.key,
                author=e.author_name or names.get(e.author or "", ""),
            )
            for e in self.entries
        ]

    def by_id(self) -> dict[int, SourceEntry]:
        return {e.id: e for e in self.entries}


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def draft_source(session: Session, incident: Incident) -> DraftSource:
    """The incident's live, shown entries in time order, and what a draft needs to know of it."""
    e = TimelineEntry
    rows = session.execute(
        select(e.id, e.at, e.author, e.author_name, e.kind, e.key_kind, e.text, e.key, e.ts, e.thread_ts)
        .where(e.incident_id == incident.id, e.channel_id == incident.channel_id, e.deleted_at.is_(None),
               e.hidden.is_(False), e.text.is_not(None))
        .order_by(e.at, e.id)
    ).all()
    entries = tuple(
        SourceEntry(
            id=row.id, at=_utc(row.at), author=row.author, author_name=row.author_name,
            kind=row.key_kind if row.kind == "message" and row.key_kind else row.kind,
            text=row.text or "", key=bool(row.key), ts=row.ts, thread_ts=row.thread_ts,
        )
        for row in rows
    )
    return DraftSource(
        incident_id=incident.id, team_id=incident.team_id, channel_id=incident.channel_id, ref=incident.ref,
        private=bool(incident.is_private),
        last_update_at=_utc(incident.last_update_at) if incident.last_update_at is not None else None,
        entries=entries,
    )
