"""Lazy listeners that tell the user when they fail.

A lazy listener runs after Slack already has its acknowledgement, so `@app.error` never
sees its exceptions: Bolt only logs "Failed to run an internal function" and the person
who pressed the button or typed the command keeps waiting for an answer that never comes.
Every lazy listener is registered through `reports_failure`, which logs the failure once
(through the secret-scrubbing log filter) and, where the request has a response URL, says
so in plain words.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

FAILURE_TEXT = (
    ":warning: Sorry, I couldn't finish that because of an internal error. What was already recorded is safe; "
    "please try again in a minute."
)


def reports_failure(listener: Callable[..., None]) -> Callable[..., None]:
    wanted = inspect.signature(listener)
    takes_respond = "respond" in wanted.parameters

    @functools.wraps(listener)
    def guarded(**kwargs: Any) -> None:
        respond = kwargs.get("respond") if takes_respond else kwargs.pop("respond", None)
        try:
            listener(**kwargs)
        except Exception as error:  # after the ack there is nobody else to tell
            log.error("%s failed after the ack: %s: %s", listener.__name__, type(error).__name__, error, exc_info=error)
            if respond is None:
                return
            try:
                respond(response_type="ephemeral", replace_original=False, text=FAILURE_TEXT)
            except Exception as reply_error:  # Slack unreachable too: the log line above is all we can do
                log.warning("could not tell the user about that failure: %s", type(reply_error).__name__)

    # Bolt passes a listener the arguments its signature names (following __wrapped__, which
    # functools.wraps sets); this one also asks for `respond`, to report a failure.
    del guarded.__wrapped__
    parameters = list(wanted.parameters.values())
    if not takes_respond:
        parameters.append(inspect.Parameter("respond", inspect.Parameter.POSITIONAL_OR_KEYWORD))
    guarded.__signature__ = wanted.replace(parameters=parameters)  # type: ignore[attr-defined]
    return guarded
