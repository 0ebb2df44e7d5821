"""The demo's samples in README.md and docs/*.md are what `make demo` prints.

The demo is run exactly as `make demo` runs it (`scribe demo`, here `python -m bot.cli demo
--keep` in a subprocess, with SQLite in a temporary folder). Two kinds of marked blocks, each
a fenced code block:

- between `<!-- demo-sample:start -->` and `<!-- demo-sample:end -->`: lines of what the demo
  prints;
- between `<!-- demo-draft:start -->` and `<!-- demo-draft:end -->`: lines of the postmortem
  the demo drafts (`INC-1-postmortem-v1.md`; the demo prints only its start), read back with
  `scribe export --channel C0DEMO1 --format md` from the database `--keep` kept.

Each line of a block must be a line of its source, under these rules:

- The demo runs on today's clock, so dates and times are normalised on both sides before
  comparing: every YYYY-MM-DD becomes <DATE>, every compact YYYYMMDD date (20xxxxxx, as in a
  declared channel's name) becomes <DATE>, every HH:MM, HH:MM:SS or HH:MM:SS.ffffff
  becomes <TIME>, and every weekday, in full or abbreviated (Monday, Mon … Sun), becomes <DAY>.
- Lines are compared whole, without leading and trailing spaces.
- A sample line that is only `…` stands for lines left out, and is skipped.
- A sample line that ends with ` …` stands for a longer line: the output must have a line
  that starts with what comes before the ` …` (an exact match is accepted too).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SAMPLE, DRAFT = "demo-sample", "demo-draft"
KEPT = re.compile(r"^Demo database kept at (.+)$", flags=re.MULTILINE)

DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
COMPACT_DATE = re.compile(r"(?<!\d)20\d{6}(?!\d)")
TIME = re.compile(r"(?<!\d)\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?!\d)")
WEEKDAY = re.compile(r"\b(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day\b|\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)\b")


def normalise(line: str) -> str:
    line = DATE.sub("<DATE>", line)
    line = COMPACT_DATE.sub("<DATE>", line)
    line = TIME.sub("<TIME>", line)
    return WEEKDAY.sub("<DAY>", line).strip()


def marked_samples(path: Path, kind: str) -> list[list[str]]:
    """The lines of each code block marked `<!-- {kind}:start -->` … `<!-- {kind}:end -->` in `path`
    (each marker on a line of its own; a marker quoted in the text is not one)."""
    start, end = f"<!-- {kind}:start -->", f"<!-- {kind}:end -->"
    blocks = re.split(rf"^{re.escape(start)}$", path.read_text(), flags=re.MULTILINE)[1:]
    samples = []
    for block in blocks:
        closing = re.search(rf"^{re.escape(end)}$", block, flags=re.MULTILINE)
        assert closing is not None, f"{path.name}: a {start} without its {end}"
        body = block[: closing.start()]
        fence = re.fullmatch(r"\s*```[^\n]*\n(.*?)^```\s*", body, flags=re.MULTILINE | re.DOTALL)
        assert fence is not None, f"{path.name}: the sample between {start} and {end} must be one fenced code block"
        samples.append(fence.group(1).splitlines())
    return samples


def missing_lines(sample: list[str], output: list[str]) -> list[str]:
    printed = {normalise(line) for line in output}
    missing = []
    for line in sample:
        wanted = normalise(line)
        if wanted in ("", "…") or wanted in printed:
            continue
        if wanted.endswith(" …") and any(p.startswith(wanted[:-2]) for p in printed):
            continue
        missing.append(line)
    return missing


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """What `scribe demo` printed, and its first postmortem draft, as lines."""
    workdir = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCRIBE_", "DATABASE_URL"))}
    env["TMPDIR"] = str(workdir)  # the demo's temporary database goes here

    def scribe(*args: str, **extra_env: str) -> str:
        result = subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=workdir, env=env | extra_env,
                                capture_output=True, text=True, timeout=90)
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    printed = scribe("demo", "--keep")
    kept = KEPT.search(printed)
    assert kept is not None, "scribe demo --keep should say where it kept the database"
    draft = scribe("export", "--channel", "C0DEMO1", "--format", "md", DATABASE_URL=f"sqlite:///{kept.group(1)}")
    return {SAMPLE: printed.splitlines(), DRAFT: draft.splitlines()}


def test_the_rules_normalise_dates_and_times_only() -> None:
    assert normalise("  2026-12-06T08:54:45.480887Z  x 09:04 <U0ANN>") == "<DATE>T<TIME>Z  x <TIME> <U0ANN>"
    assert normalise("#inc-20261207-search: due Mon 2026-12-07, TTD 345 s") == "#inc-<DATE>-search: due <DAY> <DATE>, TTD 345 s"
    assert normalise("### Sunday 2026-12-06, ts 1796548065480887") == "### <DAY> <DATE>, ts 1796548065480887"
    assert missing_lines(["a 10:00", "…", "b long …", "c"], ["a 23:59", "b long line"]) == ["c"]


def test_readme_has_demo_samples() -> None:
    samples = marked_samples(ROOT / "README.md", SAMPLE)
    assert samples, "README.md should mark the demo's sample with <!-- demo-sample:start --> … <!-- demo-sample:end -->"
    assert all(len([line for line in sample if line.strip() not in ("", "…")]) >= 3 for sample in samples)


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_line_of_the_demos_samples_is_what_the_demo_produced(path: Path, demo_run: dict[str, list[str]]) -> None:
    for kind in (SAMPLE, DRAFT):
        for sample in marked_samples(path, kind):
            assert missing_lines(sample, demo_run[kind]) == [], f"{path.name}: lines of a {kind} block that the demo didn't produce"


def test_readmes_command_table_names_every_command() -> None:
    """README's one table of commands covers every /incident subcommand and every `scribe` command."""
    from bot.cli import main
    from bot.commands import USAGE

    section = (ROOT / "README.md").read_text().split("## Commands people type", 1)[1].split("\n## ", 1)[0]
    first_cells = [m.group(1) for m in re.finditer(r"^\| `([^`]+)`", section, flags=re.MULTILINE)]
    subcommands = {word for cell in first_cells if cell.startswith("/incident ") for word in cell.split()[1].split("\\|")}
    scribe = {cell.split()[1] for cell in first_cells if cell.startswith("scribe ")}
    assert set(USAGE) - subcommands == set(), "subcommands missing from README's command table"
    assert set(main.commands) - scribe == set(), "scribe commands missing from README's command table"
