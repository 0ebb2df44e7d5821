"""The App Home tab: published on `app_home_opened`, and again whenever what it shows
changes for someone who has opened it (bot.slack.home_tab)."""

from __future__ import annotations

from typing import Any

from slack_bolt import BoltContext
from slack_sdk import WebClient

from bot.services import home
from bot.slack.client import deadline_client
from bot.slack.home_tab import refresh_home
from bot.slack.scribe import Scribe


def on_home_opened(event: dict[str, Any], context: BoltContext, client: WebClient, scribe: Scribe) -> None:
    if event.get("tab") not in (None, "home"):
        return  # the Messages tab
    user_id = event.get("user") or ""
    team_id = context.team_id or ""
    with scribe.transaction() as session:
        home.note_opened(session, team_id=team_id, user_id=user_id, now=scribe.now())
    # Before the event's 200: calls that fail fast rather than wait out a Retry-After.
    refresh_home(scribe.session_factory, scribe.settings, scribe.clock, deadline_client(client), team_id=team_id, user_id=user_id)
