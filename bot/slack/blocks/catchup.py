"""Pure builders: the catch-up (one ephemeral message, within Slack's limits) and the
welcome that offers it to people joining an incident channel."""

from __future__ import annotations

from typing import Any

from bot.markup import neutralize_mentions
from bot.services.catchup import CatchUp, Event
from bot.slack.blocks import followups as fb
from bot.timefmt import format_duration, format_utc

CATCH_UP = "catchup_show"  # the welcome's button; its value is the incident id
MAX_BLOCKS = 50
SECTION_LIMIT = 3000
TEXT_LIMIT = 3000  # the notification/fallback text: kept short, the blocks carry the rest
EVENT_TEXT_LIMIT = 280
EVENTS_BUDGET = 12000  # characters of "what happened": about a screen and a half
Blocks = list[dict[str, Any]]


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _event_line(event: Event) -> str:
    who = f" <@{event.author}>" if event.author else ""
    body = f": {neutralize_mentions(_clip(event.text, EVENT_TEXT_LIMIT))}" if event.text else ""
    return f"`{event.at:%H:%M}` {event.icon} *{event.label}*{who}{body}"


def _chunks(lines: list[str], limit: int = SECTION_LIMIT) -> list[str]:
    """Lines packed into sections of at most `limit` characters."""
    chunks: list[str] = []
    current = ""
    for line in lines:
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit and current:
            chunks.append(current)
            current = line[:limit]
        else:
            current = candidate[:limit]
    if current:
        chunks.append(current)
    return chunks


def catch_up_message(c: CatchUp, *, command: str = "/incident", suggestion: Blocks | None = None) -> tuple[str, Blocks]:
    """Status, severity, lead, key times, what happened in order, the last update, open
    items; the oldest events give way first when it doesn't all fit, with a pointer to the timeline.
    `suggestion` (an AI draft of what is going on, bot.slack.blocks.drafts) goes above it all."""
    above = list(suggestion or [])
    status = "Open" if c.status == "open" else "Closed"
    lead = f"<@{c.lead}>" if c.lead else "no lead yet"
    summary = f"*Catching up on {c.ref}*: {neutralize_mentions(_clip(c.title, 150))}\n{status} · {c.severity or 'no severity'} · lead {lead}"
    times = " · ".join(f"{label} {format_utc(at)}" for label, at in c.key_times)
    metrics = [f"{abbr} {format_duration(c.metrics[key])}" for key, abbr in
               (("time_to_detect_s", "TTD"), ("time_to_mitigate_s", "TTM"), ("time_to_resolve_s", "TTR")) if c.metrics.get(key) is not None]
    head: Blocks = [_section(summary), _context(_clip(f"*Key times (UTC):* {times}" + (f" · {' · '.join(metrics)}" if metrics else ""), 3000))]
    tail: Blocks = []
    if c.last_status is not None:
        tail.append(_section(_clip(f"*Last update* {_event_line(c.last_status)}", SECTION_LIMIT)))
    if c.open_items:
        items = [f"• {fb.item_line(i)}" for i in c.open_items]
        packed = _chunks(["*Open action items*", *items])
        tail.append(_section(packed[0]))
        if len(packed) > 1:
            tail.append(_context(f"…and more: `{command} actions` lists all {len(c.open_items)}."))
    pointer = _context(f"Older events are left out to fit one message: `{command} timeline 50` shows more.")
    room = MAX_BLOCKS - len(above) - len(head) - len(tail) - 2  # the "what happened" title and a possible pointer
    # A catch-up is read in a minute, not scrolled: the newest events that fit EVENTS_BUDGET.
    lines: list[str] = []
    used = 0
    for event in reversed(c.events):
        line = _event_line(event)
        if used + len(line) + 1 > EVENTS_BUDGET:
            break
        lines.insert(0, line)
        used += len(line) + 1
    sections = _chunks(lines)
    cut = len(lines) < len(c.events) or len(sections) > room
    if len(sections) > room:
        sections = sections[-room:]
    body: Blocks = [_section("*What happened so far*" if c.events else "*What happened so far:* nothing marked yet beyond the key times.")]
    if cut:
        body.append(pointer)
    body.extend(_section(s) for s in sections)
    blocks = above + head + body + tail
    text = _clip(f"Catching up on {c.ref}: {c.title}. {status}, {c.severity or 'no severity'}; {len(c.events)} key events.", TEXT_LIMIT)
    assert len(blocks) <= MAX_BLOCKS
    return text, blocks


def welcome_message(ref: str, title: str, incident_id: int, command: str = "/incident") -> tuple[str, Blocks]:
    text = f"Welcome to {ref}: {neutralize_mentions(_clip(title, 150))}. I've been recording what happened here."
    return text, [
        _section(f":wave: {text}"),
        {"type": "actions", "block_id": f"catchup:{incident_id}", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Catch me up"}, "action_id": CATCH_UP, "value": str(incident_id), "style": "primary"}]},
        _context(f"Or type `{command} catchup` any time. Only you see this."),
    ]
