"""What real Slack sends, end to end: signed events from the simulator into the running app,
then the stored entry, `scribe export` (json and md) and the draft.

Integration alerts (attachments, blocks), their names as authors, link previews, files,
deleted thread parents (tombstones), catch-up from history, 📌 on an integration post,
and malformed payloads.
"""

from __future__ import annotations

import json

from click.testing import CliRunner
from sqlalchemy import select

from bot.models import EntryEdit, TimelineEntry
from bot.slack.message_text import MAX_CHARS
from tests.test_message_text import DATADOG, GRAFANA, PAGERDUTY

CHANNEL = "C0INC"


def entries(app):  # type: ignore[no-untyped-def]
    with app.session_factory() as s:
        return {e.ts: e for e in s.scalars(select(TimelineEntry).where(TimelineEntry.kind == "message"))}


def scribe(app, monkeypatch, tmp_path, *args: str) -> str:  # type: ignore[no-untyped-def]
    from bot.cli import main

    monkeypatch.setenv("DATABASE_URL", app.settings.database_url)
    monkeypatch.chdir(tmp_path)  # no stray .env
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def start(app) -> None:  # type: ignore[no-untyped-def]
    assert app.player.command("U0ANN", CHANNEL, "start Checkout errors sev2").status == 200


def post_alerts(app):  # type: ignore[no-untyped-def]
    pagerduty = app.player.post_as_integration(CHANNEL, bot_id="B0PAGERDUTY", username="PagerDuty", attachments=PAGERDUTY["attachments"])
    datadog = app.player.post_as_integration(
        CHANNEL, bot_id="B0DATADOG", text=DATADOG["text"], bot_profile={"name": "Datadog"}, blocks=DATADOG["blocks"]
    )
    return pagerduty, datadog


def test_integration_alerts_links_and_files_reach_the_entry_the_export_and_the_draft(app, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    start(app)
    pagerduty, datadog = post_alerts(app)
    grafana = app.player.post_as_integration(CHANNEL, bot_id="B0GRAFANA", username="Grafana", attachments=GRAFANA["attachments"])
    pasted = app.player.say("U0CHI", CHANNEL, "error graph <https://grafana.example.com/d/abc/checkout?viewPanel=2>")
    app.player.unfurl(CHANNEL, pasted, {
        "from_url": "https://grafana.example.com/d/abc/checkout?viewPanel=2", "original_url": "https://grafana.example.com/d/abc/checkout?viewPanel=2",
        "service_name": "Grafana", "title": "Checkout dashboard", "title_link": "https://grafana.example.com/d/abc/checkout?viewPanel=2",
        "text": "Latency and errors", "image_url": "https://grafana.example.com/render/abc.png", "fallback": "Grafana: Checkout dashboard",
    })
    shared = app.player.say("U0BOB", CHANNEL, "heap dump", files=[{"name": "heap.hprof"}])

    got = entries(app)
    assert (got[pagerduty].author, got[pagerduty].author_name, got[pagerduty].text) == (
        "B0PAGERDUTY", "PagerDuty",
        "<https://acme.pagerduty.com/incidents/PXYZ123|#1234: checkout error rate &gt; 5%>\n"
        "Status: Triggered\nUrgency: High\nService: <https://acme.pagerduty.com/services/PSVC1|checkout>",
    )
    assert (got[datadog].author, got[datadog].author_name, got[datadog].text) == (
        "B0DATADOG", "Datadog",
        "*<https://app.datadoghq.com/monitors/123|[Triggered] High error rate on checkout>*\n"
        "error rate is 7.2% (threshold 5%)\nenv:prod · service:checkout",
    )
    assert got[grafana].links == [{"url": "https://grafana.example.com/render/d-solo/abc/checkout.png", "title": "[Alerting] Checkout latency"}]
    # The unfurl (a message_changed with the same text) adds the link; it is not an edit.
    assert got[pasted].links == [{"url": "https://grafana.example.com/d/abc/checkout?viewPanel=2", "title": "Checkout dashboard",
                                  "image_url": "https://grafana.example.com/render/abc.png"}]
    assert got[pasted].edited_at is None and got[pasted].text == "error graph <https://grafana.example.com/d/abc/checkout?viewPanel=2>"
    (heap,) = got[shared].files
    assert (heap["name"], heap["mimetype"], heap["filetype"], heap["permalink"].startswith("https://")) == (
        "heap.hprof", "application/octet-stream", "hprof", True)
    assert got[shared].author_name is None and got[shared].author == "U0BOB"

    exported = json.loads(scribe(app, monkeypatch, tmp_path, "export", "--channel", CHANNEL))
    by_ts = {t["ts"]: t for t in exported["timeline"] if t["ts"]}
    assert (by_ts[pagerduty]["author"], by_ts[pagerduty]["author_name"]) == ("B0PAGERDUTY", "PagerDuty")
    assert by_ts[pasted]["links"][0]["title"] == "Checkout dashboard"
    assert by_ts[shared]["author_name"] is None and by_ts[shared]["links"] == []

    md = scribe(app, monkeypatch, tmp_path, "export", "--channel", CHANNEL, "--format", "md")
    log = [line for line in md.splitlines() if line.startswith("- `")]
    # Each line after its time: the integration's name, its content, links as links.
    assert [line.split("` ", 1)[1] for line in log] == [
        "**PagerDuty**: [#1234: checkout error rate \\> 5%](https://acme.pagerduty.com/incidents/PXYZ123)"
        " ⏎ Status: Triggered ⏎ Urgency: High ⏎ Service: [checkout](https://acme.pagerduty.com/services/PSVC1)",
        "**Datadog**: \\*[\\[Triggered\\] High error rate on checkout](https://app.datadoghq.com/monitors/123)\\*"
        " ⏎ error rate is 7.2% (threshold 5%) ⏎ env:prod · service:checkout",
        "**Grafana**: [\\[Alerting\\] Checkout latency](https://grafana.example.com/d/abc/checkout?orgId=1)"
        " ⏎ p99 latency above 2s for 5m ⏎ p99: 2.4s 🔗 [\\[Alerting\\] Checkout latency](https://grafana.example.com/render/d-solo/abc/checkout.png)",
        "**U0CHI**: error graph <https://grafana.example.com/d/abc/checkout?viewPanel=2>"
        " 🔗 [Checkout dashboard](https://grafana.example.com/d/abc/checkout?viewPanel=2) ([image](https://grafana.example.com/render/abc.png))",
        "**U0BOB**: heap dump 📎 [heap.hprof](https://sim.slack.com/files/U0BOB/FSIM000001/heap.hprof)",
    ]
    assert "B0PAGERDUTY" not in md and "B0DATADOG" not in md
    # The bots were never looked up as people.
    assert {c.params.get("user") for c in app.api.calls if c.method == "users.info"} <= {"U0ANN", "U0BOB", "U0CHI"}


def test_deleting_a_thread_parent_removes_its_text_and_keeps_its_replies(app, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    start(app)
    parent = app.player.say("U0BOB", CHANNEL, "the admin password is hunter2")
    original = app.player.sent_events[-1]
    app.player.edit("U0BOB", CHANNEL, parent, "the admin password is hunter2, rotate it")
    edit = app.player.sent_events[-1]
    reply = app.player.say("U0CHI", CHANNEL, "rotated, thanks", thread_ts=parent)
    with app.session_factory() as s:
        assert s.scalar(select(EntryEdit.previous_text)) == "the admin password is hunter2"

    assert app.player.delete(CHANNEL, parent).status == 200
    tombstone_event = app.player.sent_events[-1]["event"]
    assert (tombstone_event["subtype"], tombstone_event["message"]["subtype"], tombstone_event["message"]["text"]) == (
        "message_changed", "tombstone", "This message was deleted.")

    def check() -> None:
        got = entries(app)
        assert (got[parent].text, got[parent].files, got[parent].deleted_at is not None) == (None, None, True)
        assert (got[reply].text, got[reply].thread_ts) == ("rotated, thanks", parent)
        with app.session_factory() as s:
            assert s.scalars(select(EntryEdit)).all() == []

    check()
    # Late redeliveries of the original and of the edit, and the tombstone again: nothing comes back.
    assert app.player.redeliver(original, retry_num=3).status == 200
    assert app.player.redeliver(edit, retry_num=2).status == 200
    assert app.player.send_event(tombstone_event).status == 200
    check()
    # Catch-up reads the tombstone from history and the reply from its thread: still gone.
    assert app.player.command("U0ANN", CHANNEL, "backfill").status == 200
    app.api.wait_for(lambda api: any(c.method == "response_url" for c in api.calls))
    check()
    exported = scribe(app, monkeypatch, tmp_path, "export", "--channel", CHANNEL)
    md = scribe(app, monkeypatch, tmp_path, "export", "--channel", CHANNEL, "--format", "md")
    for text in (exported, md):
        assert "hunter2" not in text and "This message was deleted" not in text
    assert "rotated, thanks" in md


def test_catch_up_reads_alerts_and_deleted_parents_from_history(database_url, slack) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import start_app

    first = start_app(database_url, slack)
    start(first)
    parent = first.player.say("U0BOB", CHANNEL, "paste of a customer's card number 4111")
    first.player.say("U0CHI", CHANNEL, "please delete that", thread_ts=parent)
    first.stop()
    # While the bot is down: an alert, and the parent is deleted (Slack keeps a tombstone).
    alert = first.player.post_as_integration(CHANNEL, bot_id="B0PAGERDUTY", username="PagerDuty",
                                             attachments=PAGERDUTY["attachments"], deliver=False)
    first.player.delete(CHANNEL, parent, deliver=False)

    second = start_app(database_url, slack)
    try:
        (report,) = second.runtime.backfill_reports
        assert report.messages_added == 1 and report.problems == []
        got = entries(second)
        assert (got[alert].source, got[alert].author_name, got[alert].text.splitlines()[1]) == ("backfill", "PagerDuty", "Status: Triggered")
        assert got[parent].text is None and got[parent].deleted_at is not None
        assert [e.text for e in got.values() if e.thread_ts == parent] == ["please delete that"]
    finally:
        second.stop()


def test_a_pushpin_on_an_alert_posted_before_the_incident_fetches_its_content(app) -> None:  # type: ignore[no-untyped-def]
    pagerduty, datadog = post_alerts(app)  # before /incident start: not recorded
    start(app)
    assert app.player.react("U0ANN", CHANNEL, pagerduty).status == 200
    assert app.player.pin("U0BOB", CHANNEL, datadog).status == 200
    got = entries(app)
    assert (got[pagerduty].source, got[pagerduty].key, got[pagerduty].author_name) == ("reaction", True, "PagerDuty")
    assert got[pagerduty].text.startswith("<https://acme.pagerduty.com/incidents/PXYZ123|#1234: checkout error rate &gt; 5%>\nStatus: Triggered")
    assert (got[datadog].source, got[datadog].key, got[datadog].author_name) == ("pin", True, "Datadog")
    assert got[datadog].text.endswith("error rate is 7.2% (threshold 5%)\nenv:prod · service:checkout")


def test_malformed_attachments_and_blocks_are_recorded_with_what_is_readable(app) -> None:  # type: ignore[no-untyped-def]
    start(app)
    nested: dict = {"type": "rich_text_section", "elements": [{"type": "text", "text": "too deep"}]}
    for _ in range(100):
        nested = {"type": "rich_text_list", "elements": [nested]}
    broken = [
        {"attachments": "not a list", "blocks": [None, {"type": "section", "text": 7}, {"type": "header", "text": {"type": "plain_text", "text": "CPU high"}}]},
        {"attachments": [None, {"fields": [{"title": "host", "value": "web-1"}, 5]}], "blocks": {"type": "section"}},
        {"blocks": [{"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": "top"}]}, nested]}]},
        {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": f"{n:02d}" + "y" * 2998}} for n in range(50)]},
        {"blocks": [{"type": "brand_new_block", "elements": [{"type": "who_knows"}]}], "attachments": [{"fallback": "disk 95% on db-1"}]},
    ]
    sent = []
    for n, extra in enumerate(broken):
        ts = f"1795000100.{n:06d}"
        event = {"type": "message", "subtype": "bot_message", "bot_id": "B0WEIRD", "username": "weird-bot", "text": "",
                 "channel": CHANNEL, "ts": ts, "channel_type": "channel", **extra}
        assert app.player.send_event(event).status == 200
        sent.append(ts)
    got = entries(app)
    assert [got[ts].text for ts in sent[:3]] == ["CPU high", "host: web-1", "top"]
    assert len(got[sent[3]].text) == MAX_CHARS and got[sent[3]].text.endswith(" …")
    assert got[sent[4]].text == "disk 95% on db-1"
    assert {got[ts].author_name for ts in sent} == {"weird-bot"}


def test_an_integration_updating_its_alert_is_an_edit_with_the_old_content_kept(app) -> None:  # type: ignore[no-untyped-def]
    start(app)
    ts = app.player.post_as_integration(CHANNEL, bot_id="B0PAGERDUTY", username="PagerDuty", attachments=PAGERDUTY["attachments"])
    before = app.player.workspace.message(CHANNEL, ts)
    acknowledged = [{**PAGERDUTY["attachments"][0], "fields": [{"title": "Status", "value": "Acknowledged by Ann Lee"}]}]
    after = {**before, "attachments": acknowledged, "edited": {"user": "B0PAGERDUTY", "ts": "1795000200.000001"}}
    event = {"type": "message", "subtype": "message_changed", "hidden": True, "channel": CHANNEL, "channel_type": "channel",
             "message": after, "previous_message": before, "ts": "1795000200.000002", "event_ts": "1795000200.000002"}
    assert app.player.send_event(event).status == 200
    assert app.player.send_event(event, retry_num=1).status == 200
    entry = entries(app)[ts]
    assert entry.text == "<https://acme.pagerduty.com/incidents/PXYZ123|#1234: checkout error rate &gt; 5%>\nStatus: Acknowledged by Ann Lee"
    with app.session_factory() as s:
        assert list(s.scalars(select(EntryEdit.previous_text))) == [
            "<https://acme.pagerduty.com/incidents/PXYZ123|#1234: checkout error rate &gt; 5%>\n"
            "Status: Triggered\nUrgency: High\nService: <https://acme.pagerduty.com/services/PSVC1|checkout>"
        ]


def test_the_simulator_posts_integrations_in_slacks_two_shapes(slack) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from bot.simulator.player import SlackPlayer

    player = SlackPlayer(slack.workspace, slack, app_url="http://127.0.0.1:9/unused", signing_secret="x")
    hook = player.post_as_integration(CHANNEL, bot_id="B0HOOK", username="PagerDuty", text="", attachments=[{"fallback": "f"}], deliver=False)
    app_post = player.post_as_integration(CHANNEL, bot_id="B0APP", text="t", bot_profile={"name": "Datadog"}, blocks=[], deliver=False)
    stored_hook, stored_app = slack.workspace.message(CHANNEL, hook), slack.workspace.message(CHANNEL, app_post)
    assert (stored_hook["subtype"], stored_hook["username"], "bot_profile" in stored_hook) == ("bot_message", "PagerDuty", False)
    assert ("subtype" in stored_app, stored_app["bot_profile"]["name"], stored_app["bot_profile"]["id"], stored_app["app_id"]) == (
        False, "Datadog", "B0APP", "A0APP")
    with pytest.raises(ValueError, match="invalid_blocks"):
        player.post_as_integration(CHANNEL, bot_id="B0APP", blocks=[{"type": "divider"}] * 51, deliver=False)
    # History shows them as Slack does, for catch-up.
    assert [m["ts"] for m in slack.workspace.history(CHANNEL)][-2:] == [hook, app_post]
