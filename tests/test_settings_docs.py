"""Settings and their documentation stay in step.

The code's list is `SETTING_DEFAULTS` in bot/config.py (the loader takes every default from
it); these tests check that the loader reads exactly those names, that `.env.example` sets
each of them to its default, and that docs/running.md's configuration reference lists each
with the same default and an example the loader accepts, and nothing else.

Variables read only by the tests and the benchmark (SCRIBE_TEST_DATABASE_URL, …) are not
settings: they are found in tests/ and bench/, must be documented in docs/developing.md,
and may appear in `.env.example` only commented out (they are read from the real
environment, never from .env).
"""

from __future__ import annotations

import ast
import re
from dataclasses import fields
from pathlib import Path

from bot.config import SETTING_DEFAULTS, Settings, settings_from_env

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "bot" / "config.py"
ENV_EXAMPLE = ROOT / ".env.example"
RUNNING = ROOT / "docs" / "running.md"
DEVELOPING = ROOT / "docs" / "developing.md"
REFERENCE_HEADING = "## Configuration reference"

# The loader's ways of reading one variable: get("X"), text("X"), _int(env, "X", …), env.get("X").
READERS = {"get", "text", "_int", "_number", "_seconds", "_bool", "_tracker_url"}
NAME = re.compile(r"[A-Z][A-Z0-9_]*")


def _called_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def names_the_loader_reads() -> set[str]:
    """Every variable name bot/config.py passes to one of its readers, found in the code itself."""
    found = set()
    for node in ast.walk(ast.parse(CONFIG.read_text())):
        if isinstance(node, ast.Call) and _called_name(node) in READERS:
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and NAME.fullmatch(arg.value):
                    found.add(arg.value)
    return found


def environment_reads(paths: list[Path]) -> dict[str, Path]:
    """Names read straight from the process environment: os.environ.get("X"), os.getenv("X"), os.environ["X"]."""
    found: dict[str, Path] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            name = None
            if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
                target = ast.unparse(node.func)
                if target in {"os.environ.get", "os.getenv", "environ.get", "getenv"}:
                    name = node.args[0].value
            elif (
                isinstance(node, ast.Subscript)
                and ast.unparse(node.value) in {"os.environ", "environ"}
                and isinstance(node.slice, ast.Constant)
                and isinstance(node.ctx, ast.Load)
            ):
                name = node.slice.value
            if isinstance(name, str):
                found.setdefault(name, path)
    return found


def development_variables() -> set[str]:
    """SCRIBE_* variables the tests, the benchmark and docs/screenshots.py read from the environment."""
    paths = [path for folder in ("tests", "bench", "docs") for path in sorted((ROOT / folder).rglob("*.py"))]
    return {name for name in environment_reads(paths) if name.startswith("SCRIBE_") and name not in SETTING_DEFAULTS}


def env_example_lines() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """`.env.example`'s assignments: (set NAME=value, commented-out # NAME=value), each name → its values."""
    active: dict[str, list[str]] = {}
    commented: dict[str, list[str]] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if match := re.fullmatch(r"([A-Z][A-Z0-9_]*)=(.*)", line):
            active.setdefault(match[1], []).append(match[2])
        elif match := re.fullmatch(r"#\s*([A-Z][A-Z0-9_]*)=(.*)", line):
            commented.setdefault(match[1], []).append(match[2])
    return active, commented


def _cells(row: str) -> list[str]:
    """A Markdown table row's cells; `\\|` is a pipe inside a cell."""
    inner = row.strip().strip("|")
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def _code_or_empty(cell: str, *, what: str, name: str) -> str:
    if match := re.match(r"`([^`]*)`", cell):
        return match[1]
    if cell.lower().startswith("empty"):
        return ""
    raise AssertionError(f"{name}'s {what} in docs/running.md must be `a value` or 'empty …', got {cell!r}")


def documented_settings() -> dict[str, tuple[str, str]]:
    """docs/running.md's configuration reference: name → (default, example).

    Every table under REFERENCE_HEADING (until the next `## ` heading) whose first column is
    a setting in backticks; columns: Setting | Default | Example | What it does. A default is
    `a value` in backticks or the word "empty" (maybe followed by what empty means)."""
    text = RUNNING.read_text()
    assert REFERENCE_HEADING in text, f"docs/running.md has no {REFERENCE_HEADING!r} section"
    section = text.split(REFERENCE_HEADING, 1)[1]
    section = re.split(r"^## ", section, maxsplit=1, flags=re.MULTILINE)[0]
    documented: dict[str, tuple[str, str]] = {}
    for line in section.splitlines():
        if not line.startswith("|"):
            continue
        cells = _cells(line)
        match = re.fullmatch(r"`([A-Z][A-Z0-9_]*)`", cells[0])
        if match is None:
            continue
        name = match[1]
        assert name not in documented, f"{name} is listed twice in docs/running.md's configuration reference"
        assert len(cells) == 4, f"{name}'s row must have 4 cells (setting, default, example, what it does), got {cells}"
        documented[name] = (_code_or_empty(cells[1], what="default", name=name), _code_or_empty(cells[2], what="example", name=name))
    return documented


def test_the_loader_reads_exactly_the_settings_in_its_table() -> None:
    read = names_the_loader_reads()
    assert read, "found no reads in bot/config.py: has the loader changed how it reads variables? (update READERS)"
    assert read - set(SETTING_DEFAULTS) == set(), "read by bot/config.py but missing from SETTING_DEFAULTS"
    assert set(SETTING_DEFAULTS) - read == set(), "in SETTING_DEFAULTS but never read by bot/config.py"


def test_no_module_reads_a_setting_from_the_environment_behind_the_loaders_back() -> None:
    reads = environment_reads(sorted((ROOT / "bot").rglob("*.py")))
    assert {name: str(path.relative_to(ROOT)) for name, path in reads.items()} == {}, (
        "read settings in bot/config.py (SETTING_DEFAULTS and settings_from_env), not from os.environ"
    )


def test_the_tables_defaults_are_what_settings_defaults_to() -> None:
    """Tests and the demo build Settings(...) directly: its field defaults must be the loader's."""
    tokens = {"SLACK_BOT_TOKEN": "xoxb-1-abc", "SLACK_SIGNING_SECRET": "signing"}
    loaded = settings_from_env(tokens)
    built = Settings(slack_bot_token="xoxb-1-abc", slack_signing_secret="signing")
    differing = {f.name: (getattr(loaded, f.name), getattr(built, f.name)) for f in fields(Settings) if getattr(loaded, f.name) != getattr(built, f.name)}
    assert differing == {}


def test_a_blank_variable_means_its_default() -> None:
    tokens = {"SLACK_BOT_TOKEN": "xoxb-1-abc", "SLACK_SIGNING_SECRET": "signing"}
    blank = {name: "  " for name in SETTING_DEFAULTS if name not in tokens}
    assert settings_from_env(tokens | blank) == settings_from_env(tokens)


def test_env_example_sets_every_setting_to_its_default() -> None:
    active, _ = env_example_lines()
    assert {name: values for name, values in active.items() if len(values) > 1} == {}, "set more than once in .env.example"
    assert set(SETTING_DEFAULTS) - set(active) == set(), "settings missing from .env.example"
    assert set(active) - set(SETTING_DEFAULTS) == set(), "set in .env.example but not read by the app"
    wrong = {name: (values[0], SETTING_DEFAULTS[name]) for name, values in active.items() if values[0] != SETTING_DEFAULTS[name]}
    assert wrong == {}, ".env.example's value (first) differs from the default (second); put examples in the comment"


def test_configuration_reference_lists_every_setting_with_its_default() -> None:
    documented = documented_settings()
    assert set(SETTING_DEFAULTS) - set(documented) == set(), "settings missing from docs/running.md's configuration reference"
    assert set(documented) - set(SETTING_DEFAULTS) == set(), "documented in docs/running.md but not read by the app"
    wrong = {name: (default, SETTING_DEFAULTS[name]) for name, (default, _) in documented.items() if default != SETTING_DEFAULTS[name]}
    assert wrong == {}, "docs/running.md's default (first) differs from the code's (second)"


def test_every_documented_example_is_accepted_and_is_not_the_default(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    documented = documented_settings()
    examples = {name: example for name, (_, example) in documented.items()}
    assert {name: example for name, example in examples.items() if example == SETTING_DEFAULTS.get(name)} == {}, (
        "an example should show a value other than the default"
    )
    # SCRIBE_TEMPLATES_DIR must name an existing folder: make the documented one, relative to here.
    monkeypatch.chdir(tmp_path)
    (tmp_path / examples["SCRIBE_TEMPLATES_DIR"]).mkdir(parents=True)
    # Jira Data Center's token takes the place of Jira Cloud's email and token: checked on its own.
    alternatives = {"JIRA_PAT": ("JIRA_EMAIL", "JIRA_API_TOKEN")}
    together = {name: example for name, example in examples.items() if name not in alternatives}
    settings = settings_from_env(together)  # raises SettingsError naming any example it refuses
    assert (settings.port, settings.timezone.key, settings.web_enabled) == (int(examples["PORT"]), examples["SCRIBE_TIMEZONE"], True)
    for name, replaced in alternatives.items():
        settings_from_env({**{k: v for k, v in together.items() if k not in replaced}, name: examples[name]})


def test_development_variables_are_documented_and_only_commented_in_env_example() -> None:
    variables = development_variables()
    assert "SCRIBE_TEST_DATABASE_URL" in variables
    developing = DEVELOPING.read_text()
    assert {name for name in variables if f"`{name}`" not in developing} == set(), "not described in docs/developing.md"
    _, commented = env_example_lines()
    assert set(commented) - variables == set(), "commented out in .env.example but not a development variable"
    assert "SCRIBE_TEST_DATABASE_URL" in commented, ".env.example should show SCRIBE_TEST_DATABASE_URL with an example value"
    assert all(value.strip() for name in commented for value in commented[name]), "give each commented variable an example value"

