"""Who people are: display names and time zones, from users.info, cached in the database.

A lookup that fails (user_not_found, Slack down) never blocks recording: callers get
None and fall back to the raw id or the configured time zone.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.models import UserProfile

log = logging.getLogger(__name__)
CACHE_FOR = timedelta(hours=12)


def profile(session: Session, client: WebClient | None, *, team_id: str, user_id: str, now: datetime) -> UserProfile | None:
    """Return the cached profile, refreshing it from users.info when stale or missing."""
    cached = session.get(UserProfile, (team_id, user_id))
    if cached is not None and now - cached.fetched_at < CACHE_FOR:
        return cached
    if client is None:
        return cached
    try:
        user = client.users_info(user=user_id)["user"]
    except (SlackApiError, SlackClientError, OSError) as error:
        reason = error.response.get("error") if isinstance(error, SlackApiError) else type(error).__name__
        log.warning("users.info failed for %s: %s", user_id, reason)
        return cached
    p = user.get("profile") or {}
    values = dict(
        display_name=p.get("display_name") or None,
        real_name=user.get("real_name") or p.get("real_name") or None,
        tz=user.get("tz") or None,
        fetched_at=now,
    )
    if cached is None:
        cached = UserProfile(team_id=team_id, user_id=user_id, **values)
        session.add(cached)
    else:
        for name, value in values.items():
            setattr(cached, name, value)
    session.flush()
    return cached


def timezone_of(session: Session, client: WebClient | None, *, team_id: str, user_id: str, now: datetime) -> ZoneInfo | None:
    found = profile(session, client, team_id=team_id, user_id=user_id, now=now)
    if found is None or not found.tz:
        return None
    try:
        return ZoneInfo(found.tz)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def display_names(session: Session, client: WebClient | None, *, team_id: str, user_ids: set[str], now: datetime) -> dict[str, str]:
    """Map user ids to the name people see in Slack (display name, else real name)."""
    names: dict[str, str] = {}
    cached = {
        p.user_id: p
        for p in session.scalars(select(UserProfile).where(UserProfile.team_id == team_id, UserProfile.user_id.in_(user_ids)))
    }
    for user_id in sorted(user_ids):
        p = cached.get(user_id)
        if p is None or now - p.fetched_at >= CACHE_FOR:
            p = profile(session, client, team_id=team_id, user_id=user_id, now=now)
        if p is not None and (p.display_name or p.real_name):
            names[user_id] = p.display_name or p.real_name  # type: ignore[assignment]
    return names
