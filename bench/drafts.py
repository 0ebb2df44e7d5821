"""What AI drafts cost `/incident catchup`'s answer: none visible (issue 26).

The real app (HTTP server, SQLite) against the Slack simulator and the fake OpenAI-compatible
model server, all on 127.0.0.1. One incident of `--entries` timeline entries; `--requests`
signed `/incident catchup` commands, one after the other, each timed from sending it to
Slack's receiving the ack (which carries the fact-only catch-up). Three apps, side by
side, their requests interleaved:
- off: no SCRIBE_AI_BASE_URL (today);
- down: drafts on, the model's address refuses connections;
- slow: drafts on, the model answers after `--slow` seconds.
With drafts on the draft is asked for after the ack, on a lazy listener; what the ack pays is
Bolt starting that listener (a copy of the request). Reported: the ack's median and p95 per
app, and the medians' difference from "off".

Also measured, without the network: the prompt of an incident of 10,000 entries stays within
the token budget (SCRIBE_AI_TOKEN_BUDGET, 6,000 by default), key events first.
The grounding check's own timing is bench/grounding.py.

    python bench/drafts.py [--requests 150] [--entries 200] [--slow 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
if TYPE_CHECKING:
    from bench.harness import Bench, Row

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.config import Settings  # noqa: E402
from bot.drafting.prompt import DEFAULT_TOKEN_BUDGET, KEY_KINDS, RecordedEntry, build_prompt  # noqa: E402
from bot.runtime import Runtime  # noqa: E402
from bot.simulator.openai_compat import FakeOpenAI, slow  # noqa: E402
from bot.simulator.player import SlackPlayer  # noqa: E402
from bot.simulator.webapi import FakeSlackWebAPI  # noqa: E402
from bot.simulator.workspace import Workspace  # noqa: E402

SIGNING_SECRET = "bench-signing-secret-0123456789"
CHANNEL = "C0BENCH"
PEOPLE = ("U0ANN", "U0BOB", "U0CHI", "U0DAN")


def _percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))]


def _workspace() -> Workspace:
    workspace = Workspace()
    for user_id, name in zip(PEOPLE, ("Ann Lee", "Bob Stone", "Chi Okafor", "Dan Roe"), strict=True):
        workspace.add_user(user_id, name=name.split()[0].lower(), real_name=name, display_name=name, tz="UTC")
    workspace.add_channel(CHANNEL, name="inc-bench")
    workspace.join(CHANNEL, workspace.bot_user_id)
    return workspace


class _App:
    """One app (its own simulated Slack and SQLite file) with one incident of `entries` entries."""

    def __init__(self, name: str, *, entries: int, ai: dict[str, Any], workdir: Path):
        self.name = name
        self.api = FakeSlackWebAPI(_workspace()).start()
        settings = Settings(
            slack_bot_token="xoxb-sim-token", slack_signing_secret=SIGNING_SECRET,
            database_url=f"sqlite:///{workdir / name}.db", slack_api_url=self.api.base_url, port=0, workers=8,
            scheduler_enabled=False, **ai,
        )
        self.runtime = Runtime.start(settings, host="127.0.0.1", port=0, background=True, history_pause=lambda: None)
        self.scribe = self.runtime.app.scribe  # type: ignore[attr-defined]
        self.player = SlackPlayer(self.api.workspace, self.api, app_url=self.runtime.url, signing_secret=SIGNING_SECRET)
        self.player.after_request = lambda: self.scribe.settle(timeout=60)
        self.player.command("U0ANN", CHANNEL, "start Checkout errors sev2")
        for n in range(entries):
            if n % 10 == 0:
                self.player.command(PEOPLE[n % 4], CHANNEL, f"finding pool at {n % 97}% on db-{n % 5}")
            else:
                self.player.say(PEOPLE[n % 4], CHANNEL, f"checkout errors at {n % 37}% on web-{n % 12:02d}, ticket PAY-{1000 + n}")
        # From here only the ack is timed: the draft's work after it (if any) is not waited for.
        self.player.after_request = lambda: None

    def catch_up(self) -> float:
        """One `/incident catchup`: ms from sending it to its ack."""
        started = time.perf_counter()
        reply = self.player.command("U0BOB", CHANNEL, "catchup")
        elapsed = (time.perf_counter() - started) * 1000
        if reply.status != 200 or "Catching up on INC-1" not in reply.json().get("text", ""):
            raise RuntimeError(f"{self.name}: catch-up failed: {reply.status} {reply.body[:200]!r}")
        return elapsed

    def stop(self) -> None:
        self.scribe.settle(timeout=120)
        self.runtime.stop()
        self.api.stop()


def measure_catchup_ack(requests: int = 150, entries: int = 200, slow_seconds: float = 2.0) -> dict[str, Any]:
    """The three apps side by side, their catch-ups interleaved (in a shuffled order each
    round), so that the machine's other load falls on all three alike."""
    workdir = Path(tempfile.mkdtemp(prefix="scribe-bench-drafts-"))
    apps: list[_App] = []
    try:
        with ExitStack() as stack:
            with FakeOpenAI() as gone:
                down_url = gone.base_url  # nobody listens there once it stopped
            model = stack.enter_context(FakeOpenAI(script=slow(slow_seconds)))
            settings = {
                "off": {},
                "down": {"ai_base_url": down_url, "ai_model": "llama3.1:8b", "ai_timeout_seconds": 20.0},
                "slow": {"ai_base_url": model.base_url, "ai_model": model.model, "ai_timeout_seconds": slow_seconds * 2},
            }
            for name, ai in settings.items():
                apps.append(_App(name, entries=entries, ai=ai, workdir=workdir))
            for app in apps:  # warm up
                for _ in range(10):
                    app.catch_up()
            times: dict[str, list[float]] = {app.name: [] for app in apps}
            order = random.Random(26)
            for _ in range(requests):
                for app in order.sample(apps, len(apps)):
                    times[app.name].append(app.catch_up())
            asked = len(model.requests)
            model.stop()  # the drafts it still holds fail now, and the apps can finish
    finally:
        for app in apps:
            app.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    medians = {name: statistics.median(t) for name, t in times.items()}
    return {
        "requests": requests,
        "entries": entries,
        "catchup_ack_ms": {name: {"median": round(medians[name], 2), "p95": round(_percentile(t, 0.95), 2)}
                           for name, t in times.items()},
        "overhead_ms": {name: round(medians[name] - medians["off"], 2) for name in ("down", "slow")},
        "slow_model_seconds": slow_seconds,
        "slow_model_requests": asked,
    }


def measure_prompt(entries: int = 10_000, budget: int = DEFAULT_TOKEN_BUDGET) -> dict[str, Any]:
    """The prompt of an incident of `entries` entries: within `budget` tokens, key events kept."""
    start = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    recorded = [
        RecordedEntry(id=i + 1, incident_id=1, at=start + timedelta(seconds=5 * i), author=f"Person {i % 40}",
                      kind="decision" if i % 50 == 0 else "message",
                      text=f"checkout errors at {i % 37}% on web-{i % 12:02d} since {i % 24:02d}:{i % 60:02d}, ticket PAY-{1000 + i} "
                           + "and more detail " * (i % 20))
        for i in range(entries)
    ]
    started = time.perf_counter()
    prompt = build_prompt("catch_up", recorded, incident_id=1, budget_tokens=budget)
    elapsed = (time.perf_counter() - started) * 1000
    sent_ids = {e.id for e in prompt.sent}
    key = [e for e in recorded if e.kind in KEY_KINDS]
    return {
        "entries": entries,
        "budget_tokens": budget,
        "estimated_tokens": prompt.estimated_tokens,
        "within_budget": prompt.estimated_tokens <= budget,
        "sent": len(prompt.sent),
        "left_out": prompt.left_out,
        "key_events": len(key),
        "key_events_sent": sum(1 for e in key if e.id in sent_ids),
        "build_ms": round(elapsed, 1),
    }


def run(requests: int = 150, entries: int = 200, slow_seconds: float = 2.0) -> dict[str, Any]:
    """Everything this module measures, as one dict (for the benchmark harness)."""
    return {"catchup": measure_catchup_ack(requests, entries, slow_seconds), "prompt": measure_prompt()}


# "None visible": what drafts add to the catch-up's answer, off or down, stays under this.
OVERHEAD_TARGET_MS = 5.0


def draft_rows(bench: Bench) -> list[Row]:
    """The harness's rows (bench/run.py --only drafts): the catch-up's answer with drafts off,
    and what drafts on add to its median with the model down and with it slow; the prompt of
    10,000 entries against its token budget."""
    from bench.harness import Row

    requests = 30 if bench.quick else 150
    off = Row("catchup answer p50, drafts off", "ms")
    added = {name: Row(f"catchup answer p50, drafts on, model {name}: added", "ms", limit=OVERHEAD_TARGET_MS)
             for name in ("down", "slow")}
    tokens = Row(f"prompt of 10,000 entries: tokens (budget {DEFAULT_TOKEN_BUDGET:,})", "", limit=DEFAULT_TOKEN_BUDGET + 1)
    logging.getLogger("bot.drafting").setLevel(logging.ERROR)
    for _ in range(bench.runs):
        catchup = measure_catchup_ack(requests)
        off.values.append(catchup["catchup_ack_ms"]["off"]["median"])
        for name, row in added.items():
            row.values.append(catchup["overhead_ms"][name])
        tokens.values.append(float(measure_prompt()["estimated_tokens"]))
    return [off, *added.values(), tokens]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=150)
    parser.add_argument("--entries", type=int, default=200)
    parser.add_argument("--slow", type=float, default=2.0, help="seconds the slow model takes to answer")
    args = parser.parse_args(argv)
    logging.getLogger("bot.drafting").setLevel(logging.ERROR)  # one "no draft" line per catch-up otherwise
    print(json.dumps(run(args.requests, args.entries, args.slow), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
