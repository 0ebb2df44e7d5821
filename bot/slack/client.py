"""WebClient construction: one place decides base URL, timeouts and retry policy."""

from __future__ import annotations

from functools import lru_cache

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)


def make_client(token: str | None, base_url: str, *, timeout: int = 10, max_rate_limit_retries: int = 5) -> WebClient:
    """A client for background work: it waits out 429s (Retry-After) and retries 5xx and dropped connections."""
    return WebClient(
        token=token,
        base_url=base_url,
        timeout=timeout,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=max_rate_limit_retries),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )


def deadline_client(client: WebClient) -> WebClient:
    """A client for calls made before acknowledging a request.

    Slack wants an answer within 3 seconds, so these calls must not sleep on a
    Retry-After or wait long for a slow server: they fail fast and the caller falls back.
    """
    return _deadline_client(client.token, client.base_url)


# One per token, shared by request threads like Bolt's own client: building a WebClient for
# every command was about a twentieth of a quick command's time.
@lru_cache(maxsize=256)
def _deadline_client(token: str | None, base_url: str) -> WebClient:
    return WebClient(
        token=token,
        base_url=base_url,
        timeout=2,
        # One quick retry of a dropped connection or a 500/503 fits in the deadline;
        # a 429's Retry-After does not, so rate limits are reported instead of waited out.
        retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=1), ServerErrorRetryHandler(max_retry_count=1)],
    )


def is_transient(error: Exception) -> bool:
    """True for failures that may pass if tried again later: rate limits, Slack's 5xx,
    timeouts and dropped connections. False for answers like not_in_channel that won't change."""
    if isinstance(error, SlackApiError):
        status = getattr(error.response, "status_code", 200)
        return status == 429 or status >= 500
    return isinstance(error, (SlackClientError, OSError))


def describe_failure(error: Exception) -> str:
    """What went wrong talking to Slack, in words for the person who asked."""
    if isinstance(error, SlackApiError):
        status = getattr(error.response, "status_code", 200)
        if status == 429:
            return "Slack is rate-limiting me right now"
        if status >= 500:
            return "Slack had an internal error"
        return f"Slack said `{error.response.get('error', 'unknown_error')}`"
    return "Slack didn't answer in time"
