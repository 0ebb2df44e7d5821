"""The people directory: users.info, cached in the database, asked with no transaction open.

Reads the cache in one short transaction, asks Slack (outside any transaction) about whoever
is missing or stale, and stores the answers in a second short one (bot.services.people).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy.orm import Session, sessionmaker

from bot.db import transaction
from bot.services import people
from bot.services.people import Person

log = logging.getLogger(__name__)


def fetch_person(client: WebClient, user_id: str) -> Person | None:
    """users.info as a Person; None when Slack can't say (logged)."""
    try:
        user = client.users_info(user=user_id)["user"]
    except (SlackApiError, SlackClientError, OSError) as error:
        reason = error.response.get("error") if isinstance(error, SlackApiError) else type(error).__name__
        log.warning("users.info failed for %s: %s", user_id, reason)
        return None
    profile = user.get("profile") or {}
    return Person(
        user_id=user_id,
        display_name=profile.get("display_name") or None,
        real_name=user.get("real_name") or profile.get("real_name") or None,
        tz=user.get("tz") or None,
        email=profile.get("email") or None,
    )


class SlackDirectory:
    """bot.services.people.Directory over Slack, for one workspace's client at a time."""

    def __init__(self, session_factory: sessionmaker[Session], client_for: Callable[[str], WebClient | None],
                 clock: Callable[[], datetime]):
        self.session_factory = session_factory
        self.client_for = client_for
        self.clock = clock

    def people(self, team_id: str, user_ids: Iterable[str]) -> dict[str, Person]:
        now = self.clock()
        with transaction(self.session_factory) as session:
            found, ask = people.cached(session, team_id=team_id, user_ids=user_ids, now=now)
        client = self.client_for(team_id) if ask else None
        if client is None:
            return found
        fetched = [person for user_id in sorted(ask) if (person := fetch_person(client, user_id)) is not None]
        if fetched:
            with transaction(self.session_factory) as session:
                people.remember(session, team_id=team_id, people=fetched, now=now)
            found.update({person.user_id: person for person in fetched})
        return found
