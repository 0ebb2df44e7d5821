"""manifest.yml must be a valid Slack app manifest and agree with what the app listens to.

Both ways: everything the app registers (read from the app `create_app` builds, not from a
list kept here) is declared in the manifest, and everything the manifest declares is handled.
What a manifest can't declare (block action_ids, modal callback_ids) is checked the same way
between what the Block Kit builders in bot/slack/blocks emit and the listeners registered.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from slack_bolt import App
from slack_sdk import WebClient

ROOT = Path(__file__).resolve().parents[1]
# Slack's schema, copied into the repository (tests/fixtures/README.md says from where).
SCHEMA = ROOT / "tests" / "fixtures" / "slack" / "manifest.schema.1.0.0.json"
BLOCKS = ROOT / "bot" / "slack" / "blocks"
UTC = UTC


class UniqueKeyLoader(yaml.SafeLoader):
    """A YAML reader that refuses a mapping with the same key twice. PyYAML (like Slack's
    manifest import) silently keeps the last one, which is how a second `shortcuts:`
    once dropped the "Add to timeline" shortcut."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark, f"found the key {key!r} twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_manifest(text: str | None = None) -> dict:
    return yaml.load((ROOT / "manifest.yml").read_text() if text is None else text, Loader=UniqueKeyLoader)


def test_manifest_validates_against_slack_schema() -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(load_manifest(), schema)


def test_a_key_given_twice_is_refused() -> None:
    """Guards load_manifest: a duplicate key anywhere (here a nested one) is an error, not the last one winning."""
    with pytest.raises(yaml.constructor.ConstructorError, match="found the key 'shortcuts' twice"):
        load_manifest("features:\n  shortcuts: [a]\n  bot_user: {}\n  shortcuts: [b]\n")
    assert load_manifest("features:\n  shortcuts: [a]\n") == {"features": {"shortcuts": ["a"]}}


def test_manifest_declares_the_scopes_and_settings_the_app_uses() -> None:
    manifest = load_manifest()
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    # Each scope backs a Web API method the app calls.
    assert {"commands", "chat:write", "channels:history", "channels:join", "users:read", "files:write", "canvases:write", "im:write", "im:history"} <= scopes
    # Declaring: conversations.create/invite/setTopic for public (channels:manage) and private (groups:write) channels.
    assert {"channels:manage", "groups:write", "channels:read", "groups:read"} <= scopes
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["socket_mode_enabled"] is True


def test_a_broken_manifest_is_rejected_by_the_schema() -> None:
    """Guards the schema test: the schema really checks (a 40-character name is too long)."""
    schema = json.loads(SCHEMA.read_text())
    manifest = load_manifest()
    manifest["display_information"]["name"] = "x" * 40
    try:
        jsonschema.validate(manifest, schema)
    except jsonschema.ValidationError:
        return
    raise AssertionError("schema accepted a 40-character app name")


# -- what the app registers ------------------------------------------------------------------------

# Every App method that registers a listener. Each call makes exactly one listener, which the
# fixture checks, so a listener registered some other way can't slip past these tests.
REGISTRATION_METHODS = (
    "event", "message", "command", "shortcut", "global_shortcut", "message_shortcut", "action", "block_action",
    "attachment_action", "dialog_submission", "dialog_cancellation", "view", "view_submission", "view_closed",
    "options", "block_suggestion", "dialog_suggestion", "function",
)


@dataclass
class Registered:
    app: App
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def of(self, *methods: str) -> list[Any]:
        return [constraint for method, constraint in self.calls if method in methods]


@pytest.fixture(scope="module")
def registered() -> Iterator[Registered]:
    from bot.slack.app import create_app
    from tests.conftest import make_settings

    calls: list[tuple[str, Any]] = []
    with pytest.MonkeyPatch.context() as patch:
        for name in REGISTRATION_METHODS:
            original = getattr(App, name)

            def recording(self: App, constraints: Any, *args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
                calls.append((_name, constraints))
                return _original(self, constraints, *args, **kwargs)

            patch.setattr(App, name, recording)
        # Nothing is called: no token check, an in-memory database, a client pointing nowhere.
        settings = make_settings("sqlite://", "http://127.0.0.1:9/api/")
        app = create_app(settings, WebClient(token="xoxb-unused", base_url=settings.slack_api_url), token_verification=False)
    assert len(calls) == len(app._listeners), "a listener was registered by a method this test doesn't know"
    yield Registered(app=app, calls=calls)
    app.scribe.close()  # type: ignore[attr-defined]


def _as_ids(constraints: list[Any], what: str) -> set[str]:
    """The ids registered; a pattern or a dict would hide which, so it isn't allowed here."""
    for constraint in constraints:
        assert isinstance(constraint, str), f"{what} registered as {constraint!r}: register each id by its name"
    return set(constraints)


def _handled_event_types(registered: Registered) -> set[str]:
    """Events go to one catch-all listener that routes on the event type (bot.slack.listeners.events)."""
    from bot.slack.listeners import events

    listeners = registered.of("event", "message")
    assert len(listeners) == 1 and isinstance(listeners[0], re.Pattern) and listeners[0].pattern == ".*", listeners
    catch_all = next(lis for lis in registered.app._listeners if lis.ack_function is events.on_event)
    assert catch_all is not None
    return set(events.EVENT_HANDLERS)


# Manifest bot events whose payload type differs from the subscription's name.
def _event_type(subscription: str) -> str:
    return "message" if subscription.startswith("message.") else subscription


def test_slash_commands_both_ways(registered: Registered) -> None:
    declared = {c["command"] for c in load_manifest()["features"]["slash_commands"]}
    assert _as_ids(registered.of("command"), "a slash command") == declared == {"/incident"}


def test_shortcuts_both_ways(registered: Registered) -> None:
    declared = {(s["type"], s["callback_id"]) for s in load_manifest()["features"]["shortcuts"]}
    handled = ({("global", c) for c in _as_ids(registered.of("global_shortcut"), "a global shortcut")}
               | {("message", c) for c in _as_ids(registered.of("message_shortcut"), "a message shortcut")})
    either = _as_ids(registered.of("shortcut"), "a shortcut")  # app.shortcut() listens to both kinds
    handled |= {(kind, c) for kind, c in declared if c in either}
    assert declared == handled
    assert {c for _, c in handled} >= either
    assert declared == {("message", "add_to_timeline"), ("global", "declare_incident")}


def test_bot_events_both_ways(registered: Registered) -> None:
    manifest = load_manifest()
    subscriptions = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert len(subscriptions) == len(set(subscriptions))
    declared = {_event_type(s) for s in subscriptions}
    assert declared == _handled_event_types(registered)
    # Recording covers public and private channels alike.
    assert {"message.channels", "message.groups"} <= set(subscriptions)
    # The Home tab is published on app_home_opened, so the manifest must turn the tab on.
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True


# -- what the Block Kit builders emit ----------------------------------------------------------------


@dataclass
class Emitted:
    actions: set[str] = field(default_factory=set)  # interactive elements: each click reaches the app
    inputs: set[str] = field(default_factory=set)  # fields of a form: read from the submitted view
    forms: set[str] = field(default_factory=set)  # modals' callback_ids: each submission reaches the app
    other_views: set[str] = field(default_factory=set)  # Home tab: nothing to submit

    def all(self) -> set[str]:
        return self.actions | self.inputs | self.forms | self.other_views

    def blocks(self, blocks: list[dict[str, Any]]) -> None:
        for block in blocks:
            if block["type"] == "input":
                element = block["element"]
                (self.actions if block.get("dispatch_action") else self.inputs).add(element["action_id"])
                continue
            for element in [block.get("accessory"), *block.get("elements", [])]:
                if isinstance(element, dict) and "action_id" in element:
                    self.actions.add(element["action_id"])

    def message(self, message: tuple[str, list[dict[str, Any]]]) -> None:
        self.blocks(message[1])

    def view(self, view: dict[str, Any]) -> None:
        self.blocks(view["blocks"])
        if view["type"] == "modal" and "submit" in view:
            self.forms.add(view["callback_id"])
        elif "callback_id" in view:
            self.other_views.add(view["callback_id"])


def emitted_by_builders() -> Emitted:
    """Every builder in bot/slack/blocks that makes a message or a view, with its buttons
    and forms shown (a Mark reviewed button only shows on a draft, and so on)."""
    from zoneinfo import ZoneInfo

    from bot.insights.stats import IncidentRecord, compute_stats, parse_period
    from bot.postmortem import ReviewFields, build_context
    from bot.services.actions import ItemView
    from bot.services.catchup import CatchUp, Event
    from bot.services.home import HomeFacts, IncidentLine, ReviewLine
    from bot.slack.blocks import catchup, curation, declare, followups, home, postmortem, stats, updates
    from tests.test_render import GENERATED, NAMES, incident, small_entries

    now = datetime(2026, 11, 23, 10, tzinfo=UTC)
    out = Emitted()
    item = ItemView(id=1, text="Alert on pool saturation", owner_id="U1", created_by="U2", due_label="Mon 2026-11-30", priority="p1",
                    status="open", incident_ref="INC-1", incident_title="Checkout errors", channel_id="C1")
    event = Event(at=now, label="Finding", icon="🔍", author="U1", text="pool exhausted")
    out.message(catchup.catch_up_message(CatchUp(
        ref="INC-1", title="Checkout errors", status="open", severity="sev2", lead="U1", channel_id="C1", key_times=[("Incident declared", now)],
        metrics={}, events=[event], last_status=event, open_items=[item], now=now)))
    out.message(catchup.welcome_message("INC-1", "Checkout errors", 1))

    line = curation.EntryLine(id=1, version=1, at=now, label="Note", author="U1", text="x", key=False, hidden=False, deletable=True, corrected_by=None)
    out.message(curation.timeline_message("INC-1", [line], "/incident"))
    common = dict(entry_id=1, version=1, author="U1", text="x", at=now, zone=UTC)
    out.view(curation.edit_modal(label="Note", time_editable=True, text_optional=False, **common))  # type: ignore[arg-type]
    out.view(curation.delete_modal(label="Note", **common))  # type: ignore[arg-type]
    out.view(curation.mark_modal(kind=None, **common))  # type: ignore[arg-type]
    out.view(curation.notice_modal("Entry deleted", "done"))

    out.view(declare.declare_modal(origin_channel="C1"))
    out.message(declare.welcome_message(ref="INC-1", title="Checkout errors", severity="sev2", lead="U1", declared_at=now, description="d",
                                        private=False, command="/incident", key_reaction="pushpin", web_page="https://scribe.example.com/i/INC-1"))
    out.message(declare.announcement_message(declare.AnnouncementFacts(
        incident_id=1, ref="INC-1", title="Checkout errors", severity="sev2", status="open", lead="U1", channel_id="C1", started_at=now, private=False)))

    for kind in followups.LEADS:
        out.message(followups.reminder_message(kind, item))
    out.message(followups.settled_reminder(item, "done"))
    out.message(followups.snoozed_reminder(item, now + timedelta(days=1), UTC))
    out.message(followups.digest_message("INC-1", "Checkout errors", [item]))
    out.message(followups.review_message("INC-1", "Checkout errors", 7, [item]))
    out.message(followups.action_list(1, "INC-1", [item], "/incident", ("jira", "github", "linear", "gitlab")))
    out.view(followups.add_item_modal(1, "INC-1", "U1", ticket_field=True))

    out.view(home.home_view(HomeFacts(
        user_id="U1", now=now,
        incidents=[IncidentLine(id=1, ref="INC-1", title="Checkout errors", channel_id="C1", severity="sev2", lead="U1", started_at=now)],
        items=[item], reviews=[ReviewLine(ref="INC-1", title="Checkout errors", channel_id="C1", status_label="Draft", updated_at=now)])))

    pointer = postmortem.DraftPointer(version=1, template="standard", status="draft", filename="INC-12-postmortem-v1.md")
    for status in ("draft", "in_review", "final"):
        context = build_context(incident(), small_entries(), [], ReviewFields(status=status), user_name=NAMES.get,
                                generated_at=GENERATED, display_tz=ZoneInfo("UTC"))
        out.blocks(postmortem.summary_blocks(context, [], pointer, incident_id=12))
        out.blocks(postmortem.compact_summary_blocks(context, pointer, incident_id=12))
    out.view(postmortem.edit_modal(incident_id=12, ref="INC-12", saved={}))
    # With AI drafts on, the fields a draft may fill tell the app about the first character typed.
    out.view(postmortem.edit_modal(incident_id=12, ref="INC-12", saved={}, drafting=postmortem.DRAFTED_FIELDS))

    records = [IncidentRecord(1, "Checkout errors", "sev2", now - timedelta(days=3), None, None, None, None)]
    out.message(stats.stats_message(compute_stats(team_id="T1", period=parse_period("last 30d", now), severity=None, now=now, incidents=records)))

    out.message(updates.update_message(ref="INC-1", title="Checkout errors", severity="sev2", status="investigating", summary="s",
                                       author="U1", at=now, next_at=now + timedelta(minutes=30)))
    for kind in ("nudge_update", "nudge_lead", "nudge_idle"):
        out.message(updates.nudge_message(kind, ref="INC-1", incident_id=1, command="/incident", since=now, minutes=30))
    out.view(updates.update_form(1, "INC-1", status="investigating", next_minutes=30))
    out.view(updates.update_form(1, "INC-1", status="investigating", next_minutes=30, drafting=True))
    return out


def ids_in_builder_source() -> set[str]:
    """Every id the source of bot/slack/blocks can put into an action_id or callback_id: a
    string, or a module constant, given as that key of a dict or as the `action_id` argument
    of a helper. Guards the list of builders above: what isn't called there shows up here."""
    trees = {path.stem: ast.parse(path.read_text()) for path in BLOCKS.glob("*.py")}
    constants = {
        module: {t.id: node.value.value for node in tree.body if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                 and isinstance(node.value.value, str) for t in node.targets if isinstance(t, ast.Name)}
        for module, tree in trees.items()
    }
    aliases = {
        module: {(a.asname or a.name): a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module == "bot.slack.blocks"
                 for a in node.names if a.name in trees}
        for module, tree in trees.items()
    }
    parameters = {(module, node.name): [a.arg for a in node.args.args + node.args.kwonlyargs]
                  for module, tree in trees.items() for node in tree.body if isinstance(node, ast.FunctionDef)}

    def where(module: str, node: ast.expr) -> tuple[str, str] | None:
        if isinstance(node, ast.Name):
            return module, node.id
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases[module]:
            return aliases[module][node.value.id], node.attr
        return None

    def value(module: str, node: ast.expr) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        found = where(module, node)
        return constants[found[0]].get(found[1]) if found else None

    ids: set[str] = set()
    for module, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict):
                for key, item in zip(node.keys, node.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value in ("action_id", "callback_id"):
                        ids.add(value(module, item) or "")
            elif isinstance(node, ast.Call) and (target := where(module, node.func)) in parameters:
                names = parameters[target]
                for name in ("action_id", "callback_id"):
                    if name in names and names.index(name) < len(node.args):
                        ids.add(value(module, node.args[names.index(name)]) or "")
                    ids.update(value(module, k.value) or "" for k in node.keywords if k.arg == name)
    ids.discard("")  # a parameter passed through (a helper's own `"action_id": action_id`)
    return ids


@pytest.fixture(scope="module")
def emitted() -> Emitted:
    return emitted_by_builders()


def test_every_id_in_the_builders_source_is_emitted_by_the_builders_called_here(emitted: Emitted) -> None:
    in_source = ids_in_builder_source()
    assert {"followup_done", "postmortem_regenerate", "timeline_edit_entry", "catchup_show"} <= in_source  # the scan finds them
    assert in_source - emitted.all() == set(), "a builder emits these, but emitted_by_builders doesn't call it"


def test_every_button_and_menu_the_builders_emit_has_a_listener_and_every_action_listener_a_button(registered: Registered, emitted: Emitted) -> None:
    listened = _as_ids(registered.of("action", "block_action"), "a block action")
    assert emitted.actions - listened == set(), "clicking these reaches no listener"
    assert listened - emitted.actions == set(), "these listeners wait for a button no builder makes"


def test_every_form_the_builders_emit_has_a_listener_and_every_view_listener_a_form(registered: Registered, emitted: Emitted) -> None:
    listened = _as_ids(registered.of("view", "view_submission"), "a view")
    assert emitted.forms - listened == set(), "submitting these forms reaches no listener"
    assert listened - emitted.forms == set(), "these listeners wait for a form no builder makes"
    assert registered.of("view_closed", "options", "block_suggestion") == []
