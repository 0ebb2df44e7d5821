"""The grounding check: a drafted sentence is kept only if every checkable fact in it is
found in the timeline entries it cites. Pure and fully typed (`mypy --strict`): no I/O.

What a sentence must satisfy (the rules README and docs/ai-drafts.md state to users):

* **Citations.** It cites at least one entry, and every cited id is one of the entries that
  were sent to the model.
* **Times** ("14:05", "2:05 pm", "2 pm", "14:05 UTC", "14:05 +02:00", "2024-05-01T14:05Z")
  match, to the minute, a time of a cited entry: its timestamp, or a time written in its
  text. A time without a zone is read in the display zone (`tz`, UTC by default); one with
  UTC/GMT/Z or a numeric offset is compared in that zone. A zone abbreviation such as CEST
  counts only if it is the display zone's name at that moment, or if the cited text wrote
  the same time with the same abbreviation. Seconds are ignored. Times in a cited text are
  anchored on the date of that entry.
* **Dates** ("2024-05-01", "May 1", "1st May") match the date (in `tz`) of a cited time or a
  date written in a cited text; a year is compared only when the sentence gives one.
  Weekday names must be the weekday of a cited time or be written in a cited text.
* **Durations** ("12 minutes", "1h 20m", "1 hour and 20 minutes", "for 2 hours", "an hour",
  "half an hour", "a 2-hour outage", "3 days") equal, within less than 60 seconds, the difference
  between two times of the cited entries (timestamps or times in their text), or a duration
  written in a cited text. Words like "about" don't loosen this.
* **Numbers.** A number is a run of digits, with an optional decimal part and thousands
  commas ("1,200" = "1200", "1.50" = "1.5", "05" = "5"), or such a number with a plural "s"
  ("500s"). It must be a number in a cited text. A percentage ("12%", "12 percent") must be
  a percentage there. A word that mixes digits and letters ("p99", "5xx", "v2.3.1",
  "us-east-1", "10k") is an identifier and must be written the same way (any case) in a cited
  text. Numbers written as words ("one", "two", "three"…) are not checked as numbers:
  they are everyday English ("one of the replicas", "no one"), and checking them would drop
  far more honest sentences than it would catch. They do count inside a duration
  ("two hours").
* **URLs, host names, file names and e-mail addresses** ("https://…", "status.example.com",
  "ops@example.com") appear in a cited text (compared without a trailing slash or
  punctuation, case-insensitively).
* **Ticket keys** ("ABC-123", "owner/repo#12", "#12") appear in a cited text.
* **People.** An @mention must be the display name (or one word of it) of a cited entry's
  author, or be written in a cited text. A display name of anyone who wrote any entry that
  was sent (spelled exactly, so lower-case handles like "bob" count) must belong to a cited
  author or be written in a cited text. Any other capitalised word (a name, a team, a
  system, a place) must appear in a cited text, a cited author's name or a cited kind,
  unless it is one of a fixed list of everyday English words (COMMON_WORDS: "The",
  "After", "Customers"…). A plural or possessive ("Bob's", "Payments") also matches its
  base word.
* **Instructions in data.** A sentence may not rest on an entry that reads like an
  instruction to a language model ("ignore previous instructions…", "system prompt"): such
  an entry is recorded incident data, and a sentence citing it is what obeying it looks like.
  Nor may it repeat such an entry, wherever it is in the timeline: a sentence sharing a run
  of four words with it ("the outage was caused by …") is dropped whatever it cites.
* With `since` (status updates): at least one cited entry was recorded at or after `since`.

Performance: the check builds its indexes once per call (entries by id, the set of known
display names), and extracts the facts of an entry the first time a sentence cites it; so a
draft over 10,000 entries costs a dictionary build plus the few entries actually cited
(bench/grounding.py measures it).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation

__all__ = [
    "COMMON_WORDS",
    "GroundingResult",
    "Rejection",
    "SentEntry",
    "Sentence",
    "check",
]

UTC = UTC
DURATION_TOLERANCE = timedelta(seconds=60)


@dataclass(frozen=True)
class SentEntry:
    """One timeline entry exactly as it was sent to the model (after scrubbing and cutting)."""

    id: int
    at: datetime  # aware, UTC
    author: str  # display name
    kind: str
    text: str


@dataclass(frozen=True)
class Sentence:
    """One sentence of the model's answer and the entry ids it says it rests on."""

    text: str
    cites: tuple[int, ...]


@dataclass(frozen=True)
class Rejection:
    """A dropped sentence: `rule` is a short code for logs and counts (citation, time, date,
    duration, number, url, ticket, person, instruction, empty, since); `detail` says what was
    wrong for a reader (it can quote the sentence, so it is never logged)."""

    sentence: Sentence
    rule: str
    detail: str


@dataclass(frozen=True)
class GroundingResult:
    kept: tuple[Sentence, ...]
    dropped: tuple[Rejection, ...]


# -- patterns ----------------------------------------------------------------------------------

_MONTHS = {
    "jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3, "apr": 4, "april": 4, "may": 5,
    "jun": 6, "june": 6, "jul": 7, "july": 7, "aug": 8, "august": 8, "sep": 9, "sept": 9, "september": 9,
    "oct": 10, "october": 10, "nov": 11, "november": 11, "dec": 12, "december": 12,
}
_WEEKDAYS = {
    "monday": 0, "mon": 0, "tuesday": 1, "tue": 1, "tues": 1, "wednesday": 2, "wed": 2, "thursday": 3, "thu": 3,
    "thurs": 3, "friday": 4, "fri": 4, "saturday": 5, "sat": 5, "sunday": 6, "sun": 6,
}
# Zone abbreviations recognised after a time. UTC, GMT and Z are UTC; the others are only
# accepted when they name the display zone at that moment (their offsets are ambiguous:
# IST, CST…), or when the cited text wrote the same time with the same abbreviation.
_ZONE_ABBREVIATIONS = (
    "UTC", "GMT", "PST", "PDT", "MST", "MDT", "CST", "CDT", "EST", "EDT", "AKST", "AKDT", "HST", "BST", "IST",
    "CET", "CEST", "EET", "EEST", "WET", "WEST", "MSK", "JST", "KST", "AEST", "AEDT", "ACST", "ACDT", "AWST",
    "NZST", "NZDT", "SGT", "HKT",
)
_MONTH_NAMES = "|".join(sorted((m.capitalize() for m in _MONTHS), key=len, reverse=True))
_WEEKDAY_NAMES = "|".join(sorted((d.capitalize() for d in _WEEKDAYS), key=len, reverse=True))
_ZONE_NAMES = "|".join(sorted(_ZONE_ABBREVIATIONS, key=len, reverse=True))
_NUMBER_WORDS = {
    "a": 1.0, "an": 1.0, "one": 1.0, "two": 2.0, "three": 3.0, "four": 4.0, "five": 5.0, "six": 6.0,
    "seven": 7.0, "eight": 8.0, "nine": 9.0, "ten": 10.0, "eleven": 11.0, "twelve": 12.0,
    "half a": 0.5, "half an": 0.5,
}
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}

_URL_RE = re.compile(r"\b(?:https?://|www\.)[^\s<>\"'\[\]{}|\\^`]+", re.IGNORECASE)
_EMAIL_RE = re.compile(r"\b[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+\b")
# A host or file name written without a scheme: dot-separated labels ending in 2+ letters.
_HOST_RE = re.compile(r"(?<![\w@./-])(?:[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?:/[^\s<>\"']*)?(?![\w.]*\w)")
_ISO_DATETIME_RE = re.compile(
    r"(?<![\w.])(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::\d{2}(?:\.\d+)?)?"
    r"(?:\s?(UTC|GMT)|(Z)|\s?([+-]\d{2}):?(\d{2}))?(?![\w:])"
)
_ISO_DATE_RE = re.compile(r"(?<![\w.-])(\d{4})-(\d{2})-(\d{2})(?![\w-])")
_ZONE_SUFFIX = (
    r"(?:\s?(?:(?P<utc>UTC|GMT)(?:\s?(?P<usign>[+-])(?P<uh>\d{1,2})(?::?(?P<um>\d{2}))?)?"
    r"|(?P<z>Z)|(?P<sign>[+-])(?P<oh>\d{2}):?(?P<om>\d{2})|(?P<abbr>" + _ZONE_NAMES + r")))?"
)
_CLOCK_RE = re.compile(
    r"(?<![\w:.])(?P<h>[01]?\d|2[0-3]):(?P<m>[0-5]\d)(?::[0-5]\d(?:\.\d+)?)?"
    r"(?:\s?(?P<ampm>[AaPp])\.?[Mm]\b\.?)?" + _ZONE_SUFFIX + r"(?![\w:])"
)
_HOUR_AMPM_RE = re.compile(r"(?<![\w:.])(?P<h>1[0-2]|0?[1-9])\s?(?P<ampm>[AaPp])\.?[Mm]\b\.?" + _ZONE_SUFFIX + r"(?![\w:])")
# A number takes any unit ("5m", "1h20m", "90 seconds"); a word amount only a whole unit word
# ("an hour", "two days"), so "a second replica", "I am" or "ah" are not durations.
_WORD_AMOUNT = r"half an?|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve"
_DURATION_PART = (
    r"(?:\d+(?:\.\d+)?[\s-]?(?:days?|hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?)(?![A-Za-z_])"
    r"|\b(?:" + _WORD_AMOUNT + r")[\s-](?:days?|hours?|minutes?)(?![\w]))"
)
_DURATION_RE = re.compile(
    r"(?<![\w.:])" + _DURATION_PART + r"(?:(?:\s+and\s+|\s*)" + _DURATION_PART + r")*", re.IGNORECASE
)
_DURATION_PART_RE = re.compile(
    r"(\d+(?:\.\d+)?|" + _WORD_AMOUNT + r")[\s-]?(days?|hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?)(?![A-Za-z_])",
    re.IGNORECASE,
)
_PERCENT_RE = re.compile(r"(?<![\w.,])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?\s?(?:%|percent\b|per cent\b)", re.IGNORECASE)
_MONTH_DAY_RE = re.compile(
    r"\b(?P<month>" + _MONTH_NAMES + r")\.?\s+(?P<day>[0-3]?\d)(?:st|nd|rd|th)?\b(?:,?\s+(?P<year>\d{4})\b)?"
)
_DAY_MONTH_RE = re.compile(
    r"\b(?P<day>[0-3]?\d)(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<month>" + _MONTH_NAMES + r")\b\.?(?:,?\s+(?P<year>\d{4})\b)?"
)
_WEEKDAY_RE = re.compile(r"\b(" + _WEEKDAY_NAMES + r")\b")
_TICKET_RE = re.compile(r"(?<![\w/#-])(?:[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+#\d+|[A-Z][A-Z0-9]{1,9}-\d+|#\d+)(?![\w-])")
_MENTION_RE = re.compile(r"(?<![\w@])@([A-Za-z0-9][\w.'-]*)")
_STRIP = ".,;:!?()[]{}<>\"'“”‘’`*_~…"
# What may come just before the first word of a sentence or clause.
_OPENERS = ".!?:;\"'“‘(—–-…"
_PLAIN_NUMBER_RE = re.compile(r"^(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$")
_WORD_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")

# An entry that addresses a language model rather than the people in the channel.
_INSTRUCTION_RE = re.compile(
    r"\b(?:ignore|disregard|forget|override)\b[^.\n]{0,40}\b(?:previous|prior|above|earlier|all|any|your|the)\b"
    r"[^.\n]{0,40}\b(?:instructions?|prompts?|rules|directions|guidelines)\b"
    r"|\bsystem prompt\b|\byou are (?:now )?(?:an? )?(?:ai|assistant|language model|llm|chatbot)\b"
    r"|\b(?:as|to) (?:the|an?) (?:ai|assistant|language model|llm)\b",
    re.IGNORECASE,
)

# Words one of which every _INSTRUCTION_RE match contains: a first pass over the whole
# incident with str.find, some 30 times faster than the regular expression over all of it.
_INSTRUCTION_HINTS = ("instruction", "prompt", "rules", "direction", "guideline", "assistant", "language model", "llm",
                      "chatbot", " ai")
#: A sentence sharing this many consecutive words with an entry that addresses the model
#: repeats it.
ECHO_WORDS = 4

#: Capitalised words a sentence may use without a cited entry writing them: function words
#: that start sentences, and the generic nouns of incident prose. Everything else that is
#: capitalised (names, teams, products, places) must come from the cited entries.
COMMON_WORDS: frozenset[str] = frozenset("""
    a an the this that these those it its they them their there here then than we our us you your he she his her him i me my it's there's that's what's at
    in on of off by for from to into onto over under after before since during until till around about above below between through throughout across
    within without with as when while once whenever where which who whom whose what why how per via up down out upon along against toward towards beyond
    near and but or nor so yet also still just only even thus therefore however meanwhile later earlier now today yesterday tonight currently recently
    finally first second third next last initially subsequently afterwards eventually overall again already soon shortly immediately is are was were be
    been being has have had do does did will would can could should may might must shall no not none all any each every some many most more less few
    several both either neither other another such same if unless because although though whether yes ok okay one two three four five six seven eight nine
    ten eleven twelve hundred hundreds thousand thousands half dozen couple incident incidents outage outages customer customers user users engineer
    engineers team teams responder responders service services system systems impact summary root cause causes cause mitigation mitigations monitoring
    alert alerts alerting traffic error errors latency requests request update updates status investigation investigating issue issues problem problems
    fix fixes fixed deployment deployments deploy deploys rollback rollbacks database databases timeline contributing factor factors action actions
    decision decisions finding findings hypothesis note notes resolution resolved mitigated detected declared started closed on-call oncall work progress
    recovery degradation failure failures access health load capacity performance queue queues job jobs backlog logs metrics dashboard dashboards graph
    graphs page pages paging escalation communication support production staging testing tests analysis review follow-up follow-ups steps step plan
    trigger symptoms report reports part parts everyone nobody someone people staff new old current previous manual automatic automated planned partial
    full complete ongoing restarting rolling investigating reverting scaling retrying retries restart restarts revert reverts config configuration change
    changes release releases version versions upgrade migration migrations maintenance response
""".split())

_ALWAYS_ALLOWED = frozenset({"am", "pm", "a.m", "p.m"}) | {z.lower() for z in _ZONE_ABBREVIATIONS} | {"z"}


# -- what a text says ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Clock:
    hour: int
    minute: int
    # None: no zone written (the display zone); a tzinfo: UTC/GMT/Z or a numeric offset;
    # a str: an abbreviation such as "CEST".
    zone: tzinfo | str | None
    day: date | None  # from an ISO timestamp
    source: str


@dataclass(frozen=True)
class _Date:
    year: int | None
    month: int
    day: int
    source: str


@dataclass
class _Facts:
    clocks: list[_Clock] = field(default_factory=list)
    dates: list[_Date] = field(default_factory=list)
    weekdays: list[tuple[int, str]] = field(default_factory=list)
    durations: list[tuple[float, str]] = field(default_factory=list)
    numbers: list[tuple[str, str]] = field(default_factory=list)
    # Digit runs inside URLs: a sentence may quote "PR 123" from a cited ".../pull/123".
    url_numbers: list[str] = field(default_factory=list)
    percents: list[tuple[str, str]] = field(default_factory=list)
    identifiers: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    tickets: list[str] = field(default_factory=list)
    mentions: list[str] = field(default_factory=list)
    # (word, whether it starts a sentence or clause)
    capitalised: list[tuple[str, bool]] = field(default_factory=list)
    bad_times: list[str] = field(default_factory=list)


def _normal_number(digits: str, fraction: str | None = None) -> str:
    raw = digits.replace(",", "") + (fraction or "")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return raw
    text = format(value.normalize(), "f")
    return text


def _normal_url(url: str) -> str:
    url = url.rstrip(_STRIP).lower()
    for prefix in ("https://", "http://"):
        if url.startswith(prefix):
            url = url[len(prefix):]
    if url.startswith("www."):
        url = url[4:]
    return url.rstrip("/")


def _zone_of(match: re.Match[str]) -> tzinfo | str | None:
    if match.group("utc"):
        if match.group("usign"):
            hours = int(match.group("uh"))
            minutes = int(match.group("um") or 0)
            sign = -1 if match.group("usign") == "-" else 1
            return timezone(sign * timedelta(hours=hours, minutes=minutes))
        return UTC
    if match.group("z"):
        return UTC
    if match.group("sign"):
        sign = -1 if match.group("sign") == "-" else 1
        return timezone(sign * timedelta(hours=int(match.group("oh")), minutes=int(match.group("om"))))
    if match.group("abbr"):
        return match.group("abbr")
    return None


def _twelve_hour(hour: int, ampm: str | None) -> int | None:
    if ampm is None:
        return hour
    if not 1 <= hour <= 12:
        return None
    pm = ampm.lower() == "p"
    return (hour % 12) + (12 if pm else 0)


def _duration_seconds(text: str) -> float:
    total = 0.0
    for amount, unit in _DURATION_PART_RE.findall(text):
        lowered = amount.lower()
        value = _NUMBER_WORDS.get(lowered)
        number = float(amount) if value is None else value
        key = unit.lower()
        letter = "m" if key.startswith("min") or key == "m" else key[0]
        total += number * _UNIT_SECONDS[letter]
    return total


def _scan(text: str) -> _Facts:
    """Every checkable fact written in `text`. Each pattern blanks out what it matched, so a
    time's digits aren't read again as numbers, nor a URL's as a ticket."""
    facts = _Facts()
    buffer = text

    def take(pattern: re.Pattern[str], handle: Callable[[re.Match[str]], None]) -> None:
        nonlocal buffer
        if not pattern.search(buffer):
            return

        def blank(match: re.Match[str]) -> str:
            handle(match)
            return " " * len(match.group(0))

        buffer = pattern.sub(blank, buffer)

    def url(match: re.Match[str]) -> None:
        facts.urls.append(_normal_url(match.group(0)))
        # A number inside a cited link ("…/pull/123") may be quoted as a number.
        facts.url_numbers.extend(_normal_number(d) for d in re.findall(r"\d+", match.group(0)))

    def iso_datetime(match: re.Match[str]) -> None:
        year, month, day, hour, minute = (int(match.group(i)) for i in range(1, 6))
        zone: tzinfo | None = None
        if match.group(6) or match.group(7):
            zone = UTC
        elif match.group(8):
            hours = int(match.group(8))
            offset = timedelta(hours=abs(hours), minutes=int(match.group(9)))
            zone = timezone(-offset if match.group(8).startswith("-") else offset)
        try:
            day_value = date(year, month, day)
        except ValueError:
            facts.bad_times.append(match.group(0))
            return
        facts.clocks.append(_Clock(hour, minute, zone, day_value, match.group(0)))

    def iso_date(match: re.Match[str]) -> None:
        year, month, day = (int(match.group(i)) for i in range(1, 4))
        try:
            date(year, month, day)
        except ValueError:
            facts.bad_times.append(match.group(0))
            return
        facts.dates.append(_Date(year, month, day, match.group(0)))

    def clock(match: re.Match[str]) -> None:
        hour = _twelve_hour(int(match.group("h")), match.group("ampm"))
        if hour is None:
            facts.bad_times.append(match.group(0).strip())
            return
        facts.clocks.append(_Clock(hour, int(match.group("m") or 0), _zone_of(match), None, match.group(0).strip()))

    def hour_ampm(match: re.Match[str]) -> None:
        hour = _twelve_hour(int(match.group("h")), match.group("ampm"))
        if hour is None:
            facts.bad_times.append(match.group(0).strip())
            return
        facts.clocks.append(_Clock(hour, 0, _zone_of(match), None, match.group(0).strip()))

    def duration(match: re.Match[str]) -> None:
        facts.durations.append((_duration_seconds(match.group(0)), match.group(0).strip()))

    def percent(match: re.Match[str]) -> None:
        facts.percents.append((_normal_number(match.group(1), match.group(2)), match.group(0).strip()))

    def month_day(match: re.Match[str]) -> None:
        month = _MONTHS[match.group("month").lower()]
        day = int(match.group("day"))
        year = int(match.group("year")) if match.group("year") else None
        if not 1 <= day <= 31:
            facts.bad_times.append(match.group(0))
            return
        facts.dates.append(_Date(year, month, day, match.group(0).strip()))

    def weekday(match: re.Match[str]) -> None:
        facts.weekdays.append((_WEEKDAYS[match.group(1).lower()], match.group(1)))

    def ticket(match: re.Match[str]) -> None:
        facts.tickets.append(match.group(0).upper())

    def mention(match: re.Match[str]) -> None:
        facts.mentions.append(match.group(1).rstrip(_STRIP).lower())

    take(_URL_RE, url)
    take(_EMAIL_RE, lambda m: facts.urls.append(m.group(0).lower()))
    take(_ISO_DATETIME_RE, iso_datetime)
    take(_ISO_DATE_RE, iso_date)
    take(_CLOCK_RE, clock)
    take(_HOUR_AMPM_RE, hour_ampm)
    take(_HOST_RE, url)
    take(_DURATION_RE, duration)
    take(_PERCENT_RE, percent)
    take(_MONTH_DAY_RE, month_day)
    take(_DAY_MONTH_RE, month_day)
    take(_WEEKDAY_RE, weekday)
    take(_TICKET_RE, ticket)
    take(_MENTION_RE, mention)

    for found in re.finditer(r"\S+", buffer):
        token = found.group(0).strip(_STRIP).lstrip("$€£¥~≈+-−")
        if not token:
            continue
        if any(c.isdigit() for c in token):
            if _PLAIN_NUMBER_RE.match(token):
                integer, _, fraction = token.partition(".")
                facts.numbers.append((_normal_number(integer, "." + fraction if fraction else None), token))
            elif token[-1:] in "sS" and _PLAIN_NUMBER_RE.match(token[:-1]):
                facts.numbers.append((_normal_number(token[:-1].partition(".")[0]), token))  # "500s"
            else:
                facts.identifiers.append(token.lower())
            continue
        before = text[: found.start()].rstrip()
        initial = not before or before[-1] in _OPENERS
        for part in re.split(r"[-/—–]", token):
            part = part.strip(_STRIP)
            if part[:1].isupper():
                facts.capitalised.append((part, initial))
                initial = False
    return facts


# -- what the cited entries allow ------------------------------------------------------------------


@dataclass
class _EntryFacts:
    moments: list[datetime]  # instants written or stamped, full precision
    literal_clocks: set[tuple[int, int, str]]  # (hour, minute, abbreviation) written in the text
    dates: list[_Date]
    weekdays: set[int]
    durations: list[float]
    numbers: set[str]
    percents: set[str]
    identifiers: set[str]
    urls: set[str]
    tickets: set[str]
    words: set[str]  # lower-cased words of the text, the author's name and the kind
    author_words: set[str]
    mentions: set[str]
    instruction: bool
    text_lower: str


def _words(text: str) -> set[str]:
    return {w.replace("’", "'") for w in _WORD_RE.findall(text.lower())}


def _entry_facts(entry: SentEntry, tz: tzinfo) -> _EntryFacts:
    facts = _scan(entry.text)
    stamp = entry.at if entry.at.tzinfo is not None else entry.at.replace(tzinfo=UTC)
    moments = [stamp]
    literal: set[tuple[int, int, str]] = set()
    for c in facts.clocks:
        if isinstance(c.zone, str):
            literal.add((c.hour, c.minute, c.zone))
            continue
        zone = c.zone or tz
        day = c.day or stamp.astimezone(zone).date()
        moments.append(datetime.combine(day, time(c.hour, c.minute), tzinfo=zone))
    author_words = _words(entry.author)
    return _EntryFacts(
        moments=moments,
        literal_clocks=literal,
        dates=facts.dates,
        weekdays={w for w, _ in facts.weekdays},
        durations=[d for d, _ in facts.durations],
        numbers={n for n, _ in facts.numbers} | {p for p, _ in facts.percents} | set(facts.url_numbers),
        percents={p for p, _ in facts.percents},
        identifiers=set(facts.identifiers) | {w for w in author_words if any(c.isdigit() for c in w)},
        urls=set(facts.urls),
        tickets=set(facts.tickets),
        words=_words(entry.text) | author_words | _words(entry.kind),
        author_words=author_words | {entry.author.lower()},
        mentions=set(facts.mentions),
        instruction=bool(_INSTRUCTION_RE.search(entry.text)),
        text_lower=entry.text.lower(),
    )


class _Cited:
    """The union of what the entries one sentence cites allow."""

    def __init__(self, entries: list[_EntryFacts], tz: tzinfo) -> None:
        self.entries = entries
        self.tz = tz
        self.moments = [m for e in entries for m in e.moments]
        self.instants = {_minute(m) for m in self.moments}
        local = [m.astimezone(tz) for m in self.moments]
        self.local_clocks = {(m.hour, m.minute) for m in local}
        self.local_months = {m.month for m in local}
        self.local_weekdays = {m.weekday() for m in local}

    def union(self, attribute: str) -> set[str]:
        result: set[str] = set()
        for e in self.entries:
            values: set[str] = getattr(e, attribute)
            result |= values
        return result


def _minute(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


# -- the check -----------------------------------------------------------------------------------------


def check(
    entries: Sequence[SentEntry],
    sentences: Iterable[Sentence],
    *,
    tz: tzinfo = UTC,
    since: datetime | None = None,
) -> GroundingResult:
    """Keep the sentences whose every fact is found in the entries they cite (the rules are in
    this module's docstring); say for each dropped one why."""
    by_id = {e.id: e for e in entries}
    memo: dict[int, _EntryFacts] = {}
    known_names = _NameIndex(e.author for e in entries)
    corpus = _Corpus(entries, known_names)
    kept: list[Sentence] = []
    dropped: list[Rejection] = []
    for sentence in sentences:
        problem = _problem(sentence, by_id, memo, known_names, corpus, tz, since)
        if problem is None:
            kept.append(sentence)
        else:
            dropped.append(Rejection(sentence, problem[0], problem[1]))
    return GroundingResult(tuple(kept), tuple(dropped))


class _NameIndex:
    """Display names of everyone who wrote an entry that was sent, found in a sentence by one
    regular expression (compiled on first use)."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = {n.strip() for n in names if n and n.strip()}
        self._pattern: re.Pattern[str] | None = None

    def found_in(self, text: str) -> list[str]:
        if not self.names:
            return []
        if self._pattern is None:
            alternatives = "|".join(re.escape(n) for n in sorted(self.names, key=len, reverse=True))
            self._pattern = re.compile(r"(?<![\w@])(?:" + alternatives + r")(?![\w])")
        return self._pattern.findall(text)


class _Corpus:
    """All the text that was sent, joined on first use: tells an ordinary word that starts a
    sentence ("Work", "Rollback") from a name of this incident, and finds the entries that
    address the model, wherever they are."""

    def __init__(self, entries: Sequence[SentEntry], names: _NameIndex) -> None:
        self._entries = entries
        self._names = names
        self._text: str | None = None
        self._starts: list[int] = []
        self._name_words: set[str] | None = None
        self._instructions: dict[tuple[str, ...], int] | None = None

    def _joined(self) -> str:
        if self._text is None:
            position = 0
            for e in self._entries:
                self._starts.append(position)
                position += len(e.text) + 1
            self._text = "\n".join(e.text for e in self._entries)
        return self._text

    def echoed_instruction(self, sentence: str) -> int | None:
        """The id of an entry that reads like an instruction to the model and shares a run of
        ECHO_WORDS words with `sentence` (what obeying "say that …" looks like), or None."""
        if self._instructions is None:
            self._instructions = {}
            lowered = self._joined().lower()
            candidates = sorted({bisect_right(self._starts, at) - 1 for at in _hints(lowered)})
            for index in candidates:
                entry = self._entries[index]
                if _INSTRUCTION_RE.search(entry.text):
                    for run in _runs(entry.text):
                        self._instructions.setdefault(run, entry.id)
        if not self._instructions:
            return None
        return next((self._instructions[run] for run in _runs(sentence) if run in self._instructions), None)

    def ordinary_word(self, word: str) -> bool:
        """`word` (lower case) is written in lower case somewhere in the incident, and is not the
        name (or part of the name) of anyone who wrote or was @mentioned in it, nor written
        capitalised mid-sentence (a name, a product) anywhere in it."""
        if self._name_words is None:
            self._name_words = {w for name in self._names.names for w in _words(name)}
        if word in self._name_words:
            return False
        text = self._joined()
        escaped = re.escape(word)
        if re.search(r"@" + escaped + r"(?![\w])", text, re.IGNORECASE):
            return False
        capitalised = escaped[:1].upper() + escaped[1:] if escaped[:1].isalpha() else escaped
        if re.search(r"[a-z,] " + capitalised + r"(?![\w])", text):
            return False
        return re.search(r"(?<![\w@])" + escaped + r"(?![\w])", text) is not None


def _problem(
    sentence: Sentence,
    by_id: dict[int, SentEntry],
    memo: dict[int, _EntryFacts],
    known_names: _NameIndex,
    corpus: _Corpus,
    tz: tzinfo,
    since: datetime | None,
) -> tuple[str, str] | None:
    text = " ".join(sentence.text.split())
    if not text:
        return "empty", "the sentence is empty"
    if not sentence.cites:
        return "citation", "it cites no entry"
    missing = [i for i in sentence.cites if i not in by_id]
    if missing:
        return "citation", f"it cites entry {missing[0]}, which was not sent"
    cited_entries: list[_EntryFacts] = []
    for entry_id in dict.fromkeys(sentence.cites):
        facts = memo.get(entry_id)
        if facts is None:
            facts = memo[entry_id] = _entry_facts(by_id[entry_id], tz)
        cited_entries.append(facts)
    for entry_id, facts in zip(dict.fromkeys(sentence.cites), cited_entries, strict=True):
        if facts.instruction:
            return "instruction", f"it cites entry {entry_id}, which reads like an instruction to the model"
    echoed = corpus.echoed_instruction(text)
    if echoed is not None:
        return "instruction", f"it repeats entry {echoed}, which reads like an instruction to the model"
    if since is not None and not any(by_id[i].at >= since for i in sentence.cites):
        return "since", "it cites nothing recorded since the last update"

    cited = _Cited(cited_entries, tz)
    said = _scan(text)
    if said.bad_times:
        return "time", f"“{said.bad_times[0]}” is not a valid time or date"
    for c in said.clocks:
        if not _clock_found(c, cited):
            return "time", f"{c.source} is not a time of the cited entries"
    for d in said.dates:
        if not _date_found(d, cited):
            return "date", f"{d.source} is not a date of the cited entries"
    for weekday, word in said.weekdays:
        if weekday not in cited.local_weekdays and not any(weekday in e.weekdays for e in cited.entries):
            return "date", f"{word} is not a day of the cited entries"
    for seconds, source in said.durations:
        if not _duration_found(seconds, cited):
            return "duration", f"“{source}” is not the time between two cited times, nor a duration they state"
    numbers = cited.union("numbers")
    for value, source in said.numbers:
        if value not in numbers:
            return "number", f"{source} appears in no cited entry"
    percents = cited.union("percents")
    for value, source in said.percents:
        if value not in percents:
            return "number", f"{source} appears in no cited entry"
    identifiers = cited.union("identifiers")
    for identifier in said.identifiers:
        if identifier not in identifiers:
            return "number", f"{identifier} appears in no cited entry"
    urls = cited.union("urls")
    for url in said.urls:
        if url not in urls and not any(url in e.text_lower for e in cited.entries):
            return "url", f"{url} appears in no cited entry"
    tickets = cited.union("tickets")
    for ticket in said.tickets:
        if ticket not in tickets:
            return "ticket", f"{ticket} appears in no cited entry"
    return _person_problem(text, said, cited, known_names, corpus)


def _person_problem(text: str, said: _Facts, cited: _Cited, known_names: _NameIndex,
                    corpus: _Corpus) -> tuple[str, str] | None:
    words = cited.union("words")
    authors = cited.union("author_words")
    mentioned = cited.union("mentions")
    for name in said.mentions:
        if name not in authors and name not in mentioned and name not in words:
            return "person", f"@{name} is neither an author of the cited entries nor named in them"
    for name in known_names.found_in(text):
        lowered = name.lower()
        if lowered not in authors and not any(_contains_name(e.text_lower, lowered) for e in cited.entries):
            return "person", f"{name} is neither an author of the cited entries nor named in them"
    for word, initial in said.capitalised:
        lowered = word.lower().replace("’", "'")
        base = lowered[:-2] if lowered.endswith("'s") else lowered
        if lowered in COMMON_WORDS or base in COMMON_WORDS or base in _ALWAYS_ALLOWED:
            continue
        if base in words or base.rstrip("s") in words or base + "s" in words or lowered in words:
            continue
        if base in _MONTHS and _MONTHS[base] in cited.local_months:
            continue
        if initial and corpus.ordinary_word(base):
            continue
        return "person", f"{word} appears in no cited entry or author"
    return None


def _hints(lowered: str) -> Iterable[int]:
    """Where a word of _INSTRUCTION_HINTS occurs in `lowered`."""
    for hint in _INSTRUCTION_HINTS:
        at = lowered.find(hint)
        while at != -1:
            end = at + len(hint)
            if hint != " ai" or end >= len(lowered) or not lowered[end].isalpha():
                yield at + (1 if hint == " ai" else 0)
            at = lowered.find(hint, end)


def _runs(text: str) -> list[tuple[str, ...]]:
    """Every run of ECHO_WORDS consecutive words of `text`, in order."""
    words = _WORD_RE.findall(text.lower())
    return [tuple(words[i:i + ECHO_WORDS]) for i in range(len(words) - ECHO_WORDS + 1)]


def _contains_name(text: str, name: str) -> bool:
    return re.search(r"(?<![\w])" + re.escape(name) + r"(?![\w])", text) is not None


def _clock_found(clock: _Clock, cited: _Cited) -> bool:
    if clock.day is not None:  # an ISO timestamp names one instant
        zone = clock.zone if isinstance(clock.zone, tzinfo) else cited.tz
        instant = _minute(datetime.combine(clock.day, time(clock.hour, clock.minute), tzinfo=zone))
        return instant in cited.instants
    if clock.zone is None:
        return (clock.hour, clock.minute) in cited.local_clocks
    if isinstance(clock.zone, str):
        if any((clock.hour, clock.minute, clock.zone) in e.literal_clocks for e in cited.entries):
            return True
        for moment in cited.moments:
            local = moment.astimezone(cited.tz)
            if (local.hour, local.minute) == (clock.hour, clock.minute) and local.tzname() == clock.zone:
                return True
        return False
    zone = clock.zone
    return any((m.astimezone(zone).hour, m.astimezone(zone).minute) == (clock.hour, clock.minute) for m in cited.moments)


def _date_found(said: _Date, cited: _Cited) -> bool:
    def same(year: int, month: int, day: int) -> bool:
        return (said.month, said.day) == (month, day) and (said.year is None or said.year == year)

    if any(same(*_ymd(m.astimezone(cited.tz).date())) for m in cited.moments):
        return True
    return any(
        (said.month, said.day) == (d.month, d.day) and (said.year is None or d.year is None or said.year == d.year)
        for e in cited.entries
        for d in e.dates
    )


def _ymd(day: date) -> tuple[int, int, int]:
    return day.year, day.month, day.day


def _duration_found(seconds: float, cited: _Cited) -> bool:
    tolerance = DURATION_TOLERANCE.total_seconds()
    if any(abs(seconds - stated) < tolerance for e in cited.entries for stated in e.durations):
        return True
    instants = sorted({m.astimezone(UTC) for m in cited.moments})
    for i, earlier in enumerate(instants):
        for later in instants[i + 1:]:
            if abs((later - earlier).total_seconds() - seconds) < tolerance:
                return True
    return False
