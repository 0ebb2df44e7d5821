"""The reminder benchmark runs and reports what the README quotes (a small run: 2 reminders per channel)."""

from __future__ import annotations

from bench.reminders import measure_reminder_delivery


def test_measure_reminder_delivery_small() -> None:
    result = measure_reminder_delivery(count=6, channels=3, per_channel_per_second=1.0)
    assert (result["delivered"], result["unique"], result["duplicates"], result["failed"]) == (6, 6, 0, 0)
    assert result["floor_seconds"] == 2.0 and result["strict_floor_seconds"] == 1.0
    # The second message of each channel waits out the per-channel second, never much longer.
    assert 1.0 <= result["seconds"] < 6.0
