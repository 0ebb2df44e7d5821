"""Local simulators of the issue trackers, served over real HTTP on 127.0.0.1 (port 0).

    sim = JiraSimulator(deployment="cloud", clock=FakeClock())
    sim.add_account(email="bot@acme.test", api_token="…")
    sim.add_project("OPS", statuses=[("Backlog", "new"), ("Shipped", "done")])
    with sim:
        tracker = JiraTracker(base_url=sim.base_url, email="bot@acme.test", api_token="…")

Each records what it was asked (secrets stripped), takes scripted faults (`inject`), keeps a
request budget with its tracker's rate-limit headers, and sends signed webhooks.
"""

from .base import SentWebhook, TrackerCall, TrackerSimulator
from .github import GitHubSimulator
from .gitlab import GitLabSimulator
from .jira import JiraSimulator
from .linear import LinearSimulator

__all__ = ["GitHubSimulator", "GitLabSimulator", "JiraSimulator", "LinearSimulator", "SentWebhook", "TrackerCall",
           "TrackerSimulator"]
