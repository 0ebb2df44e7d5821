"""The Slack Web API methods the simulator implements, as plain functions of params.

Transport (HTTP, tokens, faults, rate limits, recording) lives in webapi.py;
this module only turns a decoded params dict into the fields of a successful
answer, or raises `SlackError(code)`. Handlers run while holding the
workspace lock (the dispatcher takes it), so each one is atomic.

Params arrive either as strings (form bodies) or as decoded JSON values, so
every reader here accepts both: `"1"`/`True`, `"[...]"`/`[...]`, `"15"`/`15`.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import mimetypes
import secrets
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .records import SlackError
from .workspace import Message, SimChannel, SimUser, Workspace, ts_key

Params = dict[str, Any]
Handler = Callable[[Params], dict[str, Any]]

DEFAULT_PAGE_SIZE = 100


# -- param readers ------------------------------------------------------------


def _text(p: Params, key: str) -> str | None:
    value = p.get(key)
    if value is None or value == "":
        return None
    return str(value)


def truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _decoded(value: Any) -> Any:
    """Form bodies carry JSON structures (blocks, view, files) as strings."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise SlackError("invalid_arguments") from None
    return value


def _ts_param(p: Params, key: str, error: str) -> int | None:
    value = _text(p, key)
    if value is None:
        return None
    try:
        return ts_key(value)
    except ValueError:
        raise SlackError(error) from None


def _encode_cursor(ts: str) -> str:
    # Slack's cursors are base64 of "next_ts:..." too; clients must treat them as opaque.
    return base64.b64encode(f"next_ts:{ts}".encode()).decode()


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.b64decode(cursor.encode(), validate=True).decode()
        prefix, _, ts = raw.partition(":")
        if prefix != "next_ts":
            raise ValueError(raw)
        return ts_key(ts)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise SlackError("invalid_cursor") from None


class OAuthApps:
    """The OAuth side of Slack for one app: its credentials and the codes users granted.

    `grant()` stands for a user pressing "Allow" on slack.com's authorize page, which
    then redirects the browser to the app with a one-time code; `exchange()` is
    oauth.v2.access trading that code for the workspace's bot token.
    """

    def __init__(self) -> None:
        self.clients: dict[str, str] = {}  # client_id -> client_secret
        self._codes: dict[str, tuple[Workspace, str, str, str]] = {}  # code -> (workspace, user, scopes, client_id)

    def register(self, client_id: str, client_secret: str) -> None:
        self.clients[client_id] = client_secret

    def grant(self, workspace: Workspace, user_id: str, *, client_id: str, scopes: str) -> str:
        if client_id not in self.clients:
            raise KeyError(f"unknown client_id {client_id}")
        if user_id not in workspace.users:
            raise KeyError(f"no user {user_id} in {workspace.team_id}")
        code = f"{workspace.team_id}.{secrets.token_hex(8)}"
        self._codes[code] = (workspace, user_id, scopes, client_id)
        return code

    def exchange(self, p: Params) -> dict[str, Any]:
        client_id, client_secret = _text(p, "client_id"), _text(p, "client_secret")
        if client_id is None or client_id not in self.clients:
            raise SlackError("invalid_client_id")
        if client_secret != self.clients[client_id]:
            raise SlackError("bad_client_secret")
        code = _text(p, "code")
        granted = self._codes.pop(code, None) if code else None  # a code works once
        if granted is None or granted[3] != client_id:
            raise SlackError("invalid_code")
        ws, user_id, scopes, _ = granted
        return {
            "access_token": ws.bot_token,
            "token_type": "bot",
            "scope": scopes,
            "bot_user_id": ws.bot_user_id,
            "app_id": ws.api_app_id,
            "team": {"id": ws.team_id, "name": ws.team_name},
            "enterprise": None,
            "is_enterprise_install": False,
            "authed_user": {"id": user_id},
        }


class SlackMethods:
    """State kept by the fake API beyond the workspace, and the method handlers."""

    def __init__(self, workspace: Workspace, server_root: Callable[[], str], page_size_cap: int = 1000) -> None:
        self.ws = workspace
        self._server_root = server_root
        # Largest `limit` honoured by history/replies; 15 mimics Slack's tightest tier.
        self.page_size_cap = page_size_cap
        self.uploaded_files: dict[str, dict[str, Any]] = {}
        self.canvases: dict[str, str] = {}
        self.channel_canvases: dict[str, str] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self.ephemerals: list[dict[str, Any]] = []
        self._pending_uploads: dict[str, dict[str, Any]] = {}
        # channel_id -> bookmarks added with bookmarks.add, in order.
        self.bookmarks: dict[str, list[dict[str, Any]]] = {}
        self.table: dict[str, Handler] = {
            "auth.test": self.auth_test,
            "users.info": self.users_info,
            "conversations.info": self.conversations_info,
            "conversations.join": self.conversations_join,
            "conversations.open": self.conversations_open,
            "conversations.history": self.conversations_history,
            "conversations.replies": self.conversations_replies,
            "chat.postMessage": self.chat_post_message,
            "chat.postEphemeral": self.chat_post_ephemeral,
            "chat.update": self.chat_update,
            "chat.delete": self.chat_delete,
            "chat.getPermalink": self.chat_get_permalink,
            "files.getUploadURLExternal": self.files_get_upload_url,
            "files.completeUploadExternal": self.files_complete_upload,
            "conversations.canvases.create": self.conversations_canvases_create,
            "canvases.create": self.canvases_create,
            "canvases.edit": self.canvases_edit,
            "views.open": self.views_open,
            "views.update": self.views_update,
            "views.push": self.views_push,
            "reactions.get": self.reactions_get,
            "pins.list": self.pins_list,
            "conversations.members": self.conversations_members,
            "bookmarks.add": self.bookmarks_add,
            "bookmarks.list": self.bookmarks_list,
            "views.publish": self.views_publish,
            "conversations.create": self.conversations_create,
            "conversations.invite": self.conversations_invite,
            "conversations.setTopic": self.conversations_set_topic,
            "conversations.list": self.conversations_list,
        }
        # trigger_id -> when it was issued (monotonic seconds), shared by every team of a
        # FakeSlackWebAPI; a trigger works once, within TRIGGER_LIFETIME seconds.
        self.triggers: dict[str, float] = {}
        self.used_triggers: set[str] = set()
        self.trigger_clock: Callable[[], float] = time.monotonic
        # user id -> the view published as their Home tab.
        self.home_views: dict[str, dict[str, Any]] = {}

    # -- lookups ----------------------------------------------------------------

    def _channel(self, p: Params, key: str = "channel") -> SimChannel:
        channel_id = _text(p, key)
        channel = self.ws.channels.get(channel_id) if channel_id else None
        if channel is None:
            raise SlackError("channel_not_found")
        # A bot cannot even see a private channel it is not in.
        if channel.is_private and self.ws.bot_user_id not in channel.members:
            raise SlackError("channel_not_found")
        return channel

    def _member_channel(self, p: Params, key: str = "channel") -> SimChannel:
        channel = self._channel(p, key)
        if self.ws.bot_user_id not in channel.members:
            raise SlackError("not_in_channel")
        return channel

    def _post_target(self, p: Params) -> SimChannel:
        """chat.* accept a channel id, a #name, or a user id (meaning their DM)."""
        ref = _text(p, "channel")
        if ref is None:
            raise SlackError("channel_not_found")
        if ref in self.ws.users:
            return self.ws.open_dm(ref)
        channel = self.ws.channels.get(ref) or self.ws.channel_by_name(ref)
        if channel is None or (channel.is_private and self.ws.bot_user_id not in channel.members):
            raise SlackError("channel_not_found")
        if self.ws.bot_user_id not in channel.members:
            raise SlackError("not_in_channel")
        return channel

    def _message(self, channel: SimChannel, ts: str | None) -> Message:
        found = self.ws.message(channel.id, ts) if ts else None
        if found is None:
            raise SlackError("message_not_found")
        return found

    def bot_message(self, text: str, p: Params) -> Message:
        """The shape Slack stores for a message posted with a bot token."""
        message: Message = {
            "type": "message",
            "user": self.ws.bot_user_id,
            "bot_id": self.ws.bot_id,
            "app_id": self.ws.api_app_id,
            "team": self.ws.team_id,
            "text": text,
            "bot_profile": {"id": self.ws.bot_id, "app_id": self.ws.api_app_id,
                            "name": self.ws.bot_name, "team_id": self.ws.team_id},
        }
        for key in ("blocks", "attachments", "metadata"):
            if p.get(key) not in (None, ""):
                message[key] = _decoded(p[key])
        return message

    def permalink(self, channel_id: str, message: Message) -> str:
        return permalink(self.ws, channel_id, message)

    # -- identity -----------------------------------------------------------------

    def auth_test(self, p: Params) -> dict[str, Any]:
        return {
            "url": f"https://{self.ws.team_domain}.slack.com/",
            "team": self.ws.team_name,
            "user": self.ws.bot_name,
            "team_id": self.ws.team_id,
            "user_id": self.ws.bot_user_id,
            "bot_id": self.ws.bot_id,
            "is_enterprise_install": False,
        }

    def users_info(self, p: Params) -> dict[str, Any]:
        user = self.ws.users.get(_text(p, "user") or "")
        if user is None:
            raise SlackError("user_not_found")
        return {"user": self._user_object(user)}

    def _user_object(self, user: SimUser) -> dict[str, Any]:
        # tz_offset depends on the date (DST), so compute it for "now" on the workspace clock.
        try:
            local = datetime.fromtimestamp(self.ws.now(), ZoneInfo(user.tz))
            offset = int(local.utcoffset().total_seconds())  # type: ignore[union-attr]
            label = local.tzname() or user.tz
        except (ZoneInfoNotFoundError, ValueError):
            offset, label = 0, "UTC"
        display = user.display_name if user.display_name is not None else user.name
        profile: dict[str, Any] = {
            "real_name": user.real_name,
            "real_name_normalized": user.real_name,
            "display_name": display,
            "display_name_normalized": display,
            "team": self.ws.team_id,
        }
        if user.email:
            profile["email"] = user.email
        if user.is_bot and user.id == self.ws.bot_user_id:
            profile["bot_id"] = self.ws.bot_id
        return {
            "id": user.id,
            "team_id": self.ws.team_id,
            "name": user.name,
            "deleted": user.deleted,
            "real_name": user.real_name,
            "tz": user.tz,
            "tz_label": label,
            "tz_offset": offset,
            "profile": profile,
            "is_admin": False,
            "is_owner": False,
            "is_restricted": user.is_restricted,
            "is_bot": user.is_bot,
            "is_app_user": False,
        }

    # -- conversations ------------------------------------------------------------

    def channel_object(self, channel: SimChannel) -> dict[str, Any]:
        if channel.is_im:
            other = next((m for m in channel.members if m != self.ws.bot_user_id), "")
            return {"id": channel.id, "created": channel.created, "is_im": True, "is_org_shared": False,
                    "user": other, "is_user_deleted": False}
        return {
            "id": channel.id,
            "name": channel.name,
            "is_channel": not channel.is_private,
            "is_group": channel.is_private,
            "is_im": False,
            "is_mpim": channel.name.startswith("mpdm-"),
            "is_private": channel.is_private,
            "is_archived": False,
            "is_general": False,
            "created": channel.created,
            "creator": channel.creator,
            "is_member": self.ws.bot_user_id in channel.members,
            "topic": {"value": channel.topic, "creator": "", "last_set": 0},
            "purpose": {"value": channel.purpose, "creator": "", "last_set": 0},
            "num_members": len(channel.members),
        }

    def conversations_info(self, p: Params) -> dict[str, Any]:
        return {"channel": self.channel_object(self._channel(p))}

    def conversations_members(self, p: Params) -> dict[str, Any]:
        """Member ids, a page at a time (`limit` default 100, at most 1000; opaque cursor)."""
        channel = self._channel(p)
        members = sorted(channel.members)
        try:
            limit = int(p.get("limit") or DEFAULT_PAGE_SIZE)
        except (TypeError, ValueError):
            raise SlackError("invalid_limit") from None
        limit = max(1, min(limit, 1000, self.page_size_cap))
        cursor = _text(p, "cursor")
        start = 0
        if cursor is not None:
            try:
                raw = base64.b64decode(cursor.encode(), validate=True).decode()
                prefix, _, index = raw.partition(":")
                if prefix != "next_member" or not index.isdigit():
                    raise ValueError(raw)
                start = int(index)
            except (ValueError, binascii.Error, UnicodeDecodeError):
                raise SlackError("invalid_cursor") from None
        page = members[start:start + limit]
        following = start + limit
        next_cursor = base64.b64encode(f"next_member:{following}".encode()).decode() if following < len(members) else ""
        return {"members": page, "response_metadata": {"next_cursor": next_cursor}}

    def bookmarks_list(self, p: Params) -> dict[str, Any]:
        """A channel's bookmarks (Slack: channel_id; the bot must be in the channel)."""
        channel = self._channel({"channel": _text(p, "channel_id")})
        if self.ws.bot_user_id not in channel.members:
            raise SlackError("not_in_channel")
        return {"bookmarks": list(self.bookmarks.get(channel.id, []))}

    def bookmarks_add(self, p: Params) -> dict[str, Any]:
        """A link bookmark in the channel header (Slack: title, type=link, link; max 100 per channel)."""
        channel_id = _text(p, "channel_id")
        channel = self._channel({"channel": channel_id})
        if self.ws.bot_user_id not in channel.members:
            raise SlackError("not_in_channel")
        title, kind, link = _text(p, "title"), _text(p, "type"), _text(p, "link")
        if title is None or kind is None:
            raise SlackError("invalid_arguments")
        if kind != "link":
            raise SlackError("invalid_bookmark_type")
        if link is None or not link.startswith(("http://", "https://")) or len(link) > 4000:
            raise SlackError("invalid_link")
        existing = self.bookmarks.setdefault(channel.id, [])
        if len(existing) >= 100:
            raise SlackError("too_many_bookmarks")
        bookmark = {
            "id": self.ws.new_id("Bk"), "channel_id": channel.id, "title": title, "link": link,
            "emoji": _text(p, "emoji") or "", "icon_url": None, "type": "link", "entity_id": None,
            "date_created": int(self.ws.now()), "date_updated": 0, "rank": f"{len(existing):04d}",
            "last_updated_by_user_id": self.ws.bot_user_id, "last_updated_by_team_id": self.ws.team_id,
            "shortcut_id": None, "app_id": self.ws.api_app_id,
        }
        existing.append(bookmark)
        return {"bookmark": dict(bookmark)}

    def conversations_join(self, p: Params) -> dict[str, Any]:
        channel = self._channel(p)
        if channel.is_private or channel.is_im:
            raise SlackError("method_not_supported_for_channel_type")
        answer: dict[str, Any] = {}
        if not self.ws.join(channel.id, self.ws.bot_user_id):
            answer = {"warning": "already_in_channel", "response_metadata": {"warnings": ["already_in_channel"]}}
        return {"channel": self.channel_object(channel), **answer}

    def conversations_open(self, p: Params) -> dict[str, Any]:
        raw = p.get("users")
        users = raw if isinstance(raw, list) else [u.strip() for u in str(raw or "").split(",") if u.strip()]
        if not users:
            raise SlackError("users_list_not_supplied")
        for user_id in users:
            if user_id not in self.ws.users:
                raise SlackError("user_not_found")
        if len(users) == 1:
            existed = ("D" + users[0]) in self.ws.channels
            channel = self.ws.open_dm(users[0])
        else:
            channel_id = "G" + "".join(sorted(u.lstrip("UW") for u in users))
            existed = channel_id in self.ws.channels
            channel = self.ws.channels.get(channel_id) or self.ws.add_channel(
                channel_id, "mpdm-" + "--".join(sorted(self.ws.users[u].name for u in users)) + "-1",
                is_private=True, members=users)
        body = self.channel_object(channel) if truthy(p.get("return_im")) else {"id": channel.id}
        extra = {"no_op": True, "already_open": True} if existed else {}
        return {**extra, "channel": body}

    def conversations_history(self, p: Params) -> dict[str, Any]:
        channel = self._member_channel(p)
        newest_first = list(reversed(self.ws.history(channel.id)))
        return self._page(self._window(newest_first, p), p, newest_first=True)

    def conversations_replies(self, p: Params) -> dict[str, Any]:
        channel = self._member_channel(p)
        ts = _text(p, "ts")
        target = self.ws.message(channel.id, ts) if ts else None
        if target is None:
            raise SlackError("thread_not_found")
        # Asking with a reply's ts still answers with its whole thread.
        thread = self.ws.replies(channel.id, target.get("thread_ts") or target["ts"])
        # Slack always includes the parent, whatever oldest/latest say.
        items = thread[:1] + self._window(thread[1:], p)
        return self._page(items, p, newest_first=False)

    def _window(self, messages: list[Message], p: Params) -> list[Message]:
        oldest = _ts_param(p, "oldest", "invalid_ts_oldest")
        latest = _ts_param(p, "latest", "invalid_ts_latest")
        inclusive = truthy(p.get("inclusive"))

        def inside(m: Message) -> bool:
            key = ts_key(m["ts"])
            above = oldest is None or key > oldest or (inclusive and key == oldest)
            below = latest is None or key < latest or (inclusive and key == latest)
            return above and below

        return [m for m in messages if inside(m)]

    def _page(self, messages: list[Message], p: Params, *, newest_first: bool) -> dict[str, Any]:
        """Cut one page. The cursor names the first message not yet returned by
        its ts, so messages arriving between pages cause neither gaps nor repeats."""
        try:
            limit = int(p.get("limit") or DEFAULT_PAGE_SIZE)
        except (TypeError, ValueError):
            raise SlackError("invalid_limit") from None
        if limit <= 0:
            limit = DEFAULT_PAGE_SIZE
        limit = min(limit, self.page_size_cap)
        start = 0
        cursor = _text(p, "cursor")
        if cursor is not None:
            mark = _decode_cursor(cursor)
            start = next(
                (i for i, m in enumerate(messages)
                 if (ts_key(m["ts"]) <= mark if newest_first else ts_key(m["ts"]) >= mark)),
                len(messages),
            )
        page, rest = messages[start:start + limit], messages[start + limit:]
        return {
            "messages": page,
            "has_more": bool(rest),
            "response_metadata": {"next_cursor": _encode_cursor(rest[0]["ts"]) if rest else ""},
        }

    # -- chat -----------------------------------------------------------------------

    def chat_post_message(self, p: Params) -> dict[str, Any]:
        channel = self._post_target(p)
        text = _text(p, "text")
        if text is None and not p.get("blocks") and not p.get("attachments"):
            raise SlackError("no_text")
        message = self.bot_message(text or "", p)
        thread_ts = _text(p, "thread_ts")
        if thread_ts:
            message["thread_ts"] = thread_ts
            if truthy(p.get("reply_broadcast")):
                message["subtype"] = "thread_broadcast"
        stored = self.ws.post(channel.id, message)
        return {"channel": channel.id, "ts": stored["ts"], "message": stored}

    def chat_post_ephemeral(self, p: Params) -> dict[str, Any]:
        channel = self._post_target(p)
        user = _text(p, "user")
        if user is None or user not in self.ws.users:
            raise SlackError("user_not_found")
        if user not in channel.members:
            raise SlackError("user_not_in_channel")
        text = _text(p, "text")
        if text is None and not p.get("blocks") and not p.get("attachments"):
            raise SlackError("no_text")
        ts = self.ws.next_ts()
        # Ephemeral messages are never stored in history; keep them for asserts.
        self.ephemerals.append({"channel": channel.id, "user": user, "ts": ts,
                                "message": self.bot_message(text or "", p)})
        return {"message_ts": ts}

    def chat_update(self, p: Params) -> dict[str, Any]:
        channel = self._member_channel(p)
        original = self._message(channel, _text(p, "ts"))
        if original.get("user") != self.ws.bot_user_id:
            raise SlackError("cant_update_message")
        fields = {k: _decoded(p[k]) for k in ("blocks", "attachments", "metadata") if p.get(k) not in (None, "")}
        _, current = self.ws.edit(channel.id, original["ts"], _text(p, "text"),
                                  edited_by=self.ws.bot_user_id, fields=fields)
        return {"channel": channel.id, "ts": current["ts"], "text": current.get("text", ""), "message": current}

    def chat_delete(self, p: Params) -> dict[str, Any]:
        channel = self._member_channel(p)
        original = self._message(channel, _text(p, "ts"))
        if original.get("user") != self.ws.bot_user_id:
            raise SlackError("cant_delete_message")
        self.ws.delete(channel.id, original["ts"])
        return {"channel": channel.id, "ts": original["ts"]}

    def chat_get_permalink(self, p: Params) -> dict[str, Any]:
        channel = self._channel(p)
        message = self._message(channel, _text(p, "message_ts"))
        return {"channel": channel.id, "permalink": self.permalink(channel.id, message)}

    # -- files (the v2 upload flow of slack_sdk's files_upload_v2) ------------------

    def files_get_upload_url(self, p: Params) -> dict[str, Any]:
        filename = _text(p, "filename")
        try:
            length = int(p.get("length"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise SlackError("invalid_arguments") from None
        if filename is None or length < 0:
            raise SlackError("invalid_arguments")
        file_id = self.ws.new_id("F")
        self._pending_uploads[file_id] = {"name": filename, "length": length, "bytes": None}
        return {"upload_url": f"{self._server_root()}/upload/{file_id}", "file_id": file_id}

    def receive_upload(self, file_id: str, data: bytes) -> bool:
        """Step 2: the raw POST to upload_url. False for an unknown file id."""
        pending = self._pending_uploads.get(file_id)
        if pending is None:
            return False
        pending["bytes"] = data
        return True

    def files_complete_upload(self, p: Params) -> dict[str, Any]:
        entries = _decoded(p.get("files") or "[]")
        if not isinstance(entries, list) or not entries:
            raise SlackError("invalid_arguments")
        targets = [c for c in [_text(p, "channel_id")] if c]
        targets += [c.strip() for c in str(p.get("channels") or "").split(",") if c.strip()]
        channels = [self._member_channel({"channel": c}) for c in targets]
        initial_comment = _text(p, "initial_comment")
        thread_ts = _text(p, "thread_ts")
        files = []
        for entry in entries:
            pending = self._pending_uploads.get(str(entry.get("id")))
            if pending is None or pending["bytes"] is None:
                raise SlackError("file_not_found")
        for entry in entries:
            file_id = str(entry["id"])
            pending = self._pending_uploads.pop(file_id)
            title = entry.get("title") or pending["name"]
            self.uploaded_files[file_id] = {
                "name": pending["name"], "title": title, "bytes": pending["bytes"],
                "channel_id": channels[0].id if channels else None,
                "initial_comment": initial_comment, "thread_ts": thread_ts,
            }
            files.append(self._file_object(file_id, pending["name"], title, len(pending["bytes"]),
                                           [c.id for c in channels]))
        for channel in channels:
            # Sharing creates a message in the channel, as real Slack does.
            message = self.bot_message(initial_comment or "", {})
            message.update(subtype="file_share", upload=True, files=files)
            if thread_ts:
                message["thread_ts"] = thread_ts
            self.ws.post(channel.id, message)
        return {"files": files}

    def _file_object(self, file_id: str, name: str, title: str, size: int, channels: list[str]) -> dict[str, Any]:
        return file_object(self.ws, file_id, name, title=title, size=size, user=self.ws.bot_user_id,
                           channels=channels)

    # -- canvases -------------------------------------------------------------------

    def conversations_canvases_create(self, p: Params) -> dict[str, Any]:
        channel = self._channel(p, "channel_id")
        if not self.ws.canvases_allowed:
            raise SlackError("team_tier_cannot_create_channel_canvases")
        if channel.id in self.channel_canvases:
            raise SlackError("channel_canvas_already_exists")
        canvas_id = self.ws.new_id("F")
        self.canvases[canvas_id] = _markdown(p.get("document_content"))
        self.channel_canvases[channel.id] = canvas_id
        return {"canvas_id": canvas_id}

    def canvases_create(self, p: Params) -> dict[str, Any]:
        if _text(p, "channel_id"):
            self._channel(p, "channel_id")
        canvas_id = self.ws.new_id("F")
        self.canvases[canvas_id] = _markdown(p.get("document_content"))
        return {"canvas_id": canvas_id}

    def canvases_edit(self, p: Params) -> dict[str, Any]:
        canvas_id = _text(p, "canvas_id")
        if canvas_id not in self.canvases:
            raise SlackError("canvas_not_found")
        changes = _decoded(p.get("changes") or "[]")
        if not isinstance(changes, list) or not changes:
            raise SlackError("invalid_arguments")
        markdown = self.canvases[canvas_id]
        for change in changes:
            markdown = _apply_canvas_change(markdown, change)
        self.canvases[canvas_id] = markdown
        return {}

    # -- views ------------------------------------------------------------------------

    def _store_view(self, view_id: str, view: Any, root_view_id: str, previous: str | None) -> dict[str, Any]:
        spec = _decoded(view)
        if not isinstance(spec, dict) or "type" not in spec:
            raise SlackError("invalid_arguments")
        stored = {
            "id": view_id,
            "team_id": self.ws.team_id,
            "type": spec["type"],
            "callback_id": spec.get("callback_id", ""),
            "external_id": spec.get("external_id", ""),
            "private_metadata": spec.get("private_metadata", ""),
            "title": spec.get("title"),
            "submit": spec.get("submit"),
            "close": spec.get("close"),
            "blocks": spec.get("blocks", []),
            "state": {"values": {}},
            "hash": f"{int(self.ws.now())}.{secrets.token_hex(4)}",
            "clear_on_close": bool(spec.get("clear_on_close", False)),
            "notify_on_close": bool(spec.get("notify_on_close", False)),
            "root_view_id": root_view_id,
            "previous_view_id": previous,
            "app_id": self.ws.api_app_id,
            "bot_id": self.ws.bot_id,
        }
        self.views[view_id] = stored
        return stored

    def _use_trigger(self, p: Params) -> None:
        """Slack's trigger_id rules: issued by an interaction, used once, within 3 seconds."""
        trigger = _text(p, "trigger_id") or _text(p, "interactivity_pointer")
        if not trigger:
            raise SlackError("invalid_arguments", response_metadata={"messages": ["[ERROR] missing required field: trigger_id"]})
        issued = self.triggers.get(trigger)
        if issued is None:
            raise SlackError("invalid_trigger_id")
        if trigger in self.used_triggers:
            raise SlackError("exchanged_trigger_id")
        if self.trigger_clock() - issued > TRIGGER_LIFETIME:
            raise SlackError("expired_trigger_id")
        self.used_triggers.add(trigger)

    def views_open(self, p: Params) -> dict[str, Any]:
        self._use_trigger(p)
        _validate_view(p.get("view"), surface="modal")
        view_id = self.ws.new_id("V")
        return {"view": self._store_view(view_id, p.get("view"), view_id, None)}

    def views_push(self, p: Params) -> dict[str, Any]:
        self._use_trigger(p)
        _validate_view(p.get("view"), surface="modal")
        view_id = self.ws.new_id("V")
        return {"view": self._store_view(view_id, p.get("view"), view_id, None)}

    def views_publish(self, p: Params) -> dict[str, Any]:
        user_id = _text(p, "user_id")
        if user_id is None:
            raise SlackError("invalid_arguments", response_metadata={"messages": ["[ERROR] missing required field: user_id"]})
        if user_id not in self.ws.users:
            raise SlackError("user_not_found")
        _validate_view(p.get("view"), surface="home")
        existing = self.home_views.get(user_id)
        expected_hash = _text(p, "hash")
        if existing is not None and expected_hash is not None and expected_hash != existing["hash"]:
            raise SlackError("hash_conflict")
        view_id = existing["id"] if existing is not None else self.ws.new_id("V")
        stored = self._store_view(view_id, p.get("view"), view_id, None)
        self.home_views[user_id] = stored
        return {"view": stored}

    def views_update(self, p: Params) -> dict[str, Any]:
        view_id = _text(p, "view_id")
        external_id = _text(p, "external_id")
        if view_id is None and external_id is not None:
            view_id = next((v["id"] for v in self.views.values() if v["external_id"] == external_id), None)
        existing = self.views.get(view_id or "")
        if existing is None:
            raise SlackError("not_found")
        expected_hash = _text(p, "hash")
        if expected_hash is not None and expected_hash != existing["hash"]:
            raise SlackError("hash_conflict")
        _validate_view(p.get("view"), surface=existing["type"])
        stored = self._store_view(existing["id"], p.get("view"), existing["root_view_id"], existing["previous_view_id"])
        stored["state"] = {"values": _kept_input_state(existing, stored)}
        return {"view": stored}

    def type_in_view(self, view_id: str, block_id: str, value: str) -> dict[str, Any]:
        """A person typing `value` into an input of an open view: its state (the hash stays,
        as nothing says typing changes it). The view as it is now."""
        view = self.views.get(view_id)
        if view is None:
            raise KeyError(f"unknown view {view_id}")
        block = next(b for b in view["blocks"] if b.get("type") == "input" and b.get("block_id") == block_id)
        element = block["element"]
        view["state"]["values"].setdefault(block_id, {})[element["action_id"]] = {"type": element["type"], "value": value}
        return copy.deepcopy(view)

    # -- creating channels, inviting, topics ------------------------------------------

    def _require_scope(self, *scopes: str) -> None:
        """Slack answers `missing_scope` with the scope it needed and the ones the token has."""
        lacking = [s for s in scopes if s in self.ws.missing_scopes]
        if lacking:
            raise SlackError("missing_scope", needed=lacking[0], provided="commands,chat:write")

    def conversations_create(self, p: Params) -> dict[str, Any]:
        private = truthy(p.get("is_private"))
        self._require_scope("groups:write" if private else "channels:manage")
        name = p.get("name")
        name = "" if name is None else str(name)
        check_channel_name(name)
        if self.ws.channel_creation_restricted:
            raise SlackError("restricted_action")
        if self.ws.channel_by_name(name) is not None:
            raise SlackError("name_taken")
        channel = self.ws.add_channel(self.ws.new_id("G" if private else "C"), name, is_private=private)
        channel.creator = self.ws.bot_user_id
        return {"channel": self.channel_object(channel)}

    def conversations_invite(self, p: Params) -> dict[str, Any]:
        channel = self._channel(p)
        self._require_scope("groups:write" if channel.is_private else "channels:manage")
        if self.ws.bot_user_id not in channel.members:
            raise SlackError("not_in_channel")
        raw = p.get("users")
        users = raw if isinstance(raw, list) else [u.strip() for u in str(raw or "").split(",") if u.strip()]
        if not users:
            raise SlackError("no_user")
        if len(users) > 1000:
            raise SlackError("too_many_users")
        # Without force=true Slack stops at the first user it refuses and invites nobody.
        for user_id in users:
            user = self.ws.users.get(user_id)
            if user is None:
                raise SlackError("user_not_found")
            if user_id == self.ws.bot_user_id:
                raise SlackError("cant_invite_self")
            if user.deleted:
                raise SlackError("user_disabled")
            if user.is_restricted:
                raise SlackError("user_is_restricted")
            if user_id in channel.members:
                raise SlackError("already_in_channel")
        for user_id in users:
            self.ws.join(channel.id, user_id)
        return {"channel": self.channel_object(channel)}

    def conversations_set_topic(self, p: Params) -> dict[str, Any]:
        channel = self._member_channel(p)
        topic = str(p.get("topic") or "")
        if len(topic) > 250:
            raise SlackError("too_long")
        channel.topic = topic
        return {"channel": self.channel_object(channel)}

    def conversations_list(self, p: Params) -> dict[str, Any]:
        types = {t.strip() for t in str(p.get("types") or "public_channel").split(",") if t.strip()}
        found = []
        for channel in sorted(self.ws.channels.values(), key=lambda c: c.id):
            if channel.is_im or channel.name.startswith("mpdm-"):
                continue
            if channel.is_private and ("private_channel" not in types or self.ws.bot_user_id not in channel.members):
                continue
            if not channel.is_private and "public_channel" not in types:
                continue
            found.append(channel)
        try:
            limit = min(int(p.get("limit") or DEFAULT_PAGE_SIZE), 1000)
        except (TypeError, ValueError):
            raise SlackError("invalid_limit") from None
        limit = limit if limit > 0 else DEFAULT_PAGE_SIZE
        cursor = _text(p, "cursor")
        start = 0
        if cursor is not None:
            try:
                start = int(base64.b64decode(cursor.encode(), validate=True).decode().removeprefix("offset:"))
            except (ValueError, binascii.Error, UnicodeDecodeError):
                raise SlackError("invalid_cursor") from None
        page, rest = found[start:start + limit], found[start + limit:]
        next_cursor = base64.b64encode(f"offset:{start + limit}".encode()).decode() if rest else ""
        return {"channels": [self.channel_object(c) for c in page], "response_metadata": {"next_cursor": next_cursor}}

    # -- reactions and pins ----------------------------------------------------------

    def reactions_get(self, p: Params) -> dict[str, Any]:
        channel = self._member_channel(p)
        message = self._message(channel, _text(p, "timestamp"))
        return {"type": "message", "channel": channel.id, "message": message}

    def pins_list(self, p: Params) -> dict[str, Any]:
        channel = self._member_channel(p)
        items = [
            {"type": "message", "created": info.get("created", 0), "created_by": info.get("created_by", ""),
             "channel": channel.id, "message": {**message, "permalink": self.permalink(channel.id, message)}}
            for info, message in self.ws.pins(channel.id)
        ]
        return {"items": items}


# Slack's documented limits for views (Block Kit reference: views, modals, Home tabs).
TRIGGER_LIFETIME = 3.0
VIEW_BLOCK_LIMIT = 100
VIEW_TITLE_LIMIT = 24
PRIVATE_METADATA_LIMIT = 3000
CALLBACK_ID_LIMIT = 255
SECTION_TEXT_LIMIT = 3000
CONTEXT_TEXT_LIMIT = 3000


def _invalid(message: str) -> SlackError:
    return SlackError("invalid_arguments", response_metadata={"messages": [f"[ERROR] {message}"]})


def _input_ids(view: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(b["block_id"], b["element"].get("action_id", "")): b["element"] for b in view.get("blocks") or []
            if b.get("type") == "input" and b.get("block_id") and isinstance(b.get("element"), dict)}


# What a view_submission's state holds for an input nobody touched: its initial value, under
# the key Slack uses for that element type (None or [] when the form showed none).
_UNTOUCHED: dict[str, tuple[str, str, Any]] = {
    "plain_text_input": ("value", "initial_value", None),
    "number_input": ("value", "initial_value", None),
    "static_select": ("selected_option", "initial_option", None),
    "users_select": ("selected_user", "initial_user", None),
    "multi_users_select": ("selected_users", "initial_users", []),
    "checkboxes": ("selected_options", "initial_options", []),
}


def untouched_state(element: dict[str, Any]) -> dict[str, Any]:
    key, initial, empty = _UNTOUCHED[element["type"]]
    return {"type": element["type"], key: copy.deepcopy(element.get(initial, empty))}


def _kept_input_state(old: dict[str, Any], new: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Slack's views.update keeps an input's state while its block_id and action_id stay the
    same ("Preserving input entry", views.update reference) and then ignores the new view's
    initial value for it (bolt-python #572, #1064): what the person typed, else what the old
    view showed, is what is shown and submitted. An input under a new block_id starts afresh."""
    typed = (old.get("state") or {}).get("values") or {}
    before = _input_ids(old)
    kept: dict[str, dict[str, Any]] = {}
    for (block_id, action_id), _element in _input_ids(new).items():
        if (block_id, action_id) not in before:
            continue
        state = (typed.get(block_id) or {}).get(action_id)
        if state is None and before[(block_id, action_id)].get("type") in _UNTOUCHED:
            state = untouched_state(before[(block_id, action_id)])
        if state is None:
            continue
        kept.setdefault(block_id, {})[action_id] = state
    return kept


def _validate_view(raw: Any, *, surface: str) -> None:
    """Refuse a view the way Slack does: `invalid_arguments` with what was wrong."""
    spec = _decoded(raw)
    if not isinstance(spec, dict):
        raise _invalid("missing required field: view")
    kind = spec.get("type")
    if kind != surface:
        raise _invalid(f"must be '{surface}' [json-pointer:/view/type]")
    blocks = spec.get("blocks")
    if not isinstance(blocks, list):
        raise _invalid("missing required field: blocks [json-pointer:/view/blocks]")
    if len(blocks) > VIEW_BLOCK_LIMIT:
        raise _invalid(f"no more than {VIEW_BLOCK_LIMIT} items allowed [json-pointer:/view/blocks]")
    if surface == "modal":
        for field in ("title", "submit", "close"):
            value = spec.get(field)
            if value is None:
                if field == "title":
                    raise _invalid("missing required field: title [json-pointer:/view/title]")
                continue
            text = value.get("text") if isinstance(value, dict) else None
            if not isinstance(text, str) or not text or value.get("type") != "plain_text":
                raise _invalid(f"must be a plain_text object [json-pointer:/view/{field}]")
            if len(text) > VIEW_TITLE_LIMIT:
                raise _invalid(f"must be less than {VIEW_TITLE_LIMIT + 1} characters [json-pointer:/view/{field}/text]")
        if any(isinstance(b, dict) and b.get("type") == "input" for b in blocks) and spec.get("submit") is None:
            raise _invalid("submit is required when an input block is present [json-pointer:/view/submit]")
    if len(str(spec.get("private_metadata") or "")) > PRIVATE_METADATA_LIMIT:
        raise _invalid(f"must be less than {PRIVATE_METADATA_LIMIT + 1} characters [json-pointer:/view/private_metadata]")
    if len(str(spec.get("callback_id") or "")) > CALLBACK_ID_LIMIT:
        raise _invalid(f"must be less than {CALLBACK_ID_LIMIT + 1} characters [json-pointer:/view/callback_id]")
    seen: set[str] = set()
    for index, block in enumerate(blocks):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise _invalid(f"missing required field: type [json-pointer:/view/blocks/{index}]")
        block_id = block.get("block_id")
        if block_id is not None:
            if block_id in seen:
                raise _invalid(f"duplicate block_id [json-pointer:/view/blocks/{index}/block_id]")
            seen.add(block_id)
        text = block.get("text")
        if block["type"] == "section" and isinstance(text, dict) and len(str(text.get("text") or "")) > SECTION_TEXT_LIMIT:
            raise _invalid(f"must be less than {SECTION_TEXT_LIMIT + 1} characters [json-pointer:/view/blocks/{index}/text]")
        if block["type"] == "input" and ("label" not in block or "element" not in block):
            raise _invalid(f"missing required field: label or element [json-pointer:/view/blocks/{index}]")
        element = block.get("element") if block["type"] == "input" else None
        if isinstance(element, dict) and element.get("type") == "plain_text_input" and element.get("max_length") \
                and len(str(element.get("initial_value") or "")) > int(element["max_length"]):
            raise _invalid(f"must be less than {int(element['max_length']) + 1} characters "
                           f"[json-pointer:/view/blocks/{index}/element/initial_value]")
        if block["type"] == "context":
            for n, item in enumerate(block.get("elements") or []):
                if isinstance(item, dict) and len(str(item.get("text") or "")) > CONTEXT_TEXT_LIMIT:
                    raise _invalid(f"must be less than {CONTEXT_TEXT_LIMIT + 1} characters "
                                   f"[json-pointer:/view/blocks/{index}/elements/{n}/text]")
MAX_CHANNEL_NAME = 80


def check_channel_name(name: str) -> None:
    """Slack's rules for a new channel's name: lower case letters, digits, '-' and '_',
    at most 80 characters, not only punctuation."""
    if not name:
        raise SlackError("invalid_name_required")
    if len(name) > MAX_CHANNEL_NAME:
        raise SlackError("invalid_name_maxlength")
    if any(not (c.isdigit() or c in "-_" or (c.isalpha() and c == c.lower())) for c in name):
        raise SlackError("invalid_name_specials")
    if all(c in "-_" for c in name):
        raise SlackError("invalid_name_punctuation")


def permalink(ws: Workspace, channel_id: str, message: Message) -> str:
    """Slack's message permalink; thread replies carry their thread in the query."""
    link = f"https://{ws.team_domain}.slack.com/archives/{channel_id}/p{message['ts'].replace('.', '')}"
    thread_ts = message.get("thread_ts")
    if thread_ts and thread_ts != message["ts"]:
        link += f"?thread_ts={thread_ts}&cid={channel_id}"
    return link


def file_object(
    ws: Workspace, file_id: str, name: str, *, title: str | None = None, size: int = 0,
    user: str, channels: list[str] | None = None,
) -> dict[str, Any]:
    """A Slack file object; shared with the player, whose users share files too."""
    mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
    now = int(ws.now())
    return {
        "id": file_id,
        "created": now,
        "timestamp": now,
        "name": name,
        "title": title or name,
        "mimetype": mimetype,
        "filetype": name.rsplit(".", 1)[-1].lower() if "." in name else "binary",
        "user": user,
        "size": size,
        "mode": "hosted",
        "is_external": False,
        "is_public": True,
        "channels": channels or [],
        "url_private": f"https://files.slack.com/files-pri/{ws.team_id}-{file_id}/{name}",
        "url_private_download": f"https://files.slack.com/files-pri/{ws.team_id}-{file_id}/download/{name}",
        "permalink": f"https://{ws.team_domain}.slack.com/files/{user}/{file_id}/{name}",
    }


def _markdown(document_content: Any) -> str:
    content = _decoded(document_content) if document_content not in (None, "") else {}
    if not isinstance(content, dict):
        raise SlackError("invalid_arguments")
    if content and content.get("type") != "markdown":
        raise SlackError("invalid_arguments")
    return str(content.get("markdown", ""))


def _apply_canvas_change(markdown: str, change: Any) -> str:
    """Apply one canvases.edit change to the whole-document markdown.

    Only document-level operations are simulated. Section-scoped ones need
    section ids from canvases.sections.lookup, which the simulator does not
    implement, so they fail loudly instead of silently doing the wrong thing.
    """
    if not isinstance(change, dict):
        raise SlackError("invalid_arguments")
    operation = change.get("operation")
    if change.get("section_id") or operation not in ("replace", "insert_at_end", "insert_at_start"):
        raise SlackError("invalid_arguments")
    text = _markdown(change.get("document_content"))
    if operation == "replace":
        return text
    if operation == "insert_at_end":
        return markdown + ("\n" if markdown and not markdown.endswith("\n") else "") + text
    return text + ("\n" if text and not text.endswith("\n") else "") + markdown



# -- Socket Mode ----------------------------------------------------------------


def apps_connections_open(servers: list[Any], token: str | None) -> Callable[[], dict[str, Any]]:
    """apps.connections.open: a fresh WebSocket URL, for an app-level (xapp-) token only.

    Slack answers `not_allowed_token_type` to a bot or user token, `invalid_auth` to an
    app token it doesn't know, `not_authed` without one. Returned as a thunk so the
    dispatcher turns a SlackError into an error answer.
    """

    def answer() -> dict[str, Any]:
        if not token:
            raise SlackError("not_authed")
        if not token.startswith("xapp-"):
            raise SlackError("not_allowed_token_type")
        server = next((s for s in servers if s.app_token == token), None)
        if server is None:
            raise SlackError("invalid_auth")
        return {"url": server.issue_url()}

    return answer
