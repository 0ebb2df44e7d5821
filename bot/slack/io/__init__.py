"""The one layer that talks to Slack's Web API, a module per concern.

Services decide what should happen and hand the outcome here; these modules make the
calls, apply the retry/deadline policy the caller chose (bot.slack.client), and turn
Slack's answers into plain results or user-facing words. Block Kit is built by the pure
builders in bot.slack.blocks, never here and never in services.

- channels.py   conversations.*: join, create, invite, topic, bookmarks, membership
- messages.py   chat.*: post, update, ephemeral
- views.py      views.*: open, update, publish (modals and App Home)
- files.py      files_upload_v2
"""
