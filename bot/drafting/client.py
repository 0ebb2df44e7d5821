"""The OpenAI-compatible chat-completions client: one POST to {base}/chat/completions.

It never raises: every way a model call can fail comes back as a `NoDraft` with a reason code
for the logs (timeout, connection, rate_limited, server_error, auth, not_found, rejected,
invalid_response, invalid_json, refusal, schema, length, content_filter), and nothing in a
NoDraft quotes the prompt, the answer or the key.

Why httpx and not the `openai` package: the request is one POST with a JSON body, and the
servers we talk to (Ollama, vLLM, llama.cpp, LM Studio, hosted ones) differ in what they
accept, which we handle here in a few lines; the openai package would add a large dependency
tree, retries of its own (with sleeps we don't want before a person's answer), and exceptions
to translate back, for no part of the protocol we need. httpx gives timeouts, typed transport
errors and streaming reads (used to hold a total deadline and a size cap).

Structured outputs, per server (their docs and sources):
* OpenAI: `response_format: {"type": "json_schema", "json_schema": {"name", "strict": true,
  "schema"}}`; a refusal comes as `message.refusal` with no content; a model without
  structured outputs answers 400 naming response_format.
* Ollama (/v1): json_schema becomes its native `format` (the schema is enforced);
  json_object becomes `format: "json"`.
* vLLM: json_schema and json_object, through guided decoding.
* llama.cpp server: json_schema (schema under json_schema.schema) and json_object; older
  builds answer 400 'response_format type must be one of "text" or "json_object"'.
* LM Studio: json_schema only (json_object is refused).
So: ask with json_schema; if the server answers 400/422 about response_format or
json_schema, ask once more with `{"type": "json_object"}` (the system message describes the
shape too), within the same deadline. Whatever comes back is validated against the schema
here, as servers that accept json_schema without enforcing it exist.

No retries otherwise: a person is waiting (or the fact-only answer is already shown), so a
429 or a 5xx ends the attempt and the feature falls back.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from bot.db import guard

__all__ = ["Answer", "ModelEndpoint", "NoDraft", "complete", "forget_unreachable", "recently_unreachable"]

MAX_RESPONSE_BYTES = 2_000_000
_FENCE_RE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class ModelEndpoint:
    base_url: str  # e.g. http://127.0.0.1:11434/v1 (without /chat/completions)
    model: str
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 20.0  # seconds, for the whole call (both attempts)


@dataclass(frozen=True)
class Answer:
    """The model's JSON answer, already checked against the schema."""

    content: dict[str, Any]
    response_format: str  # "json_schema" or "json_object": which one the server took
    prompt_tokens: int | None
    completion_tokens: int | None


@dataclass(frozen=True)
class NoDraft:
    """Why there is no draft. `detail` is safe to log: codes and numbers, never content."""

    reason: str
    detail: str
    retry_after: float | None = None


def complete(
    endpoint: ModelEndpoint,
    messages: list[dict[str, str]],
    response_format: dict[str, Any],
    *,
    clock: Callable[[], float] = time.monotonic,
) -> Answer | NoDraft:
    """Ask for one chat completion in `response_format` (a json_schema response format) and
    return the JSON object answered, or why there is none."""
    # The tripwire (bot.db.guard): a model call is a slow network call, never made while this
    # thread has a database transaction open. Outside the try: in the test suite it raises.
    guard.network_call("model")
    schema = response_format.get("json_schema", {}).get("schema")
    deadline = clock() + endpoint.timeout
    try:
        result = _attempt(endpoint, messages, response_format, schema, deadline, clock)
        if isinstance(result, _FormatRefused):  # a server without json_schema: ask for a JSON object
            result = _attempt(endpoint, messages, {"type": "json_object"}, schema, deadline, clock)
    except Exception as error:  # never raise to the caller: an unexpected failure is a missing draft
        return NoDraft("error", type(error).__name__)
    if isinstance(result, _FormatRefused):
        return NoDraft("rejected", f"HTTP {result.status}: the server refused the response format")
    if isinstance(result, NoDraft) and result.reason == "connection":
        _note_unreachable(endpoint.base_url, clock())
    return result


# Base URLs whose server refused or dropped the connection (nobody listening, DNS, network),
# and until when (monotonic) they count as down. A draft is a suggestion: for a while no
# request even starts one (bot.drafting.model_available), so a model that is down costs a
# request nothing. Timeouts, 429s and 5xx are a server that is there: the next draft tries.
UNREACHABLE_SECONDS = 30.0
_unreachable: dict[str, float] = {}
_unreachable_lock = threading.Lock()


def _note_unreachable(base_url: str, now: float) -> None:
    with _unreachable_lock:
        _unreachable[base_url.rstrip("/")] = now + UNREACHABLE_SECONDS


def recently_unreachable(base_url: str, *, now: float | None = None) -> bool:
    """Whether the server at `base_url` could not be reached in the last UNREACHABLE_SECONDS."""
    with _unreachable_lock:
        until = _unreachable.get(base_url.rstrip("/"))
    return until is not None and (time.monotonic() if now is None else now) < until


def forget_unreachable() -> None:
    """Forget every server found unreachable (tests start from a clean slate)."""
    with _unreachable_lock:
        _unreachable.clear()


_shared: httpx.Client | None = None
_shared_lock = threading.Lock()


def _http() -> httpx.Client:
    """The one HTTP client of every draft (thread-safe): building a client loads the TLS
    certificates, about 30 ms of CPU each time, and its pool keeps the connection to the
    model server open from one draft to the next. Timeouts are given per request."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = httpx.Client(follow_redirects=False)
        return _shared


@dataclass(frozen=True)
class _FormatRefused:
    status: int


def _attempt(
    endpoint: ModelEndpoint,
    messages: list[dict[str, str]],
    response_format: dict[str, Any],
    schema: dict[str, Any] | None,
    deadline: float,
    clock: Callable[[], float],
) -> Answer | NoDraft | _FormatRefused:
    remaining = deadline - clock()
    if remaining <= 0:
        return NoDraft("timeout", f"no answer within {endpoint.timeout:g} s")
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if endpoint.api_key:
        headers["Authorization"] = f"Bearer {endpoint.api_key}"
    body = {
        "model": endpoint.model,
        "messages": messages,
        "temperature": 0,
        "stream": False,
        "response_format": response_format,
    }
    url = endpoint.base_url.rstrip("/") + "/chat/completions"
    try:
        with _http().stream("POST", url, headers=headers, content=json.dumps(body).encode(),
                            timeout=httpx.Timeout(remaining)) as response:
            data = bytearray()
            for chunk in response.iter_bytes():
                data.extend(chunk)
                if clock() > deadline:
                    return NoDraft("timeout", f"no complete answer within {endpoint.timeout:g} s")
                if len(data) > MAX_RESPONSE_BYTES:
                    return NoDraft("invalid_response", f"the answer is larger than {MAX_RESPONSE_BYTES:,} bytes")
            status = response.status_code
            retry_after = _retry_after(response.headers.get("Retry-After"))
    except httpx.TimeoutException:
        return NoDraft("timeout", f"no answer within {endpoint.timeout:g} s")
    except httpx.HTTPError as error:
        return NoDraft("connection", type(error).__name__)
    if status != 200:
        return _failure(status, bytes(data), retry_after, response_format)
    return _answer(bytes(data), response_format, schema)


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP-date: not worth parsing for a draft nobody will retry


def _error_message(data: bytes) -> str:
    """The server's error message, only to recognise a refused response_format: never logged."""
    try:
        parsed = json.loads(data)
    except ValueError:
        return data.decode("utf-8", "replace")
    if isinstance(parsed, dict):
        error = parsed.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or "")
        if isinstance(error, str):  # Ollama's native errors
            return error
        return str(parsed.get("message") or parsed.get("detail") or "")  # vLLM's older shape
    return ""


def _failure(status: int, data: bytes, retry_after: float | None,
             response_format: dict[str, Any]) -> NoDraft | _FormatRefused:
    if status in (400, 422) and response_format.get("type") == "json_schema":
        message = _error_message(data).lower()
        if "response_format" in message or "json_schema" in message or "response format" in message:
            return _FormatRefused(status)
    if status == 429:
        wait = f", retry after {retry_after:g} s" if retry_after is not None else ""
        return NoDraft("rate_limited", f"HTTP 429{wait}", retry_after)
    if status in (401, 403):
        return NoDraft("auth", f"HTTP {status}: check SCRIBE_AI_API_KEY")
    if status == 404:
        return NoDraft("not_found", "HTTP 404: check SCRIBE_AI_BASE_URL (it ends in /v1) and SCRIBE_AI_MODEL")
    if status >= 500:
        return NoDraft("server_error", f"HTTP {status}")
    return NoDraft("rejected", f"HTTP {status}")


def _answer(data: bytes, response_format: dict[str, Any], schema: dict[str, Any] | None) -> Answer | NoDraft:
    try:
        completion = json.loads(data)
    except ValueError:
        return NoDraft("invalid_response", "the response body is not JSON")
    choices = completion.get("choices") if isinstance(completion, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return NoDraft("invalid_response", "the response has no choices")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        return NoDraft("invalid_response", "the first choice has no message")
    if message.get("refusal"):
        return NoDraft("refusal", "the model refused")
    finish = choice.get("finish_reason")
    if finish == "length":
        return NoDraft("length", "the answer was cut off at the token limit")
    if finish == "content_filter":
        return NoDraft("content_filter", "the answer was withheld by a content filter")
    content = message.get("content")
    if isinstance(content, list):  # content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    if not isinstance(content, str) or not content.strip():
        return NoDraft("invalid_json", "the answer is empty")
    fenced = _FENCE_RE.match(content)
    try:
        value = json.loads(fenced.group(1) if fenced else content)
    except ValueError:
        return NoDraft("invalid_json", f"the answer is not JSON ({len(content)} characters)")
    if schema is not None:
        errors = sorted(Draft202012Validator(schema).iter_errors(value), key=lambda e: list(e.absolute_path))
        if errors:
            where = "/".join(str(p) for p in errors[0].absolute_path) or "the top level"
            return NoDraft("schema", f"the answer doesn't follow the schema at {where} ({errors[0].validator}), "
                                     f"{len(errors)} problem(s)")
    if not isinstance(value, dict):
        return NoDraft("schema", "the answer is not a JSON object")
    usage = completion.get("usage") if isinstance(completion.get("usage"), dict) else {}
    return Answer(
        content=value,
        response_format=str(response_format.get("type")),
        prompt_tokens=_int_or_none(usage.get("prompt_tokens")),
        completion_tokens=_int_or_none(usage.get("completion_tokens")),
    )


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
