"""Settings, read once from the environment (and an optional .env file).

Nothing here runs at import time: `load_settings()` is called by the CLI, and tests
build `Settings` directly. Every problem is collected so the user sees all of them at
once, and secrets are kept out of `repr()` so a logged Settings object leaks nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.channel_names import DEFAULT_PATTERN, pattern_problem
from bot.trackers.links import (
    TARGET_PATTERNS,  # the same patterns `/incident tracker` checks
)
from bot.trackers.settings import (
    GitHubSettings,
    GitLabSettings,
    JiraSettings,
    LinearSettings,
    TrackerSettings,
)

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_DATABASE_URL = "sqlite:///scribe.db"
COMMAND_PATTERN = re.compile(r"^/[a-z0-9_\-]{1,31}$")

# Every variable the app reads, with its default as it would be written in .env ("" = unset).
# settings_from_env fills each unset or blank variable from here before reading it, so this
# is the one place a default lives. A new setting goes here, in .env.example and in
# docs/running.md's configuration reference; tests/test_settings_docs.py checks the three agree.
SETTING_DEFAULTS: dict[str, str] = {
    "SLACK_BOT_TOKEN": "",
    "SLACK_SIGNING_SECRET": "",
    "SLACK_APP_TOKEN": "",
    "SLACK_CLIENT_ID": "",
    "SLACK_CLIENT_SECRET": "",
    "DATABASE_URL": DEFAULT_DATABASE_URL,
    "SLACK_API_URL": DEFAULT_SLACK_API_URL,
    "PORT": "3000",
    "SCRIBE_WORKERS": "16",
    "SCRIBE_TIMEZONE": "UTC",
    "SCRIBE_COMMAND": "/incident",
    "SCRIBE_KEY_REACTION": "pushpin",
    "SCRIBE_PRIVILEGED_ACTIONS": "lead",
    "SCRIBE_POSTMORTEM_TEMPLATE": "standard",
    "SCRIBE_TEMPLATES_DIR": "",
    "SCRIBE_BLAME_PHRASES": "",
    "SCRIBE_REMINDER_DAYS_BEFORE": "1",
    "SCRIBE_REMINDER_OVERDUE_EVERY_DAYS": "2",
    "SCRIBE_REMINDER_TIME": "09:30",
    "SCRIBE_DIGEST_WEEKDAY": "monday",
    "SCRIBE_REVIEW_REMINDER_DAYS": "7,30,91",
    "SCRIBE_SCHEDULER": "true",
    "SCRIBE_SCHEDULER_POLL_SECONDS": "30",
    "SCRIBE_UPDATE_INTERVALS": "sev1=30m,sev2=60m",
    "SCRIBE_LEAD_NUDGE_MINUTES": "10",
    "SCRIBE_IDLE_NUDGE_HOURS": "24",
    "SCRIBE_HISTORY_PAGE_SIZE": "15",
    "SCRIBE_LOG_LEVEL": "INFO",
    "SCRIBE_PUBLIC_URL": "",
    "SCRIBE_WEB_SECRET": "",
    "SCRIBE_WEB_SESSION_HOURS": "12",
    "SCRIBE_CHANNEL_PATTERN": DEFAULT_PATTERN,
    "SCRIBE_ANNOUNCE_CHANNEL": "",
    "SCRIBE_AI_BASE_URL": "",
    "SCRIBE_AI_MODEL": "",
    "SCRIBE_AI_API_KEY": "",
    "SCRIBE_AI_TIMEOUT_SECONDS": "20",
    "SCRIBE_AI_PRIVATE_INCIDENTS": "false",
    "SCRIBE_AI_TOKEN_BUDGET": "6000",
    "SCRIBE_TRACKER": "none",
    "SCRIBE_TRACKER_POLL_SECONDS": "300",
    "JIRA_BASE_URL": "",
    "JIRA_EMAIL": "",
    "JIRA_API_TOKEN": "",
    "JIRA_PAT": "",
    "JIRA_PROJECT": "",
    "JIRA_ISSUE_TYPE": "Task",
    "JIRA_PRIORITIES": "Highest,High,Medium,Low",
    "JIRA_WONTFIX_RESOLUTIONS": "",
    "JIRA_WEBHOOK_SECRET": "",
    "GITHUB_BASE_URL": "https://api.github.com",
    "GITHUB_TOKEN": "",
    "GITHUB_REPO": "",
    "GITHUB_WEBHOOK_SECRET": "",
    "LINEAR_BASE_URL": "https://api.linear.app/graphql",
    "LINEAR_API_KEY": "",
    "LINEAR_TEAM": "",
    "LINEAR_WEBHOOK_SECRET": "",
    "GITLAB_BASE_URL": "https://gitlab.com",
    "GITLAB_TOKEN": "",
    "GITLAB_PROJECT": "",
    "GITLAB_WEBHOOK_SECRET": "",
}


class SettingsError(Exception):
    """Raised with every problem found, so the CLI can print them all and exit 2."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Settings:
    slack_bot_token: str | None = field(default=None, repr=False)
    slack_signing_secret: str | None = field(default=None, repr=False)
    slack_app_token: str | None = field(default=None, repr=False)
    slack_client_id: str | None = None
    slack_client_secret: str | None = field(default=None, repr=False)
    database_url: str = DEFAULT_DATABASE_URL
    slack_api_url: str = DEFAULT_SLACK_API_URL
    port: int = 3000
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    command: str = "/incident"
    key_reaction: str = "pushpin"
    templates_dir: Path | None = None
    postmortem_template: str = "standard"
    blame_phrases: tuple[str, ...] | None = None
    # Who may close incidents, mark drafts final and change others' action items:
    # "lead" = the incident lead or whoever started the incident; "anyone" = everyone.
    privileged_actions: str = "lead"
    # Follow-up cadence (issue: action items).
    reminder_days_before: int = 1
    reminder_overdue_every_days: int = 2
    reminder_local_time: time = time(9, 30)
    digest_weekday: int = 0  # Monday
    review_reminder_days: tuple[int, ...] = (7, 30, 91)
    scheduler_enabled: bool = True
    # How often (seconds) the scheduler looks for reminders that fell due.
    scheduler_poll_seconds: float = 30.0
    history_page_size: int = 15
    workers: int = 16
    log_level: str = "INFO"
    # Status-update cadence (issue 13): minutes between updates per severity (absent: no
    # nudge), minutes before "no lead yet" (0: off), hours of silence before "still going?" (0: off).
    update_intervals: tuple[tuple[str, int], ...] = (("sev1", 30), ("sev2", 60))
    lead_nudge_minutes: int = 10
    idle_nudge_hours: int = 24
    # Web view (bot.web): its public address, the key that signs its cookies, and how
    # long a sign-in lasts.
    public_url: str | None = None
    web_secret: str | None = field(default=None, repr=False)
    web_session_hours: float = 12.0
    # Declaring incidents (`/incident declare`): the new channel's name, and where to announce.
    channel_pattern: str = "inc-{date:%Y%m%d}-{slug}"
    # A channel id (C…/G…) or a name like "#incidents"; None: no announcements.
    announce_channel: str | None = None
    # AI drafts (bot.drafting, docs/ai-drafts.md): off unless ai_base_url is set. The base of an
    # OpenAI-compatible API (…/v1), the model to ask, its key if it needs one, seconds a draft
    # may take, whether private incidents may be sent, and the prompt's token budget.
    ai_base_url: str | None = None
    ai_model: str | None = None
    ai_api_key: str | None = field(default=None, repr=False)
    ai_timeout_seconds: float = 20.0
    ai_private_incidents: bool = False
    ai_token_budget: int = 6000
    # Issue trackers for action items (issue 25).
    trackers: TrackerSettings = field(default_factory=TrackerSettings)

    @property
    def socket_mode(self) -> bool:
        return bool(self.slack_app_token)

    @property
    def oauth(self) -> bool:
        """Multi-workspace install mode: the client id and secret without a bot token.
        With a bot token, the pair only enables signing in to the web view."""
        return bool(self.slack_client_id and self.slack_client_secret and not self.slack_bot_token)

    @property
    def web_enabled(self) -> bool:
        """The web view is served when its address, its key and the app's OAuth pair are set."""
        return bool(self.public_url and self.web_secret and self.slack_client_id and self.slack_client_secret)

    @property
    def ai_enabled(self) -> bool:
        """AI drafts are asked for when a model endpoint and a model are set."""
        return bool(self.ai_base_url and self.ai_model)

    def secrets(self) -> list[str]:
        """Every secret value, so log filters can scrub them."""
        values = [self.slack_bot_token, self.slack_signing_secret, self.slack_app_token, self.slack_client_secret, self.web_secret,
                  self.ai_api_key]
        return [v for v in values if v] + self.trackers.secrets()


def _number(
    env: Mapping[str, str], name: str, default: float, problems: list[str], lo: float, hi: float, *, whole: bool, unit: str = ""
) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    kind = "a whole number" if whole else f"a number of {unit.strip() or 'units'}"
    try:
        value: float = int(raw.strip()) if whole else float(raw.strip())
    except ValueError:
        problems.append(f"{name} must be {kind} between {lo:g} and {hi:g}, got {raw!r}.")
        return default
    if not lo <= value <= hi:
        problems.append(f"{name} must be between {lo:g} and {hi:g}{unit}, got {value:g}.")
        return default
    return value


def _int(env: Mapping[str, str], name: str, default: int, problems: list[str], lo: int, hi: int) -> int:
    return int(_number(env, name, default, problems, lo, hi, whole=True))


def _seconds(env: Mapping[str, str], name: str, default: float, problems: list[str], lo: float, hi: float) -> float:
    return _number(env, name, default, problems, lo, hi, whole=False, unit=" seconds")


def _bool(env: Mapping[str, str], name: str, default: bool, problems: list[str]) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    problems.append(f"{name} must be true or false, got {raw!r}.")
    return default


MIN_WEB_SECRET_LENGTH = 32


def _web_settings(env: Mapping[str, str], problems: list[str], *, oauth_pair: bool) -> tuple[str | None, str | None]:
    """SCRIBE_PUBLIC_URL and SCRIBE_WEB_SECRET, checked together: the web view needs both,
    and the app's client id and secret for Sign in with Slack."""
    public_url = (env.get("SCRIBE_PUBLIC_URL") or "").strip() or None
    web_secret = (env.get("SCRIBE_WEB_SECRET") or "").strip() or None
    if public_url is not None:
        if not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", public_url):
            problems.append(f"SCRIBE_PUBLIC_URL must be the web view's address such as https://scribe.example.com, got {public_url!r}.")
        else:
            from urllib.parse import urlsplit

            parts = urlsplit(public_url)
            if parts.scheme == "http" and parts.hostname not in {"localhost", "127.0.0.1", "::1"}:
                problems.append("SCRIBE_PUBLIC_URL must start with https:// (the sign-in cookie is Secure), "
                                f"unless it is http://localhost or http://127.0.0.1; got {public_url!r}.")
        public_url = public_url.rstrip("/")
        if web_secret is None:
            problems.append("SCRIBE_WEB_SECRET is missing: the web view signs its cookies with it; "
                            "make one with `python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`.")
        if not oauth_pair:
            problems.append("SCRIBE_PUBLIC_URL needs SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (Basic Information → App Credentials) for Sign in with Slack.")
    if web_secret is not None and len(web_secret) < MIN_WEB_SECRET_LENGTH:
        problems.append(f"SCRIBE_WEB_SECRET must be at least {MIN_WEB_SECRET_LENGTH} characters long, got {len(web_secret)}.")
    return public_url, web_secret


def with_defaults(env: Mapping[str, str]) -> dict[str, str]:
    """`env` with every setting that is unset or blank taken from SETTING_DEFAULTS."""
    filled = dict(env)
    for name, default in SETTING_DEFAULTS.items():
        if not (filled.get(name) or "").strip():
            filled[name] = default
    return filled


def _ai_endpoint(env: Mapping[str, str], problems: list[str]) -> tuple[str | None, str | None, str | None]:
    """SCRIBE_AI_BASE_URL, SCRIBE_AI_MODEL and SCRIBE_AI_API_KEY: no base URL means no drafts;
    with one, a model is required."""
    base_url = (env.get("SCRIBE_AI_BASE_URL") or "").strip() or None
    model = (env.get("SCRIBE_AI_MODEL") or "").strip() or None
    api_key = (env.get("SCRIBE_AI_API_KEY") or "").strip() or None
    if base_url is None:
        return None, model, api_key
    base_url = base_url.rstrip("/")
    if not re.match(r"^https?://[^\s/?#@]+(/[^\s?#]*)?$", base_url):
        problems.append(
            "SCRIBE_AI_BASE_URL must be the address of an OpenAI-compatible API, such as http://127.0.0.1:11434/v1 "
            f"(Ollama) or https://api.openai.com/v1, got {base_url!r}."
        )
    elif base_url.endswith("/chat/completions"):
        problems.append(
            "SCRIBE_AI_BASE_URL is the API's base address, without /chat/completions: "
            f"use {base_url[: -len('/chat/completions')]!r}."
        )
    if model is None:
        problems.append("SCRIBE_AI_MODEL is missing: name the model to ask, such as llama3.1:8b (Ollama) or gpt-4o-mini.")
    return base_url, model, api_key


def settings_from_env(env: Mapping[str, str], *, require_slack: bool = True) -> Settings:
    """Build and validate Settings from a mapping; raises SettingsError listing every problem."""
    problems: list[str] = []
    env = with_defaults(env)
    text = lambda name: (env.get(name) or "").strip()  # noqa: E731
    get = lambda name: text(name) or None  # noqa: E731

    bot_token = get("SLACK_BOT_TOKEN")
    signing_secret = get("SLACK_SIGNING_SECRET")
    app_token = get("SLACK_APP_TOKEN")
    client_id = get("SLACK_CLIENT_ID")
    client_secret = get("SLACK_CLIENT_SECRET")
    oauth = bool(client_id and client_secret)

    if bool(client_id) != bool(client_secret):
        problems.append("SLACK_CLIENT_ID and SLACK_CLIENT_SECRET go together: set both for multi-workspace OAuth, or neither.")
    if require_slack and not oauth and not bot_token:
        problems.append("SLACK_BOT_TOKEN is missing: copy the Bot User OAuth Token (xoxb-…) from your app's OAuth & Permissions page.")
    if bot_token and not bot_token.startswith("xoxb-"):
        problems.append("SLACK_BOT_TOKEN must be a bot token starting with xoxb-.")
    if app_token and not app_token.startswith("xapp-"):
        problems.append("SLACK_APP_TOKEN must be an app-level token starting with xapp- (or unset it to use HTTP mode).")
    if require_slack and not app_token and not signing_secret:
        problems.append("SLACK_SIGNING_SECRET is missing: HTTP mode needs it to verify requests (Basic Information → Signing Secret).")

    database_url = text("DATABASE_URL")
    try:
        url = make_url(database_url)
        if url.get_backend_name() not in {"sqlite", "postgresql"}:
            problems.append(f"DATABASE_URL must be a sqlite:/// or postgresql+psycopg:// URL, got a {url.get_backend_name()} URL.")
    except ArgumentError:
        problems.append("DATABASE_URL is not a valid database URL; use e.g. sqlite:///scribe.db or postgresql+psycopg://user@host/db.")

    api_url = text("SLACK_API_URL")
    if not re.match(r"^https?://[^\s/]+(/\S*)?$", api_url):
        problems.append(f"SLACK_API_URL must be an http(s) URL such as {DEFAULT_SLACK_API_URL}, got {api_url!r}.")
    elif not api_url.endswith("/"):
        api_url += "/"

    port = _int(env, "PORT", 3000, problems, 1, 65535)

    tz_name = text("SCRIBE_TIMEZONE")
    try:
        timezone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"SCRIBE_TIMEZONE must be an IANA time zone such as Europe/Berlin or UTC, got {tz_name!r}.")
        timezone = ZoneInfo("UTC")

    command = text("SCRIBE_COMMAND")
    if not COMMAND_PATTERN.match(command):
        problems.append(f"SCRIBE_COMMAND must look like /incident (a slash, then up to 31 lowercase letters, digits, - or _), got {command!r}.")

    key_reaction = text("SCRIBE_KEY_REACTION").strip(":")

    templates_dir = get("SCRIBE_TEMPLATES_DIR")
    templates_path = Path(templates_dir) if templates_dir else None
    if templates_path is not None and not templates_path.is_dir():
        problems.append(f"SCRIBE_TEMPLATES_DIR must be an existing folder of *.md.j2 templates, got {templates_dir!r}.")

    postmortem_template = text("SCRIBE_POSTMORTEM_TEMPLATE").lower()
    if not any(p.startswith("SCRIBE_TEMPLATES_DIR") for p in problems):
        from bot.postmortem.render import available_templates, make_environment

        offered = available_templates(make_environment(templates_path))
        if postmortem_template not in offered:
            problems.append(
                f"SCRIBE_POSTMORTEM_TEMPLATE must name a template ({', '.join(offered)}), got {postmortem_template!r}."
            )

    blame_raw = get("SCRIBE_BLAME_PHRASES")
    blame_phrases = tuple(p.strip() for p in blame_raw.split("|") if p.strip()) if blame_raw else None
    for phrase in blame_phrases or ():
        try:
            re.compile(phrase)
        except re.error as error:
            problems.append(f"SCRIBE_BLAME_PHRASES has a phrase that isn't a valid regular expression, {phrase!r}: {error}.")

    privileged = text("SCRIBE_PRIVILEGED_ACTIONS").lower()
    if privileged not in {"lead", "anyone"}:
        problems.append(f"SCRIBE_PRIVILEGED_ACTIONS must be 'lead' or 'anyone', got {privileged!r}.")

    reminder_time = time(9, 30)
    raw_time = get("SCRIBE_REMINDER_TIME")
    if raw_time:
        match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", raw_time)
        if match:
            reminder_time = time(int(match.group(1)), int(match.group(2)))
        else:
            problems.append(f"SCRIBE_REMINDER_TIME must be a 24-hour local time like 09:30, got {raw_time!r}.")

    review_days: tuple[int, ...] = (7, 30, 91)
    raw_review = get("SCRIBE_REVIEW_REMINDER_DAYS")
    if raw_review:
        try:
            review_days = tuple(sorted({int(x) for x in raw_review.split(",") if x.strip()}))
            if any(d < 1 for d in review_days):
                raise ValueError
        except ValueError:
            problems.append(f"SCRIBE_REVIEW_REMINDER_DAYS must be comma-separated whole days such as 7,30,91, got {raw_review!r}.")
            review_days = (7, 30, 91)

    weekdays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    digest_raw = text("SCRIBE_DIGEST_WEEKDAY").lower()[:3]
    if digest_raw not in weekdays:
        problems.append(f"SCRIBE_DIGEST_WEEKDAY must be a weekday such as monday, got {get('SCRIBE_DIGEST_WEEKDAY')!r}.")
        digest_raw = "mon"

    log_level = text("SCRIBE_LOG_LEVEL").upper()
    if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        problems.append(f"SCRIBE_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {log_level!r}.")

    update_intervals = _update_intervals(get("SCRIBE_UPDATE_INTERVALS"), problems)
    public_url, web_secret = _web_settings(env, problems, oauth_pair=oauth)
    channel_pattern = text("SCRIBE_CHANNEL_PATTERN")
    pattern_error = pattern_problem(channel_pattern)
    if pattern_error:
        problems.append(pattern_error)
        channel_pattern = DEFAULT_PATTERN
    announce_channel = get("SCRIBE_ANNOUNCE_CHANNEL")
    if announce_channel and not re.fullmatch(r"#?[\w\-]{1,80}", announce_channel):
        problems.append(f"SCRIBE_ANNOUNCE_CHANNEL must be a channel name like #incidents or a channel id like C0123ABCD, got {announce_channel!r}.")
        announce_channel = None
    ai_base_url, ai_model, ai_api_key = _ai_endpoint(env, problems)

    trackers = _tracker_settings(env, problems)

    settings = Settings(
        slack_bot_token=bot_token,
        slack_signing_secret=signing_secret,
        slack_app_token=app_token,
        slack_client_id=client_id,
        slack_client_secret=client_secret,
        database_url=database_url,
        slack_api_url=api_url,
        port=port,
        timezone=timezone,
        command=command,
        key_reaction=key_reaction,
        templates_dir=templates_path,
        postmortem_template=postmortem_template,
        blame_phrases=blame_phrases,
        privileged_actions=privileged,
        reminder_days_before=_int(env, "SCRIBE_REMINDER_DAYS_BEFORE", 1, problems, 0, 60),
        reminder_overdue_every_days=_int(env, "SCRIBE_REMINDER_OVERDUE_EVERY_DAYS", 2, problems, 1, 60),
        reminder_local_time=reminder_time,
        digest_weekday=weekdays.index(digest_raw),
        review_reminder_days=review_days,
        scheduler_enabled=_bool(env, "SCRIBE_SCHEDULER", True, problems),
        scheduler_poll_seconds=_seconds(env, "SCRIBE_SCHEDULER_POLL_SECONDS", 30.0, problems, 0.1, 3600.0),
        history_page_size=_int(env, "SCRIBE_HISTORY_PAGE_SIZE", 15, problems, 1, 999),
        workers=_int(env, "SCRIBE_WORKERS", 16, problems, 1, 256),
        log_level=log_level,
        update_intervals=update_intervals,
        lead_nudge_minutes=_int(env, "SCRIBE_LEAD_NUDGE_MINUTES", 10, problems, 0, 1440),
        idle_nudge_hours=_int(env, "SCRIBE_IDLE_NUDGE_HOURS", 24, problems, 0, 720),
        public_url=public_url,
        web_secret=web_secret,
        web_session_hours=_number(env, "SCRIBE_WEB_SESSION_HOURS", 12.0, problems, 0.1, 720.0, whole=False, unit=" hours"),
        channel_pattern=channel_pattern,
        announce_channel=announce_channel,
        ai_base_url=ai_base_url,
        ai_model=ai_model,
        ai_api_key=ai_api_key,
        ai_timeout_seconds=_seconds(env, "SCRIBE_AI_TIMEOUT_SECONDS", 20.0, problems, 1.0, 120.0),
        ai_private_incidents=_bool(env, "SCRIBE_AI_PRIVATE_INCIDENTS", False, problems),
        ai_token_budget=_int(env, "SCRIBE_AI_TOKEN_BUDGET", 6000, problems, 1000, 100_000),
        trackers=trackers,
    )
    if problems:
        raise SettingsError(problems)
    return settings


def load_settings(*, env_file: str | os.PathLike[str] | None = ".env", require_slack: bool = True) -> Settings:
    """Read `.env` (without overriding real environment variables), then validate."""
    if env_file is not None and Path(env_file).is_file():
        from dotenv import dotenv_values

        merged = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
        merged.update(os.environ)
        return settings_from_env(merged, require_slack=require_slack)
    return settings_from_env(os.environ, require_slack=require_slack)


_INTERVAL_RE = re.compile(r"(sev[1-4])=(\d{1,4})(m|min|h)?", re.IGNORECASE | re.ASCII)


def _update_intervals(raw: str | None, problems: list[str]) -> tuple[tuple[str, int], ...]:
    """SCRIBE_UPDATE_INTERVALS: "sev1=30m,sev2=1h" (minutes unless `h`); "none" or "off" for no cadence."""
    default = (("sev1", 30), ("sev2", 60))
    if raw is None or not raw.strip():
        return default
    if raw.strip().lower() in ("none", "off"):
        return ()
    found: dict[str, int] = {}
    for part in raw.split(","):
        part = part.strip().replace(" ", "")
        match = _INTERVAL_RE.fullmatch(part)
        minutes = int(match.group(2)) * (60 if (match.group(3) or "m").lower() == "h" else 1) if match else 0
        if match is None or not 1 <= minutes <= 1440 or match.group(1).lower() in found:
            problems.append(
                f"SCRIBE_UPDATE_INTERVALS must list severities with an interval from 1m to 24h, each once, "
                f"like sev1=30m,sev2=60m (or none), got {raw!r}."
            )
            return default
        found[match.group(1).lower()] = minutes
    return tuple(sorted(found.items()))


TRACKER_CHOICES = ("jira", "github", "linear", "gitlab")
_URL_RE = re.compile(r"^https?://[^\s/?#]+(/[^\s?#]*)?$")


def _tracker_url(env: Mapping[str, str], name: str, default: str | None, example: str, problems: list[str]) -> str | None:
    raw = (env.get(name) or "").strip() or default
    if raw is None:
        return None
    if not _URL_RE.match(raw):
        problems.append(f"{name} must be an http(s) address such as {example}, got {raw!r}.")
        return default
    return raw.rstrip("/")


def _tracker_settings(env: Mapping[str, str], problems: list[str]) -> TrackerSettings:
    """SCRIBE_TRACKER and each tracker's JIRA_* / GITHUB_* / LINEAR_* / GITLAB_* settings.

    A tracker is connected when its token is set; the default tracker must be connected and
    have a target. Half a connection (a token without its URL, an email without its token)
    is a problem whichever tracker is the default."""
    get = lambda name: (env.get(name) or "").strip() or None  # noqa: E731

    default = (get("SCRIBE_TRACKER") or "none").lower()
    if default not in (*TRACKER_CHOICES, "none"):
        problems.append(f"SCRIBE_TRACKER must be jira, github, linear, gitlab or none, got {get('SCRIBE_TRACKER')!r}.")
        default = "none"

    # Jira
    jira_email, jira_token, jira_pat = get("JIRA_EMAIL"), get("JIRA_API_TOKEN"), get("JIRA_PAT")
    jira_url = _tracker_url(env, "JIRA_BASE_URL", None, "https://your-site.atlassian.net", problems)
    if bool(jira_email) != bool(jira_token):
        problems.append("JIRA_EMAIL and JIRA_API_TOKEN go together (Jira Cloud): set both, "
                        "or use JIRA_PAT alone for Jira Data Center.")
    if jira_pat and jira_token:
        problems.append("Set JIRA_API_TOKEN (Jira Cloud, with JIRA_EMAIL) or JIRA_PAT (Jira Data Center), not both.")
    if (jira_pat or jira_token) and not get("JIRA_BASE_URL"):
        problems.append("JIRA_BASE_URL is missing: your Jira's address, such as https://your-site.atlassian.net.")
    jira_project = (get("JIRA_PROJECT") or "").upper() or None
    if jira_project and not TARGET_PATTERNS["jira"].match(jira_project):
        problems.append(f"JIRA_PROJECT must be a project key such as OPS (letters and digits, no issue number), "
                        f"got {get('JIRA_PROJECT')!r}.")
        jira_project = None
    priorities: tuple[str, str, str, str] = ("Highest", "High", "Medium", "Low")
    raw_priorities = get("JIRA_PRIORITIES")
    if raw_priorities:
        names = [p.strip() for p in raw_priorities.split(",")]
        if len(names) != 4 or not all(names):
            problems.append(f"JIRA_PRIORITIES must name four Jira priorities for p0,p1,p2,p3, "
                            f"like Highest,High,Medium,Low, got {raw_priorities!r}.")
        else:
            priorities = (names[0], names[1], names[2], names[3])
    raw_wontfix = get("JIRA_WONTFIX_RESOLUTIONS")
    wontfix = frozenset(r.strip().lower() for r in raw_wontfix.split(",") if r.strip()) if raw_wontfix else None
    jira = JiraSettings(base_url=jira_url, email=jira_email, api_token=jira_token, pat=jira_pat, project=jira_project,
                        issue_type=get("JIRA_ISSUE_TYPE") or "Task", priorities=priorities,
                        wontfix_resolutions=wontfix, webhook_secret=get("JIRA_WEBHOOK_SECRET"))

    # GitHub
    github_url = _tracker_url(env, "GITHUB_BASE_URL", "https://api.github.com", "https://api.github.com "
                              "(GitHub Enterprise Server: https://github.example.com/api/v3)", problems)
    github_repo = get("GITHUB_REPO")
    if github_repo and not TARGET_PATTERNS["github"].match(github_repo):
        problems.append(f"GITHUB_REPO must be owner/repo, such as acme/ops, got {github_repo!r}.")
        github_repo = None
    github = GitHubSettings(base_url=github_url or "https://api.github.com", token=get("GITHUB_TOKEN"),
                            repo=github_repo, webhook_secret=get("GITHUB_WEBHOOK_SECRET"))

    # Linear
    linear_url = _tracker_url(env, "LINEAR_BASE_URL", "https://api.linear.app/graphql",
                              "https://api.linear.app/graphql", problems)
    linear_team = get("LINEAR_TEAM")
    if linear_team and not TARGET_PATTERNS["linear"].match(linear_team):
        problems.append(f"LINEAR_TEAM must be a team key such as ENG (the prefix of its issue ids), got {linear_team!r}.")
        linear_team = None
    linear = LinearSettings(base_url=linear_url or "https://api.linear.app/graphql", api_key=get("LINEAR_API_KEY"),
                            team=linear_team.upper() if linear_team else None,
                            webhook_secret=get("LINEAR_WEBHOOK_SECRET"))

    # GitLab
    gitlab_url = _tracker_url(env, "GITLAB_BASE_URL", "https://gitlab.com", "https://gitlab.com", problems)
    gitlab_project = get("GITLAB_PROJECT")
    if gitlab_project and not TARGET_PATTERNS["gitlab"].match(gitlab_project):
        problems.append(f"GITLAB_PROJECT must be the project's path such as acme/ops (or its numeric id), got {gitlab_project!r}.")
        gitlab_project = None
    gitlab = GitLabSettings(base_url=gitlab_url or "https://gitlab.com", token=get("GITLAB_TOKEN"),
                            project=gitlab_project, webhook_secret=get("GITLAB_WEBHOOK_SECRET"))

    # The default tracker must be usable as it stands.
    needs = {
        "jira": (jira.configured or bool(jira_pat or jira_token), "JIRA_EMAIL and JIRA_API_TOKEN (Jira Cloud: "
                 "id.atlassian.com → Security → API tokens) or JIRA_PAT (Data Center: Profile → Personal Access Tokens)",
                 "JIRA_PROJECT", "a project key such as OPS", jira.project),
        "github": (github.configured, "GITHUB_TOKEN (a fine-grained token with Issues: read and write)",
                   "GITHUB_REPO", "owner/repo such as acme/ops", github.repo),
        "linear": (linear.configured, "LINEAR_API_KEY (Linear → Settings → Security & access → Personal API keys)",
                   "LINEAR_TEAM", "a team key such as ENG", linear.team),
        "gitlab": (gitlab.configured, "GITLAB_TOKEN (a project access token with the api scope)",
                   "GITLAB_PROJECT", "the project's path such as acme/ops", gitlab.project),
    }
    if default in needs:
        connected, token_hint, target_name, target_hint, target = needs[default]
        if not connected:
            problems.append(f"SCRIBE_TRACKER is {default} but its token is missing: set {token_hint}.")
        if target is None and not any(p.startswith(f"{target_name} must") for p in problems):
            problems.append(f"SCRIBE_TRACKER is {default} but {target_name} is missing: set it to {target_hint}.")

    return TrackerSettings(
        default=None if default == "none" else default,
        poll_seconds=_seconds(env, "SCRIBE_TRACKER_POLL_SECONDS", 300.0, problems, 30.0, 86400.0),
        jira=jira, github=github, linear=linear, gitlab=gitlab,
    )
