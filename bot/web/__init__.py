"""The read-only web view served by `scribe run` next to /slack/events (README: Web view).

    /login, /auth/callback            Sign in with Slack (OpenID Connect)
    POST /logout                      sign out (the form in every page's header)
    /                                 the workspace's incidents, filtered, paginated
    /incidents/<ref>                  one incident: metrics, phases, chart, key events,
                                      action items, postmortem, timeline by day
    /incidents/<ref>/chart.png        the phase chart (bot.postmortem.chart)
    /incidents/<ref>/postmortem.md    exports: Markdown, self-contained HTML, CSV
    /incidents/<ref>/postmortem.html
    /incidents/<ref>/timeline.csv
    /insights, /insights/chart.png    the statistics and chart of /incident stats
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web
from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings


def register(
    web_app: web.Application, run_blocking: Callable[..., Any], *, settings: Settings, session_factory: sessionmaker[Session],
    client_for: Callable[[str], WebClient | None], serves_team: Callable[[str], bool], clock: Callable[[], datetime],
) -> Any:
    from bot.web.pages import CALLBACK_PATH, WebView

    view = WebView(settings=settings, session_factory=session_factory, client_for=client_for, serves_team=serves_team,
                   clock=clock, run_blocking=run_blocking)
    router = web_app.router
    router.add_get("/login", view.login)
    router.add_get(CALLBACK_PATH, view.callback)
    router.add_post("/logout", view.logout)
    router.add_get("/logout", view.logout_page)
    router.add_get("/", view.incidents)
    router.add_get("/incidents/{ref}", view.incident)
    router.add_get("/incidents/{ref}/chart.png", view.chart)
    router.add_get("/incidents/{ref}/postmortem.md", view.postmortem_md)
    router.add_get("/incidents/{ref}/postmortem.html", view.postmortem_html)
    router.add_get("/incidents/{ref}/timeline.csv", view.timeline_csv)
    router.add_get("/insights", view.insights)
    router.add_get("/insights/chart.png", view.insights_chart)
    return view
