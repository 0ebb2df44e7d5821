"""Spot sentences in a postmortem draft that point at people.

A blameless postmortem explains how the system and the process allowed a
failure; sentences that make a person the cause push readers to hide
information next time.  This module does not judge, it only *quotes*
sentences worth a second look so the reviewer can rephrase them, e.g.
"Bob broke the deploy" -> "The deploy pipeline accepted a config that...".

Matching is deliberately simple (regular expressions, case-insensitive) so
teams can read and extend :data:`DEFAULT_BLAME_PHRASES`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["DEFAULT_BLAME_PHRASES", "BlameFinding", "find_blame"]


@dataclass(frozen=True)
class BlameFinding:
    sentence: str  # the sentence as written, Markdown escapes removed
    phrase: str  # the pattern (or "<person> <verb>" rule) that matched


#: Regular expressions (matched case-insensitively, on word boundaries) for
#: language that assigns blame regardless of who is named:
#:
#: * fault and error attributed to a person: "X's fault", "human error",
#:   "operator error", "user error", "rookie mistake";
#: * judgements of character or diligence: careless, negligent, lazy,
#:   sloppy, reckless, incompetent, "not paying attention";
#: * hindsight accusations: "should have known", "should've known",
#:   "ought to have known";
#: * idioms of blame: "screwed up", "dropped the ball", "didn't bother",
#:   "asleep at the wheel", "blame"/"blamed"/"to blame" (but not
#:   "blameless" or "no-blame").
DEFAULT_BLAME_PHRASES: tuple[str, ...] = (
    r"\w+(?:'s|s') fault",
    r"(?:his|her|their|my|your) fault",
    r"(?:human|operator|user|engineer|developer) error",
    r"rookie mistake",
    r"careless(?:ly|ness)?",
    r"negligen(?:t|tly|ce)",
    r"lazy|laziness",
    r"sloppy|sloppiness",
    r"reckless(?:ly|ness)?",
    r"incompeten(?:t|ce)",
    r"(?:was|were|wasn't|weren't|not) paying attention",
    r"should(?:'ve| have) known",
    r"ought to have known",
    r"screw(?:ed)? up|screwed the pooch",
    r"dropped the ball",
    r"(?:didn't|did not|couldn't be|could not be) bother(?:ed)?",
    r"asleep at the wheel",
    r"(?<![-\w])(?<!no )(?<!no-)(?:blame[ds]?|blaming)(?![-\w])",
)

# Verbs and phrases that make the named person the cause of the failure.
_CAUSE_VERBS = (
    r"caused", r"causes", r"cause", r"broke", r"breaks", r"broken",
    r"forgot", r"forgets", r"missed", r"misses", r"messed up", r"screwed up",
    r"failed to", r"fails to", r"neglected", r"neglects", r"ignored", r"ignores",
    r"should have", r"should've", r"shouldn't have", r"should not have",
    r"took down", r"brought down", r"knocked over", r"is responsible for",
    r"was responsible for", r"deleted", r"pushed a bad", r"introduced the bug",
)
_CAUSE_PREPOSITIONS = (r"because of", r"due to", r"thanks to", r"caused by", r"blame")

# Markdown backslash escapes (as produced by bot.markup) and inline markers
# that would otherwise split words: "Bob\'s" or "**Bob** broke".
_MD_ESCAPE_RE = re.compile(r"\\([!-/:-@\[-`{-~])")
_MD_NOISE_RE = re.compile(r"(?<!\w)[*_`]+|[*_`]+(?!\w)")
_SENTENCE_SPLIT_RE = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+|\s+\|\s+|\u23ce")
_LINE_PREFIX_RE = re.compile(r"^(?:\s*(?:>|[-*+]|\d+[.)]|#{1,6})\s+)+")


def _clean(text: str) -> str:
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    text = _MD_ESCAPE_RE.sub(r"\1", text)
    return _MD_NOISE_RE.sub("", text)


def _sentences(text: str) -> Iterable[str]:
    for piece in _SENTENCE_SPLIT_RE.split(_clean(text)):
        piece = _LINE_PREFIX_RE.sub("", piece).strip(" \t|")
        if piece:
            yield piece


def _person_patterns(people: Sequence[str]) -> list[tuple[str, re.Pattern[str]]]:
    """One pattern per person covering "<name> <cause verb>" and
    "<cause preposition> <name>", for the full name and the first name.

    Names are matched case-sensitively: a first name such as "Will" or
    "Mark" is also an ordinary word, and capitalisation is the best cheap
    signal that a person is meant.
    """
    verbs = "|".join(_CAUSE_VERBS)
    preps = "|".join(_CAUSE_PREPOSITIONS)
    patterns: list[tuple[str, re.Pattern[str]]] = []
    for person in people:
        person = " ".join(person.removeprefix("@").split())
        if not person:
            continue
        variants = {person}
        first = person.split()[0]
        if len(first) >= 3:
            variants.add(first)
        alternatives = "|".join(re.escape(v) for v in sorted(variants, key=len, reverse=True))
        name = rf"@?(?:{alternatives})(?![\w-])"
        # "(?i:...)" keeps the verbs case-insensitive while the name is not.
        # An optional possessive noun covers "Bob's deploy broke ...".
        pattern = re.compile(
            rf"(?<![\w@-]){name}(?:'s?\s+\w+)?\s+(?i:{verbs})\b"
            rf"|(?i:\b(?:{preps}))\s+{name}"
        )
        patterns.append((f"{person} as the cause", pattern))
    return patterns


def find_blame(markdown_or_texts: Iterable[str] | str,
               phrases: Sequence[str] = DEFAULT_BLAME_PHRASES,
               people: Sequence[str] = ()) -> list[BlameFinding]:
    """Quote each sentence that blames people, once, in document order.

    *markdown_or_texts* is a whole rendered document or any iterable of
    texts (e.g. the review fields).  *phrases* are regular expressions
    matched case-insensitively on word boundaries; *people* are display
    names, so sentences such as "Alice broke prod" or "because of Bob" are
    caught even without a blaming word.
    """
    texts = [markdown_or_texts] if isinstance(markdown_or_texts, str) else markdown_or_texts
    phrase_res = [(p, re.compile(rf"(?<!\w)(?:{p})(?!\w)", re.IGNORECASE)) for p in phrases]
    person_res = _person_patterns(people)

    findings: list[BlameFinding] = []
    seen: set[str] = set()
    for text in texts:
        if not text:
            continue
        for sentence in _sentences(text):
            if sentence in seen:
                continue
            hit = next((label for label, rx in person_res if rx.search(sentence)), None)
            if hit is None:
                hit = next((p for p, rx in phrase_res if rx.search(sentence)), None)
            if hit is not None:
                seen.add(sentence)
                findings.append(BlameFinding(sentence=sentence, phrase=hit))
    return findings
