"""The `scribe` command line itself: --version, -h, a bare `scribe`, what the help says, and
a database it can't use reported like any other bad setting (one line, exit code 2)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main

ROOT = Path(__file__).resolve().parents[1]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
SCRIBE = Path(sys.executable).parent / "scribe"  # the installed entry point


def invoke(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args), prog_name="scribe", env=env)


def flat(text: str) -> str:
    """Help text with click's line wrapping undone."""
    return " ".join(text.split())


def test_version() -> None:
    result = invoke("--version")
    assert (result.exit_code, result.output) == (0, f"scribe, version {VERSION}\n")


@pytest.mark.parametrize("command", [[], ["run"], ["export"], ["stats"], ["db"], ["db", "upgrade"], ["demo"], ["draft"]])
def test_dash_h_is_help(command: list[str]) -> None:
    short, long = invoke(*command, "-h"), invoke(*command, "--help")
    assert (short.exit_code, long.exit_code) == (0, 0)
    assert short.output == long.output and short.output.startswith(f"Usage: scribe {' '.join(command)}".rstrip() + " [OPTIONS]")


def test_a_bare_scribe_shows_the_help_and_succeeds() -> None:
    bare = subprocess.run([str(SCRIBE)], capture_output=True, text=True, timeout=60)
    assert bare.returncode == 0, bare.stderr
    assert bare.stdout == subprocess.run([str(SCRIBE), "--help"], capture_output=True, text=True, timeout=60).stdout
    assert "Commands:" in bare.stdout and "run " in bare.stdout and bare.stderr == ""
    version = subprocess.run([str(SCRIBE), "--version"], capture_output=True, text=True, timeout=60)
    assert (version.returncode, version.stdout) == (0, f"scribe, version {VERSION}\n")


def test_run_help_says_where_settings_come_from() -> None:
    text = flat(invoke("run", "--help").output)
    assert "Settings come from the environment and from a .env file in the current folder" in text
    assert "see .env.example for every setting" in text


@pytest.mark.parametrize("command", [["export"], ["stats"], ["db", "upgrade"]])
def test_database_commands_say_which_database_they_read(command: list[str]) -> None:
    text = flat(invoke(*command, "--help").output)
    assert "the database DATABASE_URL names (from the environment or .env; without it sqlite:///scribe.db, in the current folder)" in text
