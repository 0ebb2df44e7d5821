"""`scribe run`, its event loop profiled by pyinstrument (bench/run.py --profile).

Requests are served on the event loop in the main thread: those that only wait on a shared
write run there whole, the rest are handed to the server's threads (bot.server). pyinstrument
samples the thread it was started in, so the profile shows the loop: HTTP, Bolt's dispatch
of messages and notes, and on PostgreSQL their writes. On SQLite the write runs in the
message writer's thread, which is not sampled.

On exit (SIGINT) the profile is written as HTML and text:
`python bench/profiled_server.py bench/out/ingest-server.html`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyinstrument import Profiler
from pyinstrument.renderers import ConsoleRenderer

from bot.config import load_settings
from bot.logs import configure_logging
from bot.runtime import Runtime


def main(output: Path) -> None:
    settings = load_settings(env_file=None)
    configure_logging(settings.log_level, settings.secrets())
    runtime = Runtime.start(settings, host="127.0.0.1")
    assert runtime.server is not None, "profiling needs HTTP mode"
    # Greenlets switch stacks under the sampler; "disabled" keeps it from treating the
    # loop's awaits as time spent in the awaiting frame.
    profiler = Profiler(interval=0.0005, async_mode="disabled")
    profiler.start()
    try:
        runtime.serve_until_interrupted()
    finally:
        session = profiler.stop()
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(profiler.output_html())
        output.with_suffix(".txt").write_text(ConsoleRenderer(unicode=True, color=False, show_all=False).render(session))
        print(f"event loop profiled for {session.duration:.1f} s -> {output}", file=sys.stderr)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
