"""`scribe stats`: the same numbers as /incident stats, as a table, JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from bot.cli import main
from bot.models import ActionItem
from tests.test_insights_stats import seed

PERIOD = "2026-10-24 10:00 UTC to 2026-11-23 10:00 UTC"


@pytest.fixture
def cli(session_factory, database_url, monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    with session_factory.begin() as session:
        seed(session)
        session.flush()
        # `scribe stats` counts "overdue" against the real clock: keep the open item's due date ahead of it.
        session.execute(update(ActionItem).where(ActionItem.text == "c").values(due_date=date(2099, 1, 1)))
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)  # no stray .env

    def run(*args: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(main, ["stats", *args])

    return run


def test_table(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("--period", PERIOD, "--team", "T0SIM")
    assert result.exit_code == 0, result.output
    assert result.output == (
        "Incident stats (2026-10-24 10:00:00 UTC to 2026-11-23 10:00:00 UTC · all severities)\n"
        "Incidents               5 (▲ 2 vs previous 30 days): sev1 1 · sev2 2 · sev3 1 · sev4 0 · no severity 1\n"
        "Time to detect (TTD)    median 15 min (▼ 20 min vs previous 30 days) · p90 26 min · 5 incidents\n"
        "Time to mitigate (TTM)  median 25 min (▼ 20 min vs previous 30 days) · p90 37 min · 4 incidents\n"
        "Time to resolve (TTR)   median 1 h 15 min (▼ 5 min vs previous 30 days) · p90 1 h 51 min · 4 incidents\n"
        "Duration                median 1 h 22 min (▼ 28 min vs previous 30 days) · p90 2 h 04 min · 4 incidents\n"
        "Action items            2 open, 1 overdue · 2 done, 1 on time, 1 late · median 2.0 days to done · 1 won't fix\n"
        "Postmortems             1 final · 2 drafted, not final · 2 not started\n"
        "Longest                 INC-3 Incident number 3 (sev2, 2 h 15 min); "
        "INC-2 Incident number 2 (sev2, 1 h 40 min); INC-1 Incident number 1 (sev1, 1 h 05 min)\n"
    )


def test_json(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("--period", PERIOD, "--severity", "SEV2", "--team", "T0SIM", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["period"] == {"start": "2026-10-24T10:00:00Z", "end": "2026-11-23T10:00:00Z",
                              "label": "2026-10-24 10:00:00 UTC to 2026-11-23 10:00:00 UTC"}
    assert data["severity"] == "sev2"
    assert data["incidents"] == {"total": 2, "by_severity": {"sev1": 0, "sev2": 2, "sev3": 0, "sev4": 0, "none": 0}, "private": 0}
    assert data["metrics"]["time_to_detect_s"] == {"count": 2, "median_s": 750.0, "p90_s": 870.0}
    assert data["trend"]["time_to_detect_s"] == -750.0
    assert data["action_items"] == {"total": 2, "open": 0, "overdue": 0, "done": 1, "done_on_time": 0, "done_late": 1,
                                    "wontfix": 1, "median_days_to_done": 3.0, "in_tracker": 0}
    assert data["postmortems"] == {"final": 0, "drafted": 2, "in_review": 1, "draft": 1, "none": 0}
    assert [w["week"] for w in data["weekly"]] == ["2026-11-02", "2026-11-09"]
    assert data["previous"]["incidents"]["total"] == 1


def test_csv_one_metric_a_row_for_a_spreadsheet(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("--period", PERIOD, "--format", "csv", "--team", "T0SIM")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    by_metric = {r["metric"]: (r["value"], r["previous"]) for r in rows}
    assert by_metric["incidents"] == ("5", "3")
    assert by_metric["time_to_detect_median_s"] == ("900", "2100")
    assert by_metric["time_to_detect_p90_s"] == ("1560", "6180")
    assert by_metric["duration_p90_s"] == ("7470", "7800")
    assert by_metric["action_items_median_days_to_done"] == ("2", "")
    assert by_metric["postmortems_final"] == ("1", "1")
    assert rows[0]["period_start"] == "2026-10-24 10:00:00 UTC" and rows[0]["previous_end"] == "2026-10-24 10:00:00 UTC"
    assert {r["severity"] for r in rows} == {"all"}


def test_an_empty_period(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("--period", "2025-01-01 to 2025-01-31", "--team", "T0SIM")
    assert result.exit_code == 0, result.output
    assert result.output.endswith("No incidents between 2025-01-01 00:00:00 UTC and 2025-02-01 00:00:00 UTC.\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--period", "someday"], "scribe stats: --period 'someday': 'someday' is not a period I understand.\n\nPeriods I understand:"),
        (["--period", "2026-02-01 to 2026-01-01"],
         "scribe stats: --period '2026-02-01 to 2026-01-01': The period ends (2026-01-02 00:00:00 UTC) before it starts"),
        (["--severity", "sev9"], "scribe stats: --severity 'sev9' is not a severity; use sev1, sev2, sev3 or sev4 (or leave it out for all)."),
    ],
)
def test_bad_input_exits_2_with_the_reason(cli, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    result = cli(*args)
    assert result.exit_code == 2
    assert result.output.startswith(message)


def test_several_workspaces_need_team(cli) -> None:  # type: ignore[no-untyped-def]
    # seed() records an incident of T0OTHER too.
    result = cli("--period", PERIOD)
    assert result.exit_code == 2
    assert result.output == ("scribe stats: incidents of several workspaces are recorded (T0OTHER, T0SIM). "
                             "Say which with --team, e.g. --team T0OTHER.\n")
    other = cli("--period", PERIOD, "--team", "T0OTHER", "--format", "json")
    assert json.loads(other.output)["incidents"]["total"] == 1
