"""The cue pointer of one channel: the actions, the rules that move it, following another
city, and the view the screens and the operator receive. No I/O.

:func:`apply_cue` is the only place that moves a pointer (:class:`CueState`); :func:`cue_view`
is what the displays and the operator receive. The script is only read here (for the texts of
the views), never parsed: this module, and the protocol that imports its names, do not load
the script parsers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, get_args

from coordinator.rules import RuleError

if TYPE_CHECKING:
    from coordinator.scripts.model import Script

CueAction = Literal[
    "next",
    "prev",
    "goto",
    "blank",
    "unblank",
    "freeze",
    "release",
    "follow",
    "unfollow",
    "refresh",
]
CUE_ACTIONS: tuple[CueAction, ...] = get_args(CueAction)
MOVES = frozenset({"next", "prev", "goto", "blank", "unblank"})
ChannelName = Literal["live", "rehearsal"]
CHANNELS: tuple[ChannelName, ...] = get_args(ChannelName)


@dataclass(frozen=True)
class CueState:
    """A channel's cue pointer, and what its audience sees.

    ``blank`` is independent of the position: moving while blank stays blank, so an operator
    can blank, find the right cue unseen, and unblank (blind navigation). ``frozen`` goes
    further: the audience keeps seeing ``shown_index``/``shown_blank`` while the operator moves
    the pointer; ``release`` shows the pointer. ``follows`` names the city whose live channel
    this one mirrors; while it does, its own moves are refused (taking control back is an
    explicit ``unfollow``).
    """

    index: int = 0  # 0 = before the first cue, nothing shown; 1..count = that cue shown
    blank: bool = False
    count: int = 0
    frozen: bool = False
    shown_index: int = 0
    shown_blank: bool = False
    follows: str | None = None

    @property
    def audience(self) -> tuple[int, bool]:
        """What the audience sees of this channel's own script: (index, blank)."""
        return (self.shown_index, self.shown_blank) if self.frozen else (self.index, self.blank)


def apply_cue(
    state: CueState,
    action: CueAction,
    *,
    index: int | None = None,
    expected_from: int | None = None,
) -> CueState:
    """The channel's state after a cue command on this channel alone, or :class:`RuleError`.

    ``expected_from`` is the index the operator's console believed current: a different one
    means someone else moved the cue (or the console is stale), and the command is refused
    rather than applied twice. ``follow``/``unfollow`` involve a second channel: see
    :func:`start_following` and :func:`stop_following`.
    """
    if action not in CUE_ACTIONS or action in ("follow", "unfollow"):
        raise RuleError("invalid", f"unknown cue action {action!r} (use {', '.join(CUE_ACTIONS)})")
    if index is not None and action != "goto":
        raise RuleError("invalid", "index is only allowed with goto")
    if expected_from is not None and (
        isinstance(expected_from, bool) or not isinstance(expected_from, int)
    ):
        raise RuleError("invalid", "from must be a cue index")
    if state.follows is not None and action in MOVES | {"freeze"}:
        raise RuleError(
            "conflict",
            f"this channel follows {state.follows}; unfollow first to take control back",
        )
    if expected_from is not None and expected_from != state.index:
        raise RuleError(
            "conflict",
            f"the cue is at {state.index}, not {expected_from}: someone else moved it",
        )
    if action == "refresh":
        return state  # re-sent as is (after a script upload, or to wake a confused screen)
    if action == "freeze":
        if state.frozen:
            return state
        return replace(state, frozen=True, shown_index=state.index, shown_blank=state.blank)
    if action == "release":
        return replace(state, frozen=False, shown_index=0, shown_blank=False)
    if action == "next":
        if state.count == 0:
            raise RuleError("conflict", "there is no script to cue")
        if state.index >= state.count:
            raise RuleError("conflict", "already at the last cue")
        return replace(state, index=state.index + 1)
    if action == "prev":
        if state.index <= 0:
            raise RuleError("conflict", "already before the first cue")
        return replace(state, index=state.index - 1)
    if action == "goto":
        if index is None or isinstance(index, bool) or not isinstance(index, int):
            raise RuleError("invalid", "goto needs an index")
        if not 0 <= index <= state.count:
            raise RuleError("invalid", f"cue {index} does not exist (0 to {state.count})")
        return replace(state, index=index)
    return replace(state, blank=action == "blank")


def start_following(
    follower: CueState,
    leader: CueState,
    *,
    follower_city: str,
    leader_city: str,
    follower_is_followed: bool,
) -> CueState:
    """``follower`` starts mirroring ``leader``'s live channel. Chains are refused (the leader
    may not follow anyone, and nobody may follow the follower), so a screen always shows some
    operator's own channel and a follow can always be undone in one step."""
    if leader_city == follower_city:
        raise RuleError("invalid", "a channel cannot follow itself")
    if leader.follows is not None:
        raise RuleError("conflict", f"{leader_city} itself follows {leader.follows}")
    if follower_is_followed:
        raise RuleError(
            "conflict", f"other cities follow {follower_city}; they must unfollow first"
        )
    if follower.follows == leader_city:
        return follower
    return replace(follower, follows=leader_city, frozen=False, shown_index=0, shown_blank=False)


def stop_following(state: CueState) -> CueState:
    """Take control back: the channel shows its own pointer again."""
    return replace(state, follows=None)


def cue_view(script: Script | None, state: CueState, *, with_next: bool) -> dict[str, Any]:
    """A channel's state as JSON-ready data: the audience view, or with ``with_next`` the
    operator's (which adds the pointer's label and notes, the next cue, and what the audience
    sees now under ``shown``).

    In the audience view ``text`` is ``{}`` while blank, so a display that misses the flag
    still shows nothing; the operator view always carries the text at the pointer. While the
    channel is frozen, the audience view is the frozen one.
    """
    cues = script.cues if script is not None else ()
    index, blank = (state.index, state.blank) if with_next else state.audience
    current = cues[index - 1] if 1 <= index <= len(cues) else None
    shown = current is not None and (with_next or not blank)
    view: dict[str, Any] = {
        "index": index,
        "count": state.count,
        "blank": blank,
        "version": script.version if script is not None else "",
        "languages": list(script.languages) if script is not None else [],
        "text": dict(current.text) if current is not None and shown else {},
        "follows": state.follows,
    }
    if with_next:
        view["frozen"] = state.frozen
        upcoming = cues[index] if 0 <= index < len(cues) else None
        view["label"] = current.label if current is not None else ""
        view["notes"] = current.notes if current is not None else ""
        view["next"] = dict(upcoming.text) if upcoming is not None else {}
        view["next_label"] = upcoming.label if upcoming is not None else ""
        view["next_notes"] = upcoming.notes if upcoming is not None else ""
        audience = cue_view(script, state, with_next=False)
        view["shown"] = {k: audience[k] for k in ("index", "blank", "text")}
    return view
