"""`scribe draft` and the Slack export reader, on the Slack export fixture in tests/fixtures."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.slack.export_reader import ExportError, read_export

# A real workspace export, copied into the repository (tests/fixtures/README.md says from where).
EXPORT = Path(__file__).resolve().parent / "fixtures" / "slack-export"
UTC = UTC


@pytest.fixture
def run(monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("SCRIBE_POSTMORTEM_TEMPLATE", "SCRIBE_TEMPLATES_DIR", "SCRIBE_TIMEZONE"):
        monkeypatch.delenv(name, raising=False)

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(main, ["draft", "--export", str(EXPORT), *args])

    return invoke


def test_reader_maps_messages_names_and_files() -> None:
    facts = read_export(EXPORT, "enrique")
    assert len(facts.entries) == 96  # 4 joins and 2 bot_add notices left out
    first = facts.entries[0]
    assert (first.at, first.author, first.kind, first.ts) == (datetime(2016, 1, 15, 5, 55, 52, 6, tzinfo=UTC), "U0BMQB6JE", "message", "1452837352.000006")
    assert first.text == "<@U0BMYT2FL>: Created an issue for a setup.py so that it can be installed to a standard place"
    assert facts.names["U0BMYT2FL"] == "abilinski" and facts.names["U0BMQB6JE"] == "hamza"
    assert facts.incident.channel_name == "enrique" and facts.incident.created_by == "U0BMQB6JE"
    assert facts.incident.declared_at == first.at and facts.incident.closed_at == facts.entries[-1].at
    # Integrations that post only attachments keep their pretext and text (the fallback only
    # stands in when an attachment has nothing else), as live capture does.
    bot = next(e for e in facts.entries if e.author == "B0JL6RASU")
    assert bot.text == (
        "[enrique:master] 1 new commit by Anthony Bilinski:\n"
        "<https://github.com/mesos-magellan/enrique/commit/ed1acbe9837b5ddf91e93606b604df3c2b4e128f|ed1acbe>: "
        "executor with simulated annealing rough draft - Anthony Bilinski"
    )
    # A pasted link's preview is a link of the entry, not more text.
    pasted = next(e for e in facts.entries if e.ts == "1452846025.000011")
    assert pasted.text == "Here's an example: <https://github.com/hfaran/progressive/blob/master/setup.py>"
    assert [(link.url, link.title, link.image_url) for link in pasted.links] == [
        ("https://github.com/hfaran/progressive/blob/master/setup.py", "hfaran/progressive", None)
    ]

    sailor = read_export(EXPORT, "#traveling-sailor")
    shared = [e for e in sailor.entries if e.files]
    assert next((e.files[0].name, e.files[0].permalink) for e in shared) == (
        "100 cities", "https://mesos-magellan.slack.com/files/U0BMS113R/F0VNAKDE2/100_cities.js")


def test_draft_prints_markdown_with_names_and_utc_times(run) -> None:  # type: ignore[no-untyped-def]
    result = run("--channel", "enrique")
    assert result.exit_code == 0, result.output
    md = result.output
    assert md.startswith("# Postmortem: Incident in #enrique\n")
    assert (
        "### Friday 2016-01-15\n\n"
        "- `05:55:52` **hamza**: @abilinski: Created an issue for a setup.py so that it can be installed to a standard place\n"
    ) in md
    assert "- `05:55:59` **hamza**: Need that done before it can be used in victoria\n" in md
    assert "has joined the channel" not in md
    assert "**Participants (6):** abilinski, bot B0JL6RASU, bot B0VJZKVHC, doubledeez, hamza, heroeshannibal" in md


def test_time_window_and_template(run) -> None:  # type: ignore[no-untyped-def]
    result = run("--channel", "enrique", "--template", "concise", "--from", "2016-01-15 08:00 UTC", "--to", "2016-01-15 09:00 UTC")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("- `")]
    assert lines == [
        "- `08:17:45` **abilinski**: what should setup.py do? install dependencies for docker and install docker plus contain the executor?",
        "- `08:18:44` **hamza**: Nope. Just \"install\" the executor.",
        "- `08:19:16` **abilinski**: so can it itself just be the executor? I don't think it will need any outside dependencies",
        # The pasted link's preview shows as a link.
        "- `08:20:25` **hamza**: Here's an example: <https://github.com/hfaran/progressive/blob/master/setup.py>"
        " 🔗 [hfaran/progressive](https://github.com/hfaran/progressive/blob/master/setup.py)",
    ]


def test_pins_and_pushpin_reactions_are_key_events(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    copy = tmp_path / "export"
    shutil.copytree(EXPORT, copy)
    day = copy / "enrique" / "2016-01-15.json"
    messages = json.loads(day.read_text())
    messages[1]["pinned_to"] = ["C0JGLMMNX"]
    messages[3]["reactions"] = [{"name": "pushpin", "users": ["U0BMS113R"], "count": 1}]
    messages[4]["reactions"] = [{"name": "eyes", "users": ["U0BMS113R"], "count": 1}]
    day.write_text(json.dumps(messages))
    result = CliRunner().invoke(main, ["draft", "--export", str(copy), "--channel", "enrique"])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if "📌 Key message" in line]
    assert rows == [
        "| 2016-01-15 08:18:44 | 📌 Key message | hamza | Nope. Just \"install\" the executor. |",
        "| 2016-01-15 08:20:25 | 📌 Key message | hamza | Here's an example: <https://github.com/hfaran/progressive/blob/master/setup.py> |",
    ]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--channel", "nope"], "scribe draft: There is no channel called 'nope' in this export. Channels: enrique, traveling-sailor."),
        (["--channel", "enrique", "--template", "fancy"],
         "scribe draft: There is no postmortem template called 'fancy'. "
         "Available templates: 'comprehensive', 'concise', 'executive', 'sre-five-whys', 'standard'."),
        (["--channel", "enrique", "--from", "yesterday-ish"], "scribe draft: --from 'yesterday-ish': 'yesterday-ish' is not a time I understand."),
        (["--channel", "enrique", "--from", "2016-02-01 00:00 UTC", "--to", "2016-01-01 00:00 UTC"], "scribe draft: --to is before --from; swap them."),
        (["--channel", "enrique", "--from", "2016-01-17 00:00 UTC", "--to", "2016-01-18 00:00 UTC"],
         "scribe draft: #enrique has no messages in that time window, so there is nothing to draft."),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(run, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    result = run(*args)
    assert result.exit_code == 2
    assert result.output.startswith(message), result.output


def test_missing_export_folder(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(main, ["draft", "--export", str(tmp_path / "nothing"), "--channel", "x"])
    assert result.exit_code == 2
    assert result.output == f"scribe draft: {tmp_path / 'nothing'} is not a folder. Unzip the Slack export and pass the folder it made.\n"
    (tmp_path / "empty").mkdir()
    with pytest.raises(ExportError, match=re.escape("channels.json is missing")):
        read_export(tmp_path / "empty", "x")


def test_integration_alerts_tombstones_and_names_in_an_export(tmp_path: Path) -> None:
    from tests.test_message_text import DATADOG, GRAFANA, PAGERDUTY

    copy = tmp_path / "export"
    shutil.copytree(EXPORT, copy)
    day = copy / "enrique" / "2016-01-15.json"
    messages = json.loads(day.read_text())
    extra = [
        {**PAGERDUTY, "ts": "1452837400.000001"},
        {**DATADOG, "ts": "1452837401.000001"},
        {**GRAFANA, "ts": "1452837402.000001"},
        # A thread parent deleted while it had replies: Slack keeps it as a tombstone.
        {"type": "message", "subtype": "tombstone", "text": "This message was deleted.", "user": "USLACKBOT", "hidden": True,
         "ts": "1452837403.000001", "thread_ts": "1452837403.000001", "reply_count": 1},
        {"type": "message", "user": "U0BMQB6JE", "text": "reply stays", "ts": "1452837404.000001", "thread_ts": "1452837403.000001"},
    ]
    day.write_text(json.dumps(messages + extra))
    facts = read_export(copy, "enrique")
    got = {e.ts: e for e in facts.entries}
    assert (got["1452837400.000001"].author, got["1452837400.000001"].author_name) == ("B0PAGERDUTY", "PagerDuty")
    assert got["1452837400.000001"].text.splitlines()[1:] == ["Status: Triggered", "Urgency: High",
                                                             "Service: <https://acme.pagerduty.com/services/PSVC1|checkout>"]
    assert got["1452837401.000001"].author_name == "Datadog"
    assert got["1452837401.000001"].text.count("High error rate on checkout") == 1
    assert [link.url for link in got["1452837402.000001"].links] == ["https://grafana.example.com/render/d-solo/abc/checkout.png"]
    assert "1452837403.000001" not in got and got["1452837404.000001"].text == "reply stays"

    result = CliRunner().invoke(main, ["draft", "--export", str(copy), "--channel", "enrique"])
    assert result.exit_code == 0, result.output
    assert "**PagerDuty**: [#1234: checkout error rate \\> 5%](https://acme.pagerduty.com/incidents/PXYZ123) ⏎ Status: Triggered" in result.output
    assert "This message was deleted" not in result.output
