"""The shared replay cache of the hub (coordinator/realtime/recent.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from coordinator.realtime.recent import RecentEvents
from coordinator.state.base import StoredEvent

AT = datetime(2026, 6, 1, 18, 0, tzinfo=UTC)


def event(seq: int) -> StoredEvent:
    return StoredEvent(seq=seq, kind="status", city="paris", at=AT, data={"state": "live"})


def test_it_replays_what_it_holds_and_says_when_it_does_not_reach_back() -> None:
    recent = RecentEvents(max_events=3, max_bytes=1000)
    assert recent.since(0) is None  # nothing yet: ask the store
    for seq in range(1, 6):
        recent.add(event(seq), {"audience": f"text {seq}"})
    assert [e.seq for e in recent.since(2) or []] == [3, 4, 5]
    assert recent.since(5) == []
    assert recent.since(1) is None  # 2 was trimmed away
    assert recent.since(6) is None  # ahead of this history
    assert recent.text(4, "audience") == "text 4" and recent.text(4, "operator") is None
    recent.keep_text(4, "operator", "op 4")
    assert recent.text(4, "operator") == "op 4"


def test_its_texts_are_bounded_in_bytes_and_a_gap_starts_it_again() -> None:
    recent = RecentEvents(max_events=100, max_bytes=25)
    for seq in range(1, 6):
        recent.add(event(seq), {"audience": "x" * 10})
    assert [e.seq for e in recent.since(3) or []] == [4, 5]  # 2 x 10 bytes fit, not 3
    recent.add(event(9), {"audience": "y"})
    assert recent.since(8) == [event(9)] and recent.since(5) is None
