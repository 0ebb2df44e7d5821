"""The web view's pages: aiohttp handlers that unpack the request, call bot.web.data in
the server's threads (database and Slack calls block), and render a template.

Every page but /login, /auth/* and /healthz needs a signed session cookie whose session is
still live in the database (bot.web.data: signing out ends it for every process); the rules
of who sees what are in bot.web.access. Refusals are plain pages that name no incident.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import jinja2
from aiohttp import web
from markupsafe import Markup
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.db import transaction
from bot.postmortem.chart import render_timeline_chart
from bot.postmortem.render import BUILTIN_TEMPLATE_DIR
from bot.services.people import NameBook
from bot.slack.io.identity import OpenIDConnect, SignInFailed
from bot.slack.io.people import SlackDirectory
from bot.timefmt import iso_utc
from bot.web import data
from bot.web.access import Access
from bot.web.filters import PAGE_SIZE, parse_filters
from bot.web.present import linkify, markdown_to_html, png_data_uri, to_csv
from bot.web.signing import STATE_MAX_AGE, Refused, Signer, WebSession, safe_next

log = logging.getLogger(__name__)
T = TypeVar("T")
RunBlocking = Callable[..., Awaitable[Any]]

# A rendered timeline is reused until its messages change, or for this long (names may change).
TIMELINE_TTL = 300.0
SESSION_COOKIE = "scribe_session"
LOGIN_COOKIE = "scribe_login"
CALLBACK_PATH = "/auth/callback"
UNAVAILABLE = ("<!doctype html><title>Try again shortly</title><h1>Try again shortly</h1>"
               "<p>Incident Scribe can't reach its database or Slack right now, so this page can't be shown. "
               "Please try again in a minute.</p>")
SECURITY_HEADERS = {
    # No script runs on these pages, whatever a message or postmortem contains.
    "Content-Security-Policy": ("default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; form-action 'self' https:; "
                                "base-uri 'none'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def web_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(BUILTIN_TEMPLATE_DIR) / "web")),
        autoescape=True,  # every template, whatever its name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["linkify"] = linkify
    env.filters["md_inline"] = _md_inline
    return env


def _md_inline(markdown: str | None) -> Any:
    html = markdown_to_html(markdown or "")
    text = str(html).strip()
    if text.startswith("<p>") and text.endswith("</p>") and text.count("<p>") == 1:
        text = text[3:-4]
    return type(html)(text)


Page = Callable[["WebView", web.Request, WebSession, Any], Awaitable[web.Response]]


def _for_incident(page: Page) -> Callable[[WebView, web.Request], Awaitable[web.Response]]:
    """A page of one incident: only for a signed-in person allowed to see it."""

    @functools.wraps(page)
    async def guarded(self: WebView, request: web.Request) -> web.Response:
        viewer = await self._viewer(request)
        if isinstance(viewer, web.Response):
            return viewer
        incident, refusal = await self._incident_for(request, viewer)
        if refusal is not None:
            return refusal
        return await page(self, request, viewer, incident)

    return guarded


def _redirect(location: str) -> web.Response:
    return web.Response(status=302, headers={"Location": location, "Cache-Control": "no-store"})


def cookie_is_secure(public_url: str) -> bool:
    """Secure unless the web view is served over plain http on this machine."""
    parts = urlsplit(public_url)
    return not (parts.scheme == "http" and parts.hostname in {"localhost", "127.0.0.1", "::1"})


class WebView:
    def __init__(
        self, *, settings: Settings, session_factory: sessionmaker[Session], client_for: Callable[[str], WebClient | None],
        serves_team: Callable[[str], bool], clock: Callable[[], datetime], run_blocking: RunBlocking,
    ):
        assert settings.web_enabled and settings.public_url and settings.web_secret
        assert settings.slack_client_id and settings.slack_client_secret
        self.settings = settings
        self.public_url: str = settings.public_url
        self._factory = session_factory
        self._client_for = client_for
        self._serves_team = serves_team
        self._clock = clock
        self._run_blocking = run_blocking
        self.signer = Signer(settings.web_secret, session_hours=settings.web_session_hours)
        # Its caches age on the app's clock, so tests can move past them.
        self.access = Access(client_for, clock=lambda: self._clock().timestamp())
        self._people = SlackDirectory(session_factory, client_for, clock)
        self.oidc = OpenIDConnect(api_url=settings.slack_api_url, client_id=settings.slack_client_id,
                                  client_secret=settings.slack_client_secret)
        self.env = web_environment()
        self.secure = cookie_is_secure(self.public_url)
        self._markdown_cache: dict[int, Any] = {}
        # incident id -> (fingerprint of its messages, when rendered, the rendered timeline)
        self._timelines: dict[int, tuple[tuple[Any, ...], float, Markup]] = {}
        self._monotonic = time.monotonic

    def _spend_state(self, state_id: str) -> bool:
        with self._factory.begin() as session:
            return data.spend_sign_in_state(session, state_id, now=self._clock(), max_age_seconds=STATE_MAX_AGE)

    def _start_session(self, web_session: WebSession) -> None:
        with self._factory.begin() as session:
            data.start_web_session(session, key=web_session.key, team_id=web_session.team_id, user_id=web_session.user_id,
                                   now=self._clock(), seconds=self.signer.session_seconds)

    def _session_is_live(self, web_session: WebSession) -> bool:
        with self._factory() as session:
            return data.web_session_is_live(session, key=web_session.key, team_id=web_session.team_id, user_id=web_session.user_id,
                                            now=self._clock())

    def _end_session(self, web_session: WebSession) -> None:
        with self._factory.begin() as session:
            data.end_web_session(session, key=web_session.key)

    async def _run(self, blocking: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Blocking work in the server's threads. The database or Slack failing gets a plain
        503 page (and a log line naming the failure's kind, never its details)."""
        try:
            return await self._run_blocking(blocking, *args, **kwargs)
        except (SQLAlchemyError, SlackApiError, SlackClientError, OSError) as error:
            log.warning("web page %s failed: %s", getattr(blocking, "__name__", "?"), type(error).__name__)
            raise web.HTTPServiceUnavailable(
                text=UNAVAILABLE, content_type="text/html", headers=dict(SECURITY_HEADERS.items())) from None

    @property
    def redirect_uri(self) -> str:
        return self.public_url + CALLBACK_PATH

    # -- responses ---------------------------------------------------------------------

    def _page(self, template: str, *, status: int = 200, **values: Any) -> web.Response:
        values.setdefault("viewer", None)
        body = self.env.get_template(template).render(**values)
        return web.Response(status=status, text=body, content_type="text/html", charset="utf-8", headers=SECURITY_HEADERS)

    def _refusal(self, status: int, heading: str, message: str, *, viewer: WebSession | None = None, sign_in: bool = False) -> web.Response:
        return self._page("message.html.j2", status=status, heading=heading, message=message, viewer=viewer,
                          action_href="/login" if sign_in else ("/" if viewer else None),
                          action_label="Sign in again" if sign_in else "Back to the incidents")

    def _not_found(self, viewer: WebSession) -> web.Response:
        return self._refusal(404, "Not found", "There is no such incident in your workspace. Check the INC number.", viewer=viewer)

    def _set_cookie(self, response: web.StreamResponse, name: str, value: str, *, max_age: int, path: str = "/") -> None:
        response.set_cookie(name, value, max_age=max_age, path=path, httponly=True, secure=self.secure, samesite="Lax")

    # -- sessions ------------------------------------------------------------------------

    async def _live_session(self, request: web.Request) -> WebSession | None:
        """The session of the request's cookie, if its signature holds and it hasn't ended
        (signed out, expired) in the database."""
        session = self.signer.read_session(request.cookies.get(SESSION_COOKIE))
        if session is None or not await self._run(self._session_is_live, session):
            return None
        return session

    async def _viewer(self, request: web.Request) -> WebSession | web.Response:
        """The signed-in person, or the response that sends them to sign in / refuses them."""
        session = await self._live_session(request)
        if session is None:
            return _redirect("/login?next=" + quote(request.path_qs, safe=""))
        if not await self._run(self._serves_team, session.team_id):
            return self._refusal(403, "Not this workspace", "This Incident Scribe records another Slack workspace, not yours.", sign_in=True)
        if not await self._run(self.access.user_active, session.team_id, session.user_id):
            return self._refusal(403, "Account deactivated", "Your Slack account is deactivated, so you can't see incident records here.")
        return session

    # -- sign-in -------------------------------------------------------------------------

    async def login(self, request: web.Request) -> web.Response:
        state, browser, login = self.signer.new_state(safe_next(request.query.get("next")))
        url = self.oidc.authorize_url(state=state, nonce=login.nonce, redirect_uri=self.redirect_uri)
        response = self._page("login.html.j2", authorize_url=url)
        self._set_cookie(response, LOGIN_COOKIE, browser, max_age=STATE_MAX_AGE, path="/auth")
        return response

    async def callback(self, request: web.Request) -> web.Response:
        if request.query.get("error"):
            return self._refusal(401, "Not signed in", "Sign-in was cancelled on Slack's side, so you are not signed in.", sign_in=True)
        try:
            login = self.signer.read_state(request.query.get("state"), request.cookies.get(LOGIN_COOKIE))
        except Refused as refused:
            return self._refusal(401, "Not signed in", str(refused), sign_in=True)
        if not await self._run(self._spend_state, login.state_id):
            return self._refusal(401, "Not signed in", "This sign-in link was already used. Please sign in again.", sign_in=True)
        code = request.query.get("code")
        if not code:
            return self._refusal(401, "Not signed in", "Slack sent no sign-in code back. Please sign in again.", sign_in=True)
        try:
            who = await self._run(self.oidc.sign_in, code=code, redirect_uri=self.redirect_uri, nonce=login.nonce)
        except SignInFailed as failed:
            log.warning("web sign-in refused: %s", failed)
            return self._refusal(401, "Not signed in", str(failed), sign_in=True)
        if not await self._run(self._serves_team, who.team_id):
            log.warning("web sign-in refused: %s is in team %s, which this app does not serve", who.user_id, who.team_id)
            return self._refusal(403, "Not this workspace", "This Incident Scribe records another Slack workspace, not yours.", sign_in=True)
        if not await self._run(self.access.user_active, who.team_id, who.user_id, strict=True):
            return self._refusal(403, "Account deactivated", "Your Slack account is deactivated, so you can't see incident records here.")
        response = _redirect(login.next_path)
        session = WebSession(user_id=who.user_id, team_id=who.team_id, name=who.name)  # with a new random key
        await self._run(self._start_session, session)
        self._set_cookie(response, SESSION_COOKIE, self.signer.session_cookie(session), max_age=self.signer.session_seconds)
        response.del_cookie(LOGIN_COOKIE, path="/auth")
        log.info("web sign-in: %s of %s", who.user_id, who.team_id)
        return response

    async def logout(self, request: web.Request) -> web.Response:
        """POST, from the Sign out button: a link (GET) could sign people out from any page or
        prefetch. The form carries the session's key, so another site can't forge it either.
        The session ends in the database, so its cookie opens nothing anywhere afterwards."""
        session = await self._live_session(request)
        if session is not None:
            token = (await request.post()).get("key")
            if not session.sign_out_allowed(token if isinstance(token, str) else None):
                return self._refusal(403, "Not signed out", "This sign-out didn't come from the Sign out button of this page, "
                                     "so you are still signed in. Use the Sign out button at the top of the page.", viewer=session)
            await self._run(self._end_session, session)
            log.info("web sign-out: %s of %s", session.user_id, session.team_id)
        response = self._refusal(200, "Signed out", "You are signed out of Incident Scribe.", sign_in=True)
        response.del_cookie(SESSION_COOKIE, path="/")
        return response

    async def logout_page(self, request: web.Request) -> web.Response:
        """GET /logout: signing out is a POST (see logout); say how, with the button at hand."""
        session = await self._live_session(request)
        message = ("To sign out, use the Sign out button at the top of the page." if session is not None
                   else "You are not signed in.")
        response = self._refusal(405, "Sign out with the button", message, viewer=session)
        response.headers["Allow"] = "POST"
        return response

    # -- pages ---------------------------------------------------------------------------

    def _in_transaction(self, work: Callable[[Session], T]) -> T:
        with transaction(self._factory) as session:
            return work(session)

    def _named(self, team_id: str, work: Callable[[Session, NameBook], T]) -> T:
        """`work` in a transaction, naming people from the users.info cache; if it met people
        the cache couldn't name, they are looked up in Slack with no transaction open, and
        `work` runs again with their names."""
        book = NameBook(now=self._clock())
        result = self._in_transaction(lambda session: work(session, book))
        if not book.missing:
            return result
        found = self._people.people(team_id, book.missing)
        book = NameBook(known=found, now=self._clock())
        return self._in_transaction(lambda session: work(session, book))

    async def incidents(self, request: web.Request) -> web.Response:
        viewer = await self._viewer(request)
        if isinstance(viewer, web.Response):
            return viewer
        now = self._clock()
        filters = parse_filters(request.query, now=now)

        rows, next_before = await self._run(self._list_page, viewer, filters, now)
        return self._page("incidents.html.j2", status=400 if filters.problems else 200, viewer=viewer, filters=filters,
                          rows=rows, next_before=next_before)

    def _list_page(self, viewer: WebSession, filters: Any, now: datetime) -> tuple[list[data.ListRow], int | None]:
        """A page of the incidents this person may see, newest first, and the id the next page
        starts below (None on the last page). Hidden ones are skipped, never counted. Which
        ones they may see can take Slack's word (private channels' members), asked between
        the page's reads, never inside one."""
        shown: list[Any] = []
        before = filters.before
        # One more than a page tells whether there is a next page. Batches grow when many are
        # hidden, so someone who may see few incidents of many doesn't cost a query per 50.
        limit = PAGE_SIZE + 1
        while len(shown) <= PAGE_SIZE:
            batch = self._in_transaction(functools.partial(data.incident_batch, team_id=viewer.team_id, filters=filters, before=before, limit=limit))
            shown.extend(self.access.visible(batch, viewer.user_id))
            if len(batch) < limit:
                break
            before = batch[-1].id
            limit = min(limit * 4, 2000)
        next_before = shown[PAGE_SIZE - 1].id if len(shown) > PAGE_SIZE else None
        shown = shown[:PAGE_SIZE]
        rows = self._named(viewer.team_id, lambda s, book: data.list_rows(s, book, [s.merge(i, load=False) for i in shown],
                                                                         team_id=viewer.team_id, now=now))
        return rows, next_before if rows else None

    async def _incident_for(self, request: web.Request, viewer: WebSession) -> Any:
        """(incident, None) when this person may see it, else (None, refusal)."""
        ref = request.match_info["ref"]

        def work(session: Session) -> Any:
            incident = data.find_incident(session, team_id=viewer.team_id, ref=ref)
            if incident is not None:
                session.expunge(incident)
            return incident

        incident = await self._run(self._in_transaction, work)
        if incident is None:
            return None, self._not_found(viewer)
        if not await self._run(self.access.may_see, incident, viewer.user_id):
            return None, self._refusal(403, "Private incident",
                                       "This incident was recorded in a private channel you are not a member of.", viewer=viewer)
        return incident, None

    @_for_incident
    async def incident(self, request: web.Request, viewer: WebSession, incident: Any) -> web.Response:
        now = self._clock()
        cached = self._timelines.get(incident.id)

        def work(session: Session, book: NameBook) -> Any:
            live = session.merge(incident, load=False)
            fingerprint = data.timeline_fingerprint(session, live.id)
            fresh = cached is not None and cached[0] == fingerprint and self._monotonic() - cached[1] < TIMELINE_TTL
            page = data.incident_page(session, book, live, settings=self.settings, now=now, with_messages=not fresh)
            session.expunge_all()
            return page, fingerprint, fresh

        page, fingerprint, fresh = await self._run(self._named, viewer.team_id, work)
        if fresh:
            assert cached is not None  # fresh only when there was a cached page
            timeline_html = cached[2]
        else:
            timeline_html = await self._run(self._render_timeline, page)
            if len(self._timelines) > 64:
                self._timelines.clear()
            self._timelines[incident.id] = (fingerprint, self._monotonic(), timeline_html)
        html = None
        if page.postmortem_markdown is not None:
            html = self._markdown_cache.get(page.postmortem_id)  # versions never change
            if html is None:
                html = await self._run(markdown_to_html, page.postmortem_markdown)
                if len(self._markdown_cache) > 256:
                    self._markdown_cache.clear()
                self._markdown_cache[page.postmortem_id] = html
        return self._page("incident.html.j2", viewer=viewer, page=page, postmortem_html=html, timeline_html=timeline_html,
                          chart_src=f"/incidents/{page.incident.ref}/chart.png")

    def _render_timeline(self, page: data.IncidentPage) -> Markup:
        return Markup(self.env.get_template("timeline.html.j2").render(days=page.days, message_count=page.message_count))

    def _context(self, incident: Any, team_id: str) -> dict[str, Any]:
        return self._named(team_id, lambda s, book: data.incident_context(s, book, s.merge(incident, load=False),
                                                                          settings=self.settings, now=self._clock()))

    @_for_incident
    async def chart(self, request: web.Request, viewer: WebSession, incident: Any) -> web.Response:
        context = await self._run(self._context, incident, viewer.team_id)
        png = await self._run(render_timeline_chart, context)
        return web.Response(body=png, content_type="image/png", headers={**SECURITY_HEADERS, "Cache-Control": "private, max-age=60"})

    def _markdown(self, incident: Any, team_id: str) -> tuple[str, bool]:
        return self._named(team_id, lambda s, book: data.postmortem_markdown(s, book, s.merge(incident, load=False),
                                                                             settings=self.settings, now=self._clock()))

    @_for_incident
    async def postmortem_md(self, request: web.Request, viewer: WebSession, incident: Any) -> web.Response:
        markdown, _ = await self._run(self._markdown, incident, viewer.team_id)
        return web.Response(text=markdown, content_type="text/markdown", charset="utf-8", headers={
            **SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{incident.ref}-postmortem.md"'})

    @_for_incident
    async def postmortem_html(self, request: web.Request, viewer: WebSession, incident: Any) -> web.Response:
        markdown, stored = await self._run(self._markdown, incident, viewer.team_id)
        context = await self._run(self._context, incident, viewer.team_id)
        png = await self._run(render_timeline_chart, context)
        html = await self._run(markdown_to_html, markdown)

        body = self.env.get_template("postmortem_export.html.j2").render(
            ref=incident.ref, title=incident.title, postmortem_html=html, chart_src=png_data_uri(png),
            exported_at=iso_utc(self._clock()), stored=stored)
        return web.Response(text=body, content_type="text/html", charset="utf-8", headers={
            **SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{incident.ref}-postmortem.html"'})

    @_for_incident
    async def timeline_csv(self, request: web.Request, viewer: WebSession, incident: Any) -> web.Response:
        rows = await self._run(self._named, viewer.team_id,
                               lambda s, book: data.timeline_rows(s, book, s.merge(incident, load=False), now=self._clock()))
        return web.Response(text=to_csv(rows), content_type="text/csv", charset="utf-8", headers={
            **SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{incident.ref}-timeline.csv"'})


    # -- insights (bot.insights: the same numbers and chart as /incident stats) ----------

    def _insights_request(self, request: web.Request) -> tuple[Any, str | None, str | None]:
        """(period, severity, problem) from ?period=…&severity=…; a problem says what was wrong."""
        from bot.insights.stats import SEVERITIES, PeriodError, parse_period

        severity = (request.query.get("severity") or "").strip().lower() or None
        if severity is not None and severity not in SEVERITIES:
            return None, None, f"'{severity[:30]}' is not a severity: choose sev1, sev2, sev3 or sev4, or all."
        try:
            return parse_period(request.query.get("period", ""), self._clock()), severity, None
        except PeriodError as error:
            return None, severity, error.problem

    def _stats(self, team_id: str, period: Any, severity: str | None) -> Any:
        from bot.services.stats import incident_stats

        return self._in_transaction(lambda s: incident_stats(s, team_id=team_id, period=period, severity=severity, now=self._clock()))

    async def insights(self, request: web.Request) -> web.Response:
        from urllib.parse import urlencode

        from bot.insights.report import empty_text, scope_text, summary_lines
        from bot.insights.stats import ACCEPTED_PERIODS

        viewer = await self._viewer(request)
        if isinstance(viewer, web.Response):
            return viewer
        period, severity, problem = self._insights_request(request)
        period_text = request.query.get("period", "")
        if problem is not None:
            return self._page("insights.html.j2", status=400, viewer=viewer, period_text=period_text, severity=severity,
                              problem=problem, accepted=ACCEPTED_PERIODS, stats=None)
        stats = await self._run(self._stats, viewer.team_id, period, severity)
        query = urlencode({"period": period_text, "severity": severity or ""})
        return self._page("insights.html.j2", viewer=viewer, period_text=period_text, severity=severity, problem=None,
                          stats=stats, empty_text=empty_text(stats), heading=stats.period.describe(), scope=scope_text(stats),
                          lines=summary_lines(stats), chart_src=f"/insights/chart.png?{query}")

    async def insights_chart(self, request: web.Request) -> web.Response:
        from bot.insights.chart import weekly_metrics_chart

        viewer = await self._viewer(request)
        if isinstance(viewer, web.Response):
            return viewer
        period, severity, problem = self._insights_request(request)
        if problem is not None:
            return web.Response(status=400, text=problem, content_type="text/plain", headers=SECURITY_HEADERS)
        stats = await self._run(self._stats, viewer.team_id, period, severity)
        png = await self._run(weekly_metrics_chart, stats)
        return web.Response(body=png, content_type="image/png", headers={**SECURITY_HEADERS, "Cache-Control": "private, max-age=60"})
