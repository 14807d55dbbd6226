"""How far each city's reading is ahead of or behind a reference city, from the cue logs.
Pure: the logs in, the figures out.

Two cities read the same script. The drift in cues is the difference of their positions; the
drift in time compares when each first showed the latest cue both have reached: a city that
showed cue 40 three minutes after Paris did is three minutes behind Paris.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from coordinator.cue_log import CueLogEntry


@dataclass(frozen=True)
class Drift:
    index: int
    cues_ahead: int  # negative: behind
    seconds_behind: float | None  # negative: ahead; None: no cue shown by both yet

    def as_json(self) -> dict[str, int | float | None]:
        return {
            "index": self.index,
            "cues_ahead": self.cues_ahead,
            "seconds_behind": self.seconds_behind,
        }


def first_shown(log: Sequence[CueLogEntry]) -> dict[int, datetime]:
    """When each cue was first shown (not blank) in a log."""
    times: dict[int, datetime] = {}
    for entry in log:
        if entry.index > 0 and not entry.blank and entry.index not in times:
            times[entry.index] = entry.at
    return times


def drift(
    log: Sequence[CueLogEntry],
    index: int,
    reference_log: Sequence[CueLogEntry],
    reference_index: int,
) -> Drift | None:
    """The drift of a channel at ``index`` against the reference at ``reference_index``, or
    None until both have begun (shown a cue): a city that has not started is not "9 cues
    behind", it has not started."""
    mine, theirs = first_shown(log), first_shown(reference_log)
    if not mine or not theirs:
        return None
    common = [cue for cue in mine if cue in theirs and cue <= min(index, reference_index)]
    seconds = None
    if common:
        latest = max(common)
        seconds = round((mine[latest] - theirs[latest]).total_seconds(), 1)
    return Drift(index=index, cues_ahead=index - reference_index, seconds_behind=seconds)
