"""Where decisions reach Slack: one handler per outbox kind (bot.outbox.kinds), each carrying
out rows the services wrote, after their transaction committed (bot.outbox.relay).

- reminders.py      reminders and nudges (posted, paced per channel, found again after a crash)
- declare.py        a declared incident's channel, invitations, topic, welcome and reply
- channels.py       bookmarking an incident channel's web page
- announcements.py  the announcement, its edits, the closing line and a declared channel's topic
- updates.py        status updates, in the channel and under the announcement
- postmortem.py     postmortem drafts: canvas, summary message, Markdown file and chart
- tell.py           one line to one person, for kinds outside the Slack layer (trackers)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.outbox import kinds
from bot.outbox.relay import Handler
from bot.services.people import Directory


def slack_handlers(session_factory: sessionmaker[Session], settings: Settings, *, client_for: Callable[[str], WebClient | None],
                   directory: Directory, clock: Callable[[], datetime]) -> dict[str, Handler]:
    """Every kind this process carries out in Slack, by kind."""
    from bot.slack.effects import announcements, channels, declare, postmortem, reminders, tell, updates

    common: dict[str, Any] = dict(settings=settings, session_factory=session_factory, client_for=client_for, clock=clock)
    reminder = reminders.ReminderPoster(directory=directory, **common)
    handlers: dict[str, Handler] = dict.fromkeys(kinds.REMINDERS, reminder)
    handlers.update({
        kinds.DECLARE_CHANNEL: declare.CreateChannel(**common),
        kinds.INVITE: declare.Invite(**common),
        kinds.SET_TOPIC: declare.SetTopic(**common),
        kinds.WELCOME: declare.Welcome(**common),
        kinds.DECLARE_REPLY: declare.Reply(**common),
        kinds.BOOKMARK: channels.Bookmark(**common),
        kinds.ANNOUNCE: announcements.Announce(**common),
        kinds.REFRESH_ANNOUNCEMENT: announcements.Refresh(**common),
        kinds.POST_UPDATE: updates.PostUpdate(**common),
        kinds.PUBLISH_POSTMORTEM: postmortem.PublishPostmortem(**common),
        kinds.TELL: tell.Tell(**common),
    })
    return handlers
