"""`SlackPlayer`: plays the humans of the workspace against the app.

Each action first changes the shared `Workspace` (so a later
conversations.history from the app sees it) and then sends the app what Slack
would: a signed Events API envelope, slash-command form, or interactivity
payload, over real HTTP.

Like Slack, channel-scoped events (messages, reactions, pins) are only
delivered when the bot is a member of the channel; otherwise the action is
stored and nothing is sent. Request timestamps use the wall clock, not the
workspace clock, because the app checks signatures against its own time.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from .methods import file_object, permalink, untouched_state
from .transport import Reply, post, signature_headers
from .webapi import FakeSlackWebAPI
from .workspace import Message, SimChannel, SimUser, Workspace

JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"

class SlackPlayer:
    def __init__(
        self,
        workspace: Workspace,
        web_api: FakeSlackWebAPI,
        app_url: str,
        signing_secret: str,
        *,
        timeout: float = 10.0,
        verification_token: str = "sim-verification-token",
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.workspace = workspace
        self.web_api = web_api
        self.app_url = app_url
        self.signing_secret = signing_secret
        self.timeout = timeout
        # The deprecated per-app token Slack still puts in every payload.
        self.verification_token = verification_token
        self.wall_clock = wall_clock
        self.sent_events: list[dict[str, Any]] = []
        # The app's answer to the last thing sent (say() returns a ts, not this).
        self.last_reply: Reply | None = None
        self.last_trigger_id: str | None = None
        self.last_response_url: str | None = None
        # Called after each request the app answered: a test's explicit wait for what the app
        # does after its answer (its work after the ack, its outbox), before it looks.
        self.after_request: Callable[[], object] | None = None

    # -- transport ------------------------------------------------------------------

    def post_raw(
        self, body: bytes, headers: dict[str, str] | None = None, sign: bool = True,
        timestamp: int | str | None = None,
    ) -> Reply:
        """POST arbitrary bytes. With sign=True the Slack signature headers are
        computed for `timestamp` (default: now); headers passed in win, so a
        test can still override either of them."""
        all_headers: dict[str, str] = {}
        if sign:
            stamp = timestamp if timestamp is not None else int(self.wall_clock())
            all_headers.update(signature_headers(self.signing_secret, stamp, body))
        all_headers.update(headers or {})
        self.last_reply = post(self.app_url, body, all_headers, self.timeout)
        if self.after_request is not None:
            self.after_request()
        return self.last_reply

    def _post_form(self, fields: dict[str, str]) -> Reply:
        return self.post_raw(urlencode(fields).encode(), {"Content-Type": FORM_TYPE})

    def _post_payload(self, payload: dict[str, Any]) -> Reply:
        return self._post_form({"payload": json.dumps(payload)})

    # -- events ---------------------------------------------------------------------

    def send_event(
        self, event: dict[str, Any], *, retry_num: int | None = None, retry_reason: str | None = None,
        event_id: str | None = None,
    ) -> Reply:
        """Wrap `event` in an event_callback envelope and deliver it.

        Passing an earlier `event_id` (with retry_num) imitates a redelivery.
        """
        return self.deliver(self.envelope(event, event_id=event_id), retry_num=retry_num, retry_reason=retry_reason)

    def envelope(self, event: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
        """The event_callback envelope Slack would wrap `event` in (not sent)."""
        ws = self.workspace
        event = dict(event)
        event.setdefault("event_ts", event.get("ts") or ws.next_ts())
        envelope = {
            "token": self.verification_token,
            "team_id": ws.team_id,
            "api_app_id": ws.api_app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or ws.new_id("Ev"),
            "event_time": int(ws.now()),
            "authorizations": [{
                "enterprise_id": None,
                "team_id": ws.team_id,
                "user_id": ws.bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }],
            "is_ext_shared_channel": False,
        }
        return envelope

    def redeliver(self, envelope: dict[str, Any], *, retry_num: int = 1, retry_reason: str = "http_timeout") -> Reply:
        """Send an earlier envelope again, byte for byte, as Slack's retries do."""
        return self.deliver(envelope, retry_num=retry_num, retry_reason=retry_reason)

    def deliver(self, envelope: dict[str, Any], *, retry_num: int | None = None, retry_reason: str | None = None) -> Reply:
        """Send an envelope; with retry_num, as Slack's redelivery (X-Slack-Retry-Num) does."""
        headers = {"Content-Type": JSON_TYPE}
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
        self.sent_events.append(envelope)
        return self.post_raw(json.dumps(envelope).encode(), headers)

    def _channel_event(self, channel: SimChannel, event: dict[str, Any]) -> Reply | None:
        if self.workspace.bot_user_id not in channel.members:
            return None  # Slack only sends channel events to apps in the channel
        return self.send_event(event)

    # -- user actions -------------------------------------------------------------------

    def say(
        self, user: str, channel: str, text: str, *, thread_ts: str | None = None,
        files: list[dict[str, Any]] | None = None, broadcast: bool = False, deliver: bool = True,
    ) -> str:
        """Post as `user`; returns the new message's ts."""
        ws = self.workspace
        sim_user, sim_channel = self._user(user), self._channel(channel)
        ws.join(channel, user)  # speaking in a channel implies being in it
        message: Message = {"type": "message", "user": user, "text": text, "team": ws.team_id,
                            "client_msg_id": str(uuid.uuid4())}
        if thread_ts:
            message["thread_ts"] = thread_ts
            if broadcast:
                message["subtype"] = "thread_broadcast"
        if files:
            message.setdefault("subtype", "file_share")
            message["upload"] = False
            message["display_as_bot"] = False
            message["files"] = [self._file(sim_user, spec, channel) for spec in files]
        stored = ws.post(channel, message)
        if deliver:
            event = {**stored, "channel": channel, "event_ts": stored["ts"],
                     "channel_type": sim_channel.channel_type}
            if thread_ts:
                parent = ws.message(channel, thread_ts)
                if parent is not None:
                    event["parent_user_id"] = parent.get("user", "")
                    if broadcast:
                        event["root"] = parent
            self._channel_event(sim_channel, event)
        return stored["ts"]

    def post_as_integration(
        self, channel: str, *, bot_id: str, text: str = "", username: str | None = None,
        bot_profile: dict[str, Any] | None = None, attachments: list[Any] | None = None,
        blocks: list[Any] | None = None, thread_ts: str | None = None, deliver: bool = True,
    ) -> str:
        """Post as another app or integration (PagerDuty, Datadog, a deploy bot); returns the ts.

        With `username` and no `bot_profile` it is a classic incoming webhook: subtype
        `bot_message`, the name in `username`. With `bot_profile` it is a Slack app posting
        through chat.postMessage: no subtype, `bot_id`, `app_id` and `bot_profile`, as
        Slack sends them. Slack refuses more than 50 blocks (invalid_blocks), so does this.
        """
        ws = self.workspace
        sim_channel = self._channel(channel)
        if blocks is not None and len(blocks) > 50:
            raise ValueError("invalid_blocks: Slack accepts at most 50 blocks in a message")
        message: Message = {"type": "message", "text": text, "bot_id": bot_id, "team": ws.team_id}
        if bot_profile is None:
            message["subtype"] = "bot_message"
            if username:
                message["username"] = username
        else:
            profile = {"id": bot_id, "deleted": False, "updated": int(ws.now()), "team_id": ws.team_id, **bot_profile}
            message["app_id"] = profile.setdefault("app_id", "A" + bot_id.removeprefix("B"))
            message["bot_profile"] = profile
            if username:
                message["username"] = username
        if attachments is not None:
            message["attachments"] = attachments
        if blocks is not None:
            message["blocks"] = blocks
        if thread_ts:
            message["thread_ts"] = thread_ts
        stored = ws.post(channel, message)
        if deliver:
            self._channel_event(sim_channel, {**stored, "channel": channel, "event_ts": stored["ts"],
                                              "channel_type": sim_channel.channel_type})
        return stored["ts"]

    def unfurl(self, channel: str, ts: str, attachment: dict[str, Any], deliver: bool = True) -> Reply | None:
        """Slack's link preview of a pasted link: the message gains an attachment, and the
        app gets a message_changed with the same text (no `edited`, it's not an edit)."""
        ws = self.workspace
        sim_channel = self._channel(channel)
        previous, current = ws.unfurl(channel, ts, attachment)
        if not deliver:
            return None
        event_ts = ws.next_ts()
        return self._channel_event(sim_channel, {
            "type": "message", "subtype": "message_changed", "hidden": True,
            "message": current, "channel": channel, "previous_message": previous,
            "event_ts": event_ts, "ts": event_ts, "channel_type": sim_channel.channel_type,
        })

    def _file(self, user: SimUser, spec: dict[str, Any], channel: str) -> dict[str, Any]:
        name = str(spec.get("name", "file.bin"))
        base = file_object(self.workspace, self.workspace.new_id("F"), name, title=spec.get("title"),
                           size=int(spec.get("size", 0)), user=user.id, channels=[channel])
        return {**base, **spec}

    def edit(self, user: str, channel: str, ts: str, text: str, deliver: bool = True) -> Reply | None:
        ws = self.workspace
        self._user(user)
        sim_channel = self._channel(channel)
        current = ws.message(channel, ts)
        if current is None:
            raise KeyError(f"no message {ts} in {channel}")
        if current.get("user") != user:
            raise ValueError(f"{user} cannot edit {current.get('user')}'s message in Slack")
        previous, current = ws.edit(channel, ts, text, edited_by=user)
        if not deliver:
            return None
        event_ts = current["edited"]["ts"]
        return self._channel_event(sim_channel, {
            "type": "message", "subtype": "message_changed", "hidden": True,
            "message": current, "channel": channel, "previous_message": previous,
            "event_ts": event_ts, "ts": event_ts, "channel_type": sim_channel.channel_type,
        })

    def delete(self, channel: str, ts: str, deliver: bool = True) -> Reply | None:
        ws = self.workspace
        sim_channel = self._channel(channel)
        previous = ws.delete(channel, ts)
        if not deliver:
            return None
        event_ts = ws.next_ts()
        tombstone = ws.message(channel, ts)
        if tombstone is not None and tombstone.get("subtype") == "tombstone":
            # A thread parent with replies: Slack sends no message_deleted, but a
            # message_changed to "This message was deleted." (the replies stay).
            return self._channel_event(sim_channel, {
                "type": "message", "subtype": "message_changed", "hidden": True,
                "message": tombstone, "channel": channel, "previous_message": previous,
                "event_ts": event_ts, "ts": event_ts, "channel_type": sim_channel.channel_type,
            })
        return self._channel_event(sim_channel, {
            "type": "message", "subtype": "message_deleted", "hidden": True, "channel": channel,
            "ts": event_ts, "deleted_ts": ts, "event_ts": event_ts, "previous_message": previous,
            "channel_type": sim_channel.channel_type,
        })

    def react(self, user: str, channel: str, ts: str, name: str = "pushpin", remove: bool = False,
              deliver: bool = True) -> Reply | None:
        ws = self.workspace
        self._user(user)
        sim_channel = self._channel(channel)
        message = ws.react(channel, ts, user, name, remove=remove)
        if not deliver:
            return None
        return self._channel_event(sim_channel, {
            "type": "reaction_removed" if remove else "reaction_added", "user": user, "reaction": name,
            "item": {"type": "message", "channel": channel, "ts": ts},
            "item_user": message.get("user", ""), "event_ts": ws.next_ts(),
        })

    def pin(self, user: str, channel: str, ts: str, remove: bool = False, deliver: bool = True) -> Reply | None:
        ws = self.workspace
        self._user(user)
        sim_channel = self._channel(channel)
        message = ws.pin(channel, ts, user, remove=remove)
        if not deliver:
            return None
        created = int(ws.now())
        event: dict[str, Any] = {
            "type": "pin_removed" if remove else "pin_added",
            "user": user,
            "channel_id": channel,
            "item": {"type": "message", "channel": channel, "created": created, "created_by": user,
                     "message": {**message, "permalink": permalink(self.workspace, channel, message)}},
            "item_user": message.get("user", ""),
            "pin_count": len(sim_channel.pinned),
            "pinned_info": {"channel": channel, "pinned_by": user, "pinned_ts": created},
            "event_ts": ws.next_ts(),
        }
        if remove:
            event["has_pins"] = bool(sim_channel.pinned)
        return self._channel_event(sim_channel, event)

    # -- slash commands and interactivity --------------------------------------------------

    def command(self, user: str, channel: str, text: str, *, command: str = "/incident") -> Reply:
        return self._post_form(self.command_form(user, channel, text, command=command))

    def command_form(self, user: str, channel: str, text: str, *, command: str = "/incident") -> dict[str, str]:
        """The form fields Slack would POST for a slash command (not sent; the benchmark pre-builds these)."""
        ws = self.workspace
        sim_user, sim_channel = self._user(user), self._channel(channel)
        ws.join(channel, user)
        self.last_response_url = self.web_api.new_response_url(channel_id=channel, user_id=user, workspace=ws)
        self.last_trigger_id = self._trigger_id()
        return {
            "token": self.verification_token,
            "team_id": ws.team_id,
            "team_domain": ws.team_domain,
            "channel_id": channel,
            "channel_name": "directmessage" if sim_channel.is_im else sim_channel.name,
            "user_id": user,
            "user_name": sim_user.name,
            "command": command,
            "text": text,
            "api_app_id": ws.api_app_id,
            "is_enterprise_install": "false",
            "response_url": self.last_response_url,
            "trigger_id": self.last_trigger_id,
        }

    def click(
        self, user: str, channel: str | None, *, action_id: str, value: str = "", block_id: str = "b",
        message_ts: str | None = None, view: dict[str, Any] | str | None = None,
    ) -> Reply:
        """Press a button on a message (default: the bot's latest in `channel`) or in a view."""
        action = {"action_id": action_id, "block_id": block_id, "value": value, "type": "button",
                  "text": {"type": "plain_text", "text": value or action_id, "emoji": True},
                  "action_ts": self.workspace.next_ts()}
        return self._post_payload(self._block_actions(user, channel, action, message_ts, view))

    def click_ephemeral(self, user: str, channel: str, *, action_id: str, value: str = "", block_id: str = "b",
                        message_ts: str | None = None) -> Reply:
        """Press a button on an ephemeral message the app sent `user` in `channel` (the one
        recorded with `message_ts`, if given). As Slack does, the payload says `is_ephemeral`
        and carries no `message` (there is none in the channel's history); its response_url
        answers for that ephemeral message (replace_original replaces it)."""
        action = {"action_id": action_id, "block_id": block_id, "value": value, "type": "button",
                  "text": {"type": "plain_text", "text": value or action_id, "emoji": True},
                  "action_ts": self.workspace.next_ts()}
        payload = self._block_actions(user, channel, action, message_ts or self.workspace.next_ts(), None)
        payload["container"]["is_ephemeral"] = True
        payload.pop("message", None)
        return self._post_payload(payload)

    def select_user(
        self, user: str, channel: str | None, *, action_id: str, selected_user: str, block_id: str = "b",
        message_ts: str | None = None, view: dict[str, Any] | str | None = None,
    ) -> Reply:
        action = {"action_id": action_id, "block_id": block_id, "selected_user": selected_user,
                  "type": "users_select", "action_ts": self.workspace.next_ts()}
        return self._post_payload(self._block_actions(user, channel, action, message_ts, view))

    def _block_actions(
        self, user: str, channel: str | None, action: dict[str, Any], message_ts: str | None,
        view: dict[str, Any] | str | None,
    ) -> dict[str, Any]:
        ws = self.workspace
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user_ref(self._user(user)),
            "api_app_id": ws.api_app_id,
            "token": self.verification_token,
            "trigger_id": self._trigger_id(),
            "team": {"id": ws.team_id, "domain": ws.team_domain},
            "enterprise": None,
            "is_enterprise_install": False,
            "state": {"values": {}},
        }
        self.last_trigger_id = payload["trigger_id"]
        if view is not None:
            stored = self._view(view)
            payload["container"] = {"type": "view", "view_id": stored["id"]}
            payload["view"] = stored
        else:
            if channel is None:
                raise ValueError("a message action needs a channel")
            sim_channel = self._channel(channel)
            message = self._target_message(channel, message_ts)
            ts = message["ts"] if message else message_ts
            container: dict[str, Any] = {"type": "message", "message_ts": ts, "channel_id": channel,
                                         "is_ephemeral": False}
            if message and message.get("thread_ts") and message["thread_ts"] != message["ts"]:
                container["thread_ts"] = message["thread_ts"]
            payload["container"] = container
            payload["channel"] = {"id": channel, "name": "directmessage" if sim_channel.is_im else sim_channel.name}
            if message is not None:
                payload["message"] = message
            self.last_response_url = self.web_api.new_response_url(channel_id=channel, user_id=user, workspace=ws,
                                                                   message_ts=ts)
            payload["response_url"] = self.last_response_url
        payload["actions"] = [action]
        return payload

    def shortcut(self, user: str, *, callback_id: str) -> Reply:
        """Run a global shortcut (the ⚡ menu, or the search bar), as Slack sends it."""
        ws = self.workspace
        payload: dict[str, Any] = {
            "type": "shortcut",
            "token": self.verification_token,
            "action_ts": ws.next_ts(),
            "team": {"id": ws.team_id, "domain": ws.team_domain},
            "user": self._user_ref(self._user(user)),
            "is_enterprise_install": False,
            "enterprise": None,
            "callback_id": callback_id,
            "trigger_id": self._trigger_id(),
        }
        self.last_trigger_id = payload["trigger_id"]
        return self._post_payload(payload)

    def submit_view(
        self, user: str, *, callback_id: str, values: dict[str, Any], private_metadata: str = "",
        view_id: str | None = None,
    ) -> Reply:
        """Submit a modal.

        `values` maps block_id -> {action_id: value}; a str value becomes a
        plain_text_input state, a dict is used as the state as-is. A bare str
        per block (`{block_id: "text"}`) uses block_id as the action_id too.
        The view submitted is `view_id`, else the latest view the app opened
        with this callback_id, else a fresh one.
        """
        ws = self.workspace
        state: dict[str, dict[str, Any]] = {}
        for block_id, actions in values.items():
            if not isinstance(actions, dict):
                actions = {block_id: actions}
            state[block_id] = {
                action_id: value if isinstance(value, dict) else {"type": "plain_text_input", "value": value}
                for action_id, value in actions.items()
            }
        base = self._find_view(view_id, callback_id)
        view = {
            **base,
            "callback_id": callback_id,
            "private_metadata": private_metadata or base.get("private_metadata", ""),
            "state": {"values": state},
        }
        payload: dict[str, Any] = {
            "type": "view_submission",
            "team": {"id": ws.team_id, "domain": ws.team_domain},
            "user": self._user_ref(self._user(user)),
            "api_app_id": ws.api_app_id,
            "token": self.verification_token,
            "trigger_id": self._trigger_id(),
            "view": view,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        self.last_trigger_id = payload["trigger_id"]
        return self._post_payload(payload)

    def submit_view_as_shown(self, user: str, *, view_id: str) -> Reply:
        """Submit a modal as it is: each input's state is what the person typed in it
        (`type_in_view`), what Slack kept across views.update, else what the form showed
        (its initial value, option or user), as Slack sends it."""
        view = self._view(view_id)
        kept = (view.get("state") or {}).get("values") or {}
        values: dict[str, Any] = {}
        for block in view.get("blocks") or []:
            if block.get("type") == "input":
                element = block["element"]
                state = (kept.get(block["block_id"]) or {}).get(element["action_id"])
                values[block["block_id"]] = {element["action_id"]: state if state is not None else untouched_state(element)}
        return self.submit_view(user, callback_id=view["callback_id"], values=values, view_id=view_id)

    def type_in_view(self, user: str, *, view_id: str, block_id: str, text: str) -> Reply | None:
        """Type `text` into an input of an open modal. If the input dispatches actions on
        each character (`dispatch_action` with `on_character_entered`), Slack sends the app
        a block_actions payload, as here; else the app learns of it only on submit (None)."""
        view = self.web_api.type_in_view(view_id, block_id, text)
        block = next(b for b in view["blocks"] if b.get("type") == "input" and b.get("block_id") == block_id)
        element = block["element"]
        triggers = (element.get("dispatch_action_config") or {}).get("trigger_actions_on") or ["on_enter_pressed"]
        if not block.get("dispatch_action") or "on_character_entered" not in triggers:
            return None
        action = {"type": element["type"], "block_id": block_id, "action_id": element["action_id"], "value": text,
                  "action_ts": self.workspace.next_ts()}
        return self._post_payload(self._block_actions(user, None, action, None, view_id))

    def message_shortcut(self, user: str, channel: str, ts: str, *, callback_id: str, message: Message | None = None) -> Reply:
        """Use a message shortcut ("Add to timeline") on a message: Slack's `message_action`.

        `message` overrides what Slack sends as the message (e.g. one deleted meanwhile,
        which the workspace no longer has)."""
        ws = self.workspace
        sim_channel = self._channel(channel)
        found = message if message is not None else ws.message(channel, ts)
        if found is None:
            raise KeyError(f"no message {ts} in {channel}")
        self.last_trigger_id = self._trigger_id()
        self.last_response_url = self.web_api.new_response_url(channel_id=channel, user_id=user, workspace=ws)
        payload = {
            "type": "message_action",
            "token": self.verification_token,
            "action_ts": ws.next_ts(),
            "team": {"id": ws.team_id, "domain": ws.team_domain},
            "user": self._user_ref(self._user(user)),
            "channel": {"id": channel, "name": "directmessage" if sim_channel.is_im else sim_channel.name},
            "is_enterprise_install": False,
            "enterprise": None,
            "callback_id": callback_id,
            "trigger_id": self.last_trigger_id,
            "response_url": self.last_response_url,
            "message_ts": ts,
            "message": {k: v for k, v in found.items() if k != "channel"},
        }
        return self._post_payload(payload)

    def choose_overflow(
        self, user: str, channel: str | None, *, action_id: str, value: str, block_id: str = "b",
        message: Message | None = None, view: dict[str, Any] | str | None = None, ephemeral: bool = False,
    ) -> Reply:
        """Pick an option of an overflow menu, on a message (an ephemeral one too) or in a view."""
        action = {"action_id": action_id, "block_id": block_id, "type": "overflow",
                  "selected_option": {"text": {"type": "plain_text", "text": value, "emoji": True}, "value": value},
                  "action_ts": self.workspace.next_ts()}
        payload = self._block_actions(user, channel, action, None, view)
        if ephemeral and channel is not None:
            # Slack sends no message body for ephemeral messages, only the container.
            payload.pop("message", None)
            payload["container"] = {"type": "message", "message_ts": self.workspace.next_ts(), "channel_id": channel, "is_ephemeral": True}
        elif message is not None:
            payload["message"] = message
        return self._post_payload(payload)

    def join_channel(self, user: str, channel: str, *, inviter: str | None = None) -> Reply | None:
        """`user` joins `channel`: Slack sends `member_joined_channel` to apps in the channel."""
        ws = self.workspace
        self._user(user)
        sim_channel = self._channel(channel)
        ws.join(channel, user)
        event: dict[str, Any] = {"type": "member_joined_channel", "user": user, "channel": channel,
                                 "channel_type": "G" if sim_channel.is_private else "C", "team": ws.team_id,
                                 "event_ts": ws.next_ts()}
        if inviter:
            event["inviter"] = inviter
        return self._channel_event(sim_channel, event)

    def open_home(self, user: str) -> Reply:
        """`user` opens the app's Home tab: Slack sends `app_home_opened` (with the view last published)."""
        ws = self.workspace
        self._user(user)
        dm = ws.open_dm(user)
        event: dict[str, Any] = {"type": "app_home_opened", "user": user, "channel": dm.id, "tab": "home", "event_ts": ws.next_ts()}
        published = self.web_api.home_views.get(user)
        if published is not None:
            event["view"] = published
        return self.send_event(event)

    # -- helpers ----------------------------------------------------------------------------

    def _user(self, user_id: str) -> SimUser:
        user = self.workspace.user(user_id)
        if user is None:
            raise KeyError(f"unknown user {user_id}; add it with workspace.add_user first")
        return user

    def _channel(self, channel_id: str) -> SimChannel:
        channel = self.workspace.channel(channel_id)
        if channel is None:
            raise KeyError(f"unknown channel {channel_id}; add it with workspace.add_channel first")
        return channel

    def _user_ref(self, user: SimUser) -> dict[str, str]:
        return {"id": user.id, "username": user.name, "name": user.name, "team_id": self.workspace.team_id}

    def _trigger_id(self) -> str:
        n = self.workspace.new_id("T").removeprefix("TSIM")
        return self.web_api.issue_trigger(f"{int(n)}.{int(self.wall_clock())}.{secrets.token_hex(16)}")

    def _target_message(self, channel: str, message_ts: str | None) -> Message | None:
        if message_ts is not None:
            return self.workspace.message(channel, message_ts)
        bot = self.workspace.bot_user_id
        return next((m for m in reversed(self.workspace.messages(channel)) if m.get("user") == bot), None)

    def _view(self, view: dict[str, Any] | str) -> dict[str, Any]:
        view_id = view if isinstance(view, str) else view.get("id")
        stored = self.web_api.views.get(view_id or "")
        if stored is not None:
            return dict(stored)
        if isinstance(view, str):
            raise KeyError(f"unknown view {view}")
        return {"id": view_id or self.workspace.new_id("V"), **{k: v for k, v in view.items() if k != "id"}}

    def _find_view(self, view_id: str | None, callback_id: str) -> dict[str, Any]:
        if view_id is not None:
            return self._view(view_id)
        opened = [v for v in self.web_api.views.values() if v.get("callback_id") == callback_id]
        if opened:
            return dict(opened[-1])
        ws = self.workspace
        fresh = ws.new_id("V")
        return {"id": fresh, "team_id": ws.team_id, "type": "modal", "blocks": [], "title": None,
                "hash": f"{int(ws.now())}.{secrets.token_hex(4)}", "root_view_id": fresh,
                "previous_view_id": None, "app_id": ws.api_app_id, "bot_id": ws.bot_id,
                "external_id": "", "clear_on_close": False, "notify_on_close": False}
