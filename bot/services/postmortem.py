"""Postmortem drafts of recorded incidents: draft, store every version, review state.

Every function takes the caller's Session and never commits. Display names come in as
data, looked up before the transaction (`names_wanted` says whose); posting a draft is an
outbox row (kind publish_postmortem), carried out after commit by
bot.slack.effects.postmortem.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.models import Incident, Postmortem, PostmortemVersion, TimelineEntry
from bot.outbox import kinds
from bot.outbox.store import Effect, enqueue
from bot.postmortem import (
    DEFAULT_BLAME_PHRASES,
    ActionFact,
    BlameFinding,
    EntryFact,
    IncidentFacts,
    ReviewFields,
    UnknownTemplate,
    available_templates,
    build_context,
    find_blame,
    make_environment,
    render_postmortem,
)
from bot.services import incidents, people
from bot.services.errors import NotAllowed, ScribeError
from bot.services.export import action_facts, action_items, entry_facts, incident_facts, live_entries

STATUSES = ("draft", "in_review", "final")
STATUS_LABELS = {"draft": "Draft", "in_review": "In review", "final": "Final"}
#: The Edit modal's fields, in the order the modal shows them.
REVIEW_FIELDS = ("summary", "impact", "root_cause", "contributing_factors", "lessons")
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


class UnknownTemplateChoice(ScribeError):
    """A template name nobody provides; the message lists the ones that exist."""

    def __init__(self, name: str, available: list[str], command: str = "/incident") -> None:
        self.name = name
        self.available = available
        listing = ", ".join(f"`{a}`" for a in available)
        super().__init__(
            f"There is no postmortem template called `{name}`. Available templates: {listing}. "
            f"For example: `{command} postmortem {available[0] if available else 'standard'}`."
        )


class NoIncidentHere(ScribeError):
    def __init__(self, command: str = "/incident") -> None:
        super().__init__(
            f"No incident has been recorded in this channel, so there is nothing to draft. "
            f"Start one with `{command} start <title>`."
        )


@dataclass(frozen=True)
class Draft:
    """One stored version and what the Slack summary needs to show it."""

    incident_id: int
    ref: str
    channel_id: str
    version: int
    template: str
    status: str
    markdown: str
    context: dict[str, Any]
    findings: list[BlameFinding]
    canvas_id: str | None
    summary_ts: str | None

    @property
    def filename(self) -> str:
        return f"{self.ref}-postmortem-v{self.version}.md"


def template_environment(settings: Settings):
    return make_environment(settings.templates_dir)


def choose_template(settings: Settings, requested: str | None, remembered: str | None) -> str:
    """The template asked for, else the one used last time, else the configured default."""
    env = template_environment(settings)
    available = available_templates(env)
    name = (requested or remembered or settings.postmortem_template).strip().lower()
    if name.endswith(".md.j2"):
        name = name[: -len(".md.j2")]
    if name not in available:
        raise UnknownTemplateChoice(name, available, settings.command)
    return name


def postmortem_of(session: Session, incident: Incident, *, now: datetime, lock: bool = False) -> Postmortem:
    """The incident's review record, created on first use."""
    query = select(Postmortem).where(Postmortem.incident_id == incident.id)
    if lock:
        # Serialises concurrent drafts of one incident on PostgreSQL (version numbers).
        query = query.with_for_update()
    pm = session.scalars(query).one_or_none()
    if pm is not None:
        return pm
    try:
        # Two first drafts at once: one inserts, the other waits on the key, then locks that row.
        with session.begin_nested():
            session.add(Postmortem(incident_id=incident.id, status="draft", updated_at=now))
    except IntegrityError:
        pass
    return session.scalars(query).one()


def review_fields(pm: Postmortem, version: int) -> ReviewFields:
    return ReviewFields(**{name: getattr(pm, name) for name in REVIEW_FIELDS}, status=pm.status, version=version)


def incident_for_channel(session: Session, *, team_id: str | None, channel_id: str, command: str = "/incident") -> Incident:
    """The channel's open incident, else its latest one: postmortems are usually drafted after close."""
    incident = incidents.latest_incident(session, channel_id=channel_id, team_id=team_id)
    if incident is None:
        raise NoIncidentHere(command)
    return incident


def require_incident(session: Session, incident_id: int) -> Incident:
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise ScribeError("That incident no longer exists, so its postmortem can't be changed.")
    return incident


def _user_ids(incident: Incident, entries: list[TimelineEntry], owners: list[str | None]) -> set[str]:
    ids = {incident.created_by, *(r.user_id for r in incident.roles), *owners}
    for entry in entries:
        if entry.author_name is None:  # an integration's entry carries its name; users.info can't name a bot id
            ids.add(entry.author)
        if entry.text and "<@" in entry.text:
            ids.update(_MENTION.findall(entry.text))
    return {i for i in ids if i}


def names_wanted(session: Session, incident: Incident) -> set[str]:
    """Whose display names a draft of this incident shows, to look up before drafting."""
    return _user_ids(incident, live_entries(session, incident), [a.owner_id for a in action_items(session, incident)])


def blame_findings(context: dict[str, Any], settings: Settings) -> list[BlameFinding]:
    """Sentences in the draft's own voice that blame someone: the Edit-modal fields, the
    timeline of key events (commands, pinned and 📌 messages), the investigation record and
    the action items. The communication log is left out on purpose: it is a verbatim record
    nobody should rephrase, and screening thousands of chat lines would cost the draft its
    speed."""
    phrases = settings.blame_phrases or DEFAULT_BLAME_PHRASES
    people_names = [p.replace("\\", "") for p in context["participants"]]
    review = context["review"]
    texts = [review[name] for name in REVIEW_FIELDS]
    texts += [e["text"] for e in context["key_events"]]
    texts += [a["text"] for a in context["actions"]]
    return find_blame([t for t in texts if t], phrases=phrases, people=people_names)


def render_facts(
    settings: Settings,
    incident: IncidentFacts,
    entries: list[EntryFact],
    actions: list[ActionFact],
    review: ReviewFields,
    *,
    names: dict[str, str],
    now: datetime,
    template: str,
) -> tuple[dict[str, Any], str]:
    """Facts to (context, Markdown) with the named template; used for stored incidents and exports alike."""
    context = build_context(incident, entries, actions, review, user_name=names.get, generated_at=now, display_tz=settings.timezone)
    try:
        markdown = render_postmortem(context, template, template_environment(settings))
    except UnknownTemplate as error:  # the folder changed between choosing and rendering
        raise UnknownTemplateChoice(template, error.available, settings.command) from None
    return context, markdown


def draft_postmortem(
    session: Session,
    incident: Incident,
    *,
    settings: Settings,
    names: Mapping[str, str] | None = None,
    now: datetime,
    user_id: str | None,
    template: str | None = None,
) -> Draft:
    """Render the incident from its recorded facts and store the result as a new version.

    Review state and what people wrote in the Edit modal come from the Postmortem row,
    so they survive every regeneration. `names`: display names looked up beforehand; anyone
    missing is named from the users.info cache, else shown by id.
    """
    pm = postmortem_of(session, incident, now=now, lock=True)
    name = choose_template(settings, template, pm.template)
    entries = live_entries(session, incident)
    items = action_items(session, incident)
    wanted = _user_ids(incident, entries, [a.owner_id for a in items])
    known = dict(names or {})
    if wanted - set(known):
        known = {**people.cached_names(session, team_id=incident.team_id, user_ids=wanted - set(known), now=now), **known}
    latest = session.scalar(select(func.max(PostmortemVersion.version)).where(PostmortemVersion.incident_id == incident.id))
    version = (latest or 0) + 1
    context, markdown = render_facts(
        settings, incident_facts(incident), entry_facts(entries), action_facts(items), review_fields(pm, version),
        names=known, now=now, template=name,
    )
    session.add(
        PostmortemVersion(
            incident_id=incident.id, version=version, template=name, status=pm.status, markdown=markdown, created_at=now, created_by=user_id
        )
    )
    pm.template = name
    pm.updated_at = now
    pm.updated_by = user_id
    session.flush()
    return Draft(
        incident_id=incident.id,
        ref=incident.ref,
        channel_id=incident.channel_id,
        version=version,
        template=name,
        status=pm.status,
        markdown=markdown,
        context=context,
        findings=blame_findings(context, settings),
        canvas_id=pm.canvas_id,
        summary_ts=pm.summary_ts,
    )


def stored_draft(session: Session, incident: Incident, *, settings: Settings, version: int, now: datetime) -> Draft:
    """A version stored earlier, with what its summary needs (the facts as they are now;
    the Markdown exactly as stored)."""
    stored = session.scalars(
        select(PostmortemVersion).where(PostmortemVersion.incident_id == incident.id, PostmortemVersion.version == version)
    ).one()
    pm = postmortem_of(session, incident, now=now)
    entries = live_entries(session, incident)
    items = action_items(session, incident)
    names = people.cached_names(session, team_id=incident.team_id, user_ids=_user_ids(incident, entries, [a.owner_id for a in items]), now=now)
    context, _ = render_facts(settings, incident_facts(incident), entry_facts(entries), action_facts(items), review_fields(pm, version),
                              names=names, now=stored.created_at, template=stored.template)
    return Draft(incident_id=incident.id, ref=incident.ref, channel_id=incident.channel_id, version=version, template=stored.template,
                 status=stored.status, markdown=stored.markdown, context=context, findings=blame_findings(context, settings),
                 canvas_id=pm.canvas_id, summary_ts=pm.summary_ts)


def latest_version(session: Session, incident: Incident) -> PostmortemVersion | None:
    return session.scalars(
        select(PostmortemVersion).where(PostmortemVersion.incident_id == incident.id).order_by(PostmortemVersion.version.desc()).limit(1)
    ).first()


def latest_markdown(session: Session, incident: Incident, *, settings: Settings, now: datetime | None = None) -> str:
    """The latest stored version; drafts (and stores) one if none exists yet, naming people
    from the users.info cache (uncached people show their id)."""
    stored = latest_version(session, incident)
    if stored is not None:
        return stored.markdown
    when = now or datetime.now(UTC)
    return draft_postmortem(session, incident, settings=settings, now=when, user_id=None).markdown


def request_publication(session: Session, incident: Incident, *, settings: Settings, user_id: str, template: str | None,
                        reply_to: dict[str, str], always_reply: bool, include_chart: bool, now: datetime, key: str) -> None:
    """Ask for a new draft to be made and posted in the incident's channel after commit
    (bot.slack.effects.postmortem). The template is checked now, so a wrong name is told at once.
    `always_reply`: tell the person how it went even when all went well (the command does)."""
    pm = session.get(Postmortem, incident.id)
    chosen = choose_template(settings, template, pm.template if pm else None) if template else None
    enqueue(session, Effect(kinds.PUBLISH_POSTMORTEM, f"postmortem:{incident.id}:{key}", incident.team_id, incident_id=incident.id,
                            lane=f"postmortem:{incident.id}",
                            payload={"user_id": user_id, "template": chosen, "reply_to": reply_to, "always_reply": always_reply,
                                     "include_chart": include_chart}), now=now)


def set_status(session: Session, incident: Incident, *, status: str, user_id: str, rule: str, now: datetime) -> str:
    """Move the review along Draft → In review → Final; returns the previous status.

    Final needs the incident lead or whoever started the incident (unless the rule is
    'anyone'); a final postmortem doesn't go back.
    """
    if status not in STATUSES:
        raise ValueError(f"unknown postmortem status {status!r}")
    pm = postmortem_of(session, incident, now=now, lock=True)
    previous = pm.status
    if previous == status:
        raise ScribeError(f"The postmortem of {incident.ref} is already {STATUS_LABELS[status]}.")
    if previous == "final":
        raise ScribeError(f"The postmortem of {incident.ref} is already Final; it can't go back to {STATUS_LABELS[status]}.")
    if status == "final":
        if not incidents.may_act_as_lead(incident, user_id, rule=rule):
            lead = incident.role_holder("lead")
            who = f"the incident lead (<@{lead}>)" if lead else "the incident lead"
            raise NotAllowed(f"Only {who} or the person who started {incident.ref} (<@{incident.created_by}>) can mark its postmortem Final.")
        if previous == "draft":
            raise ScribeError(f"The postmortem of {incident.ref} is still a Draft: press *Mark reviewed* once people have reviewed it, then *Mark final*.")
    pm.status = status
    pm.updated_at = now
    pm.updated_by = user_id
    return previous


def save_review_fields(session: Session, incident: Incident, values: dict[str, str | None], *, user_id: str, now: datetime) -> None:
    """Store what people wrote in the Edit modal; empty means "not written yet"."""
    pm = postmortem_of(session, incident, now=now, lock=True)
    if pm.status == "final":
        raise ScribeError(f"The postmortem of {incident.ref} is Final, so it can no longer be edited.")
    for name in REVIEW_FIELDS:
        value = values.get(name)
        value = value.strip() if value else None
        setattr(pm, name, value or None)
    pm.updated_at = now
    pm.updated_by = user_id


def record_publication(session: Session, incident_id: int, *, summary_ts: str | None, canvas_id: str | None) -> None:
    pm = session.get(Postmortem, incident_id)
    if pm is None:
        return
    if summary_ts:
        pm.summary_ts = summary_ts
    if canvas_id:
        pm.canvas_id = canvas_id
