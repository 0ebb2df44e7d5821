"""Reading a pasted ticket: a URL or a key, as people write them. Pure.

    ABC-123                                   Jira (or Linear: same shape; the default tracker decides)
    https://acme.atlassian.net/browse/ABC-123 Jira Cloud; any host's /browse/KEY (Data Center)
    …?selectedIssue=ABC-123                   Jira boards
    owner/repo#12                             GitHub (GitLab when that is the tracker in use)
    https://github.com/owner/repo/issues/12   GitHub, or GitHub Enterprise on its configured host
    ENG-42, https://linear.app/acme/issue/ENG-42/slug   Linear
    group/sub/project#3, https://gitlab.com/group/sub/project/-/issues/3   GitLab
Slack's link markup (<https://…|text>) is unwrapped first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qs, urlsplit

from .model import TRACKER_NAMES, TicketRef, TrackerName

ISSUE_KEY = re.compile(r"^([A-Z][A-Z0-9_]{0,31})-([1-9]\d{0,9})$")
REPO_ISSUE = re.compile(r"^([A-Za-z0-9](?:[A-Za-z0-9._-]*)(?:/[A-Za-z0-9._-]+)+)#([1-9]\d{0,9})$")
SLACK_LINK = re.compile(r"^<([^|>]+)(?:\|[^>]*)?>$")


def parse_ticket_link(text: str, *, default: TrackerName | None = None,
                      configured: Iterable[TrackerName] = TRACKER_NAMES,
                      web_bases: Mapping[str, str] | None = None) -> TicketRef | None:
    """The ticket `text` names, or None when it names none we can use.

    `configured`: the trackers this workspace has settings for; `default` breaks the tie
    between Jira and Linear keys. `web_bases`: self-hosted web addresses by tracker, e.g.
    {"github": "https://ghe.example.com", "jira": "https://jira.example.com/jira"}.
    """
    value = text.strip()
    wrapped = SLACK_LINK.match(value)
    if wrapped:
        value = wrapped.group(1).strip()
    usable = [t for t in TRACKER_NAMES if t in set(configured)]
    if "://" in value:
        return _from_url(value, usable, dict(web_bases or {}))
    key = ISSUE_KEY.match(value.upper()) if "/" not in value and "#" not in value else None
    if key:
        tracker = _pick(("jira", "linear"), default, usable)
        return TicketRef(tracker, f"{key.group(1)}-{key.group(2)}") if tracker else None
    repo = REPO_ISSUE.match(value)
    if repo:
        path, number = repo.group(1), repo.group(2)
        nested = path.count("/") > 1
        tracker = "gitlab" if nested else _pick(("github", "gitlab"), default, usable)
        if tracker is None or tracker not in usable:
            return None
        return TicketRef(tracker, f"{path}#{number}")
    return None


def _pick(kinds: tuple[TrackerName, ...], default: TrackerName | None, usable: list[TrackerName]) -> TrackerName | None:
    if default in kinds and default in usable:
        return default
    return next((k for k in kinds if k in usable), None)


def _from_url(url: str, usable: list[TrackerName], bases: dict[str, str]) -> TicketRef | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower()
    path = parts.path.rstrip("/")
    segments = [s for s in path.split("/") if s]

    def on_base(tracker: str) -> str | None:
        """The path under a configured base of `tracker` on this host, or None."""
        base = bases.get(tracker)
        if not base:
            return None
        bparts = urlsplit(base)
        if (bparts.hostname or "").lower() != host:
            return None
        prefix = bparts.path.rstrip("/")
        return path[len(prefix):] if path.startswith(prefix) else None

    # Linear: https://linear.app/<workspace>/issue/ENG-42[/slug]
    if host == "linear.app" and "linear" in usable and len(segments) >= 3 and segments[1] == "issue":
        key = ISSUE_KEY.match(segments[2].upper())
        return TicketRef("linear", f"{key.group(1)}-{key.group(2)}", url) if key else None
    # GitLab: …/<group>/<project>/-/issues/3 ("/-/" ends the project path), under the
    # configured base's path if it has one (a relative URL root such as /gitlab).
    if "gitlab" in usable:
        gitlab_path = on_base("gitlab")
        if gitlab_path is None:
            gitlab_path = path
        lsegs = [s for s in gitlab_path.split("/") if s]
        if "-" in lsegs:
            cut = lsegs.index("-")
            rest = lsegs[cut + 1:]
            if cut >= 2 and len(rest) >= 2 and rest[0] == "issues" and rest[1].isdigit():
                return TicketRef("gitlab", f"{'/'.join(lsegs[:cut])}#{int(rest[1])}", url)
    # GitHub: https://github.com/<owner>/<repo>/issues/12, or the same on an Enterprise host.
    github_path = path if host in ("github.com", "www.github.com") else on_base("github")
    if "github" in usable and github_path is not None:
        gsegs = [s for s in github_path.split("/") if s]
        if len(gsegs) >= 4 and gsegs[2] == "issues" and gsegs[3].isdigit():
            return TicketRef("github", f"{gsegs[0]}/{gsegs[1]}#{int(gsegs[3])}", url)
        return None
    # Jira: …/browse/ABC-123 on any host (Cloud or Data Center), or ?selectedIssue=ABC-123.
    if "jira" in usable:
        if len(segments) >= 2 and segments[-2] == "browse":
            key = ISSUE_KEY.match(segments[-1].upper())
            if key:
                return TicketRef("jira", f"{key.group(1)}-{key.group(2)}", url)
        selected = parse_qs(parts.query).get("selectedIssue")
        if selected:
            key = ISSUE_KEY.match(selected[0].upper())
            if key:
                return TicketRef("jira", f"{key.group(1)}-{key.group(2)}", url)
    return None


# What each tracker's target looks like: a Jira project key, a GitHub owner/repo, a Linear
# team key, a GitLab project path (or numeric id). The settings (bot.config) check the same.
TARGET_PATTERNS: dict[str, re.Pattern[str]] = {
    "jira": re.compile(r"^[A-Z][A-Z0-9_]{1,31}$"),
    "github": re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$"),
    "linear": re.compile(r"^[A-Za-z0-9]{1,7}$"),
    "gitlab": re.compile(r"^(\d+|[A-Za-z0-9_.][A-Za-z0-9_.-]*(/[A-Za-z0-9_.][A-Za-z0-9_.-]*)+)$"),
}
TARGET_WORDS: dict[str, str] = {
    "jira": "a Jira project key such as OPS", "github": "a GitHub repository as owner/repo, such as acme/ops",
    "linear": "a Linear team key such as ENG", "gitlab": "a GitLab project path such as acme/ops",
}


def normalise_target(tracker: str, target: str) -> str:
    """Keys are written in capitals (Jira projects, Linear teams); paths as given."""
    return target.strip().upper() if tracker in ("jira", "linear") else target.strip()


def target_problem(tracker: str, target: str) -> str | None:
    """Why `target` can't be one of `tracker`'s targets, in words; None when it can."""
    pattern = TARGET_PATTERNS.get(tracker)
    if pattern is None:
        return f"'{tracker}' is not a tracker: use jira, github, linear or gitlab."
    if pattern.match(normalise_target(tracker, target)):
        return None
    shown = target if len(target) <= 40 else target[:39] + "…"
    return f"'{shown}' is not {TARGET_WORDS[tracker]}."
