"""The status rules, without a socket."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from coordinator.rules import (
    TRANSITIONS,
    Actor,
    CityStatus,
    Role,
    RuleError,
    State,
    allowed_next_states,
    apply_status,
)

START = datetime(2025, 9, 20, 12, 0, tzinfo=UTC)
NOW = datetime(2025, 9, 20, 11, 30, tzinfo=UTC)
PARIS = Actor(Role.COORDINATOR, "paris", "t-paris")
ADMIN = Actor(Role.ADMIN, None, "t-admin")


def move(current: CityStatus, state: State, actor: Actor = PARIS, **kw: object) -> CityStatus:
    return apply_status(
        current,
        city="paris",
        scheduled_start_utc=START,
        actor=actor,
        state=state,
        note=kw.get("note"),  # type: ignore[arg-type]
        delay_minutes=kw.get("delay_minutes"),  # type: ignore[arg-type]
        now=NOW,
    )


def test_every_state_has_its_transitions_written_down() -> None:
    assert set(TRANSITIONS) == set(State)


def test_finished_and_cancelled_are_final_except_for_an_admin() -> None:
    for final in (State.FINISHED, State.CANCELLED):
        assert allowed_next_states(final, Role.COORDINATOR) == {final}
        with pytest.raises(RuleError) as info:
            move(CityStatus(state=final), State.LIVE)
        assert info.value.code == "conflict"
        assert move(CityStatus(state=final), State.LIVE, ADMIN).state is State.LIVE


def test_only_the_citys_coordinator_or_an_admin() -> None:
    with pytest.raises(RuleError) as info:
        move(CityStatus(), State.LIVE, Actor(Role.COORDINATOR, "berlin", "t-b"))
    assert info.value.code == "forbidden"
    with pytest.raises(RuleError) as info:
        move(CityStatus(), State.LIVE, Actor(Role.OPERATOR, "paris", "t-o"))
    assert info.value.code == "forbidden"
    with pytest.raises(RuleError) as info:
        move(CityStatus(), State.LIVE, Actor(Role.PUBLIC))
    assert info.value.code == "unauthorized"


def test_delay_sets_expected_start_and_a_second_delay_replaces_it() -> None:
    delayed = move(CityStatus(), State.DELAYED, delay_minutes=15)
    assert delayed.expected_start_utc == START + timedelta(minutes=15)
    again = move(delayed, State.DELAYED, delay_minutes=30)
    assert again.expected_start_utc == START + timedelta(minutes=30)
    preparing = move(again, State.PREPARING)
    assert preparing.expected_start_utc == START + timedelta(minutes=30)
    live = move(preparing, State.LIVE)
    assert live.expected_start_utc is None  # going live clears it
    assert live.delay_minutes == 30  # the calendar keeps when it really began


def test_delay_needs_minutes_and_only_with_delayed() -> None:
    with pytest.raises(RuleError, match="required"):
        move(CityStatus(), State.DELAYED)
    with pytest.raises(RuleError, match="only allowed"):
        move(CityStatus(), State.LIVE, delay_minutes=5)


def test_calendar_revision_rises_on_time_or_cancellation_only() -> None:
    s = move(CityStatus(), State.PREPARING, note="setting up")
    assert s.calendar_revision == 0
    s = move(s, State.DELAYED, delay_minutes=10)
    assert (s.calendar_revision, s.calendar_changed_at) == (1, NOW)
    s = move(s, State.DELAYED, delay_minutes=10, note="same time, new note")
    assert s.calendar_revision == 1
    s = move(s, State.CANCELLED)
    assert s.calendar_revision == 2


def test_note_is_kept_unless_replaced() -> None:
    s = move(CityStatus(), State.PREPARING, note="40 people")
    assert move(s, State.LIVE).note == "40 people"
    assert move(s, State.LIVE, note="").note == ""


def test_going_live_records_the_actual_start_and_finishing_the_end() -> None:
    """One truth after a delay: once live, the actual start is the reading's start."""
    delayed = move(CityStatus(), State.DELAYED, delay_minutes=30)
    assert (delayed.started_at, delayed.ended_at) == (None, None)
    at_1432 = datetime(2025, 9, 20, 12, 32, tzinfo=UTC)
    live = apply_status(
        delayed,
        city="paris",
        scheduled_start_utc=START,
        actor=PARIS,
        state=State.LIVE,
        note=None,
        delay_minutes=None,
        now=at_1432,
    )
    assert live.started_at == at_1432
    assert live.calendar_revision == delayed.calendar_revision + 1  # the calendar's time moved
    assert live.calendar_changed_at == at_1432

    def later(current: CityStatus, state: State, minutes: int, actor: Actor = PARIS) -> CityStatus:
        return apply_status(
            current,
            city="paris",
            scheduled_start_utc=START,
            actor=actor,
            state=state,
            note=None,
            delay_minutes=None,
            now=at_1432 + timedelta(minutes=minutes),
        )

    paused = later(live, State.PAUSED, 10)
    resumed = later(paused, State.LIVE, 15)
    assert resumed.started_at == at_1432  # a pause does not restart the reading
    noted = later(resumed, State.LIVE, 20)
    assert noted.started_at == at_1432
    finished = later(noted, State.FINISHED, 58)
    assert (finished.started_at, finished.ended_at) == (at_1432, at_1432 + timedelta(minutes=58))
    assert finished.calendar_revision == live.calendar_revision + 1
    # An admin who puts it back on the schedule forgets both.
    reopened = later(finished, State.SCHEDULED, 60, ADMIN)
    assert (reopened.started_at, reopened.ended_at) == (None, None)
    # Reopened live by an admin: it had started already; only the end is forgotten.
    relive = later(finished, State.LIVE, 60, ADMIN)
    assert (relive.started_at, relive.ended_at) == (at_1432, None)
