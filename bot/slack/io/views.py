"""Views: modals (views.open within a trigger's 3 seconds, views.update with the hash it gave)
and the App Home (views.publish)."""

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
    return open_modal_view(client, trigger_id, view)[1]


def open_modal_view(client: WebClient, trigger_id: str, view: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """Open a modal: (the view as Slack answered it, with its `id` and `hash`, None) when it
    opened, else (None, what to tell the person)."""
    try:
        answer = deadline_client(client).views_open(trigger_id=trigger_id, view=view)
        opened = answer.get("view")
        return (opened if isinstance(opened, dict) else {}), None
    except SlackApiError as error:
        code = error.response.get("error")
        log.warning("views.open failed: %s", code)
        if code in ("expired_trigger_id", "exchanged_trigger_id"):
            return None, "Slack took too long to let me open the form. Please try again."
        return None, f"I couldn't open the form ({describe_failure(error)}). Please try again."
    except (SlackClientError, OSError) as error:
        log.warning("views.open failed: %s", type(error).__name__)
        return None, f"I couldn't open the form ({describe_failure(error)}). Please try again."


def update_modal(client: WebClient, *, view_id: str, view_hash: str, view: dict[str, Any]) -> str:
    """Replace an open modal's view, only if it is still the version `view_hash` names.

    "updated"; "stale" when the view changed since (Slack's `hash_conflict`: someone else
    updated it, e.g. because the person started typing); "gone" when the form was closed or
    submitted (`not_found`); "failed" otherwise (logged). Never raises: the form works
    without the update.
    """
    try:
        client.views_update(view_id=view_id, hash=view_hash, view=view)
        return "updated"
    except SlackApiError as error:
        code = error.response.get("error")
        if code == "hash_conflict":
            return "stale"
        if code == "not_found":
            return "gone"
        log.warning("views.update failed: %s", describe_failure(error))
        return "failed"
    except (SlackClientError, OSError) as error:
        log.warning("views.update failed: %s", describe_failure(error))
        return "failed"


def publish_home(client: WebClient, user_id: str, view: dict[str, Any]) -> bool:
    """Show `view` as the user's Home tab. False (logged) if Slack refused it."""
    try:
        client.views_publish(user_id=user_id, view=view)
        return True
    except (SlackApiError, SlackClientError, OSError) as error:
        log.warning("views.publish for the Home tab failed: %s", describe_failure(error))
        return False
