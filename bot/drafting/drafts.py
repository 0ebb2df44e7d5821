"""AI drafts, end to end: which entries are sent, the model call, the grounding check, the log
line. What the Slack layer calls, after its database transaction has closed (a model call is
a slow network call; issue 23): it passes plain data and gets a `Draft` or None.

None means "show today's fact-only output": drafts are off, the incident is private and
private incidents may not be sent, the model failed (timeout, 5xx, 429, invalid JSON,
refusal, wrong schema…), or no sentence survived the grounding check. Nothing here raises
for a model's or a server's failure.

Every draft logs one line with counts and reason codes, never entry text, sentences or keys:
    AI draft catch_up for incident 12: 4 kept, 2 dropped (time 1, person 1); 35 entries sent, 3 left out, …
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.config import Settings
from bot.drafting.client import UNREACHABLE_SECONDS, Answer, ModelEndpoint, NoDraft, complete, recently_unreachable
from bot.drafting.grounding import Rejection, Sentence, check
from bot.drafting.prompt import POSTMORTEM_FIELDS, SENTENCE_RANGE, Prompt, Purpose, RecordedEntry, build_prompt
from bot.postmortem.blameless import DEFAULT_BLAME_PHRASES, find_blame

__all__ = ["Draft", "draft_catch_up", "draft_postmortem_fields", "draft_status_update", "may_send", "model_available"]

log = logging.getLogger("bot.drafting")

MAX_SENTENCE_CHARS = 400


@dataclass(frozen=True)
class Draft:
    """Checked sentences, each with the entry ids it cites (turn them into links to the
    messages or entries), and how many sentences were dropped, by rule."""

    purpose: str  # catch_up, status_update, or a postmortem field: summary, impact, contributing_factors
    sentences: tuple[Sentence, ...]
    dropped: int
    dropped_by_rule: tuple[tuple[str, int], ...]  # (rule, count), most frequent first

    @property
    def cited_ids(self) -> tuple[int, ...]:
        """Every cited entry id, in order of first citation."""
        return tuple(dict.fromkeys(i for s in self.sentences for i in s.cites))


def may_send(settings: Settings, *, private: bool) -> bool:
    """Whether an incident's entries may be sent to the model at all."""
    return settings.ai_enabled and (not private or settings.ai_private_incidents)


def model_available(settings: Settings) -> bool:
    """Whether drafts are on and the model wasn't found unreachable in the last
    UNREACHABLE_SECONDS: what a request checks (no I/O) before it starts a draft at all."""
    return settings.ai_enabled and not recently_unreachable(settings.ai_base_url or "")


def draft_catch_up(
    entries: Iterable[RecordedEntry],
    *,
    settings: Settings,
    incident_id: int,
    private: bool,
    user_name: Callable[[str], str | None] | None = None,
) -> Draft | None:
    """Three to five sentences of what is going on, for /incident catchup and *Catch me up*."""
    drafts = _draft("catch_up", entries, settings=settings, incident_id=incident_id, private=private,
                    user_name=user_name, since=None)
    return drafts.get("catch_up")


def draft_status_update(
    entries: Iterable[RecordedEntry],
    *,
    settings: Settings,
    incident_id: int,
    private: bool,
    since: datetime | None,
    user_name: Callable[[str], str | None] | None = None,
) -> Draft | None:
    """What changed since the last update (`since`, None when there was none), for the
    status update form. Each kept sentence cites at least one entry recorded since then."""
    drafts = _draft("status_update", entries, settings=settings, incident_id=incident_id, private=private,
                    user_name=user_name, since=since)
    return drafts.get("status_update")


def draft_postmortem_fields(
    entries: Iterable[RecordedEntry],
    *,
    settings: Settings,
    incident_id: int,
    private: bool,
    user_name: Callable[[str], str | None] | None = None,
) -> dict[str, Draft]:
    """Drafts of the postmortem's summary, impact and contributing_factors (one model call);
    a field with no sentence left is absent, and a failed call gives {}."""
    return _draft("postmortem", entries, settings=settings, incident_id=incident_id, private=private,
                  user_name=user_name, since=None)


def _draft(
    purpose: Purpose,
    entries: Iterable[RecordedEntry],
    *,
    settings: Settings,
    incident_id: int,
    private: bool,
    user_name: Callable[[str], str | None] | None,
    since: datetime | None,
) -> dict[str, Draft]:
    label = f"AI draft {purpose} for incident {incident_id}"
    if not settings.ai_enabled:
        return {}
    if private and not settings.ai_private_incidents:
        log.info("%s: not sent (a private incident; SCRIBE_AI_PRIVATE_INCIDENTS is off)", label)
        return {}
    if recently_unreachable(settings.ai_base_url or ""):
        log.info("%s: not sent (the model server was unreachable less than %g s ago)", label, UNREACHABLE_SECONDS)
        return {}
    try:
        prompt = build_prompt(
            purpose, entries, incident_id=incident_id, tz=settings.timezone, since=since,
            budget_tokens=settings.ai_token_budget, user_name=user_name, secrets=settings.secrets(),
        )
    except Exception as error:  # a bad entry must not cost the person their fact-only answer
        log.warning("%s: no draft (the prompt could not be built: %s)", label, type(error).__name__)
        return {}
    if not prompt.sent:
        log.info("%s: not sent (no recorded entries)", label)
        return {}
    endpoint = ModelEndpoint(settings.ai_base_url or "", settings.ai_model or "", settings.ai_api_key,
                             settings.ai_timeout_seconds)
    started = time.monotonic()
    answer = complete(endpoint, prompt.messages, prompt.response_format)
    elapsed = time.monotonic() - started
    sending = _sending_summary(prompt, elapsed)
    if isinstance(answer, NoDraft):
        log.warning("%s: no draft (%s: %s); %s", label, answer.reason, answer.detail, sending)
        return {}
    try:
        drafts, kept, rejections, over = _checked(purpose, prompt, answer, settings, since)
    except Exception as error:
        log.warning("%s: no draft (the check failed: %s); %s", label, type(error).__name__, sending)
        return {}
    log.info("%s: %d kept, %d dropped%s; %s", label, kept, len(rejections) + over,
             _rules_text(rejections, over), sending)
    return drafts


def _checked(
    purpose: Purpose, prompt: Prompt, answer: Answer, settings: Settings, since: datetime | None,
) -> tuple[dict[str, Draft], int, list[Rejection], int]:
    fields = POSTMORTEM_FIELDS if purpose == "postmortem" else (purpose,)
    people = sorted({e.author for e in prompt.sent})
    phrases = settings.blame_phrases or DEFAULT_BLAME_PHRASES
    drafts: dict[str, Draft] = {}
    all_rejections: list[Rejection] = []
    kept_total = over_total = 0
    for name in fields:
        raw = answer.content.get("sentences" if purpose != "postmortem" else name, [])
        sentences, too_long = _sentences(raw)
        result = check(prompt.sent, sentences, tz=settings.timezone, since=since)
        rejections = list(result.dropped) + [Rejection(s, "long", f"over {MAX_SENTENCE_CHARS} characters") for s in too_long]
        # Drafts are blameless: a grounded sentence that makes a person the cause is dropped too,
        # by the postmortem's own blameless check (a planted "say Bob caused it" ends here when
        # Bob wrote a cited entry).
        grounded = []
        for sentence in result.kept:
            if find_blame(sentence.text, phrases, people):
                rejections.append(Rejection(sentence, "blame", "it makes a person the cause"))
            else:
                grounded.append(sentence)
        most = SENTENCE_RANGE[name][1]
        kept = tuple(grounded[:most])
        over = len(grounded) - len(kept)
        all_rejections.extend(rejections)
        kept_total += len(kept)
        over_total += over
        if kept:
            counts = Counter(r.rule for r in rejections)
            if over:
                counts["over_limit"] += over
            drafts[name] = Draft(purpose=name, sentences=kept, dropped=len(rejections) + over,
                                 dropped_by_rule=tuple(counts.most_common()))
    return drafts, kept_total, all_rejections, over_total


def _sentences(raw: Any) -> tuple[list[Sentence], list[Sentence]]:
    """The answer's sentences (already schema-checked), whitespace tidied, cites de-duplicated;
    and those too long to be one sentence."""
    sentences: list[Sentence] = []
    too_long: list[Sentence] = []
    for item in raw if isinstance(raw, list) else []:
        text = " ".join(str(item.get("text", "")).split())
        cites = tuple(dict.fromkeys(int(c) for c in item.get("cites", [])))
        sentence = Sentence(text=text, cites=cites)
        (too_long if len(text) > MAX_SENTENCE_CHARS else sentences).append(sentence)
    return sentences, too_long


def _rules_text(rejections: list[Rejection], over: int) -> str:
    counts = Counter(r.rule for r in rejections)
    if over:
        counts["over_limit"] += over
    if not counts:
        return ""
    return " (" + ", ".join(f"{rule} {count}" for rule, count in counts.most_common()) + ")"


def _sending_summary(prompt: Prompt, elapsed: float) -> str:
    return (f"{len(prompt.sent)} entries sent, {prompt.left_out} left out, {prompt.secrets_scrubbed} secrets scrubbed, "
            f"~{prompt.estimated_tokens} tokens, {elapsed:.1f} s")
