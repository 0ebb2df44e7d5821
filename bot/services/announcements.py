"""The one announcement per incident in SCRIBE_ANNOUNCE_CHANNEL, kept true, and the closing line.

Claim, then send, as the reminders do (bot.scheduler): the `announcements` row is inserted
(its primary key is the incident id) before chat.postMessage, so whichever process or
redelivery comes second finds the row and edits the message instead of posting a twin.
The closing line is claimed the same way, by a conditional UPDATE of `closing_status`.
Every later change (severity, title, lead, resolve, close, the postmortem draft) calls
`refresh`, which rebuilds the message from the database and edits it with chat.update.

Slack failures here never undo what was recorded: they are logged, and where a person
is waiting (the declare reply) `announce` returns what to tell them.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from slack_sdk import WebClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.db import insert_ignoring_duplicates, transaction
from bot.models import Announcement, Declaration, Incident
from bot.services import updates
from bot.slack.blocks import declare as blocks
from bot.slack.io import channels, messages

log = logging.getLogger(__name__)

METADATA_EVENT = "scribe_announcement"
# A claim still 'posting' after this long belongs to a process that died mid-post.
POSTING_LEASE = timedelta(minutes=5)


def facts_of(incident: Incident, announcement: Announcement | None, settings: Settings) -> blocks.AnnouncementFacts:
    update = updates.status_of(incident, settings)  # the latest status update, and when the next is owed
    status = "closed" if incident.closed_at else ("resolved" if incident.resolved_at else "open")
    return blocks.AnnouncementFacts(
        incident_id=incident.id,
        ref=incident.ref,
        title=incident.title,
        severity=incident.severity,
        status=status,
        lead=incident.role_holder("lead"),
        channel_id=incident.channel_id,
        started_at=incident.began_at,
        private=bool(announcement.private) if announcement is not None else True,
        resolved_at=incident.resolved_at,
        closed_at=incident.closed_at,
        postmortem_url=announcement.postmortem_url if announcement is not None else None,
        update_status=update.status,
        next_update_at=update.next_update_at,
    )


def thread_target(session: Session, incident_id: int) -> tuple[str, str] | None:
    """Where to thread things under the announcement (channel id, ts): None when there is none
    yet, and always None for a private incident, whose announcement must stay content-free."""
    row = session.get(Announcement, incident_id)
    if row is None or row.private or row.status != "posted" or not row.channel_id or not row.ts:
        return None
    return row.channel_id, row.ts


def _where(settings: Settings) -> str:
    ref = settings.announce_channel or ""
    return ref if ref.startswith("#") or ref[:1] in ("C", "G") else f"#{ref}"


def announce(
    session_factory: sessionmaker[Session], client: WebClient, *, settings: Settings, incident_id: int, private: bool,
    worker: str, now: datetime,
) -> str | None:
    """Post the incident's announcement unless it already has one. Returns what to tell the
    declarer when it couldn't be posted (once: a second call finds the row and says nothing)."""
    configured = settings.announce_channel is not None
    with transaction(session_factory) as session:
        claimed = insert_ignoring_duplicates(
            session, Announcement,
            dict(incident_id=incident_id, private=private, status="posting" if configured else "none", claimed_by=worker,
                 created_at=now, updated_at=now),
            ["incident_id"],
        )
        if not claimed or not configured:
            return None
        incident = session.get(Incident, incident_id)
        assert incident is not None
        text, body = blocks.announcement_message(facts_of(incident, session.get(Announcement, incident_id), settings))
    where = _where(settings)
    problem: str | None = None
    posted: messages.Posted | None = None
    channel_id = channels.channel_id_for(client, settings.announce_channel or "") if settings.announce_channel else None
    if channel_id is None:
        problem = (f"The announcement wasn't posted: I can't find the channel `{where}` (SCRIBE_ANNOUNCE_CHANNEL); it doesn't exist, "
                   "or it is private and I'm not in it. Ask whoever runs Incident Scribe to fix the setting, or `/invite @Incident Scribe` there.")
    else:
        metadata = _metadata(incident_id)
        try:
            posted = messages.post(client, channel_id, text, body, metadata=metadata)
        except messages.MessageFailed as failure:
            if failure.code == "not_in_channel" and channels.join_public(client, channel_id):
                try:
                    posted = messages.post(client, channel_id, text, body, metadata=metadata)
                except messages.MessageFailed as again:
                    problem = f"The announcement wasn't posted in `{where}` ({again})."
            elif failure.code in ("not_in_channel", "channel_not_found"):
                problem = (f"The announcement wasn't posted: I'm not a member of `{where}` and can't join it myself. "
                           f"Type `/invite @Incident Scribe` in {where} so the next incidents are announced.")
            else:
                problem = f"The announcement wasn't posted in `{where}` ({failure}). Later changes won't be announced for this incident."
    with transaction(session_factory) as session:
        row = session.get(Announcement, incident_id)
        assert row is not None
        row.updated_at = now
        if posted is not None:
            row.status, row.channel_id, row.ts, row.last_error = "posted", posted.channel, posted.ts, None
        else:
            row.status, row.last_error = "failed", problem
    if problem:
        log.warning("incident %s: %s", incident_id, problem)
        return problem
    # A change made while we were posting (a `role lead` right after `start`) found no ts to
    # edit; whatever it changed is in the database, so bring the message up to date now.
    assert posted is not None
    with transaction(session_factory) as session:
        incident = session.get(Incident, incident_id)
        current = blocks.announcement_message(facts_of(incident, session.get(Announcement, incident_id), settings)) if incident else (text, body)
    if current != (text, body):
        try:
            messages.update(client, posted.channel, posted.ts, *current)
        except messages.MessageFailed as failure:
            log.warning("incident %s: the announcement wasn't updated: %s", incident_id, failure)
    return None


def _metadata(incident_id: int) -> dict[str, object]:
    # Every announcement carries its incident in message metadata, so a claim left by a dead
    # process can be checked against Slack before posting again (as reminders do, bot.scheduler).
    return {"event_type": METADATA_EVENT, "event_payload": {"incident": incident_id}}


def _recover_abandoned(session_factory: sessionmaker[Session], client: WebClient, *, settings: Settings, incident_id: int, now: datetime) -> None:
    """A row left 'posting' past the lease: take it over, then find the post (metadata) or make it."""
    with transaction(session_factory) as session:
        row = session.get(Announcement, incident_id)
        if row is None or row.status != "posting" or row.updated_at > now - POSTING_LEASE or not settings.announce_channel:
            return
        taken = session.execute(
            update(Announcement).where(Announcement.incident_id == incident_id, Announcement.status == "posting",
                                       Announcement.updated_at == row.updated_at)
            .values(updated_at=now, claimed_by="recovery").returning(Announcement.incident_id)
        ).first()
        if taken is None:
            return
        since = row.created_at.timestamp() - 60
        incident = session.get(Incident, incident_id)
        assert incident is not None
        text, body = blocks.announcement_message(facts_of(incident, row, settings))
    channel_id = channels.channel_id_for(client, settings.announce_channel)
    if channel_id is None:
        return
    try:
        ts = messages.find_by_metadata(client, channel_id, event_type=METADATA_EVENT, key="incident", value=incident_id, oldest=since)
        if ts is None:
            ts = messages.post(client, channel_id, text, body, metadata=_metadata(incident_id)).ts
    except messages.MessageFailed as failure:
        log.warning("incident %s: an abandoned announcement wasn't recovered: %s", incident_id, failure)
        return
    with transaction(session_factory) as session:
        session.execute(update(Announcement).where(Announcement.incident_id == incident_id)
                        .values(status="posted", channel_id=channel_id, ts=ts, last_error=None, updated_at=now))
    log.info("incident %s: recovered its announcement (%s)", incident_id, ts)


def refresh(session_factory: sessionmaker[Session], client: WebClient, *, settings: Settings, incident_id: int, now: datetime) -> None:
    """Make the announcement, the closing line and a declared channel's topic say what is true now."""
    _recover_abandoned(session_factory, client, settings=settings, incident_id=incident_id, now=now)
    with transaction(session_factory) as session:
        incident = session.get(Incident, incident_id)
        row = session.get(Announcement, incident_id)
        if incident is None or row is None:
            return
        facts = facts_of(incident, row, settings)
        announcement = (row.channel_id, row.ts) if row.status == "posted" and row.channel_id and row.ts else None
        declared = session.scalars(select(Declaration.id).where(Declaration.incident_id == incident_id)).first() is not None
        claim_closing = False
        # The closing line goes with an announcement or a declared channel; an incident opened
        # with `start` and not announced keeps just the command's own confirmation.
        if facts.ended_at is not None and row.closing_status is None and (announcement is not None or declared):
            claim_closing = session.execute(
                update(Announcement).where(Announcement.incident_id == incident_id, Announcement.closing_status.is_(None))
                .values(closing_status="posting", updated_at=now).returning(Announcement.incident_id)
            ).first() is not None
        closing = (row.closing_ts, row.closing_thread_ts) if row.closing_status == "posted" else None
        wanted_topic = blocks.topic(incident.title, incident.severity, facts.lead) if declared and not incident.closed_at else None
        old_topic = row.topic
    command = settings.command
    if announcement is not None:
        _update_until_current(session_factory, client, incident_id, announcement, facts, settings)
    if claim_closing:
        channel_ts = thread_ts = None
        try:
            channel_ts = messages.post(client, facts.channel_id, blocks.closing_line(facts, command=command, for_announcement=False)).ts
        except messages.MessageFailed as failure:
            log.warning("incident %s: the closing line wasn't posted in its channel: %s", incident_id, failure)
        if announcement is not None:
            try:
                thread_ts = messages.post(client, announcement[0], blocks.closing_line(facts, command=command, for_announcement=True),
                                          thread_ts=announcement[1]).ts
            except messages.MessageFailed as failure:
                log.warning("incident %s: the closing line wasn't posted under the announcement: %s", incident_id, failure)
        with transaction(session_factory) as session:
            session.execute(update(Announcement).where(Announcement.incident_id == incident_id)
                            .values(closing_status="posted", closing_ts=channel_ts, closing_thread_ts=thread_ts, updated_at=now))
    elif closing is not None:
        for channel, ts, for_announcement in ((facts.channel_id, closing[0], False), (announcement[0] if announcement else None, closing[1], True)):
            if channel and ts:
                try:
                    messages.update(client, channel, ts, blocks.closing_line(facts, command=command, for_announcement=for_announcement))
                except messages.MessageFailed as failure:
                    log.warning("incident %s: a closing line wasn't updated: %s", incident_id, failure)
    if wanted_topic is not None and wanted_topic != old_topic:
        if channels.set_topic(client, facts.channel_id, wanted_topic) is None:
            with transaction(session_factory) as session:
                session.execute(update(Announcement).where(Announcement.incident_id == incident_id).values(topic=wanted_topic[:255]))


def _update_until_current(session_factory: sessionmaker[Session], client: WebClient, incident_id: int,
                          announcement: tuple[str, str], facts: blocks.AnnouncementFacts, settings: Settings) -> None:
    """chat.update, then check the database again: two refreshes running side by side (a
    severity change and a resolve in quick succession) may reach Slack in either order, so
    whichever finishes last re-reads the facts and, if they moved on, edits once more."""
    for _ in range(3):
        try:
            messages.update(client, announcement[0], announcement[1], *blocks.announcement_message(facts))
        except messages.MessageFailed as failure:
            log.warning("incident %s: the announcement wasn't updated: %s", incident_id, failure)
            return
        with transaction(session_factory) as session:
            incident = session.get(Incident, incident_id)
            latest = facts_of(incident, session.get(Announcement, incident_id), settings) if incident is not None else facts
        if latest == facts:
            return
        facts = latest


def note_postmortem(session_factory: sessionmaker[Session], client: WebClient, *, settings: Settings, incident_id: int,
                    channel_id: str, summary_ts: str, now: datetime) -> None:
    """A postmortem draft was posted: link it from the announcement and the closing line."""
    with transaction(session_factory) as session:
        row = session.get(Announcement, incident_id)
        if row is None or row.postmortem_url:
            return  # not announced, or already linked (regenerating edits the same summary message)
    url = messages.permalink(client, channel_id, summary_ts)
    if url is None:
        return
    with transaction(session_factory) as session:
        session.execute(update(Announcement).where(Announcement.incident_id == incident_id).values(postmortem_url=url[:500], updated_at=now))
    refresh(session_factory, client, settings=settings, incident_id=incident_id, now=now)
