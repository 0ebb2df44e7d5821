"""The HTTP endpoint against hostile and odd requests, over real HTTP.

Each case names the exact status and what must be in the database afterwards. After
every case the app must still record a normal message: nothing crashes it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from bot.models import TimelineEntry
from bot.server import MAX_BODY_BYTES

INCIDENT = "C0INC"
QUIET = "C0RANDOM"  # a channel with no incident


def envelope(ws, event: dict[str, Any]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {
        "token": "sim-verification-token",
        "team_id": ws.team_id,
        "api_app_id": ws.api_app_id,
        "type": "event_callback",
        "event_id": ws.new_id("Ev"),
        "event_time": int(time.time()),
        "event": event,
    }


def message(ws, text: str, channel: str = INCIDENT) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {"type": "message", "channel": channel, "user": "U0BOB", "text": text, "ts": ws.next_ts(), "channel_type": "channel"}


def as_json(payload: dict[str, Any]) -> bytes:
    # ensure_ascii keeps a lone surrogate as a \\udXXX escape, the way it travels in JSON.
    return json.dumps(payload, ensure_ascii=any(_has_surrogate(v) for v in _strings(payload))).encode("utf-8")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in text)


def padded_to(ws, size: int) -> tuple[bytes, str]:  # type: ignore[no-untyped-def]
    """A signed-able message event whose JSON body is exactly `size` bytes; returns it and its text."""
    event = message(ws, "")
    overhead = len(as_json(envelope(ws, event)))
    text = "x" * (size - overhead)
    body_event = dict(event, text=text)
    payload = envelope(ws, body_event)
    body = as_json(payload)
    # The envelope's event_id counter may have grown by a digit; trim to the exact size.
    text = text[: len(text) - (len(body) - size)]
    body = as_json(dict(payload, event=dict(body_event, text=text)))
    assert len(body) == size
    return body, text


@dataclass
class Case:
    name: str
    # workspace -> (body, headers, post_raw keyword arguments, message texts that must be stored)
    build: Callable[[Any], tuple[bytes, dict[str, str], dict[str, Any], list[str]]]
    status: int


JSON_HEADERS = {"Content-Type": "application/json"}
FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}

RTL = "ההתקנה נכשלה — \u202eevil.exe\u202c مرحبا بالعالم"
EMOJI = "🔥 db on fire 👩‍🚒🧯 (ZWJ family: 👨‍👩‍👧‍👦) 🇺🇦"


def signed_event(ws, event: dict[str, Any], **post: Any) -> tuple[bytes, dict[str, str], dict[str, Any], list[str]]:  # type: ignore[no-untyped-def]
    return as_json(envelope(ws, event)), JSON_HEADERS, post, []


def stored_as(ws, event: dict[str, Any], texts: list[str]) -> tuple[bytes, dict[str, str], dict[str, Any], list[str]]:  # type: ignore[no-untyped-def]
    return as_json(envelope(ws, event)), JSON_HEADERS, {}, texts


def stored_whole(ws, text: str) -> tuple[bytes, dict[str, str], dict[str, Any], list[str]]:  # type: ignore[no-untyped-def]
    return as_json(envelope(ws, message(ws, text))), JSON_HEADERS, {}, [text]


def exactly_one_megabyte(ws) -> tuple[bytes, dict[str, str], dict[str, Any], list[str]]:  # type: ignore[no-untyped-def]
    body, text = padded_to(ws, MAX_BODY_BYTES)
    return body, JSON_HEADERS, {}, [text]


CASES = [
    Case("bad signature", lambda ws: (as_json(envelope(ws, message(ws, "forged"))), {**JSON_HEADERS, "X-Slack-Signature": "v0=" + "0" * 64}, {}, []), 401),
    Case("timestamp older than 5 minutes", lambda ws: signed_event(ws, message(ws, "replayed"), timestamp=int(time.time()) - 5 * 60 - 1), 401),
    Case("timestamp 5 minutes in the future", lambda ws: signed_event(ws, message(ws, "from the future"), timestamp=int(time.time()) + 5 * 60 + 1), 401),
    Case("no signature headers", lambda ws: signed_event(ws, message(ws, "unsigned"), sign=False), 401),
    Case(
        "timestamp that is not a number",
        lambda ws: (as_json(envelope(ws, message(ws, "odd stamp"))), {**JSON_HEADERS, "X-Slack-Request-Timestamp": "soon"}, {}, []),
        401,
    ),
    Case(
        "signature without timestamp",
        lambda ws: (as_json(envelope(ws, message(ws, "half signed"))), {**JSON_HEADERS, "X-Slack-Request-Timestamp": ""}, {}, []),
        401,
    ),
    Case("body is not JSON", lambda ws: (b'{"type": "event_callback", "event": {', JSON_HEADERS, {}, []), 400),
    Case("JSON that is not an object", lambda ws: (b'["event_callback"]', JSON_HEADERS, {}, []), 400),
    Case("form whose payload is not JSON", lambda ws: (urlencode({"payload": "{not json"}).encode(), FORM_HEADERS, {}, []), 400),
    Case("neither JSON nor form data", lambda ws: (b"\x01\x02 just bytes", {"Content-Type": "application/octet-stream"}, {}, []), 404),
    Case("non-UTF-8 bytes", lambda ws: (b'{"type": "event_callback", "event": {"type": "message", "text": "\xff\xfe\xfa"}}', JSON_HEADERS, {}, []), 400),
    Case("unknown event type", lambda ws: signed_event(ws, {"type": "brand_new_event", "channel": INCIDENT, "event_ts": ws.next_ts()}), 200),
    Case("unknown request type", lambda ws: (as_json({"type": "brand_new_request", "team_id": ws.team_id}), JSON_HEADERS, {}, []), 404),
    Case("message in a channel with no incident", lambda ws: signed_event(ws, message(ws, "lunch?", channel=QUIET)), 200),
    Case("right-to-left text, stored exactly", lambda ws: stored_whole(ws, RTL), 200),
    Case("emoji, stored exactly", lambda ws: stored_whole(ws, EMOJI), 200),
    Case(
        "NUL and a lone surrogate, stored as U+FFFD",
        lambda ws: stored_as(ws, message(ws, "nul:\x00 half:\ud83d end"), ["nul:\ufffd half:\ufffd end"]),
        200,
    ),
    Case(
        "an alert bot with a very long name",
        lambda ws: stored_as(ws, {"type": "message", "subtype": "bot_message", "channel": INCIDENT, "username": "Datadog " + "x" * 80,
                                  "text": "CPU > 90%", "ts": ws.next_ts()}, ["CPU > 90%"]),
        200,
    ),
    Case("a body of exactly 1 MB, stored whole", exactly_one_megabyte, 200),
    Case("a body one byte over 1 MB", lambda ws: (padded_to(ws, MAX_BODY_BYTES + 1)[0], JSON_HEADERS, {}, []), 413),
]


def message_texts(app) -> list[str]:  # type: ignore[no-untyped-def]
    with app.session_factory() as s:
        return list(s.scalars(select(TimelineEntry.text).where(TimelineEntry.kind == "message").order_by(TimelineEntry.id)))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_endpoint_answers_and_stores_exactly(app, case: Case) -> None:  # type: ignore[no-untyped-def]
    assert app.player.command("U0ANN", INCIDENT, "start Checkout errors").status == 200
    ws = app.api.workspace
    body, headers, post, stored = case.build(ws)
    reply = app.player.post_raw(body, headers, **post)
    assert reply.status == case.status, reply.body[:300]
    assert message_texts(app) == stored

    # Whatever came before, the app keeps serving and recording.
    ts = app.player.say("U0BOB", INCIDENT, "still recording")
    assert app.player.last_reply.status == 200
    assert message_texts(app) == [*stored, "still recording"]
    with app.session_factory() as s:
        assert s.scalar(select(TimelineEntry.at).where(TimelineEntry.ts == ts)) is not None


def test_refusals_say_why_and_never_echo_the_body(app) -> None:  # type: ignore[no-untyped-def]
    reply = app.player.post_raw(b'{"secret": "xoxb-leak", ', JSON_HEADERS)
    assert reply.status == 400
    assert reply.json() == {"error": "body is neither a JSON object nor form data with a JSON payload"}
    reply = app.player.post_raw(b"\xff", JSON_HEADERS)
    assert reply.json() == {"error": "body is not UTF-8 text"}
