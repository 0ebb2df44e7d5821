"""The drafting service on a real database: versions, templates, review state, 10,000 messages."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.models import Incident, PostmortemVersion, RoleAssignment, TimelineEntry, UserProfile
from bot.services import postmortem as pm
from bot.services.errors import NotAllowed, ScribeError

UTC = UTC
T0 = datetime(2026, 1, 15, 14, 0, tzinfo=UTC)
TEMPLATES = ["comprehensive", "concise", "executive", "sre-five-whys", "standard"]


def settings(**overrides: object) -> Settings:
    values: dict[str, object] = dict(slack_bot_token="xoxb-x", slack_signing_secret="s", database_url="sqlite://")
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def make_incident(session, messages: int = 0) -> Incident:  # type: ignore[no-untyped-def]
    incident = Incident(team_id="T1", channel_id="C1", channel_name="inc-db", title="DB pool exhausted", severity="sev2",
                        created_by="U1", declared_at=T0 + timedelta(minutes=20), started_at=T0,
                        detected_at=T0 + timedelta(minutes=15), mitigated_at=T0 + timedelta(minutes=50),
                        resolved_at=T0 + timedelta(minutes=80))
    incident.roles.append(RoleAssignment(role="lead", user_id="U2", assigned_at=T0))
    session.add(incident)
    session.flush()
    for user_id, name in (("U1", "ann"), ("U2", "bob"), ("U3", "chi")):
        session.add(UserProfile(team_id="T1", user_id=user_id, display_name=name, real_name=None, tz="UTC", fetched_at=datetime.now(UTC)))
    session.add_all([
        TimelineEntry(incident_id=incident.id, team_id=incident.team_id, channel_id="C1", ts=f"{1768485600 + i}.000100", at=T0 + timedelta(seconds=i * 0.5),
                      kind="message", text=f"update {i}: pool at {i % 100}% <@U{i % 3 + 1}>", author=f"U{i % 3 + 1}",
                      source="message", key=False, recorded_at=T0)
        for i in range(messages)
    ])
    session.flush()
    return incident


def test_ten_thousand_messages_render_with_every_template(session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_factory.begin() as session:
        incident = make_incident(session, messages=10_000)
        for template in TEMPLATES:
            draft = pm.draft_postmortem(session, incident, settings=settings(), now=T0 + timedelta(days=1), user_id="U1", template=template)
            log = draft.markdown.split("ommunication log", 1)[1]
            assert len(re.findall(r"^- `\d\d:\d\d:\d\d(?:\.\d+)?` ", log, re.MULTILINE)) == 10_000, template
            assert "- `14:00:00` **ann**: update 0: pool at 0% @ann" in log
            assert "- `15:23:19` **ann**: update 9999: pool at 99% @ann" in log
    with session_factory() as session:
        stored = session.scalars(select(PostmortemVersion).order_by(PostmortemVersion.version)).all()
        assert [(v.version, v.template) for v in stored] == list(enumerate(TEMPLATES, start=1))


@pytest.mark.parametrize("template", TEMPLATES)
def test_empty_incident_drafts_with_prompts(session_factory, template: str) -> None:  # type: ignore[no-untyped-def]
    with session_factory.begin() as session:
        incident = Incident(team_id="T1", channel_id="C1", title="Nothing yet", created_by="U1", declared_at=T0)
        session.add(incident)
        session.flush()
        draft = pm.draft_postmortem(session, incident, settings=settings(), now=T0, user_id=None, template=template)
        assert "✍️ **To write:**" in draft.markdown
        assert "0 messages captured" in draft.markdown
        assert draft.findings == []


def test_default_and_remembered_template(session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_factory.begin() as session:
        incident = make_incident(session)
        first = pm.draft_postmortem(session, incident, settings=settings(postmortem_template="concise"), now=T0, user_id="U1")
        second = pm.draft_postmortem(session, incident, settings=settings(), now=T0, user_id="U1")
        third = pm.draft_postmortem(session, incident, settings=settings(), now=T0, user_id="U1", template="Executive")
    assert [(d.version, d.template) for d in (first, second, third)] == [(1, "concise"), (2, "concise"), (3, "executive")]


def test_custom_template_directory(session_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "ours.md.j2").write_text("# {{ incident.title }} ({{ incident.ref }})\n{{ metric_rows[0].human }} to detect\n")
    with session_factory.begin() as session:
        incident = make_incident(session)
        draft = pm.draft_postmortem(session, incident, settings=settings(templates_dir=tmp_path), now=T0, user_id=None, template="ours")
    assert draft.markdown == f"# DB pool exhausted (INC-{incident.id})\n15 min to detect\n"


def test_status_transitions_and_permissions(session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_factory.begin() as session:
        incident = make_incident(session)
        with pytest.raises(ScribeError, match="still a Draft"):
            pm.set_status(session, incident, status="final", user_id="U2", rule="lead", now=T0)
        assert pm.set_status(session, incident, status="in_review", user_id="U3", rule="lead", now=T0) == "draft"
        with pytest.raises(NotAllowed, match=r"Only the incident lead \(<@U2>\) or the person who started INC-\d+ \(<@U1>\)"):
            pm.set_status(session, incident, status="final", user_id="U3", rule="lead", now=T0)
        assert pm.set_status(session, incident, status="final", user_id="U1", rule="lead", now=T0) == "in_review"
        with pytest.raises(ScribeError, match="already Final; it can't go back to In review"):
            pm.set_status(session, incident, status="in_review", user_id="U1", rule="lead", now=T0)
        with pytest.raises(ScribeError, match="Final, so it can no longer be edited"):
            pm.save_review_fields(session, incident, {"summary": "x"}, user_id="U1", now=T0)
        assert pm.draft_postmortem(session, incident, settings=settings(), now=T0, user_id="U1").status == "final"


def test_anyone_may_finalise_when_configured(session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_factory.begin() as session:
        incident = make_incident(session)
        pm.set_status(session, incident, status="in_review", user_id="U3", rule="anyone", now=T0)
        assert pm.set_status(session, incident, status="final", user_id="U3", rule="anyone", now=T0) == "in_review"


def test_review_fields_are_trimmed_and_blank_means_prompt(session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_factory.begin() as session:
        incident = make_incident(session)
        pm.save_review_fields(session, incident, {"summary": "  It broke.  ", "impact": "   ", "lessons": None}, user_id="U3", now=T0)
        draft = pm.draft_postmortem(session, incident, settings=settings(), now=T0, user_id="U3", template="standard")
    assert "## Summary in plain language\n\nIt broke.\n" in draft.markdown
    assert "## Impact\n\n> ✍️ **To write:** Quantify the effect" in draft.markdown


def test_latest_markdown_returns_the_stored_version(session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_factory.begin() as session:
        incident = make_incident(session)
        first = pm.latest_markdown(session, incident, settings=settings(), now=T0)
        assert pm.latest_markdown(session, incident, settings=settings(), now=T0 + timedelta(hours=1)) == first
        assert len(session.scalars(select(PostmortemVersion)).all()) == 1


def test_concurrent_drafts_get_distinct_versions(session_factory) -> None:  # type: ignore[no-untyped-def]
    import threading

    with session_factory.begin() as session:
        incident_id = make_incident(session, messages=50).id
    errors: list[Exception] = []
    start = threading.Barrier(4)

    def draft() -> None:
        try:
            start.wait()
            with session_factory.begin() as session:
                pm.draft_postmortem(session, session.get(Incident, incident_id), settings=settings(), now=T0, user_id="U1")
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=draft) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    with session_factory() as session:
        assert sorted(session.scalars(select(PostmortemVersion.version))) == [1, 2, 3, 4]
