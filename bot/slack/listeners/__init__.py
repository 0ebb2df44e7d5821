"""All routing lives here and in each module's register(app)."""

from slack_bolt import App

from bot.slack.listeners import commands, events, followups, postmortem


def register_listeners(app: App) -> None:
    # Events first: message events are by far the most frequent request, and Bolt
    # tries listeners in registration order.
    events.register(app)
    commands.register(app)
    postmortem.register(app)
    followups.register(app)
