"""The web view in a real browser: Debian's headless Chromium, driven by Selenium, against a
real `scribe run` process and the simulator's Sign in with Slack.

Skipped (with the reason) when chromium or chromedriver is missing, unless
SCRIBE_REQUIRE_BROWSER_TESTS=1 (set by .ci/run), where a missing browser fails.
"""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.web import web_server

CHROMIUM = os.environ.get("SCRIBE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SCRIBE_CHROMEDRIVER", "/usr/bin/chromedriver")
REQUIRED = os.environ.get("SCRIBE_REQUIRE_BROWSER_TESTS", "").lower() in {"1", "true", "yes"}


def _browser_missing() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (Path(path).is_file() and os.access(path, os.X_OK)) and shutil.which(path) is None:
            return f"{path} is not installed (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    return None


@pytest.fixture
def driver():  # type: ignore[no-untyped-def]
    missing = _browser_missing()
    if missing:
        if REQUIRED:
            pytest.fail(f"browser tests are required here (SCRIBE_REQUIRE_BROWSER_TESTS) but {missing}")
        pytest.skip(f"browser tests skipped: {missing}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900"):
        options.add_argument(argument)
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    browser.set_page_load_timeout(30)
    yield browser
    browser.quit()


EVIL_MESSAGE = '<script>window.__pwned = "message"</script><img src=x onerror="window.__pwned = \'img\'"> see https://status.example.com'
EVIL_POSTMORTEM = ("# Postmortem: injected\n\n<script>window.__pwned = 'postmortem'</script>\n\n"
                   "<img src=x onerror=\"window.__pwned='pm-img'\">\n\n[click me](javascript:window.__pwned='link')\n")


def test_sign_in_list_open_an_incident_and_be_refused_a_private_one(driver, database_url, slack, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    from bot.db import make_engine, make_session_factory
    from bot.models import PostmortemVersion
    from bot.simulator.player import SlackPlayer

    def arrived_at(url: str) -> None:
        """A click starts a navigation (a link, a form, the sign-in redirects); wait until the
        browser is at `url`, failing after 10 s."""
        WebDriverWait(driver, 10).until(expected_conditions.url_to_be(url))

    slack.workspace.join("G0PRIV", "U0ANN")
    secret = "browser-" + uuid.uuid4().hex
    with web_server(tmp_path, slack, database_url=database_url, signing_secret=secret) as server:
        base = f"http://127.0.0.1:{server.port}"
        player = SlackPlayer(slack.workspace, slack, app_url=server.url, signing_secret=secret)
        first = player.command("U0ANN", "C0INC", "start Checkout returns 502 sev2")
        assert "INC-1 started" in first.body, (first.body, server.log_tail())
        player.command("U0BOB", "C0INC", "detected error rate above 5%")
        parent = player.say("U0CHI", "C0INC", EVIL_MESSAGE)
        player.say("U0BOB", "C0INC", "DB connections flat at 100/100", thread_ts=parent)
        player.command("U0ANN", "C0INC", "mitigated rolled back to v2.3.0")
        player.command("U0ANN", "C0INC", "resolved")
        assert player.command("U0ANN", "G0PRIV", "start Payroll export leaked sev1").status == 200
        engine = make_engine(database_url)
        with make_session_factory(engine).begin() as session:
            session.add(PostmortemVersion(incident_id=1, version=1, template="standard", status="draft", markdown=EVIL_POSTMORTEM,
                                          created_at=datetime.now(UTC)))
        engine.dispose()

        # Sign in as Bob, who is not in the private channel.
        slack.openid.sign_in_as(slack.workspace, "U0BOB")
        driver.get(base + "/")
        assert "/login" in driver.current_url
        driver.find_element(By.ID, "sign-in").click()
        arrived_at(base + "/")
        table = driver.find_element(By.ID, "incidents").text
        assert "Checkout returns 502" in table and "Payroll" not in table
        cookie = driver.get_cookie("scribe_session")
        assert cookie is not None and cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"

        driver.find_element(By.LINK_TEXT, "INC-1").click()
        arrived_at(base + "/incidents/INC-1")
        assert driver.find_element(By.ID, "title").text == "INC-1: Checkout returns 502"
        assert driver.execute_script("return document.getElementById('chart').complete && document.getElementById('chart').naturalWidth") > 0
        assert "<script>" in driver.find_element(By.CSS_SELECTOR, ".messages").text  # shown as text
        assert driver.find_element(By.CSS_SELECTOR, ".messages li.reply").text.endswith("DB connections flat at 100/100")
        assert "<script>window.__pwned = 'postmortem'</script>" in driver.find_element(By.ID, "postmortem").text  # as text
        assert driver.find_elements(By.CSS_SELECTOR, "#postmortem script, #postmortem img") == []
        assert driver.find_element(By.ID, "postmortem").find_elements(By.CSS_SELECTOR, "a[href^='javascript']") == []
        assert driver.execute_script("return typeof window.__pwned") == "undefined"

        # Insights count the private incident but never name it; the weekly chart loads.
        driver.get(base + "/insights?period=last+30d")
        assert driver.find_element(By.ID, "chart").get_attribute("alt").startswith("Median TTD, TTM and TTR per week")
        assert driver.execute_script("return document.getElementById('chart').complete && document.getElementById('chart').naturalWidth") > 0
        assert "Payroll" not in driver.page_source and "sev1 1 · sev2 1" in driver.find_element(By.TAG_NAME, "main").text
        assert "1 private" in driver.find_element(By.TAG_NAME, "main").text

        driver.get(base + "/incidents/INC-2")
        assert driver.find_element(By.TAG_NAME, "h1").text == "Private incident"
        assert "Payroll" not in driver.page_source
        driver.get(base + "/incidents/INC-2/chart.png")
        assert "Payroll" not in driver.page_source

        # Ann is a member of the private channel: she sees it.
        driver.delete_all_cookies()
        slack.openid.sign_in_as(slack.workspace, "U0ANN")
        driver.get(base + "/incidents/INC-2")
        driver.find_element(By.ID, "sign-in").click()
        arrived_at(base + "/incidents/INC-2")
        assert driver.find_element(By.ID, "title").text == "INC-2: Payroll export leaked"
        assert driver.execute_script("return document.getElementById('chart').naturalWidth") > 0
        assert driver.execute_script("return typeof window.__pwned") == "undefined"

        # Signing out is the header's button (a POST): the session goes, and pages ask to sign in again.
        sign_out = driver.find_element(By.ID, "sign-out")
        assert (sign_out.text, sign_out.get_attribute("type")) == ("Sign out", "submit")
        sign_out.click()
        arrived_at(base + "/logout")
        assert "You are signed out of Incident Scribe." in driver.find_element(By.TAG_NAME, "main").text
        assert driver.get_cookie("scribe_session") is None
        driver.get(base + "/incidents/INC-2")
        assert "/login" in driver.current_url and "Payroll" not in driver.page_source
