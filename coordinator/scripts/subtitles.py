"""SubRip (``.srt``) and WebVTT (``.vtt``) files: one language per file, aligned cue by cue
into one script. Timings are read and checked, then dropped: the operator cues by hand."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from coordinator.config import LANGUAGE_RE
from coordinator.scripts.model import Cue, Script, ScriptError, SubtitleCue
from coordinator.scripts.srt import parse_srt
from coordinator.scripts.vtt import parse_vtt


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
            cues = _parse(file_format, text, source)
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
        speaker = next((c.speaker for c in row.values() if c.speaker), "")
        warnings = tuple(w for c in row.values() for w in c.warnings)
        notes = f"voice: {speaker}" if speaker else ""
        cues.append(Cue(number=i + 1, text=text, label=label, notes=notes, warnings=warnings))
    sources = " + ".join(source for source, _ in tracks.values())
    return Script(
        cues=tuple(cues),
        languages=tuple(tracks),
        source=sources,
        warnings=tuple(w for cue in cues for w in cue.warnings),
    )


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


def _parse(file_format: str, text: str, source: str) -> list[SubtitleCue]:
    return parse_srt(text, source) if file_format == "srt" else parse_vtt(text, source)
