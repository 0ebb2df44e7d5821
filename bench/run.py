"""Incident Scribe benchmarks: `make bench` (or `.venv/bin/python bench/run.py`).

Runs the chosen targets, each over --runs runs (median, min, max), prints their table and
exits 1 if any target is missed. Each target is a module of its own, which says exactly how
it measures; they share bench/harness.py and nothing else:

  ack       p50/p99 time to the HTTP answer for signed message events and `/incident note`
            commands sent to a real `scribe run` process, at 1, 10 and 50 concurrent senders.
            Every write is committed before the answer; afterwards the database must hold
            every one of them (bench/ack.py).                       target: p99 < 100 ms at 50
  ingest    message events per second recorded durably by `scribe run`, next to a
            do-nothing Bolt app (bench/floor.py) on the same HTTP server, same load
            generator, same run; SQLite and PostgreSQL (bench/ingest.py). target: ratio >= 0.7
  draft     loading an incident of 10,000 messages and drafting its postmortem
            (bench/draft.py).                                        target: < 1 s
  reminders delivering 1,000 reminders due at once (bench/reminders.py) to a fake Slack that
            allows 1 message per second per channel and answers 429 beyond it: time / the
            least time that rate limit allows.                       target: < 1.5
  memory    peak RSS of `scribe run` after 100 open incidents with 1,000 messages each,
            sent over HTTP (bench/memory.py).                        target: < 150 MB
  socket    Socket Mode: ack p99 at 50 envelopes in flight (target < 100 ms), and ingestion
            next to the do-nothing Bolt app over the same socket simulator (target >= 0.7)
            (bench/socket_mode.py).
  web       p99 of GET / and GET /incidents/<ref> (signed in) from `scribe run` with 10,000
            incidents and an incident of 10,000 messages, SQLite and PostgreSQL
            (bench/web.py).                                          target: < 200 ms
  stats     `/incident stats last 365d` over 10,000 incidents, SQLite and PostgreSQL
            (bench/stats.py).                                        target: < 1 s
  slow_slack other channels' ack p50/p99 while every Slack call made for one channel takes
            2.5 s (join, users.info, posts, uploads), HTTP and Socket Mode, SQLite and
            PostgreSQL (bench/slow_slack.py).                        target: p99 < 100 ms
  grounding the grounding check of a six-sentence AI draft over an incident of 10,000 entries
            (bench/grounding.py).                                    target: p95 < 100 ms
  drafts    `/incident catchup`'s answer with AI drafts off, and what drafts on add to it with
            the model down and with it taking 2 s, three apps side by side; the prompt of
            10,000 entries against its token budget (bench/drafts.py). target: < 5 ms added
  trackers  100 action items' tickets made across Jira, GitHub and Linear simulators with
            realistic latency and rate limits: time over the floor those limits allow; and
            the ack of commands that ask for tickets while every tracker takes 2 s, SQLite and
            PostgreSQL (bench/trackers.py).             target: <= 1.3, ack p99 < 1 s

Everything runs on 127.0.0.1: Slack is the local simulator (bot/simulator), the servers
are subprocesses on free ports, databases are temporary (SQLite in a temp dir; PostgreSQL
in a database created and dropped here). Subprocesses and temp dirs are cleaned up on
any exit. With --profile, a pyinstrument profile of the server is saved under bench/out/
for every target missed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import ack, draft, drafts, grounding, ingest, memory, reminders, slow_slack, socket_mode, stats, trackers, web  # noqa: E402
from bench.harness import DEFAULT_POSTGRES_URL, OUT_DIR, Bench, Row, render_table  # noqa: E402

# The targets `--only` names, in the order a full run measures them. A new target is a
# module under bench/ that builds on bench.harness, and one line here.
BENCHMARKS: dict[str, Callable[[Bench], list[Row]]] = {
    "ack": ack.ack_rows,
    "ingest": lambda bench: ingest.ingest_rows(bench, "sqlite") + ingest.ingest_rows(bench, "postgresql"),
    "draft": draft.draft_rows,
    "reminders": reminders.reminder_rows,
    "memory": memory.memory_rows,
    "socket": socket_mode.socket_rows,
    "web": lambda bench: web.web_rows(bench, "sqlite") + web.web_rows(bench, "postgresql"),
    "stats": lambda bench: stats.stats_rows(bench, "sqlite") + stats.stats_rows(bench, "postgresql"),
    "slow_slack": lambda bench: slow_slack.slow_slack_rows(bench, "sqlite") + slow_slack.slow_slack_rows(bench, "postgresql"),
    "grounding": grounding.grounding_rows,
    "drafts": drafts.draft_rows,
    "trackers": lambda bench: trackers.tracker_rows(bench, "sqlite") + trackers.tracker_rows(bench, "postgresql"),
}


def profile_missed(bench: Bench, rows: Sequence[Row]) -> list[Path]:
    """Re-run each missed benchmark once with pyinstrument on; return the HTML reports
    (the server's ones also have a .txt next to them)."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    missed = [row.name.split()[:2] for row in rows if row.met is False and row.values]
    saved: list[Path] = []
    if any(kind == "ack" for kind, _ in missed):
        saved.append(OUT_DIR / "ack-server.html")
        ack.measure_ack(bench, profile_to=saved[-1])
    for backend in sorted({detail.rstrip(":") for kind, detail in missed if kind == "ingest"}):
        saved.append(OUT_DIR / f"ingest-{backend}-server.html")
        ingest.profile_ingest(bench, backend, saved[-1])
    if any(kind == "memory:" for kind, _ in missed):
        saved.append(OUT_DIR / "memory-server.html")
        memory.measure_memory(bench, profile_to=saved[-1])
    if any(kind == "draft" for kind, _ in missed):
        saved.append(OUT_DIR / "draft.html")
        draft.profile_draft(bench, saved[-1])
    return saved


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 run at small sizes: a smoke test, not a measurement")
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), help="run only this benchmark (repeatable)")
    parser.add_argument("--runs", type=int, default=None, help="runs per benchmark (default 3, or 1 with --quick)")
    parser.add_argument("--profile", action="store_true", help="save a pyinstrument profile under bench/out/ for every target missed")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("SCRIBE_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="PostgreSQL server (a database scribe_bench_<pid> is created there and dropped); env SCRIBE_BENCH_POSTGRES_URL",
    )
    args = parser.parse_args(argv)
    if args.runs is None:
        args.runs = 1 if args.quick else 3
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if "127.0.0.1" not in args.postgres_url and "localhost" not in args.postgres_url:
        parser.error("--postgres-url must point at 127.0.0.1: the benchmark only talks to this machine")
    return args


def machine_description() -> str:
    import platform

    cores = os.cpu_count() or 0
    return f"{platform.machine()}, {cores} cores, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    names = args.only or list(BENCHMARKS)
    rows: list[Row] = []
    with ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="scribe-bench-"))
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        bench = Bench(workdir=workdir, runs=args.runs, quick=args.quick, postgres_url=args.postgres_url)
        # SIGTERM unwinds like Ctrl-C, so the servers and the temp dir are cleaned up too.
        # SIGINT is set explicitly because a shell starting us in the background ignores
        # it, and the servers would inherit that and ignore the SIGINT that stops them.
        signal.signal(signal.SIGTERM, _interrupt)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        print(f"Incident Scribe benchmarks on {machine_description()}; {args.runs} run(s) each", file=sys.stderr)
        for name in names:
            rows.extend(BENCHMARKS[name](bench))
        print()
        print(render_table(rows))
        missed = [row for row in rows if row.met is False]
        if missed and args.profile:
            for path in profile_missed(bench, missed):
                print(f"profile: {path.relative_to(REPO)}")
    if missed:
        print(f"\n{len(missed)} target(s) missed: " + ", ".join(row.name for row in missed))
        return 1
    print("\nEvery target met.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
