"""What the Slack layer's outbox handlers share (bot.outbox.relay.Handler): how long a claim
lasts, how many attempts a kind gets, the client for each workspace, and the app's storage
and clock for the few that read or write between their Slack calls."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.models import OutboxItem
from bot.outbox.relay import Outcome


class SlackHandler:
    # Longer than the slowest perform: a few Slack calls, each retried by the client.
    lease = timedelta(minutes=5)
    max_attempts: int | None = 3
    paced = False  # posts to one channel, a second apart

    def __init__(self, *, settings: Settings, session_factory: sessionmaker[Session], client_for: Callable[[str], WebClient | None],
                 clock: Callable[[], datetime]):
        self.settings = settings
        self.session_factory = session_factory
        self.client_for = client_for
        self.clock = clock

    @staticmethod
    def not_installed(team_id: str) -> Outcome:
        """Uninstalled (or not yet reinstalled): kept and retried with backoff, like any failure."""
        return Outcome.retry(f"the app is not installed in team {team_id}")

    def record(self, session: Session, row: OutboxItem, work: Any, outcome: Outcome, *, now: datetime) -> None:
        """By default nothing beyond the row itself (its status, ts and result)."""
