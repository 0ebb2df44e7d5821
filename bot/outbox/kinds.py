"""The kinds of outbox rows, by what they do.

Services name a kind when they enqueue; the handler that carries it out is registered
under the same name by the layer that talks to the outside (bot.slack.effects).
"""

from __future__ import annotations

# Reminders about action items and incidents (bot.services.followups plans them).
ITEM_REMINDERS = ("before_due", "due", "overdue", "snoozed")
INCIDENT_REMINDERS = ("digest", "review")
# Nudges in the incident channel (bot.services.updates plans them).
NUDGES = ("nudge_update", "nudge_lead", "nudge_idle")
REMINDERS = ITEM_REMINDERS + INCIDENT_REMINDERS + NUDGES

# Declaring an incident (bot.services.declare): the channel, then its set-up, then the reply.
DECLARE_CHANNEL = "declare_channel"
INVITE = "invite"
SET_TOPIC = "set_topic"
WELCOME = "welcome"
DECLARE_REPLY = "declare_reply"

# An incident channel's web page in its header, however the incident began.
BOOKMARK = "bookmark"

# The announcement in SCRIBE_ANNOUNCE_CHANNEL (bot.services.announcements).
ANNOUNCE = "announce"
REFRESH_ANNOUNCEMENT = "refresh_announcement"

# Status updates (bot.services.updates), and postmortem drafts (bot.services.postmortem).
POST_UPDATE = "post_update"
PUBLISH_POSTMORTEM = "publish_postmortem"

# Action items' tickets in the team's tracker (bot.services.tickets decides; bot.ticket_sync.effects
# carries them out): create one (marker search first), read a linked one's state, poll a target.
TICKET_CREATE = "ticket_create"
TICKET_FETCH = "ticket_fetch"
TRACKER_POLL = "tracker_poll"
TRACKERS = (TICKET_CREATE, TICKET_FETCH, TRACKER_POLL)

# One line to one person, later (what a tracker answered, a fault): payload {reply_to, text}.
TELL = "tell"
