"""Publishing someone's App Home tab: read in one transaction, ask Slack about channel
membership outside it, then build from both (bot.services.home decides what it shows)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.db import transaction
from bot.services import home
from bot.slack.blocks import home as home_blocks
from bot.slack.io import channels, views

# Channels asked about per refresh; beyond that, the record decides (home.took_part).
MEMBERSHIP_LOOKUPS = 30


def refresh_home(session_factory: sessionmaker[Session], settings: Settings, clock: Callable[[], datetime], client: WebClient, *,
                 team_id: str, user_id: str) -> bool:
    """Publish the user's Home as things are now."""
    now = clock()
    with transaction(session_factory) as session:
        channel_ids = list(dict.fromkeys(i.channel_id for i in home.candidates(session, team_id=team_id, now=now)))
    membership: dict[str, bool | None] = {}
    for channel_id in channel_ids[:MEMBERSHIP_LOOKUPS]:
        membership[channel_id] = channels.is_member(client, channel_id, user_id)
    with transaction(session_factory) as session:
        facts = home.home_facts(session, team_id=team_id, user_id=user_id, membership=membership, now=now, settings=settings)
    return views.publish_home(client, user_id, home_blocks.home_view(facts, command=settings.command))


def refresh_if_opened(session_factory: sessionmaker[Session], settings: Settings, clock: Callable[[], datetime], client: WebClient, *,
                      team_id: str, user_ids: set[str]) -> None:
    """Refresh the Home of each of these people who has ever opened it."""
    with transaction(session_factory) as session:
        wanted = [u for u in sorted(user_ids) if u and home.has_home(session, team_id=team_id, user_id=u)]
    for user_id in wanted:
        refresh_home(session_factory, settings, clock, client, team_id=team_id, user_id=user_id)
