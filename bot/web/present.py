"""Turning stored text into safe output. Pure: no I/O.

- Markdown (postmortems) -> HTML with markdown-it-py in its `js-default` preset (raw
  HTML in the source is escaped, not passed through; `javascript:` and other unsafe link
  targets are refused), then nh3 (Rust's ammonia) keeps only an allow-list of tags and
  attributes, so even a renderer bug can't let a script through.
- Plain text (messages) -> escaped HTML with its http(s) links made clickable.
- Rows -> CSV with every cell quoted as needed, and cells that a spreadsheet would run
  as a formula (starting with = + - @, or a tab or carriage return) prefixed with '.
"""

from __future__ import annotations

import base64
import csv
import io
import re
from functools import lru_cache

import nh3
from markupsafe import Markup, escape

from bot.markup import safe_url

_ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "details", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "i", "li", "ol", "p", "pre", "s", "strong", "sub", "summary", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}
_ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "td": {"style"}, "th": {"style"}, "abbr": {"title"}, "ol": {"start"}}


@lru_cache(maxsize=1)
def _markdown() -> object:
    from markdown_it import MarkdownIt

    return MarkdownIt("js-default").enable("table").enable("strikethrough")


def markdown_to_html(markdown: str) -> Markup:
    rendered = _markdown().render(markdown)  # type: ignore[attr-defined]
    clean = nh3.clean(rendered, tags=_ALLOWED_TAGS, attributes=_ALLOWED_ATTRIBUTES, url_schemes={"http", "https", "mailto"},
                      link_rel="noopener noreferrer nofollow", filter_style_properties={"text-align"})
    return Markup(clean)


_URL = re.compile(r"https?://[^\s<>\"']+")
_TRAILING = ".,;:!?)]}"


def linkify(text: str) -> Markup:
    """Escape `text` and make its http(s) URLs links."""
    out: list[str] = []
    pos = 0
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(_TRAILING)
        end = match.start() + len(url)
        out.append(str(escape(text[pos:match.start()])))
        checked = safe_url(url)
        if checked:
            out.append(f'<a href="{escape(checked)}" rel="noopener noreferrer nofollow">{escape(url)}</a>')
        else:
            out.append(str(escape(url)))
        pos = end
    out.append(str(escape(text[pos:])))
    return Markup("".join(out))


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def to_csv(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    for row in rows:
        writer.writerow([csv_cell(cell) for cell in row])
    return buffer.getvalue()


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
