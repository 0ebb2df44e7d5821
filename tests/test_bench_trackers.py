"""The tracker benchmark runs and reports what docs/trackers.md quotes (a small run: 9 tickets
against budgets they fill, and a few acks next to slow trackers)."""

from __future__ import annotations

from bench.trackers import measure_ack_while_slow, measure_creation


def test_measure_creation_small() -> None:
    result = measure_creation(9, latency={"jira": 0.02, "github": 0.02, "linear": 0.02},
                              limits={"jira": (6, 1.0), "github": (6, 1.0), "linear": (6, 1.0)}, senders=3)
    assert (result["tickets_ready"], result["tickets_failed"], result["duplicates"]) == (9, 0, 0)
    assert result["tickets_made"] == {"jira": 3, "github": 3, "linear": 3}
    # GitHub: 3 creates, 3 marker lists, and each owner's lookup (search, assignable) at most once per item.
    github = result["per_tracker"]["github"]
    assert 6 <= github["requests"] <= 12
    assert result["floor_seconds"] == max(f["floor_seconds"] for f in result["per_tracker"].values()) > 0
    assert result["seconds"] >= result["floor_seconds"] and result["ratio"] == round(result["seconds"] / result["floor_seconds"], 3)


def test_measure_ack_while_slow_small() -> None:
    result = measure_ack_while_slow(4, slow_latency=1.0, senders=2)
    assert (result["commands"], result["tickets_asked"], result["tickets_made_before_last_ack"]) == (4, 4, 0)
    assert result["ack_p99_seconds"] < 1.0
