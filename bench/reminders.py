"""The *reminders* rows: how fast 1,000 reminders that fall due at once reach a rate-limited
Slack, each exactly once, as time / the least time that rate limit allows.  target: < 1.5

The fake Slack allows chat.postMessage once per second per channel and answers 429 with
Retry-After beyond that, like Slack. Every DM goes to its owner's own IM channel, so the
floor is (reminders per channel) / rate; delivery runs channels in parallel to approach it.

    python bench/reminders.py [--count 1000] [--channels 100] [--rate 1.0]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.harness import Bench, BenchmarkError, Row  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.db import make_engine, make_session_factory, upgrade  # noqa: E402
from bot.models import ActionItem, Incident, OutboxItem  # noqa: E402
from bot.outbox.relay import Relay  # noqa: E402
from bot.simulator.webapi import FakeSlackWebAPI  # noqa: E402
from bot.simulator.workspace import Workspace  # noqa: E402
from bot.slack.client import make_client  # noqa: E402
from bot.slack.effects import slack_handlers  # noqa: E402
from bot.slack.io.people import SlackDirectory  # noqa: E402

UTC = UTC


def _seed(session_factory, *, count: int, owners: list[str], now: datetime) -> None:  # type: ignore[no-untyped-def]
    """One incident, `count` open items spread evenly over the owners, each with a DM due now."""
    with session_factory.begin() as s:
        incident = Incident(team_id="TSIM", channel_id="C0BENCH", title="Reminder benchmark", created_by=owners[0], declared_at=now - timedelta(days=3))
        s.add(incident)
        s.flush()
        items = [
            ActionItem(incident_id=incident.id, text=f"Action item {n}", owner_id=owners[n % len(owners)], created_by=owners[0],
                       due_date=now.date(), status="open", created_at=now - timedelta(days=3))
            for n in range(count)
        ]
        s.add_all(items)
        s.flush()
        s.add_all(
            OutboxItem(incident_id=incident.id, team_id="TSIM", action_item_id=item.id, kind="due", dedupe_key=f"item:{item.id}:due:{now.date().isoformat()}",
                     due_at=now - timedelta(seconds=1), status="pending", attempts=0)
            for item in items
        )


def _metadata(params: dict) -> dict:  # type: ignore[type-arg]
    value = params.get("metadata")
    return json.loads(value) if isinstance(value, str) else value


def measure_reminder_delivery(count: int = 1000, channels: int = 100, per_channel_per_second: float = 1.0) -> dict[str, float | int]:
    """Deliver `count` due reminders to `channels` owners' DMs; returns what arrived and how fast.

    delivered: reminders Slack accepted; duplicates: reminders that arrived more than once;
    seconds: wall time; floor_seconds: the least time the rate limit allows; ratio: seconds / floor.
    """
    workdir = Path(tempfile.mkdtemp(prefix="scribe-bench-"))
    workspace = Workspace()
    owners = [f"U0B{n:04d}" for n in range(channels)]
    for owner in owners:
        workspace.add_user(owner, name=owner.lower(), tz="UTC")
    workspace.add_channel("C0BENCH", name="inc-bench")
    api = FakeSlackWebAPI(workspace).start()
    try:
        api.rate_limit("chat.postMessage", per_channel_per_second)
        url = f"sqlite:///{workdir / 'bench.db'}"
        upgrade(url)
        engine = make_engine(url)
        factory = make_session_factory(engine)
        now = datetime.now(UTC)
        _seed(factory, count=count, owners=owners, now=now)
        settings = Settings(slack_bot_token=workspace.bot_token, slack_signing_secret="bench", database_url=url, slack_api_url=api.base_url)
        # Enough 429 retries for a channel's whole queue: the client waits out each Retry-After.
        client = make_client(workspace.bot_token, api.base_url, max_rate_limit_retries=10)
        clock = lambda: datetime.now(UTC)  # noqa: E731
        directory = SlackDirectory(factory, lambda team_id: client, clock)
        delivery = Relay(factory, slack_handlers(factory, settings, client_for=lambda team_id: client, directory=directory, clock=clock), clock)

        started = time.monotonic()
        report = delivery.run_due()
        seconds = time.monotonic() - started
        engine.dispose()

        # Each reminder carries its dedupe key in message metadata: count arrivals per key.
        per_message = Counter(_metadata(c.params)["event_payload"]["reminder"] for c in api.calls_to("chat.postMessage") if c.ok)
        per_channel = math.ceil(count / channels)
        floor = per_channel / per_channel_per_second
        return {
            "delivered": sum(per_message.values()),
            "unique": len(per_message),
            "duplicates": sum(n - 1 for n in per_message.values() if n > 1),
            "failed": report.failed,
            "http_429": sum(1 for c in api.calls_to("chat.postMessage") if c.status == 429),
            "seconds": round(seconds, 2),
            "floor_seconds": round(floor, 2),
            # Strictly, each channel's first message needs no wait: (n - 1) / rate.
            "strict_floor_seconds": round((per_channel - 1) / per_channel_per_second, 2),
            "ratio": round(seconds / floor, 3) if floor else float("nan"),
        }
    finally:
        api.stop()
        shutil.rmtree(workdir, ignore_errors=True)


REMINDER_RATIO_TARGET = 1.5


def reminder_rows(bench: Bench) -> list[Row]:
    count = 100 if bench.quick else 1000
    # "Close to the floor": within half again of the least time the rate limit allows.
    row = Row(f"reminders {count:,} due at once: time / floor", "x", limit=REMINDER_RATIO_TARGET)
    seconds = Row(f"reminders {count:,} due at once", "s")
    for _ in range(bench.runs):
        result = measure_reminder_delivery(count=count)
        if result["delivered"] != count or result["duplicates"]:
            raise BenchmarkError(f"reminders: {result['delivered']}/{count} delivered, {result['duplicates']} duplicates")
        seconds.values.append(result["seconds"])
        row.values.append(result["ratio"])
    row.note = f"floor from the rate limit: {result['floor_seconds']:.2f} s"
    return [seconds, row]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument("--rate", type=float, default=1.0, help="chat.postMessage per channel per second")
    args = parser.parse_args(argv)
    print(json.dumps(measure_reminder_delivery(args.count, args.channels, args.rate), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
