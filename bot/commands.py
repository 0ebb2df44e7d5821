"""Turn the text of an ``/incident …`` slash command into a command object.

This is pure: it does not look at the clock, Slack or the database, and it
never raises. Anything it cannot make sense of comes back as a
:class:`UsageError` whose message says exactly what was wrong, so the Slack
layer can reply with it verbatim.

Times and due dates are only checked for *shape* here and kept as the raw
text the user typed: turning "14:23" into an instant needs the user's zone
and the current time, which belong to the service layer.

Slack sends user text with its own escaping (``&amp;``, ``<@U123|ann>``);
apart from recognising user mentions, that text is passed through untouched
because converting markup is the renderer's job.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias, cast, get_args

from bot.timeparse import (
    ACCEPTED_DUE_FORMS,
    ACCEPTED_TIME_FORMS,
    DueParseError,
    check_due_shape,
    explain_bad_time,
    looks_like_due_start,
    split_time_prefix,
)

__all__ = [
    "DEFAULT_COMMAND",
    "HELP_TEXT",
    "MAX_TIMELINE_LIMIT",
    "MAX_TITLE_LENGTH",
    "PARSERS",
    "UPDATE_STATUSES",
    "USAGE",
    "AddAction",
    "AssignRole",
    "Backfill",
    "CatchUp",
    "Close",
    "Command",
    "CreateTicket",
    "Declare",
    "Entry",
    "EntryKind",
    "Help",
    "LinkTicket",
    "ListActions",
    "Moment",
    "MomentKind",
    "Parser",
    "PostUpdate",
    "Postmortem",
    "RoleName",
    "SetSeverity",
    "SetTitle",
    "SetTracker",
    "ShowStats",
    "ShowTimeline",
    "SnoozeUpdates",
    "Start",
    "UpdateForm",
    "UsageError",
    "help_text",
    "parse_command",
    "split_subcommand",
]

DEFAULT_COMMAND: Final = "/incident"
MAX_TITLE_LENGTH: Final = 150
DEFAULT_TIMELINE_LIMIT: Final = 20
# An upper bound keeps a typo like "timeline 20000" from trying to post a
# message Slack would reject anyway.
MAX_TIMELINE_LIMIT: Final = 500

MomentKind: TypeAlias = Literal["started", "detected", "mitigated", "resolved"]
EntryKind: TypeAlias = Literal[
    "note", "finding", "hypothesis", "mitigation", "decision", "rootcause", "status"
]
RoleName: TypeAlias = Literal["lead", "comms", "scribe"]


# ---------------------------------------------------------------------------
# Command objects
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Start:
    title: str
    severity: str | None  # normalised "sev1".."sev4"


@dataclass(frozen=True)
class Moment:
    kind: MomentKind
    at: str | None  # raw time text, resolved later with the user's zone
    text: str


@dataclass(frozen=True)
class Close:
    pass


@dataclass(frozen=True)
class Entry:
    kind: EntryKind
    at: str | None
    text: str


@dataclass(frozen=True)
class SetSeverity:
    level: str  # normalised "sev1".."sev4"


@dataclass(frozen=True)
class AssignRole:
    role: RoleName
    user_id: str


@dataclass(frozen=True)
class ShowTimeline:
    limit: int = DEFAULT_TIMELINE_LIMIT


@dataclass(frozen=True)
class Help:
    topic: str | None


@dataclass(frozen=True)
class AddAction:
    text: str
    owner_id: str | None
    due: str | None  # raw due text, shape-checked only
    priority: str | None  # "p0".."p3"


@dataclass(frozen=True)
class ListActions:
    pass


@dataclass(frozen=True)
class Postmortem:
    template: str | None


@dataclass(frozen=True)
class Backfill:
    pass


UPDATE_STATUSES: Final[tuple[str, ...]] = ("investigating", "identified", "monitoring", "resolved")
MAX_UPDATE_LENGTH: Final = 2000
MAX_NEXT_UPDATE_MINUTES: Final = 24 * 60
MAX_SNOOZE_MINUTES: Final = 7 * 24 * 60


@dataclass(frozen=True)
class PostUpdate:
    """`/incident update [status] <text> [next <duration>]`: a status update for everyone."""

    text: str
    status: str | None  # one of UPDATE_STATUSES
    next_minutes: int | None  # "next update in N minutes", overriding the cadence once


@dataclass(frozen=True)
class UpdateForm:
    """`/incident update` alone: open the status update form."""


@dataclass(frozen=True)
class SnoozeUpdates:
    minutes: int | None  # None: "off", nudges resume


@dataclass(frozen=True)
class CatchUp:
    pass


@dataclass(frozen=True)
class ShowStats:
    period: str  # raw period text ("" = the default), read later with the clock
    severity: str | None  # "sev1".."sev4", or None for all
    share: bool  # --share: post in the channel instead of privately


@dataclass(frozen=True)
class Declare:
    """Declare an incident from anywhere: a new channel, the people mentioned invited."""

    title: str
    severity: str | None  # normalised "sev1".."sev4"
    people: tuple[str, ...] = ()  # user ids, in the order mentioned, without repeats


@dataclass(frozen=True)
class SetTitle:
    title: str


TRACKERS: Final[tuple[str, ...]] = ("jira", "github", "linear", "gitlab")


@dataclass(frozen=True)
class LinkTicket:
    """`/incident ticket <item #> <URL or key>`: link an existing ticket to an action item."""

    item_id: int
    link: str  # as pasted; read against the connected trackers by the service


@dataclass(frozen=True)
class CreateTicket:
    """`/incident ticket <item #> create [tracker] [target]`: make the item's ticket now."""

    item_id: int
    tracker: str | None  # one of TRACKERS; None: the channel's, or the only connected one
    target: str | None  # project key, owner/repo, team key; None: the tracker's default


@dataclass(frozen=True)
class SetTracker:
    """`/incident tracker [jira|github|linear|gitlab [target] | none | default]`: where this
    channel's new action items get a ticket."""

    choice: Literal["show", "set", "none", "default"]
    tracker: str | None = None
    target: str | None = None


Command: TypeAlias = (
    Start | Moment | Close | Entry | SetSeverity | AssignRole | ShowTimeline
    | Help | AddAction | ListActions | Postmortem | Backfill
    | PostUpdate | UpdateForm | SnoozeUpdates | CatchUp
    | ShowStats | Declare | SetTitle | LinkTicket | CreateTicket | SetTracker
)


@dataclass(frozen=True)
class UsageError:
    """What was wrong with the command, and how that subcommand is used.

    A value rather than an exception: a bad command is an expected outcome
    that the caller must answer, not an exceptional one.
    """

    message: str
    usage: str


# ---------------------------------------------------------------------------
# Usage and help text ("{cmd}" is replaced with the configured command name)
# ---------------------------------------------------------------------------

USAGE: Final[dict[str, str]] = {
    "start": "{cmd} start <title> [sev1|sev2|sev3|sev4]",
    "started": "{cmd} started [at <time>] [text]",
    "detected": "{cmd} detected [at <time>] [text]",
    "mitigated": "{cmd} mitigated [at <time>] [text]",
    "resolved": "{cmd} resolved [at <time>] [text]",
    "close": "{cmd} close",
    "note": "{cmd} note [at <time>] <text>",
    "finding": "{cmd} finding [at <time>] <text>",
    "hypothesis": "{cmd} hypothesis [at <time>] <text>",
    "mitigation": "{cmd} mitigation [at <time>] <text>",
    "decision": "{cmd} decision [at <time>] <text>",
    "rootcause": "{cmd} rootcause [at <time>] <text>",
    "status": "{cmd} status [at <time>] <text>",
    "severity": "{cmd} severity <sev1|sev2|sev3|sev4>",
    "role": "{cmd} role <lead|comms|scribe> <@person>",
    "timeline": "{cmd} timeline [N]",
    "help": "{cmd} help [subcommand]",
    "action": "{cmd} action <text> [@owner] [due <date>] [p0|p1|p2|p3]",
    "actions": "{cmd} actions",
    "ticket": "{cmd} ticket <item #> <ticket URL or key> | create [jira|github|linear|gitlab] [target]",
    "tracker": "{cmd} tracker [jira|github|linear|gitlab [target] | none | default]",
    "postmortem": "{cmd} postmortem [template]",
    "backfill": "{cmd} backfill",
    "update": "{cmd} update [investigating|identified|monitoring|resolved] <text> [next <30m|1h>]",
    "snooze-updates": "{cmd} snooze-updates <2h|30m|off>",
    "catchup": "{cmd} catchup",
    "stats": "{cmd} stats [last 30d|90d|365d|<from> to <to>] [sev1|sev2|sev3|sev4] [--share]",
    "declare": "{cmd} declare <title> [sev1|sev2|sev3|sev4] [@people…]",
    "title": "{cmd} title <new title>",
}

_DESCRIPTIONS: Final[dict[str, str]] = {
    "start": "open an incident in this channel",
    "started": "record when the incident started",
    "detected": "record when it was detected",
    "mitigated": "record when the impact was mitigated",
    "resolved": "record when it was resolved",
    "close": "close the incident",
    "note": "add a note to the timeline",
    "finding": "record a finding",
    "hypothesis": "record a hypothesis",
    "mitigation": "record a mitigation step",
    "decision": "record a decision",
    "rootcause": "record the root cause (also root-cause)",
    "status": "post a status update",
    "severity": "change the severity",
    "role": "assign the incident lead, comms or scribe",
    "timeline": "show the last N timeline entries (default 20)",
    "help": "show this help, or help for one subcommand",
    "action": "add a follow-up action item",
    "actions": "list the action items",
    "ticket": "link an action item to its ticket, or create its ticket now",
    "tracker": "where this channel's new action items get a ticket (alone: show it)",
    "postmortem": "draft the postmortem",
    "backfill": "import the channel's earlier messages",
    "update": "post a status update for everyone (alone: open the form)",
    "snooze-updates": "pause the update reminders for a while, or `off` to resume",
    "catchup": "tell you (only you) what happened so far",
    "stats": "insights across the workspace's incidents (only you see them, unless --share)",
    "declare": "declare an incident from any channel: a new channel, people invited, an announcement",
    "title": "change the incident's title",
}

HELP_TEXT: Final = (
    "Incident Scribe commands:\n"
    + "\n".join(f"  {USAGE[name]}  –  {_DESCRIPTIONS[name]}" for name in USAGE)
    + "\nTimes look like 14:23, 14:23 UTC, 10m ago; `{cmd} help <subcommand>` for more."
)


def help_text(command: str = DEFAULT_COMMAND) -> str:
    """HELP_TEXT with the configured command name filled in."""
    return _fill(HELP_TEXT, command)


def _fill(template: str, command: str) -> str:
    # str.replace rather than str.format: the text around the placeholder
    # (including echoed user input) may contain braces.
    return template.replace("{cmd}", command)


# ---------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------

_MOMENT_KINDS: Final[tuple[str, ...]] = get_args(MomentKind)
_ENTRY_KINDS: Final[tuple[str, ...]] = get_args(EntryKind)
_ALIASES: Final[dict[str, str]] = {
    "root-cause": "rootcause",
    "root_cause": "rootcause",
    "snooze_updates": "snooze-updates",
    "snooze": "snooze-updates",
    "catch-up": "catchup",
}
_ROLE_ALIASES: Final[dict[str, RoleName]] = {
    "lead": "lead", "ic": "lead", "commander": "lead",
    "comms": "comms", "communications": "comms",
    "scribe": "scribe",
}

# Slack escapes a picked user as <@U123ABC> or <@U123ABC|name>; enterprise
# grid IDs start with W. The name part is optional and may contain spaces.
_MENTION: Final = r"<@(?P<uid>[UW][A-Z0-9]+)(?:\|[^<>]*)?>"
_MENTION_RE: Final = re.compile(_MENTION)
_TRAILING_MENTION_RE: Final = re.compile(rf"(?:^|\s){_MENTION}\s*$")
# "@ann" that Slack did not turn into a mention: typed, not picked.
_TRAILING_PLAIN_AT_RE: Final = re.compile(r"(?:^|\s)(?P<name>@[\w.\-]+)\s*$")
_TRAILING_PRIORITY_RE: Final = re.compile(r"(?:^|\s)(?P<p>p[0-3])\s*$", re.IGNORECASE)
_DUE_WORD_RE: Final = re.compile(r"(?:^|(?<=\s))due\s+(?=\S)", re.IGNORECASE)
_SEVERITY_RE: Final = re.compile(r"(?:sev)?(?P<n>[1-4])", re.IGNORECASE | re.ASCII)
_TITLE_SEVERITY_RE: Final = re.compile(r"sev[1-4]", re.IGNORECASE | re.ASCII)
_TEMPLATE_RE: Final = re.compile(r"[a-z0-9_-]{1,64}", re.ASCII)
_FIRST_WORD_RE: Final = re.compile(r"\s*(?P<word>\S+)")


def _canonical_subcommand(word: str) -> str | None:
    name = word.lower()
    name = _ALIASES.get(name, name)
    return name if name in USAGE else None


# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------

def split_subcommand(text: str, *, command: str = DEFAULT_COMMAND) -> tuple[str, str] | UsageError:
    """The subcommand `text` names (its canonical name) and the text after it; a bare
    "/incident" is a request for help. An unknown word is a usage error with suggestions."""
    first = _FIRST_WORD_RE.match(text)
    if first is None:
        return "help", ""
    name = _canonical_subcommand(first.group("word"))
    if name is None:
        return _unknown_subcommand(first.group("word"), command)
    return name, text[first.end():].strip()


def parse_command(text: str, *, command: str = DEFAULT_COMMAND) -> Command | UsageError:
    """Parse the text after the slash command. Never raises."""
    found = split_subcommand(text, command=command)
    if isinstance(found, UsageError):
        return found
    name, rest = found
    return PARSERS[name](rest, command)


def _clip(text: str, limit: int = 60) -> str:
    # Echoed user text is trimmed so a pasted log does not flood the reply.
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _unknown_subcommand(word: str, command: str, *, lead: str = "Unknown subcommand") -> UsageError:
    known = list(USAGE) + list(_ALIASES)
    close = difflib.get_close_matches(word.lower(), known, n=3, cutoff=0.6)
    # Swapped letters are the commonest typo: "strat" means start, not stats.
    close.sort(key=lambda name: sorted(name) != sorted(word.lower()))
    message = f"{lead} '{_clip(word, 30)}'."
    if close:
        suggestion = _ALIASES.get(close[0], close[0])
        message += f" Did you mean `{command} {suggestion}`?"
    message += f" Try `{command} help` for the list."
    return UsageError(message, _fill(USAGE["help"], command))


@dataclass(frozen=True)
class _Ctx:
    """The subcommand being parsed and the configured command name.

    Messages are built with ``ctx.cmd`` directly instead of substituting a
    "{cmd}" placeholder afterwards, so user text that happens to contain
    "{cmd}" is echoed back unchanged.
    """

    name: str
    cmd: str

    def error(self, message: str) -> UsageError:
        return UsageError(message, _fill(USAGE[self.name], self.cmd))


def _parse_start(rest: str, ctx: _Ctx) -> Start | UsageError:
    severity: str | None = None
    title = rest
    words = rest.split()
    if words and _TITLE_SEVERITY_RE.fullmatch(words[-1]):
        severity = words[-1].lower()
        title = rest[: rest.rfind(words[-1])].strip()
    if not title:
        return ctx.error(f"An incident needs a title, e.g. `{ctx.cmd} start Checkout errors sev2`.")
    if len(title) > MAX_TITLE_LENGTH:
        return ctx.error(
            f"The title is {len(title)} characters long; the limit is {MAX_TITLE_LENGTH}."
        )
    return Start(title=title, severity=severity)


def _parse_declare(rest: str, ctx: _Ctx) -> Declare | UsageError:
    """Peel the optional severity and the @mentions off the end, in any order."""
    remaining = rest
    severity: str | None = None
    people: list[str] = []
    while True:
        mention = _TRAILING_MENTION_RE.search(remaining)
        if mention is not None:
            people.insert(0, mention.group("uid"))
            remaining = remaining[: mention.start()].rstrip()
            continue
        plain = _TRAILING_PLAIN_AT_RE.search(remaining)
        if plain is not None:
            return ctx.error(_PICK_FROM_AUTOCOMPLETE.format(name=_clip(plain.group("name"), 40)))
        words = remaining.split()
        if words and _TITLE_SEVERITY_RE.fullmatch(words[-1]):
            if severity is not None:
                return ctx.error(f"Give only one severity (sev1, sev2, sev3 or sev4), e.g. `{ctx.cmd} declare Checkout down sev1`.")
            severity = words[-1].lower()
            remaining = remaining[: remaining.rfind(words[-1])].rstrip()
            continue
        break
    title = remaining.strip()
    if not title:
        return ctx.error(f"An incident needs a title, e.g. `{ctx.cmd} declare Checkout returns 502 sev1 @ann`.")
    if len(title) > MAX_TITLE_LENGTH:
        return ctx.error(f"The title is {len(title)} characters long; the limit is {MAX_TITLE_LENGTH}.")
    unique = tuple(dict.fromkeys(people))
    return Declare(title=title, severity=severity, people=unique)


def _parse_title(rest: str, ctx: _Ctx) -> SetTitle | UsageError:
    title = rest.strip()
    if not title:
        return ctx.error(f"What should the title be? e.g. `{ctx.cmd} title Checkout returns 502 for EU users`.")
    if len(title) > MAX_TITLE_LENGTH:
        return ctx.error(f"The title is {len(title)} characters long; the limit is {MAX_TITLE_LENGTH}.")
    return SetTitle(title=title)


def _parse_timed(rest: str, ctx: _Ctx, *, text_required: bool) -> Moment | Entry | UsageError:
    at: str | None = None
    body = rest
    first = _FIRST_WORD_RE.match(rest)
    if first is not None and first.group("word").lower() == "at":
        after_at = rest[first.end():].strip()
        if not after_at:
            return ctx.error(f"Expected a time after 'at'.\n\n{ACCEPTED_TIME_FORMS}")
        at, body = split_time_prefix(after_at)
        if at is None:
            fragment, problem = explain_bad_time(after_at)
            if f"'{fragment}'" not in problem:  # name the words we tried to read
                problem = f"'{_clip(fragment)}' is not a time I understand. {problem}"
            return ctx.error(f"After 'at': {problem}\n\n{ACCEPTED_TIME_FORMS}")
    if text_required and not body:
        return ctx.error(f"`{ctx.cmd} {ctx.name}` needs some text.")
    if ctx.name in _MOMENT_KINDS:
        return Moment(kind=cast(MomentKind, ctx.name), at=at, text=body)
    return Entry(kind=cast(EntryKind, ctx.name), at=at, text=body)


def _parse_severity(rest: str, ctx: _Ctx) -> SetSeverity | UsageError:
    if not rest:
        return ctx.error("Which severity? Give one of sev1, sev2, sev3, sev4.")
    match = _SEVERITY_RE.fullmatch(rest)
    if match is None:
        return ctx.error(f"'{_clip(rest)}' is not a severity; use sev1, sev2, sev3 or sev4.")
    return SetSeverity(level=f"sev{match.group('n')}")


def _parse_role(rest: str, ctx: _Ctx) -> AssignRole | UsageError:
    first = _FIRST_WORD_RE.match(rest)
    if first is None:
        return ctx.error(f"Which role, and for whom? e.g. `{ctx.cmd} role lead @ann`.")
    role_word = first.group("word")
    role = _ROLE_ALIASES.get(role_word.lower())
    if role is None:
        return ctx.error(f"'{_clip(role_word)}' is not a role; use lead, comms or scribe.")
    who = rest[first.end():].strip()
    if not who:
        return ctx.error(f"Who should be {role}? Add an @mention, e.g. `{ctx.cmd} role {role} @ann`.")
    mention = _MENTION_RE.fullmatch(who)
    if mention is not None:
        return AssignRole(role=role, user_id=mention.group("uid"))
    if who.startswith("@"):
        return ctx.error(_PICK_FROM_AUTOCOMPLETE.format(name=_clip(who.split()[0], 40)))
    return ctx.error(f"'{_clip(who)}' is not a single @mention of a person.")


_PICK_FROM_AUTOCOMPLETE: Final = (
    "'{name}' is plain text, not a Slack mention. Type @ and pick the person "
    "from Slack's autocomplete list so the mention links to them."
)


def _parse_timeline(rest: str, ctx: _Ctx) -> ShowTimeline | UsageError:
    if not rest:
        return ShowTimeline()
    if not re.fullmatch(r"[0-9]{1,6}", rest, re.ASCII):
        return ctx.error(f"'{_clip(rest)}' is not a number of entries.")
    limit = int(rest)
    if not 1 <= limit <= MAX_TIMELINE_LIMIT:
        return ctx.error(f"The number of entries must be between 1 and {MAX_TIMELINE_LIMIT}.")
    return ShowTimeline(limit=limit)


def _parse_help(rest: str, command: str) -> Help | UsageError:
    first = _FIRST_WORD_RE.match(rest)
    if first is None:
        return Help(None)
    # Only the first word matters: "help action items" still means "action".
    topic = first.group("word")
    name = _canonical_subcommand(topic)
    if name is not None:
        return Help(name)
    return _unknown_subcommand(topic, command, lead="No help on")


def _parse_postmortem(rest: str, ctx: _Ctx) -> Postmortem | UsageError:
    if not rest:
        return Postmortem(template=None)
    template = rest.lower()
    if _TEMPLATE_RE.fullmatch(template) is None:
        return ctx.error(
            f"'{_clip(rest)}' is not a template name: use letters, digits, '-' and '_' only."
        )
    return Postmortem(template=template)


def _parse_action(rest: str, ctx: _Ctx) -> AddAction | UsageError:
    """Peel the optional owner, due clause and priority off the end, in any order."""
    remaining = rest
    owner: str | None = None
    due: str | None = None
    priority: str | None = None
    while True:
        mention = _TRAILING_MENTION_RE.search(remaining)
        if mention is not None:
            if owner is not None:
                return ctx.error("An action item has one owner; mention only one person.")
            owner = mention.group("uid")
            remaining = remaining[: mention.start()].rstrip()
            continue
        plain = _TRAILING_PLAIN_AT_RE.search(remaining)
        if plain is not None:
            return ctx.error(_PICK_FROM_AUTOCOMPLETE.format(name=_clip(plain.group("name"), 40)))
        prio = _TRAILING_PRIORITY_RE.search(remaining)
        if prio is not None:
            if priority is not None:
                return ctx.error("Give only one priority (p0, p1, p2 or p3).")
            priority = prio.group("p").lower()
            remaining = remaining[: prio.start()].rstrip()
            continue
        clause = _last_due_clause(remaining)
        if isinstance(clause, UsageError):
            return ctx.error(clause.message)
        if clause is not None:
            if due is not None:
                return ctx.error("Give only one due date.")
            start, due = clause
            remaining = remaining[:start].rstrip()
            continue
        break
    if not remaining:
        return ctx.error("An action item needs a description, e.g. "
                         f"`{ctx.cmd} action Add pool alerts @ann due friday p1`.")
    return AddAction(text=remaining, owner_id=owner, due=due, priority=priority)


def _last_due_clause(text: str) -> tuple[int, str] | UsageError | None:
    """Find a trailing "due <date…>"; return where it starts and the date text.

    Only the last "due" is considered, since the clause runs to the end. If
    what follows it does not even look like a date ("due diligence") it is
    taken as ordinary words; if it looks like one but is wrong ("due frday 5pm",
    "due 12/01") the user is told why.
    """
    matches = list(_DUE_WORD_RE.finditer(text))
    if not matches:
        return None
    last = matches[-1]
    due_text = text[last.end():].strip()
    try:
        check_due_shape(due_text)
    except DueParseError as exc:
        words = due_text.split()
        first_word = words[0] if words else ""
        if looks_like_due_start(first_word) or "/" in first_word:
            problem = exc.problem
            if f"'{due_text}'" not in problem:  # name the words we tried to read
                problem = f"'{_clip(due_text)}' is not a date I understand. {problem}"
            # The usage line is filled in by the caller, which knows the command name.
            return UsageError(f"After 'due': {problem}\n\n{ACCEPTED_DUE_FORMS}", "")
        return None
    return last.start(), due_text


_DURATION_RE: Final = re.compile(
    r"(?:(?P<h>\d{1,4})\s*(?:h|hr|hrs|hour|hours))?\s*(?:(?P<m>\d{1,5})\s*(?:m|min|mins|minute|minutes))?",
    re.IGNORECASE | re.ASCII,
)
_NEXT_CLAUSE_RE: Final = re.compile(r"(?:^|(?<=\s))next\s+(?:update\s+)?(?:in\s+)?(?P<when>\S.*)$", re.IGNORECASE | re.DOTALL)
_DURATION_FORMS: Final = "Write a duration like `30m`, `90 min`, `2h` or `1h30m`."


def parse_duration_minutes(text: str) -> int | None:
    """'30m', '90 min', '2h', '1h30m' → minutes; None if it isn't one of those."""
    match = _DURATION_RE.fullmatch(text.strip())
    if match is None or (match.group("h") is None and match.group("m") is None):
        return None
    return int(match.group("h") or 0) * 60 + int(match.group("m") or 0)


def _parse_update(rest: str, ctx: _Ctx) -> PostUpdate | UpdateForm | UsageError:
    if not rest:
        return UpdateForm()
    status: str | None = None
    body = rest
    first = _FIRST_WORD_RE.match(rest)
    if first is not None and first.group("word").lower().rstrip(":") in UPDATE_STATUSES:
        status = first.group("word").lower().rstrip(":")
        body = rest[first.end():].strip()
    next_minutes: int | None = None
    # The last "next …" is the clause; an earlier one is part of the text.
    clause = next(iter(reversed(list(_NEXT_CLAUSE_RE.finditer(body)))), None)
    if clause is not None:
        when = clause.group("when").strip()
        minutes = parse_duration_minutes(when)
        if minutes is not None:
            if not 1 <= minutes <= MAX_NEXT_UPDATE_MINUTES:
                return ctx.error(f"The next update must be between 1 minute and 24 hours away, got '{_clip(when)}'.")
            next_minutes = minutes
            body = body[: clause.start()].rstrip(" ,;.-—")
        elif when[:1].isdigit():
            return ctx.error(f"After 'next': '{_clip(when)}' is not a duration I understand. {_DURATION_FORMS}")
    if not body:
        example = f"`{ctx.cmd} update {status or 'monitoring'} Error rate back to 0.1% next 30m`"
        return ctx.error(f"A status update needs a summary of where things stand, e.g. {example}.")
    if len(body) > MAX_UPDATE_LENGTH:
        return ctx.error(f"The update is {len(body)} characters long; the limit is {MAX_UPDATE_LENGTH}. Put the details in the channel.")
    return PostUpdate(text=body, status=status, next_minutes=next_minutes)


def _parse_snooze(rest: str, ctx: _Ctx) -> SnoozeUpdates | UsageError:
    if not rest:
        return ctx.error(f"For how long? e.g. `{ctx.cmd} snooze-updates 2h`, or `{ctx.cmd} snooze-updates off` to resume.")
    if rest.lower() in ("off", "stop", "cancel", "resume", "none"):
        return SnoozeUpdates(minutes=None)
    minutes = parse_duration_minutes(rest)
    if minutes is None:
        return ctx.error(f"'{_clip(rest)}' is not a duration I understand. {_DURATION_FORMS} Or `off` to resume.")
    if not 1 <= minutes <= MAX_SNOOZE_MINUTES:
        return ctx.error(f"A snooze lasts between 1 minute and 7 days, got '{_clip(rest)}'.")
    return SnoozeUpdates(minutes=minutes)


_SEVERITY_WORD_RE: Final = re.compile(r"sev\S*", re.IGNORECASE)


def _parse_stats(rest: str, ctx: _Ctx) -> ShowStats | UsageError:
    """`--share` and a severity anywhere; what is left is the period, checked by the service
    (reading it needs the clock)."""
    share = False
    severity: str | None = None
    period: list[str] = []
    for word in rest.split():
        low = word.lower()
        if low in ("--share", "share"):
            share = True
        elif low.startswith("--"):
            return ctx.error(f"Unknown option '{_clip(word, 30)}': the only option is `--share`.")
        elif _SEVERITY_WORD_RE.fullmatch(low):
            if _TITLE_SEVERITY_RE.fullmatch(low) is None:
                return ctx.error(f"'{_clip(word, 30)}' is not a severity; use sev1, sev2, sev3 or sev4.")
            if severity is not None and severity != low:
                return ctx.error("Give only one severity (sev1, sev2, sev3 or sev4), or none for all.")
            severity = low
        else:
            period.append(word)
    return ShowStats(period=" ".join(period), severity=severity, share=share)


_ITEM_NUMBER_RE: Final = re.compile(r"#?(?P<n>[0-9]{1,9})", re.ASCII)


def _parse_ticket(rest: str, ctx: _Ctx) -> LinkTicket | CreateTicket | UsageError:
    words = rest.split()
    if not words:
        return ctx.error(f"Which action item, and which ticket? e.g. `{ctx.cmd} ticket 3 OPS-12` "
                         f"or `{ctx.cmd} ticket 3 create`.")
    number = _ITEM_NUMBER_RE.fullmatch(words[0])
    if number is None:
        return ctx.error(f"'{_clip(words[0], 30)}' is not an action item number; `{ctx.cmd} actions` lists them, "
                         f"e.g. `{ctx.cmd} ticket 3 OPS-12`.")
    item_id = int(number.group("n"))
    if len(words) == 1:
        return ctx.error(f"Paste the ticket's link or key after the item number, e.g. `{ctx.cmd} ticket {item_id} OPS-12`, "
                         f"or `{ctx.cmd} ticket {item_id} create` to make one.")
    if words[1].lower() == "create":
        extra = words[2:]
        if len(extra) > 2:
            return ctx.error(f"After `create`, name at most a tracker and where in it, e.g. "
                             f"`{ctx.cmd} ticket {item_id} create jira OPS`.")
        tracker = extra[0].lower() if extra else None
        if tracker is not None and tracker not in TRACKERS:
            return ctx.error(f"'{_clip(extra[0], 30)}' is not a tracker: use jira, github, linear or gitlab.")
        target = None
        if len(extra) == 2:
            from bot.trackers.links import normalise_target, target_problem

            problem = target_problem(cast(str, tracker), extra[1])
            if problem:
                return ctx.error(problem)
            target = normalise_target(cast(str, tracker), extra[1])
        return CreateTicket(item_id=item_id, tracker=tracker, target=target)
    if len(words) > 2:
        return ctx.error(f"Paste one ticket: its link or its key, e.g. `{ctx.cmd} ticket {item_id} OPS-12`.")
    return LinkTicket(item_id=item_id, link=words[1])


def _parse_tracker(rest: str, ctx: _Ctx) -> SetTracker | UsageError:
    words = rest.split()
    if not words:
        return SetTracker("show")
    first = words[0].lower()
    if first in ("none", "off"):
        return SetTracker("none") if len(words) == 1 else ctx.error(f"`{ctx.cmd} tracker none` takes nothing after it.")
    if first == "default":
        return SetTracker("default") if len(words) == 1 else ctx.error(f"`{ctx.cmd} tracker default` takes nothing after it.")
    if first not in TRACKERS:
        return ctx.error(f"'{_clip(words[0], 30)}' is not a tracker: use jira, github, linear or gitlab "
                         "(or none, or default for the workspace's).")
    if len(words) > 2:
        return ctx.error(f"Name one tracker and where in it, e.g. `{ctx.cmd} tracker jira OPS`.")
    if len(words) == 1:
        return SetTracker("set", first)
    from bot.trackers.links import normalise_target, target_problem

    problem = target_problem(first, words[1])
    if problem:
        return ctx.error(problem)
    return SetTracker("set", first, normalise_target(first, words[1]))


# ---------------------------------------------------------------------------
# The parser of each subcommand, by canonical name: (the text after the subcommand's word,
# the configured command) → what it asks for, or a usage error. The Slack layer's registry
# (bot.slack.subcommands) gives each row its parser from here.
# ---------------------------------------------------------------------------

Parser: TypeAlias = Callable[[str, str], "Command | UsageError"]


def _parser(name: str, parse: Callable[[str, _Ctx], Command | UsageError]) -> Parser:
    def parse_arguments(rest: str, command: str) -> Command | UsageError:
        return parse(rest, _Ctx(name=name, cmd=command))

    return parse_arguments


def _no_arguments(make: Callable[[], Command]) -> Callable[[str, _Ctx], Command | UsageError]:
    def parse(rest: str, ctx: _Ctx) -> Command | UsageError:
        if rest:
            return ctx.error(f"`{ctx.cmd} {ctx.name}` takes no arguments, but got '{_clip(rest)}'.")
        return make()

    return parse


def _moment(rest: str, ctx: _Ctx) -> Command | UsageError:
    return _parse_timed(rest, ctx, text_required=False)


def _entry(rest: str, ctx: _Ctx) -> Command | UsageError:
    return _parse_timed(rest, ctx, text_required=True)


def _help(rest: str, ctx: _Ctx) -> Command | UsageError:
    return _parse_help(rest, ctx.cmd)


_BY_NAME: dict[str, Callable[[str, _Ctx], Command | UsageError]] = {
    "start": _parse_start,
    **dict.fromkeys(_MOMENT_KINDS, _moment),
    **dict.fromkeys(_ENTRY_KINDS, _entry),
    "close": _no_arguments(Close),
    "actions": _no_arguments(ListActions),
    "backfill": _no_arguments(Backfill),
    "catchup": _no_arguments(CatchUp),
    "severity": _parse_severity,
    "role": _parse_role,
    "timeline": _parse_timeline,
    "help": _help,
    "action": _parse_action,
    "postmortem": _parse_postmortem,
    "update": _parse_update,
    "snooze-updates": _parse_snooze,
    "stats": _parse_stats,
    "declare": _parse_declare,
    "title": _parse_title,
    "ticket": _parse_ticket,
    "tracker": _parse_tracker,
}

PARSERS: Final[dict[str, Parser]] = {name: _parser(name, _BY_NAME[name]) for name in USAGE}
