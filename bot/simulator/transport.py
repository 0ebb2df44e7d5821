"""Sending Slack-signed HTTP requests to the app under test."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from slack_sdk.signature import SignatureVerifier


@dataclass
class Reply:
    """What the app answered. Non-2xx statuses are data here, never exceptions."""

    status: int
    body: str
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def header(self, name: str) -> str | None:
        """Case-insensitive header lookup."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)


def signature_headers(signing_secret: str, timestamp: int | str, body: bytes) -> dict[str, str]:
    """The two headers Slack adds: v0=HMAC-SHA256(secret, "v0:{ts}:{body}")."""
    try:
        signature = SignatureVerifier(signing_secret).generate_signature(timestamp=str(timestamp), body=body)
    except UnicodeDecodeError:
        # slack_sdk only signs text; hostile-input tests need bytes that are not UTF-8
        # signed too, and Slack's scheme is defined over the raw bytes.
        base = b"v0:" + str(timestamp).encode() + b":" + body
        signature = "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": signature or ""}


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Reply:
    """POST with http.client rather than urllib: no proxy settings from the
    environment, no redirects, and no exception for 4xx/5xx answers."""
    parts = urlsplit(url)
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        # A server that refuses a large body answers (413) and closes before reading it all;
        # its answer is still waiting in the socket.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        return Reply(response.status, data.decode("utf-8", "replace"), dict(response.getheaders()))
    finally:
        connection.close()
