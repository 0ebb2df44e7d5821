"""The web view over HTTP: sign-in, every access rule, the pages, exports and injection."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from sqlalchemy import select

from bot.models import Incident, PostmortemVersion
from tests.web_helpers import CLIENT_ID, WEB_SECRET, Browser, query_of, start_web_app


@pytest.fixture
def web(database_url, slack):  # type: ignore[no-untyped-def]
    slack.workspace.join("G0PRIV", "U0ANN")
    running = start_web_app(database_url, slack)
    yield running
    running.stop()


def browser_for(web) -> Browser:  # type: ignore[no-untyped-def]
    return Browser(web.settings.public_url)


def signed_in(web, user: str = "U0ANN") -> Browser:  # type: ignore[no-untyped-def]
    web.api.openid.sign_in_as(web.api.workspace, user)
    b = browser_for(web)
    page = b.sign_in()
    assert page.status == 302 and page.location == "/", page.text
    return b


def start(web, channel: str, text: str, user: str = "U0ANN") -> None:  # type: ignore[no-untyped-def]
    reply = web.player.command(user, channel, text)
    assert reply.status == 200


def test_sign_in_with_slack_sets_a_safe_session_cookie_and_lists_the_incidents(web) -> None:  # type: ignore[no-untyped-def]
    start(web, "C0INC", "start Checkout returns 502 sev2")
    b = browser_for(web)
    first = b.get("/")
    assert (first.status, first.location) == (302, "/login?next=%2F")
    authorize = b.authorize_url("/")
    params = query_of(authorize)
    assert authorize.startswith(web.api.base_url.replace("/api/", "/openid/connect/authorize?"))
    assert params["response_type"] == "code" and params["scope"] == "openid profile email"
    assert params["client_id"] == CLIENT_ID
    assert params["redirect_uri"] == web.settings.public_url + "/auth/callback"
    assert params["state"] and params["nonce"]
    web.api.openid.sign_in_as(web.api.workspace, "U0ANN")
    back = b.get(authorize)
    assert back.status == 302
    done = b.get(back.location)
    assert (done.status, done.location) == (302, "/")
    session_cookie = next(c for c in done.set_cookies if c.startswith("scribe_session="))
    assert "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie and "Path=/" in session_cookie
    assert "Secure" not in session_cookie  # http on 127.0.0.1
    assert "Max-Age=43200" in session_cookie
    token_calls = web.api.calls_to("openid.connect.token")
    assert len(token_calls) == 1 and token_calls[0].params["redirect_uri"] == params["redirect_uri"]
    assert "client_secret" not in token_calls[0].params  # the simulator never records it
    assert len(web.api.calls_to("openid.connect.userInfo")) == 1
    listing = b.get("/")
    assert listing.status == 200
    assert "Checkout returns 502" in listing.text and "INC-1" in listing.text and "sev2" in listing.text
    assert "Ann Lee" in listing.text  # who is signed in
    assert listing.headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_pages_need_a_session_but_login_and_healthz_do_not(web) -> None:  # type: ignore[no-untyped-def]
    start(web, "C0INC", "start Checkout returns 502 sev2")
    b = browser_for(web)
    for path in ["/", "/incidents/INC-1", "/incidents/INC-1/chart.png", "/incidents/INC-1/postmortem.md",
                 "/incidents/INC-1/postmortem.html", "/incidents/INC-1/timeline.csv", "/?severity=sev2"]:
        page = b.get(path)
        assert page.status == 302, path
        assert page.location.startswith("/login?next="), path
        assert b"Checkout" not in page.body
    assert b.get("/login").status == 200
    assert b.get("/healthz").status == 200


def test_a_tampered_or_forged_session_cookie_is_refused(web) -> None:  # type: ignore[no-untyped-def]
    b = signed_in(web)
    value = b.cookies["scribe_session"]
    b.cookies["scribe_session"] = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
    assert b.get("/").status == 302
    from itsdangerous import URLSafeTimedSerializer

    forged = URLSafeTimedSerializer("not-our-secret-0123456789abcdefghij", salt="scribe.web.session").dumps({"u": "U0ANN", "t": "T0SIM", "n": "x"})
    b.cookies["scribe_session"] = forged
    assert b.get("/").status == 302


def test_an_expired_session_is_refused(web) -> None:  # type: ignore[no-untyped-def]
    from itsdangerous import TimestampSigner, URLSafeTimedSerializer

    class Yesterday(TimestampSigner):
        def get_timestamp(self) -> int:
            return super().get_timestamp() - 13 * 3600

    old = URLSafeTimedSerializer(WEB_SECRET, salt="scribe.web.session", signer=Yesterday).dumps({"u": "U0ANN", "t": "T0SIM", "n": "Ann"})
    b = browser_for(web)
    b.cookies["scribe_session"] = old
    assert b.get("/").status == 302
    # Signed with our secret and not expired, but no sign-in made it: nothing can end it, so it opens nothing.
    fresh = URLSafeTimedSerializer(WEB_SECRET, salt="scribe.web.session").dumps({"u": "U0ANN", "t": "T0SIM", "n": "Ann", "k": "made-up"})
    b.cookies["scribe_session"] = fresh
    assert b.get("/").status == 302
    assert signed_in(web).get("/").status == 200


def sign_out_key(page_html: str) -> str:
    match = re.search(r'<form class="sign-out" method="post" action="/logout"><input type="hidden" name="key" value="([^"]+)">', page_html)
    assert match, page_html
    return match.group(1)


def test_sign_out_is_a_post_from_the_button_and_a_link_or_forged_post_signs_nobody_out(web) -> None:  # type: ignore[no-untyped-def]
    b = signed_in(web)
    key = sign_out_key(b.get("/").text)
    other_key = sign_out_key(signed_in(web, "U0BOB").get("/").text)
    assert key != other_key  # a new key for every sign-in
    link = b.get("/logout")
    assert (link.status, link.headers["Allow"]) == (405, "POST")
    assert "Sign out with the button" in link.text and "use the Sign out button at the top of the page" in link.text
    for forged in ({}, {"key": "guess"}, {"key": other_key}):
        refused = b.post("/logout", forged)
        assert refused.status == 403 and "you are still signed in" in refused.text, forged
        assert not any(c.startswith("scribe_session=") for c in refused.set_cookies)
    assert b.get("/").status == 200  # still signed in after all of that
    done = b.post("/logout", {"key": key})
    assert done.status == 200 and "You are signed out of Incident Scribe." in done.text
    assert any(c.startswith("scribe_session=") and "Max-Age=0" in c for c in done.set_cookies)
    assert (b.get("/").status, b.get("/").location) == (302, "/login?next=%2F")
    # Signed out already, or never signed in: the button just says so.
    assert b.post("/logout", {}).status == 200
    assert b.get("/logout").status == 405 and "You are not signed in." in b.get("/logout").text


def test_a_session_signed_before_sessions_were_kept_opens_nothing_and_signs_out(web) -> None:  # type: ignore[no-untyped-def]
    """Such a cookie can't be ended on the server, so it no longer opens pages: sign in again."""
    from itsdangerous import URLSafeTimedSerializer

    b = browser_for(web)
    b.cookies["scribe_session"] = URLSafeTimedSerializer(WEB_SECRET, salt="scribe.web.session").dumps({"u": "U0ANN", "t": "T0SIM", "n": "Ann Lee"})
    assert (b.get("/").status, b.get("/").location) == (302, "/login?next=%2F")
    done = b.post("/logout", {})
    assert done.status == 200 and any(c.startswith("scribe_session=") and "Max-Age=0" in c for c in done.set_cookies)


def test_a_cookie_copied_before_sign_out_opens_nothing_after_in_any_process(web, database_url, slack) -> None:  # type: ignore[no-untyped-def]
    from bot.models import LiveWebSession

    start(web, "C0INC", "start Checkout returns 502 sev2")
    other = start_web_app(database_url, slack)  # a second `scribe run` on the same database
    try:
        b = signed_in(web)
        copied = b.cookies["scribe_session"]
        elsewhere = Browser(other.settings.public_url)
        elsewhere.cookies["scribe_session"] = copied
        paths = ["/", "/incidents/INC-1", "/incidents/INC-1/timeline.csv", "/incidents/INC-1/chart.png"]
        assert [elsewhere.get(path).status for path in paths] == [200, 200, 200, 200]  # one session, every process

        assert b.post("/logout", {"key": sign_out_key(b.get("/").text)}).status == 200
        for replay in (browser_for(web), Browser(other.settings.public_url)):
            replay.cookies["scribe_session"] = copied
            for path in paths:
                page = replay.get(path)
                assert (page.status, page.location) == (302, "/login?next=" + quote(path, safe="")), path
                assert b"Checkout" not in page.body
            sign_in_page = replay.get(page.location)
            assert sign_in_page.status == 200 and "Sign in with Slack" in sign_in_page.text
            assert "Ann Lee" not in sign_in_page.text
        assert replay.get("/logout").text.count("You are not signed in.") == 1

        # A session past its hours is over too, whatever the cookie's own signature says.
        again = signed_in(web)
        assert again.get("/").status == 200
        with web.session_factory.begin() as s:
            for row in s.scalars(select(LiveWebSession)):
                row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        assert again.get("/").status == 302
    finally:
        other.stop()


def test_forged_expired_and_replayed_state_are_refused(web) -> None:  # type: ignore[no-untyped-def]
    web.api.openid.sign_in_as(web.api.workspace, "U0ANN")
    b = browser_for(web)
    callback = b.callback_url()
    params = query_of(callback)
    forged = b.get(f"/auth/callback?code={params['code']}&state=forged-state")
    assert forged.status == 401 and "state is not ours" in forged.text and "scribe_session" not in b.cookies
    ok = b.get(callback)
    assert ok.status == 302 and "scribe_session" in b.cookies
    b.cookies.pop("scribe_session")
    b2 = browser_for(web)
    b2.cookies = dict(b.cookies)
    # The login cookie was cleared; replaying with a copy of it made before is refused too.
    replay_browser = browser_for(web)
    callback2 = replay_browser.callback_url()
    assert replay_browser.get(callback2).status == 302
    replay_browser.cookies.pop("scribe_session")
    login_cookie_before = re.search(r"state=([^&]+)", callback2)
    assert login_cookie_before
    again = replay_browser.get(callback2)
    assert again.status == 401
    assert "scribe_session" not in replay_browser.cookies

    from itsdangerous import TimestampSigner, URLSafeTimedSerializer

    class LongAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return super().get_timestamp() - 601

    old_state = URLSafeTimedSerializer(WEB_SECRET, salt="scribe.web.login-state", signer=LongAgo).dumps({"s": "sid", "n": "nonce", "next": "/"})
    old_browser = URLSafeTimedSerializer(WEB_SECRET, salt="scribe.web.login-browser", signer=LongAgo).dumps("sid")
    late = browser_for(web)
    late.cookies["scribe_login"] = old_browser
    expired = late.get(f"/auth/callback?code=whatever&state={old_state}")
    assert expired.status == 401 and "expired" in expired.text


def test_a_state_from_another_browser_is_refused(web) -> None:  # type: ignore[no-untyped-def]
    web.api.openid.sign_in_as(web.api.workspace, "U0ANN")
    victim = browser_for(web)
    callback = browser_for(web).callback_url()  # the attacker's sign-in, sent to the victim
    page = victim.get(callback)
    assert page.status == 401 and "another browser" in page.text
    assert "scribe_session" not in victim.cookies


def test_a_wrong_nonce_or_code_or_secret_is_refused(web, database_url, slack) -> None:  # type: ignore[no-untyped-def]
    web.api.openid.sign_in_as(web.api.workspace, "U0ANN")
    web.api.openid.nonce_override = "someone-elses-nonce"
    b = browser_for(web)
    page = b.get(b.callback_url())
    assert page.status == 401 and "nonce" in page.text and "scribe_session" not in b.cookies
    web.api.openid.nonce_override = None
    callback = b.callback_url()
    params = query_of(callback)
    bad_code = b.get(f"/auth/callback?code=not-a-code&state={params['state']}")
    assert bad_code.status == 401 and "invalid_code" in bad_code.text
    cancelled = b.get("/auth/callback?error=access_denied&state=x")
    assert cancelled.status == 401 and "cancelled" in cancelled.text


def test_a_wrong_client_secret_is_refused_without_showing_it(database_url, slack) -> None:  # type: ignore[no-untyped-def]
    running = start_web_app(database_url, slack, slack_client_secret="wrong-secret-0123456789")
    try:
        slack.openid.sign_in_as(slack.workspace, "U0ANN")
        b = Browser(running.settings.public_url)
        page = b.get(b.callback_url())
        assert page.status == 401 and "bad_client_secret" in page.text
        assert "wrong-secret" not in page.text
    finally:
        running.stop()


def test_a_user_of_another_workspace_is_refused(web) -> None:  # type: ignore[no-untyped-def]
    from bot.simulator.workspace import Workspace

    other = Workspace(team_id="T0OTHER", bot_token="xoxb-other-token", team_name="Other Co")
    other.add_user("U0EVE", name="eve", real_name="Eve Other")
    web.api.add_workspace(other)
    start(web, "C0INC", "start Checkout returns 502 sev2")
    web.api.openid.sign_in_as(other, "U0EVE")
    b = browser_for(web)
    page = b.get(b.callback_url())
    assert page.status == 403 and "another Slack workspace" in page.text
    assert "scribe_session" not in b.cookies and "Checkout" not in page.text
    # Even with a live session for that team (a leaked key aside, impossible), nothing is shown.
    from itsdangerous import URLSafeTimedSerializer

    from bot.web.data import start_web_session

    with web.session_factory.begin() as s:
        start_web_session(s, key="eve-key", team_id="T0OTHER", user_id="U0EVE", now=datetime.now(UTC), seconds=3600)
    b.cookies["scribe_session"] = URLSafeTimedSerializer(WEB_SECRET, salt="scribe.web.session").dumps(
        {"u": "U0EVE", "t": "T0OTHER", "n": "Eve", "k": "eve-key"})
    listing = b.get("/")
    assert listing.status == 403 and "Checkout" not in listing.text


def test_a_deactivated_user_is_refused(web) -> None:  # type: ignore[no-untyped-def]
    web.api.workspace.users["U0BOB"].deleted = True
    web.api.openid.sign_in_as(web.api.workspace, "U0BOB")
    b = browser_for(web)
    page = b.get(b.callback_url())
    assert page.status == 403 and "deactivated" in page.text and "scribe_session" not in b.cookies
    assert [c.params["user"] for c in web.api.calls_to("users.info")][-1] == "U0BOB"


def test_a_private_incident_is_shown_only_to_members_of_its_channel(web) -> None:  # type: ignore[no-untyped-def]
    start(web, "C0INC", "start Checkout returns 502 sev2")
    start(web, "G0PRIV", "start Payroll secrets leaked sev1")
    bob = signed_in(web, "U0BOB")
    listing = bob.get("/")
    assert listing.status == 200 and "Checkout returns 502" in listing.text
    assert "Payroll" not in listing.text and "INC-2" not in listing.text
    for path in ["/incidents/INC-2", "/incidents/INC-2/chart.png", "/incidents/INC-2/postmortem.md",
                 "/incidents/INC-2/postmortem.html", "/incidents/INC-2/timeline.csv"]:
        page = bob.get(path)
        assert page.status == 403, path
        assert b"Payroll" not in page.body and b"secrets" not in page.body, path
    ann = signed_in(web, "U0ANN")
    assert "Payroll secrets leaked" in ann.get("/").text
    page = ann.get("/incidents/INC-2")
    assert page.status == 200 and "Payroll secrets leaked" in page.text
    # Asked of Slack once, then cached.
    assert len(web.api.calls_to("conversations.members")) == 1
    # The private incident carries its own flag (joining its channel told us it is private),
    # so Slack isn't asked about it; the public one is asked once, then cached.
    asked = [c.params.get("channel") for c in web.api.calls_to("conversations.info")]
    assert asked.count("G0PRIV") == 0 and asked.count("C0INC") == 1
    with web.session_factory() as s:
        assert dict(s.execute(select(Incident.channel_id, Incident.is_private)).all()) == {"C0INC": False, "G0PRIV": True}


def test_unknown_refs_and_other_teams_incidents_are_404(web) -> None:  # type: ignore[no-untyped-def]
    b = signed_in(web)
    for path in ["/incidents/INC-99", "/incidents/INC-abc", "/incidents/%3Cscript%3E", "/incidents/INC-0", "/nope"]:
        page = b.get(path)
        assert page.status == 404, path
        assert "<script>" not in page.text


def test_bad_query_params_get_a_clear_message_not_a_500(web) -> None:  # type: ignore[no-untyped-def]
    start(web, "C0INC", "start Checkout returns 502 sev2")
    b = signed_in(web)
    page = b.get("/?period=forever&severity=sev9&status=maybe&from=yesterday&before=%3Cx%3E")
    assert page.status == 400
    for expected in ["“period” must be one of all, 7d, 30d, 90d, 365d, got “forever”",
                     "“severity” must be one of sev1, sev2, sev3, sev4, none, got “sev9”",
                     "“status” must be open or closed, got “maybe”",
                     "“from” must be a date like 2026-01-31, got “yesterday”",
                     "“before” must be an incident number, got “&lt;x&gt;”"]:
        assert expected in page.text
    reversed_dates = b.get("/?from=2026-02-01&to=2026-01-01")
    assert reversed_dates.status == 400 and "is before" in reversed_dates.text


def test_filters_and_a_period_with_no_incidents(web) -> None:  # type: ignore[no-untyped-def]
    start(web, "C0INC", "start Checkout returns 502 sev2")
    start(web, "C0RANDOM", "start Search is slow sev4")
    b = signed_in(web)
    sev4 = b.get("/?severity=sev4")
    assert "Search is slow" in sev4.text and "Checkout" not in sev4.text
    nothing = b.get("/?from=2001-01-01&to=2001-01-31")
    assert nothing.status == 200 and 'id="nothing"' in nothing.text and "match these filters" in nothing.text
    closed = b.get("/?status=closed")
    assert 'id="nothing"' in closed.text


def test_an_empty_workspace_says_nothing_yet(web) -> None:  # type: ignore[no-untyped-def]
    page = signed_in(web).get("/")
    assert page.status == 200 and "Nothing yet: no incidents have been recorded in this workspace." in page.text


def test_pages_of_incidents(web) -> None:  # type: ignore[no-untyped-def]
    from bot.models import Incident
    from bot.web.filters import PAGE_SIZE

    now = datetime(2026, 11, 1, tzinfo=UTC)
    with web.session_factory.begin() as session:
        for n in range(PAGE_SIZE + 5):
            session.add(Incident(team_id="T0SIM", channel_id="C0INC", channel_name="inc-checkout", title=f"Load {n}", severity="sev3",
                                 created_by="U0ANN", declared_at=now, closed_at=now))
    b = signed_in(web)
    first = b.get("/")
    refs = re.findall(r'href="/incidents/(INC-\d+)"', first.text)
    assert len(refs) == PAGE_SIZE and refs[0] == f"INC-{PAGE_SIZE + 5}"
    older = re.search(r'id="older" href="([^"]+)"', first.text)
    assert older
    second = b.get(older.group(1).replace("&amp;", "&"))
    refs2 = re.findall(r'href="/incidents/(INC-\d+)"', second.text)
    assert refs2 == [f"INC-{n}" for n in range(5, 0, -1)]
    assert 'id="older"' not in second.text


def _record(web) -> None:  # type: ignore[no-untyped-def]
    p = web.player
    start(web, "C0INC", "start Checkout returns 502 after deploy sev2")
    p.command("U0BOB", "C0INC", "detected PagerDuty: error rate > 5%")
    msg = p.say("U0CHI", "C0INC", "<script>window.__pwned=1</script> see https://status.example.com/x?a=1&b=2")
    p.say("U0BOB", "C0INC", "=HYPERLINK(\"http://evil\",\"x\"), with a comma\nand a new line", thread_ts=msg)
    p.command("U0ANN", "C0INC", "mitigated rolled back")
    p.command("U0ANN", "C0INC", "resolved")


def test_the_incident_page_escapes_what_people_wrote(web) -> None:  # type: ignore[no-untyped-def]
    _record(web)
    page = signed_in(web).get("/incidents/INC-1")
    assert page.status == 200
    text = page.text
    assert "<script>window.__pwned" not in text
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in text
    assert '<a href="https://status.example.com/x?a=1&amp;b=2" rel="noopener noreferrer nofollow">' in text
    assert 'class="reply"' in text  # the thread reply is indented
    assert "Time to detect (TTD)" in text and 'id="chart" src="/incidents/INC-1/chart.png"' in text
    assert "Detection" in text and "Resolution" in text  # phases
    assert '<li class="milestone">' in text


def test_the_incident_page_shows_the_lead_as_the_list_does(web) -> None:  # type: ignore[no-untyped-def]
    start(web, "C0INC", "start Checkout returns 502 sev2")
    b = signed_in(web)
    assert " · lead " not in b.get("/incidents/INC-1").text  # no lead yet
    start(web, "C0INC", "role lead <@U0BOB|bob>")
    listing = b.get("/").text
    assert re.search(r'<td class="opt">bob</td>', listing), listing
    page = b.get("/incidents/INC-1").text
    header = re.search(r'<h1 id="title">.*?</p>', page, re.S)
    assert header and re.search(r"#inc-checkout\s*· lead bob\s*</p>", header.group(0)), header and header.group(0)


def test_an_injected_postmortem_is_sanitised(web) -> None:  # type: ignore[no-untyped-def]
    _record(web)
    evil = ("# Postmortem\n\n<script>window.__pwned=1</script>\n\n<img src=x onerror=\"window.__pwned=1\">\n\n"
            "[click](javascript:window.__pwned=1)\n\n| a | b |\n|---|---|\n| **1** | 2 |\n")
    with web.session_factory.begin() as session:
        session.add(PostmortemVersion(incident_id=1, version=1, template="standard", status="draft", markdown=evil,
                                      created_at=datetime.now(UTC)))
    b = signed_in(web)
    text = b.get("/incidents/INC-1").text
    article = text[text.index('id="postmortem"'):]
    assert "<script>" not in article and "onerror" not in article.split("&lt;img")[0]
    assert "<img" not in article.split("</article>")[0]
    assert 'href="javascript' not in article and "[click](javascript:" in article  # left as text, not a link
    assert "<table>" in article and "<strong>1</strong>" in article
    exported = b.get("/incidents/INC-1/postmortem.html")
    assert exported.status == 200 and "<script>" not in exported.text and 'href="javascript' not in exported.text
    md = b.get("/incidents/INC-1/postmortem.md")
    assert md.text == evil and md.headers["Content-Disposition"] == 'attachment; filename="INC-1-postmortem.md"'


def test_exports(web) -> None:  # type: ignore[no-untyped-def]
    _record(web)
    b = signed_in(web)
    md = b.get("/incidents/INC-1/postmortem.md")
    assert md.status == 200 and md.headers["Content-Type"].startswith("text/markdown")
    assert md.text.startswith("# Postmortem: Checkout returns 502 after deploy")
    with web.session_factory() as session:
        assert session.query(PostmortemVersion).count() == 0  # the web view drafts without storing
    page = b.get("/incidents/INC-1/postmortem.html")
    assert page.headers["Content-Disposition"] == 'attachment; filename="INC-1-postmortem.html"'
    assert "data:image/png;base64,iVBOR" in page.text and "<style>" in page.text
    assert not re.search(r'(src|href)="(?!data:|https?://|#)', page.text)  # nothing loaded from this server
    chart = b.get("/incidents/INC-1/chart.png")
    assert chart.status == 200 and chart.body.startswith(b"\x89PNG") and chart.headers["Content-Type"] == "image/png"
    csv_page = b.get("/incidents/INC-1/timeline.csv")
    assert csv_page.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(csv_page.text)))
    assert rows[0][:3] == ["at_utc", "kind", "label"]
    kinds = [r[1] for r in rows[1:]]
    assert kinds == ["declared", "detected", "message", "message", "mitigated", "resolved"]
    reply = rows[4]
    assert reply[7] == "'=HYPERLINK(\"http://evil\",\"x\"), with a comma\nand a new line"
    assert reply[8] == "yes" and reply[6] == "bob"


def test_an_incident_with_no_milestones(web) -> None:  # type: ignore[no-untyped-def]
    start(web, "C0INC", "start Something odd")
    b = signed_in(web)
    page = b.get("/incidents/INC-1")
    assert page.status == 200 and "No phases yet" in page.text and "No messages captured yet." in page.text
    assert "No action items yet." in page.text and "No postmortem drafted yet" in page.text
    assert b.get("/incidents/INC-1/chart.png").body.startswith(b"\x89PNG")


def test_start_bookmarks_the_web_page_and_links_it(web) -> None:  # type: ignore[no-untyped-def]
    reply = web.player.command("U0ANN", "C0INC", "start Checkout returns 502 sev2").json()
    link = web.settings.public_url + "/incidents/INC-1"
    calls = web.api.calls_to("bookmarks.add")
    assert len(calls) == 1
    assert calls[0].params == {"channel_id": "C0INC", "title": "INC-1 web page", "type": "link", "link": link}
    assert web.api.bookmarks["C0INC"][0]["link"] == link
    assert reply["response_type"] == "in_channel" and "INC-1 started" in reply["text"]
    assert f"<{link}|INC-1 web page>" in reply["text"]


def test_without_a_public_url_nothing_is_bookmarked(app) -> None:  # type: ignore[no-untyped-def]
    app.player.command("U0ANN", "C0INC", "start Checkout returns 502 sev2")
    assert app.api.calls_to("bookmarks.add") == []


def test_the_timeline_shows_new_edited_deleted_and_pinned_messages_at_once(web) -> None:  # type: ignore[no-untyped-def]
    start(web, "C0INC", "start Checkout returns 502 sev2")
    p = web.player
    first = p.say("U0CHI", "C0INC", "first look: error rate 31%")
    b = signed_in(web)
    assert "first look: error rate 31%" in b.get("/incidents/INC-1").text
    second = p.say("U0BOB", "C0INC", "pool exhausted")
    assert "pool exhausted" in b.get("/incidents/INC-1").text
    p.edit("U0CHI", "C0INC", first, "first look: error rate 35%")
    text = b.get("/incidents/INC-1").text
    assert "error rate 35%" in text and "error rate 31%" not in text and "(edited)" in text
    p.pin("U0BOB", "C0INC", second)
    assert '<li class="msg key">' in b.get("/incidents/INC-1").text
    p.delete("C0INC", second)
    assert "pool exhausted" not in b.get("/incidents/INC-1").text


def test_deactivation_and_leaving_a_channel_take_effect_within_a_minute(database_url, slack, clock) -> None:  # type: ignore[no-untyped-def]
    from datetime import datetime as real_datetime

    clock.set(real_datetime.now(UTC))  # the session cookie's own expiry is on the wall clock
    slack.workspace.join("G0PRIV", "U0BOB")
    running = start_web_app(database_url, slack, clock=clock)
    try:
        running.player.command("U0ANN", "G0PRIV", "start Payroll export leaked sev1")
        b = signed_in(running, "U0BOB")
        assert b.get("/incidents/INC-1").status == 200
        slack.workspace.channels["G0PRIV"].members.discard("U0BOB")
        assert b.get("/incidents/INC-1").status == 200  # membership cached for up to 60 s
        clock.advance(seconds=61)
        refused = b.get("/incidents/INC-1")
        assert refused.status == 403 and "Payroll" not in refused.text
        slack.workspace.users["U0BOB"].deleted = True
        clock.advance(seconds=61)
        gone = b.get("/")
        assert gone.status == 403 and "deactivated" in gone.text
    finally:
        running.stop()


def test_slack_unreachable_gets_a_plain_503_not_a_500(web) -> None:  # type: ignore[no-untyped-def]
    from bot.simulator.records import Fault

    web.api.inject("auth.test", Fault(error="fatal_error"))
    web.api.openid.sign_in_as(web.api.workspace, "U0ANN")
    b = browser_for(web)
    page = b.get(b.callback_url())
    assert page.status == 503 and "can't reach its database or Slack" in page.text
    assert "scribe_session" not in b.cookies
    again = b.get(b.callback_url())  # Slack is back: signing in works
    assert again.status == 302 and "scribe_session" in b.cookies


def test_pages_skip_many_hidden_private_incidents(web) -> None:  # type: ignore[no-untyped-def]
    from bot.models import Incident
    from bot.web.filters import PAGE_SIZE

    now = datetime(2026, 11, 1, tzinfo=UTC)
    with web.session_factory.begin() as session:
        for n in range(3):
            session.add(Incident(team_id="T0SIM", channel_id="C0INC", channel_name="inc-checkout", title=f"Public {n}",
                                 severity="sev3", created_by="U0ANN", declared_at=now, closed_at=now))
        for n in range(PAGE_SIZE * 5):
            session.add(Incident(team_id="T0SIM", channel_id="G0PRIV", channel_name="inc-secret", title=f"Hidden {n}",
                                 severity="sev1", created_by="U0ANN", declared_at=now, closed_at=now))
    page = signed_in(web, "U0BOB").get("/")
    assert re.findall(r'href="/incidents/(INC-\d+)"', page.text) == ["INC-3", "INC-2", "INC-1"]
    assert "Hidden" not in page.text and 'id="older"' not in page.text


def test_a_sign_in_state_is_spent_once_across_processes_and_old_ones_are_pruned(database_url: str) -> None:
    from bot.db import make_engine, make_session_factory
    from bot.models import SpentSignIn
    from bot.web.data import spend_sign_in_state

    # Two engines on one database: what two `scribe run` processes share.
    first, second = make_engine(database_url), make_engine(database_url)
    one, two = make_session_factory(first), make_session_factory(second)
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    try:
        with one.begin() as s:
            assert spend_sign_in_state(s, "state-a", now=now, max_age_seconds=600) is True
        with two.begin() as s:
            assert spend_sign_in_state(s, "state-a", now=now, max_age_seconds=600) is False
            assert spend_sign_in_state(s, "state-b", now=now, max_age_seconds=600) is True
        later = now.replace(minute=30)  # 30 minutes on: both are past twice a state's life
        with one.begin() as s:
            assert spend_sign_in_state(s, "state-c", now=later, max_age_seconds=600) is True
        with one() as s:
            assert sorted(s.scalars(select(SpentSignIn.state_id))) == ["state-c"]
    finally:
        first.dispose()
        second.dispose()


def test_0010_web_sessions_downgrades_and_upgrades(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from alembic import command
    from sqlalchemy import create_engine, inspect

    from bot.db import alembic_config, upgrade

    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    command.downgrade(alembic_config(url), "0008_command_id_partial_index")
    engine = create_engine(url)
    assert "web_sessions" not in inspect(engine).get_table_names()
    engine.dispose()
    upgrade(url)
    engine = create_engine(url)
    assert [i["name"] for i in inspect(engine).get_indexes("web_sessions")] == ["ix_web_sessions_expires_at"]
    engine.dispose()
