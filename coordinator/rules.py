"""Status rules: the states a reading goes through and who may move it where. No I/O.

The allowed transitions are data (:data:`TRANSITIONS`); :func:`apply_status` is the only place
that turns a command into a new :class:`CityStatus`, so the embedded and Redis stores enforce
exactly the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum


class State(StrEnum):
    SCHEDULED = "scheduled"
    PREPARING = "preparing"
    LIVE = "live"
    PAUSED = "paused"
    DELAYED = "delayed"
    FINISHED = "finished"
    CANCELLED = "cancelled"


class Role(StrEnum):
    PUBLIC = "public"
    COORDINATOR = "coordinator"
    OPERATOR = "operator"
    ADMIN = "admin"


S = State
# Which states a city's coordinator may move to from each state. Staying in the same state is
# allowed wherever the state itself is listed (a new note, a second delay replacing the first).
TRANSITIONS: dict[State, frozenset[State]] = {
    S.SCHEDULED: frozenset({S.SCHEDULED, S.PREPARING, S.LIVE, S.DELAYED, S.CANCELLED}),
    S.PREPARING: frozenset({S.SCHEDULED, S.PREPARING, S.LIVE, S.DELAYED, S.CANCELLED}),
    S.LIVE: frozenset({S.LIVE, S.PAUSED, S.FINISHED, S.CANCELLED}),
    S.PAUSED: frozenset({S.PAUSED, S.LIVE, S.FINISHED, S.CANCELLED}),
    S.DELAYED: frozenset({S.DELAYED, S.PREPARING, S.LIVE, S.CANCELLED, S.SCHEDULED}),
    # Final for coordinators: only an admin reopens a finished or cancelled reading.
    S.FINISHED: frozenset({S.FINISHED}),
    S.CANCELLED: frozenset({S.CANCELLED}),
}

MAX_DELAY_MINUTES = 24 * 60


class RuleError(Exception):
    """A command the rules refuse. ``code`` is a protocol error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Actor:
    """Who sends a command: a role, and the city it is bound to (None for admin and public)."""

    role: Role
    city: str | None = None
    name: str = ""

    def may_change_status(self, city: str) -> bool:
        return self.role is Role.ADMIN or (self.role is Role.COORDINATOR and self.city == city)

    def may_cue(self, city: str) -> bool:
        return self.role is Role.ADMIN or (self.role is Role.OPERATOR and self.city == city)


@dataclass(frozen=True)
class CityStatus:
    """A city's live status.

    ``delay_minutes`` is the announced delay from the scheduled start (0: on time); the
    calendar shows the reading at scheduled start + delay. ``calendar_revision`` counts the
    changes a calendar must pick up (time, or cancelled or not).
    """

    state: State = State.SCHEDULED
    note: str = ""
    delay_minutes: int = 0
    expected_start_utc: datetime | None = None
    updated_at: datetime | None = None
    # Rises whenever the reading's time or its calendar status (cancelled or not) changes; the
    # calendar feed uses it as SEQUENCE and calendar_changed_at as LAST-MODIFIED.
    calendar_revision: int = 0
    calendar_changed_at: datetime | None = None
    # When the reading actually began (first went live) and ended (finished or cancelled after
    # it began): once known, every view shows these rather than the schedule.
    started_at: datetime | None = None
    ended_at: datetime | None = None


NOT_STARTED = frozenset({State.SCHEDULED, State.PREPARING, State.DELAYED})
ENDED = frozenset({State.FINISHED, State.CANCELLED})


def actual_times(
    current: CityStatus, state: State, now: datetime
) -> tuple[datetime | None, datetime | None]:
    """The reading's actual start and end after a move to ``state``: the start is the first
    time it went live (a pause or a new note keeps it); the end is when it was finished or
    cancelled after it began. Back to a state before the start forgets both."""
    if state in NOT_STARTED:
        return None, None
    started = current.started_at
    if state is State.LIVE and started is None:
        started = now
    if state in ENDED:
        ended = current.ended_at if current.state in ENDED else (now if started else None)
        return started, ended
    return started, None


def allowed_next_states(current: State, role: Role) -> frozenset[State]:
    """The states this role may move a reading to from ``current``."""
    if role is Role.ADMIN:
        return frozenset(State)
    if role is Role.COORDINATOR:
        return TRANSITIONS[current]
    return frozenset()


def apply_status(
    current: CityStatus,
    *,
    city: str,
    scheduled_start_utc: datetime,
    actor: Actor,
    state: State,
    note: str | None,
    delay_minutes: int | None,
    now: datetime,
) -> CityStatus:
    """Return the city's new status after a status command, or raise :class:`RuleError`.

    ``note`` None keeps the current note; ``""`` clears it. ``delayed`` needs ``delay_minutes``
    (a second delay replaces the first; both count from the scheduled start). ``scheduled``
    puts the reading back on its original time. The announced delay is kept once the reading
    starts, but ``expected_start_utc`` is only set while the reading has not started yet: going
    live clears it and sets ``started_at`` (see :func:`actual_times`).
    """
    if not actor.may_change_status(city):
        if actor.role is Role.PUBLIC:
            raise RuleError("unauthorized", "sign in with a coordinator token to change a status")
        raise RuleError("forbidden", f"a {actor.role} of {actor.city!r} may not change {city!r}")
    if state not in allowed_next_states(current.state, actor.role):
        reopen = (
            " (only an admin can reopen it)" if current.state in (S.FINISHED, S.CANCELLED) else ""
        )
        raise RuleError("conflict", f"{city} cannot go from {current.state} to {state}{reopen}")
    if delay_minutes is not None and state is not State.DELAYED:
        raise RuleError("invalid", "delay_minutes is only allowed with state 'delayed'")

    delay = current.delay_minutes
    if state is State.DELAYED:
        if delay_minutes is None:
            raise RuleError("invalid", "delay_minutes is required with state 'delayed'")
        if not 0 < delay_minutes <= MAX_DELAY_MINUTES:
            raise RuleError("invalid", f"delay_minutes must be 1 to {MAX_DELAY_MINUTES}")
        delay = delay_minutes
    elif state is State.SCHEDULED:
        delay = 0
    not_started = state in NOT_STARTED
    expected = scheduled_start_utc + timedelta(minutes=delay) if delay and not_started else None
    started, ended = actual_times(current, state, now)

    was_cancelled = current.state is State.CANCELLED
    revision = current.calendar_revision
    changed_at = current.calendar_changed_at
    # The calendar shows the time (scheduled + delay, then the actual start and end) and
    # whether the reading is cancelled: any change of those is a new revision.
    if (
        delay != current.delay_minutes
        or was_cancelled != (state is State.CANCELLED)
        or (started, ended) != (current.started_at, current.ended_at)
    ):
        revision += 1
        changed_at = now
    return replace(
        current,
        state=state,
        note=current.note if note is None else note,
        delay_minutes=delay,
        expected_start_utc=expected,
        updated_at=now,
        calendar_revision=revision,
        calendar_changed_at=changed_at,
        started_at=started,
        ended_at=ended,
    )


def reschedule(
    current: CityStatus, *, start_utc: datetime, calendar_changed: bool, now: datetime
) -> CityStatus:
    """The status after an admin changed the schedule (a new ``start_utc``, length, venue or
    confirmation; ``calendar_changed``: what a calendar shows of it differs).

    The edit moves the scheduled start; an announced delay stays, counted from the new start
    (``expected_start_utc`` follows while the reading has not started). A reading that
    already began keeps its actual times. A calendar change is a new revision (SEQUENCE + 1).
    """
    expected = current.expected_start_utc
    if current.state in NOT_STARTED:
        delay = current.delay_minutes
        expected = start_utc + timedelta(minutes=delay) if delay else None
    if not calendar_changed:
        return replace(current, expected_start_utc=expected)
    return replace(
        current,
        expected_start_utc=expected,
        calendar_revision=current.calendar_revision + 1,
        calendar_changed_at=now,
    )
