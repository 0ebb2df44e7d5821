"""In-memory state of one simulated Slack workspace.

Both halves of the simulator share this object: `SlackPlayer` writes what users
do into it, and `FakeSlackWebAPI` answers the app's API calls from it, so what
the app reads back (history, replies, pins) matches what it was told via events.

Everything is guarded by one re-entrant lock, `Workspace.lock`. The web API's
own bookkeeping (files, canvases, views) uses the same lock, so compound
operations never have to think about lock ordering. Readers get deep copies:
callers may mutate what they receive without corrupting the stored state.
"""

from __future__ import annotations

import bisect
import copy
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

Message = dict[str, Any]


def ts_key(ts: str) -> int:
    """Slack ts string -> integer microseconds.

    Slack timestamps are compared as exact decimals. Floats only have ~16
    significant digits, which is just too few for "1700000000.123456", so two
    distinct timestamps could compare equal; integers never do.
    """
    text = str(ts).strip()
    if not text:
        raise ValueError("empty ts")
    whole, _, frac = text.partition(".")
    if not whole.isdigit() or (frac and not frac.isdigit()):
        raise ValueError(f"not a Slack ts: {ts!r}")
    return int(whole) * 1_000_000 + int((frac + "000000")[:6])


def format_ts(micros: int) -> str:
    seconds, rest = divmod(micros, 1_000_000)
    return f"{seconds}.{rest:06d}"


@dataclass
class SimUser:
    id: str
    name: str
    real_name: str
    tz: str = "UTC"
    is_bot: bool = False
    # Real profiles often have an empty display name; None means "use name".
    display_name: str | None = None
    email: str | None = None
    # A deactivated account (users.info `deleted`) and a guest (`is_restricted`): Slack
    # refuses to invite either into a channel.
    deleted: bool = False
    is_restricted: bool = False


@dataclass
class SimChannel:
    id: str
    name: str
    is_private: bool = False
    members: set[str] = field(default_factory=set)
    # Every message of the channel, thread replies included, sorted by ts.
    messages: list[Message] = field(default_factory=list)
    pinned: set[str] = field(default_factory=set)
    is_im: bool = False
    created: int = 0
    topic: str = ""
    purpose: str = ""
    # ts -> {"created_by": user, "created": epoch seconds}; pins.list needs both.
    pin_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Who made the channel (conversations.create records the bot); "" for preset channels.
    creator: str = ""

    @property
    def channel_type(self) -> str:
        """The `channel_type` Slack puts on message events."""
        if self.is_im:
            return "im"
        return "group" if self.is_private else "channel"


class Workspace:
    """Users, channels and messages of one team, safe to share between threads."""

    def __init__(
        self,
        team_id: str = "T0SIM",
        team_domain: str = "sim",
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
        bot_token: str = "xoxb-sim-token",
        clock: Callable[[], float] = time.time,
        *,
        team_name: str = "Sim Workspace",
        bot_name: str = "incident-scribe",
        api_app_id: str = "A0SIM",
    ) -> None:
        self.team_id = team_id
        self.team_domain = team_domain
        self.team_name = team_name
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.bot_name = bot_name
        self.bot_token = bot_token
        self.api_app_id = api_app_id
        # Swappable on purpose: tests assign a FakeClock to control ts and rate limits.
        self.clock = clock
        self.lock = threading.RLock()
        self.users: dict[str, SimUser] = {}
        self.channels: dict[str, SimChannel] = {}
        # Free workspaces cannot create channel canvases; tests flip this.
        self.canvases_allowed = True
        # Further tokens the web API accepts (e.g. a user token).
        self.extra_tokens: set[str] = set()
        # Scopes the bot token was NOT granted; methods needing one answer `missing_scope`.
        self.missing_scopes: set[str] = set()
        # A workspace preference that keeps apps from creating channels (`restricted_action`).
        self.channel_creation_restricted = False
        self._last_ts = 0
        self._counters: dict[str, int] = {}
        self._dms: dict[str, str] = {}
        self.add_user(bot_user_id, bot_name, bot_name, is_bot=True)

    # -- identity ---------------------------------------------------------

    def now(self) -> float:
        return float(self.clock())

    def known_tokens(self) -> set[str]:
        return {self.bot_token, *self.extra_tokens}

    def new_id(self, prefix: str) -> str:
        """A fresh id like "FSIM000001", unique per prefix within this workspace."""
        with self.lock:
            n = self._counters.get(prefix, 0) + 1
            self._counters[prefix] = n
            return f"{prefix}SIM{n:06d}"

    def next_ts(self) -> str:
        """A unique, strictly increasing ts taken from the clock.

        Slack uses ts as the message id, so two messages must never share one,
        even when the clock stands still (fake clock) or steps backwards.
        """
        with self.lock:
            micros = round(self.now() * 1_000_000)
            if micros <= self._last_ts:
                micros = self._last_ts + 1
            self._last_ts = micros
            return format_ts(micros)

    # -- users and channels -------------------------------------------------

    def add_user(
        self,
        id: str,
        name: str,
        real_name: str | None = None,
        *,
        tz: str = "UTC",
        is_bot: bool = False,
        display_name: str | None = None,
        email: str | None = None,
    ) -> SimUser:
        user = SimUser(id, name, real_name if real_name is not None else name, tz, is_bot, display_name, email)
        with self.lock:
            self.users[id] = user
        return user

    def add_channel(
        self,
        id: str,
        name: str,
        *,
        is_private: bool = False,
        members: Iterable[str] = (),
        bot_member: bool = True,
        topic: str = "",
        purpose: str = "",
    ) -> SimChannel:
        """Create a channel. The bot is a member unless `bot_member=False`,
        which is how tests reach the `not_in_channel` paths."""
        member_set = set(members)
        if bot_member:
            member_set.add(self.bot_user_id)
        channel = SimChannel(
            id, name, is_private, member_set, created=int(self.now()), topic=topic, purpose=purpose
        )
        with self.lock:
            self.channels[id] = channel
        return channel

    def user(self, user_id: str) -> SimUser | None:
        with self.lock:
            return self.users.get(user_id)

    def channel(self, channel_id: str) -> SimChannel | None:
        with self.lock:
            return self.channels.get(channel_id)

    def channel_by_name(self, name: str) -> SimChannel | None:
        wanted = name.lstrip("#")
        with self.lock:
            return next((c for c in self.channels.values() if c.name == wanted and not c.is_im), None)

    def open_dm(self, user_id: str) -> SimChannel:
        """The bot's DM with a user, created on first use and stable after."""
        with self.lock:
            if user_id not in self.users:
                raise KeyError(f"unknown user {user_id}")
            existing = self._dms.get(user_id)
            if existing is not None:
                return self.channels[existing]
            dm_id = "D" + user_id
            channel = SimChannel(dm_id, dm_id, is_private=True, is_im=True, created=int(self.now()))
            channel.members = {user_id, self.bot_user_id}
            self.channels[dm_id] = channel
            self._dms[user_id] = dm_id
            return channel

    def join(self, channel_id: str, user_id: str) -> bool:
        """Add a member; returns False if they already were one."""
        with self.lock:
            channel = self._require(channel_id)
            if user_id in channel.members:
                return False
            channel.members.add(user_id)
            return True

    def is_member(self, channel_id: str, user_id: str) -> bool:
        with self.lock:
            channel = self.channels.get(channel_id)
            return channel is not None and user_id in channel.members

    # -- messages -------------------------------------------------------------

    def post(self, channel_id: str, message: Message) -> Message:
        """Store a message (a thread reply if it has a foreign thread_ts).

        A missing ts is assigned from `next_ts()`. Returns a copy of what was
        stored, including the ts.
        """
        with self.lock:
            channel = self._require(channel_id)
            stored = copy.deepcopy(message)
            stored.setdefault("type", "message")
            if "ts" not in stored:
                stored["ts"] = self.next_ts()
            key = ts_key(stored["ts"])
            if self._find(channel, stored["ts"]) is not None:
                raise ValueError(f"duplicate ts {stored['ts']} in {channel_id}")
            # Keep next_ts() ahead of explicitly given timestamps too.
            self._last_ts = max(self._last_ts, key)
            bisect.insort(channel.messages, stored, key=lambda m: ts_key(m["ts"]))
            parent_ts = stored.get("thread_ts")
            if parent_ts and parent_ts != stored["ts"]:
                self._refresh_thread(channel, parent_ts)
            return copy.deepcopy(stored)

    def message(self, channel_id: str, ts: str) -> Message | None:
        with self.lock:
            channel = self.channels.get(channel_id)
            found = self._find(channel, ts) if channel else None
            return copy.deepcopy(found) if found is not None else None

    def edit(
        self,
        channel_id: str,
        ts: str,
        text: str | None = None,
        *,
        edited_by: str | None = None,
        fields: Message | None = None,
    ) -> tuple[Message, Message]:
        """Change a message in place; returns (previous, current) copies.

        Like Slack, the new version carries `edited: {user, ts}` with a fresh ts.
        """
        with self.lock:
            channel = self._require(channel_id)
            stored = self._find(channel, ts)
            if stored is None:
                raise KeyError(f"no message {ts} in {channel_id}")
            previous = copy.deepcopy(stored)
            if text is not None:
                stored["text"] = text
            if fields:
                stored.update(copy.deepcopy(fields))
            stored["edited"] = {"user": edited_by or stored.get("user", ""), "ts": self.next_ts()}
            return previous, copy.deepcopy(stored)

    def delete(self, channel_id: str, ts: str) -> Message:
        """Remove a message; returns a copy of it.

        A thread parent that still has replies becomes a tombstone, as in Slack,
        so the replies keep a parent to hang off.
        """
        with self.lock:
            channel = self._require(channel_id)
            stored = self._find(channel, ts)
            if stored is None:
                raise KeyError(f"no message {ts} in {channel_id}")
            previous = copy.deepcopy(stored)
            parent_ts = stored.get("thread_ts")
            if stored.get("reply_count"):
                keep = {k: stored[k] for k in ("ts", "thread_ts", "reply_count", "reply_users",
                                                "reply_users_count", "latest_reply") if k in stored}
                stored.clear()
                stored.update(type="message", subtype="tombstone", text="This message was deleted.",
                              user="USLACKBOT", hidden=True, **keep)
            else:
                channel.messages.remove(stored)
                if parent_ts and parent_ts != ts:
                    self._refresh_thread(channel, parent_ts)
            channel.pinned.discard(ts)
            channel.pin_info.pop(ts, None)
            return previous

    def unfurl(self, channel_id: str, ts: str, attachment: dict[str, Any]) -> tuple[Message, Message]:
        """Add a link preview to a message; returns copies of it before and after."""
        with self.lock:
            stored = self._require_message(channel_id, ts)
            previous = copy.deepcopy(stored)
            attachments: list[dict[str, Any]] = stored.setdefault("attachments", [])
            attachments.append({"id": len(attachments) + 1, **attachment})
            return previous, copy.deepcopy(stored)

    def messages(self, channel_id: str) -> list[Message]:
        """Every stored message, replies included, oldest first."""
        with self.lock:
            return copy.deepcopy(self._require(channel_id).messages)

    def history(self, channel_id: str) -> list[Message]:
        """What conversations.history shows, oldest first: top-level messages
        and thread broadcasts, but not ordinary thread replies."""
        with self.lock:
            return copy.deepcopy([m for m in self._require(channel_id).messages if _in_history(m)])

    def replies(self, channel_id: str, thread_ts: str) -> list[Message]:
        """The parent first, then its replies oldest first ([] if no such parent)."""
        with self.lock:
            channel = self._require(channel_id)
            parent = self._find(channel, thread_ts)
            if parent is None:
                return []
            thread = [parent] + [
                m for m in channel.messages if m.get("thread_ts") == thread_ts and m["ts"] != thread_ts
            ]
            return copy.deepcopy(thread)

    # -- reactions and pins ---------------------------------------------------

    def react(self, channel_id: str, ts: str, user_id: str, name: str, *, remove: bool = False) -> Message:
        with self.lock:
            stored = self._require_message(channel_id, ts)
            reactions: list[dict[str, Any]] = stored.setdefault("reactions", [])
            entry = next((r for r in reactions if r["name"] == name), None)
            if not remove:
                if entry is None:
                    entry = {"name": name, "users": [], "count": 0}
                    reactions.append(entry)
                if user_id not in entry["users"]:
                    entry["users"].append(user_id)
            elif entry is not None and user_id in entry["users"]:
                entry["users"].remove(user_id)
            if entry is not None:
                entry["count"] = len(entry["users"])
                if not entry["users"]:
                    reactions.remove(entry)
            if not reactions:
                stored.pop("reactions", None)
            return copy.deepcopy(stored)

    def pin(self, channel_id: str, ts: str, user_id: str, *, remove: bool = False) -> Message:
        with self.lock:
            channel = self._require(channel_id)
            stored = self._require_message(channel_id, ts)
            if remove:
                channel.pinned.discard(ts)
                channel.pin_info.pop(ts, None)
                stored.pop("pinned_to", None)
            else:
                channel.pinned.add(ts)
                channel.pin_info[ts] = {"created_by": user_id, "created": int(self.now())}
                stored["pinned_to"] = [channel_id]
            return copy.deepcopy(stored)

    def pins(self, channel_id: str) -> list[tuple[dict[str, Any], Message]]:
        """(pin info, message) pairs, oldest pin first."""
        with self.lock:
            channel = self._require(channel_id)
            out = []
            for ts in sorted(channel.pinned, key=ts_key):
                stored = self._find(channel, ts)
                if stored is not None:
                    out.append((dict(channel.pin_info.get(ts, {})), copy.deepcopy(stored)))
            return out

    # -- internals ----------------------------------------------------------

    def _require(self, channel_id: str) -> SimChannel:
        channel = self.channels.get(channel_id)
        if channel is None:
            raise KeyError(f"unknown channel {channel_id}")
        return channel

    def _require_message(self, channel_id: str, ts: str) -> Message:
        stored = self._find(self._require(channel_id), ts)
        if stored is None:
            raise KeyError(f"no message {ts} in {channel_id}")
        return stored

    @staticmethod
    def _find(channel: SimChannel, ts: str) -> Message | None:
        try:
            key = ts_key(ts)
        except ValueError:
            return None
        i = bisect.bisect_left(channel.messages, key, key=lambda m: ts_key(m["ts"]))
        if i < len(channel.messages) and channel.messages[i]["ts"] == ts:
            return channel.messages[i]
        return None

    def _refresh_thread(self, channel: SimChannel, parent_ts: str) -> None:
        """Recompute a parent's reply summary from its stored replies.

        Recomputing (rather than incrementing) keeps post and delete symmetric.
        """
        parent = self._find(channel, parent_ts)
        if parent is None:
            return  # a reply to an unknown parent is kept, just not summarised
        replies = [m for m in channel.messages if m.get("thread_ts") == parent_ts and m["ts"] != parent_ts]
        for k in ("reply_count", "reply_users", "reply_users_count", "latest_reply"):
            parent.pop(k, None)
        parent["thread_ts"] = parent_ts
        if not replies:
            return
        users: list[str] = []
        for reply in replies:
            if reply.get("user") and reply["user"] not in users:
                users.append(reply["user"])
        parent["reply_count"] = len(replies)
        parent["reply_users"] = users
        parent["reply_users_count"] = len(users)
        parent["latest_reply"] = replies[-1]["ts"]


def _in_history(message: Message) -> bool:
    thread_ts = message.get("thread_ts")
    return not thread_ts or thread_ts == message["ts"] or message.get("subtype") == "thread_broadcast"
