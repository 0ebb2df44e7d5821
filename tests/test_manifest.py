"""manifest.yml must be a valid Slack app manifest and agree with what the app listens to."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[1]
# Slack's schema, copied into the repository (tests/fixtures/README.md says from where).
SCHEMA = ROOT / "tests" / "fixtures" / "slack" / "manifest.schema.1.0.0.json"


class _StrictLoader(yaml.SafeLoader):
    """YAML that refuses a key given twice in one mapping: PyYAML (and Slack) would keep only
    the last, silently dropping what came before (the "Add to timeline" shortcut once)."""

    def construct_mapping(self, node, deep=False):  # type: ignore[no-untyped-def]
        keys = [self.construct_object(key, deep=deep) for key, _ in node.value]
        repeated = sorted({k for k in keys if keys.count(k) > 1}, key=str)
        if repeated:
            raise yaml.constructor.ConstructorError(None, None, f"keys given twice: {repeated}", node.start_mark)
        return super().construct_mapping(node, deep=deep)


def load_manifest() -> dict:
    return yaml.load((ROOT / "manifest.yml").read_text(), Loader=_StrictLoader)  # noqa: S506 - a SafeLoader


def test_manifest_validates_against_slack_schema() -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(load_manifest(), schema)


def test_manifest_declares_what_the_app_uses() -> None:
    manifest = load_manifest()
    commands = [c["command"] for c in manifest["features"]["slash_commands"]]
    assert commands == ["/incident"]
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert {"message.channels", "message.groups", "reaction_added", "reaction_removed", "pin_added", "pin_removed"} <= events
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    # Each scope backs a Web API method the app calls.
    assert {"commands", "chat:write", "channels:history", "channels:join", "users:read", "files:write", "canvases:write", "im:write", "im:history"} <= scopes
    # Declaring: conversations.create/invite/setTopic for public (channels:manage) and private (groups:write) channels.
    assert {"channels:manage", "groups:write", "channels:read", "groups:read"} <= scopes
    shortcuts = {s["callback_id"]: s["type"] for s in manifest["features"]["shortcuts"]}
    assert shortcuts == {"add_to_timeline": "message", "declare_incident": "global"}
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["socket_mode_enabled"] is True


def test_a_broken_manifest_is_rejected_by_the_schema() -> None:
    """Guards the test above: the schema really checks (a 40-character name is too long)."""
    schema = json.loads(SCHEMA.read_text())
    manifest = load_manifest()
    manifest["display_information"]["name"] = "x" * 40
    try:
        jsonschema.validate(manifest, schema)
    except jsonschema.ValidationError:
        return
    raise AssertionError("schema accepted a 40-character app name")


def test_a_key_given_twice_is_refused() -> None:
    """Guards load_manifest: a repeated key fails instead of replacing the first."""
    try:
        yaml.load("features:\n  shortcuts: [1]\n  shortcuts: [2]\n", Loader=_StrictLoader)  # noqa: S506
    except yaml.constructor.ConstructorError as error:
        assert "shortcuts" in str(error)
        return
    raise AssertionError("a repeated key was accepted")
