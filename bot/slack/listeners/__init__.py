"""All routing lives here and in each module's register(app)."""

from slack_bolt import App

from bot.slack.listeners import commands, events, postmortem


def register_listeners(app: App) -> None:
    commands.register(app)
    events.register(app)
    postmortem.register(app)
