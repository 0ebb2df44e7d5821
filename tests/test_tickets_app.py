"""Action items' tickets through the real app, against the tracker simulators over HTTP:
created with the default tracker, the Create button, linked by URL or key."""

from __future__ import annotations

import time

import pytest

from bot.slack.blocks import followups as fb
from tests.conftest import cmd
from tests.ticket_helpers import JIRA_BOB, REPO, item_of, routes, start_tracked_app, ticket_of, told
from tests.tracker_helpers import full_spec


@pytest.fixture
def japp(database_url, slack, clock, trackers):  # type: ignore[no-untyped-def]
    """The app with Jira as the workspace's tracker; status read back by webhook."""
    running = start_tracked_app(database_url, slack, clock, trackers, default="jira")
    yield running
    running.stop()


def test_default_tracker_creates_the_ticket_after_the_ack_with_every_field(japp, trackers) -> None:  # type: ignore[no-untyped-def]
    cmd(japp, "start Checkout errors sev2")
    body = cmd(japp, "action Add pool saturation alert <@U0BOB|bob> due 2026-12-01 p1")
    assert body["response_type"] == "in_channel"
    assert body["text"].startswith(":clipboard: *Action item #1* (p1) for <@U0BOB>, due Tue 2026-12-01: Add pool saturation alert"
                                   " · Jira ticket on its way")
    jira = trackers.jira
    # Bob's account by his Slack email, the marker searched for, then the one create.
    assert routes(jira) == ["GET /rest/api/3/user/assignable/search", "GET /rest/api/3/search/jql", "POST /rest/api/3/issue"]
    assert jira.calls[0].query["query"] == ["bob@acme.test"]
    [create] = jira.calls_to("POST /rest/api/3/issue")
    fields = create.body["fields"]
    ticket = ticket_of(japp)
    assert ticket is not None and ticket.marker.startswith("scribe-")
    assert fields["summary"] == "Add pool saturation alert"
    assert fields["labels"] == ["incident-scribe", "inc-1", "sev2", ticket.marker]
    assert (fields["priority"], fields["duedate"], fields["assignee"]) == ({"name": "High"}, "2026-12-01", {"accountId": JIRA_BOB})
    paragraphs = [(p["content"][0]["text"], (p["content"][0].get("marks") or [{}])[0].get("attrs", {}).get("href"))
                  for p in fields["description"]["content"]]
    assert paragraphs == [
        ("Action item from INC-1: Checkout errors", None),
        ("Severity: sev2", None),
        ("Owner in Slack: bob", None),
        ("Due: 2026-12-01", None),
        ("Incident channel in Slack", "https://slack.com/app_redirect?team=T0SIM&channel=C0INC"),
        ("Incident page", "https://scribe.acme.test/incidents/INC-1"),
    ]
    assert jira.calls[1].query["jql"] == [f'project = "OPS" AND labels = "{ticket.marker}" ORDER BY created ASC']
    assert (ticket.state, ticket.ticket_key, ticket.url, ticket.status, ticket.assignee_id, ticket.linked) == (
        "ready", "OPS-1", f"{jira.base_url}/browse/OPS-1", "open", JIRA_BOB, False)
    assert told(japp) == []  # nothing to tell: made, and assigned to the owner
    listed = cmd(japp, "actions")["text"]
    assert f"#1 Add pool saturation alert — <@U0BOB> · due Tue 2026-12-01 · p1 · open · Jira <{jira.base_url}/browse/OPS-1|OPS-1> (open)" in listed


def test_an_owner_unknown_to_the_tracker_gets_an_unassigned_ticket_and_the_person_is_told(japp, trackers) -> None:  # type: ignore[no-untyped-def]
    cmd(japp, "start Checkout errors")
    cmd(japp, "action Rotate the on-call runbook <@U0CHI|chi>")
    [create] = trackers.jira.calls_to("POST /rest/api/3/issue")
    assert "assignee" not in create.body["fields"]
    url = f"{trackers.jira.base_url}/browse/OPS-1"
    assert told(japp) == [f":ticket: Jira <{url}|OPS-1> was made for action item #1. <@U0CHI>'s Slack email matches no one "
                          "who can be assigned in Jira OPS, so it is unassigned."]
    assert ticket_of(japp).assignee_id is None


def test_the_ack_does_not_wait_for_a_slow_tracker(japp, trackers) -> None:  # type: ignore[no-untyped-def]
    from bot.simulator.records import Fault

    cmd(japp, "start Checkout errors")
    trackers.jira.inject("GET /rest/api/3/user/assignable/search", Fault(delay=0.45))
    trackers.jira.inject("GET /rest/api/3/search/jql", Fault(delay=0.45))
    trackers.jira.inject("POST /rest/api/3/issue", Fault(delay=0.45))
    japp.player.after_request = None  # look at the answer as Slack gets it, before the app's work after it
    started = time.monotonic()
    reply = japp.player.command("U0ANN", "C0INC", "action Add pool saturation alert")
    acked_in = time.monotonic() - started
    assert reply.status == 200 and "Jira ticket on its way" in reply.json()["text"]
    # The tracker takes at least 1.35 s to answer the three calls; the ack came before any of it.
    assert trackers.jira.calls_to("POST /rest/api/3/issue") == []
    assert acked_in < 1.35
    japp.settle()
    assert ticket_of(japp).ticket_key == "OPS-1"


def test_the_same_command_delivered_twice_makes_one_item_and_one_ticket(japp, trackers) -> None:  # type: ignore[no-untyped-def]
    from urllib.parse import urlencode

    cmd(japp, "start Checkout errors")
    form = japp.player.command_form("U0ANN", "C0INC", "action Add pool saturation alert")
    for _ in range(2):
        assert japp.player.post_raw(urlencode(form).encode(), {"Content-Type": "application/x-www-form-urlencoded"}).status == 200
    assert [r for r in routes(trackers.jira) if r.startswith("POST")] == ["POST /rest/api/3/issue"]
    assert len(trackers.jira.issues) == 1
    assert item_of(japp, 2) is None


@pytest.fixture
def no_default(database_url, slack, clock, trackers):  # type: ignore[no-untyped-def]
    """Three trackers connected, none the workspace's default: tickets only when asked for."""
    running = start_tracked_app(database_url, slack, clock, trackers, default=None)
    yield running
    running.stop()


def _buttons(body: dict) -> list[tuple[str, str]]:
    return [(e["action_id"], e["text"]["text"]) for b in body["blocks"] if b["type"] == "actions" for e in b["elements"]]


def test_create_in_github_button_makes_the_ticket_and_tells_the_person(no_default, trackers) -> None:  # type: ignore[no-untyped-def]
    app, github = no_default, trackers.github
    cmd(app, "start Checkout errors sev1")
    body = cmd(app, "action Add pool saturation alert due 2026-12-01 p1")
    assert "ticket" not in body["text"]
    assert github.calls == [] and trackers.jira.calls == [] and trackers.linear.calls == []
    listed = cmd(app, "actions")
    assert _buttons(listed) == [("followup_done", "Done"), ("followup_wontfix", "Won't fix"), ("ticket_create:jira", "Create in Jira"),
                                ("ticket_create:github", "Create in GitHub"), ("ticket_create:linear", "Create in Linear"),
                                ("followup_add", "Add an action item")]

    assert app.player.click("U0ANN", "C0INC", action_id="ticket_create:github", value="1", block_id="followup:1").status == 200
    assert routes(github) == ["GET /search/users", "GET /repos/{owner}/{repo}/assignees/{assignee}",
                              "GET /repos/{owner}/{repo}/issues", "POST /repos/{owner}/{repo}/issues"]
    [create] = github.calls_to("POST /repos/{owner}/{repo}/issues")
    ticket = ticket_of(app)
    assert create.body["title"] == "Add pool saturation alert"
    assert create.body["labels"] == ["incident-scribe", "inc-1", "sev1", "priority:p1", ticket.marker]
    assert create.body["assignees"] == ["ann-lee"]
    assert f"<!-- {ticket.marker} -->" in create.body["body"] and "Due: 2026-12-01" in create.body["body"]
    url = f"{github.web_url}/{REPO}/issues/1"
    assert told(app) == [":hourglass_flowing_sand: Creating action item #1's GitHub ticket in acme/ops…",
                         f":ticket: Action item #1 is now GitHub <{url}|acme/ops#1>."]
    listed = cmd(app, "actions")
    assert [a for a, _ in _buttons(listed)] == ["followup_done", "followup_wontfix", "followup_add"]
    assert f"· GitHub <{url}|acme/ops#1> (open)" in listed["text"]

    # Pressed again (an old list): refused privately, nothing sent to GitHub.
    app.player.click("U0ANN", "C0INC", action_id="ticket_create:github", value="1", block_id="followup:1")
    assert told(app)[-1] == f":x: Action item #1 already has a ticket: GitHub acme/ops#1 ({url})."
    assert len(github.calls_to("POST /repos/{owner}/{repo}/issues")) == 1


def test_create_from_app_home_and_by_command_with_another_target(no_default, trackers) -> None:  # type: ignore[no-untyped-def]
    app = no_default
    trackers.jira.add_project("PLAT", statuses=[("To Do", "new"), ("Done", "done")])
    cmd(app, "start Checkout errors")
    cmd(app, "action Add pool saturation alert due 2026-12-01")
    app.player.open_home("U0ANN")
    home = app.api.calls_to("views.publish")[-1].params["view"]
    buttons = [e["action_id"] for b in home["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons == ["followup_done", "followup_snooze_1d", "followup_snooze_1w", "ticket_create:jira", "ticket_create:github",
                       "ticket_create:linear"]

    reply = cmd(app, "ticket 1 create jira plat")
    assert reply["text"] == ":hourglass_flowing_sand: Creating action item #1's Jira ticket in PLAT…"
    [create] = trackers.jira.calls_to("POST /rest/api/3/issue")
    assert create.body["fields"]["project"] == {"key": "PLAT"}
    assert (ticket_of(app).ticket_key, ticket_of(app).target) == ("PLAT-1", "PLAT")
    assert cmd(app, "ticket 1 create linear")["text"] == (
        f":x: Action item #1 already has a ticket: Jira PLAT-1 ({trackers.jira.base_url}/browse/PLAT-1).")


def test_linking_by_key_reads_its_status_and_a_closed_ticket_closes_the_item(no_default, trackers, clock) -> None:  # type: ignore[no-untyped-def]
    from bot.trackers import JiraTracker
    from tests.ticket_helpers import JIRA_EMAIL, JIRA_TOKEN, pending_reminders

    app, jira = no_default, trackers.jira
    existing = JiraTracker(base_url=jira.base_url, email=JIRA_EMAIL, api_token=JIRA_TOKEN).create(full_spec(), "OPS")
    jira.transition(existing.key, "Shipped")
    jira.clear_calls()
    cmd(app, "start Checkout errors")
    cmd(app, "action Add pool saturation alert due 2026-12-01")
    assert pending_reminders(app) == ["item:1:before_due:2026-11-30", "item:1:due:2026-12-01", "item:1:overdue:2026-12-03"]

    reply = cmd(app, "ticket #1 ops-1")
    assert reply["text"] == ":link: Linking action item #1 to Jira OPS-1; I'll tell you its status in a moment."
    assert routes(jira) == ["GET /rest/api/3/issue/{key}"]
    url = f"{jira.base_url}/browse/OPS-1"
    assert told(app)[-1] == (f":link: Action item #1 is linked to Jira <{url}|OPS-1> (Shipped). It is closed there, so #1 is now "
                             "done and its reminders stop.")
    ticket = ticket_of(app)
    assert (ticket.linked, ticket.status, ticket.status_name, ticket.state) == (True, "done", "Shipped", "ready")
    assert (item_of(app).status, item_of(app).closed_by) == ("done", None)
    assert pending_reminders(app) == []
    assert f"· done · Jira <{url}|OPS-1> (Shipped)" in cmd(app, "actions")["text"]


def test_linking_by_url_in_the_add_form_and_bad_links_are_refused_in_words(no_default, trackers) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from bot.models import ActionItem

    app, github = no_default, trackers.github
    github.add_pull_request(REPO, "An earlier change")  # number 1
    cmd(app, "start Checkout errors")
    bad = cmd(app, "ticket 1 https://example.com/nothing/here")
    assert bad["text"].startswith(":x: “https://example.com/nothing/here” is not a ticket I can link. Paste its link or key, "
                                  "like OPS-12 or https://your-site.atlassian.net/browse/OPS-12; acme/ops#12")
    assert cmd(app, "ticket one OPS-1")["text"].startswith(":x: 'one' is not an action item number")

    app.player.click("U0BOB", "C0INC", action_id=fb.ADD, value="1", block_id="followup_add:1")
    opened = app.api.wait_for(lambda api: api.calls_to("views.open"))
    modal = opened[0].params["view"]
    assert modal["blocks"][-1]["block_id"] == "ticket"
    view_id = next(iter(app.api.views))
    owner = {"owner": {"type": "users_select", "selected_user": "U0BOB"}}
    refused = app.player.submit_view("U0BOB", callback_id=fb.ADD_VIEW, view_id=view_id,
                                     values={"text": "Add pool saturation alert", "owner": owner, "ticket": "not a ticket"})
    assert refused.json()["response_action"] == "errors"
    assert refused.json()["errors"]["ticket"].startswith("“not a ticket” is not a ticket I can link.")
    with app.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(ActionItem)) == 0

    github._new_issue(github.repos[REPO], "Pool alerts", "made by hand", [], [])  # number 2, open
    link = f"{github.web_url}/{REPO}/issues/2"
    good = app.player.submit_view("U0BOB", callback_id=fb.ADD_VIEW, view_id=view_id,
                                  values={"text": "Add pool saturation alert", "owner": owner, "ticket": f"<{link}>"})
    assert (good.status, good.body) == (200, "")
    app.settle()
    assert routes(github) == ["GET /repos/{owner}/{repo}/issues/{number}"]  # read, never created
    ticket = ticket_of(app)
    assert (ticket.tracker, ticket.ticket_key, ticket.url, ticket.status, ticket.status_name) == (
        "github", "acme/ops#2", link, "open", "Open")
    assert told(app)[-1] == f":link: Action item #1 is linked to GitHub <{link}|acme/ops#2> (Open)."
    assert item_of(app).status == "open"


def test_a_channel_chooses_its_own_tracker(no_default, trackers) -> None:  # type: ignore[no-untyped-def]
    app = no_default
    cmd(app, "start Checkout errors")
    assert cmd(app, "tracker")["text"] == (":ticket: New action items here get no ticket. Connected trackers: Jira, GitHub, "
                                           "Linear. Change it with `/incident tracker [jira|github|linear|gitlab [target] | none | default]`.")
    assert cmd(app, "tracker gitlab")["text"] == ":x: GitLab is not connected to Incident Scribe (its token is not set); connected: Jira, GitHub, Linear."
    assert cmd(app, "tracker jira ops-2")["text"].startswith(":x: 'ops-2' is not a Jira project key such as OPS.")
    set_to = cmd(app, "tracker linear")
    assert (set_to["response_type"], set_to["text"]) == (
        "in_channel", ":ticket: New action items in this channel get a Linear ticket in ENG (set by <@U0ANN>).")
    cmd(app, "action Add pool saturation alert <@U0BOB|bob>")
    # Bob by email, the marker (the issue's own id), the team, its labels (made once: incident-scribe, inc-1), the issue.
    assert [c.route for c in trackers.linear.calls] == ["users", "issues", "teams", "issueLabels", "issueLabelCreate",
                                                        "issueLabelCreate", "issueCreate"]
    assert trackers.linear.calls[-1].body["variables"]["input"]["assigneeId"] == "user-bob"
    assert ticket_of(app).ticket_key == "ENG-1"
    assert trackers.jira.calls == []
    assert cmd(app, "tracker none")["text"].startswith(":ticket: New action items in this channel get no ticket (set by <@U0ANN>)")
    cmd(app, "action Another follow-up")
    assert ticket_of(app, 2) is None
    assert cmd(app, "tracker default")["text"].startswith(":ticket: New action items here get no ticket. Connected trackers")
