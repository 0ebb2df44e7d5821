"""Reminders and nudges: composed from the database when due, posted, found again after a crash.

A row left `sending` by a process that died is claimed again after the lease (bot.outbox).
This is the one place where exactly-once and never-lost pull apart: the dead process may
have crashed *after* Slack posted but *before* it recorded that. chat.postMessage has no
idempotency key, so instead every reminder carries its dedupe key in Slack message
metadata, and a re-claimed row first looks in the channel's recent history for a message
with that key; if it is there, the row is marked sent without posting again. A duplicate
would need the crash in that window *and* the history check to fail, in which case we
prefer sending twice (at least once) over losing a reminder.

A 429 is waited out inside the send (slack_sdk's RateLimitErrorRetryHandler honours
Retry-After), and a 429 means Slack did not post the message, so the retry cannot make a
duplicate. Reminders that fell due while every process was down are simply due rows: the
poller runs once at start and sends each once. Overdue repeats are new rows for the next
slot (planned after each send), so a long outage yields one reminder, not a backlog.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.db import transaction
from bot.models import ActionItem, Incident, OutboxItem
from bot.outbox import kinds, store
from bot.outbox.relay import Outcome
from bot.services import actions, followups, updates
from bot.services.people import Directory
from bot.slack.blocks import followups as fb
from bot.slack.blocks import updates as ub
from bot.slack.effects.base import SlackHandler

log = logging.getLogger(__name__)

# A claim must outlive the slowest batch: 1,000 messages all to one channel at Slack's
# 1 message/second/channel take ~17 minutes, under the 30-minute lease.
CLAIM_LEASE = timedelta(minutes=30)
METADATA_EVENT = "scribe_reminder"
# Slack's answers for a message whose blocks or text it will never accept as they are.
MESSAGE_REFUSED = frozenset({"invalid_blocks", "invalid_blocks_format", "too_many_blocks", "msg_too_long", "msg_blocks_too_long"})
MAX_TEXT_ONLY = 3000


@dataclass(frozen=True)
class Reminder:
    """A due reminder, composed: where it goes and what it says."""

    dedupe_key: str
    team_id: str
    destination: str  # a channel id, or a user id for a DM
    owner_id: str | None
    text: str
    blocks: list[dict[str, Any]]
    action_item_id: int | None
    incident_id: int
    kind: str

    @property
    def pace_channel(self) -> tuple[str, str]:
        return self.team_id, self.destination


def _open_item_views(session: Session, incident: Incident) -> list[actions.ItemView]:
    return [actions.view_of(i) for i in actions.items_of(session, incident) if i.status == "open"]


def compose(session: Session, row: OutboxItem, *, settings: Settings, now: datetime) -> tuple[str, list[dict[str, Any]], str, str | None] | None:
    """(text, blocks, destination, owner) for a reminder, or None when there is nothing left to say."""
    incident = session.get(Incident, row.incident_id) if row.incident_id is not None else None
    if incident is None:
        return None
    if row.kind in kinds.NUDGES:
        # A nudge is re-checked against the incident as it is now: an update, a lead, any
        # activity, a snooze, the resolve or close since it was planned each make it void.
        facts = updates.nudge_facts(session, row, settings=settings, now=now)
        if facts is None:
            return None
        text, blocks = ub.nudge_message(facts.kind, ref=facts.ref, incident_id=facts.incident_id, command=settings.command,
                                        since=facts.since, minutes=facts.minutes)
        return text, blocks, facts.channel_id, None
    if row.kind in kinds.ITEM_REMINDERS:
        item = session.get(ActionItem, row.action_item_id) if row.action_item_id else None
        if item is None or item.status != "open":
            return None
        text, blocks = fb.reminder_message(row.kind, actions.view_of(item))
        return text, blocks, item.owner_id, item.owner_id
    open_items = _open_item_views(session, incident)
    if row.kind == "digest":
        if not open_items:
            return None
        text, blocks = fb.digest_message(incident.ref, incident.title, open_items)
        return text, blocks, incident.channel_id, None
    if row.kind == "review":
        days = int(row.dedupe_key.rsplit(":", 1)[1])
        text, blocks = fb.review_message(incident.ref, incident.title, days, open_items)
        return text, blocks, incident.channel_id, None
    log.error("reminder %s has unknown kind %r; cancelling it", row.id, row.kind)
    return None


class ReminderPoster(SlackHandler):
    """The handler of every reminder and nudge kind (bot.outbox.relay.Handler)."""

    lease = CLAIM_LEASE
    max_attempts = None  # never dropped
    paced = True

    def __init__(self, *, directory: Directory, **common: Any):
        super().__init__(**common)
        self.directory = directory

    def before_pass(self, session: Session, now: datetime) -> int:
        return store.skip_superseded_item_reminders(session, now)

    def prepare(self, session: Session, row: OutboxItem, *, now: datetime) -> Reminder | None:
        composed = compose(session, row, settings=self.settings, now=now)
        if composed is None:
            store.cancel(row, "nothing to remind about any more")
            return None
        text, blocks, destination, owner = composed
        team_id = row.team_id or session.get(Incident, row.incident_id).team_id  # type: ignore[union-attr]
        return Reminder(row.dedupe_key, team_id, destination, owner, text, blocks, row.action_item_id, row.incident_id or 0, row.kind)

    def perform(self, work: Reminder, *, reclaimed_from: datetime | None) -> Outcome:
        client = self.client_for(work.team_id)
        if client is None:
            # Uninstalled (or not yet reinstalled): kept and retried with backoff, like any failure.
            return self.not_installed(work.team_id)
        try:
            if reclaimed_from is not None:
                found = self._already_posted(work, client, reclaimed_from)
                if found is not None:
                    return Outcome.recovered(channel_id=found[0], message_ts=found[1])
            metadata = {"event_type": METADATA_EVENT, "event_payload": {"reminder": work.dedupe_key}}
            try:
                response = client.chat_postMessage(channel=work.destination, text=work.text, blocks=work.blocks, unfurl_links=False, metadata=metadata)
            except SlackApiError as refused:
                if refused.response.get("error") not in MESSAGE_REFUSED:
                    raise
                # The same blocks would be refused on every retry: send the words alone, cut to fit.
                log.warning("reminder %s: Slack refused its blocks (%s); sent as text", work.dedupe_key, refused.response.get("error"))
                response = client.chat_postMessage(channel=work.destination, text=work.text[:MAX_TEXT_ONLY], unfurl_links=False, metadata=metadata)
            return Outcome.sent(channel_id=response["channel"], message_ts=response["ts"])
        except (SlackApiError, SlackClientError, OSError) as error:
            reason = error.response.get("error") if isinstance(error, SlackApiError) else f"{type(error).__name__}: {error}"
            return Outcome.retry(str(reason))

    def _already_posted(self, work: Reminder, client: WebClient, reclaimed_from: datetime) -> tuple[str, str] | None:
        """After a crash mid-send: is the reminder already in Slack? Looks for our metadata key."""
        channel = work.destination
        if work.owner_id is not None:
            channel = client.conversations_open(users=work.owner_id)["channel"]["id"]
        history = client.conversations_history(
            channel=channel, oldest=f"{(reclaimed_from - timedelta(minutes=1)).timestamp():.6f}", include_all_metadata=True, limit=200
        )
        for posted in history.get("messages") or []:
            payload = (posted.get("metadata") or {}).get("event_payload") or {}
            if payload.get("reminder") == work.dedupe_key:
                return channel, posted["ts"]
        return None


    def after_batch(self, performed: Sequence[tuple[int, Reminder, Outcome]]) -> None:
        """After sends, plan what comes next from that moment: the next overdue DM, next week's digest,
        the next nudge. Owners' time zones are looked up first, with no transaction open."""
        sent = [(row_id, work) for row_id, work, outcome in performed if outcome.done]
        if not sent:
            return
        cadence = followups.Cadence.from_settings(self.settings)
        owners: dict[str, set[str]] = {}
        for _, work in sent:
            if work.owner_id is not None:
                owners.setdefault(work.team_id, set()).add(work.owner_id)
        known = {person.user_id: person for team_id, ids in owners.items() for person in self.directory.people(team_id, ids).values()}
        with transaction(self.session_factory) as session:
            rows = session.scalars(select(OutboxItem).where(OutboxItem.id.in_([row_id for row_id, _ in sent]), OutboxItem.status == "sent")).all()
            items: dict[int, datetime] = {}
            digests: dict[int, datetime] = {}
            nudged: set[int] = set()
            for row in rows:
                after = max(row.sent_at or row.due_at, row.due_at) + timedelta(microseconds=1)
                if row.incident_id is None:
                    continue
                if row.kind in kinds.NUDGES:
                    nudged.add(row.incident_id)  # the next nudge counts from this one
                    continue
                if row.action_item_id is not None:
                    items[row.action_item_id] = max(after, items.get(row.action_item_id, after))
                # Any send may change what the incident's digest should be; re-plan each once.
                digests[row.incident_id] = max(after, digests.get(row.incident_id, after))
            for item_id, after in items.items():
                item = session.get(ActionItem, item_id)
                if item is not None:
                    actions.replan(session, item, settings=self.settings, known=known, now=after, digest=False)
            for incident_id, after in digests.items():
                incident = session.get(Incident, incident_id)
                if incident is not None:
                    followups.sync_digest(session, incident, zone=self.settings.timezone, cadence=cadence, now=after)
            for incident_id in nudged:
                incident = session.get(Incident, incident_id)
                if incident is not None:
                    updates.sync_nudges(session, incident, settings=self.settings)
