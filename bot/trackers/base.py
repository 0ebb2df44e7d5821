"""The interface every tracker adapter implements, and the one safe way to create a ticket.

Every call takes its target (Jira project key, GitHub/GitLab "owner/repo", Linear team
key) as an argument: the workspace default, a channel's or an item's override are the
caller's choice. Adapters hold no database session and import nothing from Slack.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol, TypeVar, runtime_checkable

from .model import Ticket, TicketRef, TicketSpec, TicketState, TrackerName

T = TypeVar("T")


@runtime_checkable
class Tracker(Protocol):
    @property
    def name(self) -> TrackerName:
        """"jira", "github", "linear" or "gitlab"."""
        ...

    @property
    def label(self) -> str:
        """"Jira", "GitHub"…, for messages."""
        ...

    def create(self, spec: TicketSpec, target: str) -> Ticket:
        """Create the ticket. Sent once, never retried here (see ensure_ticket)."""
        ...

    def find_by_marker(self, marker: str, target: str) -> Ticket | None:
        """The ticket an earlier attempt created with this marker, if any."""
        ...

    def fetch(self, ref: TicketRef) -> TicketState:
        """The ticket's state now (status read back)."""
        ...

    def changed_since(self, since: datetime, target: str) -> list[TicketState]:
        """Every ticket in `target` updated at or after `since`, oldest first (for polling).
        The same state may come twice across polls: applying it again must be harmless."""
        ...

    def find_user_by_email(self, email: str, target: str) -> str | None:
        """The tracker account that can be assigned tickets in `target`, or None."""
        ...

    def ticket_url(self, ref: TicketRef) -> str:
        """The ticket's web address, built without a network call."""
        ...

    def close(self) -> None:
        ...


@dataclass(frozen=True)
class EnsuredTicket:
    ticket: Ticket
    # False: an earlier attempt had created it (its answer was lost); nothing new was made.
    created: bool
    # None: no owner email was given; True/False: whether the owner maps to a tracker account.
    assignee_matched: bool | None = None


def _direct(call: Callable[[], T]) -> T:
    return call()


def ensure_ticket(tracker: Tracker, spec: TicketSpec, target: str, *, owner_email: str | None = None,
                  each: Callable[[Callable[[], Any]], Any] = _direct) -> EnsuredTicket:
    """Create the ticket for `spec` unless an earlier attempt already did.

    This is the call an outbox job makes, after commit and outside any transaction:
    1. the owner's email, if given and no assignee is set yet, is mapped to an account;
    2. the marker is searched for, so a create whose answer was lost (a timeout, a crash
       before our commit) is found instead of made twice;
    3. only then is the ticket created, once.
    Two processes must not run this for the same item at the same moment: the outbox claim
    gives that; the marker covers the answer lost between the tracker and our commit.
    `each` makes each of these calls: the outbox's handler makes a call again after a rate
    limit (a refused call did nothing, so even the create may be sent again, without a new
    search). Raises TrackerError; every kind but `unavailable` and `rate_limited` is final.
    """
    matched: bool | None = None
    if owner_email and spec.assignee_id is None:
        account = each(lambda: tracker.find_user_by_email(owner_email, target))
        matched = account is not None
        if account is not None:
            spec = replace(spec, assignee_id=account)
    existing = each(lambda: tracker.find_by_marker(spec.marker, target))
    if existing is not None:
        return EnsuredTicket(existing, created=False, assignee_matched=matched)
    return EnsuredTicket(each(lambda: tracker.create(spec, target)), created=True, assignee_matched=matched)
