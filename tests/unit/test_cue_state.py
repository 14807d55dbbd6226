"""The cue pointer: the rules that move it and the views the screens and operators get."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordinator.cue_state import CUE_ACTIONS, CueAction, CueState, apply_cue, cue_view
from coordinator.rules import RuleError
from coordinator.scripts import Script
from tests.unit.script_data import EXPECTED, LANGS, NOTES, reading_script

# -- the cue rules ------------------------------------------------------------------------------


def test_next_and_prev_walk_the_script() -> None:
    state = CueState(count=3)
    state = apply_cue(state, "next")
    assert state == CueState(index=1, count=3)
    state = apply_cue(apply_cue(state, "next"), "next")
    assert state.index == 3
    with pytest.raises(RuleError) as info:
        apply_cue(state, "next")
    assert info.value.code == "conflict" and "already at the last cue" in info.value.message
    for expected in (2, 1, 0):
        state = apply_cue(state, "prev")
        assert state.index == expected
    with pytest.raises(RuleError) as info:
        apply_cue(state, "prev")
    assert info.value.code == "conflict"


def test_next_without_a_script_is_refused() -> None:
    with pytest.raises(RuleError) as info:
        apply_cue(CueState(), "next")
    assert info.value.code == "conflict" and "no script" in info.value.message


def test_goto_bounds() -> None:
    state = CueState(index=2, count=5)
    assert apply_cue(state, "goto", index=5).index == 5
    assert apply_cue(state, "goto", index=0).index == 0
    assert apply_cue(state, "goto", index=2) == state
    for bad in (-1, 6):
        with pytest.raises(RuleError) as info:
            apply_cue(state, "goto", index=bad)
        assert info.value.code == "invalid" and "0 to 5" in info.value.message
    with pytest.raises(RuleError) as info:
        apply_cue(state, "goto")
    assert info.value.code == "invalid"
    with pytest.raises(RuleError) as info:
        apply_cue(state, "goto", index=True)
    assert info.value.code == "invalid"
    with pytest.raises(RuleError) as info:
        apply_cue(state, "next", index=3)
    assert info.value.code == "invalid" and "only allowed with goto" in info.value.message


def test_blank_is_idempotent_and_survives_moving() -> None:
    state = apply_cue(CueState(index=1, count=3), "blank")
    assert state.blank
    assert apply_cue(state, "blank") == state
    # Blind navigation: move while blank, the screen stays blank until unblank.
    moved = apply_cue(apply_cue(state, "next"), "next")
    assert moved == CueState(index=3, blank=True, count=3)
    assert apply_cue(moved, "unblank") == CueState(index=3, blank=False, count=3)
    assert apply_cue(CueState(count=3), "unblank") == CueState(count=3)


def test_from_must_match_the_current_index() -> None:
    state = CueState(index=4, count=9)
    assert apply_cue(state, "next", expected_from=4).index == 5
    with pytest.raises(RuleError) as info:
        apply_cue(state, "next", expected_from=3)  # a second GO from a stale console
    assert info.value.code == "conflict" and "at 4, not 3" in info.value.message
    with pytest.raises(RuleError) as info:
        apply_cue(state, "blank", expected_from=5)
    assert info.value.code == "conflict"


def test_unknown_action_is_invalid() -> None:
    with pytest.raises(RuleError) as info:
        apply_cue(CueState(count=1), "jump")  # type: ignore[arg-type]
    assert info.value.code == "invalid"


@given(
    count=st.integers(0, 6),
    commands=st.lists(st.tuples(st.sampled_from(CUE_ACTIONS), st.integers(-2, 8)), max_size=30),
)
def test_any_sequence_of_commands_keeps_the_pointer_in_range(
    count: int, commands: list[tuple[CueAction, int]]
) -> None:
    state = CueState(count=count)
    refusals: set[str] = set()
    for action, number in commands:
        try:
            new = apply_cue(
                state,
                action,
                index=number if action == "goto" else None,
                expected_from=state.index,
            )
        except RuleError as exc:
            refusals.add(exc.code)
            continue
        assert 0 <= new.index <= count and new.count == count
        assert abs(new.index - state.index) <= 1 or action == "goto"
        state = new
    assert refusals <= {"conflict", "invalid"}


# -- the views ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def script() -> Script:
    return reading_script()


def test_view_before_the_first_cue(script: Script) -> None:
    view = cue_view(script, CueState(count=6), with_next=False)
    assert view == {
        "index": 0,
        "count": 6,
        "blank": False,
        "version": script.version,
        "languages": list(LANGS),
        "text": {},
        "follows": None,
    }


def test_audience_view_shows_the_current_cue_and_nothing_for_the_operator(script: Script) -> None:
    view = cue_view(script, CueState(index=2, count=6), with_next=False)
    assert view["text"] == EXPECTED[1]
    assert "notes" not in view and "next" not in view and "next_notes" not in view


def test_audience_view_while_blank_carries_no_text(script: Script) -> None:
    view = cue_view(script, CueState(index=2, blank=True, count=6), with_next=False)
    assert view["blank"] is True and view["text"] == {}


def test_operator_view_has_notes_and_the_next_cue(script: Script) -> None:
    view = cue_view(script, CueState(index=3, blank=True, count=6), with_next=True)
    assert view["text"] == EXPECTED[2]  # the operator still sees where the pointer is
    assert view["next"] == EXPECTED[3] and view["next_notes"] == NOTES[3]
    assert view["label"] == "3" and view["next_label"] == "4" and view["notes"] == ""
    start = cue_view(script, CueState(count=6), with_next=True)
    assert start["text"] == {} and start["notes"] == "" and start["next"] == EXPECTED[0]
    assert start["next_notes"] == NOTES[0]
    last = cue_view(script, CueState(index=6, count=6), with_next=True)
    assert last["notes"] == NOTES[5] and last["next"] == {} and last["next_notes"] == ""


def test_view_without_a_script() -> None:
    view = cue_view(None, CueState(), with_next=True)
    assert view["text"] == {} and view["next"] == {} and view["languages"] == []
