"""Status read back by polling (Socket Mode, or no public URL): one poll of one target,
and when to poll it next. No state here: the caller keeps `since` and `failures` (in the
database, say) and calls `poll_once` when `next_poll_at` has come.

Staying inside the rate limits:
- the interval is stretched when the tracker's rate-limit headers say few requests are
  left before the window resets (`paced_interval`);
- a short Retry-After is waited out inside the request (bounded, with the injected sleep);
  a long one moves `next_poll_at` past it;
- a tracker that is down is polled less and less often (doubling, up to `max_backoff`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .base import Tracker
from .errors import TrackerError
from .http import RateLimit
from .model import TicketState

# Requests one poll makes in the usual case (one page); used to spread what is left.
CALLS_PER_POLL = 1


@dataclass(frozen=True)
class PollResult:
    states: list[TicketState] = field(default_factory=list)
    next_since: datetime | None = None  # where the next poll starts (unchanged after an error)
    next_poll_at: datetime | None = None
    failures: int = 0  # consecutive failed polls, for the backoff
    error: TrackerError | None = None  # set when this poll failed


def paced_interval(interval: float, rate_limit: RateLimit, now: datetime, *, calls_per_poll: int = CALLS_PER_POLL,
                   reserve: float = 0.2) -> float:
    """`interval`, or longer when the remaining requests (less a reserve kept for creating
    tickets) would run out before the window resets at this pace."""
    if rate_limit.remaining is None or rate_limit.reset_at is None:
        return interval
    window = (rate_limit.reset_at - now).total_seconds()
    if window <= 0:
        return interval
    keep = int((rate_limit.limit or rate_limit.remaining) * reserve)
    usable = rate_limit.remaining - keep
    if usable < calls_per_poll:
        return max(interval, window)
    return max(interval, window / (usable / calls_per_poll))


def poll_once(tracker: Tracker, target: str, since: datetime, *, now: datetime, interval: float,
              failures: int = 0, max_backoff: float = 3600.0) -> PollResult:
    """Ask `tracker` what changed in `target` since `since`. Never raises TrackerError:
    a failure comes back in `error`, with the time to try again."""
    try:
        states = tracker.changed_since(since, target)
    except TrackerError as error:
        if error.kind == "rate_limited":
            wait = max(interval, error.retry_after or interval)
        else:
            wait = min(max_backoff, interval * 2 ** (failures + 1))
        return PollResult([], since, now + timedelta(seconds=wait), failures + 1, error)
    next_since = max([since, *(s.updated_at for s in states)])
    rate_limit = getattr(getattr(tracker, "http", None), "rate_limit", RateLimit())
    wait = paced_interval(interval, rate_limit, now)
    return PollResult(states, next_since, now + timedelta(seconds=wait), 0, None)
