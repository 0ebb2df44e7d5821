"""A local Slack for tests and `scribe demo`: workspace state, a fake Web API
served over HTTP, and a player that sends the app signed Slack requests.

    ws = Workspace()
    ws.add_user("U1", "ana", "Ana Lima", tz="Europe/Lisbon")
    ws.add_channel("C1", "inc-42", members={"U1"})
    with FakeSlackWebAPI(ws) as api:            # app's SLACK_API_URL = api.base_url
        player = SlackPlayer(ws, api, app_url, signing_secret)
        player.say("U1", "C1", "db is down")
        api.wait_for(lambda a: a.calls_to("chat.postMessage"))

Socket Mode: `SocketModeServer(ws).start()` and `api.serve_socket_mode(server)`; the app's
SLACK_APP_TOKEN is `server.app_token` (bot/simulator/socket_mode.py).
"""

from .clock import FakeClock
from .player import SlackPlayer
from .records import Fault, RecordedCall, StandingFault
from .socket_mode import SocketModeServer
from .transport import Reply
from .webapi import FakeSlackWebAPI
from .workspace import SimChannel, SimUser, Workspace, format_ts, ts_key

__all__ = [
    "FakeClock",
    "FakeSlackWebAPI",
    "Fault",
    "RecordedCall",
    "Reply",
    "SimChannel",
    "SimUser",
    "SlackPlayer",
    "SocketModeServer",
    "StandingFault",
    "Workspace",
    "format_ts",
    "ts_key",
]
