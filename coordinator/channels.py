"""Cue channels across cities: live and rehearsal channels, freezing, following. No I/O.

Each city has a live channel (what its projector and phones show) and a rehearsal channel
beside it (its own position and displays, never seen by the audience). A live channel may
follow another city's live channel: its screens then mirror the leader's, and its own moves
are refused until it unfollows. :func:`plan_cue_command` turns one cue command into the new
state and the events every backend stores atomically: one for the channel, one more for each
city following it whose screens change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from coordinator import cue_state
from coordinator.cue_state import ChannelName, CueState
from coordinator.protocol import CueCommand
from coordinator.rules import Actor, Role, RuleError
from coordinator.scripts.model import Script

LIVE: ChannelName = "live"
REHEARSAL: ChannelName = "rehearsal"


def cue_key(city: str, channel: ChannelName = LIVE) -> str:
    """A channel's cue key, where its state is stored: ``paris`` (live) or
    ``paris#rehearsal``."""
    return city if channel == LIVE else f"{city}#{channel}"


def split_cue_key(key: str) -> tuple[str, ChannelName]:
    city, _, channel = key.partition("#")
    return city, (REHEARSAL if channel == REHEARSAL else LIVE)


@dataclass(frozen=True)
class ChannelEvent:
    """An event a cue command makes: what the audience of ``city``'s channel receives
    (``data``, or nothing when ``audience`` is False) and what the city's operators receive
    (``operator_data``)."""

    city: str
    data: dict[str, Any]
    operator_data: dict[str, Any]
    audience: bool


@dataclass(frozen=True)
class CuePlan:
    key: str
    before: CueState
    after: CueState
    events: list[ChannelEvent]
    # (city, index, blank): live channels whose audience view changed, for the cue logs
    log: list[tuple[str, int, bool]] = field(default_factory=list)


@dataclass(frozen=True)
class CueBoard:
    """Every channel's stored state (by cue key) and every city's script: enough for any
    view."""

    states: Mapping[str, CueState]
    scripts: Mapping[str, Script]
    # Cities the config gives surtitles, with or without a script of their own.
    surtitled: frozenset[str] = frozenset()

    def state(self, key: str) -> CueState:
        """The stored state, sized to the city's current script (a shorter new script
        clamps the pointer rather than pointing past its end)."""
        city, _ = split_cue_key(key)
        stored = self.states.get(key, CueState())
        script = self.scripts.get(city)
        count = len(script.cues) if script is not None else 0
        return replace(
            stored,
            count=count,
            index=min(stored.index, count),
            shown_index=min(stored.shown_index, count),
        )

    def cities(self) -> list[str]:
        """The cities whose screens show surtitles: those with a script, those the config
        gives surtitles, and those whose live channel follows another city (a city without a
        script of its own may follow)."""
        following = [
            split_cue_key(key)[0]
            for key, s in self.states.items()
            if s.follows is not None and split_cue_key(key)[1] == LIVE
        ]
        return list(dict.fromkeys([*self.scripts, *sorted(self.surtitled), *following]))

    def followers(self, city: str) -> list[str]:
        return sorted(
            key
            for key, s in self.states.items()
            if s.follows == city and split_cue_key(key)[1] == LIVE
        )

    def public_view(self, key: str, state: CueState | None = None) -> dict[str, Any]:
        """What the channel's audience sees; a follower shows its leader's audience view."""
        city, channel = split_cue_key(key)
        state = state if state is not None else self.state(key)
        if state.follows is not None:
            leader = self.state(state.follows)
            view = cue_state.cue_view(self.scripts.get(state.follows), leader, with_next=False)
            view["follows"] = state.follows
        else:
            view = cue_state.cue_view(self.scripts.get(city), state, with_next=False)
        view["channel"] = channel
        return view

    def operator_view(self, key: str, state: CueState | None = None) -> dict[str, Any]:
        """What the channel's operators see: their pointer, the next cue, and what the
        audience sees now (``shown``)."""
        city, channel = split_cue_key(key)
        state = state if state is not None else self.state(key)
        view = cue_state.cue_view(self.scripts.get(city), state, with_next=True)
        if state.follows is not None:
            public = self.public_view(key, state)
            view["shown"] = {k: public[k] for k in ("index", "blank", "text")}
        view["channel"] = channel
        view["state"] = state_fields(state)
        return view

    def with_state(self, key: str, state: CueState) -> CueBoard:
        return replace(self, states={**self.states, key: state})


def state_fields(state: CueState) -> dict[str, Any]:
    """A channel's state in the operator's view (``count`` is not: it comes from the script).
    The store keeps the same fields (``state/records.py``)."""
    return {
        "index": state.index,
        "blank": state.blank,
        "frozen": state.frozen,
        "shown_index": state.shown_index,
        "shown_blank": state.shown_blank,
        "follows": state.follows,
    }


def _authorize(actor: Actor, city: str) -> None:
    if actor.may_cue(city):
        return
    if actor.role is Role.PUBLIC:
        raise RuleError("unauthorized", "sign in with an operator token to cue")
    raise RuleError("forbidden", f"a {actor.role} of {actor.city!r} may not cue {city!r}")


def plan_cue_command(
    command: CueCommand, actor: Actor, board: CueBoard, known_cities: frozenset[str]
) -> CuePlan:
    """Check a cue command against the rules and compute its effect, or raise RuleError."""
    _authorize(actor, command.city)
    key = cue_key(command.city, command.channel)
    before = board.state(key)
    if command.action == "follow":
        target = command.target or ""
        if target not in known_cities:
            raise RuleError("not_found", f"no city {target!r} in this event")
        if target not in board.scripts:
            raise RuleError("conflict", f"{target} has no cue script to follow")
        after = cue_state.start_following(
            before,
            board.state(target),
            follower_city=command.city,
            leader_city=target,
            follower_is_followed=bool(board.followers(command.city)),
        )
    elif command.action == "unfollow":
        after = cue_state.stop_following(before)
    else:
        if command.city not in board.scripts:
            raise RuleError("conflict", f"{command.city} has no cue script loaded")
        after = cue_state.apply_cue(
            before, command.action, index=command.index, expected_from=command.expected_from
        )
    updated = board.with_state(key, after)
    public_before = board.public_view(key, before)
    public_after = updated.public_view(key, after)
    audience_changed = _shown(public_before) != _shown(public_after) or command.action == "refresh"
    events = [
        ChannelEvent(
            city=command.city,
            data=public_after,
            operator_data=updated.operator_view(key, after),
            # Moves of a frozen channel reach its operators only; its screens hear nothing
            # until release.
            audience=audience_changed or before.follows != after.follows,
        )
    ]
    log: list[tuple[str, int, bool]] = []
    if command.channel == LIVE and audience_changed:
        log.append((command.city, public_after["index"], public_after["blank"]))
        for follower in board.followers(command.city):
            view = updated.public_view(follower)
            events.append(
                ChannelEvent(
                    city=follower,
                    data=view,
                    operator_data=updated.operator_view(follower),
                    audience=True,
                )
            )
            log.append((follower, view["index"], view["blank"]))
    return CuePlan(key=key, before=before, after=after, events=events, log=log)


def _shown(view: Mapping[str, Any]) -> tuple[Any, ...]:
    """The part of a public view a screen shows."""
    return (view["index"], view["blank"], view["version"], tuple(sorted(view["text"].items())))


def summary(state: CueState) -> str:
    """A short text of a channel's state, for the audit log."""
    parts = [str(state.index)]
    if state.blank:
        parts.append("blank")
    if state.frozen:
        parts.append(f"frozen at {state.shown_index}")
    if state.follows:
        parts.append(f"follows {state.follows}")
    return " ".join(parts)
