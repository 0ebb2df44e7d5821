"""The outbox's heartbeat: one APScheduler interval job in every `scribe run` process.

APScheduler 3 (with its job store in our database) only provides the tick: `poll_outbox`
calls the process's relay (bot.outbox.relay), which claims and carries out whatever is due:
reminders and nudges whose time has come, retries whose backoff is over, rows a process
that died left behind. APScheduler 3 cannot coordinate one job store between processes,
so every process may poll at the same moment; correctness comes from the outbox rows and
their claims, never from the scheduler.

Missed ticks collapse into one run, and the first runs at once: whatever fell due while
every process was down goes out at start, once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from bot.outbox.relay import Relay

log = logging.getLogger(__name__)
POLLER_JOB_ID = "scribe-reminder-poller"


# Job functions must be importable by reference (the job store pickles "module:function"),
# so the job names a delivery registered in this process rather than carrying it.
_POLLERS: dict[str, OutboxPoller] = {}


def poll_outbox(name: str) -> None:
    poller = _POLLERS.get(name)
    if poller is None:
        log.warning("outbox poller %r ran but this process has no relay registered", name)
        return
    try:
        poller.relay.run_due()
    except Exception:  # the scheduler thread must survive a database blip; the next tick retries
        log.exception("outbox poll failed")
    if poller.also is not None:
        try:
            poller.also()
        except Exception:
            log.exception("the poller's other work failed")


class OutboxPoller:
    """A BackgroundScheduler with a SQLAlchemyJobStore in the app's own database."""

    def __init__(self, relay: Relay, engine: Engine, *, poll_seconds: float, name: str = "outbox",
                 also: Callable[[], None] | None = None):
        self.relay = relay
        # Work done on every tick after the outbox's (noting what this process has heard).
        self.also = also
        self.engine = engine
        self.poll_seconds = poll_seconds
        self.name = name
        self.scheduler: Any = None

    def start(self) -> None:
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
        from apscheduler.schedulers.background import BackgroundScheduler

        _POLLERS[self.name] = self
        self.scheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=self.engine)},
            timezone=UTC,
            # Missed ticks collapse into one run: the rows, not the ticks, say what is due.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self.scheduler.start()
        self.scheduler.add_job(
            poll_outbox,
            "interval",
            seconds=self.poll_seconds,
            args=[self.name],
            id=POLLER_JOB_ID,
            replace_existing=True,
            # First run at once: whatever fell due while we were down goes out on start.
            next_run_time=datetime.now(UTC),
        )
        log.info("outbox poller started (every %ss)", self.poll_seconds)

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
            self.scheduler = None
        if _POLLERS.get(self.name) is self:
            del _POLLERS[self.name]
