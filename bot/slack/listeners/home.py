"""The App Home tab: published on `app_home_opened`, and again whenever what it shows
changes for someone who has opened it (an action item done or snoozed, a postmortem
drafted or reviewed)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import BoltContext
from slack_sdk import WebClient

from bot.services import home
from bot.slack.app import Scribe
from bot.slack.blocks import home as home_blocks
from bot.slack.client import deadline_client
from bot.slack.io import channels, views

log = logging.getLogger(__name__)
# Channels asked about per refresh; beyond that, the record decides (home.took_part).
MEMBERSHIP_LOOKUPS = 30


def refresh_home(scribe: Scribe, client: WebClient, *, team_id: str, user_id: str) -> bool:
    """Publish the user's Home as things are now. Reads in one transaction, asks Slack
    about channel membership outside it, then builds from both."""
    now = scribe.now()
    with scribe.transaction() as session:
        channel_ids = list(dict.fromkeys(i.channel_id for i in home.candidates(session, team_id=team_id, now=now)))
    membership: dict[str, bool | None] = {}
    for channel_id in channel_ids[:MEMBERSHIP_LOOKUPS]:
        membership[channel_id] = channels.is_member(client, channel_id, user_id)
    with scribe.transaction() as session:
        facts = home.home_facts(session, team_id=team_id, user_id=user_id, membership=membership, now=now)
    return views.publish_home(client, user_id, home_blocks.home_view(facts, command=scribe.settings.command))


def refresh_if_opened(scribe: Scribe, client: WebClient, *, team_id: str, user_ids: set[str]) -> None:
    """Refresh the Home of each of these people who has ever opened it."""
    with scribe.transaction() as session:
        wanted = [u for u in sorted(user_ids) if u and home.has_home(session, team_id=team_id, user_id=u)]
    for user_id in wanted:
        refresh_home(scribe, client, team_id=team_id, user_id=user_id)


def on_home_opened(event: dict[str, Any], context: BoltContext, client: WebClient, scribe: Scribe) -> None:
    if event.get("tab") not in (None, "home"):
        return  # the Messages tab
    user_id = event.get("user") or ""
    team_id = context.team_id or ""
    with scribe.transaction() as session:
        home.note_opened(session, team_id=team_id, user_id=user_id, now=scribe.now())
    # Before the event's 200: calls that fail fast rather than wait out a Retry-After.
    refresh_home(scribe, deadline_client(client), team_id=team_id, user_id=user_id)
