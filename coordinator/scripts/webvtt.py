"""WebVTT files cut into cues as the WebVTT parser algorithm does (W3C WebVTT, "WebVTT parser
algorithm", "collect a WebVTT block", "collect WebVTT cue timings and settings"), which is what
browsers and the web-platform-tests expect. Pure: text in, cues out.

Where the algorithm silently drops a block (a timing line it cannot read, text with no timing
line), :func:`cut` returns the cue list the algorithm would give *and* each dropped block with
its line and the cause: the script loader refuses such a file rather than lose a line of the
reading without a word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# "ASCII whitespace" in the WebVTT and HTML standards: tab, LF, form feed, CR, space.
WHITESPACE = "\t\n\f\r "
_SIGNATURE_RE = re.compile(r"WEBVTT(?:[ \t\n]|$)")
_IGNORED_BLOCK_RE = re.compile(r"(?:NOTE|STYLE|REGION)(?:[ \t]|$)")


@dataclass(frozen=True)
class VttCue:
    line: int  # the block's first line (the identifier's, or the timing line's)
    identifier: str
    start_ms: int
    end_ms: int
    settings: str
    text: str  # the cue text as written: markup and character references not yet read
    text_line: int  # the line of the text's first line


@dataclass(frozen=True)
class Dropped:
    line: int
    cause: str


@dataclass
class VttFile:
    cues: list[VttCue] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)


def normalise(text: str) -> str:
    """The algorithm's input: NULs replaced, CRLF and CR turned into LF."""
    return text.replace("\0", "\ufffd").replace("\r\n", "\n").replace("\r", "\n")


def is_webvtt(text: str) -> bool:
    """Whether the text starts with the WebVTT signature (after an optional byte-order mark)."""
    return _SIGNATURE_RE.match(normalise(text).removeprefix("\ufeff")) is not None


def cut(text: str) -> VttFile:
    """The cues of a WebVTT file, and the blocks the algorithm drops. The caller checks the
    signature first (:func:`is_webvtt`)."""
    lines = normalise(text).removeprefix("\ufeff").split("\n")
    result = VttFile()
    if len(lines) == 1:
        return result  # only the signature line
    # A header (text after the signature line) is read as a block and ignored.
    i = _Block(lines, 1, in_header=True).collect(result) if lines[1] != "" else 2
    i = _skip_empty(lines, i)
    while not _at_end(lines, i):
        i = _Block(lines, i, in_header=False).collect(result)
        i = _skip_empty(lines, i)
    return result


def _at_end(lines: list[str], i: int) -> bool:
    return i >= len(lines) or (i == len(lines) - 1 and lines[i] == "")


def _skip_empty(lines: list[str], i: int) -> int:
    while i < len(lines) - 1 and lines[i] == "":
        i += 1
    return i


class _Block:
    """One run of "collect a WebVTT block", over lines instead of code points."""

    def __init__(self, lines: list[str], start: int, *, in_header: bool) -> None:
        self.lines = lines
        self.start = start
        self.in_header = in_header

    def collect(self, result: VttFile) -> int:
        """Read the block from ``start``; add its cue or its drop to ``result``; return where
        the next block starts."""
        lines, i = self.lines, self.start
        line_count, previous = 0, i
        buffer: list[str] = []
        seen_arrow = False
        timing: tuple[int, int, str] | None = None
        timing_line = identifier_line = 0
        identifier = ""
        bad_timing: Dropped | None = None
        while True:
            line = lines[i]
            number = i + 1
            line_count += 1
            seen_eof = i == len(lines) - 1
            i += 1
            if "-->" in line:
                if not self.in_header and (line_count == 1 or (line_count == 2 and not seen_arrow)):
                    seen_arrow = True
                    previous = i
                    timing = parse_timing(line)
                    if timing is None:
                        bad_timing = Dropped(number, f"bad timing line {line!r}")
                    else:
                        identifier, identifier_line = "\n".join(buffer), self.start + 1
                        buffer, timing_line = [], number
                else:
                    i = previous
                    break
            elif line == "":
                break
            else:
                buffer.append(line)
                previous = i
            if seen_eof:
                break
        if self.in_header:
            return i
        if timing is not None:
            start_ms, end_ms, settings = timing
            result.cues.append(
                VttCue(
                    line=identifier_line if identifier else timing_line,
                    identifier=identifier,
                    start_ms=start_ms,
                    end_ms=end_ms,
                    settings=settings,
                    text="\n".join(buffer),
                    text_line=timing_line + 1,
                )
            )
        elif bad_timing is not None:
            result.dropped.append(bad_timing)
        elif buffer and not _IGNORED_BLOCK_RE.match(buffer[0]):
            result.dropped.append(
                Dropped(
                    self.start + 1,
                    f"text with no timing line ({buffer[0][:40]!r}): is a timing line "
                    "missing, or does a blank line split a cue?",
                )
            )
        return i


def parse_timing(line: str) -> tuple[int, int, str] | None:
    """``(start_ms, end_ms, settings)`` of a cue timing line, or None where the algorithm fails:
    one-digit hours, a glued ``-->`` and settings glued to the end time are all valid."""
    reader = _Reader(line)
    reader.skip_whitespace()
    start = reader.timestamp()
    if start is None:
        return None
    reader.skip_whitespace()
    if not reader.take("-->"):
        return None
    reader.skip_whitespace()
    end = reader.timestamp()
    if end is None:
        return None
    return start, end, reader.rest().strip(WHITESPACE)


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_whitespace(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in WHITESPACE:
            self.pos += 1

    def take(self, literal: str) -> bool:
        if self.text.startswith(literal, self.pos):
            self.pos += len(literal)
            return True
        return False

    def digits(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in "0123456789":
            self.pos += 1
        return self.text[start : self.pos]

    def rest(self) -> str:
        return self.text[self.pos :]

    def timestamp(self) -> int | None:
        """ "Collect a WebVTT timestamp", in milliseconds."""
        first = self.digits()
        if not first:
            return None
        hours_given = len(first) != 2 or int(first) > 59
        if not self.take(":"):
            return None
        second = self.digits()
        if len(second) != 2:
            return None
        if hours_given or self.text.startswith(":", self.pos):
            if not self.take(":"):
                return None
            third = self.digits()
            if len(third) != 2:
                return None
            hours, minutes, seconds = int(first), int(second), int(third)
        else:
            hours, minutes, seconds = 0, int(first), int(second)
        if not self.take("."):
            return None
        millis = self.digits()
        if len(millis) != 3 or minutes > 59 or seconds > 59:
            return None
        return ((hours * 60 + minutes) * 60 + seconds) * 1000 + int(millis)
