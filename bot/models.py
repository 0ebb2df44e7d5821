"""Database tables, in SQLAlchemy 2.0 typed style.

Every datetime column is `UTCDateTime`: aware UTC on the way in and out, with
microseconds, on SQLite (which has no time-zone type) as well as PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    ColumnElement,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bot.lifecycle import MILESTONES, began_at

UTC = UTC


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC; refuses naive ones so no local time sneaks in."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; attach a time zone first")
        value = value.astimezone(UTC)
        # SQLite stores text; dropping tzinfo keeps the stored form uniform and sortable.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Any) -> Any:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        # The same text SQLAlchemy's own chain makes (process_bind_param, then SQLite's
        # DATETIME format "YYYY-MM-DD HH:MM:SS.ffffff"; tests/test_models.py compares the
        # two), in one C call: the chain took 3.5 µs a value, and every captured message has
        # two, written while the whole batch waits for its commit (bot.groupcommit).
        def to_sqlite_text(value: datetime | None) -> str | None:
            if value is None:
                return None
            if not isinstance(value, datetime) or value.tzinfo is None:
                return super(UTCDateTime, self).bind_processor(dialect)(value)  # type: ignore[misc]
            if value.tzinfo is UTC:  # nearly always: the app's clock and Slack's ts are UTC already
                return value.isoformat(" ", "microseconds")[:26]  # without its "+00:00"
            return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

        return to_sqlite_text

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        # One open incident per channel, enforced by the database so two processes
        # racing on `/incident start` cannot both win.
        Index(
            "uq_incidents_open_channel",
            "team_id",
            "channel_id",
            unique=True,
            sqlite_where=text("closed_at IS NULL"),
            postgresql_where=text("closed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32), index=True)
    channel_name: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(255))
    # Recorded in a private channel: shown only to its members (stats, web view, App Home).
    is_private: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    severity: Mapped[str | None] = mapped_column(String(8))
    created_by: Mapped[str] = mapped_column(String(32))
    declared_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    detected_at: Mapped[datetime | None]
    mitigated_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # Status updates (`/incident update`): the latest one's status word and time, when the
    # next one is expected (what that update promised, else the severity's interval; None:
    # no cadence), and the end of a `/incident snooze-updates`, before which nothing nudges.
    update_status: Mapped[str | None] = mapped_column(String(16))
    last_update_at: Mapped[datetime | None]
    next_update_at: Mapped[datetime | None]
    updates_snoozed_until: Mapped[datetime | None]
    # Every message of the channel up to this instant is recorded: events were arriving (a
    # process was up and caught up), or a read of history got this far without a gap.
    # Catch-up reads from here, never from the newest message recorded (a live message after a
    # restart would hide what was said while the app was down).
    heard_until: Mapped[datetime | None]

    roles: Mapped[list[RoleAssignment]] = relationship(back_populates="incident", cascade="all, delete-orphan")
    entries: Mapped[list[TimelineEntry]] = relationship(back_populates="incident", cascade="all, delete-orphan")
    action_items: Mapped[list[ActionItem]] = relationship(back_populates="incident", cascade="all, delete-orphan")

    @property
    def ref(self) -> str:
        return f"INC-{self.id}"

    @property
    def status(self) -> str:
        return "closed" if self.closed_at else "open"

    @hybrid_property
    def began_at(self) -> datetime:
        """When it began: impact start if recorded, else the declaration (bot.lifecycle)."""
        return began_at(self.started_at, self.declared_at)

    @began_at.inplace.expression
    @classmethod
    def _began_at_expression(cls) -> ColumnElement[datetime]:
        # The same rule in SQL, for filtering and grouping by it.
        return func.coalesce(cls.started_at, cls.declared_at, type_=UTCDateTime())

    def milestones(self) -> dict[str, datetime | None]:
        """Its recorded milestone times by name (started, detected, mitigated, resolved)."""
        return {name: getattr(self, f"{name}_at") for name in MILESTONES}

    def role_holder(self, role: str) -> str | None:
        return next((r.user_id for r in self.roles if r.role == role), None)


class RoleAssignment(Base):
    __tablename__ = "role_assignments"
    __table_args__ = (UniqueConstraint("incident_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(32))
    assigned_at: Mapped[datetime]

    incident: Mapped[Incident] = relationship(back_populates="roles")


class TimelineEntry(Base):
    """One thing that happened: a captured message or an accepted command."""

    __tablename__ = "timeline_entries"
    __table_args__ = (
        # The exactly-once guarantee: Slack redeliveries, reconnect repeats and
        # backfill all collide here instead of producing a second entry. Per team, because
        # two workspaces can have the same channel id.
        UniqueConstraint("team_id", "channel_id", "ts", name="uq_timeline_entries_team_channel_ts"),
        # A retried command is recorded once. Partial: message entries (most rows) have no
        # command_id, and indexing their NULLs cost every captured message an index insert.
        Index("uq_timeline_entries_command_id", "command_id", unique=True,
              sqlite_where=text("command_id IS NOT NULL"), postgresql_where=text("command_id IS NOT NULL")),
        Index("ix_timeline_entries_incident_at", "incident_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    # The incident's team, repeated here so the exactly-once constraint can include it.
    team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    # Slack message ts for captured messages; NULL for command entries.
    ts: Mapped[str | None] = mapped_column(String(32))
    # A unique id for a command entry (the slash command's trigger_id) so a repeated
    # request cannot add the same command twice.
    command_id: Mapped[str | None] = mapped_column(String(128))
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))
    key: Mapped[bool] = mapped_column(Boolean, default=False)
    # A missing list is SQL NULL (not JSON null), as the batch writer stores it too.
    files: Mapped[list[Any] | None] = mapped_column(JSON(none_as_null=True))
    edited_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    recorded_at: Mapped[datetime]
    # The name an integration posted under (`username`, `bot_profile.name`); `author` keeps its bot id.
    author_name: Mapped[str | None] = mapped_column(String(255))
    # Link previews and images: [{"url", "title", "image_url"?}], SQL NULL when none.
    links: Mapped[list[Any] | None] = mapped_column(JSON(none_as_null=True))
    # Curation (bot.services.curation): left out of the postmortem; the kind a person chose
    # for a message through "Add to timeline"; bumped on every change so a form opened on
    # an older version is refused; who corrected it last ("edited by ann" in the draft).
    hidden: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    key_kind: Mapped[str | None] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    corrected_by: Mapped[str | None] = mapped_column(String(32))

    incident: Mapped[Incident] = relationship(back_populates="entries")
    revisions: Mapped[list[EntryRevision]] = relationship(back_populates="entry", cascade="all, delete-orphan", order_by="EntryRevision.id")
    edits: Mapped[list[EntryEdit]] = relationship(back_populates="entry", cascade="all, delete-orphan", order_by="EntryEdit.id")
    key_marks: Mapped[list[KeyMark]] = relationship(back_populates="entry", cascade="all, delete-orphan")


class EntryEdit(Base):
    """The text an entry had before an edit; purged with the entry's text on delete."""

    __tablename__ = "entry_edits"
    __table_args__ = (UniqueConstraint("entry_id", "edit_ts"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("timeline_entries.id", ondelete="CASCADE"), index=True)
    previous_text: Mapped[str | None] = mapped_column(Text)
    # The edit's own ts from Slack (message.edited.ts) makes a redelivered edit a no-op.
    edit_ts: Mapped[str] = mapped_column(String(32))
    edited_at: Mapped[datetime]

    entry: Mapped[TimelineEntry] = relationship(back_populates="edits")


class EntryRevision(Base):
    """One correction made from Slack (Edit, Hide, Delete, Add to timeline): who, when, the old value."""

    __tablename__ = "entry_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("timeline_entries.id", ondelete="CASCADE"), index=True)
    field: Mapped[str] = mapped_column(String(16))  # text | at | hidden | key_kind | deleted
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    changed_by: Mapped[str] = mapped_column(String(32))
    changed_at: Mapped[datetime]

    entry: Mapped[TimelineEntry] = relationship(back_populates="revisions")


class KeyMark(Base):
    """Why an entry is a key event: a native pin, or one person's 📌 reaction.

    Kept per marker so removing one person's reaction leaves a pin (or another
    person's reaction) in force.
    """

    __tablename__ = "key_marks"
    __table_args__ = (UniqueConstraint("entry_id", "marker", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("timeline_entries.id", ondelete="CASCADE"), index=True)
    marker: Mapped[str] = mapped_column(String(16))  # "pin" or "reaction"
    user_id: Mapped[str] = mapped_column(String(32), default="")
    marked_at: Mapped[datetime]

    entry: Mapped[TimelineEntry] = relationship(back_populates="key_marks")


class UserProfile(Base):
    """Cache of users.info: display names for drafts, time zones for typed times."""

    __tablename__ = "user_profiles"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(255))
    real_name: Mapped[str | None] = mapped_column(String(255))
    tz: Mapped[str | None] = mapped_column(String(64))
    # For matching a Slack user to a tracker's account (needs the users:read.email scope).
    email: Mapped[str | None] = mapped_column(String(255))
    fetched_at: Mapped[datetime]


class ActionItem(Base):
    __tablename__ = "action_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(32))
    due_date: Mapped[date | None] = mapped_column(Date)
    due_at: Mapped[datetime | None]
    priority: Mapped[str | None] = mapped_column(String(4))
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(32))
    # "Snooze" from a reminder: no reminder before this instant (the due date is unchanged).
    snoozed_until: Mapped[datetime | None]
    # What created it: "view:<id>" for the modal, the slash command's trigger_id otherwise.
    source_id: Mapped[str | None] = mapped_column(String(128), unique=True)

    incident: Mapped[Incident] = relationship(back_populates="action_items")
    # Its ticket in the team's tracker, created by the scribe or linked by pasting it (issue 25).
    ticket: Mapped[ItemTicket | None] = relationship(back_populates="item", cascade="all, delete-orphan", uselist=False)


class ItemTicket(Base):
    """An action item's ticket in a tracker (Jira, GitHub, Linear, GitLab): one per item.

    `creating`: asked for, the outbox row (kind ticket_create) is on it; `ready`: the ticket
    exists (created, found again by its marker, or linked); `failed`: the tracker refused,
    `last_error` says why in words for people. Status comes back by webhook or polling and is
    applied only when the tracker says it changed later than what we hold (`tracker_updated_at`),
    so a replayed or reordered delivery changes nothing.
    """

    __tablename__ = "item_tickets"
    __table_args__ = (Index("ix_item_tickets_tracker_key", "tracker", "ticket_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    action_item_id: Mapped[int] = mapped_column(ForeignKey("action_items.id", ondelete="CASCADE"), unique=True)
    tracker: Mapped[str] = mapped_column(String(16))  # jira | github | linear | gitlab
    target: Mapped[str] = mapped_column(String(255))  # project key, owner/repo, team key
    state: Mapped[str] = mapped_column(String(16))  # creating | ready | failed
    # As people write it: "OPS-12", "acme/ops#12", "ENG-42"; None until created.
    ticket_key: Mapped[str | None] = mapped_column(String(255))
    url: Mapped[str | None] = mapped_column(String(1000))
    tracker_id: Mapped[str | None] = mapped_column(String(64))  # the tracker's own id
    # What every attempt to create it carries, so a lost answer is found, never made twice.
    marker: Mapped[str] = mapped_column(String(64), unique=True)
    linked: Mapped[bool] = mapped_column(Boolean, default=False)  # pasted, not created by us
    status: Mapped[str | None] = mapped_column(String(16))  # open | done | wontfix, as read back
    status_name: Mapped[str | None] = mapped_column(String(255))  # the tracker's words: "Shipped"
    assignee_id: Mapped[str | None] = mapped_column(String(255))  # the tracker's account id
    tracker_updated_at: Mapped[datetime | None]
    last_error_kind: Mapped[str | None] = mapped_column(String(16))  # bot.trackers.ErrorKind
    last_error: Mapped[str | None] = mapped_column(Text)
    synced_at: Mapped[datetime | None]
    created_at: Mapped[datetime]

    item: Mapped[ActionItem] = relationship(back_populates="ticket")


class ChannelTracker(Base):
    """`/incident tracker …` in a channel: its own tracker and target, instead of the
    workspace's default (SCRIBE_TRACKER); tracker None: no tickets by default there."""

    __tablename__ = "channel_trackers"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tracker: Mapped[str | None] = mapped_column(String(16))
    target: Mapped[str | None] = mapped_column(String(255))
    set_by: Mapped[str] = mapped_column(String(32))
    set_at: Mapped[datetime]


class TrackerDelivery(Base):
    """A webhook delivery already received, so a replay of it is refused; kept a week."""

    __tablename__ = "tracker_deliveries"

    tracker: Mapped[str] = mapped_column(String(16), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(index=True)


class TrackerCursor(Base):
    """Polling one tracker target (Socket Mode, or no webhook): where the next poll starts,
    when it is due, and how many polls in a row failed (the backoff)."""

    __tablename__ = "tracker_cursors"

    tracker: Mapped[str] = mapped_column(String(16), primary_key=True)
    target: Mapped[str] = mapped_column(String(255), primary_key=True)
    since: Mapped[datetime]
    next_poll_at: Mapped[datetime]
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class TrackerPerson(Base):
    """Who a tracker account is in Slack, learned when an owner's email matched it, so an
    assignee change maps back to a Slack user where the tracker hides emails (GitHub)."""

    __tablename__ = "tracker_people"

    tracker: Mapped[str] = mapped_column(String(16), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32))
    learned_at: Mapped[datetime]


class OutboxItem(Base):
    """One side effect to carry out once: a reminder or nudge to post, a channel to create,
    an announcement to post or edit, a status update to post, a draft to upload.

    The row is written in the same transaction as the decision that wants the effect, and
    carried out after commit by whichever process claims it first (bot.outbox): a claim is
    an atomic status change, so several processes carry it out once; the row, not the
    scheduler and not the request that made it, is the source of truth, so a crash loses
    nothing. Rows of one `lane` are carried out in order, one at a time (a declare's steps,
    one channel's posts, one announcement's edits).
    """

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("dedupe_key"),
        Index("ix_outbox_status_due", "status", "due_at"),
        Index("ix_outbox_lane", "lane", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The incident it belongs to; None only before the incident exists (a declare's channel).
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    action_item_id: Mapped[int | None] = mapped_column(ForeignKey("action_items.id", ondelete="CASCADE"), index=True)
    # The workspace whose Slack (or tracker) it acts in.
    team_id: Mapped[str | None] = mapped_column(String(32))
    # What to do (bot.outbox.kinds): before_due | due | overdue | snoozed | digest | review |
    # nudge_update | nudge_lead | nudge_idle (reminders), declare_channel, announce, …
    kind: Mapped[str] = mapped_column(String(32))
    # e.g. "item:12:due:2026-12-01": asking twice for the same effect makes one row.
    dedupe_key: Mapped[str] = mapped_column(String(160))
    lane: Mapped[str | None] = mapped_column(String(128))
    # What the decision knew that carrying it out needs (ids, texts, a response_url).
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    due_at: Mapped[datetime]
    # pending | sending (claimed) | sent (carried out) | cancelled (nothing left to do) |
    # skipped (a later one stands for it) | failed (refused for good; last_error says why)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # After a failed attempt: not before this instant (exponential backoff). NULL = as soon as due.
    next_attempt_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    # Where a posted message landed.
    channel_id: Mapped[str | None] = mapped_column(String(32))
    message_ts: Mapped[str | None] = mapped_column(String(32))
    # What carrying it out found that someone must be told (refused invitations, …).
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    last_error: Mapped[str | None] = mapped_column(Text)


class Postmortem(Base):
    """Review state and what people wrote in the Edit modal; survives regeneration."""

    __tablename__ = "postmortems"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft | in_review | final
    template: Mapped[str | None] = mapped_column(String(64))
    summary: Mapped[str | None] = mapped_column(Text)
    impact: Mapped[str | None] = mapped_column(Text)
    root_cause: Mapped[str | None] = mapped_column(Text)
    contributing_factors: Mapped[str | None] = mapped_column(Text)
    lessons: Mapped[str | None] = mapped_column(Text)
    canvas_id: Mapped[str | None] = mapped_column(String(32))
    summary_ts: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime]
    updated_by: Mapped[str | None] = mapped_column(String(32))


class PostmortemVersion(Base):
    __tablename__ = "postmortem_versions"
    __table_args__ = (UniqueConstraint("incident_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    template: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    markdown: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(String(32))


class HomeTab(Base):
    """Someone who has opened the app's Home tab: their Home is republished when what it shows changes."""

    __tablename__ = "home_tabs"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    opened_at: Mapped[datetime]
    published_at: Mapped[datetime | None]
class Declaration(Base):
    """One `/incident declare` (or the Declare modal's submit), claimed by its idempotency key.

    The unique key is what makes a double-clicked submit, or the same submit reaching two
    processes, one incident: only the first INSERT wins, and only its process creates the
    channel. The incident row is added only once the channel exists, so no incident is
    ever left without its channel.
    """

    __tablename__ = "declarations"

    id: Mapped[int] = mapped_column(primary_key=True)
    # "command:<trigger_id>" or "view:<view id>".
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    team_id: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(255))
    severity: Mapped[str | None] = mapped_column(String(8))
    description: Mapped[str | None] = mapped_column(Text)
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    people: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # creating | done | failed
    status: Mapped[str] = mapped_column(String(16), default="creating")
    channel_id: Mapped[str | None] = mapped_column(String(32))
    channel_name: Mapped[str | None] = mapped_column(String(255))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"), unique=True)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ReservedChannelName(Base):
    """A channel name a declaration has taken for the channel it creates.

    Reserved in the database before Slack is asked, so two declares of the same title (on
    two processes at the same moment) ask Slack for two different names, and a name Slack
    says is taken can be recognised as this declaration's own earlier try (its answer lost
    to a crash or a timeout) rather than someone else's channel.
    """

    __tablename__ = "reserved_channel_names"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    declaration_id: Mapped[int] = mapped_column(ForeignKey("declarations.id", ondelete="CASCADE"), index=True)
    reserved_at: Mapped[datetime]


class Announcement(Base):
    """The one message per incident in SCRIBE_ANNOUNCE_CHANNEL, and its closing line.

    The row is claimed (inserted, status 'posting') before chat.postMessage, so a second
    process or a redelivery finds it and edits instead of posting a twin.
    """

    __tablename__ = "announcements"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    # posting | posted | failed | none (no announce channel configured)
    status: Mapped[str] = mapped_column(String(16), default="posting")
    channel_id: Mapped[str | None] = mapped_column(String(32))
    ts: Mapped[str | None] = mapped_column(String(32))
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    # The closing line (duration, postmortem link): NULL until resolve or close, then posting | posted.
    closing_status: Mapped[str | None] = mapped_column(String(16))
    closing_ts: Mapped[str | None] = mapped_column(String(32))  # in the incident channel
    closing_thread_ts: Mapped[str | None] = mapped_column(String(32))  # under the announcement
    # The postmortem summary message's permalink, once drafted.
    postmortem_url: Mapped[str | None] = mapped_column(String(500))
    # The topic last set on a declared incident's channel, so it is only set again when it changes.
    topic: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SpentSignIn(Base):
    """A web sign-in state already used. In the database, not in memory, so a state replayed
    to another `scribe run` process is refused too; rows older than a state's life are pruned."""

    __tablename__ = "web_spent_sign_ins"

    state_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    spent_at: Mapped[datetime] = mapped_column(index=True)


class LiveWebSession(Base):
    """A web view sign-in that hasn't ended. The signed session cookie carries a random key;
    a page opens only while this row for it is here, so signing out (which deletes it) ends
    the session for every `scribe run` process at once, and a cookie copied before that opens
    nothing after. Only the key's SHA-256 is kept: the table alone can't make a cookie."""

    __tablename__ = "web_sessions"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(32))
    signed_in_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
