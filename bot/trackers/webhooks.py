"""Webhook deliveries from trackers: verified, then read as TicketStates. Pure, but for
the replay store the caller passes in.

What each tracker signs, and what we check:

| tracker | signature | delivery id (replay) | freshness (signed) |
| GitHub  | X-Hub-Signature-256: sha256=HMAC-SHA256(secret, raw body) hex | X-GitHub-Delivery | issue.updated_at within `max_age` |
| Linear  | Linear-Signature: HMAC-SHA256(secret, raw body) hex | Linear-Delivery | webhookTimestamp (ms) within 60 s |
| Jira    | X-Hub-Signature: sha256=HMAC-SHA256(secret, raw body) hex (admin webhooks only) | X-Atlassian-Webhook-Identifier | timestamp (ms), `max_age` |
| GitLab  | X-Gitlab-Token: the secret itself | X-Gitlab-Event-UUID | object_attributes.updated_at within `max_age` |

Jira: only admin webhooks (Settings → System → WebHooks, or POST /rest/webhooks/1.0/webhook)
carry a secret and X-Hub-Signature. Webhooks that Connect or OAuth 2.0 apps register through
REST (/rest/api/3/webhook) are signed differently (a JWT from the app's shared secret) and
expire after 30 days; the scribe is neither kind of app, so it uses admin webhooks and
refuses anything unsigned.

Order: the signature first (junk never reaches the replay store), then freshness, then the
delivery id. A replayed delivery is refused with http_status 200: the sender should stop
resending something already handled. The delivery id is claimed through `ReplayStore`; the
database-backed store should claim in the same transaction that applies the states, so a
crash before commit leaves the id free for the sender's retry.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal, Protocol
from urllib.parse import urlsplit

from .github import github_state
from .gitlab import gitlab_state
from .jira import jira_state
from .linear import linear_state
from .model import JIRA_WONTFIX_RESOLUTIONS, TicketState, TrackerName

RefusalReason = Literal["not_configured", "unsigned", "bad_signature", "stale", "replayed", "malformed"]
LINEAR_MAX_AGE: Final = timedelta(seconds=60)  # what Linear's own SDK allows
# GitHub, Jira and GitLab sign no delivery time; the signed change time of the issue is
# checked instead, loosely enough for the senders' own retries.
DEFAULT_MAX_AGE: Final = timedelta(hours=1)

_STATUS: Final[dict[str, int]] = {"not_configured": 404, "unsigned": 401, "bad_signature": 401, "stale": 400,
                                  "replayed": 200, "malformed": 400}


class WebhookRefused(Exception):
    """The delivery is not acted on. `http_status` is what the endpoint should answer."""

    def __init__(self, reason: RefusalReason, message: str) -> None:
        super().__init__(message)
        self.reason: RefusalReason = reason
        self.message = message
        self.http_status = _STATUS[reason]


@dataclass(frozen=True)
class WebhookDelivery:
    tracker: TrackerName
    delivery_id: str
    event: str  # "issues", "Issue", "jira:issue_updated", "Issue Hook"
    states: tuple[TicketState, ...]  # empty for events that change no ticket (ping, deletes)


class ReplayStore(Protocol):
    def claim(self, tracker: str, delivery_id: str, received_at: datetime) -> bool:
        """True the first time (tracker, delivery_id) is seen, False ever after."""
        ...


class MemoryReplayStore:
    """A ReplayStore for tests and single-process use; forgets ids older than `keep`."""

    def __init__(self, keep: timedelta = timedelta(days=7)) -> None:
        self._seen: dict[tuple[str, str], datetime] = {}
        self._lock = threading.Lock()
        self._keep = keep

    def claim(self, tracker: str, delivery_id: str, received_at: datetime) -> bool:
        with self._lock:
            for key in [k for k, at in self._seen.items() if at < received_at - self._keep]:
                del self._seen[key]
            if (tracker, delivery_id) in self._seen:
                return False
            self._seen[(tracker, delivery_id)] = received_at
            return True


# -- signing (the senders' side; the simulators sign with these) ----------------------------

def hmac_sha256_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def github_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac_sha256_hex(secret, body)


def jira_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac_sha256_hex(secret, body)


def linear_signature(secret: str, body: bytes) -> str:
    return hmac_sha256_hex(secret, body)


# -- verification -------------------------------------------------------------------------

def verify_github(headers: Mapping[str, str], body: bytes, *, secret: str | None, now: datetime,
                  max_age: timedelta = DEFAULT_MAX_AGE, replay: ReplayStore | None = None) -> WebhookDelivery:
    h = _lower(headers)
    _check_signature("GitHub", secret, h.get("x-hub-signature-256"), body, github_signature)
    payload = _payload(body)
    event = h.get("x-github-event", "")
    delivery_id = _delivery_id("GitHub", h.get("x-github-delivery"))
    states: tuple[TicketState, ...] = ()
    issue = payload.get("issue")
    if event == "issues" and isinstance(issue, dict):
        repo = str((payload.get("repository") or {}).get("full_name") or "")
        web = _origin(str(issue.get("html_url") or "")) or "https://github.com"
        state = _read("GitHub", lambda: github_state(issue, repo, web))
        _check_fresh("GitHub", state.updated_at, now, max_age)
        states = (state,)
    return _claimed("github", delivery_id, event, states, now, replay)


def verify_linear(headers: Mapping[str, str], body: bytes, *, secret: str | None, now: datetime,
                  max_age: timedelta = LINEAR_MAX_AGE, replay: ReplayStore | None = None) -> WebhookDelivery:
    h = _lower(headers)
    _check_signature("Linear", secret, h.get("linear-signature"), body, linear_signature)
    payload = _payload(body)
    stamp = payload.get("webhookTimestamp")
    if not isinstance(stamp, (int, float)) or isinstance(stamp, bool):
        raise WebhookRefused("stale", "Linear delivery has no webhookTimestamp.")
    sent = datetime.fromtimestamp(stamp / 1000, now.tzinfo)
    if abs(now - sent) > max_age:
        raise WebhookRefused("stale", f"Linear delivery is {abs(now - sent).total_seconds():.0f} s old "
                                      f"(at most {max_age.total_seconds():.0f} s).")
    delivery_id = _delivery_id("Linear", h.get("linear-delivery"))
    event = str(payload.get("type") or h.get("linear-event") or "")
    states: tuple[TicketState, ...] = ()
    data = payload.get("data")
    if event == "Issue" and payload.get("action") in ("create", "update") and isinstance(data, dict):
        states = (_read("Linear", lambda: linear_state(data)),)
    return _claimed("linear", delivery_id, event, states, now, replay)


def verify_jira(headers: Mapping[str, str], body: bytes, *, secret: str | None, now: datetime,
                max_age: timedelta = DEFAULT_MAX_AGE, replay: ReplayStore | None = None,
                wontfix_resolutions: frozenset[str] = JIRA_WONTFIX_RESOLUTIONS) -> WebhookDelivery:
    h = _lower(headers)
    _check_signature("Jira", secret, h.get("x-hub-signature"), body, jira_signature)
    payload = _payload(body)
    stamp = payload.get("timestamp")
    if not isinstance(stamp, (int, float)) or isinstance(stamp, bool):
        raise WebhookRefused("malformed", "Jira delivery has no timestamp.")
    _check_fresh("Jira", datetime.fromtimestamp(stamp / 1000, now.tzinfo), now, max_age)
    delivery_id = _delivery_id("Jira", h.get("x-atlassian-webhook-identifier"))
    event = str(payload.get("webhookEvent") or "")
    states: tuple[TicketState, ...] = ()
    issue = payload.get("issue")
    if event in ("jira:issue_created", "jira:issue_updated") and isinstance(issue, dict):
        base = _jira_base(str(issue.get("self") or ""))
        states = (_read("Jira", lambda: jira_state(issue, base, wontfix_resolutions)),)
    return _claimed("jira", delivery_id, event, states, now, replay)


def verify_gitlab(headers: Mapping[str, str], body: bytes, *, secret: str | None, now: datetime,
                  max_age: timedelta = DEFAULT_MAX_AGE, replay: ReplayStore | None = None) -> WebhookDelivery:
    h = _lower(headers)
    if not secret:
        raise WebhookRefused("not_configured", "GitLab webhooks are not set up here (GITLAB_WEBHOOK_SECRET).")
    token = h.get("x-gitlab-token")
    if not token:
        raise WebhookRefused("unsigned", "GitLab delivery has no X-Gitlab-Token.")
    if not hmac.compare_digest(token.encode("utf-8"), secret.encode("utf-8")):
        raise WebhookRefused("bad_signature", "GitLab delivery's X-Gitlab-Token is wrong.")
    payload = _payload(body)
    delivery_id = _delivery_id("GitLab", h.get("x-gitlab-event-uuid"))
    event = h.get("x-gitlab-event", "")
    states: tuple[TicketState, ...] = ()
    attributes = payload.get("object_attributes")
    if payload.get("object_kind") == "issue" and isinstance(attributes, dict):
        project = str((payload.get("project") or {}).get("path_with_namespace") or "")
        issue = {**attributes, "web_url": attributes.get("url"), "assignees": payload.get("assignees") or []}
        state = _read("GitLab", lambda: gitlab_state(issue, project))
        _check_fresh("GitLab", state.updated_at, now, max_age)
        states = (state,)
    return _claimed("gitlab", delivery_id, event, states, now, replay)


VERIFIERS: Final[dict[str, Callable[..., WebhookDelivery]]] = {
    "github": verify_github, "linear": verify_linear, "jira": verify_jira, "gitlab": verify_gitlab,
}


def verify_webhook(tracker: str, headers: Mapping[str, str], body: bytes, *, secret: str | None, now: datetime,
                   replay: ReplayStore | None = None) -> WebhookDelivery:
    """Verify a delivery to /trackers/<tracker>/webhook; raises WebhookRefused."""
    verifier = VERIFIERS.get(tracker)
    if verifier is None:
        raise WebhookRefused("not_configured", f"No tracker called {tracker!r}.")
    return verifier(headers, body, secret=secret, now=now, replay=replay)


# -- helpers ----------------------------------------------------------------------------------

def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in headers.items()}


def _check_signature(label: str, secret: str | None, given: str | None, body: bytes,
                     sign: Callable[[str, bytes], str]) -> None:
    if not secret:
        raise WebhookRefused("not_configured", f"{label} webhooks are not set up here (no webhook secret).")
    if not given:
        raise WebhookRefused("unsigned", f"{label} delivery is not signed.")
    if not hmac.compare_digest(given.strip().encode("utf-8"), sign(secret, body).encode("utf-8")):
        raise WebhookRefused("bad_signature", f"{label} delivery's signature does not match.")


def _payload(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise WebhookRefused("malformed", "The delivery is not JSON.") from None
    if not isinstance(payload, dict):
        raise WebhookRefused("malformed", "The delivery is not a JSON object.")
    return payload


def _delivery_id(label: str, value: str | None) -> str:
    if not value or not value.strip() or len(value) > 200:
        raise WebhookRefused("malformed", f"{label} delivery has no delivery id.")
    return value.strip()


def _read(label: str, produce: Callable[[], TicketState]) -> TicketState:
    try:
        return produce()
    except (KeyError, TypeError, ValueError) as error:
        raise WebhookRefused("malformed", f"{label} delivery's issue is incomplete ({type(error).__name__}).") from None


def _check_fresh(label: str, at: datetime, now: datetime, max_age: timedelta) -> None:
    if now - at > max_age:
        raise WebhookRefused("stale", f"{label} delivery is about a change {(now - at).total_seconds():.0f} s old "
                                      f"(at most {max_age.total_seconds():.0f} s).")


def _claimed(tracker: TrackerName, delivery_id: str, event: str, states: tuple[TicketState, ...], now: datetime,
             replay: ReplayStore | None) -> WebhookDelivery:
    if replay is not None and not replay.claim(tracker, delivery_id, now):
        raise WebhookRefused("replayed", f"Delivery {delivery_id} was already received.")
    return WebhookDelivery(tracker, delivery_id, event, states)


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def _jira_base(self_url: str) -> str:
    """The site's base from an issue's `self` (https://x.atlassian.net/rest/api/2/issue/1 →
    https://x.atlassian.net), keeping a Data Center context path (/jira)."""
    cut = self_url.find("/rest/api/")
    return self_url[:cut] if cut > 0 else (_origin(self_url) or "")
