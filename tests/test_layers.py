"""The layout keeps its promises: services decide and import nothing from Slack; the model's
and the trackers' clients are reached only through their own packages."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SLACK_MODULES = ("slack_sdk", "slack_bolt", "bot.slack")


def imports_of(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level imports count too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_services_import_nothing_from_slack() -> None:
    offending = {
        str(path.relative_to(ROOT)): sorted(m for m in imports_of(path) if m.startswith(SLACK_MODULES))
        for path in sorted((ROOT / "bot" / "services").rglob("*.py"))
    }
    assert {name: found for name, found in offending.items() if found} == {}


def test_the_outbox_imports_nothing_from_slack() -> None:
    offending = {str(p.relative_to(ROOT)): sorted(m for m in imports_of(p) if m.startswith(SLACK_MODULES))
                 for p in sorted((ROOT / "bot" / "outbox").rglob("*.py"))}
    assert {name: found for name, found in offending.items() if found} == {}


def test_the_check_finds_a_slack_import(tmp_path: Path) -> None:
    """The check above can fail: a service importing Slack, even inside a function, is found."""
    service = tmp_path / "service.py"
    service.write_text("def decide():\n    from bot.slack.io import messages\n    return messages\n")
    assert sorted(m for m in imports_of(service) if m.startswith(SLACK_MODULES)) == ["bot.slack.io", "bot.slack.io.messages"]
