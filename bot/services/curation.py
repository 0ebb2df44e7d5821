"""Curating the timeline from Slack: Add to timeline, Edit, Hide / Show again, Delete.

Every function takes the caller's Session and never commits (one transaction per click
or form). Each correction is kept as an `EntryRevision` (who, when, the old value) and
bumps the entry's `version`, so a form opened on an older version is refused instead of
silently overwriting someone else's change. Milestone entries keep the incident's
started/detected/mitigated/resolved times (and so TTD/TTM/TTR) in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.lifecycle import out_of_order
from bot.models import EntryRevision, Incident, TimelineEntry
from bot.services import incidents
from bot.services.capture import CapturedMessage, record_message
from bot.services.errors import NotAllowed, ScribeError
from bot.timefmt import iso_utc
from bot.timeparse import TimeParseError, parse_moment

MOMENTS = incidents.MOMENTS
#: What "Add to timeline" may make of a message, in the order the form lists them.
MARK_KINDS: tuple[str, ...] = ("message", "finding", "hypothesis", "mitigation", "decision", "rootcause", "detected", "mitigated", "resolved")
MARK_LABELS = {
    "message": "Key event",
    "finding": "Finding",
    "hypothesis": "Hypothesis",
    "mitigation": "Mitigation",
    "decision": "Decision",
    "rootcause": "Root cause",
    "detected": "Milestone: detected",
    "mitigated": "Milestone: mitigated",
    "resolved": "Milestone: resolved",
}
TEXT_LIMIT = 3000
STALE = "This entry changed since you opened it. Close this form and open it again to see the current version."


class FieldError(ScribeError):
    """A problem with one field of a form: shown under that field (`response_action: errors`)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class EntryGone(ScribeError):
    """The entry (or the message behind it) no longer exists."""


@dataclass(frozen=True)
class Outcome:
    """What a correction did, for the confirmation and the channel."""

    entry_id: int
    incident_ref: str
    channel_id: str
    summary: str
    metrics_changed: bool = False
    changed: bool = True  # False: a form saved as it was shown, which changes nothing


def moment_of(entry: TimelineEntry) -> str | None:
    """The incident time this entry sets, if it is a milestone (typed, or a message marked as one)."""
    if entry.kind in MOMENTS:
        return entry.kind
    if entry.key_kind in MOMENTS:
        return entry.key_kind
    return None


def may_correct(entry: TimelineEntry, user_id: str, *, rule: str) -> bool:
    """The entry's author, the lead and the starter (everyone with SCRIBE_PRIVILEGED_ACTIONS=anyone)."""
    return user_id == entry.author or incidents.may_act_as_lead(entry.incident, user_id, rule=rule)


def who_may(entry: TimelineEntry) -> str:
    incident = entry.incident
    people = []
    if entry.author:
        people.append(f"its author (<@{entry.author}>)")
    lead = incident.role_holder("lead")
    people.append(f"the incident lead (<@{lead}>)" if lead else "the incident lead")
    people.append(f"the person who started {incident.ref} (<@{incident.created_by}>)")
    return ", ".join(people[:-1]) + " or " + people[-1]


def _require_may(entry: TimelineEntry, user_id: str, rule: str, verb: str) -> None:
    if not may_correct(entry, user_id, rule=rule):
        raise NotAllowed(f"Only {who_may(entry)} can {verb} this entry.")


def entry_for_change(session: Session, *, entry_id: int, version: int | None, team_id: str) -> TimelineEntry:
    """The entry a form or menu is about, refused if deleted or changed since (`version`)."""
    entry = session.get(TimelineEntry, entry_id, with_for_update=True)
    if entry is None or entry.team_id != team_id or entry.deleted_at is not None:
        raise EntryGone("That timeline entry was deleted meanwhile; nothing was changed.")
    if version is not None and entry.version != version:
        raise FieldError("text", STALE)
    return entry


def _revise(entry: TimelineEntry, field: str, old: str | None, new: str | None, *, user_id: str, now: datetime) -> None:
    entry.revisions.append(EntryRevision(field=field, old_value=old, new_value=new, changed_by=user_id, changed_at=now))


def _bump(entry: TimelineEntry, user_id: str) -> None:
    entry.version = (entry.version or 1) + 1
    entry.corrected_by = user_id


def check_order(incident: Incident, moment: str, at: datetime, *, command: str = "/incident") -> None:
    """Refuse a milestone time that would put e.g. detected before started, or any milestone
    before the incident began (bot.lifecycle: its declaration when no start was recorded)."""
    problem = out_of_order(incident.milestones(), incident.declared_at, moment, at)
    if problem is None:
        return
    later, earlier = problem.later, problem.earlier
    if problem.before_declaration:
        raise FieldError("at", f"That would put {later} ({iso_utc(problem.later_at)}) before the incident began: it was declared at "
                               f"{iso_utc(incident.declared_at)}, and no start was recorded. Check the time, or first record "
                               f"when the impact started with `{command} started at <time>`.")
    raise FieldError("at", f"That would put {later} ({iso_utc(problem.later_at)}) before {earlier} ({iso_utc(problem.earlier_at)}). "
                           f"Check the time, or correct the {earlier if moment == later else later} entry first.")


def _latest_moment_entry(session: Session, incident: Incident, moment: str, *, excluding: int) -> TimelineEntry | None:
    """The most recently recorded entry still setting `moment`, other than `excluding`."""
    rows = session.scalars(
        select(TimelineEntry).where(
            TimelineEntry.incident_id == incident.id, TimelineEntry.deleted_at.is_(None), TimelineEntry.id != excluding,
            (TimelineEntry.kind == moment) | (TimelineEntry.key_kind == moment),
        ).order_by(TimelineEntry.recorded_at.desc(), TimelineEntry.id.desc()).limit(1)
    ).first()
    return rows


def _move_moment(incident: Incident, moment: str, old_at: datetime | None, new_at: datetime | None) -> bool:
    """The incident time follows its entry when the entry is what set it. True if it changed."""
    attribute = f"{moment}_at"
    current = getattr(incident, attribute)
    if current is not None and old_at is not None and current != old_at:
        return False  # a later `/incident detected` superseded this entry
    if current == new_at:
        return False
    setattr(incident, attribute, new_at)
    return True


# -- Add to timeline -----------------------------------------------------------------------


def message_entry(session: Session, *, team_id: str, message: CapturedMessage, now: datetime, command: str = "/incident") -> TimelineEntry:
    """The timeline entry of a message a shortcut was used on, recorded from the payload
    first when we don't have it (older than the incident, or missed)."""
    incident = incidents.open_incident(session, team_id=team_id, channel_id=message.channel_id)
    if incident is None:
        raise ScribeError(
            f"This channel has no open incident, so there is no timeline to add this message to. "
            f"Declare one with `{command} declare <title>` (or `{command} start <title>`), then try again."
        )
    entry = _message_row(session, team_id, message.channel_id, message.ts)
    if entry is None:
        record_message(session, team_id=team_id, message=message, source="shortcut", now=now)
        entry = _message_row(session, team_id, message.channel_id, message.ts)
    if entry is None or entry.deleted_at is not None:
        raise EntryGone("That message was deleted, so it can't be added to the timeline.")
    if entry.incident_id != incident.id:
        raise ScribeError(f"That message belongs to an earlier incident in this channel, not to {incident.ref}.")
    return entry


def _message_row(session: Session, team_id: str, channel_id: str, ts: str) -> TimelineEntry | None:
    return session.scalars(
        select(TimelineEntry).where(TimelineEntry.team_id == team_id, TimelineEntry.channel_id == channel_id, TimelineEntry.ts == ts)
    ).one_or_none()


def mark_message(
    session: Session, *, entry_id: int, version: int | None, team_id: str, kind: str, text: str, user_id: str, now: datetime,
    command: str = "/incident",
) -> Outcome:
    """Make a message entry a key event of `kind`; a milestone kind also sets that incident
    time to the message's own time. Anyone in the channel may mark (as with 📌)."""
    if kind not in MARK_KINDS:
        raise FieldError("kind", "Choose what this message is: a key event, a finding, … or a milestone.")
    text = text.strip()
    if not text:
        raise FieldError("text", "The text can't be empty: say what happened, or close the form.")
    if len(text) > TEXT_LIMIT:
        raise FieldError("text", f"Keep it under {TEXT_LIMIT} characters (it has {len(text)}).")
    entry = entry_for_change(session, entry_id=entry_id, version=version, team_id=team_id)
    if entry.source == "command" or entry.ts is None:
        raise ScribeError("Only messages can be added to the timeline this way; this entry is already on it.")
    incident = entry.incident
    if incident.closed_at is not None:
        raise ScribeError(f"{incident.ref} is closed; its timeline can still be corrected from `/incident timeline` in the channel.")
    metrics_changed = False
    previous_moment = moment_of(entry)
    if kind in MOMENTS:
        check_order(incident, kind, entry.at, command=command)
    if previous_moment is not None and previous_moment != kind:
        replacement = _latest_moment_entry(session, incident, previous_moment, excluding=entry.id)
        metrics_changed |= _move_moment(incident, previous_moment, entry.at, replacement.at if replacement else None)
    if kind in MOMENTS:
        # As `/incident detected at <the message's time>` would: the latest word wins.
        previous = getattr(incident, f"{kind}_at")
        setattr(incident, f"{kind}_at", entry.at)
        metrics_changed |= previous != entry.at
    if entry.key_kind != kind:
        _revise(entry, "key_kind", entry.key_kind, kind, user_id=user_id, now=now)
        entry.key_kind = kind
    if text != (entry.text or ""):
        _revise(entry, "text", entry.text, text, user_id=user_id, now=now)
        entry.text = text
        entry.corrected_by = user_id
    entry.key = True
    entry.hidden = False
    entry.version = (entry.version or 1) + 1
    summary = f"{MARK_LABELS[kind]}"
    return Outcome(entry.id, incident.ref, incident.channel_id, summary, metrics_changed)


# -- Edit, Hide, Delete ---------------------------------------------------------------------


def edit_entry(
    session: Session, *, entry_id: int, version: int | None, team_id: str, text: str, at_text: str | None,
    user_id: str, user_tz: ZoneInfo | None, default_tz: ZoneInfo, rule: str, now: datetime,
    shown_at: str | None = None, command: str = "/incident",
) -> Outcome:
    """Change an entry's text and (command entries) time; the time is read like `at <time>`.

    `shown_at` is the time as the Edit form showed it: left so, the entry keeps its exact
    time (the form shows whole seconds, the record has microseconds). A form saved as it was
    shown changes nothing, and says so (`Outcome.changed`)."""
    entry = entry_for_change(session, entry_id=entry_id, version=version, team_id=team_id)
    _require_may(entry, user_id, rule, "edit")
    incident = entry.incident
    moment = moment_of(entry)
    new_at = _edited_time(entry, at_text, shown_at, now=now, user_tz=user_tz, default_tz=default_tz)
    # The form shows the text cut to TEXT_LIMIT; the same text back (give or take the blank
    # space around it) is the stored text left as it was.
    text_changed = text.strip() != (entry.text or "")[:TEXT_LIMIT].strip()
    if not text_changed and new_at == entry.at:
        return Outcome(entry.id, incident.ref, incident.channel_id, "unchanged", changed=False)
    if text_changed:
        text = text.strip()
        if not text and entry.source != "command":
            raise FieldError("text", "A message's text can't be empty. To remove the message, delete it in Slack.")
        if not text and moment is None:
            raise FieldError("text", "The text can't be empty. To remove the entry, choose Delete in the timeline's menu.")
        if len(text) > TEXT_LIMIT:
            raise FieldError("text", f"Keep it under {TEXT_LIMIT} characters (it has {len(text)}).")
    if moment is not None and new_at != entry.at:
        check_order(incident, moment, new_at, command=command)
    changes = []
    metrics_changed = False
    if text_changed:
        _revise(entry, "text", entry.text, text or None, user_id=user_id, now=now)
        entry.text = text or None
        changes.append("text")
    if new_at != entry.at:
        _revise(entry, "at", iso_utc(entry.at), iso_utc(new_at), user_id=user_id, now=now)
        if moment is not None:
            metrics_changed = _move_moment(incident, moment, entry.at, new_at)
        entry.at = new_at
        changes.append(f"time to {iso_utc(new_at)}")
    _bump(entry, user_id)
    return Outcome(entry.id, incident.ref, incident.channel_id, "changed " + " and ".join(changes), metrics_changed)


def _edited_time(entry: TimelineEntry, at_text: str | None, shown_at: str | None, *, now: datetime, user_tz: ZoneInfo | None,
                 default_tz: ZoneInfo) -> datetime:
    """The time the Edit form asks for: a message keeps its own (Slack's); a command entry's
    is read like `at <time>`, and left as shown it is the stored time, to the microsecond."""
    if entry.source != "command":
        return entry.at
    typed = (at_text or "").strip()
    if not typed:
        raise FieldError("at", "Say when it happened, e.g. 14:23, 14:23 UTC, 2026-01-15 14:23 Europe/Berlin or 10m ago.")
    if shown_at is not None and typed == shown_at.strip():
        return entry.at
    try:
        parsed = parse_moment(typed, now=now, user_tz=user_tz, default_tz=default_tz)
    except TimeParseError as error:
        raise FieldError("at", str(error)) from None
    # The form shows whole seconds: typing the second shown back means the time as stored.
    return entry.at if parsed == entry.at.replace(microsecond=0) else parsed


def set_hidden(session: Session, *, entry_id: int, version: int | None, team_id: str, hidden: bool, user_id: str, rule: str, now: datetime) -> Outcome:
    """Leave an entry out of the postmortem (or bring it back); it stays in the export, marked hidden."""
    entry = entry_for_change(session, entry_id=entry_id, version=None, team_id=team_id)
    _require_may(entry, user_id, rule, "hide or show")
    if entry.hidden == hidden:
        word = "hidden from" if hidden else "shown in"
        raise ScribeError(f"That entry is already {word} the postmortem.")
    _revise(entry, "hidden", str(entry.hidden).lower(), str(hidden).lower(), user_id=user_id, now=now)
    entry.hidden = hidden
    entry.version = (entry.version or 1) + 1
    summary = "hidden from the postmortem" if hidden else "shown in the postmortem again"
    return Outcome(entry.id, entry.incident.ref, entry.incident.channel_id, summary)


def require_deletable(entry: TimelineEntry, user_id: str, *, rule: str) -> None:
    """Refuse, with what to do instead, an entry that can't be deleted or a person who may not.
    Asked before the confirmation opens, and again when it is confirmed."""
    if entry.source != "command" or entry.ts is not None:
        raise ScribeError("A captured message is removed by deleting it in Slack; here you can hide it from the postmortem instead.")
    if entry.kind in ("declared", "closed", "action"):
        what = {"declared": "the declaration", "closed": "the close", "action": "an action item's entry"}[entry.kind]
        raise ScribeError(f"You can't delete {what}; edit its text or hide it from the postmortem instead.")
    _require_may(entry, user_id, rule, "delete")


def delete_entry(session: Session, *, entry_id: int, version: int | None, team_id: str, user_id: str, rule: str, now: datetime) -> Outcome:
    """Delete a command entry, leaving a tombstone (like a deleted message: the text goes).
    `version` is the one the confirmation showed: an entry changed since is not deleted."""
    entry = entry_for_change(session, entry_id=entry_id, version=version, team_id=team_id)
    require_deletable(entry, user_id, rule=rule)
    incident = entry.incident
    metrics_changed = False
    moment = moment_of(entry)
    if moment is not None:
        replacement = _latest_moment_entry(session, incident, moment, excluding=entry.id)
        metrics_changed = _move_moment(incident, moment, entry.at, replacement.at if replacement else None)
    # Like a deleted message: the words go, with their earlier versions; who deleted stays.
    for revision in entry.revisions:
        revision.old_value = revision.new_value = None
    _revise(entry, "deleted", None, None, user_id=user_id, now=now)
    entry.text = None
    entry.deleted_at = now
    entry.key = False
    _bump(entry, user_id)
    return Outcome(entry.id, incident.ref, incident.channel_id, "deleted", metrics_changed)


def revisions_of(session: Session, entry_id: int) -> list[EntryRevision]:
    return list(session.scalars(select(EntryRevision).where(EntryRevision.entry_id == entry_id).order_by(EntryRevision.id)))
