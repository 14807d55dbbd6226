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

from coordinator import cues
from coordinator.cues import ChannelName, CueState
from coordinator.protocol import CueCommand
from coordinator.rules import Actor, Role, RuleError

LIVE: ChannelName = "live"
REHEARSAL: ChannelName = "rehearsal"


def channel_key(city: str, channel: ChannelName = LIVE) -> str:
    """Where a channel's state is stored: ``paris`` (live) or ``paris#rehearsal``."""
    return city if channel == LIVE else f"{city}#{channel}"


def split_key(key: str) -> tuple[str, ChannelName]:
    city, _, channel = key.partition("#")
    return city, (REHEARSAL if channel == REHEARSAL else LIVE)


@dataclass(frozen=True)
class ChannelEvent:
    """An event a cue command makes: what the audience of ``city``'s channel receives
    (``data``, or nothing when ``audience`` is False) and what the city's staff receive."""

    city: str
    data: dict[str, Any]
    staff: dict[str, Any]
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
class Channels:
    """Every channel's stored state and every city's script: enough for any view."""

    states: Mapping[str, CueState]
    scripts: Mapping[str, cues.Script]

    def state(self, key: str) -> CueState:
        """The stored state, sized to the city's current script (a shorter new script
        clamps the pointer rather than pointing past its end)."""
        city, _ = split_key(key)
        stored = self.states.get(key, CueState())
        script = self.scripts.get(city)
        count = len(script.cues) if script is not None else 0
        return replace(
            stored,
            count=count,
            index=min(stored.index, count),
            shown_index=min(stored.shown_index, count),
        )

    def followers(self, city: str) -> list[str]:
        return sorted(
            key for key, s in self.states.items() if s.follows == city and split_key(key)[1] == LIVE
        )

    def public_view(self, key: str, state: CueState | None = None) -> dict[str, Any]:
        """What the channel's audience sees; a follower shows its leader's audience view."""
        city, channel = split_key(key)
        state = state if state is not None else self.state(key)
        if state.follows is not None:
            leader = self.state(state.follows)
            view = cues.cue_view(self.scripts.get(state.follows), leader, with_next=False)
            view["follows"] = state.follows
        else:
            view = cues.cue_view(self.scripts.get(city), state, with_next=False)
        view["channel"] = channel
        return view

    def staff_view(self, key: str, state: CueState | None = None) -> dict[str, Any]:
        """What the channel's operators see: their pointer, the next cue, and what the
        audience sees now (``shown``)."""
        city, channel = split_key(key)
        state = state if state is not None else self.state(key)
        view = cues.cue_view(self.scripts.get(city), state, with_next=True)
        if state.follows is not None:
            public = self.public_view(key, state)
            view["shown"] = {k: public[k] for k in ("index", "blank", "text")}
        view["channel"] = channel
        view["state"] = state_record(state)
        return view

    def with_state(self, key: str, state: CueState) -> Channels:
        return replace(self, states={**self.states, key: state})


def state_record(state: CueState) -> dict[str, Any]:
    """A channel's state as stored (count is not: it comes from the script)."""
    return {
        "index": state.index,
        "blank": state.blank,
        "frozen": state.frozen,
        "shown_index": state.shown_index,
        "shown_blank": state.shown_blank,
        "follows": state.follows,
    }


def state_from_record(data: Mapping[str, Any]) -> CueState:
    return CueState(
        index=int(data.get("index", 0)),
        blank=bool(data.get("blank", False)),
        frozen=bool(data.get("frozen", False)),
        shown_index=int(data.get("shown_index", 0)),
        shown_blank=bool(data.get("shown_blank", False)),
        follows=data.get("follows"),
    )


def _authorize(actor: Actor, city: str) -> None:
    if actor.may_cue(city):
        return
    if actor.role is Role.PUBLIC:
        raise RuleError("unauthorized", "sign in with an operator token to cue")
    raise RuleError("forbidden", f"a {actor.role} of {actor.city!r} may not cue {city!r}")


def plan_cue_command(
    command: CueCommand, actor: Actor, channels: Channels, known_cities: frozenset[str]
) -> CuePlan:
    """Check a cue command against the rules and compute its effect, or raise RuleError."""
    _authorize(actor, command.city)
    key = channel_key(command.city, command.channel)
    before = channels.state(key)
    if command.action == "follow":
        target = command.target or ""
        if target not in known_cities:
            raise RuleError("not_found", f"no city {target!r} in this event")
        if target not in channels.scripts:
            raise RuleError("conflict", f"{target} has no cue script to follow")
        after = cues.start_following(
            before,
            channels.state(target),
            follower_city=command.city,
            leader_city=target,
            follower_is_followed=bool(channels.followers(command.city)),
        )
    elif command.action == "unfollow":
        after = cues.stop_following(before)
    else:
        if command.city not in channels.scripts:
            raise RuleError("conflict", f"{command.city} has no cue script loaded")
        after = cues.apply_cue(
            before, command.action, index=command.index, expected_from=command.expected_from
        )
    updated = channels.with_state(key, after)
    public_before = channels.public_view(key, before)
    public_after = updated.public_view(key, after)
    audience_changed = _shown(public_before) != _shown(public_after) or command.action == "refresh"
    events = [
        ChannelEvent(
            city=command.city,
            data=public_after,
            staff=updated.staff_view(key, after),
            # Moves of a frozen channel reach its operators only; its screens hear nothing
            # until release.
            audience=audience_changed or before.follows != after.follows,
        )
    ]
    log: list[tuple[str, int, bool]] = []
    if command.channel == LIVE and audience_changed:
        log.append((command.city, public_after["index"], public_after["blank"]))
        for follower in channels.followers(command.city):
            view = updated.public_view(follower)
            events.append(
                ChannelEvent(
                    city=follower, data=view, staff=updated.staff_view(follower), audience=True
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
