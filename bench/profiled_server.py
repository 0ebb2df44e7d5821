"""`scribe run`, with every HTTP request profiled by pyinstrument (bench/run.py --profile).

pyinstrument samples only the thread it was started in, and requests run on waitress's
worker threads, so each request gets its own profiler; on exit (SIGINT) the sessions are
combined into one HTML report: `python bench/profiled_server.py bench/out/ack-server.html`.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyinstrument import Profiler  # noqa: E402
from pyinstrument.renderers import ConsoleRenderer, HTMLRenderer  # noqa: E402
from pyinstrument.session import Session  # noqa: E402

from bot.config import load_settings  # noqa: E402
from bot.logs import configure_logging  # noqa: E402
from bot.runtime import Runtime  # noqa: E402


_lock = threading.Lock()


def profiled(function: Callable[..., Any], sessions: list[Session], *, drain: bool = False) -> Callable[..., Any]:
    """`function`, with each call profiled on the thread that makes it."""

    def call(*args: Any) -> Any:
        profiler = Profiler(interval=0.0005)
        profiler.start()
        try:
            result = function(*args)
            # A WSGI body is drained inside the profile (with process_before_response it is ready anyway).
            return list(result) if drain else result
        finally:
            profiler.stop()
            if profiler.last_session is not None:
                with _lock:
                    sessions.append(profiler.last_session)

    return call


def main(output: Path) -> None:
    settings = load_settings(env_file=None)
    configure_logging(settings.log_level, settings.secrets())
    runtime = Runtime.start(settings, host="127.0.0.1")
    assert runtime.server is not None, "profiling needs HTTP mode"
    waitress = runtime.server.server
    sessions: list[Session] = []
    waitress.application = profiled(waitress.application, sessions, drain=True)  # type: ignore[union-attr]
    try:
        runtime.serve_until_interrupted()
    finally:
        if sessions:
            combined = sessions[0]
            for session in sessions[1:]:
                combined = Session.combine(combined, session)
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(HTMLRenderer().render(combined))
            output.with_suffix(".txt").write_text(ConsoleRenderer(unicode=True, color=False, show_all=False).render(combined))
            print(f"{len(sessions)} requests profiled -> {output}", file=sys.stderr)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
