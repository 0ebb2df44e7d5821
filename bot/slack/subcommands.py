"""`/incident <subcommand>`: one row per subcommand, saying everything about it in one place.

A row (`Subcommand`) says how the subcommand runs:
- `run`: within Slack's 3 seconds, in the request's one transaction: it calls the services
  and words the reply. Effects that must happen in Slack are outbox rows the services
  wrote; they start when the transaction commits, after the reply is decided.
- `later`: instead of `run`, for subcommands that take longer: the ack says "Working on
  it…", and `later` runs after it (a lazy listener), answering through the response URL.
- `on_loop`: whether a parsed command may be answered on the server's event loop, because
  all it does is a group-commit write (bot.groupcommit) or nothing at all.
- `announces`: whether, after it, the incident's announcement (and closing line, and a
  declared channel's topic) must be brought up to date.
- `people`: whose Slack profiles (time zones) `run` needs, looked up before the
  transaction opens (`Call.people`), with a client that fails fast rather than wait.
- `drafts`: whether, with AI drafts on, `run`'s reply may be followed by a draft after the
  ack (the reply carries the request, `Reply.draft`; bot.slack.drafts carries it out).

The text is parsed once (`route`): the server parses a command to decide where to run it
and hands the result to the listener in Bolt's context. Replies that record something go
to the channel (so everyone sees the timeline grow); errors and lookups go only to the caller.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from bot import commands as cmd
from bot.config import Settings
from bot.db import transaction
from bot.groupcommit import GroupCommit
from bot.lifecycle import OutOfOrder, out_of_order
from bot.links import incident_url
from bot.markup import neutralize_mentions
from bot.models import Incident, TimelineEntry
from bot.outbox import kinds
from bot.outbox.store import Effect, enqueue
from bot.postmortem.context import KIND_LABELS
from bot.services import actions, announcements, catchup, declare, followups, incidents, tickets, updates
from bot.services import postmortem as pm_service
from bot.services.errors import NoOpenIncident, ScribeError
from bot.services.incidents import CommandEntry
from bot.services.people import Person, zone_of
from bot.slack.blocks import catchup as catchup_blocks
from bot.slack.blocks import curation as curation_blocks
from bot.slack.blocks import followups as followup_blocks
from bot.slack.blocks import updates as update_blocks
from bot.slack.drafts import CatchUpDraft, FormDraft, wanted
from bot.slack.io.channels import Joined
from bot.timefmt import format_utc
from bot.timeparse import TimeParseError, parse_moment

if TYPE_CHECKING:
    from slack_bolt import Respond
    from slack_sdk import WebClient

    from bot.slack.scribe import Scribe


def kind_label(kind: str) -> str:
    """The same words the postmortem uses, so the channel and the draft agree."""
    if kind == "message":
        return "Message"  # the draft's "Key message" only applies to pinned ones
    return KIND_LABELS.get(kind, (kind, ""))[0]


def safe(text: str) -> str:
    """User text echoed into Slack must not ping @channel or people the user didn't mention."""
    return neutralize_mentions(text)


@dataclass(frozen=True)
class Call:
    """One `/incident …`: who typed it, where, when, how to answer later, and what was looked
    up in Slack before the transaction opened."""

    team_id: str
    channel_id: str
    channel_name: str | None
    user_id: str
    command_id: str | None  # the slash command's trigger_id: Slack's retries carry the same one
    now: datetime
    settings: Settings
    reply_to: dict[str, str] = field(default_factory=dict)
    bot_user_id: str | None = None
    people: Mapping[str, Person] = field(default_factory=dict)
    joined: Joined | None = None  # `start` only: the bot joined the channel, or what to tell the person


@dataclass(frozen=True)
class Reply:
    text: str
    in_channel: bool = False
    blocks: list[dict[str, Any]] | None = None
    view: dict[str, Any] | None = None  # a modal to open (with the command's trigger_id) before answering
    draft: CatchUpDraft | FormDraft | None = None  # an AI draft to follow after the ack (bot.slack.drafts)


Run = Callable[[Session, Call, Any], Reply]
Later = Callable[["Scribe", "WebClient", "Respond", Call, Any], None]


def _never(parsed: Any) -> bool:
    return False


def _always(parsed: Any) -> bool:
    return True


def _nobody(call: Call, parsed: Any) -> set[str]:
    return set()


@dataclass(frozen=True)
class Subcommand:
    name: str
    parse: cmd.Parser  # its arguments → a command or a usage error (pure: bot.commands)
    run: Run | None = None
    later: Later | None = None
    on_loop: Callable[[Any], bool] = _never
    announces: Callable[[Any], bool] = _never
    people: Callable[[Call, Any], set[str]] = _nobody
    joins: bool = False  # the bot joins the channel before `run` (Call.joined)
    drafts: Callable[[Any], bool] = _never  # an AI draft may follow the reply (when drafts are on)

    @property
    def slow(self) -> bool:
        return self.later is not None


@dataclass(frozen=True)
class Routed:
    """A command's text, parsed once: its row (None for a usage error) and what it parsed to."""

    subcommand: Subcommand | None
    parsed: cmd.Command | cmd.UsageError

    @property
    def on_loop(self) -> bool:
        return isinstance(self.parsed, cmd.UsageError) or (self.subcommand is not None and self.subcommand.on_loop(self.parsed))


# -- helpers --------------------------------------------------------------------------------

# A zone far from every other: if a typed time reads the same here, it named its own zone.
_FAR_ZONE = ZoneInfo("Pacific/Kiritimati")


def resolve_time(call: Call, at_text: str | None) -> tuple[datetime, str]:
    """The typed time in UTC, and a note for the reply when it was read in the fallback zone.

    When users.info failed (or the user has no zone), a bare "14:23" is read in
    SCRIBE_TIMEZONE; saying so keeps a wrong guess from going unnoticed.
    """
    if at_text is None:
        return call.now, ""
    settings = call.settings
    user_tz = zone_of(call.people, call.user_id)
    at = parse_moment(at_text, now=call.now, user_tz=user_tz, default_tz=settings.timezone)
    if user_tz is not None:
        return at, ""
    try:
        zone_free = parse_moment(at_text, now=call.now, user_tz=None, default_tz=_FAR_ZONE) == at
    except TimeParseError:
        zone_free = False
    if zone_free:
        return at, ""
    return at, f" (read in {settings.timezone.key}: I couldn't get your time zone from Slack; add a zone like `14:23 Europe/Berlin` if that's wrong)"


def _the_caller(call: Call, parsed: Any) -> set[str]:
    return {call.user_id}


def _typed_time(call: Call, parsed: Any) -> set[str]:
    return {call.user_id} if getattr(parsed, "at", None) is not None else set()


def _open_incident(session: Session, call: Call) -> Incident:
    return incidents.require_open_incident(session, team_id=call.team_id, channel_id=call.channel_id, command=call.settings.command)


def entry_line(entry: TimelineEntry) -> curation_blocks.EntryLine:
    """An entry as `/incident timeline` lists it, with what its menu may offer."""
    kind = entry.key_kind if entry.kind == "message" and entry.key_kind else entry.kind
    label = "Key message" if kind == "message" and entry.key else kind_label(kind)
    return curation_blocks.EntryLine(
        id=entry.id, version=entry.version or 1, at=entry.at, label=label, author=entry.author, text=entry.text or "",
        key=entry.key, hidden=entry.hidden, deletable=entry.source == "command" and entry.kind not in ("declared", "closed", "action"),
        corrected_by=entry.corrected_by,
    )


# -- the subcommands ------------------------------------------------------------------------


def run_help(session: Session, call: Call, parsed: cmd.Help) -> Reply:
    return Reply(cmd.HELP_TEXT.format(cmd=call.settings.command))


def run_start(session: Session, call: Call, parsed: cmd.Start) -> Reply:
    settings, name = call.settings, call.settings.command
    joined = call.joined or Joined(None, False)
    incident = incidents.start_incident(
        session, team_id=call.team_id, channel_id=call.channel_id, channel_name=call.channel_name, title=parsed.title,
        severity=parsed.severity, user_id=call.user_id, now=call.now, command_id=call.command_id,
    )
    incident.is_private = joined.private
    session.flush()
    sev = f" ({parsed.severity})" if parsed.severity else ""
    text = (
        f":rotating_light: *{incident.ref} started*{sev}: {safe(parsed.title)}\n"
        f"I'm recording this channel from {format_utc(call.now)}. Mark key moments with `{name} detected|mitigated|resolved [at <time>]`, "
        f"pin or :{settings.key_reaction}: important messages, and `{name} help` for the rest."
    )
    updates.sync_nudges(session, incident, settings=settings)
    key = call.command_id or f"start:{incident.id}"
    warning = joined.problem
    if warning:
        text += f"\n:warning: {warning}"
    page = incident_url(settings, incident.ref)
    if page is not None:
        text += f"\n:globe_with_meridians: Timeline, metrics and exports on the web: <{page}|{incident.ref} web page> (bookmarked in this channel)."
        if warning is None:  # not in the channel: the bookmark would fail the same way
            enqueue(session, Effect(kinds.BOOKMARK, f"{key}:bookmark", call.team_id, incident_id=incident.id, lane=f"start:{incident.id}",
                                    payload={"channel_id": call.channel_id, "title": f"{incident.ref} web page", "link": page,
                                             "reply_to": call.reply_to}), now=call.now)
    if settings.announce_channel is not None:
        announcements.request_announce(session, incident, private=joined.private, settings=settings, now=call.now)
    return Reply(text, in_channel=True)


def run_moment(session: Session, call: Call, parsed: cmd.Moment) -> Reply:
    incident = _open_incident(session, call)
    at, zone_note = resolve_time(call, parsed.at)
    # Recorded even when it contradicts another milestone (the latest word wins, and metrics show
    # a contradiction rather than hide it), but the person is told, and how to mend it.
    contradiction = out_of_order(incident.milestones(), incident.declared_at, parsed.kind, at)
    previous = incidents.record_moment(
        session, incident=incident, moment=parsed.kind, at=at, text=parsed.text, user_id=call.user_id, command_id=call.command_id, now=call.now,
    )
    text = f":stopwatch: *{kind_label(parsed.kind)}* at {format_utc(at)} for {incident.ref}"
    if parsed.text:
        text += f": {safe(parsed.text)}"
    if previous is not None and previous != at:
        text += f" (was {format_utc(previous)})"
    text += zone_note  # how the time was read belongs with the time
    if contradiction is not None:
        text += "\n" + order_warning(contradiction, incident, call.settings.command)
    if parsed.kind == "resolved":
        followups.sync_reviews(session, incident, zone=call.settings.timezone, cadence=followups.Cadence.from_settings(call.settings))
    updates.sync_nudges(session, incident, settings=call.settings)
    return Reply(text, in_channel=True)


def order_warning(problem: OutOfOrder, incident: Incident, name: str) -> str:
    """What a milestone given by command contradicts, and what to type to mend it."""
    later = f"{kind_label(problem.later).lower()} ({format_utc(problem.later_at)})"
    if problem.before_declaration:
        return (f":warning: That puts {later} before the incident began: it was declared at {format_utc(incident.declared_at)}, "
                f"and no start was recorded, so its time to detect would be negative. Record when the impact started with "
                f"`{name} started at <time>`, or correct this time with `{name} {problem.later} at <time>`.")
    earlier = f"{kind_label(problem.earlier).lower()} ({format_utc(problem.earlier_at)})"
    return (f":warning: That puts {later} before {earlier}, so the time between them would be negative. "
            f"Correct whichever is wrong with `{name} {problem.earlier} at <time>` or `{name} {problem.later} at <time>`.")


def run_entry(session: Session, call: Call, parsed: cmd.Entry) -> Reply:
    """A timeline entry at a typed time (`/incident note at 14:02 …`); without one it is
    written by the group commit instead (record_entry)."""
    incident = _open_incident(session, call)
    at, zone_note = resolve_time(call, parsed.at)
    incidents.add_command_entry(session, incident=incident, kind=parsed.kind, text=parsed.text, at=at, author=call.user_id,
                                command_id=call.command_id, now=call.now)
    when = "" if parsed.at is None else f" (at {format_utc(at)})"
    return Reply(f":memo: *{kind_label(parsed.kind)}* recorded{when}: {safe(parsed.text)}{zone_note}", in_channel=True)


def record_entry(entries: GroupCommit[CommandEntry, bool], call: Call, parsed: cmd.Entry) -> Reply:
    """The command typed most during an incident (`note`, `finding`, … without `at`): written
    with whatever other such commands arrive meanwhile, in one statement that finds the open
    incident itself (bot.services.incidents.write_command_entries)."""
    entry = CommandEntry(
        team_id=call.team_id, channel_id=call.channel_id, kind=parsed.kind, text=parsed.text, author=call.user_id,
        # Slack always sends a trigger_id; without one there is nothing to recognise a retry by.
        command_id=call.command_id or f"no-trigger-id-{uuid.uuid4().hex}", now=call.now,
    )
    if not entries.submit(entry):
        raise NoOpenIncident(call.settings.command)
    return Reply(f":memo: *{kind_label(parsed.kind)}* recorded: {safe(parsed.text)}", in_channel=True)


def run_severity(session: Session, call: Call, parsed: cmd.SetSeverity) -> Reply:
    incident = _open_incident(session, call)
    previous = incidents.set_severity(session, incident=incident, level=parsed.level, user_id=call.user_id, command_id=call.command_id, now=call.now)
    change = f"from {previous} to {parsed.level}" if previous else f"set to {parsed.level}"
    updates.sync_nudges(session, incident, settings=call.settings)
    return Reply(f":warning: *Severity* of {incident.ref} {change}", in_channel=True)


def run_role(session: Session, call: Call, parsed: cmd.AssignRole) -> Reply:
    incident = _open_incident(session, call)
    incidents.assign_role(session, incident=incident, role=parsed.role, assignee=parsed.user_id, user_id=call.user_id,
                          command_id=call.command_id, now=call.now)
    updates.sync_nudges(session, incident, settings=call.settings)
    return Reply(f":bust_in_silhouette: <@{parsed.user_id}> is now *{parsed.role}* for {incident.ref}", in_channel=True)


def run_close(session: Session, call: Call, parsed: cmd.Close) -> Reply:
    incident = _open_incident(session, call)
    incidents.close_incident(session, incident=incident, user_id=call.user_id, rule=call.settings.privileged_actions,
                             command_id=call.command_id, now=call.now)
    # Closed without a `resolved` time: the review reminders count from the close.
    followups.sync_reviews(session, incident, zone=call.settings.timezone, cadence=followups.Cadence.from_settings(call.settings))
    updates.sync_nudges(session, incident, settings=call.settings)
    return Reply(
        f":white_check_mark: *{incident.ref} closed* at {format_utc(call.now)}. Recording has stopped. "
        f"Draft the postmortem with `{call.settings.command} postmortem`.",
        in_channel=True,
    )


def run_title(session: Session, call: Call, parsed: cmd.SetTitle) -> Reply:
    incident = _open_incident(session, call)
    previous = incidents.set_title(session, incident=incident, title=parsed.title, user_id=call.user_id, command_id=call.command_id, now=call.now)
    return Reply(f":pencil2: *Title* of {incident.ref} changed from “{safe(previous)}” to “{safe(parsed.title)}”", in_channel=True)


def run_timeline(session: Session, call: Call, parsed: cmd.ShowTimeline) -> Reply:
    incident = _open_incident(session, call)
    entries = incidents.recent_entries(session, incident=incident, limit=parsed.limit)
    text, blocks = curation_blocks.timeline_message(incident.ref, [entry_line(e) for e in entries], call.settings.command)
    return Reply(text, blocks=blocks)


def _latest_incident(session: Session, call: Call, what: str) -> Incident:
    latest = incidents.latest_incident(session, channel_id=call.channel_id, team_id=call.team_id)
    if latest is None:
        raise ScribeError(f"This channel has no incident to {what}. Start one with `{call.settings.command} start <title>`.")
    return latest


def run_actions(session: Session, call: Call, parsed: cmd.ListActions) -> Reply:
    # Action items mostly come out of the postmortem, after the incident is closed.
    incident = _latest_incident(session, call, "attach action items to")
    views = [actions.view_of(i) for i in actions.items_of(session, incident)]
    trackers = tickets.button_trackers(session, call.settings, team_id=call.team_id, channel_id=incident.channel_id)
    text, blocks = followup_blocks.action_list(incident.id, incident.ref, views, call.settings.command, trackers)
    return Reply(text, blocks=blocks)


def _tell_later(call: Call) -> dict[str, str]:
    """How to tell the person what a tracker answered: the command's response_url (30 minutes),
    then a DM."""
    return {**call.reply_to, "user_id": call.user_id}


def run_action(session: Session, call: Call, parsed: cmd.AddAction) -> Reply:
    incident = _latest_incident(session, call, "attach action items to")
    item = actions.add_item(
        session, incident=incident, text=parsed.text, owner_id=parsed.owner_id, due_text=parsed.due, priority=parsed.priority,
        user_id=call.user_id, command_id=call.command_id, now=call.now, settings=call.settings, known=call.people,
    )
    if item is None:
        return Reply("That action item was already recorded.")
    # With a tracker for this channel, its ticket is asked for in this transaction and made after it.
    tickets.request_default(session, item, settings=call.settings, reply_to=_tell_later(call), now=call.now)
    return Reply(followup_blocks.added_line(actions.view_of(item)), in_channel=True)


def run_ticket(session: Session, call: Call, parsed: cmd.LinkTicket | cmd.CreateTicket) -> Reply:
    """`/incident ticket N <URL or key>` links; `/incident ticket N create [tracker] [target]` makes one.
    The tracker is asked after commit; what it says comes as a second private line."""
    if isinstance(parsed, cmd.LinkTicket):
        ticket = tickets.link(session, item_id=parsed.item_id, team_id=call.team_id, user_id=call.user_id, text=parsed.link,
                              settings=call.settings, reply_to=_tell_later(call), now=call.now)
        if ticket.synced_at is not None:
            return Reply(f"Action item #{parsed.item_id} is linked to {tickets.label(ticket.tracker)} {ticket.ticket_key} already.")
        return Reply(f":link: Linking action item #{parsed.item_id} to {tickets.label(ticket.tracker)} {ticket.ticket_key}; "
                     "I'll tell you its status in a moment.")
    ticket = tickets.request_create(session, item_id=parsed.item_id, team_id=call.team_id, user_id=call.user_id,
                                    tracker=parsed.tracker, target=parsed.target, settings=call.settings,
                                    reply_to=_tell_later(call), now=call.now)
    return Reply(f":hourglass_flowing_sand: Creating action item #{parsed.item_id}'s {tickets.label(ticket.tracker)} ticket "
                 f"in {ticket.target}…")


def run_tracker(session: Session, call: Call, parsed: cmd.SetTracker) -> Reply:
    """`/incident tracker`: where this channel's new action items get a ticket; set, off, or the workspace's."""
    settings, where = call.settings, dict(team_id=call.team_id, channel_id=call.channel_id)
    if parsed.choice == "set":
        chosen = tickets.set_channel_tracker(session, **where, tracker=parsed.tracker, target=parsed.target, settings=settings,
                                             user_id=call.user_id, now=call.now)
        assert chosen is not None
        return Reply(f":ticket: New action items in this channel get a {chosen.label} ticket in {chosen.target} "
                     f"(set by <@{call.user_id}>).", in_channel=True)
    if parsed.choice == "none":
        tickets.set_channel_tracker(session, **where, tracker=None, target=None, settings=settings, user_id=call.user_id,
                                    now=call.now)
        return Reply(f":ticket: New action items in this channel get no ticket (set by <@{call.user_id}>); "
                     f"`{settings.command} ticket <item #> create` still makes one.", in_channel=True)
    if parsed.choice == "default":
        tickets.reset_channel_tracker(session, **where)
    chosen = tickets.channel_destination(session, settings, **where)
    own = tickets.channel_tracker_set(session, **where)
    connected = ", ".join(tickets.label(n) for n in tickets.connected(settings)) or "none"
    if chosen is not None:
        source = "this channel's choice" if own else "the workspace's default, SCRIBE_TRACKER"
        text = f":ticket: New action items here get a {chosen.label} ticket in {chosen.target} ({source})."
    else:
        text = (":ticket: New action items here get no ticket" + (" (this channel's choice)." if own else ".")
                + f" Connected trackers: {connected}.")
    return Reply(text + f" Change it with `{cmd.USAGE['tracker'].replace('{cmd}', settings.command)}`.")


def _action_people(call: Call, parsed: cmd.AddAction) -> set[str]:
    # The typer's zone reads the due date; the owner's plans their reminders.
    return {call.user_id, parsed.owner_id or call.user_id}


def run_catchup(session: Session, call: Call, parsed: cmd.CatchUp) -> Reply:
    """The facts at once; with AI drafts on, "what is going on" replaces it after the ack."""
    incident = _latest_incident(session, call, "catch up on")
    text, blocks = catchup_blocks.catch_up_message(catchup.catch_up(session, incident, now=call.now), command=call.settings.command)
    drafting = wanted(call.settings, private=incident.is_private)
    return Reply(text, blocks=blocks, draft=CatchUpDraft(incident.id) if drafting else None)


def run_update(session: Session, call: Call, parsed: cmd.PostUpdate | cmd.UpdateForm) -> Reply:
    """`/incident update …` (posted by the bot in the channel, and under the announcement,
    after commit), or `/incident update` alone (the form)."""
    incident = _open_incident(session, call)
    if isinstance(parsed, cmd.UpdateForm):
        # With AI drafts on, the form opens at once and its summary is drafted after the ack.
        drafting = wanted(call.settings, private=incident.is_private)
        return Reply("Opening the status update form…",
                     view=update_blocks.update_form(incident.id, incident.ref, status=incident.update_status, next_minutes=None,
                                                    drafting=drafting),
                     draft=FormDraft("update", incident.id) if drafting else None)
    posted = updates.post_update(
        session, incident=incident, status=parsed.status, summary=parsed.text, next_minutes=parsed.next_minutes,
        user_id=call.user_id, command_id=call.command_id, now=call.now, settings=call.settings, reply_to=call.reply_to,
    )
    if posted is None:
        return Reply("That update was already posted.")
    return posted_update_reply(incident, posted)


def posted_update_reply(incident: Incident, posted: updates.PostedUpdate) -> Reply:
    text = ":white_check_mark: Update posted."
    if posted.resolved:
        text += f" {incident.ref} is recorded as resolved; no more update reminders."
    elif posted.next_update_at is not None:
        text += f" Next one due by {posted.next_update_at.strftime('%H:%M UTC')}; I'll remind the channel then if there isn't one."
    return Reply(text)


def run_snooze(session: Session, call: Call, parsed: cmd.SnoozeUpdates) -> Reply:
    incident = _open_incident(session, call)
    until = updates.snooze_nudges(session, incident=incident, minutes=parsed.minutes, now=call.now, settings=call.settings)
    if until is None:
        return Reply(f":bell: Update reminders for {incident.ref} are back on.", in_channel=True)
    return Reply(
        f":no_bell: <@{call.user_id}> paused the update reminders for {incident.ref} until {format_utc(until)} "
        f"(`{call.settings.command} snooze-updates off` resumes them).",
        in_channel=True,
    )


def run_declare(session: Session, call: Call, parsed: cmd.Declare) -> Reply:
    """The declaration is decided here; its channel is created after commit (bot.slack.effects.declare),
    and the link comes in a second private reply."""
    request = declare.DeclareRequest(
        key=f"command:{call.command_id or uuid.uuid4().hex}", team_id=call.team_id, user_id=call.user_id, title=parsed.title,
        severity=parsed.severity, people=parsed.people, reply_to=call.reply_to, bot_user_id=call.bot_user_id,
    )
    if not declare.request(session, request, now=call.now):
        return Reply("That incident is already being declared; the link to its channel comes in the other reply.")
    return Reply(f":hourglass_flowing_sand: Declaring “{safe(parsed.title)}”: creating its channel…")


def later_postmortem(scribe: Scribe, client: WebClient, respond: Respond, call: Call, parsed: cmd.Postmortem) -> None:
    """Names are looked up first (users.info, with no transaction open); then the draft is
    asked for, and made and posted from the outbox (bot.slack.effects.postmortem)."""
    try:
        with scribe.transaction() as session:
            incident = pm_service.incident_for_channel(session, team_id=call.team_id, channel_id=call.channel_id, command=call.settings.command)
            wanted = pm_service.names_wanted(session, incident)
        scribe.people.people(call.team_id, wanted)
        with scribe.transaction() as session:
            incident = pm_service.incident_for_channel(session, team_id=call.team_id, channel_id=call.channel_id, command=call.settings.command)
            pm_service.request_publication(session, incident, settings=call.settings, user_id=call.user_id, template=parsed.template,
                                           reply_to=call.reply_to, always_reply=True, include_chart=True, now=call.now,
                                           key=call.command_id or uuid.uuid4().hex)
    except ScribeError as error:
        respond(response_type="ephemeral", text=f":x: {error}")


def later_backfill(scribe: Scribe, client: WebClient, respond: Respond, call: Call, parsed: cmd.Backfill) -> None:
    from bot.slack.backfill import BotIdentity, backfill_incident

    try:
        with scribe.transaction() as session:
            incident_id = _open_incident(session, call).id
    except ScribeError as error:
        respond(response_type="ephemeral", text=f":x: {error}")
        return
    report = backfill_incident(
        scribe.session_factory, client, incident_id=incident_id, bot=BotIdentity(user_id=call.bot_user_id, bot_id=None),
        now=scribe.now, page_size=call.settings.history_page_size, pause=scribe.history_pause,
    )
    respond(response_type="ephemeral", text=report.summary())


def later_stats(scribe: Scribe, client: WebClient, respond: Respond, call: Call, parsed: cmd.ShowStats) -> None:
    from bot.slack.publish_stats import answer_stats

    answer_stats(scribe, client, respond, parsed, team_id=call.team_id, user_id=call.user_id, channel_id=call.channel_id)


def _entry_on_loop(parsed: Any) -> bool:
    return isinstance(parsed, cmd.Entry) and parsed.at is None


def _moment_announces(parsed: cmd.Moment) -> bool:
    return parsed.kind in ("started", "resolved")


def _role_announces(parsed: cmd.AssignRole) -> bool:
    return parsed.role == "lead"


def _update_announces(parsed: Any) -> bool:
    return isinstance(parsed, cmd.PostUpdate)


def _update_form(parsed: Any) -> bool:
    return isinstance(parsed, cmd.UpdateForm)


_MOMENT = dict(run=run_moment, announces=_moment_announces, people=_typed_time)
_ENTRY = dict(run=run_entry, on_loop=_entry_on_loop, people=_typed_time)

def _row(name: str, **facts: Any) -> Subcommand:
    return Subcommand(name, cmd.PARSERS[name], **facts)


SUBCOMMANDS: dict[str, Subcommand] = {
    row.name: row
    for row in (
        _row("help", run=run_help, on_loop=_always),
        _row("start", run=run_start, joins=True),
        *(_row(kind, **_MOMENT) for kind in ("started", "detected", "mitigated", "resolved")),
        *(_row(kind, **_ENTRY) for kind in ("note", "finding", "hypothesis", "mitigation", "decision", "rootcause", "status")),
        _row("severity", run=run_severity, announces=_always),
        _row("role", run=run_role, announces=_role_announces),
        _row("close", run=run_close, announces=_always),
        _row("title", run=run_title, announces=_always),
        _row("timeline", run=run_timeline),
        _row("action", run=run_action, people=_action_people),
        _row("actions", run=run_actions),
        _row("ticket", run=run_ticket),
        _row("tracker", run=run_tracker),
        _row("catchup", run=run_catchup, drafts=_always),
        _row("update", run=run_update, announces=_update_announces, drafts=_update_form),
        _row("snooze-updates", run=run_snooze),
        _row("declare", run=run_declare),
        _row("postmortem", later=later_postmortem),
        _row("backfill", later=later_backfill),
        _row("stats", later=later_stats),
    )
}


def route(text: str, *, command: str = cmd.DEFAULT_COMMAND) -> Routed:
    """Find the row of `/incident <text>`, and parse its arguments once with the row's parser."""
    found = cmd.split_subcommand(text or "", command=command)
    if isinstance(found, cmd.UsageError):
        return Routed(None, found)
    name, rest = found
    row = SUBCOMMANDS[name]
    parsed = row.parse(rest, command)
    return Routed(None if isinstance(parsed, cmd.UsageError) else row, parsed)


def usage_reply(error: cmd.UsageError, command: str) -> Reply:
    return Reply(f":x: {error.message}\nUsage: `{error.usage.format(cmd=command)}`")


def stats_request_problem(command: cmd.ShowStats, now: datetime, *, settings: Settings) -> str | None:
    """The private reply for a period that can't be read, told in the ack (before "Working on
    it…"); None when it reads."""
    from bot.insights.stats import PeriodError, parse_period

    try:
        parse_period(command.period, now)
    except PeriodError as error:
        return f":x: {error}\nUsage: `{cmd.USAGE['stats'].replace('{cmd}', settings.command)}`"
    return None


def answer(session_factory: sessionmaker[Session], routed: Routed, call: Call, *, entries: GroupCommit[CommandEntry, bool]) -> Reply:
    """Carry out a quick subcommand in one transaction (a timeline command without a time: in a
    statement shared with concurrent ones, written by `entries`), or check a slow one's
    arguments. `call` carries what was looked up in Slack beforehand. User mistakes become
    private replies, and nothing is written when they happen (the transaction rolls back)."""
    settings = call.settings
    if isinstance(routed.parsed, cmd.UsageError):
        return usage_reply(routed.parsed, settings.command)
    row, parsed = routed.subcommand, routed.parsed
    assert row is not None
    if isinstance(parsed, cmd.ShowStats):
        problem = stats_request_problem(parsed, call.now, settings=settings)
        if problem is not None:
            return Reply(problem)
    if row.run is None:
        return Reply(":hourglass_flowing_sand: Working on it…")
    try:
        if isinstance(parsed, cmd.Entry) and parsed.at is None:
            return record_entry(entries, call, parsed)
        with transaction(session_factory) as session:
            result = row.run(session, call, parsed)
            if row.announces(parsed):
                incident = incidents.latest_incident(session, channel_id=call.channel_id, team_id=call.team_id)
                if incident is not None:
                    announcements.request_refresh(session, incident, now=call.now)
            return result
    except (TimeParseError, ScribeError) as error:
        return Reply(f":x: {error}")
