"""Context building and template rendering."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2
import pytest

from bot.postmortem import (
    ActionFact,
    EntryFact,
    FileRef,
    IncidentFacts,
    ReviewFields,
    UnknownTemplate,
    available_templates,
    build_context,
    compute_metrics,
    make_environment,
    render_postmortem,
)
from bot.timefmt import format_duration

UTC = UTC
BUILTIN = ["comprehensive", "concise", "executive", "sre-five-whys", "standard"]
NAMES = {"U1": "Ann Lee", "U2": "Bob Stone", "U3": "Cy Ortiz"}
GENERATED = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def at(hour: int, minute: int, second: int = 0, day: int = 20) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)


def incident(**overrides: object) -> IncidentFacts:
    fields: dict[str, object] = dict(
        id=12, ref="INC-12", title="Checkout errors", severity="SEV2", status="closed",
        channel_id="C12", channel_name="inc-12-checkout",
        declared_at=at(14, 23, 5), started_at=at(14, 0), detected_at=at(14, 16),
        mitigated_at=at(14, 50), resolved_at=at(15, 23), closed_at=at(9, 0, day=21),
        created_by="U1", roles={"commander": "U1", "scribe": "U3"},
    )
    fields.update(overrides)
    return IncidentFacts(**fields)  # type: ignore[arg-type]


def empty_incident() -> IncidentFacts:
    return incident(severity=None, status="open", channel_name=None, started_at=None,
                    detected_at=None, mitigated_at=None, resolved_at=None, closed_at=None,
                    created_by=None, roles={})


def msg(when: datetime, text: str | None, author: str = "U1", ts: str = "1.0",
        **kwargs: object) -> EntryFact:
    return EntryFact(at=when, kind="message", text=text, author=author, source="message",
                     key=bool(kwargs.pop("key", False)), ts=ts, **kwargs)  # type: ignore[arg-type]


def cmd(when: datetime, kind: str, text: str, author: str | None = "U1") -> EntryFact:
    return EntryFact(at=when, kind=kind, text=text, author=author, source="command",
                     key=True, ts=None)


def small_entries() -> list[EntryFact]:
    return [
        cmd(at(14, 23, 5), "declared", "Checkout errors"),
        msg(at(14, 24, 10), "<@U2> can you check <https://grafana.example/d/1|the dashboard>?",
            ts="100.1"),
        msg(at(14, 25, 0), "On it, pool looks full", author="U2", ts="100.2",
            thread_ts="100.1", edited=True,
            files=(FileRef("pool.png", "https://files.example/pool.png"),)),
        msg(at(14, 26, 0), None, author="U2", ts="100.3"),  # deleted: must vanish
        cmd(at(14, 30), "hypothesis", "DB pool exhausted by a leak"),
        cmd(at(14, 35), "finding", "Pool at 100% since 14:02", author="U2"),
        cmd(at(14, 40), "mitigation", "Restart checkout pods"),
        cmd(at(14, 44), "decision", "Roll back to v2.3.3"),
        msg(at(14, 45, 30), "Rollback finished :tada:", author="U3", ts="100.4", key=True),
        EntryFact(at=at(14, 50), kind="mitigated", text="", author="U1", source="command",
                  key=True, ts=None),
        cmd(at(14, 55), "rootcause", "Connection leak in v2.3.4"),
        EntryFact(at=at(14, 56), kind="finding", text=None, author="U1", source="command",
                  key=True, ts=None),  # deleted command entry
        msg(at(23, 59, 59), "# Still watching | graphs", author="U2", ts="100.5"),
        msg(at(0, 0, 1, day=21), "All quiet overnight", author="U3", ts="100.6"),
    ]


def small_actions() -> list[ActionFact]:
    return [
        ActionFact(id=7, text="Alert on pool saturation for <@U2>", owner="U2",
                   due=date(2026, 12, 1), due_at=None, priority="P1", status="open"),
        ActionFact(id=8, text="Write the pool runbook", owner=None, due=None,
                   due_at=datetime(2026, 12, 5, 17, 30, tzinfo=UTC), priority=None,
                   status="done"),
    ]


def context_for(inc: IncidentFacts, entries: list[EntryFact], actions: list[ActionFact] | None = None,
                review: ReviewFields | None = None) -> dict:
    return build_context(inc, entries, actions or [], review or ReviewFields(),
                         user_name=NAMES.get, generated_at=GENERATED,
                         display_tz=ZoneInfo("America/New_York"))


@pytest.fixture(scope="module")
def env() -> jinja2.Environment:
    return make_environment()


def section(markdown: str, heading: str) -> str:
    """Text from the heading line that contains *heading* to the next heading
    of the same or a higher level."""
    lines = markdown.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("#") and heading in line)
    level = len(lines[start]) - len(lines[start].lstrip("#"))
    end = len(lines)
    for i in range(start + 1, len(lines)):
        match = re.match(r"(#+) ", lines[i])
        if match and len(match.group(1)) <= level:
            end = i
            break
    return "\n".join(lines[start:end])


def assert_no_empty_headings(markdown: str) -> None:
    lines = [line for line in markdown.split("\n") if line.strip()]
    for current, following in zip(lines, [*lines[1:], "# END"], strict=True):
        here = re.match(r"(#+) ", current)
        there = re.match(r"(#+) ", following)
        if here and there:
            assert len(there.group(1)) > len(here.group(1)), f"empty section: {current!r}"


# -- metrics and formatting ------------------------------------------------


def test_compute_metrics() -> None:
    assert compute_metrics(incident()) == {
        "time_to_detect_s": 960.0,
        "time_to_mitigate_s": 2040.0,
        "time_to_resolve_s": 4020.0,
        "duration_s": 4980.0,
    }
    metrics = compute_metrics(empty_incident())
    assert set(metrics.values()) == {None}
    # Without a recorded start, the declaration time stands in.
    assert compute_metrics(incident(started_at=None))["time_to_detect_s"] == -425.0


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "—"), (0, "0 s"), (45, "45 s"), (60, "1 min"), (420, "7 min"),
    (4020, "1 h 07 min"), (8100, "2 h 15 min"), (93784, "1 d 2 h 03 min"), (-120, "-2 min"),
])
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


def test_context_contents() -> None:
    ctx = context_for(incident(), small_entries(), small_actions())
    assert [p["key"] for p in ctx["phases"]] == ["detection", "investigation", "mitigation",
                                                 "resolution"]
    assert [p["minutes"] for p in ctx["phases"]] == [16.0, 24.0, 10.0, 33.0]
    assert round(sum(p["percent"] for p in ctx["phases"])) == 100
    assert ctx["participants"] == ["Ann Lee", "Bob Stone", "Cy Ortiz"]
    assert ctx["commander"] == "Ann Lee"
    assert ctx["message_count"] == 5
    assert ctx["reply_count"] == 1
    assert [len(ctx["investigation"][k]) for k in
            ("hypotheses", "findings", "mitigations", "decisions", "root_causes")] == [1, 1, 1, 1, 1]
    kinds = [e["kind"] for e in ctx["key_events"]]
    # Milestones known only from the incident record are added to the timeline.
    assert kinds[:3] == ["started", "detected", "declared"]
    assert "message" in kinds and "closed" in kinds and "resolved" in kinds
    assert [e["new_day"] for e in ctx["key_events"]].count(True) == 2
    assert ctx["actions"][0]["owner"] == "Bob Stone"
    assert ctx["actions"][1]["owner"] is None
    assert ctx["actions"][1]["due"] == "2026-12-05 17:30 UTC"
    assert set(ctx["prompts"]) >= {"impact", "contributing_factors", "lessons", "what_went_well",
                                   "where_we_got_lucky", "five_whys"}


def test_phases_skip_unknown_ends() -> None:
    ctx = context_for(incident(mitigated_at=None, resolved_at=None), [])
    assert [p["key"] for p in ctx["phases"]] == ["detection"]
    assert ctx["phases"][0]["percent"] == 100.0


def test_naive_datetimes_are_treated_as_utc() -> None:
    naive = msg(datetime(2026, 11, 20, 14, 24, 10), "naive", ts="9.9")
    ctx = context_for(incident(), [naive])
    assert ctx["messages"][0]["utc"] == "2026-11-20 14:24:10 UTC"


# -- rendering ---------------------------------------------------------------


def test_builtin_templates_are_listed(env: jinja2.Environment) -> None:
    assert available_templates(env) == BUILTIN


@pytest.mark.parametrize("name", BUILTIN)
def test_empty_incident_renders(env: jinja2.Environment, name: str) -> None:
    out = render_postmortem(context_for(empty_incident(), []), name, env)
    assert "INC-12" in out
    assert "Draft" in out
    assert "✍️ **To write:**" in out
    assert "0 messages captured" in out
    assert "None" not in out
    assert "\n\n\n" not in out and out.endswith("\n")
    assert_no_empty_headings(out)


@pytest.mark.parametrize("name", BUILTIN)
def test_small_incident_renders_facts(env: jinja2.Environment, name: str) -> None:
    out = render_postmortem(context_for(incident(), small_entries(), small_actions()), name, env)
    assert_no_empty_headings(out)
    # exact UTC times and human durations
    assert "2026-11-20 14:23:05" in out
    assert "1 h 07 min" in out  # time to resolve
    assert "1 h 23 min" in out  # duration
    assert "Investigation" in out and "28.9 %" in out
    # key events keep the full date, also across midnight
    assert "2026-11-21 09:00:00" in out
    # mentions resolved, links kept, edits and threads marked, files linked
    assert "@Bob Stone can you check [the dashboard](https://grafana.example/d/1)?" in out
    assert "↳ **Bob Stone** _(in thread)_: On it, pool looks full _(edited)_" in out
    assert "[pool.png](https://files.example/pool.png)" in out
    # deleted entries are gone without a trace
    assert "100.3" not in out and out.count("Bob Stone** _(in thread)_") == 1
    # user text cannot create headings or split table cells
    assert "\\# Still watching \\| graphs" in out
    assert not re.search(r"^#+ Still watching", out, re.MULTILINE)
    # action items with owners, due dates and status
    assert "| 7 | Alert on pool saturation for @Bob Stone | Bob Stone | 2026-12-01 | P1 | Open |" in out
    assert "| 8 | Write the pool runbook | _unassigned_ | 2026-12-05 17:30 UTC | — | Done |" in out
    assert "Ann Lee" in out and "Cy Ortiz" in out
    assert "5 messages captured" in out


@pytest.mark.parametrize("name", BUILTIN)
def test_review_fields_replace_prompts(env: jinja2.Environment, name: str) -> None:
    review = ReviewFields(summary="Checkout failed for a third of users.",
                          impact="About *30%* of orders failed.\n# not a heading",
                          root_cause="A connection leak.", contributing_factors="No pool alert.",
                          lessons="Watch pools.", status="in_review", version=3)
    ctx = context_for(incident(), small_entries(), small_actions(), review)
    out = render_postmortem(ctx, name, env)
    assert "In review (version 3)" in out
    assert "About \\*30%\\* of orders failed.\\\n\\# not a heading" in out
    assert ctx["prompts"]["impact"] not in out
    if name != "executive":
        assert ctx["prompts"]["summary"] not in out
    assert ctx["prompts"]["lessons"] not in out
    assert_no_empty_headings(out)


@pytest.mark.parametrize("name", BUILTIN)
def test_ten_thousand_messages(env: jinja2.Environment, name: str) -> None:
    base = at(10, 0)
    entries = [msg(base + timedelta(seconds=17 * i), f"update {i} from <@U{i % 3 + 1}>",
                   author=f"U{i % 3 + 1}", ts=f"{i}.0") for i in range(10_000)]
    out = render_postmortem(context_for(incident(), entries), name, env)
    log = section(out, "ommunication log")
    assert "10,000 messages captured" in log
    assert len(re.findall(r"^- `\d\d:\d\d:\d\d` ", log, re.MULTILINE)) == 10_000
    assert "update 9999 from @Ann Lee" in log


def test_custom_directory_overrides_and_adds(tmp_path: Path) -> None:
    (tmp_path / "concise.md.j2").write_text("Team concise for {{ incident.ref }}\n")
    (tmp_path / "team-brief.md.j2").write_text(
        "# {{ incident.title }}\n{% for e in key_events %}- {{ e.utc }} {{ e.label }}\n{% endfor %}")
    (tmp_path / "_partial.md.j2").write_text("not a template\n")
    (tmp_path / "notes.txt").write_text("ignored\n")
    env = make_environment(tmp_path)
    assert available_templates(env) == sorted([*BUILTIN, "team-brief"])
    ctx = context_for(incident(), small_entries())
    assert render_postmortem(ctx, "concise", env) == "Team concise for INC-12\n"
    brief = render_postmortem(ctx, "team-brief", env)
    assert brief.startswith("# Checkout errors\n- 2026-11-20 14:00:00 UTC Impact started\n")
    # Built-ins that were not overridden still come from the package.
    assert "## Five whys" in section(render_postmortem(ctx, "sre-five-whys", env), "Root cause")


def test_custom_template_with_typo_fails_loudly(tmp_path: Path) -> None:
    (tmp_path / "typo.md.j2").write_text("{{ incident.titel }}\n")
    with pytest.raises(jinja2.UndefinedError):
        render_postmortem(context_for(incident(), []), "typo", make_environment(tmp_path))


@pytest.mark.parametrize("name", ["nope", "../templates/standard", "_macros", "standard.md.j2"])
def test_unknown_template(env: jinja2.Environment, name: str) -> None:
    with pytest.raises(UnknownTemplate) as caught:
        render_postmortem(context_for(incident(), []), name, env)
    assert caught.value.name == name
    assert caught.value.available == BUILTIN
    message = str(caught.value)
    assert repr(name) in message
    assert "comprehensive, concise, executive, sre-five-whys, standard" in message


def test_hostile_title_and_names_stay_inert(env: jinja2.Environment) -> None:
    names = {"U1": "<img src=x onerror=alert(1)>", "U2": "# Boss"}
    ctx = build_context(
        incident(title="&lt;script&gt; | [click](javascript:x)"),
        [msg(at(14, 24), "hi <!channel>", ts="1.1"), msg(at(14, 25), "yo", author="U2", ts="1.2")],
        [], ReviewFields(), user_name=names.get, generated_at=GENERATED,
        display_tz=ZoneInfo("UTC"))
    for name in BUILTIN:
        out = render_postmortem(ctx, name, env)
        assert not re.search(r"(?<!\\)<(script|img|!channel)", out)
        assert "\\<script\\>" in out and "\\<img src=x" in out
        assert not re.search(r"(?<!\\)\]\(javascript:", out)
        assert not re.search(r"^#+ Boss", out, re.MULTILINE)
