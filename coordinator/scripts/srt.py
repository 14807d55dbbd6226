"""SubRip (``.srt``) files, by the de-facto rules the common players and libraries share:
a cue is its number, a timing line and text lines; a blank line ends it, and so does the next
cue's number and timing line when the blank line between them is missing (rather than
showing them as text). Pure: text in, cues out."""

from __future__ import annotations

import re

from coordinator.scripts import markup
from coordinator.scripts.damage import damage
from coordinator.scripts.model import SubtitleCue
from coordinator.scripts.problems import Problems
from coordinator.scripts.rows import HINT_BLANK, check_labels, cue_text

_TIME = r"(\d+):([0-5]\d):([0-5]\d)[,.](\d{3})"
_TIMING_RE = re.compile(rf"{_TIME}[ \t]*-->[ \t]*{_TIME}(?:[ \t].*)?")
EXAMPLE = "00:00:01,000 --> 00:00:02,500"


def timing(line: str) -> tuple[int, int] | None:
    match = _TIMING_RE.fullmatch(line.strip())
    if match is None:
        return None
    h1, m1, s1, ms1, h2, m2, s2, ms2 = (int(g) for g in match.groups())
    return ((h1 * 60 + m1) * 60 + s1) * 1000 + ms1, ((h2 * 60 + m2) * 60 + s2) * 1000 + ms2


def blocks(text: str) -> list[list[tuple[int, str]]]:
    """Runs of non-blank lines, each line with its 1-based number."""
    lines = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    found: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            current.append((number, line.rstrip()))
        elif current:
            found.append(current)
            current = []
    if current:
        found.append(current)
    return found


def _starts(block: list[tuple[int, str]]) -> list[int]:
    """Where each cue of a block starts: at each line with ``-->``, or at the cue number just
    above it. A number directly above a timing line is always read as the next cue's number."""
    starts: list[int] = []
    previous_timing = -1
    for i, (_, line) in enumerate(block):
        if "-->" not in line:
            continue
        number_above = i - 1 > previous_timing and re.fullmatch(r"[0-9]+", block[i - 1][1].strip())
        starts.append(i - 1 if number_above else i)
        previous_timing = i
    if re.fullmatch(r"[0-9]+", block[0][1].strip()) and starts[:1] != [0]:
        starts.insert(0, 0)  # a cue number, then a timing line that lacks its arrow
    return starts


def parse_srt(text: str, source: str) -> list[SubtitleCue]:
    """The cues of a SubRip file. Raises :class:`ScriptError` naming every problem."""
    problems = Problems(source)
    cues: list[SubtitleCue] = []
    for block in blocks(text):
        starts = _starts(block)
        if not starts or starts[0] > 0:
            line, first = block[0]
            problems.add(
                line,
                f"expected a cue number and a timing line, found {first.strip()!r} "
                "(a blank line inside a cue ends it)",
            )
        for k, start in enumerate(starts):
            end = starts[k + 1] if k + 1 < len(starts) else len(block)
            cue = _cue(block[start:end], len(cues) + 1, problems)
            if cue is not None:
                cues.append(cue)
    check_labels([(cue.label, cue.line) for cue in cues], problems)
    problems.raise_if_any()
    return cues


def _cue(lines: list[tuple[int, str]], number: int, problems: Problems) -> SubtitleCue | None:
    mark = len(problems.warned)
    line, first = lines[0]
    label = ""
    if "-->" not in first:
        label = first.strip()
        if len(lines) == 1:
            problems.add(line, f"expected a timing line after {label!r} ({EXAMPLE})")
            return None
        lines = lines[1:]
    timing_line, timing_text = lines[0]
    span = timing(timing_text)
    if span is None:
        problems.add(timing_line, f"bad timing line {timing_text!r} (expected {EXAMPLE})")
        span = (0, 0)
    elif span[1] < span[0]:
        problems.warn(timing_line, f"cue {number} ends before it starts (timings are not used)")
    body = lines[1:]
    first_text = body[0][0] if body else timing_line
    raw = "\n".join(text for _, text in body)
    shown = markup.from_srt(raw, first_text, problems.warn)
    cleaned = cue_text(shown)
    if cleaned is None:
        problems.add(line, f"empty cue {number} ({HINT_BLANK})")
    elif (why := damage(markup.plain(cleaned))) is not None:
        problems.add(first_text, f"cue {number}: {why}")
    return SubtitleCue(
        line,
        label,
        cleaned or "",
        start_ms=span[0],
        end_ms=span[1],
        warnings=problems.warnings_since(mark),
    )
