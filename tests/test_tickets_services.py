"""bot.services.tickets on its own, on a real database: the replay log, which trackers are
polled, and the order rules of applying a state (an item closed in Slack)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from bot.config import JiraSettings, Settings, TrackerSettings
from bot.models import ActionItem, Incident, ItemTicket, TrackerDelivery
from bot.services import actions, tickets
from bot.trackers import TicketRef, TicketState

UTC = UTC
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
JIRA = JiraSettings(base_url="https://acme.atlassian.net", email="bot@acme.test", api_token="token", project="OPS")


def _settings(**jira: object) -> Settings:
    return Settings(trackers=TrackerSettings(default="jira", jira=replace(JIRA, **jira)))  # type: ignore[arg-type]


def test_the_delivery_log_refuses_a_replay_and_forgets_after_a_week(session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_factory.begin() as s:
        log = tickets.DeliveryLog(s)
        assert log.claim("github", "d-1", T0) is True
        assert log.claim("github", "d-1", T0 + timedelta(minutes=1)) is False
        assert log.claim("linear", "d-1", T0) is True  # ids are per tracker
    with session_factory.begin() as s:
        # A week and a day later, claiming anything prunes what is older than a week.
        assert tickets.DeliveryLog(s).claim("github", "d-2", T0 + timedelta(days=8)) is True
        assert s.scalars(select(TrackerDelivery.delivery_id).order_by(TrackerDelivery.delivery_id)).all() == ["d-2"]


def test_which_trackers_are_polled() -> None:
    assert tickets.polls(_settings(), "jira") is True  # no webhook secret: nothing verified can come
    assert tickets.polls(_settings(webhook_secret="s3cret"), "jira") is False
    socket_mode = replace(_settings(webhook_secret="s3cret"), slack_app_token="xapp-1")
    assert tickets.polls(socket_mode, "jira") is True  # nothing reaches us in Socket Mode


def _item_with_ticket(session_factory) -> int:  # type: ignore[no-untyped-def]
    with session_factory.begin() as s:
        incident = Incident(team_id="T1", channel_id="C1", title="Checkout errors", created_by="U1", declared_at=T0)
        s.add(incident)
        s.flush()
        item = ActionItem(incident_id=incident.id, text="Add alert", owner_id="U1", created_by="U1", status="open", created_at=T0)
        s.add(item)
        s.flush()
        s.add(ItemTicket(action_item_id=item.id, tracker="jira", target="OPS", state="ready", ticket_key="OPS-1",
                         marker=tickets.item_marker(item), linked=False, status="open", created_at=T0))
        return item.id


def _state(status: str, at: datetime) -> TicketState:
    return TicketState(TicketRef("jira", "OPS-1"), status, {"open": "To Do", "done": "Done"}[status], "Add alert", at)  # type: ignore[arg-type]


def test_an_item_closed_in_slack_reopens_only_for_a_later_change_in_the_tracker(session_factory) -> None:  # type: ignore[no-untyped-def]
    settings = _settings()
    item_id = _item_with_ticket(session_factory)
    with session_factory.begin() as s:
        actions.close_item(s, item_id=item_id, status="done", user_id="U1", now=T0 + timedelta(hours=2), settings=settings, known={})
    with session_factory.begin() as s:
        # The tracker still says open, but as of before the Slack close: the item stays done.
        [applied] = tickets.apply_states(s, "jira", [_state("open", T0 + timedelta(hours=1))], settings=settings, now=T0 + timedelta(hours=3))
        assert (applied.status, s.get(ActionItem, item_id).status) == (None, "done")
        # Replayed or older than what we hold: nothing at all.
        assert tickets.apply_states(s, "jira", [_state("open", T0 + timedelta(hours=1))], settings=settings, now=T0) == []
    with session_factory.begin() as s:
        # Reopened in the tracker after that: open again, no longer closed.
        [applied] = tickets.apply_states(s, "jira", [_state("open", T0 + timedelta(hours=4))], settings=settings, now=T0 + timedelta(hours=4))
        item = s.get(ActionItem, item_id)
        assert (applied.status, item.status, item.closed_at, item.closed_by) == ("open", "open", None, None)
        assert s.scalar(select(func.count()).select_from(ItemTicket).where(ItemTicket.status == "open")) == 1


def test_two_requests_remembering_the_same_person_at_once_both_succeed(database_url, session_factory) -> None:  # type: ignore[no-untyped-def]
    """Commands from someone new arrive together and each looks them up in Slack (their email maps
    them to tracker accounts): both store the answer, neither fails on the key. PostgreSQL: the
    second insert waits for the first's commit, then finds the row."""
    import threading

    import pytest
    from sqlalchemy import text

    from bot.models import UserProfile
    from bot.services import people

    if not database_url.startswith("postgresql"):
        pytest.skip("two writers at once: PostgreSQL (SQLite has one)")
    ann = people.Person("U0ANN", "ann", "Ann Lee", "Europe/Berlin", "ann@acme.test")
    first = session_factory()
    first.begin()
    people.remember(first, team_id="T1", people=[ann], now=T0)  # inserted, not committed yet
    failures: list[BaseException] = []

    def second_request() -> None:
        try:
            with session_factory.begin() as second:
                people.remember(second, team_id="T1", people=[replace(ann, email="ann.lee@acme.test")],
                                now=T0 + timedelta(seconds=1))
        except BaseException as error:
            failures.append(error)

    other = threading.Thread(target=second_request)
    other.start()
    with session_factory() as watcher:  # wait until the second insert waits on the first's row
        for _ in range(500):
            waiting = watcher.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                           "AND datname = current_database()")).scalar()
            watcher.rollback()
            if waiting:
                break
            threading.Event().wait(0.01)
        assert waiting == 1
    first.commit()
    first.close()
    other.join(10)
    assert failures == []
    with session_factory() as s:
        row = s.get(UserProfile, ("T1", "U0ANN"))
        assert (row.email, row.fetched_at) == ("ann.lee@acme.test", T0 + timedelta(seconds=1))
