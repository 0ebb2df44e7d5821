"""The values every tracker adapter speaks: what to create, what came back, what it is now.

Pure data and pure functions only (no I/O): the status mapping by category, the marker
that makes creation idempotent, and the priority mapping live here so they are tested
without a network.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Final, Literal

TrackerName = Literal["jira", "github", "linear", "gitlab"]
TRACKER_NAMES: Final[tuple[TrackerName, ...]] = ("jira", "github", "linear", "gitlab")
TRACKER_LABELS: Final[dict[str, str]] = {"jira": "Jira", "github": "GitHub", "linear": "Linear", "gitlab": "GitLab"}

# Our action items' statuses (bot.services.actions.STATUS_LABELS).
ItemStatus = Literal["open", "done", "wontfix"]

# Every ticket the scribe creates carries this label, so a team can find them all.
SCRIBE_LABEL: Final = "incident-scribe"
MARKER_PREFIX: Final = "scribe-"


def make_marker(*parts: object) -> str:
    """A stable, searchable marker for one action item, e.g. "scribe-3f9a0c1b2d4e".

    Derived from what identifies the item (say its team id and item id), so every attempt
    to create its ticket, in any process, carries the same marker. It is a valid label in
    Jira (no spaces), GitHub and GitLab, and safe inside an HTML comment.
    """
    if not parts:
        raise ValueError("make_marker needs at least one part")
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).hexdigest()
    return f"{MARKER_PREFIX}{digest[:16]}"


def marker_uuid(marker: str) -> str:
    """A UUID v4-shaped id derived from a marker.

    Linear lets the client choose an issue's id ("The identifier in UUID v4 format"), so the
    marker itself becomes the issue's id and finding it again is a lookup by id.
    """
    raw = bytearray(hashlib.sha256(marker.encode("utf-8")).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    return str(uuid.UUID(bytes=bytes(raw)))


@dataclass(frozen=True)
class TicketRef:
    """Which ticket: a tracker and its key as people write it.

    Keys: Jira "ABC-123", GitHub "owner/repo#12", Linear "ENG-42", GitLab "group/project#3".
    `url` is set when known (a pasted link or an API answer).
    """

    tracker: TrackerName
    key: str
    url: str | None = None

    @property
    def target(self) -> str:
        """The project, repository or team the ticket lives in ("ABC", "owner/repo", "ENG")."""
        if self.tracker in ("github", "gitlab"):
            return self.key.rsplit("#", 1)[0]
        return self.key.rsplit("-", 1)[0]

    @property
    def number(self) -> int:
        """The ticket's number within its target (123 for ABC-123, 12 for owner/repo#12)."""
        sep = "#" if self.tracker in ("github", "gitlab") else "-"
        return int(self.key.rsplit(sep, 1)[1])

    def __str__(self) -> str:
        return self.key


@dataclass(frozen=True)
class TicketSpec:
    """What to create for one action item. Each adapter renders it in its tracker's format
    (Jira ADF or wiki text, Markdown for GitHub, GitLab and Linear)."""

    title: str
    marker: str
    incident_ref: str
    incident_title: str
    severity: str | None = None  # "sev1".."sev4"
    priority: str | None = None  # "p0".."p3"
    due: date | None = None
    channel_url: str | None = None  # permalink to the incident channel
    page_url: str | None = None  # the incident's page in the web view
    # The tracker's own account id (Jira accountId or username, GitHub login, Linear user id,
    # GitLab user id), from find_user_by_email. None: unassigned.
    assignee_id: str | None = None
    # Who owns the item in Slack, written into the description (always, so it survives
    # an assignee who has no account in the tracker).
    owner_name: str | None = None
    extra_labels: tuple[str, ...] = field(default=())

    def labels(self, *, priority_as_label: bool = False) -> list[str]:
        """The labels every tracker gets: ours, the incident, the severity, then the marker.
        Trackers without a priority field (GitHub, GitLab) get the priority as a label too."""
        found = [SCRIBE_LABEL, label_text(self.incident_ref)]
        if self.severity:
            found.append(label_text(self.severity))
        found.extend(label_text(extra) for extra in self.extra_labels)
        priority = priority_label(self.priority) if priority_as_label else None
        if priority:
            found.append(priority)
        found.append(self.marker)
        return list(dict.fromkeys(found))

    def description_lines(self) -> list[tuple[str, str | None]]:
        """The description as (text, link) pairs, before any tracker's markup."""
        lines: list[tuple[str, str | None]] = [(f"Action item from {self.incident_ref}: {self.incident_title}", None)]
        if self.severity:
            lines.append((f"Severity: {self.severity}", None))
        if self.owner_name:
            lines.append((f"Owner in Slack: {self.owner_name}", None))
        if self.due is not None:
            lines.append((f"Due: {self.due.isoformat()}", None))
        if self.channel_url:
            lines.append(("Incident channel in Slack", self.channel_url))
        if self.page_url:
            lines.append(("Incident page", self.page_url))
        return lines


def marker_comment(marker: str) -> str:
    """The marker as an HTML comment: GitHub and GitLab render Markdown without showing it."""
    return f"<!-- {marker} -->"


def markdown_body(spec: TicketSpec, *, hidden_marker: bool = True) -> str:
    """The description in Markdown (GitHub, GitLab, Linear), ending with the marker: hidden
    in an HTML comment, or as a visible last line where comments aren't kept (Linear)."""
    lines = [f"[{text}]({link})" if link else text for text, link in spec.description_lines()]
    if spec.priority:
        lines.append(f"Priority: {spec.priority}")
    lines.append(marker_comment(spec.marker) if hidden_marker else f"Scribe marker: {spec.marker}")
    return "\n\n".join(lines) + "\n"


def label_text(value: str) -> str:
    """A label every tracker takes: lower case, no spaces ("INC-42" → "inc-42")."""
    return "-".join(value.strip().lower().split())


@dataclass(frozen=True)
class Ticket:
    """A ticket that exists (just created, or found again by its marker)."""

    ref: TicketRef
    url: str
    # The tracker's internal id (Jira "10042", GitHub issue id, Linear UUID, GitLab iid's id).
    id: str

    @property
    def key(self) -> str:
        return self.ref.key


@dataclass(frozen=True)
class TicketState:
    """A ticket's state read back, already mapped to our statuses."""

    ref: TicketRef
    status: ItemStatus
    # What the tracker shows, for people ("Shipped", "Closed as not planned", "In Review").
    status_name: str
    title: str
    updated_at: datetime  # aware UTC
    assignee_id: str | None = None
    assignee_email: str | None = None
    assignee_name: str | None = None


# -- priority ---------------------------------------------------------------------------

PRIORITIES: Final = ("p0", "p1", "p2", "p3")
# Jira's default priority scheme names; a team with other names sets JIRA_PRIORITIES.
JIRA_PRIORITY_NAMES: Final = ("Highest", "High", "Medium", "Low")
# Linear: 0 = No priority, 1 = Urgent, 2 = High, 3 = Medium, 4 = Low.
LINEAR_PRIORITIES: Final = (1, 2, 3, 4)


def priority_index(priority: str | None) -> int | None:
    if priority is None:
        return None
    if priority not in PRIORITIES:
        raise ValueError(f"priority must be one of {', '.join(PRIORITIES)}, got {priority!r}")
    return PRIORITIES.index(priority)


def priority_label(priority: str | None) -> str | None:
    """GitHub and GitLab have no priority field: a label says it ("priority:p1")."""
    return None if priority_index(priority) is None else f"priority:{priority}"


# -- status by category -------------------------------------------------------------------

# Jira resolutions that close an issue without doing it. Jira Cloud's defaults are Done,
# Won't Do, Duplicate and Cannot Reproduce; Data Center adds Won't Fix and Incomplete.
# Compared case-insensitively, with typographic apostrophes folded.
JIRA_WONTFIX_RESOLUTIONS: Final = frozenset(
    {"won't do", "won't fix", "wont do", "wont fix", "duplicate", "cannot reproduce", "incomplete", "declined", "obsolete"}
)


def _fold(name: str) -> str:
    return name.strip().lower().replace("\u2019", "'")


def jira_item_status(category_key: str | None, resolution: str | None,
                     wontfix_resolutions: frozenset[str] = JIRA_WONTFIX_RESOLUTIONS) -> ItemStatus:
    """Jira: the status category decides (new / indeterminate / done), whatever the status is
    called; in the done category a won't-do resolution means "wontfix"."""
    if (category_key or "").lower() != "done":
        return "open"
    if resolution and _fold(resolution) in {_fold(r) for r in wontfix_resolutions}:
        return "wontfix"
    return "done"


def linear_item_status(state_type: str | None) -> ItemStatus:
    """Linear: the workflow state's type (triage, backlog, unstarted, started, completed,
    canceled, duplicate), never its name."""
    kind = (state_type or "").lower()
    if kind == "completed":
        return "done"
    if kind in ("canceled", "cancelled", "duplicate"):
        return "wontfix"
    return "open"


def github_item_status(state: str | None, state_reason: str | None) -> ItemStatus:
    """GitHub: `state` (open/closed) and `state_reason` (completed, not_planned, duplicate,
    reopened, or null for issues closed before reasons existed)."""
    if (state or "").lower() != "closed":
        return "open"
    if (state_reason or "").lower() in ("not_planned", "duplicate"):
        return "wontfix"
    return "done"


def gitlab_item_status(state: str | None) -> ItemStatus:
    """GitLab issues are opened or closed; GitLab records no reason for closing."""
    return "done" if (state or "").lower() == "closed" else "open"


def github_status_name(state: str | None, state_reason: str | None) -> str:
    if (state or "").lower() != "closed":
        return "Open"
    return {"not_planned": "Closed as not planned", "duplicate": "Closed as duplicate"}.get(
        (state_reason or "").lower(), "Closed as completed")
