"""/insights on the web view: the numbers and chart of /incident stats, behind sign-in."""

from __future__ import annotations

import html

import pytest

from tests.conftest import Clock
from tests.test_insights_stats import NOW, seed
from tests.web_helpers import Browser, start_web_app


@pytest.fixture
def web(database_url, slack):  # type: ignore[no-untyped-def]
    running = start_web_app(database_url, slack, clock=Clock(NOW))
    with running.session_factory.begin() as session:  # type: ignore[attr-defined]
        seed(session)
    yield running
    running.stop()


def signed_in(web) -> Browser:  # type: ignore[no-untyped-def]
    web.api.openid.sign_in_as(web.api.workspace, "U0ANN")
    b = Browser(web.settings.public_url)
    assert b.sign_in().status == 302
    return b


def test_insights_needs_a_session(web) -> None:  # type: ignore[no-untyped-def]
    b = Browser(web.settings.public_url)
    assert (b.get("/insights").status, b.get("/insights").location) == (302, "/login?next=%2Finsights")
    assert b.get("/insights/chart.png").status == 302


def test_insights_page_shows_the_stats_and_its_chart(web) -> None:  # type: ignore[no-untyped-def]
    b = signed_in(web)
    page = b.get("/insights?period=last+30d")
    assert page.status == 200
    text = html.unescape(page.text)
    assert "<th scope=\"row\">Time to detect (TTD)</th><td>median 15 min (▼ 20 min vs previous 30 days) · p90 26 min · 5 incidents</td>" in text
    assert "<th scope=\"row\">Postmortems</th><td>1 final · 2 drafted, not final · 2 not started</td>" in text
    assert "last 30 days · 2026-10-24 10:00:00 UTC to 2026-11-23 10:00:00 UTC · all severities" in text
    assert 'src="/insights/chart.png?period=last+30d&severity="' in text
    chart = b.get("/insights/chart.png?period=last+30d&severity=")
    assert chart.status == 200 and chart.headers["Content-Type"] == "image/png"
    assert chart.body.startswith(b"\x89PNG\r\n\x1a\n")
    sev2 = html.unescape(b.get("/insights?period=last+30d&severity=sev2").text)
    assert "<th scope=\"row\">Incidents</th><td>2 (▲ 1 vs previous 30 days)" in sev2


def test_an_empty_period_and_bad_input(web) -> None:  # type: ignore[no-untyped-def]
    b = signed_in(web)
    empty = b.get("/insights?period=2025-01-01+to+2025-01-31")
    assert empty.status == 200
    assert "Nothing yet: No incidents between 2025-01-01 00:00:00 UTC and 2025-02-01 00:00:00 UTC." in empty.text
    bad = b.get("/insights?period=%3Cscript%3Ealert(1)%3C/script%3E")
    assert bad.status == 400
    assert "<script>" not in bad.text
    assert "&#39;&lt;script&gt;alert(1)&lt;/script&gt;&#39; is not a period I understand." in bad.text
    wrong = b.get("/insights?severity=sev9")
    assert wrong.status == 400 and "&#39;sev9&#39; is not a severity: choose sev1, sev2, sev3 or sev4, or all." in wrong.text
    assert b.get("/insights/chart.png?period=nonsense").status == 400
