"""Settings: defaults, validation messages, exit code 2 without a traceback, no secrets in repr."""

from __future__ import annotations

import os
import subprocess
import sys
from zoneinfo import ZoneInfo

import pytest

from bot.config import DEFAULT_SLACK_API_URL, SettingsError, settings_from_env

GOOD = {"SLACK_BOT_TOKEN": "xoxb-1-abc", "SLACK_SIGNING_SECRET": "s3cret-signing"}


def test_defaults() -> None:
    s = settings_from_env(GOOD)
    assert s.database_url == "sqlite:///scribe.db"
    assert s.slack_api_url == DEFAULT_SLACK_API_URL
    assert s.port == 3000
    assert s.timezone == ZoneInfo("UTC")
    assert s.command == "/incident"
    assert s.socket_mode is False


def test_api_url_gets_trailing_slash_and_socket_mode_detected() -> None:
    s = settings_from_env(GOOD | {"SLACK_API_URL": "https://slack-gov.com/api", "SLACK_APP_TOKEN": "xapp-1-x"})
    assert s.slack_api_url == "https://slack-gov.com/api/"
    assert s.socket_mode is True


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as caught:
        settings_from_env({"PORT": "eighty", "SCRIBE_TIMEZONE": "Mars/Olympus", "SCRIBE_COMMAND": "incident", "SLACK_APP_TOKEN": "xoxb-wrong"})
    problems = caught.value.problems
    assert any(p.startswith("SLACK_BOT_TOKEN is missing") for p in problems)
    assert "PORT must be a whole number between 1 and 65535, got 'eighty'." in problems
    assert any(p.startswith("SCRIBE_TIMEZONE must be an IANA time zone") for p in problems)
    assert any(p.startswith("SCRIBE_COMMAND must look like /incident") for p in problems)
    assert any(p.startswith("SLACK_APP_TOKEN must be an app-level token") for p in problems)
    assert len(problems) == 5


def test_secrets_are_not_in_repr() -> None:
    s = settings_from_env(GOOD | {"SLACK_APP_TOKEN": "xapp-1-topsecret"})
    assert "xoxb-1-abc" not in repr(s)
    assert "s3cret-signing" not in repr(s)
    assert "topsecret" not in repr(s)
    assert sorted(s.secrets()) == sorted(["xoxb-1-abc", "s3cret-signing", "xapp-1-topsecret"])


def test_bad_settings_exit_2_with_a_clear_message(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCRIBE_", "DATABASE_URL", "PORT"))}
    env.update({"SLACK_BOT_TOKEN": "not-a-token", "PORT": "99999", "SLACK_SIGNING_SECRET": "sig-secret-value"})
    result = subprocess.run([sys.executable, "-m", "bot.cli", "run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "SLACK_BOT_TOKEN must be a bot token starting with xoxb-." in result.stderr
    assert "PORT must be between 1 and 65535, got 99999." in result.stderr
    assert "sig-secret-value" not in result.stderr + result.stdout


def test_postmortem_template_must_exist(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SettingsError) as caught:
        settings_from_env(GOOD | {"SCRIBE_POSTMORTEM_TEMPLATE": "fancy"})
    assert caught.value.problems == [
        "SCRIBE_POSTMORTEM_TEMPLATE must name a template (comprehensive, concise, executive, sre-five-whys, standard), got 'fancy'."
    ]
    (tmp_path / "fancy.md.j2").write_text("# {{ incident.title }}\n")
    s = settings_from_env(GOOD | {"SCRIBE_POSTMORTEM_TEMPLATE": "Fancy", "SCRIBE_TEMPLATES_DIR": str(tmp_path)})
    assert (s.postmortem_template, s.templates_dir) == ("fancy", tmp_path)


def test_blame_phrases_are_split_and_checked() -> None:
    s = settings_from_env(GOOD | {"SCRIBE_BLAME_PHRASES": r"his fault | dropped the ball|"})
    assert s.blame_phrases == ("his fault", "dropped the ball")
    with pytest.raises(SettingsError) as caught:
        settings_from_env(GOOD | {"SCRIBE_BLAME_PHRASES": "careless(ly"})
    assert caught.value.problems[0].startswith("SCRIBE_BLAME_PHRASES has a phrase that isn't a valid regular expression, 'careless(ly':")


def test_follow_up_cadence_settings() -> None:
    s = settings_from_env(GOOD | {
        "SCRIBE_REMINDER_DAYS_BEFORE": "3", "SCRIBE_REMINDER_OVERDUE_EVERY_DAYS": "7", "SCRIBE_REMINDER_TIME": "18:05",
        "SCRIBE_DIGEST_WEEKDAY": "Friday", "SCRIBE_REVIEW_REMINDER_DAYS": "30,7", "SCRIBE_SCHEDULER": "off",
        "SCRIBE_SCHEDULER_POLL_SECONDS": "0.5",
    })
    assert (s.reminder_days_before, s.reminder_overdue_every_days, s.reminder_local_time.isoformat()) == (3, 7, "18:05:00")
    assert (s.digest_weekday, s.review_reminder_days, s.scheduler_enabled, s.scheduler_poll_seconds) == (4, (7, 30), False, 0.5)
    assert settings_from_env(GOOD).scheduler_poll_seconds == 30.0
    with pytest.raises(SettingsError) as caught:
        settings_from_env(GOOD | {"SCRIBE_SCHEDULER_POLL_SECONDS": "soon", "SCRIBE_REMINDER_TIME": "9.30"})
    assert caught.value.problems == [
        "SCRIBE_REMINDER_TIME must be a 24-hour local time like 09:30, got '9.30'.",
        "SCRIBE_SCHEDULER_POLL_SECONDS must be a number of seconds between 0.1 and 3600, got 'soon'.",
    ]
    with pytest.raises(SettingsError) as caught:
        settings_from_env(GOOD | {"SCRIBE_SCHEDULER_POLL_SECONDS": "0"})
    assert caught.value.problems == ["SCRIBE_SCHEDULER_POLL_SECONDS must be between 0.1 and 3600 seconds, got 0."]


WEB = GOOD | {"SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "client-secret", "SCRIBE_PUBLIC_URL": "https://scribe.example.com/",
              "SCRIBE_WEB_SECRET": "w" * 32}


def test_web_view_settings() -> None:
    s = settings_from_env(WEB | {"SCRIBE_WEB_SESSION_HOURS": "8"})
    assert (s.public_url, s.web_session_hours, s.web_enabled) == ("https://scribe.example.com", 8.0, True)
    # With a bot token the OAuth pair only enables web sign-in; without one it is multi-workspace mode.
    assert s.oauth is False
    assert settings_from_env({k: v for k, v in WEB.items() if k != "SLACK_BOT_TOKEN"}).oauth is True
    assert "w" * 32 in s.secrets() and "w" * 32 not in repr(s)
    assert settings_from_env(GOOD).web_enabled is False


def test_web_view_settings_are_checked() -> None:
    with pytest.raises(SettingsError) as caught:
        settings_from_env(GOOD | {"SCRIBE_PUBLIC_URL": "scribe.example.com", "SCRIBE_WEB_SESSION_HOURS": "forever"})
    problems = caught.value.problems
    assert "SCRIBE_PUBLIC_URL must be the web view's address such as https://scribe.example.com, got 'scribe.example.com'." in problems
    assert any(p.startswith("SCRIBE_WEB_SECRET is missing") for p in problems)
    assert any(p.startswith("SCRIBE_PUBLIC_URL needs SLACK_CLIENT_ID and SLACK_CLIENT_SECRET") for p in problems)
    assert "SCRIBE_WEB_SESSION_HOURS must be a number of hours between 0.1 and 720, got 'forever'." in problems
    with pytest.raises(SettingsError) as short:
        settings_from_env(WEB | {"SCRIBE_WEB_SECRET": "short"})
    assert short.value.problems == ["SCRIBE_WEB_SECRET must be at least 32 characters long, got 5."]
    assert "short" not in " ".join(short.value.problems).replace("at least", "")


def test_the_public_url_must_be_https_except_on_this_machine() -> None:
    with pytest.raises(SettingsError) as caught:
        settings_from_env(WEB | {"SCRIBE_PUBLIC_URL": "http://scribe.example.com"})
    assert caught.value.problems == ["SCRIBE_PUBLIC_URL must start with https:// (the sign-in cookie is Secure), unless it is "
                                     "http://localhost or http://127.0.0.1; got 'http://scribe.example.com'."]
    assert settings_from_env(WEB | {"SCRIBE_PUBLIC_URL": "http://127.0.0.1:3000"}).public_url == "http://127.0.0.1:3000"


def test_ai_drafts_are_off_by_default() -> None:
    s = settings_from_env(GOOD)
    assert (s.ai_base_url, s.ai_model, s.ai_api_key, s.ai_enabled) == (None, None, None, False)
    assert (s.ai_timeout_seconds, s.ai_private_incidents, s.ai_token_budget) == (20.0, False, 6000)
    # A model or key without an address is harmless: unsetting the address is how drafts are turned off.
    assert settings_from_env(GOOD | {"SCRIBE_AI_MODEL": "llama3.1:8b"}).ai_enabled is False


def test_ai_draft_settings() -> None:
    s = settings_from_env(GOOD | {
        "SCRIBE_AI_BASE_URL": "http://127.0.0.1:11434/v1/", "SCRIBE_AI_MODEL": "llama3.1:8b",
        "SCRIBE_AI_API_KEY": "sk-proj-model-key-123456", "SCRIBE_AI_TIMEOUT_SECONDS": "7.5",
        "SCRIBE_AI_PRIVATE_INCIDENTS": "yes", "SCRIBE_AI_TOKEN_BUDGET": "12000",
    })
    assert (s.ai_base_url, s.ai_model, s.ai_enabled) == ("http://127.0.0.1:11434/v1", "llama3.1:8b", True)
    assert (s.ai_timeout_seconds, s.ai_private_incidents, s.ai_token_budget) == (7.5, True, 12000)
    assert "sk-proj-model-key-123456" not in repr(s)
    assert "sk-proj-model-key-123456" in s.secrets()  # so the log filter scrubs it


def test_bad_ai_draft_settings_are_each_reported() -> None:
    with pytest.raises(SettingsError) as caught:
        settings_from_env(GOOD | {"SCRIBE_AI_BASE_URL": "localhost:11434", "SCRIBE_AI_TIMEOUT_SECONDS": "0",
                                  "SCRIBE_AI_PRIVATE_INCIDENTS": "maybe", "SCRIBE_AI_TOKEN_BUDGET": "lots"})
    assert caught.value.problems == [
        "SCRIBE_AI_BASE_URL must be the address of an OpenAI-compatible API, such as http://127.0.0.1:11434/v1 (Ollama) "
        "or https://api.openai.com/v1, got 'localhost:11434'.",
        "SCRIBE_AI_MODEL is missing: name the model to ask, such as llama3.1:8b (Ollama) or gpt-4o-mini.",
        "SCRIBE_AI_TIMEOUT_SECONDS must be between 1 and 120 seconds, got 0.",
        "SCRIBE_AI_PRIVATE_INCIDENTS must be true or false, got 'maybe'.",
        "SCRIBE_AI_TOKEN_BUDGET must be a whole number between 1000 and 100000, got 'lots'.",
    ]
    with pytest.raises(SettingsError) as full_path:
        settings_from_env(GOOD | {"SCRIBE_AI_BASE_URL": "https://api.openai.com/v1/chat/completions",
                                  "SCRIBE_AI_MODEL": "gpt-4o-mini", "SCRIBE_AI_TIMEOUT_SECONDS": "600"})
    assert full_path.value.problems == [
        "SCRIBE_AI_BASE_URL is the API's base address, without /chat/completions: use 'https://api.openai.com/v1'.",
        "SCRIBE_AI_TIMEOUT_SECONDS must be between 1 and 120 seconds, got 600.",
    ]


def test_bad_ai_settings_stop_scribe_run_with_exit_2(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCRIBE_", "DATABASE_URL", "PORT"))}
    env.update({"SLACK_BOT_TOKEN": "xoxb-1-abc", "SLACK_SIGNING_SECRET": "sig-secret-value",
                "SCRIBE_AI_BASE_URL": "http://127.0.0.1:11434/v1", "SCRIBE_AI_API_KEY": "sk-do-not-print-me-123"})
    result = subprocess.run([sys.executable, "-m", "bot.cli", "run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "SCRIBE_AI_MODEL is missing: name the model to ask, such as llama3.1:8b (Ollama) or gpt-4o-mini." in result.stderr
    assert "sk-do-not-print-me-123" not in result.stderr + result.stdout


def test_no_tracker_by_default() -> None:
    s = settings_from_env(GOOD)
    assert s.trackers.default is None
    assert s.trackers.configured() == ()
    assert s.trackers.poll_seconds == 300.0
    assert s.trackers.github.base_url == "https://api.github.com"
    assert s.trackers.linear.base_url == "https://api.linear.app/graphql"


def test_each_tracker_is_read_and_its_secrets_kept_out_of_repr() -> None:
    env = GOOD | {
        "SCRIBE_TRACKER": "Jira", "JIRA_BASE_URL": "https://acme.atlassian.net/", "JIRA_EMAIL": "bot@acme.test",
        "JIRA_API_TOKEN": "ATATT-jira-secret", "JIRA_PROJECT": "OPS", "JIRA_WEBHOOK_SECRET": "jira-hook-secret",
        "JIRA_PRIORITIES": "P1, P2, P3, P4", "JIRA_WONTFIX_RESOLUTIONS": "Won't Do, Rejected",
        "GITHUB_TOKEN": "github_pat_secret", "GITHUB_REPO": "acme/ops", "GITHUB_BASE_URL": "https://ghe.acme.test/api/v3",
        "LINEAR_API_KEY": "lin_api_secret", "LINEAR_TEAM": "eng", "LINEAR_WEBHOOK_SECRET": "lin-hook-secret",
        "GITLAB_TOKEN": "glpat-secret", "GITLAB_PROJECT": "acme/platform/ops", "SCRIBE_TRACKER_POLL_SECONDS": "120",
    }
    s = settings_from_env(env)
    t = s.trackers
    assert (t.default, t.poll_seconds, t.configured()) == ("jira", 120.0, ("jira", "github", "linear", "gitlab"))
    assert (t.jira.base_url, t.jira.project, t.jira.priorities) == ("https://acme.atlassian.net", "OPS", ("P1", "P2", "P3", "P4"))
    assert t.jira.wontfix_resolutions == frozenset({"won't do", "rejected"})
    assert (t.github.base_url, t.github.repo, t.linear.team, t.gitlab.project) == (
        "https://ghe.acme.test/api/v3", "acme/ops", "ENG", "acme/platform/ops")
    for secret in ("ATATT-jira-secret", "jira-hook-secret", "github_pat_secret", "lin_api_secret", "lin-hook-secret",
                   "glpat-secret"):
        assert secret not in repr(s)
        assert secret in s.secrets()


def test_jira_data_center_takes_a_pat_alone() -> None:
    s = settings_from_env(GOOD | {"SCRIBE_TRACKER": "jira", "JIRA_BASE_URL": "https://jira.acme.test/jira",
                                  "JIRA_PAT": "NjE0-pat", "JIRA_PROJECT": "infra"})
    assert s.trackers.jira.project == "INFRA"
    assert s.trackers.jira.configured and s.trackers.jira.pat == "NjE0-pat" and s.trackers.jira.email is None


def test_tracker_settings_are_checked_one_line_each() -> None:
    with pytest.raises(SettingsError) as caught:
        settings_from_env(GOOD | {
            "SCRIBE_TRACKER": "github", "GITHUB_REPO": "acme", "GITHUB_BASE_URL": "ftp://ghe",
            "JIRA_EMAIL": "bot@acme.test", "JIRA_PAT": "pat", "LINEAR_TEAM": "not a key",
            "SCRIBE_TRACKER_POLL_SECONDS": "5", "GITLAB_PROJECT": "/nope",
        })
    assert caught.value.problems == [
        "JIRA_EMAIL and JIRA_API_TOKEN go together (Jira Cloud): set both, or use JIRA_PAT alone for Jira Data Center.",
        "JIRA_BASE_URL is missing: your Jira's address, such as https://your-site.atlassian.net.",
        "GITHUB_BASE_URL must be an http(s) address such as https://api.github.com (GitHub Enterprise Server: "
        "https://github.example.com/api/v3), got 'ftp://ghe'.",
        "GITHUB_REPO must be owner/repo, such as acme/ops, got 'acme'.",
        "LINEAR_TEAM must be a team key such as ENG (the prefix of its issue ids), got 'not a key'.",
        "GITLAB_PROJECT must be the project's path such as acme/ops (or its numeric id), got '/nope'.",
        "SCRIBE_TRACKER is github but its token is missing: set GITHUB_TOKEN (a fine-grained token with Issues: read and write).",
        "SCRIBE_TRACKER_POLL_SECONDS must be between 30 and 86400 seconds, got 5.",
    ]


def test_the_default_tracker_needs_a_target_and_a_known_name() -> None:
    with pytest.raises(SettingsError) as caught:
        settings_from_env(GOOD | {"SCRIBE_TRACKER": "linear", "LINEAR_API_KEY": "lin_api_x"})
    assert caught.value.problems == ["SCRIBE_TRACKER is linear but LINEAR_TEAM is missing: set it to a team key such as ENG."]
    with pytest.raises(SettingsError) as caught:
        settings_from_env(GOOD | {"SCRIBE_TRACKER": "trello"})
    assert caught.value.problems == ["SCRIBE_TRACKER must be jira, github, linear, gitlab or none, got 'trello'."]


def test_bad_tracker_settings_stop_scribe_run_with_exit_2(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "SCRIBE_", "DATABASE_URL", "PORT", "JIRA_", "GITHUB_", "LINEAR_", "GITLAB_"))}
    env.update(GOOD | {"SCRIBE_TRACKER": "jira", "JIRA_BASE_URL": "https://acme.atlassian.net",
                       "JIRA_EMAIL": "bot@acme.test", "JIRA_API_TOKEN": "ATATT-do-not-print", "JIRA_PROJECT": "ops-12"})
    result = subprocess.run([sys.executable, "-m", "bot.cli", "run"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "JIRA_PROJECT must be a project key such as OPS (letters and digits, no issue number), got 'ops-12'." in result.stderr
    assert "ATATT-do-not-print" not in result.stderr + result.stdout


def test_the_example_settings_file_loads() -> None:
    from pathlib import Path

    from dotenv import dotenv_values

    example = Path(__file__).resolve().parent.parent / ".env.example"
    env = {k: v for k, v in dotenv_values(example).items() if v is not None}
    s = settings_from_env(env, require_slack=False)  # the example leaves the Slack tokens for you to fill in
    assert (s.trackers.default, s.trackers.configured(), s.trackers.jira.issue_type) == (None, (), "Task")
