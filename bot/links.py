"""Links to the web view's pages, for Slack messages and the web view alike. Pure."""

from __future__ import annotations

from bot.config import Settings


def incident_url(settings: Settings, ref: str) -> str | None:
    """The incident's web page, when SCRIBE_PUBLIC_URL is set."""
    return f"{settings.public_url}/incidents/{ref}" if settings.public_url else None
