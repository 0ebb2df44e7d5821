"""How each issue tracker is connected (issue 25): read from the environment by bot.config,
which checks them; the adapters are built from them (bot.trackers.factory). Secrets are kept
out of `repr()`."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class JiraSettings:
    """Jira Cloud (JIRA_EMAIL + JIRA_API_TOKEN, REST v3) or Data Center (JIRA_PAT, REST v2)."""

    base_url: str | None = None
    email: str | None = None
    api_token: str | None = field(default=None, repr=False)
    pat: str | None = field(default=None, repr=False)
    project: str | None = None
    issue_type: str = "Task"
    # Jira priority names for p0, p1, p2, p3.
    priorities: tuple[str, str, str, str] = ("Highest", "High", "Medium", "Low")
    # Resolutions that mean "won't fix" (case-insensitive); None: the built-in list.
    wontfix_resolutions: frozenset[str] | None = None
    webhook_secret: str | None = field(default=None, repr=False)

    @property
    def configured(self) -> bool:
        return bool(self.base_url and (self.pat or (self.email and self.api_token)))


@dataclass(frozen=True)
class GitHubSettings:
    base_url: str = "https://api.github.com"  # GitHub Enterprise Server: https://HOST/api/v3
    token: str | None = field(default=None, repr=False)
    repo: str | None = None  # owner/repo
    webhook_secret: str | None = field(default=None, repr=False)

    @property
    def configured(self) -> bool:
        return bool(self.token)


@dataclass(frozen=True)
class LinearSettings:
    base_url: str = "https://api.linear.app/graphql"
    api_key: str | None = field(default=None, repr=False)
    team: str | None = None  # team key, e.g. ENG
    webhook_secret: str | None = field(default=None, repr=False)

    @property
    def configured(self) -> bool:
        return bool(self.api_key)


@dataclass(frozen=True)
class GitLabSettings:
    base_url: str = "https://gitlab.com"
    token: str | None = field(default=None, repr=False)
    project: str | None = None  # group/project or a numeric id
    webhook_secret: str | None = field(default=None, repr=False)

    @property
    def configured(self) -> bool:
        return bool(self.token)


@dataclass(frozen=True)
class TrackerSettings:
    """Issue trackers (issue 25): the workspace default, and each tracker's connection."""

    default: str | None = None  # jira | github | linear | gitlab; None: no tickets by default
    poll_seconds: float = 300.0
    jira: JiraSettings = field(default_factory=JiraSettings)
    github: GitHubSettings = field(default_factory=GitHubSettings)
    linear: LinearSettings = field(default_factory=LinearSettings)
    gitlab: GitLabSettings = field(default_factory=GitLabSettings)

    def configured(self) -> tuple[str, ...]:
        """The trackers with credentials, in a fixed order."""
        found = (("jira", self.jira), ("github", self.github), ("linear", self.linear), ("gitlab", self.gitlab))
        return tuple(name for name, conf in found if conf.configured)

    def secrets(self) -> list[str]:
        values = [self.jira.api_token, self.jira.pat, self.jira.webhook_secret, self.github.token,
                  self.github.webhook_secret, self.linear.api_key, self.linear.webhook_secret, self.gitlab.token,
                  self.gitlab.webhook_secret]
        return [v for v in values if v]
