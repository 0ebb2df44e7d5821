"""The tripwire (bot.db.guard): a Slack call made while the same thread has a database
transaction open is refused in the test suite, and only then."""

from __future__ import annotations

import threading

import pytest
from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient

from bot.db import guard
from bot.models import Incident


def test_a_slack_call_inside_a_transaction_trips_and_fails_the_test(session_factory, slack) -> None:  # type: ignore[no-untyped-def]
    client = WebClient(token="xoxb-sim-token", base_url=slack.base_url)
    with session_factory.begin() as session:
        session.get(Incident, 1)  # the transaction now holds a connection
        assert guard.transaction_open()
        with pytest.raises(guard.NetworkCallInTransaction, match=r"Slack auth\.test was called while a database transaction is open"):
            client.auth_test()
    # It never reached Slack; and the conftest fixture would fail this test for it, so take it back.
    assert slack.calls_to("auth.test") == []
    refused = guard.take_refused()
    assert len(refused) == 1 and refused[0].startswith("Slack auth.test was called while a database transaction is open")
    assert "tests/test_no_network_in_transaction.py" in refused[0]  # it names the call site


def test_the_same_call_after_commit_goes_through(session_factory, slack) -> None:  # type: ignore[no-untyped-def]
    client = WebClient(token="xoxb-sim-token", base_url=slack.base_url)
    with session_factory.begin() as session:
        session.get(Incident, 1)
    assert not guard.transaction_open()
    assert client.auth_test()["ok"] is True
    assert len(slack.calls_to("auth.test")) == 1


def test_another_threads_transaction_does_not_trip_this_threads_call(session_factory, slack) -> None:  # type: ignore[no-untyped-def]
    client = WebClient(token="xoxb-sim-token", base_url=slack.base_url)
    holding, release = threading.Event(), threading.Event()

    def other_request() -> None:
        with session_factory.begin() as session:
            session.get(Incident, 1)
            holding.set()
            release.wait(10)

    other = threading.Thread(target=other_request)
    other.start()
    try:
        assert holding.wait(10)
        assert not guard.transaction_open()
        assert client.auth_test()["ok"] is True
    finally:
        release.set()
        other.join(10)


def test_a_response_url_post_inside_a_transaction_trips_too(session_factory, slack) -> None:  # type: ignore[no-untyped-def]
    url = slack.new_response_url(channel_id="C0INC", user_id="U0ANN")
    with session_factory.begin() as session:
        session.get(Incident, 1)
        with pytest.raises(guard.NetworkCallInTransaction, match="Slack response_url was called"):
            WebhookClient(url).send(text="hello")
    assert guard.take_refused()
    assert WebhookClient(url).send(text="hello").status_code == 200
