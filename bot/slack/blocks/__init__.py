"""Pure Block Kit builders: data in, Slack JSON out, no I/O."""

from __future__ import annotations

from typing import Any


def submitted_field(view: dict[str, Any], block: str) -> dict[str, Any]:
    """The state of one input in a submitted modal whose action_id is its block_id ({} if absent)."""
    values = (view.get("state") or {}).get("values") or {}
    return (values.get(block) or {}).get(block) or {}
