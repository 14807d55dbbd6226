"""The commands' clock (coordinator/clock.py): it follows the wall clock forwards and never
goes back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from coordinator.clock import SteadyClock

T0 = datetime(2026, 6, 1, 18, 0, tzinfo=UTC)


def test_a_backward_step_is_counted_through_and_a_forward_one_followed() -> None:
    wall = [T0]
    mono = [100.0]
    clock = SteadyClock(lambda: wall[0], lambda: mono[0])
    assert clock.now() == T0
    wall[0], mono[0] = T0 - timedelta(hours=1), 102.0  # the clock stepped back an hour
    assert clock.now() == T0 + timedelta(seconds=2)
    mono[0] = 105.5
    wall[0] += timedelta(seconds=3.5)
    assert clock.now() == T0 + timedelta(seconds=5.5)
    wall[0], mono[0] = T0 + timedelta(hours=2), 106.0  # stepped forward: followed at once
    assert clock.now() == T0 + timedelta(hours=2)
