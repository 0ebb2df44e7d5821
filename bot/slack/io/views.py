"""Views: opening modals."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.slack.client import deadline_client, describe_failure

log = logging.getLogger(__name__)


def open_modal(client: WebClient, *, trigger_id: str, view: dict[str, Any]) -> str | None:
    """Open a modal now (the trigger_id lives 3 seconds, so no waiting retries). None when
    it opened; otherwise what to tell the person."""
    try:
        deadline_client(client).views_open(trigger_id=trigger_id, view=view)
        return None
    except (SlackApiError, SlackClientError, OSError) as error:
        log.warning("could not open a modal: %s", describe_failure(error))
        if isinstance(error, SlackApiError) and error.response.get("error") == "expired_trigger_id":
            return "The form took too long to open; try again."
        return f"I couldn't open the form ({describe_failure(error)}); try again, or type the update as text."
