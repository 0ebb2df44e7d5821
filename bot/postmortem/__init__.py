"""Pure postmortem drafting: facts in, Markdown (and a PNG chart) out.

Nothing in this package reads the clock, the database or Slack; callers pass
everything in (see :mod:`bot.postmortem.facts`).  Typical use::

    ctx = build_context(incident, entries, actions, review,
                        user_name=lookup, generated_at=now, display_tz=tz)
    markdown = render_postmortem(ctx, "standard", make_environment())
"""

from bot.postmortem.blameless import DEFAULT_BLAME_PHRASES, BlameFinding, find_blame
from bot.postmortem.chart import render_timeline_chart
from bot.postmortem.context import build_context, compute_metrics
from bot.postmortem.facts import (
    ActionFact,
    EntryFact,
    FileRef,
    IncidentFacts,
    Person,
    ReviewFields,
)
from bot.postmortem.render import (
    UnknownTemplate,
    available_templates,
    make_environment,
    render_postmortem,
)
from bot.timefmt import format_duration, format_utc

__all__ = [
    "DEFAULT_BLAME_PHRASES",
    "ActionFact",
    "BlameFinding",
    "EntryFact",
    "FileRef",
    "IncidentFacts",
    "Person",
    "ReviewFields",
    "UnknownTemplate",
    "available_templates",
    "build_context",
    "compute_metrics",
    "find_blame",
    "format_duration",
    "format_utc",
    "make_environment",
    "render_postmortem",
    "render_timeline_chart",
]
