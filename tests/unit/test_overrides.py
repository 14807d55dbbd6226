"""Schedule edits, pure: reading a PATCH body with the config's rules, merging edits, laying
them over the file's config, storing them, and what the status and the plan make of them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from coordinator import config
from coordinator.overrides import CityOverride, OverrideError, effective, parse_patch
from coordinator.plans import plan_schedule
from coordinator.protocol import ScheduleCommand
from coordinator.rules import Actor, CityStatus, Role, RuleError, State, reschedule
from coordinator.state import records
from tests.support.harness import SHIPPED_CONFIG

NOW = datetime(2025, 9, 20, 10, 0, tzinfo=UTC)
ADMIN = Actor(Role.ADMIN, None, "t-admin")


def shipped() -> config.Config:
    return config.load(SHIPPED_CONFIG)


def berlin() -> config.City:
    city = shipped().city("berlin")
    assert city is not None
    return city


def test_a_wall_time_is_read_in_the_citys_zone() -> None:
    edit = parse_patch({"start_local": "2025-09-20T15:30"}, berlin())
    assert edit.values == {"start_utc": datetime(2025, 9, 20, 13, 30, tzinfo=UTC)}


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"start_local": "2026-03-29T02:30"}, ["start_local"]),  # skipped in Berlin
        ({"start_local": "2026-10-25T02:30"}, ["start_local"]),  # repeated in Berlin
        ({"duration_minutes": 1441, "confirmed": None}, ["duration_minutes", "confirmed"]),
        ({"venue": {"geo": "north", "floor": 1}}, ["venue.geo", "venue.floor"]),
        ({"when": "now"}, ["when"]),
        ({}, [""]),
        ([], [""]),
    ],
)
def test_every_bad_field_is_named(body: object, fields: list[str]) -> None:
    with pytest.raises(OverrideError) as info:
        parse_patch(body, berlin())
    assert [where for where, _ in info.value.faults] == fields


def test_later_edits_merge_and_null_clears_an_optional_field() -> None:
    first = parse_patch({"venue": {"name": "Haus", "address": "Str. 1"}}, berlin())
    later = parse_patch({"venue": {"address": None}, "duration_minutes": 90}, berlin())
    merged = first.merged(later)
    assert merged.values == {"venue": "Haus", "address": None, "duration_minutes": 90}
    city = merged.apply(berlin())
    assert (city.venue, city.address, city.duration_minutes) == ("Haus", None, 90)
    assert city.start_utc == berlin().start_utc  # not named: the file's


def test_the_effective_config_is_the_file_with_the_overrides() -> None:
    cfg = shipped()
    assert effective(cfg, {}) is cfg
    moved = effective(cfg, {"berlin": CityOverride({"confirmed": True}), "lyon": CityOverride()})
    assert [c.id for c in moved.cities] == [c.id for c in cfg.cities]  # lyon: not in the file
    assert moved.city("berlin") == replace(berlin(), confirmed=True)
    assert moved.city("paris") == cfg.city("paris")


def test_an_override_record_reads_back_as_written() -> None:
    edit = CityOverride(
        {"start_utc": datetime(2025, 9, 20, 13, 30, tzinfo=UTC), "geo": (52.5, 13.4), "venue": None,
         "duration_minutes": 90, "confirmed": True}
    )  # fmt: skip
    text = records.encode_override(edit)
    assert records.decode_override(text) == edit
    with pytest.raises(TypeError):
        records.decode_override('{"name": "x"}')


def test_a_move_keeps_the_announced_delay_counted_from_the_new_start() -> None:
    delayed = CityStatus(state=State.DELAYED, delay_minutes=10, calendar_revision=1)
    new_start = datetime(2025, 9, 20, 13, 30, tzinfo=UTC)
    after = reschedule(delayed, start_utc=new_start, calendar_changed=True, now=NOW)
    assert after.expected_start_utc == new_start + timedelta(minutes=10)
    assert (after.calendar_revision, after.calendar_changed_at) == (2, NOW)
    live = CityStatus(state=State.LIVE, started_at=NOW, calendar_revision=1)
    assert reschedule(live, start_utc=new_start, calendar_changed=False, now=NOW) == live


def test_a_schedule_plan_is_one_schedule_event_a_status_event_and_the_whole_override() -> None:
    earlier = {"berlin": CityOverride({"confirmed": True})}
    edit = parse_patch({"start_local": "2025-09-20T15:30"}, berlin())
    command = ScheduleCommand(id="s-1", city="berlin", override=edit)
    plan = plan_schedule(command, ADMIN, NOW, CityStatus(), shipped(), earlier)
    assert plan.override == CityOverride(
        {"confirmed": True, "start_utc": datetime(2025, 9, 20, 13, 30, tzinfo=UTC)}
    )
    schedule_event, status_event = plan.events
    assert schedule_event.kind == "schedule"
    assert schedule_event.data["schedule"]["start_local"] == "2025-09-20T15:30:00+02:00"
    assert schedule_event.data["schedule"]["confirmed"] is True
    assert status_event.kind == "status" and status_event.data["calendar_revision"] == 1
    assert plan.audit_before == "start 2025-09-20T14:00 (2025-09-20T12:00:00Z)"
    assert plan.audit_after == "start 2025-09-20T15:30 (2025-09-20T13:30:00Z)"
    for role in (Role.COORDINATOR, Role.OPERATOR, Role.PUBLIC):
        with pytest.raises(RuleError):
            plan_schedule(command, Actor(role, "berlin"), NOW, CityStatus(), shipped(), {})
