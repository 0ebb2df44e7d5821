"""What the web pages show, read from the database (one read-only transaction per page).

The incident page reuses the postmortem's context builder for metrics, key times,
phases, key events and action items (fed only the entries those need, so an incident of
10,000 messages builds it in milliseconds), and lists the messages by day itself.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, func, or_, select
from sqlalchemy.orm import Session, selectinload

from bot.config import Settings
from bot.db import insert_ignoring_duplicates
from bot.markup import safe_url, slack_to_plain
from bot.models import Incident, LiveWebSession, Postmortem, PostmortemVersion, SpentSignIn, TimelineEntry
from bot.postmortem.context import KIND_LABELS, build_context
from bot.postmortem.facts import EntryFact, ReviewFields
from bot.services.export import action_facts, action_items, entry_facts, incident_facts, live_entries
from bot.services.people import NameBook
from bot.services.postmortem import choose_template, latest_version, render_facts, review_fields
from bot.timefmt import format_duration, iso_utc
from bot.web.filters import ListFilters

REF = re.compile(r"^INC-([1-9][0-9]{0,11})$", re.IGNORECASE)
STATUS_LABELS = {"draft": "Draft", "in_review": "In review", "final": "Final"}


def incident_id_of(ref: str) -> int | None:
    match = REF.match(ref.strip())
    return int(match.group(1)) if match else None


def find_incident(session: Session, *, team_id: str, ref: str) -> Incident | None:
    """The team's incident with this ref (INC-7), or None: another team's is as unknown as a missing one."""
    incident_id = incident_id_of(ref)
    if incident_id is None:
        return None
    incident = session.get(Incident, incident_id, options=[selectinload(Incident.roles)])
    return incident if incident is not None and incident.team_id == team_id else None


def _display_name(user_id: str | None, names: dict[str, str]) -> str | None:
    return (names.get(user_id) or user_id) if user_id else None


def _duration_s(incident: Incident) -> float | None:
    end = incident.resolved_at or incident.closed_at
    return (end - incident.began_at).total_seconds() if end is not None else None


@dataclass
class ListRow:
    ref: str
    title: str
    severity: str | None
    status: str
    started: datetime
    duration: str
    ongoing: bool
    lead: str | None
    postmortem: str


def _filtered(team_id: str, filters: ListFilters) -> Any:
    query = select(Incident).where(Incident.team_id == team_id)
    if filters.since is not None:
        query = query.where(Incident.began_at >= filters.since)
    if filters.until is not None:
        query = query.where(Incident.began_at < filters.until)
    if filters.severity == "none":
        query = query.where(Incident.severity.is_(None))
    elif filters.severity:
        query = query.where(Incident.severity == filters.severity)
    if filters.status == "open":
        query = query.where(Incident.closed_at.is_(None))
    elif filters.status == "closed":
        query = query.where(Incident.closed_at.is_not(None))
    return query


def incident_batch(session: Session, *, team_id: str, filters: ListFilters, before: int | None, limit: int) -> list[Incident]:
    """The team's next `limit` incidents below `before`, newest first, with their roles loaded
    (the caller decides outside the transaction which of them the viewer may see)."""
    query = _filtered(team_id, filters).options(selectinload(Incident.roles)).order_by(Incident.id.desc()).limit(limit)
    if before is not None:
        query = query.where(Incident.id < before)
    return list(session.scalars(query))


def list_rows(session: Session, book: NameBook, shown: list[Incident], *, team_id: str, now: datetime) -> list[ListRow]:
    """The rows of a page of incidents the viewer may see."""
    if not shown:
        return []
    ids = [i.id for i in shown]
    pm_status: dict[int, str] = dict(session.execute(select(Postmortem.incident_id, Postmortem.status).where(Postmortem.incident_id.in_(ids))).tuples().all())
    drafted = set(session.scalars(select(PostmortemVersion.incident_id).where(PostmortemVersion.incident_id.in_(ids)).distinct()))
    leads = {i.id: i.role_holder("lead") for i in shown}
    names = book.names(session, team_id, {u for u in leads.values() if u})
    rows = []
    for incident in shown:
        duration = _duration_s(incident)
        status = pm_status.get(incident.id)
        lead = leads[incident.id]
        rows.append(ListRow(
            ref=incident.ref, title=incident.title, severity=incident.severity, status=incident.status,
            started=incident.began_at,
            duration=format_duration(duration) if duration is not None else format_duration((now - incident.began_at).total_seconds()),
            ongoing=duration is None,
            lead=_display_name(lead, names),
            postmortem=STATUS_LABELS.get(status or "", "Draft") if incident.id in drafted else "None yet",
        ))
    return rows


# -- one incident ------------------------------------------------------------------------


@dataclass
class MessageRow:
    time: str
    author: str
    text: str  # plain text; the template escapes it and links its URLs
    is_reply: bool
    key: bool
    edited: bool
    files: list[tuple[str, str | None]]
    source: str


@dataclass
class Day:
    date: str
    weekday: str
    messages: list[MessageRow]


def _needed_for_context(entry: EntryFact) -> bool:
    return entry.kind != "message" or entry.key


def _names(session: Session, book: NameBook, incident: Incident, entries: Iterable[TimelineEntry], owners: Iterable[str]) -> dict[str, str]:
    ids = {incident.created_by, *(r.user_id for r in incident.roles), *owners}
    ids.update(e.author for e in entries if e.author)
    return book.names(session, incident.team_id, ids)


def _review(session: Session, incident: Incident) -> tuple[ReviewFields, PostmortemVersion | None, str | None]:
    pm = session.get(Postmortem, incident.id)
    latest = latest_version(session, incident)
    version = latest.version if latest is not None else 1
    return (review_fields(pm, version) if pm is not None else ReviewFields(version=version)), latest, (pm.template if pm else None)


def incident_context(
    session: Session, book: NameBook, incident: Incident, *, settings: Settings, now: datetime,
    entries: list[TimelineEntry] | None = None,
) -> dict[str, Any]:
    """The postmortem context (metrics, key times, phases, key events, action items) of the incident."""
    if entries is None:
        entries = key_entries(session, incident)
    items = action_items(session, incident)
    names = _names(session, book, incident, entries, [a.owner_id for a in items])
    review, _, _ = _review(session, incident)
    facts = [f for f in entry_facts(entries) if _needed_for_context(f)]
    return build_context(incident_facts(incident), facts, action_facts(items), review, user_name=names.get,
                         generated_at=now, display_tz=settings.timezone)


def key_entries(session: Session, incident: Incident) -> list[TimelineEntry]:
    """Live entries the context needs: everything but messages that aren't key events."""
    return list(session.scalars(
        select(TimelineEntry)
        .where(TimelineEntry.incident_id == incident.id, TimelineEntry.deleted_at.is_(None),
               or_(TimelineEntry.kind != "message", TimelineEntry.key.is_(True)))
        .order_by(TimelineEntry.at, TimelineEntry.id)
    ))


_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def timeline_fingerprint(session: Session, incident_id: int) -> tuple[Any, ...]:
    """Changes whenever a message is added, edited, deleted or (un)marked key: the incident
    page keeps its rendered timeline until then."""
    e = TimelineEntry
    row = session.execute(
        select(func.count(), func.max(e.id), func.max(e.edited_at), func.max(e.deleted_at),
               func.sum(case((e.key.is_(True), e.id), else_=0)), func.sum(case((e.key.is_(True), 1), else_=0)))
        .where(e.incident_id == incident_id)
    ).one()
    return tuple(row)


def _authors(session: Session, incident_id: int) -> set[str]:
    return {a for a in session.scalars(select(TimelineEntry.author).where(TimelineEntry.incident_id == incident_id).distinct()) if a}


def message_days(session: Session, incident: Incident, names: dict[str, str]) -> list[Day]:
    """The captured messages by UTC day, read as plain rows (no ORM objects: 10,000 of them
    load in a fraction of the time)."""
    e = TimelineEntry
    rows = session.execute(
        select(e.at, e.text, e.author, e.thread_ts, e.ts, e.key, e.edited_at, e.files, e.source)
        .where(e.incident_id == incident.id, e.kind == "message", e.deleted_at.is_(None), e.text.is_not(None))
        .order_by(e.at, e.id)
    )
    channel_name, channel_id = incident.channel_name, incident.channel_id

    def channel_lookup(cid: str) -> str | None:
        return channel_name if cid == channel_id else None

    days: list[Day] = []
    current = ""
    messages: list[MessageRow] = []
    for at, text, author, thread_ts, ts, key, edited_at, files, source in rows:
        day = f"{at.year:04d}-{at.month:02d}-{at.day:02d}"
        if day != current:
            messages = []
            days.append(Day(date=day, weekday=_WEEKDAYS[at.weekday()], messages=messages))
            current = day
        messages.append(MessageRow(
            time=f"{at.hour:02d}:{at.minute:02d}:{at.second:02d}",
            author=(names.get(author) or author) if author else "unknown",
            text=slack_to_plain(text, names.get, channel_lookup) if ("<" in text or "&" in text) else text,
            is_reply=bool(thread_ts) and thread_ts != ts,
            key=bool(key), edited=edited_at is not None,
            files=[(str(f.get("name") or "file"), safe_url(f["permalink"]) if f.get("permalink") else None) for f in files or []],
            source=source,
        ))
    return days


@dataclass
class IncidentPage:
    incident: Incident
    context: dict[str, Any]
    days: list[Day]
    message_count: int
    postmortem_markdown: str | None
    postmortem_version: int | None
    postmortem_status: str | None
    postmortem_id: int | None
    names: dict[str, str]
    lead: str | None  # the lead's display name, as the list shows it


def incident_page(
    session: Session, book: NameBook, incident: Incident, *, settings: Settings, now: datetime, with_messages: bool = True,
) -> IncidentPage:
    """Everything the incident page shows; the messages only `with_messages` (the page may
    have them rendered already)."""
    entries = key_entries(session, incident)
    items = action_items(session, incident)
    authors = _authors(session, incident.id)
    ids = {incident.created_by, *(r.user_id for r in incident.roles), *(a.owner_id for a in items), *authors}
    names = book.names(session, incident.team_id, ids)
    review, latest, _ = _review(session, incident)
    context = build_context(incident_facts(incident), entry_facts(entries), action_facts(items), review, user_name=names.get,
                            generated_at=now, display_tz=settings.timezone)
    days = message_days(session, incident, names) if with_messages else []
    return IncidentPage(
        incident=incident, context=context, days=days, message_count=sum(len(d.messages) for d in days),
        postmortem_markdown=latest.markdown if latest is not None else None,
        postmortem_version=latest.version if latest is not None else None,
        postmortem_status=STATUS_LABELS.get(latest.status) if latest is not None else None,
        postmortem_id=latest.id if latest is not None else None, names=names, lead=_display_name(incident.role_holder("lead"), names),
    )


def postmortem_markdown(session: Session, book: NameBook, incident: Incident, *, settings: Settings, now: datetime) -> tuple[str, bool]:
    """(Markdown, stored): the latest stored version, else one drafted now and not stored
    (the web view only reads)."""
    review, latest, template = _review(session, incident)
    if latest is not None:
        return latest.markdown, True
    entries = live_entries(session, incident)
    items = action_items(session, incident)
    names = _names(session, book, incident, entries, [a.owner_id for a in items])
    _, markdown = render_facts(settings, incident_facts(incident), entry_facts(entries), action_facts(items), review,
                               names=names, now=now, template=choose_template(settings, None, template))
    return markdown, False


def timeline_rows(session: Session, book: NameBook, incident: Incident, *, now: datetime) -> list[list[str]]:
    """The timeline as rows of text for the CSV export, header first."""
    entries = live_entries(session, incident)
    names = _names(session, book, incident, entries, [])

    def channel_lookup(cid: str) -> str | None:
        return incident.channel_name if cid == incident.channel_id else None


    rows = [["at_utc", "kind", "label", "source", "key", "author_id", "author", "text", "in_thread", "edited", "files", "ts"]]
    for e in entries:
        files = " ".join(f"{f.get('name') or 'file'} <{f.get('permalink') or ''}>" for f in e.files or [])
        rows.append([
            iso_utc(e.at), e.kind, KIND_LABELS.get(e.kind, (e.kind, ""))[0], e.source, "yes" if e.key else "no",
            e.author or "", (names.get(e.author) or "") if e.author else "",
            slack_to_plain(e.text or "", names.get, channel_lookup),
            "yes" if e.thread_ts and e.thread_ts != e.ts else "no", "yes" if e.edited_at else "no", files, e.ts or "",
        ])
    return rows


def spend_sign_in_state(session: Session, state_id: str, *, now: datetime, max_age_seconds: float) -> bool:
    """True the first time a sign-in state comes back, False for a replay, whichever process
    saw it first: the primary key decides. States past their life are pruned on the way."""
    session.execute(delete(SpentSignIn).where(SpentSignIn.spent_at < now - timedelta(seconds=2 * max_age_seconds)))
    return insert_ignoring_duplicates(session, SpentSignIn, {"state_id": state_id, "spent_at": now}, ["state_id"])


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def start_web_session(session: Session, *, key: str, team_id: str, user_id: str, now: datetime, seconds: float) -> None:
    """Keep a new sign-in until it is signed out or expires; expired ones are pruned on the way."""
    session.execute(delete(LiveWebSession).where(LiveWebSession.expires_at <= now))
    session.add(LiveWebSession(key_hash=_key_hash(key), team_id=team_id, user_id=user_id, signed_in_at=now,
                               expires_at=now + timedelta(seconds=seconds)))


def web_session_is_live(session: Session, *, key: str, team_id: str, user_id: str, now: datetime) -> bool:
    """Signed in with this key, not signed out since, not expired: asked on every page."""
    if not key:  # a cookie from before sessions were kept: nothing can end it, so it opens nothing
        return False
    row = session.get(LiveWebSession, _key_hash(key))
    return row is not None and row.team_id == team_id and row.user_id == user_id and row.expires_at > now


def end_web_session(session: Session, *, key: str) -> None:
    """Sign out: the session's key opens nothing anywhere from now on."""
    if key:
        session.execute(delete(LiveWebSession).where(LiveWebSession.key_hash == _key_hash(key)))
