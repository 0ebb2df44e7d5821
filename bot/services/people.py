"""Who people are: display names, time zones and emails, as Slack says (users.info), cached.

Services never ask Slack themselves. The Slack layer implements `Directory` (with a cache in
`user_profiles`, bot.slack.io.people) and is asked before a transaction opens; the service
then gets the answer as plain data (`Person`). Where nobody asked beforehand (a page of the
web view), services read what the cache already holds (`cached`).

A lookup that fails (user_not_found, Slack down) never blocks anything: the person is then
missing from the answer, and callers fall back to the raw id or the configured time zone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db import insert_ignoring_duplicates
from bot.models import UserProfile

CACHE_FOR = timedelta(hours=12)


@dataclass(frozen=True)
class Person:
    user_id: str
    display_name: str | None = None
    real_name: str | None = None
    tz: str | None = None
    email: str | None = None

    @property
    def name(self) -> str | None:
        """The name people see in Slack: display name, else real name."""
        return self.display_name or self.real_name

    @property
    def zone(self) -> ZoneInfo | None:
        if not self.tz:
            return None
        try:
            return ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError):
            return None


class Directory(Protocol):
    """Looks people up (the Slack layer's users.info, cached). Call it with no transaction open."""

    def people(self, team_id: str, user_ids: Iterable[str]) -> dict[str, Person]: ...


def _person(row: UserProfile) -> Person:
    return Person(row.user_id, row.display_name, row.real_name, row.tz, row.email)


def cached(session: Session, *, team_id: str, user_ids: Iterable[str], now: datetime) -> tuple[dict[str, Person], set[str]]:
    """What the cache holds about these people, and which of them to ask Slack about again
    (missing, or older than CACHE_FOR). Stale entries are still in the answer."""
    wanted = {u for u in user_ids if u}
    if not wanted:
        return {}, set()
    rows = session.scalars(select(UserProfile).where(UserProfile.team_id == team_id, UserProfile.user_id.in_(wanted))).all()
    found = {row.user_id: _person(row) for row in rows}
    fresh = {row.user_id for row in rows if now - row.fetched_at < CACHE_FOR}
    return found, wanted - fresh


def remember(session: Session, *, team_id: str, people: Iterable[Person], now: datetime) -> None:
    """Store what Slack just said about these people. Two requests looking the same person up
    at once both store them: the row is inserted once (ON CONFLICT DO NOTHING), then updated."""
    for person in people:
        values = dict(display_name=person.display_name, real_name=person.real_name, tz=person.tz, email=person.email, fetched_at=now)
        if insert_ignoring_duplicates(session, UserProfile, dict(team_id=team_id, user_id=person.user_id, **values),
                                      ["team_id", "user_id"]):
            continue
        row = session.get(UserProfile, (team_id, person.user_id))
        if row is not None:
            for name, value in values.items():
                setattr(row, name, value)
    session.flush()


def names_of(found: Mapping[str, Person]) -> dict[str, str]:
    """User id → the name people see, for those who have one."""
    return {user_id: person.name for user_id, person in found.items() if person.name}


def zone_of(found: Mapping[str, Person], user_id: str) -> ZoneInfo | None:
    person = found.get(user_id)
    return person.zone if person is not None else None


def cached_names(session: Session, *, team_id: str, user_ids: Iterable[str], now: datetime) -> dict[str, str]:
    """Display names from the cache alone (uncached people are left out)."""
    return names_of(cached(session, team_id=team_id, user_ids=user_ids, now=now)[0])


class NameBook:
    """Names for one transaction: what was looked up in Slack beforehand, else the cache.
    Whoever it couldn't name (never looked up, or stale) is noted in `missing`, so a caller
    can ask Slack about them with the transaction closed and read again."""

    def __init__(self, *, known: Mapping[str, Person] | None = None, now: datetime):
        self.known = dict(known or {})
        self.now = now
        self.missing: set[str] = set()

    def names(self, session: Session, team_id: str, user_ids: Iterable[str]) -> dict[str, str]:
        wanted = {u for u in user_ids if u}
        found = {u: self.known[u] for u in wanted if u in self.known}
        if wanted - set(found):
            from_cache, stale = cached(session, team_id=team_id, user_ids=wanted - set(found), now=self.now)
            found.update(from_cache)
            self.missing |= stale
        return names_of(found)
