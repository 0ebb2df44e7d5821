"""The `scribe` command."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC

import click

from bot.config import DEFAULT_DATABASE_URL, Settings, SettingsError, load_settings

log = logging.getLogger("bot")

# -h as well as --help, on every command.
CONTEXT = {"help_option_names": ["-h", "--help"]}
SETTINGS_HELP = ("Settings come from the environment and from a .env file in the current folder (the environment wins); "
                 "see .env.example for every setting, with its default.")
DATABASE_HELP = (f"Reads the database DATABASE_URL names (from the environment or .env; without it {DEFAULT_DATABASE_URL}, "
                 "in the current folder).")


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


def _database(settings: Settings, who: str) -> None:
    """Make sure DATABASE_URL can be used, or exit 2 with one line saying why (no traceback)."""
    from bot.db_check import DatabaseUnavailable, check_database

    try:
        check_database(settings.database_url)
    except DatabaseUnavailable as error:
        click.echo(f"{who}: {error}", err=True)
        sys.exit(2)


@click.group(context_settings=CONTEXT, invoke_without_command=True)
@click.version_option(package_name="incident-scribe", prog_name="scribe", message="%(prog)s, version %(version)s")
@click.pass_context
def main(context: click.Context) -> None:
    """Incident Scribe: records incident channels, drafts postmortems, chases action items."""
    if context.invoked_subcommand is None:
        # A bare `scribe` asks what it can do: the help, and success.
        click.echo(context.get_help())


@main.command(help=f"Start the app: Socket Mode when SLACK_APP_TOKEN is set, else HTTP on $PORT. It migrates the database first.\n\n{SETTINGS_HELP}")
def run() -> None:
    settings = _settings(require_slack=True)
    from bot.logs import configure_logging

    configure_logging(settings.log_level, settings.secrets())
    _database(settings, "Incident Scribe cannot start")
    from sqlalchemy.exc import OperationalError

    from bot.db_check import unavailable
    from bot.runtime import Runtime
    from bot.slack.app import SlackStartupError

    try:
        runtime = Runtime.start(settings)
    except OperationalError as error:  # went away between the check and the start
        click.echo(f"Incident Scribe cannot start: {unavailable(settings.database_url, error)}", err=True)
        sys.exit(2)
    except SlackStartupError as error:
        click.echo(f"Incident Scribe cannot start: {error}", err=True)
        sys.exit(2)
    runtime.serve_until_interrupted()
    if runtime.failure is not None:
        click.echo(f"Incident Scribe stopped: {runtime.failure}", err=True)
        sys.exit(2)


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade", help=f"Apply database migrations (also done automatically by `scribe run`).\n\n{DATABASE_HELP}")
def db_upgrade() -> None:
    settings = _settings(require_slack=False)
    _database(settings, "scribe db upgrade")
    from bot.db import upgrade

    upgrade(settings.database_url)
    click.echo("Database is up to date.")


@main.command(help=f"Print one incident (the open one in the channel, else its latest) as JSON or Markdown.\n\n{DATABASE_HELP}")
@click.option("--channel", "channel_id", required=True, help="Slack channel id of the incident, e.g. C0123ABCD.")
@click.option("--team", "team_id", default=None, help="Slack team (workspace) id, e.g. T0123ABCD; needed when several workspaces use this channel id.")
@click.option("--format", "fmt", type=click.Choice(["json", "md"]), default="json", show_default=True)
def export(channel_id: str, team_id: str | None, fmt: str) -> None:
    settings = _settings(require_slack=False)
    _database(settings, "scribe export")
    from bot.db import make_engine, make_session_factory, transaction, upgrade
    from bot.services.export import export_incident
    from bot.services.incidents import latest_incident, teams_with_channel

    upgrade(settings.database_url)
    factory = make_session_factory(make_engine(settings.database_url))
    with transaction(factory) as session:
        if team_id is None:
            teams = teams_with_channel(session, channel_id=channel_id)
            if len(teams) > 1:
                click.echo(
                    f"Channel {channel_id} has incidents in several workspaces ({', '.join(teams)}). "
                    f"Say which with --team, e.g. --team {teams[0]}.",
                    err=True,
                )
                sys.exit(1)
        incident = latest_incident(session, channel_id=channel_id, team_id=team_id)
        if incident is None:
            where = f" of team {team_id}" if team_id else ""
            click.echo(f"No incident has been recorded in channel {channel_id}{where}. Check the id (it looks like C0123ABCD).", err=True)
            sys.exit(1)
        if fmt == "json":
            click.echo(json.dumps(export_incident(session, incident), indent=2, ensure_ascii=False))
            return
        from bot.services.postmortem import latest_version, names_wanted

        stored = latest_version(session, incident)
        incident_id, team, wanted = incident.id, incident.team_id, (None if stored is not None else names_wanted(session, incident))
    if wanted and settings.slack_bot_token:
        # A first draft: with a bot token, people are looked up in Slack (users.info) first,
        # with no transaction open; without one, the cache names whom it can.
        from datetime import datetime

        from bot.slack.client import make_client
        from bot.slack.io.people import SlackDirectory

        client = make_client(settings.slack_bot_token, settings.slack_api_url)
        SlackDirectory(factory, lambda _team: client, lambda: datetime.now(UTC)).people(team, wanted)
    from bot.models import Incident
    from bot.services.postmortem import latest_markdown

    with transaction(factory) as session:
        found = session.get(Incident, incident_id)
        assert found is not None  # just read above
        click.echo(latest_markdown(session, found, settings=settings))


@main.command()
@click.option("--export", "export_dir", required=True, help="Folder of an unzipped Slack workspace export (with channels.json).")
@click.option("--channel", required=True, help="Channel name in the export, e.g. inc-checkout (a leading # is fine).")
@click.option("--template", default=None, help="Postmortem template; default SCRIBE_POSTMORTEM_TEMPLATE.")
@click.option("--from", "start", default=None, help="Only messages from this time, e.g. '2026-01-15 14:00 UTC'.")
@click.option("--to", "end", default=None, help="Only messages up to this time.")
def draft(export_dir: str, channel: str, template: str | None, start: str | None, end: str | None) -> None:
    """Draft a postmortem from a Slack workspace export and print the Markdown."""
    from datetime import datetime
    from pathlib import Path

    from bot.postmortem import ReviewFields
    from bot.services.errors import ScribeError
    from bot.services.postmortem import choose_template, render_facts
    from bot.slack.export_reader import ExportError, read_export
    from bot.timeparse import TimeParseError, parse_moment

    settings = _settings(require_slack=False)
    now = datetime.now(UTC)

    def fail(message: str) -> None:
        click.echo(f"scribe draft: {message}", err=True)
        sys.exit(2)

    window = {}
    for option, text in (("--from", start), ("--to", end)):
        if text is None:
            continue
        try:
            window[option] = parse_moment(text, now=now, user_tz=None, default_tz=settings.timezone)
        except TimeParseError as error:
            fail(f"{option} {text!r}: {error}")
    try:
        name = choose_template(settings, template, None)
        facts = read_export(Path(export_dir), channel, start=window.get("--from"), end=window.get("--to"), key_reaction=settings.key_reaction)
    except (ExportError, ScribeError) as error:
        fail(str(error).replace("`/incident postmortem ", "`scribe draft --template ").replace("`", "'"))
        return
    _, markdown = render_facts(settings, facts.incident, facts.entries, [], ReviewFields(), names=facts.names, now=now, template=name)
    click.echo(markdown, nl=False)


@main.command(help=f"Print insights across incidents (as /incident stats shows them) as a table, JSON or CSV.\n\n{DATABASE_HELP}")
@click.option("--period", default="last 30d", show_default=True,
              help="last 30d | last 90d | last 365d | '<from> to <to>', e.g. '2026-01-01 to 2026-03-31'.")
@click.option("--severity", default=None, help="Only incidents of this severity: sev1, sev2, sev3 or sev4.")
@click.option("--team", "team_id", default=None, help="Slack team (workspace) id, e.g. T0123ABCD; needed when several workspaces are recorded.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
def stats(period: str, severity: str | None, team_id: str | None, fmt: str) -> None:
    from datetime import datetime

    from bot.insights import report
    from bot.insights.stats import SEVERITIES, PeriodError, parse_period

    def fail(message: str) -> None:
        click.echo(f"scribe stats: {message}", err=True)
        sys.exit(2)

    now = datetime.now(UTC)
    try:
        chosen = parse_period(period, now)
    except PeriodError as error:
        fail(f"--period {period!r}: {error}")
        return
    if severity is not None:
        severity = severity.lower()
        if severity not in SEVERITIES:
            fail(f"--severity {severity!r} is not a severity; use sev1, sev2, sev3 or sev4 (or leave it out for all).")
    settings = _settings(require_slack=False)
    _database(settings, "scribe stats")
    from bot.db import make_engine, make_session_factory, transaction, upgrade
    from bot.services.stats import incident_stats, teams_with_incidents

    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            if team_id is None:
                teams = teams_with_incidents(session)
                if len(teams) > 1:
                    fail(f"incidents of several workspaces are recorded ({', '.join(teams)}). Say which with --team, e.g. --team {teams[0]}.")
                team_id = teams[0] if teams else ""
            result = incident_stats(session, team_id=team_id, period=chosen, severity=severity, now=now)
    finally:
        engine.dispose()
    render = {"table": report.stats_table, "json": report.stats_json, "csv": report.stats_csv}[fmt]
    click.echo(render(result), nl=False)


@main.command()
@click.option("--keep", is_flag=True, help="Keep the demo's temporary database and print its path.")
def demo(keep: bool) -> None:
    """Replay a realistic incident against a local Slack simulator and print the result."""
    from bot.demo import run_demo

    sys.exit(run_demo(keep=keep))


if __name__ == "__main__":  # pragma: no cover
    main()
