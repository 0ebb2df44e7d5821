"""/incident postmortem and the review buttons, over signed HTTP against the Slack simulator."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bot.db import make_engine, make_session_factory
from bot.models import Postmortem, PostmortemVersion
from bot.simulator.records import Fault
from tests.conftest import start_app

CHANNEL = "C0INC"


def cmd(app, text, user="U0ANN"):  # type: ignore[no-untyped-def]
    reply = app.player.command(user, CHANNEL, text)
    assert reply.status == 200, (reply.status, reply.body)
    return reply.json()


def record_incident(app) -> dict[str, str]:  # type: ignore[no-untyped-def]
    app.api.workspace.add_user("U0DAN", name="dan", real_name="Dana Smith", display_name="dana.ops", tz="UTC")
    p = app.player
    cmd(app, "start Checkout returns 502 sev2")
    cmd(app, "role lead <@U0ANN|ann>")
    cmd(app, "started at 2026-01-15 14:00 UTC first 502s")
    cmd(app, "detected at 2026-01-15 14:23 UTC PagerDuty fired", user="U0BOB")
    ts = {}
    ts["rate"] = p.say("U0DAN", CHANNEL, "Error rate is 31% on <https://grafana.example/d/1|the dashboard>, cc <@U0CHI>")
    ts["deleted"] = p.say("U0BOB", CHANNEL, "lunch at 1? wrong channel")
    p.delete(CHANNEL, ts["deleted"])
    ts["edited"] = p.say("U0CHI", CHANNEL, "db pool exhausted??")
    p.edit("U0CHI", CHANNEL, ts["edited"], "DB connection pool exhausted: none come back")
    ts["rollback"] = p.say("U0ANN", CHANNEL, "# Rolling back to v2.3.0 now")
    p.pin("U0ANN", CHANNEL, ts["rollback"])
    cmd(app, "hypothesis Connection leak in v2.3.1")
    cmd(app, "mitigated at 2026-01-15 14:50:30 UTC")
    cmd(app, "resolved at 2026-01-15 15:07 UTC")
    return ts


def published(api, uploads: int = 1) -> None:  # type: ignore[no-untyped-def]
    api.wait_for(lambda a: len([c for c in a.calls_to("files.completeUploadExternal") if c.ok]) >= uploads, timeout=20)


def versions(app) -> list[PostmortemVersion]:  # type: ignore[no-untyped-def]
    with app.session_factory() as s:
        return list(s.scalars(select(PostmortemVersion).order_by(PostmortemVersion.version)))


def uploaded(api) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    return {f["name"]: f["bytes"] for f in api.uploaded_files.values()}


def opened_view(api, index: int = -1) -> dict:  # type: ignore[no-untyped-def]
    """The view of a views.open call, decoded."""
    view = api.calls_to("views.open")[index].params["view"]
    return json.loads(view) if isinstance(view, str) else view


def summary_ts(app) -> str:  # type: ignore[no-untyped-def]
    with app.session_factory() as s:
        return s.get(Postmortem, 1).summary_ts


def test_postmortem_posts_summary_canvas_markdown_file_and_chart(app) -> None:  # type: ignore[no-untyped-def]
    record_incident(app)
    app.api.clear_calls()
    body = cmd(app, "postmortem")
    assert body == {"response_type": "ephemeral", "text": ":hourglass_flowing_sand: Working on it…"}
    published(app.api)

    [version] = versions(app)
    md = version.markdown
    assert (version.version, version.template, version.status, version.created_by) == (1, "standard", "draft", "U0ANN")
    # Facts, resolved names, Slack markup made readable, edits applied, deletes absent.
    assert md.startswith("# Postmortem: Checkout returns 502\n")
    assert "**Status:** Draft (version 1)" in md
    assert "| Time to detect (TTD) | 23 min | impact start → detected |" in md
    assert "| Total duration | 1 h 07 min | impact start → resolved |" in md
    assert "**dana.ops**: Error rate is 31% on [the dashboard](https://grafana.example/d/1), cc @chi" in md
    assert "DB connection pool exhausted: none come back _(edited)_" in md
    assert "db pool exhausted??" not in md
    assert "lunch at 1" not in md
    assert "\\# Rolling back to v2.3.0 now 📌" in md  # a leading # never becomes a heading
    assert "| 2026-01-15 14:23:00 | 🔔 Detected | bob | PagerDuty fired |" in md

    # Exactly these Slack calls, in this order, with the draft's content.
    methods = [c.method for c in app.api.calls if c.method not in {"users.info", "response_url", "upload_url"}]
    assert methods == ["conversations.canvases.create", "chat.postMessage", "files.getUploadURLExternal",
                       "files.getUploadURLExternal", "files.completeUploadExternal"]
    [canvas_call] = app.api.calls_to("conversations.canvases.create")
    assert canvas_call.params["channel_id"] == CHANNEL
    assert app.api.canvases[app.api.channel_canvases[CHANNEL]] == md

    [post] = app.api.calls_to("chat.postMessage")
    assert post.params["channel"] == CHANNEL
    assert post.params["text"] == "Postmortem draft v1 for INC-1: Checkout returns 502"
    blocks = json.loads(post.params["blocks"]) if isinstance(post.params["blocks"], str) else post.params["blocks"]
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": "Postmortem: Checkout returns 502", "emoji": True}}
    assert "*Draft* · version 1 · template `standard` · INC-1 (Open) · severity sev2" in blocks[1]["elements"][0]["text"]
    buttons = blocks[-1]["elements"]
    assert [(b["action_id"], b["text"]["text"], b["value"]) for b in buttons] == [
        ("postmortem_regenerate", "Regenerate", "1"), ("postmortem_edit", "Edit", "1"),
        ("postmortem_mark_reviewed", "Mark reviewed", "1"), ("postmortem_mark_final", "Mark final", "1"),
        ("followup_add", "Add an action item", "1"),
    ]
    texts = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    assert "*Time to detect (TTD):* 23 min" in texts
    assert "`2026-01-15 14:23:00 UTC` 🔔 *Detected* — bob: PagerDuty fired" in texts
    assert "no sentence in this draft blames a person" in texts

    files = uploaded(app.api)
    assert files["INC-1-postmortem-v1.md"].decode() == md
    assert files["INC-1-timeline.png"].startswith(b"\x89PNG\r\n\x1a\n")
    [complete] = app.api.calls_to("files.completeUploadExternal")
    assert complete.params["channel_id"] == CHANNEL
    assert complete.params["initial_comment"] == "Full postmortem draft v1 of INC-1 and its timeline chart"
    reply = app.api.wait_for(lambda a: [e for e in a.ephemerals if "stored" in str(e["message"].get("text"))])
    assert reply[0]["message"]["text"] == "Postmortem draft v1 of INC-1 is stored (template `standard`) and posted in this channel."


def test_regenerate_updates_the_same_message_and_canvas_and_stores_a_version(app) -> None:  # type: ignore[no-untyped-def]
    record_incident(app)
    cmd(app, "postmortem concise")
    published(app.api)
    canvas_id = app.api.channel_canvases[CHANNEL]
    first_ts = summary_ts(app)
    app.player.say("U0BOB", CHANNEL, "Late note: pool size was 100")
    app.api.clear_calls()

    reply = app.player.click("U0BOB", CHANNEL, action_id="postmortem_regenerate", value="1", message_ts=first_ts)
    assert reply.status == 200
    published(app.api)
    assert [v.version for v in versions(app)] == [1, 2]
    latest = versions(app)[-1]
    assert latest.template == "concise"  # the template chosen last time is kept
    assert "Late note: pool size was 100" in latest.markdown
    [update] = app.api.calls_to("chat.update")
    assert (update.params["channel"], update.params["ts"]) == (CHANNEL, first_ts)
    assert app.api.calls_to("chat.postMessage") == []
    [edit] = app.api.calls_to("canvases.edit")
    assert edit.params["canvas_id"] == canvas_id
    assert app.api.canvases[canvas_id] == latest.markdown
    assert "INC-1-postmortem-v2.md" in uploaded(app.api)


def test_edit_modal_fields_are_saved_and_survive_regeneration(app) -> None:  # type: ignore[no-untyped-def]
    record_incident(app)
    cmd(app, "postmortem")
    published(app.api)
    ts = summary_ts(app)

    assert app.player.click("U0CHI", CHANNEL, action_id="postmortem_edit", value="1", message_ts=ts).status == 200
    assert len(app.api.calls_to("views.open")) == 1
    view = opened_view(app.api)
    assert view["callback_id"] == "postmortem_edit_modal" and view["private_metadata"] == "1"
    assert [b["block_id"] for b in view["blocks"] if b["type"] == "input"] == ["summary", "impact", "root_cause", "contributing_factors", "lessons"]

    reply = app.player.submit_view("U0CHI", callback_id="postmortem_edit_modal", values={
        "summary": "Checkout failed for 67 minutes after a deploy leaked DB connections.",
        "impact": "31% of checkout requests failed.",
        "root_cause": "v2.3.1 never released a connection on the error path.",
        "contributing_factors": "", "lessons": "Load-test the error path.",
    })
    assert reply.status == 200 and reply.body in (b"", "")
    published(app.api, uploads=2)
    with app.session_factory() as s:
        pm = s.get(Postmortem, 1)
        assert (pm.summary, pm.contributing_factors, pm.updated_by) == ("Checkout failed for 67 minutes after a deploy leaked DB connections.", None, "U0CHI")
    md = versions(app)[-1].markdown
    assert "## Summary in plain language\n\nCheckout failed for 67 minutes after a deploy leaked DB connections.\n" in md
    assert "## Impact\n\n31% of checkout requests failed.\n" in md
    assert "### Contributing factors\n\n> ✍️ **To write:**" in md  # left empty: still a prompt

    app.player.click("U0ANN", CHANNEL, action_id="postmortem_regenerate", value="1", message_ts=ts)
    published(app.api, uploads=3)
    regenerated = versions(app)[-1]
    assert regenerated.version == 3
    assert "31% of checkout requests failed." in regenerated.markdown

    app.player.click("U0CHI", CHANNEL, action_id="postmortem_edit", value="1", message_ts=ts)
    reopened = opened_view(app.api)
    inputs = {b["block_id"]: b["element"].get("initial_value") for b in reopened["blocks"] if b["type"] == "input"}
    assert inputs["impact"] == "31% of checkout requests failed." and inputs["contributing_factors"] is None


def test_status_moves_draft_in_review_final_and_only_the_lead_finalises(app) -> None:  # type: ignore[no-untyped-def]
    record_incident(app)
    cmd(app, "postmortem")
    published(app.api)
    ts = summary_ts(app)

    app.player.click("U0ANN", CHANNEL, action_id="postmortem_mark_final", value="1", message_ts=ts)
    refused = app.api.wait_for(lambda a: [e for e in a.ephemerals if e["user"] == "U0ANN" and ":x:" in str(e["message"].get("text"))])
    assert refused[0]["message"]["text"] == (
        ":x: The postmortem of INC-1 is still a Draft: press *Mark reviewed* once people have reviewed it, then *Mark final*."
    )

    app.player.click("U0BOB", CHANNEL, action_id="postmortem_mark_reviewed", value="1", message_ts=ts)
    published(app.api, uploads=2)
    assert versions(app)[-1].status == "in_review"
    assert "**Status:** In review (version 2)" in versions(app)[-1].markdown
    update = app.api.calls_to("chat.update")[-1]
    blocks = json.loads(update.params["blocks"]) if isinstance(update.params["blocks"], str) else update.params["blocks"]
    assert "*In review* · version 2" in blocks[1]["elements"][0]["text"]
    assert [b["action_id"] for b in blocks[-1]["elements"]] == ["postmortem_regenerate", "postmortem_edit", "postmortem_mark_final", "followup_add"]

    app.player.click("U0BOB", CHANNEL, action_id="postmortem_mark_final", value="1", message_ts=ts)
    refused = app.api.wait_for(lambda a: [e for e in a.ephemerals if e["user"] == "U0BOB" and "Only" in str(e["message"].get("text"))])
    assert refused[0]["message"]["text"] == (
        ":x: Only the incident lead (<@U0ANN>) or the person who started INC-1 (<@U0ANN>) can mark its postmortem Final."
    )
    assert len(versions(app)) == 2

    app.player.click("U0ANN", CHANNEL, action_id="postmortem_mark_final", value="1", message_ts=ts)
    published(app.api, uploads=3)
    assert versions(app)[-1].status == "final"
    assert "**Status:** Final (version 3)" in versions(app)[-1].markdown
    # The chart is only redrawn when the facts are redrafted, not for a status change.
    assert "INC-1-timeline.png" in uploaded(app.api) and sum(1 for f in app.api.uploaded_files.values() if f["name"].endswith(".png")) == 1

    app.player.click("U0CHI", CHANNEL, action_id="postmortem_edit", value="1", message_ts=ts)
    locked = app.api.wait_for(lambda a: [e for e in a.ephemerals if e["user"] == "U0CHI"])
    assert locked[0]["message"]["text"] == ":x: The postmortem of INC-1 is Final, so it can no longer be edited."


def test_unknown_template_lists_the_available_ones_and_stores_nothing(app) -> None:  # type: ignore[no-untyped-def]
    record_incident(app)
    cmd(app, "postmortem fancy")
    reply = app.api.wait_for(lambda a: [e for e in a.ephemerals if "fancy" in str(e["message"].get("text"))])
    assert reply[0]["message"]["text"] == (
        ":x: There is no postmortem template called `fancy`. Available templates: `comprehensive`, `concise`, "
        "`executive`, `sre-five-whys`, `standard`. For example: `/incident postmortem comprehensive`."
    )
    assert versions(app) == []
    assert app.api.calls_to("chat.postMessage") == []


def test_no_incident_in_channel_is_explained(app) -> None:  # type: ignore[no-untyped-def]
    cmd(app, "postmortem")
    reply = app.api.wait_for(lambda a: a.ephemerals[-1:] if len(a.ephemerals) else None)
    assert reply[0]["message"]["text"].startswith(":x: No incident has been recorded in this channel, so there is nothing to draft.")


@pytest.mark.parametrize("refusal", ["invalid_blocks", "msg_too_long"])
def test_slack_refusing_blocks_falls_back_to_a_compact_message_and_keeps_the_version(app, refusal) -> None:  # type: ignore[no-untyped-def]
    record_incident(app)
    app.api.inject("chat.postMessage", Fault(error=refusal))
    app.api.workspace.canvases_allowed = False
    cmd(app, "postmortem")
    published(app.api)
    posts = app.api.calls_to("chat.postMessage")
    assert [p.ok for p in posts] == [False, True]
    compact = posts[1].params["blocks"]
    compact = json.loads(compact) if isinstance(compact, str) else compact
    assert len(compact) == 4 and compact[-1]["type"] == "actions"
    # The workspace can't have a channel canvas: a standalone canvas tabbed in the channel instead.
    [fallback] = app.api.calls_to("canvases.create")
    assert fallback.params["channel_id"] == CHANNEL
    reply = app.api.wait_for(lambda a: [e for e in a.ephemerals if "stored" in str(e["message"].get("text"))])
    assert reply[0]["message"]["text"] == (
        "Postmortem draft v1 of INC-1 is stored (template `standard`), but:\n"
        f"• Slack refused the full summary message (`{refusal}`), so a shorter one was posted."
    )
    assert len(versions(app)) == 1


def test_server_errors_and_rate_limits_are_retried(app) -> None:  # type: ignore[no-untyped-def]
    record_incident(app)
    app.api.inject("chat.postMessage", Fault(status=500))
    app.api.inject("conversations.canvases.create", Fault(status=429, retry_after=1))
    cmd(app, "postmortem")
    published(app.api)
    assert [p.status for p in app.api.calls_to("chat.postMessage")] == [500, 200]
    assert [p.status for p in app.api.calls_to("conversations.canvases.create")] == [429, 200]
    assert summary_ts(app) is not None


def test_persistent_slack_failure_is_reported_in_plain_words(app) -> None:  # type: ignore[no-untyped-def]
    record_incident(app)
    app.api.inject("files.completeUploadExternal", Fault(error="not_in_channel"))
    cmd(app, "postmortem")
    reply = app.api.wait_for(lambda a: [e for e in a.ephemerals if "stored" in str(e["message"].get("text"))], timeout=20)
    assert reply[0]["message"]["text"] == (
        "Postmortem draft v1 of INC-1 is stored (template `standard`), but:\n"
        "• The file `INC-1-postmortem-v1.md` wasn't uploaded: I'm not a member of this channel. "
        "Type `/invite @Incident Scribe`, then press *Regenerate*."
    )
    assert len(versions(app)) == 1


def test_blaming_sentences_are_quoted_in_the_summary(app) -> None:  # type: ignore[no-untyped-def]
    cmd(app, "start DB outage")
    cmd(app, "rootcause This was human error, plain and simple.", user="U0BOB")
    pinned = app.player.say("U0CHI", CHANNEL, "Honestly bob broke the deploy")
    app.player.react("U0ANN", CHANNEL, pinned, name="pushpin")
    app.player.say("U0CHI", CHANNEL, "Careless config push, again.")  # the verbatim log is not screened
    cmd(app, "postmortem")
    published(app.api)
    [post] = app.api.calls_to("chat.postMessage")
    blocks = json.loads(post.params["blocks"]) if isinstance(post.params["blocks"], str) else post.params["blocks"]
    review = next(b["text"]["text"] for b in blocks if b["type"] == "section" and "Blameless review" in b["text"]["text"])
    assert review == (
        ":warning: *Blameless review:* 2 sentences may blame people. Rephrase them around what the system and process allowed:\n"
        "> This was human error, plain and simple.\n"
        "> Honestly bob broke the deploy"
    )


def test_scribe_export_md_prints_the_latest_version(app, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bot.cli import main

    record_incident(app)
    cmd(app, "postmortem")
    published(app.api)
    app.player.click("U0BOB", CHANNEL, action_id="postmortem_mark_reviewed", value="1", message_ts=summary_ts(app))
    published(app.api, uploads=2)
    monkeypatch.setenv("DATABASE_URL", app.settings.database_url)
    monkeypatch.chdir(tmp_path)  # no stray .env
    result = CliRunner().invoke(main, ["export", "--channel", CHANNEL, "--format", "md"])
    assert result.exit_code == 0, result.output
    assert result.output == versions(app)[-1].markdown + "\n"
    assert "**Status:** In review (version 2)" in result.output


def test_export_md_drafts_one_when_none_is_stored(database_url, slack, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bot.cli import main

    running = start_app(database_url, slack)
    try:
        running.player.command("U0ANN", CHANNEL, "start Disk full sev3")
        running.player.say("U0BOB", CHANNEL, "disk at 100% on db-1")
    finally:
        running.stop()
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)
    offline = CliRunner().invoke(main, ["export", "--channel", CHANNEL, "--format", "md"])
    assert offline.exit_code == 0, offline.output
    assert offline.output.startswith("# Postmortem: Disk full\n")
    assert "**U0BOB**: disk at 100% on db-1" in offline.output  # nobody to ask: the id stays
    with make_session_factory(make_engine(database_url))() as s:
        [stored] = s.scalars(select(PostmortemVersion)).all()
        assert stored.markdown + "\n" == offline.output
        s.delete(stored)
        s.commit()
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-sim-token")
    monkeypatch.setenv("SLACK_API_URL", slack.base_url)
    online = CliRunner().invoke(main, ["export", "--channel", CHANNEL, "--format", "md"])
    assert online.exit_code == 0, online.output
    assert "**bob**: disk at 100% on db-1" in online.output


def test_regenerate_after_the_summary_and_canvas_were_deleted_posts_them_again(app) -> None:  # type: ignore[no-untyped-def]
    record_incident(app)
    cmd(app, "postmortem")
    app.api.wait_for(lambda a: [e for e in a.ephemerals if "stored" in str(e["message"].get("text"))])
    old_ts, old_canvas = summary_ts(app), app.api.channel_canvases[CHANNEL]
    app.api.workspace.delete(CHANNEL, old_ts)
    del app.api.canvases[old_canvas]  # the channel's canvas tab stays taken, as in Slack
    app.api.clear_calls()
    told = len(app.api.ephemerals)

    app.player.click("U0ANN", CHANNEL, action_id="postmortem_regenerate", value="1", message_ts=old_ts)
    published(app.api)
    assert [(c.method, c.ok) for c in app.api.calls if c.method.startswith(("chat.", "canvases.", "conversations.canvases"))] == [
        ("canvases.edit", False), ("conversations.canvases.create", False), ("canvases.create", True),
        ("chat.update", False), ("chat.postMessage", True),
    ]
    new_ts = app.api.calls_to("chat.postMessage")[0].response["ts"]
    with app.session_factory() as s:
        pm = s.get(Postmortem, 1)
        assert (pm.summary_ts, pm.canvas_id) == (new_ts, app.api.calls_to("canvases.create")[0].response["canvas_id"])
    assert app.api.canvases[pm.canvas_id] == versions(app)[-1].markdown
    assert len(app.api.ephemerals) == told  # recovered without bothering anyone


def test_add_action_item_button_on_the_summary_adds_an_item_that_the_next_draft_lists(app) -> None:  # type: ignore[no-untyped-def]
    record_incident(app)
    cmd(app, "postmortem")
    published(app.api)
    ts = summary_ts(app)

    assert app.player.click("U0CHI", CHANNEL, action_id="followup_add", value="1", message_ts=ts).status == 200
    assert len(app.api.calls_to("views.open")) == 1
    view = opened_view(app.api)
    assert (view["callback_id"], view["private_metadata"]) == ("followup_add_item", "1")
    # This app runs on the real clock, so the due date is a month from today: a fixed date
    # would one day be in the past and be refused.
    due = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    reply = app.player.submit_view("U0CHI", callback_id="followup_add_item", values={
        "text": "Release DB connections on the error path",
        "owner": {"owner": {"type": "users_select", "selected_user": "U0BOB"}},
        "due": due,
        "priority": {"priority": {"type": "static_select", "selected_option": {"value": "p1"}}},
    })
    assert (reply.status, reply.body) == (200, "")

    app.player.click("U0ANN", CHANNEL, action_id="postmortem_regenerate", value="1", message_ts=ts)
    published(app.api, uploads=2)
    md = versions(app)[-1].markdown
    assert "Release DB connections on the error path" in md
    assert "| bob |" in md and due in md
