"""The floor for the ingestion benchmark: a Bolt app that verifies and acknowledges, and does nothing else.

It is set up like the real app where the framework's own cost is decided (signature
verification, single-workspace authorization via a cached auth.test, process_before_response)
and served by the same asyncio server (`bot.server.HttpServer`) with the same thread count
and the same choice of which requests run on its event loop, so "ours / floor" measures
only what recording adds.

Run as a subprocess by bench/run.py: `python bench/floor.py` with SLACK_BOT_TOKEN,
SLACK_SIGNING_SECRET, SLACK_API_URL, PORT and SCRIBE_WORKERS in the environment, and
SLACK_APP_TOKEN for the Socket Mode rows (bench/socket_mode.py).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from slack_bolt import App
from slack_sdk import WebClient

from bot.server import HttpServer
from bot.slack.listeners import waits_only_on_shared_write


def build_floor_app(*, token: str, signing_secret: str, api_url: str) -> App:
    app = App(
        client=WebClient(token=token, base_url=api_url),
        signing_secret=signing_secret,
        process_before_response=True,
        raise_error_for_unhandled_request=False,
    )

    def do_nothing() -> None:
        """Bolt acks events itself once the listener returns."""

    def ack_only(ack) -> None:  # type: ignore[no-untyped-def]
        ack()

    app.event("message")(do_nothing)
    app.event(re.compile(".*"))(do_nothing)
    app.command(re.compile(".*"))(ack_only)
    return app


def main() -> None:
    env = os.environ
    app = build_floor_app(token=env["SLACK_BOT_TOKEN"], signing_secret=env["SLACK_SIGNING_SECRET"], api_url=env["SLACK_API_URL"])
    # With SLACK_APP_TOKEN, over Socket Mode exactly as `scribe run` does (bot.socket_mode).
    socket_mode = None
    if env.get("SLACK_APP_TOKEN"):
        from bot.socket_mode import SocketModeLink

        socket_mode = SocketModeLink(env["SLACK_APP_TOKEN"], env["SLACK_API_URL"])
    server = HttpServer(
        app, host="127.0.0.1", port=int(env["PORT"]), threads=int(env.get("SCRIBE_WORKERS", "16")), health_check=lambda: None,
        inline=waits_only_on_shared_write("/incident"), socket_mode=socket_mode,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
