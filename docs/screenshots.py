"""Screenshots of the web view for README: `.venv/bin/python docs/screenshots.py`.

Starts the simulator and a real `scribe run` with the web view (SQLite in a temporary
folder), records a few incidents through signed slash commands and messages, signs in
with headless Chromium (Debian's chromium + chromium-driver) and saves
docs/web-incidents.png, docs/web-incident.png and docs/web-insights.png. With Debian's
fonts-noto-color-emoji installed the emoji in key events show as emoji rather than boxes.
"""

from __future__ import annotations

import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
sys.path.insert(0, str(REPO))

from bench.web import web_server  # noqa: E402
from bot.db import upgrade  # noqa: E402
from bot.simulator import FakeSlackWebAPI, SlackPlayer, Workspace  # noqa: E402


def record(player: SlackPlayer, workspace: Workspace) -> None:
    """Three incidents; the checkout one over the last hour (messages stamped by moving the
    simulator's clock, commands backdated with `at`)."""
    now = time.time()
    base = now - 75 * 60

    def at(minute: float) -> str:
        workspace.clock = lambda: base + minute * 60
        return datetime.fromtimestamp(base + minute * 60, timezone.utc).strftime("%H:%M UTC")

    player.command("U0ANN", "C0SEARCH", "start Search results empty for some users sev3")
    player.command("U0BOB", "C0SEARCH", "resolved")
    player.command("U0BOB", "C0SEARCH", "close")
    player.command("U0CHI", "C0LOGIN", "start Login page slow in EU sev4")
    at(0)
    player.command("U0ANN", "C0INC", "start Checkout returns 502 after v2.3.1 deploy sev2")
    player.command("U0ANN", "C0INC", "role lead <@U0ANN>")
    player.command("U0ANN", "C0INC", f"started at {at(-6)} first 502s in the load balancer logs")
    player.command("U0BOB", "C0INC", f"detected at {at(-1)} PagerDuty: checkout error rate > 5%")
    at(3)
    first = player.say("U0CHI", "C0INC", "Error rate is 31% on the checkout dashboard https://grafana.example.com/d/checkout")
    at(4)
    player.say("U0BOB", "C0INC", "DB connections flat at 100/100", thread_ts=first)
    player.command("U0ANN", "C0INC", f"hypothesis at {at(9)} Connection leak introduced in v2.3.1")
    at(15)
    rollback = player.say("U0ANN", "C0INC", "Rolling back checkout to v2.3.0 now")
    player.pin("U0ANN", "C0INC", rollback)
    player.command("U0ANN", "C0INC", f"mitigation at {at(16)} rolling back to v2.3.0")
    player.command("U0ANN", "C0INC", f"mitigated at {at(24)} error rate falling after the rollback")
    at(30)
    player.say("U0CHI", "C0INC", "Error rate back to 0.2%, watching for 20 minutes")
    player.command("U0CHI", "C0INC", f"rootcause at {at(35)} v2.3.1 acquired a DB connection per request and never released it on the error path")
    player.command("U0ANN", "C0INC", f"resolved at {at(52)} error rate at baseline for 20 minutes")
    workspace.clock = time.time
    player.command("U0ANN", "C0INC", "action Add a DB pool saturation alert <@U0CHI> due 2026-12-20 p1")


def main() -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    workspace = Workspace()
    workspace.add_user("U0ANN", name="ann", real_name="Ann Lee", tz="Europe/Berlin")
    workspace.add_user("U0BOB", name="bob", real_name="Bob Stone", tz="America/New_York")
    workspace.add_user("U0CHI", name="chi", real_name="Chi Okafor", tz="UTC")
    for channel, name in (("C0INC", "inc-checkout-502"), ("C0SEARCH", "inc-search-empty"), ("C0LOGIN", "inc-login-slow")):
        workspace.add_channel(channel, name=name, members=["U0ANN", "U0BOB", "U0CHI"])
    secret = "shots-" + uuid.uuid4().hex
    with tempfile.TemporaryDirectory() as tmp, FakeSlackWebAPI(workspace) as api:
        database_url = f"sqlite:///{tmp}/scribe.db"
        upgrade(database_url)
        with web_server(Path(tmp), api, database_url=database_url, signing_secret=secret) as server:
            record(SlackPlayer(workspace, api, app_url=server.url, signing_secret=secret), workspace)
            api.openid.sign_in_as(workspace, "U0ANN")
            options = webdriver.ChromeOptions()
            options.binary_location = "/usr/bin/chromium"
            for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--hide-scrollbars", "--window-size=1200,1500"):
                options.add_argument(argument)
            driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
            try:
                base = f"http://127.0.0.1:{server.port}"
                driver.get(base + "/")
                driver.find_element("id", "sign-in").click()
                driver.set_window_size(1200, 700)
                driver.save_screenshot(str(DOCS / "web-incidents.png"))
                driver.get(base + "/incidents/INC-3")
                driver.set_window_size(1200, 2600)
                driver.execute_script("document.querySelectorAll('details').forEach(d => d.open = true)")
                driver.save_screenshot(str(DOCS / "web-incident.png"))
                driver.get(base + "/insights?period=last+365d")
                driver.set_window_size(1200, 1800)
                driver.save_screenshot(str(DOCS / "web-insights.png"))
            finally:
                driver.quit()
    print("saved docs/web-incidents.png, docs/web-incident.png and docs/web-insights.png")


if __name__ == "__main__":
    main()
