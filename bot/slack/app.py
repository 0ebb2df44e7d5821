"""The Bolt app, built by a function so nothing happens at import time.

`process_before_response=True` is the durability promise: Slack gets its 200 only
after the listener's transaction committed. A crash before that means no 200, so
Slack redelivers, and the (channel, ts) constraint makes the redelivery harmless.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from slack_bolt import App, BoltResponse
from slack_bolt.error import BoltError
from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.db import guard, make_engine, make_session_factory
from bot.logs import log_listener_failure
from bot.slack.client import make_client
from bot.slack.scribe import ProvideScribe, Scribe, utc_now

log = logging.getLogger(__name__)


class SlackStartupError(Exception):
    """Slack refused the bot token or couldn't be reached when the app started; `str()` is the
    one line to print (no token in it)."""


def _startup_error(settings: Settings, error: Exception) -> SlackStartupError:
    if isinstance(error, BoltError):  # auth.test answered, refusing the token
        found = re.search(r"'error': '([a-z_]+)'", str(error))
        code = found.group(1) if found else "invalid_auth"
        return SlackStartupError(f"Slack refused SLACK_BOT_TOKEN (auth.test answered `{code}`): copy the Bot User OAuth Token "
                                 "(xoxb-…) again from your app's OAuth & Permissions page, and reinstall the app if it was removed.")
    reason = getattr(error, "reason", None) or error
    return SlackStartupError(f"Slack can't be reached at SLACK_API_URL={settings.slack_api_url} ({reason}); check the address "
                             "and that this machine can reach it.")


NOT_INSTALLED = (
    ":warning: Incident Scribe isn't installed in this workspace (or its installation was removed), "
    "so nothing was recorded. Ask a workspace admin to install it from the Scribe server's /slack/install page."
)


@contextmanager
def _bolt_oauth_from_settings_only(settings: Settings) -> Iterator[None]:
    """Bolt turns on OAuth installs by itself whenever SLACK_CLIENT_ID and SLACK_CLIENT_SECRET
    are in the environment. With a bot token that pair only enables the web view's sign-in
    (bot.web), so Bolt must not see it while the app is built."""
    if settings.oauth:
        yield
        return
    hidden = {name: os.environ.pop(name) for name in ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET") if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(hidden)


def _is_slash_command(body: dict[str, Any]) -> bool:
    return isinstance(body, dict) and "command" in body and "trigger_id" in body


def create_app(
    settings: Settings,
    client: WebClient | None = None,
    *,
    session_factory: sessionmaker[Session] | None = None,
    clock: Callable[[], datetime] = utc_now,
    token_verification: bool = True,
) -> App:
    # Every Slack call first checks that no transaction is open in its thread (bot.db.guard).
    guard.install()
    if session_factory is None:
        session_factory = make_session_factory(make_engine(settings.database_url))
    if client is None:
        # With OAuth there is no single token: Bolt gives each request a copy of this
        # client carrying its own team's token, with the same base URL and retry policy.
        client = make_client(None if settings.oauth else settings.slack_bot_token, settings.slack_api_url)

    # Background work (the outbox, lookups after the ack) uses this client in a single-token
    # install; with OAuth, bot.runtime gives each team's own.
    background = client
    scribe = Scribe(settings=settings, session_factory=session_factory, clock=clock, client_for=lambda team_id: background)
    app_kwargs: dict[str, Any] = dict(
        signing_secret=settings.slack_signing_secret or "socket-mode-has-no-signing-secret",
        process_before_response=True,
        token_verification_enabled=token_verification,
        # Unknown event types get a quiet 200 from our catch-all listener instead.
        raise_error_for_unhandled_request=False,
    )
    if settings.oauth:
        from bot.slack.oauth import oauth_settings

        app_kwargs["oauth_settings"] = oauth_settings(settings, session_factory)
        app_kwargs["user_facing_authorize_error_message"] = NOT_INSTALLED
    app_kwargs["client"] = client
    app_kwargs["listener_executor"] = scribe.after_ack
    with _bolt_oauth_from_settings_only(settings):
        try:
            app = App(**app_kwargs)
        except (BoltError, SlackClientError, OSError) as error:  # checking the token with auth.test
            raise _startup_error(settings, error) from None
    app.scribe = scribe  # type: ignore[attr-defined]

    app.use(ProvideScribe(scribe))

    @app.error
    def on_error(error: Exception, body: dict[str, Any], logger: logging.Logger):
        log_listener_failure(logger, body, error)
        if _is_slash_command(body):
            # Slack never retries a slash command, so a 500 only shows the user a cryptic
            # "dispatch_failed". Tell them plainly instead; nothing was saved.
            reply = {
                "response_type": "ephemeral",
                "text": ":warning: Sorry, I couldn't record that because of an internal error, and nothing was saved. "
                "Please try again in a moment.",
            }
            return BoltResponse(status=200, body=json.dumps(reply), headers={"content-type": "application/json"})
        if isinstance(body, dict) and body.get("type") in {"block_actions", "view_submission", "shortcut", "message_action"}:
            return BoltResponse(status=200, body="")
        # Events: answer 500 so Slack redelivers; the redelivery is deduplicated.
        return None

    from bot.slack.listeners import register_listeners

    register_listeners(app)
    return app
