"""The time the server gives its commands: UTC, never going back.

A change's time is read from the wall clock, which an administrator or NTP may step back (a
clock that was fast, set right). Taken raw, a cue log then runs backwards at the step and a
WebVTT export of the performance loses every cue after it. :class:`SteadyClock` follows the
wall clock forwards at once, and when it steps back keeps counting from its last reading by
the monotonic clock, until the wall clock catches up: the durations between changes stay true.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


def _wall() -> datetime:
    return datetime.now(UTC)


class SteadyClock:
    """UTC instants that never go back (see the module docstring)."""

    def __init__(
        self,
        wall: Callable[[], datetime] = _wall,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._wall = wall
        self._monotonic = monotonic
        self._last: tuple[datetime, float] | None = None

    def now(self) -> datetime:
        wall, mono = self._wall(), self._monotonic()
        if self._last is not None:
            last, last_mono = self._last
            wall = max(wall, last + timedelta(seconds=max(0.0, mono - last_mono)))
        self._last = (wall, mono)
        return wall
