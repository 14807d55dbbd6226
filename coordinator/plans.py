"""What an accepted command changes, computed from the current state. Pure: no I/O.

A plan is the whole effect of one command: the events to append (numbered from the next
``seq``), the new status or cue state, the cue log lines, and one audit entry. Every store
backend computes it here and writes all of it atomically, so the rules cannot drift between
backends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from coordinator import views
from coordinator.channels import CueBoard, plan_cue_command, summary
from coordinator.config import Config
from coordinator.cue_state import CueState
from coordinator.overrides import CityOverride, effective
from coordinator.protocol import CueCommand, ScheduleCommand, StatusCommand
from coordinator.rules import Actor, CityStatus, Role, RuleError, State, apply_status, reschedule

EventKind = Literal["status", "presence", "cue", "schedule"]


@dataclass(frozen=True)
class PlannedEvent:
    """An event a plan appends; the store gives it its ``seq`` and time."""

    kind: EventKind
    city: str
    data: dict[str, Any]
    operator_data: dict[str, Any] | None = None
    audience: bool = True


@dataclass(frozen=True)
class Plan:
    """What one accepted command changes; a backend writes all of it atomically: the events
    (numbered in order from the next seq), the new state, the cue log lines, and one audit
    entry carrying the first event's seq."""

    events: list[PlannedEvent]
    city: str
    kind: str
    audit_before: str
    audit_after: str
    note: str
    status: CityStatus | None = None
    # The delay a status command announced (state ``delayed``), kept in the audit entry: the
    # report counts the delays from the audit log, the one history kept whole.
    audit_delay_minutes: int | None = None
    cue_key: str | None = None
    cue_state: CueState | None = None
    cue_log: list[tuple[str, int, bool]] = field(default_factory=list)
    # The city's whole override of the config after a schedule edit (stored in place of the
    # one before).
    override: CityOverride | None = None


def command_key(actor: Actor, command_id: str) -> str:
    """Idempotency key: the same ``id`` from the same token is one command."""
    return f"{actor.role.value}:{actor.name}:{command_id}"


def plan_status(
    command: StatusCommand,
    actor: Actor,
    now: datetime,
    current: CityStatus,
    scheduled_start_utc: datetime,
) -> Plan:
    """A status command's effect, or ``RuleError`` from :func:`rules.apply_status`."""
    new = apply_status(
        current,
        city=command.city,
        scheduled_start_utc=scheduled_start_utc,
        actor=actor,
        state=command.state,
        note=command.note,
        delay_minutes=command.delay_minutes,
        now=now,
    )
    return Plan(
        events=[PlannedEvent(kind="status", city=command.city, data=views.status_fields(new))],
        city=command.city,
        kind="status",
        audit_before=current.state.value,
        audit_after=new.state.value,
        note=new.note,
        status=new,
        audit_delay_minutes=new.delay_minutes if new.state is State.DELAYED else None,
    )


def plan_schedule(
    command: ScheduleCommand,
    actor: Actor,
    now: datetime,
    current: CityStatus,
    file_config: Config,
    overrides: Mapping[str, CityOverride],
) -> Plan:
    """An admin's schedule edit: the city's override with the edit merged in, a ``schedule``
    event carrying the city as ``/api/cities`` shows it (and the new ``schedule_version``),
    and a ``status`` event when the status follows (a new calendar revision, the delayed
    start moved). ``overrides`` are the stored ones, by city. Raises ``RuleError``."""
    if actor.role is not Role.ADMIN:
        code = "unauthorized" if actor.role is Role.PUBLIC else "forbidden"
        raise RuleError(code, "only an admin may change the schedule")
    file_city = file_config.city(command.city)
    if file_city is None:
        raise RuleError("not_found", f"no city {command.city!r} in this event")
    before = overrides.get(command.city, CityOverride())
    after = before.merged(command.override)
    old_city, new_city = before.apply(file_city), after.apply(file_city)
    config = effective(file_config, {**overrides, command.city: after})
    status = reschedule(
        current, start_utc=new_city.start_utc, calendar_changed=new_city != old_city, now=now
    )
    data = {
        "schedule": views.city_json(new_city),
        "schedule_version": views.schedule_version(config),
    }
    events = [PlannedEvent(kind="schedule", city=command.city, data=data)]
    if status != current:
        events.append(
            PlannedEvent(kind="status", city=command.city, data=views.status_fields(status))
        )
    return Plan(
        events=events,
        city=command.city,
        kind="schedule",
        audit_before=command.override.describe(old_city),
        audit_after=command.override.describe(new_city),
        note="",
        status=status if status != current else None,
        override=after,
    )


def plan_cue(
    command: CueCommand, actor: Actor, board: CueBoard, known_cities: frozenset[str]
) -> Plan:
    """A cue command's effect on the board, or ``RuleError``."""
    cue_plan = plan_cue_command(command, actor, board, known_cities)
    action = command.action + (f" {command.target}" if command.target else "")
    return Plan(
        events=[
            PlannedEvent(
                kind="cue",
                city=e.city,
                data=e.data,
                operator_data=e.operator_data,
                audience=e.audience,
            )
            for e in cue_plan.events
        ],
        city=command.city,
        kind="cue" if command.channel == "live" else f"cue {command.channel}",
        audit_before=summary(cue_plan.before),
        audit_after=summary(cue_plan.after),
        note=action,
        cue_key=cue_plan.key,
        cue_state=cue_plan.after,
        cue_log=cue_plan.log,
    )


def presence_plan(city: str, online: bool) -> Plan:
    """A city's coordinator came online or went offline."""
    return Plan(
        events=[PlannedEvent(kind="presence", city=city, data={"online": online})],
        city=city,
        kind="presence",
        audit_before="",
        audit_after="",
        note="",
    )
