"""What a Slack message says, as one text: the rule every reader of messages uses.

Slack messages carry what they say in three places. People's messages have `text` (and
`rich_text` blocks saying the same). Integrations (PagerDuty, Opsgenie, Datadog, Grafana,
Sentry, deploy bots) often leave `text` empty or short and put the content in legacy
`attachments` or in Block Kit `blocks`; for those, `text` is the notification fallback,
often a plain rendering of the blocks. :func:`readable_text` joins them in one order:

1. the message's own `text`;
2. each attachment (not link previews): `pretext`, `title` (with its link), `text`,
   `fields` as `name: value`, its own `blocks`; `fallback` only when it has nothing else;
3. the blocks: header, section text and fields, context, rich_text (sections, lists,
   quotes, preformatted), image alt text.

Each part appears once: a part whose words are already said by another part (the usual
`text` fallback that repeats the blocks) is left out. Output is Slack mrkdwn, so links,
mentions and emoji render like those typed by people (`<url|label>`, `<@U1>`, `:fire:`).

Link previews (attachments with `from_url`/`original_url`, images with `image_url`) are
not text: :func:`links_of` returns them as links.

Nothing here raises on malformed input (wrong types, missing keys, unknown block types):
whatever is readable is returned. Limits, so a hostile or broken payload can't cost much:
- nesting deeper than MAX_DEPTH levels is not followed (Slack's own rich_text nests a few
  levels; lists indent at most 8);
- at most MAX_PARTS blocks, attachments and fields are read, and what is read out of them
  is cut at MAX_CHARS characters (the limit Slack puts on a message's text); the message's
  own `text` is kept whole.
"""

from __future__ import annotations

import re
from typing import Any

MAX_DEPTH = 12
MAX_CHARS = 40_000
MAX_PARTS = 500
MAX_LINKS = 20
TRUNCATED = " …"

_TOKEN = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")
_WORD = re.compile(r"[^\W_]+(?:[.,:/'%-][^\W_]+)*%?")


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _list(value: Any) -> list[Any]:
    return value[:MAX_PARTS] if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def escape(text: str) -> str:
    """Plain text as mrkdwn: Slack escapes exactly these three characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _text_object(value: Any) -> str:
    """A Block Kit text object (plain_text is raw, mrkdwn already escaped), or a bare string."""
    if isinstance(value, str):
        return value
    obj = _dict(value)
    text = _str(obj.get("text"))
    return escape(text) if obj.get("type") == "plain_text" else text


def _link(url: str, label: str = "") -> str:
    url = url.strip()
    if not url or any(c in url for c in "<>| \n"):
        return escape(label or url)
    return f"<{url}|{escape(label)}>" if label and label != url else f"<{url}>"


# -- rich_text -------------------------------------------------------------------------


def _rich_element(element: Any) -> str:
    """One inline element of a rich_text section."""
    el = _dict(element)
    kind = el.get("type")
    if kind == "text":
        text = escape(_str(el.get("text")))
        if _dict(el.get("style")).get("code") and text.strip():
            core = text.strip()
            return text[: len(text) - len(text.lstrip())] + f"`{core}`" + text[len(text.rstrip()):]
        return text
    if kind == "link":
        return _link(_str(el.get("url")), _str(el.get("text")))
    if kind == "user":
        uid = _str(el.get("user_id"))
        return f"<@{uid}>" if uid else ""
    if kind == "channel":
        cid = _str(el.get("channel_id"))
        return f"<#{cid}>" if cid else ""
    if kind == "usergroup":
        gid = _str(el.get("usergroup_id"))
        return f"<!subteam^{gid}>" if gid else ""
    if kind == "broadcast":
        rng = _str(el.get("range"))
        return f"<!{rng}>" if rng in {"here", "channel", "everyone"} else ""
    if kind == "emoji":
        name = _str(el.get("name"))
        return f":{name}:" if name else ""
    if kind == "date":
        return escape(_str(el.get("fallback")))
    if kind == "team":
        return escape(_str(el.get("team_id")))
    if kind == "color":
        return escape(_str(el.get("value")))
    return escape(_str(el.get("text")))


def _inline(elements: Any, depth: int) -> str:
    if depth > MAX_DEPTH:
        return ""
    out: list[str] = []
    for el in _list(elements):
        if isinstance(el, dict) and isinstance(el.get("elements"), list):
            out.append(_inline(el["elements"], depth + 1))  # a section nested where an inline was expected
        else:
            out.append(_rich_element(el))
    return "".join(out)


def _rich_text(elements: Any, depth: int) -> list[str]:
    """The lines of a rich_text block (or of a nested list/quote inside one)."""
    if depth > MAX_DEPTH:
        return []
    lines: list[str] = []
    for element in _list(elements):
        el = _dict(element)
        kind = el.get("type")
        if kind == "rich_text_list":
            ordered = el.get("style") == "ordered"
            indent_value, offset_value = el.get("indent"), el.get("offset")
            indent = indent_value if isinstance(indent_value, int) and 0 <= indent_value <= 8 else 0
            start = offset_value if isinstance(offset_value, int) and offset_value >= 0 else 0
            for n, item in enumerate(_list(el.get("elements")), start=start + 1):
                item_lines = _rich_text([item], depth + 1)
                if not any(line.strip() for line in item_lines):
                    continue  # an empty item, or one nested past MAX_DEPTH
                marker = f"{n}." if ordered else "•"
                lines.append("    " * indent + f"{marker} {item_lines[0]}".rstrip())
                lines.extend("    " * indent + "  " + line for line in item_lines[1:])
        elif kind == "rich_text_quote":
            lines.extend(f"> {line}" if line else ">" for line in _split(_inline(el.get("elements"), depth + 1)))
        elif kind == "rich_text_preformatted":
            body = _inline(el.get("elements"), depth + 1)
            if body.strip():
                lines.append(f"```{body}```")
        else:  # rich_text_section, or unknown with elements
            text = _inline(el.get("elements"), depth + 1) if "elements" in el else _rich_element(el)
            lines.extend(_split(text))
    return lines


def _split(text: str) -> list[str]:
    return text.split("\n") if text else []


# -- blocks ------------------------------------------------------------------------------


def _block(block: Any, depth: int) -> str:
    b = _dict(block)
    kind = b.get("type")
    if depth > MAX_DEPTH:
        return ""
    if kind == "header":
        text = _text_object(b.get("text"))
        return text.strip()
    if kind == "section":
        lines = [_text_object(b.get("text"))]
        lines += [_text_object(f) for f in _list(b.get("fields"))]
        accessory = _dict(b.get("accessory"))
        if accessory.get("type") == "button" and _str(accessory.get("url")):
            lines.append(_link(_str(accessory["url"]), _text_object(accessory.get("text"))))
        return "\n".join(line for line in lines if line.strip())
    if kind == "context":
        parts = [_text_object(e) if _dict(e).get("type") in {"mrkdwn", "plain_text"} else escape(_str(_dict(e).get("alt_text")))
                 for e in _list(b.get("elements"))]
        return " ".join(p for p in parts if p.strip())
    if kind == "rich_text":
        return "\n".join(_rich_text(b.get("elements"), depth + 1)).strip("\n")
    if kind == "image":
        title = _text_object(b.get("title")) or escape(_str(b.get("alt_text")))
        return title
    if kind == "markdown":
        return _str(b.get("text"))
    if kind == "video":
        return _text_object(b.get("title"))
    if kind == "actions":
        links = [_link(_str(_dict(e).get("url")), _text_object(_dict(e).get("text"))) for e in _list(b.get("elements")) if _str(_dict(e).get("url"))]
        return " · ".join(links)
    # divider, input, file and unknown types say nothing readable, unless they carry text.
    return _text_object(b.get("text")) if kind not in {"divider", "input", "file"} else ""


def _blocks(blocks: Any, depth: int = 0) -> list[str]:
    return [text for text in (_block(b, depth) for b in _list(blocks)) if text.strip()]


# -- attachments -----------------------------------------------------------------------


def is_link_preview(attachment: dict[str, Any]) -> bool:
    """An unfurl Slack made of a pasted link (not something the poster wrote)."""
    return bool(_str(attachment.get("from_url")) or _str(attachment.get("original_url")) or attachment.get("is_app_unfurl"))


def _attachment(attachment: dict[str, Any], depth: int) -> list[str]:
    parts: list[str] = []
    if _str(attachment.get("pretext")).strip():
        parts.append(attachment["pretext"])
    title = _str(attachment.get("title")).strip()
    if title:
        link = _str(attachment.get("title_link"))
        parts.append(f"<{link}|{title}>" if link and not any(c in link for c in "<>| \n") else title)
    if _str(attachment.get("text")).strip():
        parts.append(attachment["text"])
    fields = []
    for field in _list(attachment.get("fields")):
        f = _dict(field)
        name, value = _str(f.get("title")).strip(), _str(f.get("value")).strip()
        if name and value:
            fields.append(f"{name}: {value}")
        elif name or value:
            fields.append(name or value)
    if fields:
        parts.append("\n".join(fields))
    parts += _blocks(attachment.get("blocks"), depth + 1)
    if not parts and _str(attachment.get("fallback")).strip():
        parts.append(attachment["fallback"])
    return parts


# -- one part each ---------------------------------------------------------------------


def _words(text: str) -> str:
    """A part's words, for telling whether another part already says them."""

    def label(match: re.Match[str]) -> str:
        target, shown = match.group(1), match.group(2)
        if shown:
            return f" {shown} "
        return f" {target.lstrip('@#!')} "

    text = _TOKEN.sub(label, text).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    # Words only: formatting (*bold*, `code`, > quotes, list markers) and spacing differ
    # between a message's `text` and the rendering of its blocks.
    return " ".join(_WORD.findall(text.casefold()))


def _said(words: str, by: str) -> bool:
    """Whether `by` says all of `words`, whole words in order ("ok" is not in "broken")."""
    return bool(words) and f" {words} " in f" {by} "


def _covered(words: str, by: str) -> bool:
    """Whether (nearly) every word of `words` is among the words of `by`."""
    tokens = words.split()
    if not tokens:
        return True
    pool = set(by.split())
    return sum(t in pool for t in tokens) >= 0.8 * len(tokens)


def _typed_by_a_person(msg: dict[str, Any]) -> bool:
    """A person's message from a Slack client: `text` plus the same words as rich_text only."""
    if msg.get("bot_id") or msg.get("subtype") == "bot_message":
        return False
    attachments = msg.get("attachments")
    if attachments and not (isinstance(attachments, list) and all(isinstance(a, dict) and is_link_preview(a) for a in attachments)):
        return False
    blocks = msg.get("blocks")
    return not blocks or (isinstance(blocks, list) and all(isinstance(b, dict) and b.get("type") == "rich_text" for b in blocks))


def readable_text(message: Any) -> str:
    """Everything readable that a message says, in mrkdwn (see the module docstring)."""
    msg = _dict(message)
    own = _str(msg.get("text")).strip()
    if own and _typed_by_a_person(msg):
        return own  # its rich_text says what `text` says; reading both costs 4× on every message
    attachments: list[str] = []
    for attachment in _list(msg.get("attachments")):
        if isinstance(attachment, dict) and not is_link_preview(attachment):
            attachments += _attachment(attachment, 0)
    blocks = _blocks(msg.get("blocks"))

    # With blocks, Slack shows the blocks and uses `text` as the notification fallback,
    # usually a plain rendering of them: keep one. A person's rich_text says what `text`
    # says (with their formatting), so then `text` stays; a bot's short fallback whose
    # words the blocks and attachments all say goes.
    if own and blocks:
        own_words, block_words = _words(own), _words("\n".join(blocks))
        if _said(block_words, own_words):
            blocks = []
        elif _covered(own_words, _words("\n".join(attachments + blocks))):
            own = ""
    elif own and attachments and _covered(_words(own), _words("\n".join(attachments))):
        own = ""
    kept: list[str] = []
    kept_words: list[str] = []
    candidates = ([own] if own else []) + attachments + blocks
    all_words = [_words(c) for c in candidates]
    for i, (part, words) in enumerate(zip(candidates, all_words, strict=True)):
        if not words:
            continue
        # Said already, or said in full by a later, fuller part: leave this one out.
        if any(_said(words, w) for w in kept_words) or any(_said(words, w) and w != words for w in all_words[i + 1 :]):
            continue
        kept.append(part.strip("\n"))
        kept_words.append(words)
    # The message's own text is kept whole, as it always was; what is read out of its
    # attachments and blocks is cut at MAX_CHARS.
    head = kept.pop(0) if kept and own and kept[0] == own.strip("\n") else None
    derived = "\n".join(kept)
    if len(derived) > MAX_CHARS:
        derived = derived[: MAX_CHARS - len(TRUNCATED)].rstrip() + TRUNCATED
    return "\n".join(p for p in (head, derived) if p)


def links_of(message: Any) -> tuple[dict[str, str], ...]:
    """Link previews and images of a message: `url`, `title`, and `image_url` where there is one.

    A pasted link's unfurl (`from_url`/`original_url`) and an attachment's image
    (`image_url`, e.g. a Grafana panel) are links, so drafts can show them as links.
    """
    found: list[dict[str, str]] = []
    seen: set[str] = set()
    for attachment in _list(_dict(message).get("attachments")):
        a = _dict(attachment)
        preview = is_link_preview(a)
        url = _str(a.get("original_url")) or _str(a.get("from_url")) if preview else ""
        url = url or (_str(a.get("title_link")) if preview else "")
        # image_url is the picture itself (a graph); thumb_url is an avatar or icon: not kept.
        image = _str(a.get("image_url"))
        url = url or image
        if not url or url in seen or not url.startswith(("http://", "https://")):
            continue
        seen.add(url)
        title = (_str(a.get("title")) or _str(a.get("service_name")) or _str(a.get("fallback")) or url).strip()
        link = {"url": url, "title": " ".join(title.split())[:300]}
        if image and image != url and image.startswith(("http://", "https://")):
            link["image_url"] = image
        found.append(link)
        if len(found) >= MAX_LINKS:
            break
    return tuple(found)
