"""manifest.yml must be a valid Slack app manifest and agree with what the app listens to."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[1]
# Slack's schema, copied into the repository (tests/fixtures/README.md says from where).
SCHEMA = ROOT / "tests" / "fixtures" / "slack" / "manifest.schema.1.0.0.json"


def load_manifest() -> dict:
    return yaml.safe_load((ROOT / "manifest.yml").read_text())


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
    assert [s["callback_id"] for s in manifest["features"]["shortcuts"] if s["type"] == "global"] == ["declare_incident"]
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
