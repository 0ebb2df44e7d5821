"""`POST /trackers/<name>/webhook`: trackers' webhook deliveries, on the same server as
/slack/events (HTTP mode: the server already has a public address).

Each delivery is verified with the tracker's documented signature (bot.trackers.webhooks),
then its delivery id is claimed and its tickets' states applied, in ONE short transaction:
a replay finds its id taken and is acknowledged without effect; a crash before commit leaves
the id free for the tracker's own retry. No tracker is called and nothing waits on Slack, so
the answer comes at once. Refusals: unsigned or a wrong signature 401, stale or malformed 400,
a tracker without a webhook secret here 404, replayed 200.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.db import transaction
from bot.services import tickets
from bot.trackers.factory import webhook_secret
from bot.trackers.model import JIRA_WONTFIX_RESOLUTIONS, TRACKER_NAMES
from bot.trackers.webhooks import (
    WebhookDelivery,
    WebhookRefused,
    verify_jira,
    verify_webhook,
)

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/trackers/{name}/webhook"
RunBlocking = Callable[..., Awaitable[Any]]


class WebhookReceiver:
    def __init__(self, settings: Settings, session_factory: sessionmaker[Session], clock: Callable[[], datetime]):
        self.settings = settings
        self.session_factory = session_factory
        self.clock = clock

    def receive(self, name: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        """(HTTP status, a short plain answer) for one delivery."""
        if name not in TRACKER_NAMES or name not in self.settings.trackers.configured():
            return 404, f"No tracker called {name!r} is connected here."
        secret = webhook_secret(self.settings.trackers, name)
        now = self.clock()
        try:
            with transaction(self.session_factory) as session:
                delivery = self._verify(name, headers, body, secret, now, tickets.DeliveryLog(session))
                applied = tickets.apply_states(session, name, delivery.states, settings=self.settings, now=now)
        except WebhookRefused as refused:
            level = logging.INFO if refused.reason == "replayed" else logging.WARNING
            log.log(level, "%s webhook refused (%s): %s", name, refused.reason, refused.message)
            return refused.http_status, refused.message
        changed = [a for a in applied if a.status or a.owner]
        log.info("%s webhook %s (%s): %d state(s), %d item(s) changed", name, delivery.delivery_id, delivery.event,
                 len(delivery.states), len(changed))
        return 200, f"{len(delivery.states)} state(s) received, {len(changed)} item(s) changed."

    def _verify(self, name: str, headers: dict[str, str], body: bytes, secret: str | None, now: datetime,
                replay: tickets.DeliveryLog) -> WebhookDelivery:
        if name == "jira":
            wontfix = self.settings.trackers.jira.wontfix_resolutions or JIRA_WONTFIX_RESOLUTIONS
            return verify_jira(headers, body, secret=secret, now=now, replay=replay, wontfix_resolutions=wontfix)
        return verify_webhook(name, headers, body, secret=secret, now=now, replay=replay)


def register(web_app: web.Application, run_blocking: RunBlocking, *, settings: Settings,
             session_factory: sessionmaker[Session], clock: Callable[[], datetime]) -> WebhookReceiver:
    """Add the webhook route to the server's aiohttp app; the work runs in the server's threads."""
    receiver = WebhookReceiver(settings, session_factory, clock)

    async def deliver(request: web.Request) -> web.Response:
        body = await request.read()
        headers = dict(request.headers.items())
        status, text = await run_blocking(receiver.receive, request.match_info["name"], headers, body)
        return web.Response(status=status, text=text)

    web_app.router.add_post(WEBHOOK_PATH, deliver)
    return receiver
