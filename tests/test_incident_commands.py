"""Every /incident command through the real app: replies, what is stored, and the Slack calls made."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from bot.models import Incident, TimelineEntry
from bot.services.export import export_incident
from bot.services.incidents import latest_incident
from bot.timefmt import format_utc
from tests.conftest import cmd


def export(app, channel="C0INC"):  # type: ignore[no-untyped-def]
    with app.session_factory() as s:
        return export_incident(s, latest_incident(s, channel_id=channel))


def count_entries(app) -> int:  # type: ignore[no-untyped-def]
    with app.session_factory() as s:
        return s.scalar(select(func.count()).select_from(TimelineEntry))


def test_start_joins_public_channel_and_confirms_in_channel(app) -> None:  # type: ignore[no-untyped-def]
    body = cmd(app, "start Checkout errors after deploy SEV2")
    assert body["response_type"] == "in_channel"
    assert "*INC-1 started* (sev2): Checkout errors after deploy" in body["text"]
    joins = app.api.calls_to("conversations.join")
    assert [c.params["channel"] for c in joins] == ["C0INC"]
    data = export(app)["incident"]
    assert (data["title"], data["severity"], data["status"], data["channel_id"]) == ("Checkout errors after deploy", "sev2", "open", "C0INC")


def test_start_in_private_channel_explains_how_to_invite(app) -> None:  # type: ignore[no-untyped-def]
    ws = app.api.workspace
    ws.channels["G0PRIV"].members.discard(ws.bot_user_id)  # a private channel the bot isn't in
    body = cmd(app, "start Secret thing", channel="G0PRIV")
    assert "private channel" in body["text"] and "/invite @Incident Scribe" in body["text"]


def test_second_start_is_refused_and_nothing_recorded(app) -> None:  # type: ignore[no-untyped-def]
    cmd(app, "start First")
    before = count_entries(app)
    body = cmd(app, "start Second")
    assert body["response_type"] == "ephemeral"
    assert "already has an open incident, INC-1 “First”" in body["text"]
    assert count_entries(app) == before
    with app.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == 1


def test_backdated_moments_set_metrics(app) -> None:  # type: ignore[no-untyped-def]
    cmd(app, "start Checkout errors")
    cmd(app, "started at 2026-01-15 14:00 UTC first 502s")
    body = cmd(app, "detected at 2026-01-15T15:23:00+01:00 PagerDuty fired")
    assert body["text"].startswith(":stopwatch: *Detected* at 2026-01-15 14:23:00 UTC for INC-1: PagerDuty fired")
    cmd(app, "mitigated at 2026-01-15 14:50:30 UTC")
    cmd(app, "resolved at 2026-01-15 15:07 UTC")
    data = export(app)
    assert data["incident"]["started_at"] == "2026-01-15T14:00:00Z"
    assert data["incident"]["detected_at"] == "2026-01-15T14:23:00Z"
    assert data["metrics"] == {"time_to_detect_s": 1380.0, "time_to_mitigate_s": 1650.0, "time_to_resolve_s": 2640.0, "duration_s": 4020.0}
    kinds = [(t["kind"], t["at"], t["text"], t["source"], t["author"]) for t in data["timeline"] if t["kind"] != "declared"]
    assert kinds == [
        ("started", "2026-01-15T14:00:00Z", "first 502s", "command", "U0ANN"),
        ("detected", "2026-01-15T14:23:00Z", "PagerDuty fired", "command", "U0ANN"),
        ("mitigated", "2026-01-15T14:50:30Z", None, "command", "U0ANN"),
        ("resolved", "2026-01-15T15:07:00Z", None, "command", "U0ANN"),
    ]



def utc_of(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_a_milestone_before_the_declaration_is_recorded_and_the_reply_says_how_to_mend_it(app) -> None:  # type: ignore[no-untyped-def]
    cmd(app, "start Checkout errors")
    declared = utc_of(export(app)["incident"]["declared_at"])
    body = cmd(app, "detected at 2026-01-15 14:23 UTC PagerDuty fired")
    assert body["response_type"] == "in_channel"
    assert body["text"] == (
        ":stopwatch: *Detected* at 2026-01-15 14:23:00 UTC for INC-1: PagerDuty fired\n"
        ":warning: That puts detected (2026-01-15 14:23:00 UTC) before the incident began: it was declared at "
        f"{format_utc(declared)}, and no start was recorded, so its time to detect would be negative. Record when the "
        "impact started with `/incident started at <time>`, or correct this time with `/incident detected at <time>`."
    )
    data = export(app)
    assert data["incident"]["detected_at"] == "2026-01-15T14:23:00Z"  # recorded all the same: the latest word wins
    assert data["metrics"]["time_to_detect_s"] == (utc_of("2026-01-15T14:23:00Z") - declared).total_seconds() < 0

    # Doing what it says mends it, and says nothing more.
    body = cmd(app, "started at 2026-01-15 14:00 UTC first 502s")
    assert body["text"] == ":stopwatch: *Impact started* at 2026-01-15 14:00:00 UTC for INC-1: first 502s"
    assert export(app)["metrics"]["time_to_detect_s"] == 1380.0


def test_a_milestone_before_another_is_recorded_and_the_reply_names_both(app) -> None:  # type: ignore[no-untyped-def]
    cmd(app, "start Checkout errors")
    cmd(app, "started at 2026-01-15 14:00 UTC")
    cmd(app, "detected at 2026-01-15 14:23 UTC")
    body = cmd(app, "resolved at 2026-01-15 14:10 UTC")
    assert body["text"] == (
        ":stopwatch: *Resolved* at 2026-01-15 14:10:00 UTC for INC-1\n"
        ":warning: That puts resolved (2026-01-15 14:10:00 UTC) before detected (2026-01-15 14:23:00 UTC), so the time "
        "between them would be negative. Correct whichever is wrong with `/incident detected at <time>` or "
        "`/incident resolved at <time>`."
    )
    assert export(app)["incident"]["resolved_at"] == "2026-01-15T14:10:00Z"
    body = cmd(app, "resolved at 2026-01-15 15:07 UTC")
    assert body["text"] == ":stopwatch: *Resolved* at 2026-01-15 15:07:00 UTC for INC-1 (was 2026-01-15 14:10:00 UTC)"


def test_local_time_uses_the_users_slack_time_zone(app) -> None:  # type: ignore[no-untyped-def]
    cmd(app, "start Checkout errors")
    now = datetime.now(UTC)
    body = cmd(app, "detected at 30m ago", user="U0BOB")
    assert "*Detected* at" in body["text"]
    detected = datetime.fromisoformat(export(app)["incident"]["detected_at"].replace("Z", "+00:00"))
    assert abs((now - timedelta(minutes=30)) - detected) < timedelta(seconds=5)
    # users.info was asked for Bob's time zone (America/New_York) once, then cached.
    cmd(app, "note at 10m ago checked the dashboards", user="U0BOB")
    assert [c.params["user"] for c in app.api.calls_to("users.info")] == ["U0BOB"]


def test_bad_time_is_refused_with_the_accepted_forms_and_nothing_recorded(app) -> None:  # type: ignore[no-untyped-def]
    cmd(app, "start Checkout errors")
    before = count_entries(app)
    for text in ("detected at 25:99", "mitigated at 2099-01-01 10:00 UTC"):
        body = cmd(app, text)
        assert body["response_type"] == "ephemeral"
        assert body["text"].startswith(":x: ")
        assert "14:23" in body["text"]  # the accepted forms are shown
    assert "future" in cmd(app, "mitigated at 2099-01-01 10:00 UTC")["text"]
    assert count_entries(app) == before
    assert export(app)["incident"]["mitigated_at"] is None


def test_entries_severity_roles_timeline_help(app) -> None:  # type: ignore[no-untyped-def]
    cmd(app, "start Checkout errors sev3")
    for kind in ("note", "finding", "hypothesis", "mitigation", "decision", "rootcause", "status"):
        body = cmd(app, f"{kind} {kind} text &amp; more")
        assert body["response_type"] == "in_channel"
    assert "from sev3 to sev1" in cmd(app, "severity sev1")["text"]
    assert cmd(app, "role lead <@U0BOB|bob>")["text"] == ":bust_in_silhouette: <@U0BOB> is now *lead* for INC-1"
    data = export(app)
    assert data["incident"]["severity"] == "sev1"
    assert data["incident"]["roles"] == {"lead": "U0BOB"}
    assert [t["kind"] for t in data["timeline"]] == [
        "declared", "note", "finding", "hypothesis", "mitigation", "decision", "rootcause", "status", "severity", "role",
    ]
    assert data["timeline"][1]["text"] == "note text &amp; more"
    shown = cmd(app, "timeline 3")
    assert shown["response_type"] == "ephemeral"
    assert shown["text"].splitlines()[0] == "*INC-1 — last 3 timeline entries* (UTC)"
    assert len(shown["text"].splitlines()) == 4
    help_text = cmd(app, "help")
    assert help_text["response_type"] == "ephemeral" and "/incident start" in help_text["text"]


def test_only_lead_or_starter_can_close(app) -> None:  # type: ignore[no-untyped-def]
    cmd(app, "start Checkout errors")
    cmd(app, "role lead <@U0BOB>")
    refused = cmd(app, "close", user="U0CHI")
    assert refused["response_type"] == "ephemeral"
    assert "Only the incident lead (<@U0BOB>) or the person who started it (<@U0ANN>) can close INC-1." in refused["text"]
    assert export(app)["incident"]["status"] == "open"
    assert "*INC-1 closed*" in cmd(app, "close", user="U0BOB")["text"]
    assert export(app)["incident"]["status"] == "closed"
    assert "no open incident" in cmd(app, "note too late")["text"]


def test_usage_errors_are_ephemeral_and_never_500(app) -> None:  # type: ignore[no-untyped-def]
    cases = ["", "strat Foo", "start", "severity sev9", "role boss <@U0BOB>", "role lead bob", "note", "detected at lunchtime"]
    cmd(app, "start Checkout errors")
    before = count_entries(app)
    for text in cases:
        reply = app.player.command("U0ANN", "C0INC", text)
        assert reply.status == 200, text
        body = reply.json()
        assert body["response_type"] == "ephemeral", text
    assert "start" in app.player.command("U0ANN", "C0INC", "strat Foo").json()["text"]
    assert count_entries(app) == before


def test_echoed_text_cannot_ping_the_channel(app) -> None:  # type: ignore[no-untyped-def]
    cmd(app, "start Checkout errors")
    body = cmd(app, "note <!channel> please look <!here>")
    assert "<!channel>" not in body["text"] and "<!here>" not in body["text"]
