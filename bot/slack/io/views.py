"""Views: modals (views.open within a trigger's 3 seconds) and the App Home (views.publish)."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.slack.client import deadline_client, describe_failure

log = logging.getLogger(__name__)


def open_modal(client: WebClient, trigger_id: str, view: dict[str, Any]) -> str | None:
    """Open a modal. None when it opened, else what to tell the person (the trigger expired…).

    A trigger_id lives 3 seconds and works once, so no retries that could outlast it.
    """
    try:
        deadline_client(client).views_open(trigger_id=trigger_id, view=view)
        return None
    except SlackApiError as error:
        code = error.response.get("error")
        log.warning("views.open failed: %s", code)
        if code in ("expired_trigger_id", "exchanged_trigger_id"):
            return "Slack took too long to let me open the form. Please try again."
        return f"I couldn't open the form ({describe_failure(error)}). Please try again."
    except (SlackClientError, OSError) as error:
        log.warning("views.open failed: %s", type(error).__name__)
        return f"I couldn't open the form ({describe_failure(error)}). Please try again."


def publish_home(client: WebClient, user_id: str, view: dict[str, Any]) -> bool:
    """Show `view` as the user's Home tab. False (logged) if Slack refused it."""
    try:
        client.views_publish(user_id=user_id, view=view)
        return True
    except (SlackApiError, SlackClientError, OSError) as error:
        log.warning("views.publish for the Home tab failed: %s", describe_failure(error))
        return False
