"""Smoke test of bench/drafts.py at tiny sizes, so a broken benchmark is noticed. No timing
is asserted here: that is what running the benchmark is for."""

from __future__ import annotations

from bench import drafts


def test_the_prompt_measure_stays_within_the_budget_and_keeps_key_events_first() -> None:
    figures = drafts.measure_prompt(entries=2_000, budget=2_000)
    assert figures["within_budget"] is True and figures["estimated_tokens"] <= 2_000
    assert figures["sent"] + figures["left_out"] == 2_000
    # Key events go in first: every entry sent is one here, as they alone fill this budget.
    assert figures["key_events_sent"] == figures["sent"] > 0


def test_the_catchup_measure_runs_three_apps_and_reports_their_acks() -> None:
    figures = drafts.measure_catchup_ack(requests=3, entries=5, slow_seconds=0.2)
    assert set(figures["catchup_ack_ms"]) == {"off", "down", "slow"}
    assert all(f["median"] > 0 and f["p95"] >= f["median"] for f in figures["catchup_ack_ms"].values())
    assert set(figures["overhead_ms"]) == {"down", "slow"}
    assert figures["slow_model_requests"] >= 1  # the slow model was asked, after the acks
