"""The grounding check cannot be bypassed, and a model call is never made inside a
transaction (issue 26).

Only bot/drafting talks to the model and reads its answer; everything else in the app gets
a `Draft` that bot.drafting.drafts checked, through the package's public functions, and
shows it with its renderers. These tests read the app's source to hold that line: a module
outside bot/drafting that imported the client (or the check, the prompt, a Sentence) or made
a Draft of its own could show a model's text unchecked.
"""

from __future__ import annotations

import ast
from datetime import UTC
from pathlib import Path

import pytest

from bot.config import Settings
from bot.db import guard
from bot.drafting import RecordedEntry, draft_catch_up
from bot.models import Incident
from bot.simulator.openai_compat import FakeOpenAI

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "bot"
# The fake model server builds model answers to test with; it shows nothing to anyone.
OUTSIDE = [p for p in sorted(APP.rglob("*.py")) if not p.is_relative_to(APP / "drafting") and not p.is_relative_to(APP / "simulator")]
# What the app may take from bot.drafting: the drafts (checked inside), the renderers, and
# the plain data it passes in.
PUBLIC = {"Draft", "RecordedEntry", "draft_catch_up", "draft_status_update", "draft_postmortem_fields", "may_send",
          "model_available", "render_mrkdwn", "render_plain", "citation_numbers"}


def _imports_from_drafting(tree: ast.AST) -> list[str]:
    """Every name taken from bot.drafting and every bot.drafting submodule imported."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bot.drafting"):
            if node.module != "bot.drafting":
                found.append(node.module)
            else:
                found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module == "bot":
            found.extend("bot." + a.name for a in node.names if a.name == "drafting")
        elif isinstance(node, ast.Import):
            found.extend(a.name for a in node.names if a.name.startswith("bot.drafting"))
    return found


def _draft_constructions(tree: ast.AST) -> list[int]:
    """Lines where bot.drafting's Draft or Sentence is made (`Draft(…)`, `drafting.Draft(…)`);
    other classes of the same name (the postmortem's own Draft) don't count."""
    made = {"Draft", "Sentence", "SentEntry"}
    names: set[str] = set()  # local names of those classes
    modules: set[str] = set()  # local names of bot.drafting modules
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bot.drafting"):
            names.update(a.asname or a.name for a in node.names if a.name in made)
        elif isinstance(node, ast.ImportFrom) and node.module == "bot":
            modules.update(a.asname or a.name for a in node.names if a.name == "drafting")
        elif isinstance(node, ast.Import):
            modules.update(a.asname or a.name for a in node.names if a.name.startswith("bot.drafting"))
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if (isinstance(func, ast.Name) and func.id in names) or (
            isinstance(func, ast.Attribute) and func.attr in made and ast.unparse(func.value) in modules | {"bot.drafting"}
        ):
            lines.append(node.lineno)
    return lines


def test_the_scan_sees_the_app_and_what_it_takes_from_drafting() -> None:
    users = {p.relative_to(ROOT).as_posix() for p in OUTSIDE if _imports_from_drafting(ast.parse(p.read_text()))}
    # The scan is not vacuous: the modules that show drafts are among those it read.
    assert {"bot/slack/drafts.py", "bot/slack/blocks/drafts.py", "bot/services/drafting.py"} <= users
    assert len(OUTSIDE) > 100


@pytest.mark.parametrize("path", OUTSIDE, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_only_bot_drafting_reads_the_model_and_makes_drafts(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    taken = _imports_from_drafting(tree)
    assert [name for name in taken if name not in PUBLIC] == [], (
        f"{path.relative_to(ROOT)} takes {taken} from bot.drafting; outside it, only {sorted(PUBLIC)} may be used, "
        "so every draft shown went through bot.drafting.drafts (the grounding check) and its renderers")
    assert _draft_constructions(tree) == [], f"{path.relative_to(ROOT)} makes a Draft or Sentence of its own"


def test_the_scan_catches_a_module_that_reads_the_model_itself() -> None:
    bypass = ast.parse(
        "from bot.drafting.client import complete\n"
        "from bot.drafting import Draft, Sentence as S\n"
        "from bot import drafting\n"
        "def show(answer):\n"
        "    return Draft('catch_up', tuple(S(s['text'], ()) for s in answer), 0, ())\n"
        "def again(answer):\n"
        "    return drafting.Draft('catch_up', (), 0, ())\n"
    )
    assert _imports_from_drafting(bypass) == ["bot.drafting.client", "Draft", "Sentence", "bot.drafting"]
    assert sorted(_draft_constructions(bypass)) == [5, 5, 7]
    # The postmortem's own Draft is another class.
    assert _draft_constructions(ast.parse("from bot.services.postmortem import Draft\nDraft(1)\n")) == []


def test_a_model_call_inside_a_transaction_trips_and_never_leaves(session_factory) -> None:  # type: ignore[no-untyped-def]
    from datetime import datetime

    entry = RecordedEntry(id=1, incident_id=1, at=datetime(2026, 11, 23, 10, 0, tzinfo=UTC), author="Ann Lee",
                          kind="finding", text="pool exhausted on db-primary")
    with FakeOpenAI() as model:
        settings = Settings(ai_base_url=model.base_url, ai_model=model.model)
        with session_factory.begin() as session:
            session.get(Incident, 1)  # a connection is checked out: a transaction is open
            with pytest.raises(guard.NetworkCallInTransaction, match="model was called while a database transaction is open"):
                draft_catch_up([entry], settings=settings, incident_id=1, private=False)
        assert model.requests == []
        refused = guard.take_refused()  # taken back, or the conftest fixture would fail this test for it
        assert len(refused) == 1 and "tests/test_drafts_guarded.py" in refused[0]
        # After commit, the same call goes out.
        assert draft_catch_up([entry], settings=settings, incident_id=1, private=False) is not None
        assert len(model.requests) == 1
