"""Logging set-up with a filter that scrubs secrets from every record, and how a failed
request is logged.

Tokens can reach a log line indirectly (an exception message that quotes a request,
a URL with a token parameter), so scrubbing happens on output, not at each call site.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

# What a secret looks like is defined once, in bot.redaction, for these logs and for what the
# AI drafts send (bot.drafting.scrub).
from bot.redaction import redact_literals, redact_secrets


class SecretScrubber(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 6]

    def scrub(self, text: str) -> str:
        return redact_secrets(redact_literals(text, self.secrets))

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg = self.scrub(message)
        record.args = None
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self.scrub(record.stack_info)
        return True


def configure_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> SecretScrubber:
    scrubber = SecretScrubber(secrets)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(scrubber)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    return scrubber


def log_listener_failure(logger: logging.Logger, body: Any, error: BaseException) -> None:
    """One line and the traceback, naming the request's kind; never the body, which can hold
    a verification token and people's messages (the filter above scrubs tokens from the rest).
    For Bolt's error handler and for the server, when a write the answer waited for failed."""
    kind = "?"
    if isinstance(body, dict):
        event = body.get("event")
        kind = body.get("command") or (event.get("type") if isinstance(event, dict) else None) or body.get("type") or "?"
    logger.error("listener failed for %s: %s: %s", kind, type(error).__name__, error, exc_info=error)
