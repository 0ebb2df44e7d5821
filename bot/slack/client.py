"""WebClient construction: one place decides base URL, timeouts and retry policy."""

from __future__ import annotations

from slack_sdk import WebClient
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
    return WebClient(
        token=client.token,
        base_url=client.base_url,
        timeout=2,
        retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=1)],
    )
