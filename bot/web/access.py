"""Who may see which incident, decided with Slack and cached briefly.

- a channel's privacy: `conversations.info` (`is_private`), cached PRIVACY_TTL;
- a private channel's members: `conversations.members`, cached MEMBERS_TTL;
- whether an account is still active: `users.info` (`deleted`), cached ACTIVE_TTL.

When Slack can't answer, a channel counts as private and its members as nobody: the
web view fails closed. An account's last known state is kept through a Slack outage.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from slack_sdk import WebClient

from bot.models import Incident
from bot.slack.io.channels import ChannelLookupFailed, channel_is_private, channel_members
from bot.slack.io.identity import UserLookupFailed, user_is_active

PRIVACY_TTL = 300.0
MEMBERS_TTL = 60.0
ACTIVE_TTL = 60.0

K = TypeVar("K")
V = TypeVar("V")


class TTLCache(Generic[K, V]):
    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic, max_size: int = 10_000):
        self.ttl = ttl
        self._clock = clock
        self._max = max_size
        self._values: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def get(self, key: K, *, stale: bool = False) -> V | None:
        with self._lock:
            found = self._values.get(key)
        if found is None or (not stale and self._clock() - found[0] > self.ttl):
            return None
        return found[1]

    def put(self, key: K, value: V) -> None:
        with self._lock:
            if len(self._values) >= self._max:
                self._values.clear()
            self._values[key] = (self._clock(), value)


class Access:
    def __init__(self, client_for: Callable[[str], WebClient | None], clock: Callable[[], float] = time.monotonic):
        self._client_for = client_for
        self._privacy: TTLCache[tuple[str, str], bool] = TTLCache(PRIVACY_TTL, clock)
        self._members: TTLCache[tuple[str, str], frozenset[str]] = TTLCache(MEMBERS_TTL, clock)
        self._active: TTLCache[tuple[str, str], bool] = TTLCache(ACTIVE_TTL, clock)

    def incident_is_private(self, incident: Incident) -> bool:
        """The ONE place that decides whether an incident is private: its own flag (set when it
        was started or declared), else its channel as Slack says now (a channel made private
        later, an incident recorded before the flag existed)."""
        if incident.is_private:
            return True
        key = (incident.team_id, incident.channel_id)
        known = self._privacy.get(key)
        if known is not None:
            return known
        client = self._client_for(incident.team_id)
        if client is None:
            return True
        try:
            private = channel_is_private(client, incident.channel_id)
        except ChannelLookupFailed:
            return True  # not cached: ask again next time
        self._privacy.put(key, private)
        return private

    def is_member(self, team_id: str, channel_id: str, user_id: str) -> bool:
        key = (team_id, channel_id)
        members = self._members.get(key)
        if members is None:
            client = self._client_for(team_id)
            if client is None:
                return False
            try:
                members = channel_members(client, channel_id)
            except ChannelLookupFailed:
                return False
            self._members.put(key, members)
        return user_id in members

    def may_see(self, incident: Any, user_id: str) -> bool:
        return not self.incident_is_private(incident) or self.is_member(incident.team_id, incident.channel_id, user_id)

    def visible(self, incidents: Iterable[Any], user_id: str) -> list[Any]:
        return [i for i in incidents if self.may_see(i, user_id)]

    def user_active(self, team_id: str, user_id: str, *, strict: bool = False) -> bool:
        """Not deactivated. `strict` (at sign-in) refuses when Slack can't say; otherwise
        the last known answer stands through an outage."""
        key = (team_id, user_id)
        known = self._active.get(key)
        if known is not None:
            return known
        client = self._client_for(team_id)
        if client is None:
            return False
        try:
            active = user_is_active(client, user_id)
        except UserLookupFailed:
            last = self._active.get(key, stale=True)
            return False if strict else (last if last is not None else True)
        self._active.put(key, active)
        return active
