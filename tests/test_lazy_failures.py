"""Work done after the ack (postmortem, backfill, button clicks) tells the user when it fails.

Bolt never hands a lazy listener's exception to @app.error; without bot.slack.lazy the
person who asked would see "Working on it…" and then nothing.
"""

from __future__ import annotations

import logging

from slack_bolt.util.utils import get_arg_names_of_callable

from bot.services import postmortem as pm_service
from bot.slack.lazy import FAILURE_TEXT, reports_failure


def test_the_guard_asks_bolt_for_respond_and_passes_on_only_what_the_listener_takes() -> None:
    seen: dict[str, object] = {}

    def listener(body, scribe):  # type: ignore[no-untyped-def]
        seen.update(body=body, scribe=scribe)

    guarded = reports_failure(listener)
    assert get_arg_names_of_callable(guarded) == ["body", "scribe", "respond"]
    guarded(body={"x": 1}, scribe="s", respond=None)
    assert seen == {"body": {"x": 1}, "scribe": "s"}


def test_a_failure_is_logged_and_told_through_respond(caplog) -> None:  # type: ignore[no-untyped-def]
    told: list[dict[str, object]] = []

    def listener(command, respond):  # type: ignore[no-untyped-def]
        raise RuntimeError("database went away")

    with caplog.at_level(logging.ERROR, logger="bot.slack.lazy"):
        reports_failure(listener)(command={}, respond=lambda **kw: told.append(kw))
    assert told == [{"response_type": "ephemeral", "replace_original": False, "text": FAILURE_TEXT}]
    assert "listener failed after the ack: RuntimeError: database went away" in caplog.text


def _ephemeral_texts(api) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(e["message"].get("text")) for e in api.ephemerals]


def test_a_crashing_postmortem_command_says_so_instead_of_going_quiet(app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    assert app.player.command("U0ANN", "C0INC", "start Checkout errors").status == 200

    def crash(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("renderer exploded")

    monkeypatch.setattr(pm_service, "request_publication", crash)
    reply = app.player.command("U0ANN", "C0INC", "postmortem")
    assert reply.json()["text"] == ":hourglass_flowing_sand: Working on it…"
    app.api.wait_for(lambda api: FAILURE_TEXT in _ephemeral_texts(api))
    assert app.api.calls_to("chat.postMessage") == []


def test_a_crashing_backfill_says_so(app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from bot.slack import backfill

    assert app.player.command("U0ANN", "C0INC", "start Checkout errors").status == 200

    def crash(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("database went away")

    monkeypatch.setattr(backfill, "backfill_incident", crash)
    app.player.command("U0ANN", "C0INC", "backfill")
    app.api.wait_for(lambda api: FAILURE_TEXT in _ephemeral_texts(api))
