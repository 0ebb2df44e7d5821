"""Render a postmortem context with a named Markdown template.

Templates live in the repository's ``templates/`` directory as
``<name>.md.j2``.  A team may point :func:`make_environment` at its own
directory, which is searched first, to add formats or override built-in
ones.  Files whose name starts with ``_`` are partials (shared macros) and
are not offered as templates.
"""

from __future__ import annotations

import re
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import jinja2

from bot.markup import blockquote, escape_inline
from bot.timefmt import format_duration, format_utc

__all__ = [
    "BUILTIN_TEMPLATE_DIR",
    "TEMPLATE_SUFFIX",
    "UnknownTemplate",
    "available_templates",
    "make_environment",
    "render_postmortem",
]

TEMPLATE_SUFFIX = ".md.j2"
def _builtin_template_dir() -> Path:
    """The repository's templates/ in a checkout or editable install; the copy that
    `pip install .` puts under <prefix>/share/incident-scribe/templates otherwise."""
    in_checkout = Path(__file__).resolve().parents[2] / "templates"
    if in_checkout.is_dir():
        return in_checkout
    return Path(sys.prefix) / "share" / "incident-scribe" / "templates"


BUILTIN_TEMPLATE_DIR = _builtin_template_dir()

_EXTRA_BLANK_LINES = re.compile(r"\n{3,}")


class UnknownTemplate(LookupError):
    """Raised for a template name that no template directory provides."""

    def __init__(self, name: str, available: list[str]) -> None:
        self.name = name
        self.available = list(available)
        listing = ", ".join(self.available) if self.available else "(none found)"
        super().__init__(f"Unknown postmortem template {name!r}. Available templates: {listing}")


def _utc_filter(value: datetime | None) -> str:
    return format_utc(value)


def _time_filter(value: datetime | None) -> str:
    return "—" if value is None else format_utc(value)[11:19]


def _date_filter(value: datetime | date | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return format_utc(value)[:10]
    return value.isoformat()


def _duration_filter(value: float | None) -> str:
    return format_duration(value)


def _md_filter(value: Any) -> str:
    # For teams' templates that print something not already escaped.
    return escape_inline(" ".join(str(value).split()))


def _pct_filter(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} %"


def _minutes_filter(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def make_environment(extra_dir: Path | None = None) -> jinja2.Environment:
    """A Jinja2 environment for Markdown postmortems.

    ``StrictUndefined`` turns a typo in a template into an error instead of
    a silently empty section; ``autoescape`` is off because the output is
    Markdown, not HTML -- escaping for Markdown already happened in
    :func:`bot.postmortem.context.build_context`.
    """
    search: list[str] = []
    if extra_dir is not None:
        search.append(str(Path(extra_dir)))
    search.append(str(BUILTIN_TEMPLATE_DIR))
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(search),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update({
        "utc": _utc_filter,
        "utc_time": _time_filter,
        "date": _date_filter,
        "duration": _duration_filter,
        "md": _md_filter,
        "pct": _pct_filter,
        "minutes": _minutes_filter,
        "quote": blockquote,
    })
    return env


def available_templates(env: jinja2.Environment) -> list[str]:
    """Template names (without ``.md.j2``) that :func:`render_postmortem` accepts."""
    names = set()
    for path in env.list_templates():
        if "/" in path or not path.endswith(TEMPLATE_SUFFIX) or path.startswith("_"):
            continue
        names.add(path[: -len(TEMPLATE_SUFFIX)])
    return sorted(names)


def render_postmortem(context: dict[str, Any], template: str, env: jinja2.Environment) -> str:
    """Render *context* with the template called *template*.

    Only names returned by :func:`available_templates` are accepted, which
    also rules out paths such as ``../secrets``.
    """
    available = available_templates(env)
    if template not in available:
        raise UnknownTemplate(template, available)
    text = env.get_template(template + TEMPLATE_SUFFIX).render(context)
    # Conditional sections leave runs of blank lines behind; one is enough
    # in Markdown and keeps diffs between versions quiet.
    text = _EXTRA_BLANK_LINES.sub("\n\n", text).strip("\n")
    return text + "\n"
