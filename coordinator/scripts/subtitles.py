"""SubRip (``.srt``) and WebVTT (``.vtt``) files: one language per file, aligned cue by cue
into one script. Timings are read and checked, then dropped: the operator cues by hand."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from coordinator.config import LANGUAGE_RE
from coordinator.scripts.caps import check_cue_text
from coordinator.scripts.model import Cue, Script, ScriptError
from coordinator.scripts.problems import Problems
from coordinator.scripts.rows import HINT_BLANK, check_labels, cue_text


@dataclass(frozen=True)
class SubtitleCue:
    """One cue of an SRT or VTT file: one language, with its timing in milliseconds."""

    line: int  # the block's first line in the file
    label: str  # SRT index or VTT identifier, "" if none
    text: str  # "" for a deliberate blank
    start_ms: int
    end_ms: int


_SRT_TIME = r"(\d+):([0-5]\d):([0-5]\d)[,.](\d{3})"
_VTT_TIME = r"(?:(\d{2,}):)?([0-5]\d):([0-5]\d)\.(\d{3})"
_SRT_TIMING = re.compile(rf"{_SRT_TIME}[ \t]*-->[ \t]*{_SRT_TIME}(?:[ \t].*)?")
_VTT_TIMING = re.compile(rf"{_VTT_TIME}[ \t]+-->[ \t]+{_VTT_TIME}(?:[ \t].*)?")
_SRT_EXAMPLE = "00:00:01,000 --> 00:00:02,500"
_VTT_EXAMPLE = "00:01.000 --> 00:02.500, hours optional"


def _lines(text: str) -> list[str]:
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    return text.split("\n")


def _blocks(lines: list[str]) -> list[list[tuple[int, str]]]:
    """Runs of non-blank lines, each line with its 1-based number."""
    blocks: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            current.append((number, line.rstrip()))
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def _timing(pattern: re.Pattern[str], line: str) -> tuple[int, int] | None:
    match = pattern.fullmatch(line.strip())
    if match is None:
        return None
    h1, m1, s1, ms1, h2, m2, s2, ms2 = (int(g) if g else 0 for g in match.groups())
    return ((h1 * 60 + m1) * 60 + s1) * 1000 + ms1, ((h2 * 60 + m2) * 60 + s2) * 1000 + ms2


def _subtitle_cues(
    blocks: list[list[tuple[int, str]]], problems: Problems, *, vtt: bool
) -> list[SubtitleCue]:
    """The cues of an SRT or VTT file's blocks (for VTT, the header block already dropped).

    A block is an optional first line (SRT: the cue number; VTT: an identifier), the timing
    line, and the text lines.
    """
    pattern, example = (_VTT_TIMING, _VTT_EXAMPLE) if vtt else (_SRT_TIMING, _SRT_EXAMPLE)
    cues: list[SubtitleCue] = []
    for block in blocks:
        line, first = block[0]
        label = ""
        if "-->" not in first:
            label = first.strip()
            if not vtt and not re.fullmatch(r"[0-9]+", label):
                problems.add(
                    line,
                    f"expected a cue number and a timing line, found {label!r} "
                    "(a blank line inside a cue ends it)",
                )
                continue
            if len(block) == 1:
                problems.add(line, f"expected a timing line after {label!r} ({example})")
                continue
            block = block[1:]
        number = len(cues) + 1
        timing_line, timing = block[0]
        span = _timing(pattern, timing)
        if span is None:
            problems.add(timing_line, f"bad timing line {timing!r} (expected {example})")
            span = (0, 0)
        elif span[1] < span[0]:
            problems.add(timing_line, f"cue {number} ends before it starts")
        body = "\n".join(text for _, text in block[1:])
        text = cue_text(html.unescape(body) if vtt else body)
        if text is None:
            problems.add(line, f"empty cue {number} ({HINT_BLANK})")
        else:
            check_cue_text(text, line, problems, f"cue {number}")
        cues.append(SubtitleCue(line, label, text or "", start_ms=span[0], end_ms=span[1]))
    check_labels([(cue.label, cue.line) for cue in cues], problems)
    problems.raise_if_any()
    return cues


def parse_srt(text: str, source: str) -> list[SubtitleCue]:
    """The cues of a SubRip file: blocks of a cue number, a timing line and text lines."""
    return _subtitle_cues(_blocks(_lines(text)), Problems(source), vtt=False)


def parse_vtt(text: str, source: str) -> list[SubtitleCue]:
    """The cues of a WebVTT file. NOTE, STYLE and REGION blocks and cue settings are ignored;
    character references are decoded (``&amp;`` is ``&``), tags are kept as written."""
    lines = _lines(text)
    if not re.match(r"WEBVTT(?:[ \t]|$)", lines[0]):
        raise ScriptError([f"{source}:1: not a WebVTT file: the first line must be WEBVTT"])
    blocks = [
        block
        for block in _blocks(lines)[1:]  # the first block is the WEBVTT header
        if not re.match(r"NOTE(?:[ \t]|$)", block[0][1])
        and block[0][1].strip() not in ("STYLE", "REGION")
    ]
    return _subtitle_cues(blocks, Problems(source), vtt=True)


def align_texts(
    texts: Iterable[tuple[str, str, str, str]], problems: list[str] | None = None
) -> Script:
    """One script from SRT/VTT texts ``(language, source, format, text)``, every problem
    reported together (appended to ``problems``, which the caller may fill meanwhile)."""
    problems = problems if problems is not None else []
    parsed: dict[str, tuple[str, list[SubtitleCue]]] = {}
    for language, source, file_format, text in texts:
        if not LANGUAGE_RE.fullmatch(language):
            problems.append(f"{source}: {language!r} is not a language code such as en or fr")
            continue
        try:
            cues = parse_srt(text, source) if file_format == "srt" else parse_vtt(text, source)
        except ScriptError as exc:
            problems.extend(exc.problems)
            continue
        if not cues:
            problems.append(f"{source}: no cues")
            continue
        parsed[language] = (source, cues)
    if problems:
        raise ScriptError(problems)
    return align(parsed)


def align(tracks: Mapping[str, tuple[str, Sequence[SubtitleCue]]]) -> Script:
    """One script from per-language cue lists ``{language: (source, cues)}``, cue by cue.

    Different counts are an error; when the files share their timings, the message says where
    they first part ways, which is usually where a cue was merged, split or lost.
    """
    (ref_source, ref_cues), *others = tracks.values()
    problems: list[str] = []
    for source, track_cues in others:
        if len(track_cues) != len(ref_cues):
            problems.append(_count_problem((ref_source, ref_cues), (source, track_cues)))
    if problems:
        raise ScriptError(problems)
    cues: list[Cue] = []
    for i in range(len(ref_cues)):
        row = {language: track[1][i] for language, track in tracks.items()}
        label = next((c.label for c in row.values() if c.label), "")
        text = {language: c.text for language, c in row.items()}
        cues.append(Cue(number=i + 1, text=text, label=label))
    sources = " + ".join(source for source, _ in tracks.values())
    return Script(cues=tuple(cues), languages=tuple(tracks), source=sources)


def _count_problem(
    a: tuple[str, Sequence[SubtitleCue]], b: tuple[str, Sequence[SubtitleCue]]
) -> str:
    (long_source, long_cues), (short_source, short_cues) = sorted(
        [a, b], key=lambda track: -len(track[1])
    )
    extra = long_cues[len(short_cues)]
    return (
        f"{long_source}:{extra.line}: {len(long_cues)} cues here but {len(short_cues)} in "
        f"{short_source} (the files must match cue by cue): cue {len(short_cues) + 1} "
        "here has no counterpart" + _divergence_hint(a, b)
    )


def _divergence_hint(
    a: tuple[str, Sequence[SubtitleCue]], b: tuple[str, Sequence[SubtitleCue]]
) -> str:
    """Where two files' timings first differ, if they start out the same."""
    for i, (x, y) in enumerate(zip(a[1], b[1], strict=False)):
        if (x.start_ms, x.end_ms) != (y.start_ms, y.end_ms):
            if i == 0:
                return ""  # timed separately: the timings give no clue
            return (
                f"; their timings first differ at cue {i + 1} ({a[0]}:{x.line}, "
                f"{b[0]}:{y.line}): was a cue merged, split or lost there?"
            )
    return ""
