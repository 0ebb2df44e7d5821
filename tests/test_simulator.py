"""Tests for the local Slack simulator (bot/simulator).

The Web API half is driven with the real slack_sdk WebClient over HTTP; the
player half posts to a tiny stdlib server that checks Slack signatures with
slack_sdk's SignatureVerifier, standing in for the app.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from bot.simulator import FakeClock, FakeSlackWebAPI, Fault, SlackPlayer, Workspace, format_ts, ts_key

START = 1_705_320_000.0  # 2024-01-15 12:00:00 UTC: winter, so New York is UTC-5
SECRET = "sim-signing-secret"


# -- fixtures -------------------------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def ws(clock: FakeClock) -> Workspace:
    ws = Workspace(clock=clock)
    ws.add_user("U1", "ana", "Ana Lima", tz="America/New_York")
    ws.add_user("U2", "bo", "Bo Chen", tz="Asia/Kolkata", display_name="bo-oncall")
    ws.add_channel("C1", "inc-42-db-down", members={"U1"})
    ws.add_channel("C2", "inc-43", members={"U1"})
    ws.add_channel("COUT", "outside", members={"U1"}, bot_member=False)
    ws.add_channel("GPRIV", "secret-ops", is_private=True, members={"U1"}, bot_member=False)
    return ws


@pytest.fixture
def api(ws: Workspace) -> Iterator[FakeSlackWebAPI]:
    with FakeSlackWebAPI(ws) as api:
        yield api


@pytest.fixture
def client(ws: Workspace, api: FakeSlackWebAPI) -> WebClient:
    # No retry handlers: each test decides what retries it wants to see.
    return WebClient(token=ws.bot_token, base_url=api.base_url, retry_handlers=[])


class AppDouble:
    """A stand-in for the app: verifies signatures like Bolt and records requests."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.verifier = SignatureVerifier(SECRET)
        self.arrived = threading.Event()
        double = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = dict(self.headers.items())
                valid = double.verifier.is_valid_request(body, headers)
                double.requests.append({"path": self.path, "headers": headers, "body": body, "valid": valid})
                double.arrived.set()
                status = double.status if valid else 401
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.send_header("X-App", "double")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/slack/events"

    def last_json(self) -> dict[str, Any]:
        return json.loads(self.requests[-1]["body"])

    def last_form(self) -> dict[str, str]:
        return dict(parse_qsl(self.requests[-1]["body"].decode(), keep_blank_values=True))

    def last_payload(self) -> dict[str, Any]:
        return json.loads(self.last_form()["payload"])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def app() -> Iterator[AppDouble]:
    double = AppDouble()
    yield double
    double.close()


@pytest.fixture
def player(ws: Workspace, api: FakeSlackWebAPI, app: AppDouble) -> SlackPlayer:
    return SlackPlayer(ws, api, app_url=app.url, signing_secret=SECRET)


def api_error(excinfo: pytest.ExceptionInfo[SlackApiError]) -> str:
    return str(excinfo.value.response["error"])


# -- workspace ------------------------------------------------------------------------


def test_next_ts_is_unique_and_increasing_even_when_the_clock_stalls_or_goes_back(ws: Workspace,
                                                                                  clock: FakeClock) -> None:
    first, second = ws.next_ts(), ws.next_ts()
    assert (first, second) == ("1705320000.000000", "1705320000.000001")
    clock.set(START - 10)
    assert ws.next_ts() == "1705320000.000002"
    clock.set(START + 1.5)
    assert ws.next_ts() == "1705320001.500000"
    assert ts_key("1705320001.5") == 1_705_320_001_500_000
    assert format_ts(1_705_320_001_000_007) == "1705320001.000007"


def test_workspace_threads_edits_and_deletes(ws: Workspace) -> None:
    parent = ws.post("C1", {"user": "U1", "text": "db down"})["ts"]
    r1 = ws.post("C1", {"user": "U2", "text": "looking", "thread_ts": parent})["ts"]
    r2 = ws.post("C1", {"user": "U1", "text": "thanks", "thread_ts": parent})["ts"]
    stored_parent = ws.message("C1", parent)
    assert stored_parent is not None
    assert (stored_parent["reply_count"], stored_parent["reply_users"], stored_parent["latest_reply"]) == (
        2, ["U2", "U1"], r2)
    assert [m["ts"] for m in ws.history("C1")] == [parent]
    assert [m["ts"] for m in ws.replies("C1", parent)] == [parent, r1, r2]

    previous, current = ws.edit("C1", r1, "found it", edited_by="U2")
    assert (previous["text"], current["text"], current["edited"]["user"]) == ("looking", "found it", "U2")

    ws.delete("C1", r2)
    assert ws.message("C1", parent)["reply_count"] == 1  # type: ignore[index]
    ws.delete("C1", parent)  # parent with a reply left becomes a tombstone
    assert ws.message("C1", parent)["subtype"] == "tombstone"  # type: ignore[index]


# -- web API: identity and conversations --------------------------------------------------


def test_auth_test(client: WebClient) -> None:
    assert client.auth_test().data == {
        "ok": True, "url": "https://sim.slack.com/", "team": "Sim Workspace", "user": "incident-scribe",
        "team_id": "T0SIM", "user_id": "U0BOT", "bot_id": "B0BOT", "is_enterprise_install": False,
    }


def test_users_info_reports_timezone_offsets_for_the_workspace_clock(client: WebClient, clock: FakeClock) -> None:
    ana = client.users_info(user="U1")["user"]
    assert (ana["id"], ana["name"], ana["real_name"], ana["tz"], ana["tz_offset"], ana["tz_label"]) == (
        "U1", "ana", "Ana Lima", "America/New_York", -18000, "EST")
    assert ana["profile"]["display_name"] == "ana"
    assert ana["is_bot"] is False
    bo = client.users_info(user="U2")["user"]
    assert (bo["tz_offset"], bo["profile"]["display_name"], bo["profile"]["real_name"]) == (
        19800, "bo-oncall", "Bo Chen")
    clock.set(1_720_000_000.0)  # July 2024: daylight saving time
    assert client.users_info(user="U1")["user"]["tz_offset"] == -14400
    with pytest.raises(SlackApiError) as err:
        client.users_info(user="U404")
    assert api_error(err) == "user_not_found"


def test_conversations_info_join_and_open(client: WebClient, ws: Workspace) -> None:
    info = client.conversations_info(channel="COUT")["channel"]
    assert (info["id"], info["name"], info["is_member"], info["is_private"]) == ("COUT", "outside", False, False)
    with pytest.raises(SlackApiError) as err:
        client.conversations_history(channel="COUT")
    assert api_error(err) == "not_in_channel"

    joined = client.conversations_join(channel="COUT")
    assert joined["channel"]["is_member"] is True
    assert "U0BOT" in ws.channels["COUT"].members
    assert client.conversations_join(channel="COUT")["warning"] == "already_in_channel"
    assert client.conversations_history(channel="COUT")["messages"] == []

    with pytest.raises(SlackApiError) as err:
        client.conversations_join(channel="CNOPE")
    assert api_error(err) == "channel_not_found"
    ws.channels["GPRIV"].members.add("U0BOT")  # visible, but still not joinable
    with pytest.raises(SlackApiError) as err:
        client.conversations_join(channel="GPRIV")
    assert api_error(err) == "method_not_supported_for_channel_type"

    dm = client.conversations_open(users="U1")
    assert dm["channel"] == {"id": "DU1"}
    again = client.conversations_open(users=["U1"])
    assert (again["channel"]["id"], again["already_open"]) == ("DU1", True)
    assert ws.channels["DU1"].is_im and ws.channels["DU1"].members == {"U1", "U0BOT"}


def test_history_paginates_under_a_page_cap_without_gaps_or_repeats(
        client: WebClient, api: FakeSlackWebAPI, ws: Workspace) -> None:
    api.page_size_cap = 15
    posted = [ws.post("C1", {"user": "U1", "text": f"m{i}"})["ts"] for i in range(40)]
    # The clock never moved: timestamps are still unique, 1 microsecond apart.
    assert posted[:2] == ["1705320000.000000", "1705320000.000001"]

    seen: list[str] = []
    sizes: list[int] = []
    has_more: list[bool] = []
    cursor = None
    while True:
        page = client.conversations_history(channel="C1", limit=100, cursor=cursor)
        seen += [m["ts"] for m in page["messages"]]
        sizes.append(len(page["messages"]))
        has_more.append(page["has_more"])
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert sizes == [15, 15, 10]
    assert has_more == [True, True, False]
    assert seen == list(reversed(posted))
    assert len(set(seen)) == 40
    assert [c.params.get("limit") for c in api.calls_to("conversations.history")] == ["100", "100", "100"]

    # slack_sdk's own iteration follows next_cursor the same way.
    assert sum(len(p["messages"]) for p in client.conversations_history(channel="C1", limit=15)) == 40


def test_history_window_and_default_limit(client: WebClient, ws: Workspace) -> None:
    ts = [ws.post("C1", {"user": "U1", "text": str(i)})["ts"] for i in range(5)]
    window = client.conversations_history(channel="C1", oldest=ts[1], latest=ts[3])
    assert [m["ts"] for m in window["messages"]] == [ts[2]]
    inclusive = client.conversations_history(channel="C1", oldest=ts[1], latest=ts[3], inclusive=True)
    assert [m["ts"] for m in inclusive["messages"]] == [ts[3], ts[2], ts[1]]
    with pytest.raises(SlackApiError) as err:
        client.conversations_history(channel="C1", oldest="yesterday")
    assert api_error(err) == "invalid_ts_oldest"
    with pytest.raises(SlackApiError) as err:
        client.conversations_history(channel="C1", cursor="not-a-cursor")
    assert api_error(err) == "invalid_cursor"
    for i in range(100):
        ws.post("C2", {"user": "U1", "text": str(i)})
    assert len(client.conversations_history(channel="C2")["messages"]) == 100


def test_replies_and_threads_in_history(client: WebClient, ws: Workspace, api: FakeSlackWebAPI) -> None:
    parent = ws.post("C1", {"user": "U1", "text": "root"})["ts"]
    replies = [ws.post("C1", {"user": "U1", "text": f"r{i}", "thread_ts": parent})["ts"] for i in range(3)]
    broadcast = ws.post("C1", {"user": "U1", "text": "also here", "thread_ts": parent,
                                "subtype": "thread_broadcast"})["ts"]
    other = ws.post("C1", {"user": "U1", "text": "unrelated"})["ts"]

    history = client.conversations_history(channel="C1")["messages"]
    assert [m["ts"] for m in history] == [other, broadcast, parent]
    assert (history[2]["reply_count"], history[2]["thread_ts"], history[2]["latest_reply"]) == (4, parent, broadcast)

    thread = client.conversations_replies(channel="C1", ts=parent)
    assert [m["ts"] for m in thread["messages"]] == [parent, *replies, broadcast]
    assert thread["has_more"] is False

    api.page_size_cap = 2
    first = client.conversations_replies(channel="C1", ts=parent)
    second = client.conversations_replies(channel="C1", ts=parent,
                                          cursor=first["response_metadata"]["next_cursor"])
    assert [m["ts"] for m in first["messages"]] == [parent, replies[0]]
    assert [m["ts"] for m in second["messages"]] == replies[1:]
    api.page_size_cap = 1000
    later = client.conversations_replies(channel="C1", ts=parent, oldest=replies[1])
    assert [m["ts"] for m in later["messages"]] == [parent, replies[2], broadcast]  # parent always first
    with pytest.raises(SlackApiError) as err:
        client.conversations_replies(channel="C1", ts="1.000001")
    assert api_error(err) == "thread_not_found"


# -- web API: chat ------------------------------------------------------------------------------


def test_post_message_is_stored_and_recorded_exactly(client: WebClient, api: FakeSlackWebAPI,
                                                      ws: Workspace) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Incident opened*"}}]
    sent = client.chat_postMessage(channel="C1", text="Incident opened", blocks=blocks)
    assert (sent["channel"], sent["ts"]) == ("C1", "1705320000.000000")
    assert sent["message"]["user"] == "U0BOT" and sent["message"]["bot_id"] == "B0BOT"

    [call] = api.calls_to("chat.postMessage")
    assert call.params == {"channel": "C1", "text": "Incident opened", "blocks": blocks}  # JSON: decoded values
    assert call.at == START and call.fault is None and call.ok

    [stored] = ws.history("C1")
    assert (stored["ts"], stored["text"], stored["blocks"], stored["user"], stored["bot_id"]) == (
        "1705320000.000000", "Incident opened", blocks, "U0BOT", "B0BOT")

    reply = client.chat_postMessage(channel="C1", text="update", thread_ts=sent["ts"])
    assert ws.message("C1", sent["ts"])["reply_count"] == 1  # type: ignore[index]
    assert ws.message("C1", reply["ts"])["thread_ts"] == sent["ts"]  # type: ignore[index]

    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="COUT", text="x")
    assert api_error(err) == "not_in_channel"
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="CNOPE", text="x")
    assert api_error(err) == "channel_not_found"
    dm = client.chat_postMessage(channel="U1", text="psst")
    assert dm["channel"] == "DU1"


def test_update_delete_permalink_ephemeral(client: WebClient, api: FakeSlackWebAPI, ws: Workspace) -> None:
    ts = client.chat_postMessage(channel="C1", text="v1")["ts"]
    updated = client.chat_update(channel="C1", ts=ts, text="v2")
    assert (updated["ts"], updated["text"], updated["message"]["edited"]["user"]) == (ts, "v2", "U0BOT")
    assert ws.message("C1", ts)["text"] == "v2"  # type: ignore[index]

    link = client.chat_getPermalink(channel="C1", message_ts=ts)["permalink"]
    assert link == "https://sim.slack.com/archives/C1/p1705320000000000"

    user_ts = ws.post("C1", {"user": "U1", "text": "human"})["ts"]
    with pytest.raises(SlackApiError) as err:
        client.chat_update(channel="C1", ts=user_ts, text="hijack")
    assert api_error(err) == "cant_update_message"

    eph = client.chat_postEphemeral(channel="C1", user="U1", text="only you")
    assert eph["message_ts"] == "1705320000.000003"
    assert api.ephemerals[0]["user"] == "U1" and api.ephemerals[0]["message"]["text"] == "only you"
    assert [m["ts"] for m in ws.history("C1")] == [ts, user_ts]  # ephemeral is not in history

    assert client.chat_delete(channel="C1", ts=ts).data == {"ok": True, "channel": "C1", "ts": ts}
    # chat.delete goes form-encoded: recorded values are strings.
    assert api.calls_to("chat.delete")[0].params == {"channel": "C1", "ts": ts}
    with pytest.raises(SlackApiError) as err:
        client.chat_delete(channel="C1", ts=ts)
    assert api_error(err) == "message_not_found"


def test_views_reactions_and_pins(client: WebClient, api: FakeSlackWebAPI, ws: Workspace) -> None:
    modal = {"type": "modal", "callback_id": "declare", "title": {"type": "plain_text", "text": "Declare"},
             "blocks": []}
    opened = client.views_open(trigger_id=api.issue_trigger(), view=modal)["view"]
    assert (opened["id"], opened["callback_id"], opened["type"]) == ("VSIM000001", "declare", "modal")
    updated = client.views_update(view_id=opened["id"], view={**modal, "callback_id": "declare2"})["view"]
    assert (updated["id"], api.views[opened["id"]]["callback_id"]) == (opened["id"], "declare2")
    pushed = client.views_push(trigger_id=api.issue_trigger(), view=modal)["view"]
    assert pushed["id"] == "VSIM000002"
    with pytest.raises(SlackApiError) as err:
        client.views_update(view_id="VNOPE", view=modal)
    assert api_error(err) == "not_found"

    ts = ws.post("C1", {"user": "U1", "text": "rollback done"})["ts"]
    ws.react("C1", ts, "U1", "pushpin")
    ws.react("C1", ts, "U2", "pushpin")
    got = client.reactions_get(channel="C1", timestamp=ts)
    assert got["message"]["reactions"] == [{"name": "pushpin", "users": ["U1", "U2"], "count": 2}]
    ws.pin("C1", ts, "U2")
    [item] = client.pins_list(channel="C1")["items"]
    assert (item["type"], item["created_by"], item["created"], item["message"]["ts"]) == (
        "message", "U2", int(START), ts)


# -- web API: files and canvases ------------------------------------------------------------------


def test_files_upload_v2_round_trip(client: WebClient, api: FakeSlackWebAPI, ws: Workspace) -> None:
    data = bytes(range(256)) * 3
    result = client.files_upload_v2(channel="C1", content=data, filename="graph.png", title="Latency",
                                    initial_comment="p99 during the incident")
    assert (result["file"]["id"], result["file"]["name"], result["file"]["title"]) == (
        "FSIM000001", "graph.png", "Latency")
    assert api.uploaded_files == {"FSIM000001": {
        "name": "graph.png", "title": "Latency", "bytes": data, "channel_id": "C1",
        "initial_comment": "p99 during the incident", "thread_ts": None}}
    assert [c.method for c in api.calls] == ["files.getUploadURLExternal", "upload_url",
                                             "files.completeUploadExternal"]
    assert api.calls[0].params == {"filename": "graph.png", "length": str(len(data))}
    complete = api.calls_to("files.completeUploadExternal")[0].params
    assert complete["channel_id"] == "C1"
    assert json.loads(complete["files"]) == [{"id": "FSIM000001", "title": "Latency"}]
    [shared] = ws.history("C1")  # sharing posts the file into the channel
    assert (shared["subtype"], shared["text"], shared["files"][0]["id"]) == (
        "file_share", "p99 during the incident", "FSIM000001")


def test_canvases(client: WebClient, api: FakeSlackWebAPI, ws: Workspace) -> None:
    created = client.conversations_canvases_create(
        channel_id="C1", document_content={"type": "markdown", "markdown": "# Timeline\n"})
    canvas_id = created["canvas_id"]
    assert api.canvases == {canvas_id: "# Timeline\n"}
    assert api.channel_canvases == {"C1": canvas_id}
    with pytest.raises(SlackApiError) as err:
        client.conversations_canvases_create(channel_id="C1",
                                             document_content={"type": "markdown", "markdown": "again"})
    assert api_error(err) == "channel_canvas_already_exists"

    client.canvases_edit(canvas_id=canvas_id, changes=[
        {"operation": "insert_at_end", "document_content": {"type": "markdown", "markdown": "- 12:00 paged"}}])
    assert api.canvases[canvas_id] == "# Timeline\n- 12:00 paged"
    client.canvases_edit(canvas_id=canvas_id, changes=[
        {"operation": "replace", "document_content": {"type": "markdown", "markdown": "# Final"}}])
    assert api.canvases[canvas_id] == "# Final"
    with pytest.raises(SlackApiError) as err:
        client.canvases_edit(canvas_id="FNOPE", changes=[{"operation": "replace"}])
    assert api_error(err) == "canvas_not_found"

    standalone = client.canvases_create(title="Postmortem",
                                        document_content={"type": "markdown", "markdown": "# PM"})
    assert api.canvases[standalone["canvas_id"]] == "# PM"

    ws.canvases_allowed = False
    with pytest.raises(SlackApiError) as err:
        client.conversations_canvases_create(channel_id="C2",
                                             document_content={"type": "markdown", "markdown": "x"})
    assert api_error(err) == "team_tier_cannot_create_channel_canvases"


# -- web API: auth, unknown methods, faults, rate limits ---------------------------------------------


def test_bad_tokens_and_unknown_method(ws: Workspace, api: FakeSlackWebAPI, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as err:
        WebClient(token="xoxb-wrong", base_url=api.base_url).auth_test()
    assert api_error(err) == "invalid_auth"
    with pytest.raises(SlackApiError) as err:
        WebClient(base_url=api.base_url).auth_test()
    assert api_error(err) == "not_authed"
    with pytest.raises(SlackApiError) as err:
        client.api_call("incidents.summon")
    assert (err.value.response.status_code, api_error(err)) == (200, "unknown_method")


def test_tokens_are_never_recorded(ws: Workspace, api: FakeSlackWebAPI) -> None:
    token_client = WebClient(base_url=api.base_url)  # token in the form body instead of a header
    assert token_client.api_call("auth.test", params={"token": ws.bot_token})["ok"] is True
    WebClient(token=ws.bot_token, base_url=api.base_url).chat_postMessage(channel="C1", text="hi")
    with pytest.raises(SlackApiError):
        WebClient(token="xoxb-leaky", base_url=api.base_url).auth_test()
    assert len(api.calls) == 3
    dumped = repr(api.calls) + json.dumps([c.params for c in api.calls])
    assert ws.bot_token not in dumped and "xoxb-leaky" not in dumped
    assert all("token" not in c.params for c in api.calls)


def test_server_error_and_error_faults(client: WebClient, api: FakeSlackWebAPI, ws: Workspace) -> None:
    api.inject("chat.postMessage", Fault(status=500), Fault(error="not_in_channel"))
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C1", text="a")
    assert err.value.response.status_code == 500
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C1", text="b")
    assert (err.value.response.status_code, api_error(err)) == (200, "not_in_channel")
    assert client.chat_postMessage(channel="C1", text="c")["ok"] is True  # queue drained
    calls = api.calls_to("chat.postMessage")
    assert [c.fault for c in calls] == [Fault(status=500), Fault(error="not_in_channel"), None]
    assert [m["text"] for m in ws.history("C1")] == ["c"]  # faulted calls had no effect


def test_rate_limit_fault_is_retried_by_the_sdk_handler(ws: Workspace, api: FakeSlackWebAPI) -> None:
    # Retry-After 0 keeps the handler's sleep under a second.
    api.inject("chat.postMessage", Fault(status=429, retry_after=0))
    retrying = WebClient(token=ws.bot_token, base_url=api.base_url,
                         retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])
    assert retrying.chat_postMessage(channel="C1", text="after retry")["ok"] is True
    first, second = api.calls_to("chat.postMessage")
    assert (first.status, first.response, first.fault) == (
        429, {"ok": False, "error": "ratelimited"}, Fault(status=429, retry_after=0))
    assert (second.status, second.fault, second.params) == (200, None, {"channel": "C1", "text": "after retry"})
    assert [m["text"] for m in ws.history("C1")] == ["after retry"]


def test_retry_after_header_of_a_429_fault(client: WebClient, api: FakeSlackWebAPI) -> None:
    api.inject("auth.test", Fault(status=429, retry_after=7))
    with pytest.raises(SlackApiError) as err:
        client.auth_test()
    assert (err.value.response.status_code, err.value.response.headers["Retry-After"], api_error(err)) == (
        429, "7", "ratelimited")


def test_delay_fault_trips_the_client_timeout(ws: Workspace, api: FakeSlackWebAPI) -> None:
    api.inject("auth.test", Fault(delay=0.6))
    impatient = WebClient(token=ws.bot_token, base_url=api.base_url, timeout=0.1, retry_handlers=[])  # type: ignore[arg-type]
    with pytest.raises(Exception) as err:
        impatient.auth_test()
    assert "timed out" in str(err.value).lower()
    # The slow call is still served and recorded once the delay is over.
    [late] = api.wait_for(lambda a: a.calls_to("auth.test"), timeout=5)
    assert late.fault == Fault(delay=0.6) and late.ok
    assert impatient.auth_test()["ok"] is True


def test_a_standing_fault_meets_every_call_about_its_channel_or_people_until_it_expires(
        client: WebClient, api: FakeSlackWebAPI, ws: Workspace, clock: FakeClock) -> None:
    api.inject_standing(Fault(error="fatal_error"), channels={"C1"}, users={"U2"}, seconds=10)
    for text in ("a", "b"):  # not used up by the first call
        with pytest.raises(SlackApiError) as err:
            client.chat_postMessage(channel="C1", text=text)
        assert api_error(err) == "fatal_error"
    assert client.chat_postMessage(channel="C2", text="other channel")["ok"]
    with pytest.raises(SlackApiError):
        client.users_info(user="U2")
    assert client.users_info(user="U1")["ok"]
    with pytest.raises(SlackApiError):
        client.conversations_open(users="U1,U2")  # a list argument naming one of them
    clock.advance(9.9)
    with pytest.raises(SlackApiError):
        client.conversations_info(channel="C1")
    clock.advance(0.1)
    assert client.chat_postMessage(channel="C1", text="after it expired")["ok"]
    faulted = [(c.method, c.params.get("channel") or c.params.get("user") or c.params.get("users")) for c in api.calls if c.fault]
    assert faulted == [("chat.postMessage", "C1"), ("chat.postMessage", "C1"), ("users.info", "U2"),
                       ("conversations.open", "U1,U2"), ("conversations.info", "C1")]
    assert [m["text"] for m in ws.history("C1")] == ["after it expired"]


def test_a_standing_fault_on_methods_stands_until_lifted_and_queued_faults_come_first(
        client: WebClient, api: FakeSlackWebAPI) -> None:
    standing = api.inject_standing(Fault(status=500), methods={"auth.test"})
    api.inject("auth.test", Fault(error="invalid_auth"))
    with pytest.raises(SlackApiError) as err:
        client.auth_test()
    assert api_error(err) == "invalid_auth"
    for _ in range(2):
        with pytest.raises(SlackApiError) as err:
            client.auth_test()
        assert err.value.response.status_code == 500
    assert client.conversations_info(channel="C1")["ok"]  # another method
    api.lift(standing)
    api.lift(standing)  # lifting twice is harmless
    assert client.auth_test()["ok"]
    assert [c.fault for c in api.calls_to("auth.test")] == [Fault(error="invalid_auth"), Fault(status=500), Fault(status=500), None]


def test_a_standing_delay_slows_the_upload_step_that_names_the_channel(client: WebClient, api: FakeSlackWebAPI) -> None:
    api.inject_standing(Fault(delay=0.2), channels={"C1"})
    client.files_upload_v2(channel="C1", content=b"postmortem", filename="pm.md", title="PM")
    client.files_upload_v2(channel="C2", content=b"other", filename="other.md", title="Other")
    # files.getUploadURLExternal names no channel; completeUploadExternal names it as channel_id.
    assert [(c.method, c.fault) for c in api.calls if c.method.startswith("files.")] == [
        ("files.getUploadURLExternal", None), ("files.completeUploadExternal", Fault(delay=0.2)),
        ("files.getUploadURLExternal", None), ("files.completeUploadExternal", None),
    ]


def test_per_channel_rate_limit_on_the_workspace_clock(client: WebClient, api: FakeSlackWebAPI,
                                                       ws: Workspace, clock: FakeClock) -> None:
    api.rate_limit("chat.postMessage", per_channel_per_second=1.0)
    assert client.chat_postMessage(channel="C1", text="one")["ok"]
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C1", text="too soon")
    assert (err.value.response.status_code, err.value.response.headers["Retry-After"]) == (429, "1")
    assert client.chat_postMessage(channel="C2", text="other channel")["ok"]
    clock.advance(0.5)
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel="C1", text="still too soon")
    clock.advance(0.5)
    assert client.chat_postMessage(channel="C1", text="two")["ok"]
    assert [m["text"] for m in ws.history("C1")] == ["one", "two"]
    assert [c.status for c in api.calls_to("chat.postMessage")] == [200, 429, 200, 429, 200]
    assert api.calls_to("chat.postMessage")[1].fault == Fault(status=429, error="ratelimited", retry_after=1)

    api.rate_limit("chat.postMessage", per_channel_per_second=0.25)
    clock.advance(1.5)
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C1", text="x")
    assert err.value.response.headers["Retry-After"] == "3"  # ceil(4 - 1.5)
    api.rate_limit("chat.postMessage", None)
    assert client.chat_postMessage(channel="C1", text="free")["ok"]


def test_wait_for_times_out_with_a_useful_message(api: FakeSlackWebAPI, client: WebClient) -> None:
    client.auth_test()
    with pytest.raises(AssertionError) as err:
        api.wait_for(lambda a: a.calls_to("chat.postMessage"), timeout=0.1)
    assert "wait_for timed out after 0.1s" in str(err.value)
    assert "1 calls recorded" in str(err.value) and "auth.test" in str(err.value)
    api.clear_calls()
    assert api.calls == []


def test_respond_via_response_url(player: SlackPlayer, api: FakeSlackWebAPI, ws: Workspace) -> None:
    player.command("U1", "C1", "status")
    url = player.last_response_url
    assert url is not None and url.startswith(api.base_url.replace("/api/", "/response/"))
    assert WebhookClient(url).send(text="Only you see this").status_code == 200
    assert WebhookClient(url).send(text="Everyone sees this", response_type="in_channel").status_code == 200
    calls = api.calls_to("response_url")
    assert [c.params for c in calls] == [
        {"text": "Only you see this"}, {"text": "Everyone sees this", "response_type": "in_channel"}]
    assert [m["text"] for m in ws.history("C1")] == ["Everyone sees this"]
    assert api.ephemerals[-1]["message"] == {"text": "Only you see this"}
    assert WebhookClient(api.base_url.replace("/api/", "/response/RNOPE")).send(text="x").status_code == 404


# -- player ---------------------------------------------------------------------------------------


def test_say_sends_a_signed_event_callback(player: SlackPlayer, app: AppDouble, ws: Workspace,
                                           client: WebClient) -> None:
    ts = player.say("U1", "C1", "database is down")
    assert ts == "1705320000.000000"
    [request] = app.requests
    assert request["valid"] is True and request["path"] == "/slack/events"
    assert request["headers"]["Content-Type"] == "application/json"
    assert "X-Slack-Retry-Num" not in request["headers"]
    assert player.last_reply is not None and player.last_reply.status == 200
    assert player.last_reply.header("x-app") == "double"

    envelope = app.last_json()
    event = envelope.pop("event")
    assert envelope == {
        "token": "sim-verification-token", "team_id": "T0SIM", "api_app_id": "A0SIM",
        "type": "event_callback", "event_id": "EvSIM000001", "event_time": int(START),
        "authorizations": [{"enterprise_id": None, "team_id": "T0SIM", "user_id": "U0BOT", "is_bot": True,
                            "is_enterprise_install": False}],
        "is_ext_shared_channel": False,
    }
    assert {k: v for k, v in event.items() if k != "client_msg_id"} == {
        "type": "message", "user": "U1", "text": "database is down", "team": "T0SIM", "ts": ts,
        "channel": "C1", "event_ts": ts, "channel_type": "channel"}
    # The app can read back what it was told.
    assert client.conversations_history(channel="C1")["messages"][0]["text"] == "database is down"


def test_redelivery_reuses_the_envelope_with_retry_headers(player: SlackPlayer, app: AppDouble) -> None:
    player.say("U1", "C1", "hello")
    original = player.sent_events[0]
    reply = player.redeliver(original, retry_num=2, retry_reason="http_error")
    assert reply.status == 200
    first, second = app.requests
    assert first["body"] == second["body"]
    assert (second["headers"]["X-Slack-Retry-Num"], second["headers"]["X-Slack-Retry-Reason"]) == ("2", "http_error")
    again = player.send_event({"type": "app_mention", "user": "U1", "text": "hi", "channel": "C1", "ts": "1.000001"},
                              event_id="EvFIXED", retry_num=1)
    assert again.status == 200
    assert (app.last_json()["event_id"], app.requests[-1]["headers"]["X-Slack-Retry-Num"],
            app.requests[-1]["headers"]["X-Slack-Retry-Reason"]) == ("EvFIXED", "1", "http_timeout")
    assert app.last_json()["event"]["event_ts"] == "1.000001"
    assert len(player.sent_events) == 3


def test_threads_broadcasts_and_file_shares(player: SlackPlayer, app: AppDouble, ws: Workspace) -> None:
    parent = player.say("U1", "C1", "root")
    reply = player.say("U2", "C1", "in thread", thread_ts=parent)
    event = app.last_json()["event"]
    assert (event["thread_ts"], event["parent_user_id"], event["ts"]) == (parent, "U1", reply)
    assert "U2" in ws.channels["C1"].members
    player.say("U2", "C1", "for everyone", thread_ts=parent, broadcast=True)
    event = app.last_json()["event"]
    assert (event["subtype"], event["root"]["ts"], event["root"]["reply_count"]) == ("thread_broadcast", parent, 2)

    player.say("U1", "C1", "see graph", files=[{"name": "graph.png"}])
    event = app.last_json()["event"]
    assert event["subtype"] == "file_share"
    [shared] = event["files"]
    assert {k: shared[k] for k in ("id", "name", "title", "mimetype", "permalink")} == {
        "id": "FSIM000001", "name": "graph.png", "title": "graph.png", "mimetype": "image/png",
        "permalink": "https://sim.slack.com/files/U1/FSIM000001/graph.png"}

    player.say("U1", "C1", "quiet", deliver=False)
    player.say("U1", "COUT", "bot is not here")
    assert len(app.requests) == 4  # neither undelivered message reached the app
    assert [m["text"] for m in ws.history("COUT")] == ["bot is not here"]


def test_edit_delete_react_and_pin_events(player: SlackPlayer, app: AppDouble, ws: Workspace) -> None:
    ts = player.say("U1", "C1", "rollback started")
    player.edit("U1", "C1", ts, "rollback finished")
    event = app.last_json()["event"]
    assert (event["subtype"], event["hidden"], event["channel"]) == ("message_changed", True, "C1")
    assert (event["message"]["text"], event["message"]["ts"], event["message"]["edited"]) == (
        "rollback finished", ts, {"user": "U1", "ts": "1705320000.000001"})
    assert event["previous_message"]["text"] == "rollback started"
    with pytest.raises(ValueError):
        player.edit("U2", "C1", ts, "not mine")

    player.react("U2", "C1", ts, "pushpin")
    event = app.last_json()["event"]
    assert {k: event[k] for k in ("type", "user", "reaction", "item", "item_user")} == {
        "type": "reaction_added", "user": "U2", "reaction": "pushpin",
        "item": {"type": "message", "channel": "C1", "ts": ts}, "item_user": "U1"}
    player.react("U2", "C1", ts, "pushpin", remove=True)
    assert app.last_json()["event"]["type"] == "reaction_removed"
    assert "reactions" not in ws.message("C1", ts)  # type: ignore[operator]

    player.pin("U2", "C1", ts)
    event = app.last_json()["event"]
    assert (event["type"], event["user"], event["channel_id"]) == ("pin_added", "U2", "C1")
    item = event["item"]
    assert (item["type"], item["channel"], item["created_by"], item["message"]["ts"],
            item["message"]["text"], item["message"]["user"]) == (
        "message", "C1", "U2", ts, "rollback finished", "U1")
    player.pin("U2", "C1", ts, remove=True)
    assert (app.last_json()["event"]["type"], app.last_json()["event"]["has_pins"]) == ("pin_removed", False)

    player.delete("C1", ts)
    event = app.last_json()["event"]
    assert (event["subtype"], event["deleted_ts"], event["previous_message"]["text"], event["hidden"]) == (
        "message_deleted", ts, "rollback finished", True)
    assert ws.message("C1", ts) is None
    assert all(r["valid"] for r in app.requests)


def test_slash_command_form(player: SlackPlayer, app: AppDouble, api: FakeSlackWebAPI) -> None:
    reply = player.command("U1", "C1", "declare sev1 db down")
    assert reply.status == 200
    request = app.requests[-1]
    assert request["valid"] is True
    assert request["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    form = app.last_form()
    trigger = form.pop("trigger_id")
    assert trigger == player.last_trigger_id and trigger.count(".") == 2
    assert form == {
        "token": "sim-verification-token", "team_id": "T0SIM", "team_domain": "sim", "channel_id": "C1",
        "channel_name": "inc-42-db-down", "user_id": "U1", "user_name": "ana", "command": "/incident",
        "text": "declare sev1 db down", "api_app_id": "A0SIM", "is_enterprise_install": "false",
        "response_url": api.base_url.replace("/api/", "/response/RSIM000001"),
    }
    player.command("U1", "C1", "help", command="/scribe")
    assert app.last_form()["command"] == "/scribe"


def test_button_click_and_user_select_payloads(player: SlackPlayer, app: AppDouble, client: WebClient,
                                               api: FakeSlackWebAPI, ws: Workspace) -> None:
    posted = client.chat_postMessage(channel="C1", text="Close incident?")
    player.click("U1", "C1", action_id="close_incident", value="42")
    payload = app.last_payload()
    action = payload.pop("actions")[0]
    assert {k: action[k] for k in ("action_id", "block_id", "value", "type")} == {
        "action_id": "close_incident", "block_id": "b", "value": "42", "type": "button"}
    assert payload["type"] == "block_actions"
    assert payload["user"] == {"id": "U1", "username": "ana", "name": "ana", "team_id": "T0SIM"}
    assert payload["team"] == {"id": "T0SIM", "domain": "sim"}
    assert payload["channel"] == {"id": "C1", "name": "inc-42-db-down"}
    assert payload["container"] == {"type": "message", "message_ts": posted["ts"], "channel_id": "C1",
                                    "is_ephemeral": False}
    assert payload["message"]["text"] == "Close incident?"
    assert payload["trigger_id"] == player.last_trigger_id
    # respond(replace_original=True) edits the clicked message.
    WebhookClient(payload["response_url"]).send(text="Closed", replace_original=True)
    assert ws.message("C1", posted["ts"])["text"] == "Closed"  # type: ignore[index]

    player.select_user("U1", "C1", action_id="pick_lead", selected_user="U2", message_ts=posted["ts"])
    action = app.last_payload()["actions"][0]
    assert (action["type"], action["selected_user"], action["action_id"]) == ("users_select", "U2", "pick_lead")

    view = client.views_open(trigger_id=player.last_trigger_id, view={
        "type": "modal", "callback_id": "declare", "title": {"type": "plain_text", "text": "x"}, "blocks": []})["view"]
    player.click("U1", None, action_id="add_field", view=view)
    payload = app.last_payload()
    assert payload["container"] == {"type": "view", "view_id": view["id"]}
    assert payload["view"]["callback_id"] == "declare" and "response_url" not in payload


def test_view_submission_payload(player: SlackPlayer, app: AppDouble, client: WebClient) -> None:
    opened = client.views_open(trigger_id=player.web_api.issue_trigger(), view={
        "type": "modal", "callback_id": "declare", "title": {"type": "plain_text", "text": "Declare"},
        "blocks": [], "private_metadata": "C1"})["view"]
    reply = player.submit_view("U2", callback_id="declare", values={
        "title": {"title_input": "DB down"},
        "lead": {"lead_select": {"type": "users_select", "selected_user": "U1"}},
        "summary": "replica lag"})
    assert reply.status == 200
    payload = app.last_payload()
    assert (payload["type"], payload["user"]["id"], payload["view"]["id"], payload["view"]["private_metadata"]) == (
        "view_submission", "U2", opened["id"], "C1")
    assert payload["view"]["state"]["values"] == {
        "title": {"title_input": {"type": "plain_text_input", "value": "DB down"}},
        "lead": {"lead_select": {"type": "users_select", "selected_user": "U1"}},
        "summary": {"summary": {"type": "plain_text_input", "value": "replica lag"}},
    }
    fresh = player.submit_view("U2", callback_id="never_opened", values={}, private_metadata="m")
    assert fresh.status == 200 and app.last_payload()["view"]["private_metadata"] == "m"


def test_post_raw_for_hostile_input(player: SlackPlayer, app: AppDouble) -> None:
    body = b'{"type": "event_callback"}'
    assert player.post_raw(body, {"Content-Type": "application/json"}).status == 200
    assert app.requests[-1]["valid"] is True
    assert player.post_raw(body, {"X-Slack-Signature": "v0=deadbeef"}).status == 401
    stale = int(player.wall_clock()) - 600
    assert player.post_raw(body, {}, timestamp=stale).status == 401
    assert app.requests[-1]["headers"]["X-Slack-Request-Timestamp"] == str(stale)
    unsigned = player.post_raw(b"\x00garbage", {}, sign=False)
    assert unsigned.status == 401
    assert "X-Slack-Signature" not in app.requests[-1]["headers"]
    app.status = 500
    assert player.post_raw(b"{}", {}).status == 500  # non-2xx is returned, not raised


def test_get_query_strings_multipart_uploads_and_broken_json(ws: Workspace, api: FakeSlackWebAPI) -> None:
    import urllib.request

    def fetch(request: urllib.request.Request) -> tuple[int, str]:
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=5) as response:
            return response.status, response.read().decode()

    get = urllib.request.Request(f"{api.base_url}users.info?user=U1&token={ws.bot_token}")
    status, body = fetch(get)
    assert (status, json.loads(body)["user"]["name"]) == (200, "ana")
    assert api.calls[-1].params == {"user": "U1"}

    broken = urllib.request.Request(f"{api.base_url}chat.postMessage", data=b"{not json", method="POST",
                                    headers={"Content-Type": "application/json",
                                             "Authorization": f"Bearer {ws.bot_token}"})
    assert json.loads(fetch(broken)[1]) == {"ok": False, "error": "invalid_json"}

    client = WebClient(token=ws.bot_token, base_url=api.base_url)
    target = client.files_getUploadURLExternal(filename="notes.txt", length=5)
    multipart = (b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"notes.txt\"\r\n"
                 b"Content-Type: text/plain\r\n\r\nhello\r\n--XyZ--\r\n")
    upload = urllib.request.Request(target["upload_url"], data=multipart, method="POST",
                                    headers={"Content-Type": "multipart/form-data; boundary=XyZ"})
    assert fetch(upload) == (200, "OK - 5")
    client.files_completeUploadExternal(files=[{"id": target["file_id"]}])
    assert api.uploaded_files[target["file_id"]]["bytes"] == b"hello"
    assert api.uploaded_files[target["file_id"]]["channel_id"] is None
