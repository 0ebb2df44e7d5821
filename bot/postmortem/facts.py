"""Plain, frozen records that the postmortem drafting core consumes.

They deliberately know nothing about SQLAlchemy or the Slack API: the lead's
code maps database rows or a Slack export into these, and everything in
``bot.postmortem`` stays a pure function of them (easy to test, easy to
re-render an old incident exactly).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from bot.lifecycle import began_at

__all__ = [
    "COMMAND_KINDS",
    "MILESTONE_KINDS",
    "ActionFact",
    "EntryFact",
    "FileRef",
    "IncidentFacts",
    "LinkRef",
    "Person",
    "ReviewFields",
    "TicketFact",
]

#: Entry kinds that mark a lifecycle moment of the incident.
MILESTONE_KINDS: tuple[str, ...] = ("declared", "started", "detected", "mitigated", "resolved", "closed")

#: Entry kinds recorded through a slash command (rather than chat messages).
COMMAND_KINDS: tuple[str, ...] = (
    "note", "finding", "hypothesis", "mitigation", "decision", "rootcause",
    "status", "severity", "role", "action", "update", "title",
)


@dataclass(frozen=True)
class Person:
    id: str
    name: str


@dataclass(frozen=True)
class FileRef:
    name: str
    permalink: str | None


@dataclass(frozen=True)
class LinkRef:
    """A link preview or image in a message (a pasted dashboard link, an alert's graph)."""

    url: str
    title: str | None = None
    image_url: str | None = None


@dataclass(frozen=True)
class EntryFact:
    """One timeline entry.

    ``kind`` is "message" for chat, a :data:`COMMAND_KINDS` value for slash
    commands, or a :data:`MILESTONE_KINDS` value.  ``text`` is raw Slack
    markup, or None when the message was deleted -- such entries should not
    be passed at all, but the renderer skips them if they are.
    """

    at: datetime  # timezone-aware, UTC
    kind: str
    text: str | None
    author: str | None  # Slack user id
    source: str  # message | command | reaction | pin | backfill
    key: bool
    ts: str | None
    thread_ts: str | None = None
    files: tuple[FileRef, ...] = ()
    edited: bool = False
    # The name an integration posted under; shown instead of the (bot) id in ``author``.
    author_name: str | None = None
    links: tuple[LinkRef, ...] = ()
    edited_by: str | None = None  # Slack user id of whoever last corrected it (Edit, Add to timeline)
    marked_as: str | None = None  # for a message marked with "Add to timeline": the kind chosen (finding, detected…)
    entry_id: int | None = None  # the timeline entry's id: the web page's anchor for it (#entry-<id>)


@dataclass(frozen=True)
class TicketFact:
    """An action item's ticket in the team's tracker, as last read back."""

    tracker: str  # "Jira", "GitHub", "Linear", "GitLab"
    key: str | None  # "OPS-12"; None while it is being created, or when creating it failed
    url: str | None
    status: str | None  # the tracker's own words ("Shipped"), else ours; None: not read yet
    state: str = "ready"  # creating | ready | failed


@dataclass(frozen=True)
class ActionFact:
    id: int
    text: str
    owner: str | None  # Slack user id
    due: date | None
    due_at: datetime | None
    priority: str | None
    status: str  # open | done | wontfix
    ticket: TicketFact | None = None


@dataclass(frozen=True)
class IncidentFacts:
    id: int
    ref: str  # e.g. "INC-12"
    title: str
    severity: str | None
    status: str  # open | closed
    channel_id: str
    channel_name: str | None
    declared_at: datetime
    started_at: datetime | None
    detected_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    created_by: str | None
    roles: dict[str, str] = field(default_factory=dict)  # role -> Slack user id

    @property
    def began_at(self) -> datetime:
        """Impact start if recorded, else the declaration (bot.lifecycle)."""
        return began_at(self.started_at, self.declared_at)


@dataclass(frozen=True)
class ReviewFields:
    """What people wrote in the postmortem Edit modal (None = not yet)."""

    summary: str | None = None
    impact: str | None = None
    root_cause: str | None = None
    contributing_factors: str | None = None
    lessons: str | None = None
    status: str = "draft"  # draft | in_review | final
    version: int = 1
