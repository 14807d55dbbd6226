"""WebVTT (``.vtt``) files: cut into cues by the WebVTT parser algorithm
(:mod:`coordinator.scripts.webvtt`), their cue text read into the screens' markup
(:func:`markup.from_webvtt`). A block the algorithm would drop is refused instead, with its
line: a lost line of the reading would shift every later cue."""

from __future__ import annotations

from coordinator.scripts import markup, webvtt
from coordinator.scripts.damage import damage
from coordinator.scripts.model import ScriptError, SubtitleCue
from coordinator.scripts.problems import Problems
from coordinator.scripts.rows import HINT_BLANK, check_labels, cue_text

EXAMPLE = "00:01.000 --> 00:02.500, hours optional"


def parse_vtt(text: str, source: str) -> list[SubtitleCue]:
    """The cues of a WebVTT file. NOTE, STYLE and REGION blocks and cue settings are ignored.
    Raises :class:`ScriptError` naming every problem."""
    if not webvtt.is_webvtt(text):
        raise ScriptError([f"{source}:1: not a WebVTT file: the first line must be WEBVTT"])
    found = webvtt.cut(text)
    problems = Problems(source)
    for dropped in found.dropped:
        problems.add(dropped.line, f"{dropped.cause} (expected {EXAMPLE})")
    cues = [_cue(cue, number, problems) for number, cue in enumerate(found.cues, start=1)]
    check_labels([(cue.label, cue.line) for cue in cues], problems)
    problems.raise_if_any()
    return cues


def _cue(cue: webvtt.VttCue, number: int, problems: Problems) -> SubtitleCue:
    mark = len(problems.warned)
    if cue.end_ms < cue.start_ms:
        problems.warn(
            cue.text_line - 1, f"cue {number} ends before it starts (timings are not used)"
        )
    read = markup.from_webvtt(cue.text, cue.text_line, problems.warn)
    cleaned = cue_text(read.text)
    if cleaned is None:
        problems.add(cue.line, f"empty cue {number} ({HINT_BLANK})")
    elif (why := damage(markup.plain(cleaned))) is not None:
        problems.add(cue.text_line, f"cue {number}: {why}")
    return SubtitleCue(
        line=cue.line,
        label=cue.identifier.strip(),
        text=cleaned or "",
        start_ms=cue.start_ms,
        end_ms=cue.end_ms,
        speaker=read.speaker,
        warnings=problems.warnings_since(mark),
    )
