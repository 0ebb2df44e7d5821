"""Pure Block Kit builder for the App Home: open incidents, your action items (Done /
Snooze buttons, the same actions as reminder DMs), postmortems awaiting review.

Slack allows 100 blocks in a Home view; each list is cut to fit, ending with an
"…and N more" line, so the view is never refused.
"""

from __future__ import annotations

from typing import Any

from bot.markup import neutralize_mentions
from bot.services.home import HomeFacts
from bot.slack.blocks import followups as fb
from bot.timefmt import format_duration

MAX_BLOCKS = 100
Blocks = list[dict[str, Any]]


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150], "emoji": True}}


def _incident_blocks(facts: HomeFacts) -> list[Blocks]:
    groups = []
    for line in facts.incidents:
        age = format_duration(max(0.0, (facts.now - line.started_at).total_seconds()))
        parts = [line.severity or "no severity", f"lead <@{line.lead}>" if line.lead else "no lead yet", f"open for {age}"]
        groups.append([_section(f"<#{line.channel_id}> *{line.ref}* {neutralize_mentions(line.title)}\n{' · '.join(parts)}")])
    return groups


def _item_blocks(facts: HomeFacts) -> list[Blocks]:
    groups = []
    for item in facts.items:
        groups.append([
            _section(fb.item_line(item) + f"\n_{item.incident_ref}_ in <#{item.channel_id}>"),
            {"type": "actions", "block_id": fb.block_id(item.id), "elements": [
                fb._button("Done", fb.DONE, item.id, "primary"),
                fb._button("Snooze 1 day", fb.SNOOZE_DAY, item.id),
                fb._button("Snooze 1 week", fb.SNOOZE_WEEK, item.id),
                *fb.ticket_buttons(item, facts.trackers.get(item.channel_id, ())),
            ]},
        ])
    return groups


def _review_blocks(facts: HomeFacts) -> list[Blocks]:
    return [[_section(f"*{r.ref}* {neutralize_mentions(r.title)} in <#{r.channel_id}> · {r.status_label} · updated {r.updated_at:%Y-%m-%d}")]
            for r in facts.reviews]


def home_view(facts: HomeFacts, *, command: str = "/incident") -> dict[str, Any]:
    lists = [
        ("Your open incidents", _incident_blocks(facts), "No open incident in your channels. Good."),
        ("Your action items", _item_blocks(facts), "You own no open action items."),
        ("Postmortems awaiting review", _review_blocks(facts), "No postmortem is waiting for review."),
    ]
    # Every list always gets its header and one line (its first entry, an empty-list note, or
    # "and N more"); the rest of the 100 blocks is shared out so that a long list never
    # crowds out the others: short lists get all they need, long ones split what is left.
    budget = MAX_BLOCKS - (3 * len(lists) + 1)  # header, divider, one line each; the footer
    needs = [sum(len(g) for g in groups) for _, groups, _ in lists]
    shares = [0] * len(lists)
    pending = sorted(range(len(lists)), key=lambda i: needs[i])
    while pending:
        index = pending.pop(0)
        shares[index] = min(needs[index], budget // (len(pending) + 1))
        budget -= shares[index]
    blocks: Blocks = []
    for index, (title, groups, empty) in enumerate(lists):
        blocks.append(_header(title))
        room, shown = shares[index] + 1, 0  # the list's own line may hold an entry too
        for group in groups:
            if len(group) > room - (1 if shown + 1 < len(groups) else 0):
                break
            blocks.extend(group)
            room -= len(group)
            shown += 1
        if not groups:
            blocks.append(_context(empty))
        elif shown < len(groups):
            blocks.append(_context(f"…and {len(groups) - shown} more."))
        if index < len(lists) - 1:
            blocks.append({"type": "divider"})
    blocks.append(_context(f"Updated {facts.now:%Y-%m-%d %H:%M} UTC · `{command} catchup` in an incident channel tells you what happened so far."))
    assert len(blocks) <= MAX_BLOCKS
    return {"type": "home", "callback_id": "scribe_home", "blocks": blocks}
