"""Turn Slack message markup into text that is safe to embed elsewhere.

Three consumers, three functions:

* :func:`slack_to_markdown` feeds the postmortem renderer.  Whatever a user
  typed must come out as *inert* Markdown: it may render bold-looking
  asterisks as literal asterisks, but it can never open a heading, a list, a
  table cell, a code span, an HTML tag or a link that was not a real Slack
  link.  The only live constructs we emit are the ones we build ourselves
  from Slack's own ``<...>`` tokens (links to http/https/mailto URLs).
* :func:`slack_to_plain` feeds Block Kit ``plain_text`` objects: readable
  text with mentions resolved to names and nothing that could ping anyone.
* :func:`neutralize_mentions` keeps Slack ``mrkdwn`` as mrkdwn (links stay
  links) but removes everything that would notify people when the bot echoes
  user text back into a channel.

Background on Slack's wire format, which the parsing below relies on: in
message text Slack escapes exactly three characters -- ``&`` ``<`` ``>`` as
``&amp;`` ``&lt;`` ``&gt;`` -- so a raw ``<`` always starts one of its
control sequences (``<@U1>``, ``<#C1|name>``, ``<!here>``, ``<url|label>``).

Line-break policy for ``inline=True``: every line break in the source becomes
``" ⏎ "`` (space, U+23CE RETURN SYMBOL, space).  A visible symbol is used
rather than ``" / "`` because slashes are common in incident chatter (paths,
URLs, "p95/p99") and would make the joins ambiguous.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = [
    "INLINE_BREAK",
    "WORD_JOINER",
    "blockquote",
    "escape_inline",
    "neutralize_mentions",
    "safe_url",
    "slack_as_seen",
    "slack_to_markdown",
    "slack_to_plain",
]

NameLookup = Callable[[str], "str | None"]

#: What a source line break becomes in ``inline=True`` mode (see module doc).
INLINE_BREAK = " \u23ce "

#: Invisible character slipped between ``@`` and ``here`` so Slack no longer
#: recognises a broadcast.  U+2060 WORD JOINER is zero-width and, unlike a
#: zero-width space, does not introduce a line-break opportunity.
WORD_JOINER = "\u2060"

# One Slack control sequence.  Slack never puts a newline or another angle
# bracket inside one, so excluding them keeps a stray "<" from swallowing text.
_TOKEN_RE = re.compile(r"<([^<>\n]*)>")

# Characters that mean something to CommonMark/GFM wherever they appear in a
# line.  ``#``, ``+``, ``-``, ``=`` and digits only matter at the start of a
# line and are handled separately so ordinary prose stays readable.
# "$" is included because GitHub and several editors render $...$ as math.
_INLINE_SPECIAL_RE = re.compile(r"([\\`*\[\]<>|~$])")
# "_" only opens emphasis when it is not surrounded by letters/digits on both
# sides, so snake_case and :emoji_names: can stay untouched.
_UNDERSCORE_RE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")
# "&" is only special when it would start an entity reference such as "&copy;".
_AMP_ENTITY_RE = re.compile(r"&(?=#?[0-9A-Za-z]+;)")
# Anything in this class means the slow escaping path is needed at all.
_NEEDS_ESCAPE_RE = re.compile(r"[\\`*\[\]<>|~$_&]")

# Block-level markers that only bite at the start of a line: ATX headings,
# bullets, setext underlines and ordered-list numbers ("12." / "12)").
_LINE_START_RE = re.compile(r"([#+=-])|(\d{1,9})([.)])")

_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_ALLOWED_SCHEMES = frozenset({"http", "https", "mailto"})
# Characters that could end or split a link destination / autolink, or split
# a GFM table cell.  They are percent-encoded rather than escaped because
# backslash escapes do not work inside autolinks.
_URL_UNSAFE_RE = re.compile(r"[\x00-\x20\x7f<>()\[\]{}\"'\\`|^]")

_BROADCASTS = frozenset({"here", "channel", "everyone"})
_LITERAL_BROADCAST_RE = re.compile(r"@(here|channel|everyone)\b", re.IGNORECASE)
# In plain text, "<" followed by one of these would look like live markup if
# the string were ever posted as mrkdwn.
_LIVE_OPENER_RE = re.compile(r"<(?=[!@#])")
# In mrkdwn, only these openers can notify anyone; "<#C1>" is a harmless link.
_PING_OPENER_RE = re.compile(r"<(?=[!@])")


def _decode_entities(text: str) -> str:
    # Only the three entities Slack produces.  "&amp;" is decoded last so a
    # user who typed the literal text "&lt;" (sent as "&amp;lt;") gets back
    # "&lt;" and not "<".
    if "&" not in text:
        return text
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _one_line(text: str) -> str:
    """Collapse every kind of line break (incl. U+2028 etc.) into a space."""
    if not text:
        return text
    parts = text.splitlines()
    return " ".join(parts) if len(parts) > 1 else (parts[0] if parts else "")


def escape_inline(text: str) -> str:
    """Escape *text* so CommonMark/GFM renders it literally within a line.

    Does not touch line-start markers (see :func:`slack_to_markdown`) and
    does not remove line breaks; callers that need one line use
    :func:`slack_to_markdown` or collapse breaks first.
    """
    if not _NEEDS_ESCAPE_RE.search(text):
        return text  # fast path: most chat lines contain nothing special
    text = _INLINE_SPECIAL_RE.sub(r"\\\1", text)
    if "_" in text:
        text = _UNDERSCORE_RE.sub(r"\\_", text)
    if "&" in text:
        text = _AMP_ENTITY_RE.sub(r"\\&", text)
    return text


def safe_url(url: str) -> str | None:
    """Return *url* made safe for a Markdown link, or None if not allowed.

    Only http, https and mailto survive: anything else (``javascript:``,
    ``data:``, custom app schemes) could run code or leave the reader's
    expectations, and Slack itself only auto-links those three for humans.
    """
    url = url.strip()
    match = _SCHEME_RE.match(url)
    if not match or match.group(1).lower() not in _ALLOWED_SCHEMES:
        return None
    url = _URL_UNSAFE_RE.sub(lambda m: f"%{ord(m.group(0)):02X}", url)
    # "&copy;" inside a destination would be decoded as an entity by Markdown.
    url = _AMP_ENTITY_RE.sub("%26", url)
    # Anything that Python treats as a line break must not survive either.
    return _one_line(url).replace(" ", "%20")


def _clean_name(name: str) -> str:
    # Display names come from user profiles: treat them as untrusted text.
    return " ".join(_one_line(name).split())


def _lookup(fn: NameLookup | None, key: str) -> str | None:
    if fn is None or not key:
        return None
    try:
        found = fn(key)
    except Exception:  # a broken directory lookup must not break a document
        return None
    return _clean_name(found) if found else None


class _Token:
    """A parsed Slack control sequence, independent of the output format."""

    __slots__ = ("kind", "label", "value")

    def __init__(self, kind: str, value: str, label: str | None) -> None:
        self.kind = kind  # user | channel | broadcast | link | text
        self.value = value
        self.label = label


def _parse_token(body: str) -> _Token:
    """Interpret the inside of one ``<...>`` sequence."""
    value, sep, label = body.partition("|")
    label_or_none = _decode_entities(label) if sep else None
    if value.startswith("@") and len(value) > 1:
        return _Token("user", value[1:], label_or_none)
    if value.startswith("#") and len(value) > 1:
        return _Token("channel", value[1:], label_or_none)
    if value.startswith("!"):
        command, _, _ = value[1:].partition("^")
        return _Token("broadcast", command.lower() if command.lower() in _BROADCASTS else value[1:],
                      label_or_none)
    decoded = _decode_entities(value)
    if _SCHEME_RE.match(decoded):
        return _Token("link", decoded, label_or_none)
    # Not a Slack construct (e.g. a hand-typed "<b>" in a modal field):
    # keep the characters, they will be escaped like any other text.
    return _Token("text", "<" + _decode_entities(body) + ">", None)


def _broadcast_name(token: _Token) -> str:
    """Human name for a ``<!...>`` token, without the leading ``@``."""
    if token.value in _BROADCASTS:
        return token.value
    command = token.value.partition("^")[0]
    if token.label:
        # <!subteam^S1|@sre> / <!date^...|Feb 18> carry their display text.
        return token.label.lstrip("@") if command == "subteam" else token.label
    if command == "subteam":
        return token.value.partition("^")[2] or "team"
    return command


def _resolve_user(token: _Token, user_name: NameLookup | None) -> str:
    return _lookup(user_name, token.value) or _clean_name(token.label or "") or token.value


def _resolve_channel(token: _Token, channel_name: NameLookup | None) -> str:
    return _lookup(channel_name, token.value) or _clean_name(token.label or "") or token.value


def _token_to_markdown(token: _Token, user_name: NameLookup,
                       channel_name: NameLookup | None) -> str:
    if token.kind == "user":
        name = _resolve_user(token, user_name)
        return "@" + escape_inline(name.removeprefix("@"))
    if token.kind == "channel":
        return "#" + escape_inline(_resolve_channel(token, channel_name).removeprefix("#"))
    if token.kind == "broadcast":
        name = _broadcast_name(token)
        if token.value.partition("^")[0] == "date":
            return escape_inline(_one_line(name))
        return "@" + escape_inline(_one_line(name))
    if token.kind == "link":
        url = safe_url(token.value)
        label = _one_line(token.label).strip() if token.label else ""
        if url is None:
            # Disallowed scheme: keep the words the author wanted people to
            # read, never a clickable target.
            return escape_inline(label or _one_line(token.value))
        if not label:
            return "<" + url + ">"
        return "[" + escape_inline(label) + "](" + url + ")"
    return escape_inline(_one_line(token.value))


def _escape_line_start(line: str) -> str:
    """Neutralise a block marker at the very start of an assembled line."""
    match = _LINE_START_RE.match(line)
    if match is None:
        return line
    if match.group(1):
        return "\\" + line
    digits, punct = match.group(2), match.group(3)
    return digits + "\\" + punct + line[match.end():]


def _convert_line(line: str, user_name: NameLookup,
                  channel_name: NameLookup | None) -> str:
    if "<" not in line:
        return escape_inline(_decode_entities(line))
    out: list[str] = []
    pos = 0
    for match in _TOKEN_RE.finditer(line):
        if match.start() > pos:
            out.append(escape_inline(_decode_entities(line[pos:match.start()])))
        out.append(_token_to_markdown(_parse_token(match.group(1)), user_name, channel_name))
        pos = match.end()
    if pos < len(line):
        out.append(escape_inline(_decode_entities(line[pos:])))
    return "".join(out)


def slack_to_markdown(text: str, *, user_name: NameLookup,
                      channel_name: NameLookup | None = None,
                      inline: bool = True) -> str:
    """Convert Slack message markup to inert Markdown.

    ``inline=True`` (default) returns a single line -- source line breaks
    become :data:`INLINE_BREAK` -- suitable for a table cell or a bullet.
    ``inline=False`` keeps line breaks as Markdown hard breaks (a trailing
    backslash) and keeps at most one blank line between paragraphs; pass the
    result through :func:`blockquote` to quote it.

    Leading indentation is dropped in both modes: four spaces would otherwise
    turn a line into a code block.
    """
    if not text:
        return ""
    lines: list[str] = []
    for raw in text.splitlines():  # splitlines also splits on U+2028, \x0c ...
        converted = _convert_line(raw.replace("\t", " ").strip(), user_name, channel_name)
        # Strip again: a token at the start may have expanded to text with
        # leading spaces, and up to three spaces still allow "# heading".
        lines.append(converted.strip())

    if inline:
        parts = [line for line in lines if line]
        if not parts:
            return ""
        parts[0] = _escape_line_start(parts[0])
        return INLINE_BREAK.join(parts)

    # Block mode: group into paragraphs, hard-break within a paragraph.
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        if line:
            paragraphs[-1].append(_escape_line_start(line))
        elif paragraphs[-1]:
            paragraphs.append([])
    if not paragraphs[-1]:
        paragraphs.pop()
    return "\n\n".join("\\\n".join(p) for p in paragraphs)


def blockquote(markdown: str) -> str:
    """Prefix every line of *markdown* with ``> `` (blank lines get ``>``)."""
    if not markdown:
        return ""
    return "\n".join("> " + line if line else ">" for line in markdown.split("\n"))


def _silence(text: str) -> str:
    """Break literal broadcasts and angle-bracket openers in plain text."""
    if "@" in text:
        text = _LITERAL_BROADCAST_RE.sub(lambda m: "@" + WORD_JOINER + m.group(1), text)
    if "<" in text:
        text = _LIVE_OPENER_RE.sub("<" + WORD_JOINER, text)
    return text


def slack_to_plain(text: str, user_name: NameLookup,
                   channel_name: NameLookup | None = None) -> str:
    """Readable plain text for Block Kit ``plain_text`` objects.

    Mentions become ``@Name`` / ``#channel``, links become ``label (url)``,
    entities are decoded, and broadcasts come out as ``@`` + WORD JOINER +
    ``here`` so that even if the string later lands in a mrkdwn field with
    ``link_names`` on, nobody is pinged.  Line breaks are kept.

    Not for mrkdwn fields as-is: Slack would read a literal ``<`` or ``&``
    there as markup.  Use :func:`neutralize_mentions` on the original text
    for those.
    """
    # Silencing runs over the joined result so that decoded user text such as
    # "&lt;!here&gt;" and display names containing "@channel" are both caught.
    return _silence(_decode(text, lambda token: _token_to_plain(token, user_name, channel_name)))


def slack_as_seen(text: str, *, user_name: NameLookup | None = None,
                  channel_name: NameLookup | None = None) -> str:
    """Slack message markup as people read it in Slack, for showing outside it (a terminal):
    ``@name`` and ``#channel``, a link as its label (its URL when it has none), ``@here``,
    entities decoded, line breaks kept. Nothing is silenced, so never post the result back
    to Slack; use :func:`neutralize_mentions` for that."""
    return _decode(text, lambda token: _token_as_seen(token, user_name, channel_name))


def _decode(text: str, render: Callable[[_Token], str]) -> str:
    """Entities decoded and each ``<...>`` sequence replaced by ``render`` of it."""
    if not text:
        return ""
    out: list[str] = []
    pos = 0
    for match in _TOKEN_RE.finditer(text):
        if match.start() > pos:
            out.append(_decode_entities(text[pos:match.start()]))
        out.append(render(_parse_token(match.group(1))))
        pos = match.end()
    if pos < len(text):
        out.append(_decode_entities(text[pos:]))
    return "".join(out)


def _token_as_seen(token: _Token, user_name: NameLookup | None, channel_name: NameLookup | None) -> str:
    if token.kind == "link":
        return _one_line(token.label).strip() if token.label and token.label.strip() else token.value.removeprefix("mailto:")
    if token.kind == "broadcast":
        name = _broadcast_name(token)
        return name if token.value.partition("^")[0] == "date" else "@" + name
    return _token_to_plain(token, user_name, channel_name)


def _token_to_plain(token: _Token, user_name: NameLookup | None,
                    channel_name: NameLookup | None) -> str:
    if token.kind == "user":
        return "@" + _resolve_user(token, user_name).removeprefix("@")
    if token.kind == "channel":
        return "#" + _resolve_channel(token, channel_name).removeprefix("#")
    if token.kind == "broadcast":
        name = _broadcast_name(token)
        if token.value.partition("^")[0] == "date":
            return name
        return "@" + WORD_JOINER + name
    if token.kind == "link":
        target = token.value.removeprefix("mailto:")
        label = token.label
        if label and label not in (target, token.value):
            return f"{label} ({target})"
        return target
    return token.value


def neutralize_mentions(text: str, *, user_name: NameLookup | None = None) -> str:
    """Make Slack mrkdwn safe to echo back: same text, no notifications.

    * ``<!here>``, ``<!channel>``, ``<!everyone>`` and ``<!subteam^...>``
      become ``@``+WORD JOINER+name, which Slack shows but does not act on.
    * ``<@U123>`` becomes ``@name`` (via *user_name*, then the token's label,
      then the raw id), because a bot message containing a user token pings
      that user again.
    * A literal ``@here`` typed without brackets is broken the same way, in
      case the message is posted with ``link_names`` enabled.
    * Links (``<https://…|label>``) and channel references are harmless and
      kept as they are; entities stay encoded so the result is still mrkdwn.
    """
    if not text:
        return ""

    def encode(plain: str) -> str:
        return plain.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    def render(match: re.Match[str]) -> str:
        token = _parse_token(match.group(1))
        if token.kind == "user":
            return encode("@" + _resolve_user(token, user_name).removeprefix("@"))
        if token.kind == "broadcast":
            name = _broadcast_name(token)
            if token.value.partition("^")[0] == "date":
                return encode(name)
            return "@" + WORD_JOINER + encode(name)
        if token.kind == "text":
            # Not something Slack generated; show it rather than let Slack
            # guess what it means.
            return encode(token.value)
        return match.group(0)  # links and channel references

    out = _TOKEN_RE.sub(render, text)
    # A "<!" or "<@" left over (unterminated, or split by a newline) is not
    # a token today, but encoding it guarantees it never becomes one.
    out = _PING_OPENER_RE.sub("&lt;", out)
    return _LITERAL_BROADCAST_RE.sub(lambda m: "@" + WORD_JOINER + m.group(1), out)
