"""Pure Block Kit builders: data in, Slack JSON out, no I/O."""

from __future__ import annotations

from typing import Any

# The suffix of an input block that holds an AI draft (bot.slack.blocks.drafts): a new
# block_id, same action_id.
DRAFTED = "_draft"


def submitted_field(view: dict[str, Any], block: str) -> dict[str, Any]:
    """The state of one input in a submitted modal whose action_id is its block_id, or of
    the draft put into it ({} if absent)."""
    values = (view.get("state") or {}).get("values") or {}
    return (values.get(block) or values.get(block + DRAFTED) or {}).get(block) or {}
