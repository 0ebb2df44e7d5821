"""Carry out one `/incident …` command: parsed command in, reply out.

The listener parses nothing and decides nothing; this module maps each command type
to its service call and words the reply. Replies that record something go to the
channel (so everyone sees the timeline grow); errors and lookups go only to the caller.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable
from zoneinfo import ZoneInfo

from slack_sdk import WebClient
from sqlalchemy.orm import Session

from bot import commands as cmd
from bot.config import Settings
from bot.groupcommit import GroupCommit
from bot.markup import neutralize_mentions
from bot.models import Incident, TimelineEntry
from bot.postmortem.context import KIND_LABELS, format_utc
from bot.services import actions, followups, incidents, people, updates
from bot.services.errors import NoOpenIncident, ScribeError
from bot.services.incidents import CommandEntry
from bot.services import catchup
from bot.slack.blocks import catchup as catchup_blocks
from bot.slack.blocks import curation as curation_blocks
from bot.slack.blocks import followups as followup_blocks
from bot.slack.blocks import updates as update_blocks
from bot.slack.io import channels, messages
from bot.slack.payloads import storable
from bot.timeparse import TimeParseError, parse_moment
from bot.web.links import incident_url

SLOW_COMMANDS = (cmd.Postmortem, cmd.Backfill, cmd.ShowStats, cmd.Declare)
# The subcommands that parse to SLOW_COMMANDS, for routing by the first word alone.
SLOW_SUBCOMMANDS = frozenset({"postmortem", "backfill", "stats", "declare"})
# Commands after which the incident's announcement (and a declared channel's topic) is
# brought up to date, after the ack (bot.slack.listeners.commands).
ANNOUNCED_SUBCOMMANDS = frozenset({"start", "severity", "role", "title", "started", "resolved", "close", "update"})

def kind_label(kind: str) -> str:
    """The same words the postmortem uses, so the channel and the draft agree."""
    if kind == "message":
        return "Message"  # the draft's "Key message" only applies to pinned ones
    return KIND_LABELS.get(kind, (kind, ""))[0]


@dataclass(frozen=True)
class Invocation:
    """Who typed the command, where, and when we received it."""

    team_id: str
    channel_id: str
    channel_name: str | None
    user_id: str
    command_id: str | None
    now: datetime


@dataclass(frozen=True)
class Reply:
    text: str
    in_channel: bool = False
    blocks: list[dict[str, Any]] | None = None
    view: dict[str, Any] | None = None  # a modal to open (with the command's trigger_id) before answering


def safe(text: str) -> str:
    """User text echoed into Slack must not ping @channel or people the user didn't mention."""
    return neutralize_mentions(text)


# A zone far from every other: if a typed time reads the same here, it named its own zone.
_FAR_ZONE = ZoneInfo("Pacific/Kiritimati")


def _resolve_time(
    session: Session, client: WebClient | None, settings: Settings, inv: Invocation, at_text: str | None
) -> tuple[datetime, str]:
    """The typed time in UTC, and a note for the reply when it was read in the fallback zone.

    When users.info fails (or the user has no zone), a bare "14:23" is read in
    SCRIBE_TIMEZONE; saying so keeps a wrong guess from going unnoticed.
    """
    if at_text is None:
        return inv.now, ""
    user_tz = people.timezone_of(session, client, team_id=inv.team_id, user_id=inv.user_id, now=inv.now)
    at = parse_moment(at_text, now=inv.now, user_tz=user_tz, default_tz=settings.timezone)
    if user_tz is not None:
        return at, ""
    try:
        zone_free = parse_moment(at_text, now=inv.now, user_tz=None, default_tz=_FAR_ZONE) == at
    except TimeParseError:
        zone_free = False
    if zone_free:
        return at, ""
    return at, f" (read in {settings.timezone.key}: I couldn't get your time zone from Slack; add a zone like `14:23 Europe/Berlin` if that's wrong)"


def entry_line(entry: TimelineEntry) -> curation_blocks.EntryLine:
    """An entry as `/incident timeline` lists it, with what its menu may offer."""
    kind = entry.key_kind if entry.kind == "message" and entry.key_kind else entry.kind
    label = "Key message" if kind == "message" and entry.key else kind_label(kind)
    return curation_blocks.EntryLine(
        id=entry.id, version=entry.version or 1, at=entry.at, label=label, author=entry.author, text=entry.text or "",
        key=entry.key, hidden=entry.hidden, deletable=entry.source == "command" and entry.kind not in ("declared", "closed", "action"),
        corrected_by=entry.corrected_by,
    )


def run(
    session: Session,
    command: cmd.Command,
    inv: Invocation,
    *,
    settings: Settings,
    client: WebClient | None,
) -> Reply:
    """Execute a parsed command that can finish within Slack's deadline."""
    name = settings.command
    if isinstance(command, cmd.Help):
        return Reply(cmd.HELP_TEXT.format(cmd=name))

    if isinstance(command, cmd.Start):
        incident = incidents.start_incident(
            session,
            team_id=inv.team_id,
            channel_id=inv.channel_id,
            channel_name=inv.channel_name,
            title=command.title,
            severity=command.severity,
            user_id=inv.user_id,
            now=inv.now,
            command_id=inv.command_id,
        )
        session.flush()
        sev = f" ({command.severity})" if command.severity else ""
        text = (
            f":rotating_light: *{incident.ref} started*{sev}: {safe(command.title)}\n"
            f"I'm recording this channel from {format_utc(inv.now)}. Mark key moments with `{name} detected|mitigated|resolved [at <time>]`, "
            f"pin or :{settings.key_reaction}: important messages, and `{name} help` for the rest."
        )
        updates.sync_nudges(session, incident, settings=settings)
        joined = channels.join_channel(client, inv.channel_id)
        incident.is_private = joined.private
        warning = joined.problem
        if warning:
            text += f"\n:warning: {warning}"
        page = incident_url(settings, incident.ref)
        if page is not None:
            text += f"\n:globe_with_meridians: Timeline, metrics and exports on the web: <{page}|{incident.ref} web page> (bookmarked in this channel)."
            if not warning:  # not in the channel: the bookmark would fail the same way
                trouble = channels.add_link_bookmark(client, inv.channel_id, title=f"{incident.ref} web page", link=page)
                if trouble:
                    text += f"\n:warning: {trouble}"
        return Reply(text, in_channel=True)

    if isinstance(command, (cmd.AddAction, cmd.ListActions)):
        # Action items mostly come out of the postmortem, after the incident is closed.
        latest = incidents.latest_incident(session, channel_id=inv.channel_id, team_id=inv.team_id)
        if latest is None:
            raise ScribeError(f"This channel has no incident to attach action items to. Start one with `{name} start <title>`.")
        return _action_command(session, command, latest, inv, settings=settings, client=client)

    if isinstance(command, cmd.CatchUp):
        latest = incidents.latest_incident(session, channel_id=inv.channel_id, team_id=inv.team_id)
        if latest is None:
            raise ScribeError(f"This channel has no incident to catch up on. Start one with `{name} start <title>`.")
        text, blocks = catchup_blocks.catch_up_message(catchup.catch_up(session, latest, now=inv.now), command=name)
        return Reply(text, blocks=blocks)

    incident = incidents.require_open_incident(session, team_id=inv.team_id, channel_id=inv.channel_id, command=name)

    if isinstance(command, cmd.Moment):
        at, zone_note = _resolve_time(session, client, settings, inv, command.at)
        previous = incidents.record_moment(
            session, incident=incident, moment=command.kind, at=at, text=command.text, user_id=inv.user_id, command_id=inv.command_id, now=inv.now,
        )
        label = kind_label(command.kind)
        text = f":stopwatch: *{label}* at {format_utc(at)} for {incident.ref}"
        if command.text:
            text += f": {safe(command.text)}"
        if previous is not None and previous != at:
            text += f" (was {format_utc(previous)})"
        if command.kind == "resolved":
            followups.sync_reviews(session, incident, zone=settings.timezone, cadence=followups.Cadence.from_settings(settings))
        updates.sync_nudges(session, incident, settings=settings)
        return Reply(text + zone_note, in_channel=True)


    if isinstance(command, cmd.Entry):
        at, zone_note = _resolve_time(session, client, settings, inv, command.at)
        incidents.add_command_entry(
            session, incident=incident, kind=command.kind, text=command.text, at=at, author=inv.user_id, command_id=inv.command_id, now=inv.now
        )
        when = "" if command.at is None else f" (at {format_utc(at)})"
        return Reply(f":memo: *{kind_label(command.kind)}* recorded{when}: {safe(command.text)}{zone_note}", in_channel=True)

    if isinstance(command, cmd.SetSeverity):
        previous = incidents.set_severity(session, incident=incident, level=command.level, user_id=inv.user_id, command_id=inv.command_id, now=inv.now)
        change = f"from {previous} to {command.level}" if previous else f"set to {command.level}"
        updates.sync_nudges(session, incident, settings=settings)
        return Reply(f":warning: *Severity* of {incident.ref} {change}", in_channel=True)

    if isinstance(command, cmd.AssignRole):
        incidents.assign_role(
            session, incident=incident, role=command.role, assignee=command.user_id, user_id=inv.user_id, command_id=inv.command_id, now=inv.now
        )
        updates.sync_nudges(session, incident, settings=settings)
        return Reply(f":bust_in_silhouette: <@{command.user_id}> is now *{command.role}* for {incident.ref}", in_channel=True)

    if isinstance(command, cmd.Close):
        incidents.close_incident(
            session, incident=incident, user_id=inv.user_id, rule=settings.privileged_actions, command_id=inv.command_id, now=inv.now
        )
        # Closed without a `resolved` time: the review reminders count from the close.
        followups.sync_reviews(session, incident, zone=settings.timezone, cadence=followups.Cadence.from_settings(settings))
        updates.sync_nudges(session, incident, settings=settings)
        return Reply(
            f":white_check_mark: *{incident.ref} closed* at {format_utc(inv.now)}. Recording has stopped. "
            f"Draft the postmortem with `{name} postmortem`.",
            in_channel=True,
        )

    if isinstance(command, cmd.SetTitle):
        previous = incidents.set_title(session, incident=incident, title=command.title, user_id=inv.user_id, command_id=inv.command_id, now=inv.now)
        return Reply(f":pencil2: *Title* of {incident.ref} changed from “{safe(previous)}” to “{safe(command.title)}”", in_channel=True)

    if isinstance(command, cmd.ShowTimeline):
        entries = incidents.recent_entries(session, incident=incident, limit=command.limit)
        text, blocks = curation_blocks.timeline_message(incident.ref, [entry_line(e) for e in entries], name)
        return Reply(text, blocks=blocks)

    if isinstance(command, (cmd.PostUpdate, cmd.UpdateForm, cmd.SnoozeUpdates)):
        return _update_command(session, command, incident, inv, settings=settings, client=client)

    raise ScribeError(f"`{name} {type(command).__name__.lower()}` isn't available yet. Type `{name} help` for what you can do.")


def _action_command(
    session: Session, command: cmd.AddAction | cmd.ListActions, incident: Incident, inv: Invocation, *, settings: Settings, client: WebClient | None
) -> Reply:
    if isinstance(command, cmd.ListActions):
        text, blocks = followup_blocks.action_list(incident.id, incident.ref, [actions.view_of(i) for i in actions.items_of(session, incident)], settings.command)
        return Reply(text, blocks=blocks)
    item = actions.add_item(
        session,
        incident=incident,
        text=command.text,
        owner_id=command.owner_id,
        due_text=command.due,
        priority=command.priority,
        user_id=inv.user_id,
        command_id=inv.command_id,
        now=inv.now,
        settings=settings,
        client=client,
    )
    if item is None:
        return Reply("That action item was already recorded.")
    return Reply(followup_blocks.added_line(actions.view_of(item)), in_channel=True)


def _update_command(
    session: Session, command: cmd.PostUpdate | cmd.UpdateForm | cmd.SnoozeUpdates, incident: Incident, inv: Invocation,
    *, settings: Settings, client: WebClient | None,
) -> Reply:
    """`/incident update …` (posted by the bot in the channel, and under the announcement),
    `/incident update` alone (the form), `/incident snooze-updates …`."""
    name = settings.command
    if isinstance(command, cmd.UpdateForm):
        return Reply("Opening the status update form…", view=update_blocks.update_form(incident.id, incident.ref, status=incident.update_status, next_minutes=None))
    if isinstance(command, cmd.SnoozeUpdates):
        until = updates.snooze_nudges(session, incident=incident, minutes=command.minutes, now=inv.now, settings=settings)
        if until is None:
            return Reply(f":bell: Update reminders for {incident.ref} are back on.", in_channel=True)
        return Reply(
            f":no_bell: <@{inv.user_id}> paused the update reminders for {incident.ref} until {format_utc(until)} (`{name} snooze-updates off` resumes them).",
            in_channel=True,
        )
    posted = updates.post_update(
        session, incident=incident, status=command.status, summary=command.text, next_minutes=command.next_minutes,
        user_id=inv.user_id, command_id=inv.command_id, now=inv.now, settings=settings,
    )
    if posted is None:
        return Reply("That update was already posted.")
    return _posted_update_reply(session, incident, posted, client=client)


def _posted_update_reply(session: Session, incident: Incident, posted: updates.PostedUpdate, *, client: WebClient | None) -> Reply:
    result = messages.post_status_update(
        client, channel_id=incident.channel_id, text=posted.text, blocks=posted.blocks, announcement=updates.announcement_of(session, incident)
    )
    if result.problem is not None:
        return Reply(f":warning: {result.problem}")
    text = ":white_check_mark: Update posted."
    if posted.resolved:
        text += f" {incident.ref} is recorded as resolved; no more update reminders."
    elif posted.next_update_at is not None:
        text += f" Next one due by {posted.next_update_at.strftime('%H:%M UTC')}; I'll remind the channel then if there isn't one."
    return Reply(text)


def error_reply(error: Exception, *, usage: str | None = None) -> Reply:
    """Turn a user-fixable problem into an ephemeral reply."""
    if isinstance(error, TimeParseError):
        return Reply(f":x: {error}")
    text = f":x: {error}"
    if usage:
        text += f"\nUsage: `{usage}`"
    return Reply(text)


def handle(
    session_factory: Callable[[], object],
    text: str,
    inv: Invocation,
    *,
    settings: Settings,
    client: WebClient | None,
    entries: GroupCommit[CommandEntry, bool],
) -> tuple[Reply, cmd.Command | None]:
    """Parse and run a command in one transaction (a timeline command without a time: in a
    statement shared with concurrent ones, written by `entries`). Returns the reply and the parsed command
    (None when the text didn't parse). User mistakes become ephemeral replies; nothing is
    written when they happen, because the transaction rolls back."""
    parsed = cmd.parse_command(storable(text or ""))
    if isinstance(parsed, cmd.UsageError):
        return Reply(f":x: {parsed.message}\nUsage: `{parsed.usage.format(cmd=settings.command)}`"), None
    if isinstance(parsed, cmd.ShowStats):
        problem = stats_request_problem(parsed, inv.now, settings=settings)
        if problem is not None:
            return Reply(problem), None
    if isinstance(parsed, cmd.Declare):
        return Reply(f":hourglass_flowing_sand: Declaring “{safe(parsed.title)}”: creating its channel…"), parsed
    if isinstance(parsed, SLOW_COMMANDS):
        return Reply(":hourglass_flowing_sand: Working on it…"), parsed
    try:
        if isinstance(parsed, cmd.Entry) and parsed.at is None:
            return _record_entry(entries, parsed, inv, settings=settings), parsed
        with session_factory.begin() as session:  # type: ignore[attr-defined]
            return run(session, parsed, inv, settings=settings, client=client), parsed
    except TimeParseError as error:
        return Reply(f":x: {error}"), parsed
    except ScribeError as error:
        return Reply(f":x: {error}"), parsed


def _record_entry(entries: GroupCommit[CommandEntry, bool], command: cmd.Entry, inv: Invocation, *, settings: Settings) -> Reply:
    """The command typed most during an incident (`note`, `finding`, … without `at`): written
    with whatever other such commands arrive meanwhile, in one statement that finds the open
    incident itself (bot.services.incidents.write_command_entries)."""
    entry = CommandEntry(
        team_id=inv.team_id, channel_id=inv.channel_id, kind=command.kind, text=command.text, author=inv.user_id,
        # Slack always sends a trigger_id; without one there is nothing to recognise a retry by.
        command_id=inv.command_id or f"no-trigger-id-{uuid.uuid4().hex}", now=inv.now,
    )
    if not entries.submit(entry):
        raise NoOpenIncident(settings.command)
    return Reply(f":memo: *{kind_label(command.kind)}* recorded: {safe(command.text)}", in_channel=True)


def update_form_command_id(view: dict[str, Any]) -> str:
    """The update form's submissions are keyed by their view: a double-click records once."""
    return f"view:{view.get('id')}"


def submit_update_form(
    session_factory: Any, view: dict[str, Any], *, user_id: str, now: datetime, settings: Settings, client: WebClient | None
) -> tuple[dict[str, str] | None, str | None]:
    """The status update form, submitted: (errors by block id for the form, or None; a note for the
    person when the update was recorded but Slack refused the post). A double-clicked submit
    carries the same view id, so the update is recorded and posted once."""
    incident_id, status, summary, next_text = update_blocks.submitted_update(view)
    errors: dict[str, str] = {}
    if status is None:
        errors["status"] = "Choose a status: investigating, identified, monitoring or resolved."
    if not summary:
        errors["summary"] = "Say where things stand: what we know, what we're doing."
    elif len(summary) > cmd.MAX_UPDATE_LENGTH:
        errors["summary"] = f"The summary is {len(summary)} characters long; the limit is {cmd.MAX_UPDATE_LENGTH}."
    next_minutes: int | None = None
    if next_text:
        if not next_text.isdigit() or not 1 <= int(next_text) <= cmd.MAX_NEXT_UPDATE_MINUTES:
            errors["next"] = f"Give a whole number of minutes from 1 to {cmd.MAX_NEXT_UPDATE_MINUTES}, e.g. 30, or leave it empty."
        else:
            next_minutes = int(next_text)
    if errors:
        return errors, None
    with session_factory.begin() as session:
        incident = session.get(Incident, incident_id) if incident_id is not None else None
        if incident is None or incident.closed_at is not None:
            return {"summary": "This incident is closed (or gone), so it takes no more updates."}, None
        posted = updates.post_update(
            session, incident=incident, status=status, summary=summary, next_minutes=next_minutes,
            user_id=user_id, command_id=update_form_command_id(view), now=now, settings=settings,
        )
        if posted is None:
            return None, None
        reply = _posted_update_reply(session, incident, posted, client=client)
    return None, reply.text if reply.text.startswith(":warning:") else None


def stats_request_problem(command: cmd.ShowStats, now: datetime, *, settings: Settings) -> str | None:
    """The private reply for a period that can't be read, told in the ack (before "Working on
    it…"); None when it reads."""
    from bot.insights.stats import PeriodError, parse_period

    try:
        parse_period(command.period, now)
    except PeriodError as error:
        return f":x: {error}\nUsage: `{cmd.USAGE['stats'].replace('{cmd}', settings.command)}`"
    return None
