"""Optional AI drafts grounded in the recorded timeline (issue 26; docs/ai-drafts.md).

No Slack and no database here: the caller reads the entries (in its transaction), closes the
transaction, then calls `draft_catch_up`, `draft_status_update` or `draft_postmortem_fields`
with plain `RecordedEntry` values, and renders what comes back with `render_mrkdwn` or
`render_plain`. Modules: `grounding` (the check, pure), `prompt` (the messages, pure),
`scrub` (secrets, pure), `client` (the HTTP call), `drafts` (the orchestration), `render`.
"""

from bot.drafting.drafts import Draft, draft_catch_up, draft_postmortem_fields, draft_status_update, may_send, model_available
from bot.drafting.grounding import GroundingResult, Rejection, Sentence, SentEntry, check
from bot.drafting.prompt import RecordedEntry
from bot.drafting.render import citation_numbers, render_mrkdwn, render_plain

__all__ = [
    "Draft",
    "GroundingResult",
    "RecordedEntry",
    "Rejection",
    "SentEntry",
    "Sentence",
    "check",
    "citation_numbers",
    "draft_catch_up",
    "draft_postmortem_fields",
    "draft_status_update",
    "may_send",
    "model_available",
    "render_mrkdwn",
    "render_plain",
]
