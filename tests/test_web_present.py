"""The web view's pure parts: filters, safe redirects, Markdown sanitising, linkify, CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from bot.web.filters import parse_filters
from bot.web.present import csv_cell, linkify, markdown_to_html, to_csv
from bot.web.signing import Signer, WebSession, safe_next

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_filters() -> None:
    f = parse_filters({"period": "30d", "severity": "SEV2", "status": "open"}, now=NOW)
    assert (f.since, f.until, f.severity, f.status, f.problems) == (datetime(2026, 10, 24, 10, 0, tzinfo=UTC), None, "sev2", "open", ())
    f = parse_filters({"from": "2026-01-01", "to": "2026-01-31", "period": "7d"}, now=NOW)
    assert (f.since, f.until, f.period) == (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC), "all")
    assert f.query(before=7) == "from=2026-01-01&to=2026-01-31&before=7"
    assert parse_filters({"before": "9" * 20}, now=NOW).problems == ("“before” must be an incident number, got “99999999999999999999”.",)


def test_only_local_paths_are_followed_after_sign_in() -> None:
    assert safe_next("/incidents/INC-3?x=1") == "/incidents/INC-3?x=1"
    for bad in ["https://evil.example", "//evil.example/x", "/\\evil.example", "", None, "javascript:alert(1)", "/\r\nSet-Cookie: x"]:
        assert safe_next(bad) == "/"


def test_signed_values() -> None:
    signer = Signer("k" * 32, session_hours=12)
    session = WebSession("U1", "T1", "Ann")
    cookie = signer.session_cookie(session)
    assert signer.read_session(cookie) == session  # the sign-out key too
    assert len(session.key) >= 16 and session.key != WebSession("U1", "T1", "Ann").key
    assert signer.read_session(cookie + "x") is None
    assert Signer("j" * 32, session_hours=12).read_session(cookie) is None
    state, browser, login = signer.new_state("/x")
    assert signer.read_state(state, browser).nonce == login.nonce
    # A session cookie is not a state, nor the other way round (different salts).
    assert signer.read_session(state) is None


def test_markdown_is_rendered_and_sanitised() -> None:
    html = str(markdown_to_html("**bold** <b onclick=x>raw</b> [a](javascript:alert(1)) [b](https://ok.example)"))
    assert "<strong>bold</strong>" in html
    assert "&lt;b onclick=x&gt;raw&lt;/b&gt;" in html
    assert 'href="javascript' not in html
    assert '<a href="https://ok.example" rel="noopener noreferrer nofollow">b</a>' in html


def test_linkify_escapes_and_links() -> None:
    assert str(linkify('<i>x</i> https://a.example/p?q=1&r=2. "https://b.example"')) == (
        '&lt;i&gt;x&lt;/i&gt; <a href="https://a.example/p?q=1&amp;r=2" rel="noopener noreferrer nofollow">https://a.example/p?q=1&amp;r=2</a>.'
        ' &#34;<a href="https://b.example" rel="noopener noreferrer nofollow">https://b.example</a>&#34;')


def test_csv_quotes_and_guards_against_formulas() -> None:
    assert [csv_cell(v) for v in ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "ok", ""]] == ["'=1+1", "'+1", "'-2", "'@SUM(A1)", "'\tx", "ok", ""]
    text = to_csv([["a", "b"], ['say "hi", then\nleave', "=cmd|' /C calc'!A0"]])
    assert list(csv.reader(io.StringIO(text))) == [["a", "b"], ['say "hi", then\nleave', "'=cmd|' /C calc'!A0"]]


def test_cookies_are_secure_except_on_plain_http_localhost() -> None:
    from bot.web.pages import cookie_is_secure

    assert cookie_is_secure("https://scribe.example.com") is True
    assert cookie_is_secure("http://scribe.example.com") is True  # a browser then drops it: use https
    assert cookie_is_secure("https://localhost:3000") is True
    assert cookie_is_secure("http://localhost:3000") is False
    assert cookie_is_secure("http://127.0.0.1:8080") is False
