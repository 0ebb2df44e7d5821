"""Issue trackers for action items (issue 25): Jira, GitHub Issues, Linear and GitLab.

Everything tracker-specific lives here, with no Slack import and no database session:
the app's edge to the trackers (bot.ticket_sync: outbox handlers, webhook endpoint) calls
this package after commit, and the services use its pure values (model, links).

    tracker = build_tracker(settings.trackers, "jira")
    result = ensure_ticket(tracker, spec, "OPS", owner_email="ana@example.com")  # never twice
    state = tracker.fetch(result.ticket.ref)                                      # status read back
    delivery = verify_webhook("jira", headers, raw_body, secret=…, now=…, replay=store)
    poll = poll_once(tracker, "OPS", since, now=…, interval=300)
"""

from .base import EnsuredTicket, Tracker, ensure_ticket
from .errors import ERROR_KINDS, ErrorKind, TrackerError
from .factory import (
    TrackerNotConfigured,
    build_tracker,
    default_target,
    parse_link_for,
    web_bases,
    webhook_secret,
)
from .github import GitHubTracker, github_state
from .gitlab import GitLabTracker, gitlab_state
from .http import RateLimit, RetryPolicy
from .jira import JiraTracker, jira_state
from .linear import LinearTracker, linear_state
from .links import parse_ticket_link
from .model import (
    SCRIBE_LABEL,
    TRACKER_LABELS,
    TRACKER_NAMES,
    ItemStatus,
    Ticket,
    TicketRef,
    TicketSpec,
    TicketState,
    TrackerName,
    github_item_status,
    gitlab_item_status,
    jira_item_status,
    linear_item_status,
    make_marker,
    marker_uuid,
)
from .polling import PollResult, paced_interval, poll_once
from .webhooks import (
    MemoryReplayStore,
    ReplayStore,
    WebhookDelivery,
    WebhookRefused,
    github_signature,
    jira_signature,
    linear_signature,
    verify_github,
    verify_gitlab,
    verify_jira,
    verify_linear,
    verify_webhook,
)

__all__ = [
    "ERROR_KINDS",
    "SCRIBE_LABEL",
    "TRACKER_LABELS",
    "TRACKER_NAMES",
    "EnsuredTicket",
    "ErrorKind",
    "GitHubTracker",
    "GitLabTracker",
    "ItemStatus",
    "JiraTracker",
    "LinearTracker",
    "MemoryReplayStore",
    "PollResult",
    "RateLimit",
    "ReplayStore",
    "RetryPolicy",
    "Ticket",
    "TicketRef",
    "TicketSpec",
    "TicketState",
    "Tracker",
    "TrackerError",
    "TrackerName",
    "TrackerNotConfigured",
    "WebhookDelivery",
    "WebhookRefused",
    "build_tracker",
    "default_target",
    "ensure_ticket",
    "github_item_status",
    "github_signature",
    "github_state",
    "gitlab_item_status",
    "gitlab_state",
    "jira_item_status",
    "jira_signature",
    "jira_state",
    "linear_item_status",
    "linear_signature",
    "linear_state",
    "make_marker",
    "marker_uuid",
    "paced_interval",
    "parse_link_for",
    "parse_ticket_link",
    "poll_once",
    "verify_github",
    "verify_gitlab",
    "verify_jira",
    "verify_linear",
    "verify_webhook",
    "web_bases",
    "webhook_secret",
]
