"""Planning is pure: the same state and command give the same plan, and nothing is changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from coordinator.channels import CueBoard, cue_key
from coordinator.cue_state import CueState
from coordinator.plans import command_key, plan_cue, plan_status, presence_plan
from coordinator.protocol import CueCommand, StatusCommand
from coordinator.rules import Actor, CityStatus, Role, RuleError, State
from tests.unit.script_data import reading_script

NOW = datetime(2025, 9, 20, 12, 0, tzinfo=UTC)
START = NOW + timedelta(minutes=30)
PARIS_OP = Actor(Role.OPERATOR, "paris", "t-op")
PARIS_COORD = Actor(Role.COORDINATOR, "paris", "t-coord")
CITIES = frozenset({"paris", "oslo"})


def board(**states: CueState) -> CueBoard:
    return CueBoard(states=dict(states), scripts={"paris": reading_script()})


def test_a_status_plan_holds_the_event_the_audit_and_the_new_status() -> None:
    command = StatusCommand(id="c-1", city="paris", state=State.DELAYED, delay_minutes=15)
    plan = plan_status(command, PARIS_COORD, NOW, CityStatus(), START)
    assert plan.status is not None and plan.status.state is State.DELAYED
    assert (plan.kind, plan.audit_before, plan.audit_after) == ("status", "scheduled", "delayed")
    (event,) = plan.events
    assert event.kind == "status" and event.data["delay_minutes"] == 15
    assert plan_status(command, PARIS_COORD, NOW, CityStatus(), START) == plan
    # The audit keeps the delay announced, and only a delay's.
    assert plan.audit_delay_minutes == 15
    live = StatusCommand(id="c-2", city="paris", state=State.LIVE)
    assert plan_status(live, PARIS_COORD, NOW, plan.status, START).audit_delay_minutes is None


def test_a_cue_plan_moves_one_channel_and_logs_what_the_audience_sees() -> None:
    before = board(paris=CueState(index=1))
    command = CueCommand(id="o-1", city="paris", action="next", expected_from=1)
    plan = plan_cue(command, PARIS_OP, before, CITIES)
    assert plan.cue_key == "paris" and plan.cue_state == CueState(index=2, count=6)
    assert plan.cue_log == [("paris", 2, False)]
    (event,) = plan.events
    assert event.data["index"] == 2 and event.operator_data is not None
    assert event.operator_data["next_label"] == "3"
    assert before.states["paris"] == CueState(index=1)  # the board is not changed


def test_a_rehearsal_plan_is_not_logged_and_keys_its_channel() -> None:
    command = CueCommand(id="o-2", city="paris", action="next", channel="rehearsal")
    plan = plan_cue(command, PARIS_OP, board(), CITIES)
    assert plan.cue_key == cue_key("paris", "rehearsal") == "paris#rehearsal"
    assert plan.kind == "cue rehearsal" and plan.cue_log == []


def test_a_refused_cue_plans_nothing() -> None:
    command = CueCommand(id="o-3", city="paris", action="next", expected_from=4)
    with pytest.raises(RuleError) as info:
        plan_cue(command, PARIS_OP, board(paris=CueState(index=1)), CITIES)
    assert info.value.code == "conflict"


def test_presence_and_the_idempotency_key() -> None:
    plan = presence_plan("oslo", True)
    assert [e.data for e in plan.events] == [{"online": True}] and plan.status is None
    assert command_key(PARIS_OP, "o-1") == "operator:t-op:o-1"
    assert command_key(PARIS_COORD, "o-1") != command_key(PARIS_OP, "o-1")
