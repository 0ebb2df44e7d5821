"""The `scribe` command."""

from __future__ import annotations

import json
import logging
import sys
import threading

import click

from bot.config import Settings, SettingsError, load_settings

log = logging.getLogger("bot")


def _settings(require_slack: bool) -> Settings:
    """Load settings or exit 2 with one clear line per problem (no traceback)."""
    try:
        return load_settings(require_slack=require_slack)
    except SettingsError as error:
        click.echo("Incident Scribe cannot start because of its settings:", err=True)
        for problem in error.problems:
            click.echo(f"  - {problem}", err=True)
        click.echo("Set them in the environment or in a .env file (see .env.example).", err=True)
        sys.exit(2)


@click.group()
def main() -> None:
    """Incident Scribe: records incident channels, drafts postmortems, chases action items."""


@main.command()
def run() -> None:
    """Start the app: Socket Mode when SLACK_APP_TOKEN is set, else HTTP on $PORT."""
    settings = _settings(require_slack=True)
    from bot.logs import configure_logging

    configure_logging(settings.log_level, settings.secrets())
    from bot.runtime import Runtime

    Runtime.start(settings).serve_until_interrupted()


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations (also done automatically by `scribe run`)."""
    settings = _settings(require_slack=False)
    from bot.db import upgrade

    upgrade(settings.database_url)
    click.echo("Database is up to date.")


@main.command()
@click.option("--channel", "channel_id", required=True, help="Slack channel id of the incident, e.g. C0123ABCD.")
@click.option("--format", "fmt", type=click.Choice(["json", "md"]), default="json", show_default=True)
def export(channel_id: str, fmt: str) -> None:
    """Print one incident (the open one in the channel, else its latest) as JSON or Markdown."""
    settings = _settings(require_slack=False)
    from bot.db import make_engine, make_session_factory, transaction, upgrade
    from bot.services.export import export_incident
    from bot.services.incidents import latest_incident

    upgrade(settings.database_url)
    factory = make_session_factory(make_engine(settings.database_url))
    with transaction(factory) as session:
        incident = latest_incident(session, channel_id=channel_id)
        if incident is None:
            click.echo(f"No incident has been recorded in channel {channel_id}. Check the id (it looks like C0123ABCD).", err=True)
            sys.exit(1)
        if fmt == "json":
            click.echo(json.dumps(export_incident(session, incident), indent=2, ensure_ascii=False))
            return
        from bot.services.postmortem import latest_markdown

        markdown = latest_markdown(session, incident, settings=settings)
        click.echo(markdown)


@main.command()
@click.option("--keep", is_flag=True, help="Keep the demo's temporary database and print its path.")
def demo(keep: bool) -> None:
    """Replay a realistic incident against a local Slack simulator and print the result."""
    from bot.demo import run_demo

    sys.exit(run_demo(keep=keep))


if __name__ == "__main__":  # pragma: no cover
    main()
