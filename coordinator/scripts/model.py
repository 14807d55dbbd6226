"""The script as the rest of the server sees it: cues, their texts, and the error that names
every problem of a file. No parsing here."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

BLANK = "-"
"""The text of a deliberately blank cue in every script format."""

SAFE_TAGS = frozenset({"i", "b", "u"})
"""Inline tags a display may render (without attributes) and a WebVTT export keeps."""


class ScriptError(ValueError):
    """A script cannot be used. ``problems`` holds one ``FILE:LINE: message`` per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Cue:
    number: int  # 1-based position in the script (cue 1 is the first line)
    text: Mapping[str, str]  # language -> text; "" is a deliberate blank; line breaks kept
    notes: str = ""  # operator notes, never shown to the audience
    label: str = ""  # the number/label as written in the source file, if any
    warnings: tuple[str, ...] = ()  # FILE:LINE: what of the file this cue does not show


@dataclass(frozen=True)
class Script:
    cues: tuple[Cue, ...]
    languages: tuple[str, ...]
    source: str  # file name(s) for messages
    warnings: tuple[str, ...] = ()  # FILE:LINE: markup the screens will not show
    details: tuple[str, ...] = ()  # how the file was read, e.g. "separator ';'"

    @property
    def blank_count(self) -> int:
        """How many cues show nothing in any language."""
        return sum(1 for cue in self.cues if not any(cue.text.values()))

    @functools.cached_property
    def version(self) -> str:
        """A short hash of the cues' content: processes compare it to know they show the same
        script (an upload on one process reaches the others through it)."""
        body = json.dumps(
            [self.languages, [[c.label, dict(c.text), c.notes] for c in self.cues]],
            ensure_ascii=False,
            sort_keys=True,
        )
        return hashlib.sha256(body.encode("utf-8")).hexdigest()[:12]

    def as_json(self) -> dict[str, Any]:
        """The whole script, operator notes included (for staff only)."""
        return {
            "version": self.version,
            "languages": list(self.languages),
            "source": self.source,
            "cues": [
                {"number": c.number, "label": c.label, "text": dict(c.text), "notes": c.notes}
                for c in self.cues
            ],
        }


@dataclass(frozen=True)
class SubtitleCue:
    """One cue of an SRT or VTT file: one language, with its timing in milliseconds."""

    line: int  # the block's first line in the file
    label: str  # SRT index or VTT identifier, "" if none
    text: str  # cue text for the screens (see markup); "" for a deliberate blank
    start_ms: int
    end_ms: int
    speaker: str = ""  # a WebVTT voice (<v Name>), shown to the operator only
    warnings: tuple[str, ...] = ()  # FILE:LINE: what of this cue the screens will not show
