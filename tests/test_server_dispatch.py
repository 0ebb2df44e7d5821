"""Which requests the HTTP server runs on its event loop and which in its threads
(bot.server), and that each really runs where it should."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import pytest
from slack_bolt import BoltRequest
from sqlalchemy import func, select
from sqlalchemy.util.concurrency import in_greenlet

from bench.harness import SignedRequest, send_all
from bot.db.direct import LoopConnection
from bot.groupcommit import GroupCommit
from bot.models import TimelineEntry
from bot.services import capture
from bot.slack import subcommands
from bot.slack.listeners import waits_only_on_shared_write as rule_for


def waits_only_on_shared_write(body: dict[str, Any]) -> bool:
    return rule_for("/incident")(body, BoltRequest(body=""))


def event(**fields: Any) -> dict[str, Any]:
    return {"type": "event_callback", "team_id": "T0SIM", "event": {"channel": "C0INC", "ts": "1795000000.000100", **fields}}


def command(text: str) -> dict[str, Any]:
    return {"command": "/incident", "text": text, "team_id": "T0SIM", "channel_id": "C0INC", "trigger_id": "1.2.3"}


ON_THE_LOOP = [
    ("a new message", event(type="message", text="checkout is down")),
    ("a thread reply", event(type="message", text="rolling back", thread_ts="1795000000.000001")),
    ("a message with a file", event(type="message", subtype="file_share", text="graph", files=[{"name": "p99.png"}])),
    ("an alert bot's message", event(type="message", subtype="bot_message", text="CPU > 90%", username="Datadog")),
    ("a note", command("note cache hit rate back to 98%")),
    ("a finding", command("finding the canary had the old config")),
    ("help", command("help")),
    ("a bare /incident", command("")),
    ("an unknown subcommand", command("frobnicate now")),
]
IN_THREADS = [
    ("an edit", event(type="message", subtype="message_changed", message={"ts": "1795000000.000100", "text": "edited"})),
    ("a delete", event(type="message", subtype="message_deleted", deleted_ts="1795000000.000100")),
    ("a 📌 reaction", event(type="reaction_added", reaction="pushpin", item={"type": "message", "channel": "C0INC", "ts": "1"})),
    ("a pin", event(type="pin_added", channel_id="C0INC", item={"type": "message", "message": {"ts": "1"}})),
    ("a note with a time", command("note at 14:03 cache flushed")),
    ("start", command("start Checkout errors sev2")),
    ("postmortem", command("postmortem")),
    ("a button", {"type": "block_actions", "actions": [{"action_id": "postmortem.regenerate"}]}),
    ("a modal", {"type": "view_submission", "view": {"callback_id": "followups.add"}}),
    ("url_verification", {"type": "url_verification", "challenge": "abc"}),
    ("an event envelope without an event", {"type": "event_callback"}),
]


@pytest.mark.parametrize(("name", "body"), ON_THE_LOOP, ids=[n for n, _ in ON_THE_LOOP])
def test_requests_that_only_wait_on_a_shared_write_run_on_the_loop(name: str, body: dict[str, Any]) -> None:
    assert waits_only_on_shared_write(body) is True


@pytest.mark.parametrize(("name", "body"), IN_THREADS, ids=[n for n, _ in IN_THREADS])
def test_requests_that_open_transactions_or_call_slack_run_in_threads(name: str, body: dict[str, Any]) -> None:
    assert waits_only_on_shared_write(body) is False


def test_each_request_runs_where_the_rule_says_and_is_recorded(app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Writes from the loop are made in the request's greenlet on the server's loop thread;
    transactions of other requests in the server's pool threads."""
    writes: list[tuple[str, str, str, bool]] = []
    transactions: list[tuple[str, str]] = []
    real_submit, real_before_answer, real_answer, real_edit = GroupCommit.submit, GroupCommit.submit_before_answer, subcommands.answer, capture.record_edit

    def submit(self, item):  # type: ignore[no-untyped-def]
        writes.append((self._name, "submit", threading.current_thread().name, in_greenlet()))
        return real_submit(self, item)

    def submit_before_answer(self, item):  # type: ignore[no-untyped-def]
        writes.append((self._name, "submit_before_answer", threading.current_thread().name, in_greenlet()))
        return real_before_answer(self, item)

    def answer(session_factory, routed, call, **kwargs):  # type: ignore[no-untyped-def]
        if not routed.on_loop:  # a subcommand that opens its own transaction
            transactions.append((type(routed.parsed).__name__, threading.current_thread().name))
        return real_answer(session_factory, routed, call, **kwargs)

    def record_edit(session, **kwargs):  # type: ignore[no-untyped-def]
        transactions.append(("edit", threading.current_thread().name))
        return real_edit(session, **kwargs)

    monkeypatch.setattr(GroupCommit, "submit", submit)
    monkeypatch.setattr(GroupCommit, "submit_before_answer", submit_before_answer)
    monkeypatch.setattr(subcommands, "answer", answer)
    monkeypatch.setattr(capture, "record_edit", record_edit)
    player = app.player
    assert player.command("U0ANN", "C0INC", "start Checkout errors").status == 200
    ts = player.say("U0BOB", "C0INC", "p99 is 4 s")
    assert player.last_reply.status == 200
    assert player.command("U0ANN", "C0INC", "note cache flushed").status == 200
    assert player.command("U0ANN", "C0INC", "note at 10:00 first alert").status == 200
    assert player.edit("U0BOB", "C0INC", ts, "p99 is 4.2 s").status == 200

    loop_thread = "http-server"  # HttpServer.start runs the loop in this thread
    # The message is only queued (the server answers after its commit), never waited for in
    # the listener; the note's reply needs its outcome, so its greenlet waits.
    assert writes == [("message-writer", "submit_before_answer", loop_thread, True), ("command-writer", "submit", loop_thread, True)]
    assert [kind for kind, _ in transactions] == ["Start", "Entry", "edit"]
    assert all(thread.startswith("slack-request") for _, thread in transactions), transactions
    with app.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(TimelineEntry).where(TimelineEntry.kind.in_(["message", "note"]))) == 3
        assert session.scalar(select(TimelineEntry.text).where(TimelineEntry.ts == ts)) == "p99 is 4.2 s"


def test_a_new_messages_answer_waits_for_the_commit_its_listener_left_queued(app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The message listener returns without waiting (submit_before_answer); Slack's 200 still
    comes only once the shared write has committed, and a failed write answers 500."""
    writer = app.runtime.app.scribe.message_writer
    entered, release = threading.Event(), threading.Event()
    real_write = writer._write_on_loop
    failing = {"on": False}

    async def held_write(batch):  # type: ignore[no-untyped-def]
        entered.set()
        await asyncio.get_running_loop().run_in_executor(None, release.wait, 10)  # the database is slow
        if failing["on"]:
            raise RuntimeError("disk full")
        return await real_write(batch)

    monkeypatch.setattr(writer, "_write_on_loop", held_write)
    player = app.player
    assert player.command("U0ANN", "C0INC", "start Checkout errors").status == 200
    answers: list[int] = []
    sender = threading.Thread(target=lambda: (player.say("U0BOB", "C0INC", "p99 is 4 s"), answers.append(player.last_reply.status)))
    sender.start()
    assert entered.wait(10)
    sender.join(0.2)  # the write is held: no answer may have come
    assert answers == [] and sender.is_alive()
    release.set()
    sender.join(10)
    assert answers == [200]
    with app.session_factory() as session:
        assert session.scalars(select(TimelineEntry.text).where(TimelineEntry.kind == "message")).all() == ["p99 is 4 s"]

    failing["on"] = True
    player.say("U0BOB", "C0INC", "this one is not stored")
    assert player.last_reply.status == 500  # Slack sends it again
    with app.session_factory() as session:
        assert session.scalars(select(TimelineEntry.text).where(TimelineEntry.kind == "message")).all() == ["p99 is 4 s"]


def test_the_load_generator_counts_an_answer_that_never_comes_as_a_failure() -> None:
    """The benchmark's senders don't hang on a server that accepts and never answers."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        held: list[socket.socket] = []
        accepting = threading.Thread(target=lambda: held.append(silent.accept()[0]), daemon=True)
        accepting.start()
        request = SignedRequest(body=b"{}", headers={"Content-Type": "application/json"})
        result = send_all(f"http://127.0.0.1:{port}/slack/events", [request], concurrency=1, timeout=0.3)
        for connection in held:
            connection.close()
    assert result.latencies == []
    assert result.failures == ["IncompleteReadError"]


def test_the_loop_connection_repeats_a_statement_once_after_its_server_connection_died(postgres_database: str | None) -> None:
    if postgres_database is None:
        pytest.skip("needs PostgreSQL (SCRIBE_TEST_DATABASE_URL): LoopConnection is PostgreSQL's")
    database_url = postgres_database
    import psycopg
    from sqlalchemy.engine import make_url

    from bot.db import normalise_url

    admin_url = make_url(normalise_url(database_url)).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = LoopConnection(normalise_url(database_url))
    executed: list[str] = []
    real_execute = connection._execute

    async def counted(pg, sql, params):  # type: ignore[no-untyped-def]
        executed.append(sql)
        return await real_execute(pg, sql, params)

    connection._execute = counted  # type: ignore[method-assign]

    async def main() -> tuple[int, int, list[tuple[str | None, ...]]]:
        pid = "SELECT pg_backend_pid()"
        first = int((await connection.execute_repeatable(pid))[0][0])
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (first,))
        second = int((await connection.execute_repeatable(pid))[0][0])
        with pytest.raises(psycopg.errors.UndefinedTable, match="no_such_table"):
            await connection.execute_repeatable("SELECT * FROM no_such_table")
        # Text parameters and results, NULL both ways, each statement prepared once and reused.
        echoed = await connection.execute_repeatable("SELECT $1::text, $2::text, length($1)", ["Grüße 📌", None])
        echoed += await connection.execute_repeatable("SELECT $1::text, $2::text, length($1)", ["again", "x"])
        return first, second, echoed

    try:
        first, second, echoed = asyncio.run(main())
    finally:
        connection.close()
    assert second != first  # a new server connection
    # Once on the new connection after the dead one failed; an SQL error is not repeated.
    assert executed == ["SELECT pg_backend_pid()"] * 3 + ["SELECT * FROM no_such_table"] + ["SELECT $1::text, $2::text, length($1)"] * 2
    assert echoed == [("Grüße 📌", None, "7"), ("again", "x", "5")]


def test_the_server_answers_until_stopped_and_stops_without_waiting_out_its_grace_period() -> None:
    import time
    import urllib.error
    import urllib.request

    from slack_bolt import App

    from bot.server import SHUTDOWN_GRACE_SECONDS, HttpServer

    bolt = App(signing_secret="not-used-here", token="xoxb-not-used-here", token_verification_enabled=False)
    server = HttpServer(bolt, health_check=lambda: None).start()
    base = server.url.rsplit("/slack/events", 1)[0]
    with urllib.request.urlopen(base + "/healthz", timeout=5) as response:
        assert (response.status, response.read()) == (200, b'{"ok": true}')
    began = time.monotonic()
    server.stop()
    assert time.monotonic() - began < SHUTDOWN_GRACE_SECONDS  # nothing was under way
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(base + "/healthz", timeout=5)
