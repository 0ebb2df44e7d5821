"""A checked draft as text, with citation markers. Pure.

Markers are numbered in order of first citation across the draft ("… [1][3]"), so the same
entry keeps its number in every sentence. The caller supplies `link_for(entry_id)`, the
address of the cited Slack message or web view entry (None: a bare marker).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

from bot.drafting.drafts import Draft
from bot.markup import neutralize_mentions, slack_to_plain

__all__ = ["citation_numbers", "render_mrkdwn", "render_plain"]


def citation_numbers(draft: Draft) -> dict[int, int]:
    """entry id -> its marker number, 1 first."""
    return {entry_id: n for n, entry_id in enumerate(draft.cited_ids, start=1)}


def render_mrkdwn(draft: Draft, link_for: Callable[[int], str | None], *, max_chars: int | None = None) -> str:
    """Slack mrkdwn: the sentences, each followed by linked markers (`<url|[1]>`). The model's
    text is escaped (&, <, >) and broadcasts (@here, @channel) are broken, so a draft can
    neither format links of its own nor ping anyone. With `max_chars`, the last sentences
    are left out whole until it fits ("" if not even the first does)."""
    return _within(draft, lambda kept: _mrkdwn(kept, link_for), max_chars)


def render_plain(draft: Draft, *, max_chars: int | None = None) -> str:
    """Plain text for a form field (plain_text_input can't hold links): "… [1][3] … [2]".
    Broadcasts are broken here too, in case the text is later posted as it is. With
    `max_chars`, the last sentences are left out whole until it fits."""
    return _within(draft, _plain, max_chars)


def _within(draft: Draft, render: Callable[[Draft], str], max_chars: int | None) -> str:
    for kept in _shortened(draft):
        text = render(kept)
        if max_chars is None or len(text) <= max_chars:
            return text
    return ""


def _shortened(draft: Draft) -> Iterator[Draft]:
    """The draft, then the draft without its last sentence, and so on down to one sentence."""
    for count in range(len(draft.sentences), 0, -1):
        yield draft if count == len(draft.sentences) else replace(draft, sentences=draft.sentences[:count])


def _mrkdwn(draft: Draft, link_for: Callable[[int], str | None]) -> str:
    numbers = citation_numbers(draft)
    parts = []
    for sentence in draft.sentences:
        text = sentence.text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        markers = "".join(_marker(numbers[i], link_for(i)) for i in dict.fromkeys(sentence.cites))
        parts.append(f"{neutralize_mentions(text)} {markers}")
    return " ".join(parts)


def _plain(draft: Draft) -> str:
    numbers = citation_numbers(draft)
    return " ".join(
        slack_to_plain(sentence.text, lambda _user_id: None) + " "
        + "".join(f"[{numbers[i]}]" for i in dict.fromkeys(sentence.cites))
        for sentence in draft.sentences
    )


def _marker(number: int, url: str | None) -> str:
    if not url:
        return f"[{number}]"
    safe = url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")
    return f"<{safe}|[{number}]>"
