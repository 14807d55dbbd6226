"""Surtitle scripts and cue channels: parsing, the cue rules, and the cue log exports. No I/O
beyond reading the script files named to :func:`load_script` and :func:`check_files`.

Script files
============

A script is a list of cues; cue 1 is the first line shown. It comes from either

- **one file holding every language**: CSV (``.csv``), TSV (``.tsv``) or YAML (``.yaml``,
  ``.yml``); or
- **one file per language**: SubRip (``.srt``) or WebVTT (``.vtt``), aligned cue by cue (cue
  *n* of the French file translates cue *n* of the English one). Timings are read and checked,
  then dropped: the operator cues by hand.

CSV/TSV, as exported from a spreadsheet: a header row names the columns, e.g. ``n,en,fr,notes``.
``n`` (optional) is the cue number or label as the surtitler wrote it, ``notes`` (optional) is
for the operator and never shown to the audience, and every other column is a language code
(``en``, ``fr``, ``pt-BR``; lowercase). A quoted cell may hold line breaks; they are kept.
Empty rows at the end of the file are ignored.

YAML, the project's own form::

    languages: [en, fr]          # optional; default: the languages the cues use, in order
    cues:
      - n: "1"                   # optional label
        en: Welcome.
        fr: Bienvenue.
        notes: GO when the house lights dim.   # optional, operator only
      - en: |                    # a block scalar keeps line breaks
          We read together,
          in seven cities.
        fr: |
          Nous lisons ensemble,
          dans sept villes.
      - {en: "-", fr: "-"}       # a deliberate blank screen (quote the dash)

Every file is UTF-8; a byte-order mark and CRLF line ends are accepted.

Blank cues
----------
A cue whose text is exactly ``-`` (a single ASCII hyphen, surrounding spaces ignored) is a
**deliberate blank**: it holds a position in the script and shows nothing in that language; it
is stored as ``""``. A cue with no text at all (an empty cell, an SRT block with no text lines,
an empty row in the middle of a CSV) is reported as an error, because it is usually a mistake
that would shift every later cue.

Markup such as ``<i>...</i>`` is kept in the cue text as written; the pages escape it or render
only :data:`SAFE_TAGS`. WebVTT input differs in one way: its character
references (``&amp;``, ``&lt;``) are decoded, so an ``&`` reads the same from every format.

Problems
--------
Loading reports every problem at once in a :class:`ScriptError`, one line each, as
``FILE:LINE: message`` (or ``FILE: message`` when the problem is the whole file).

Cue channels and logs
=====================
:func:`apply_cue` is the only place that moves a cue pointer (:class:`CueState`);
:func:`cue_view` is what the displays and the operator receive. :func:`cue_log_csv` and
:func:`cue_log_vtt` turn a channel's log into files: a WebVTT export is the timing of the actual
performance. In it, ``<i>``, ``<b>`` and ``<u>`` (WebVTT's own tags, no attributes) are kept and
every other ``&``, ``<`` and ``>`` is escaped.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import html
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, NoReturn, get_args

import yaml

from coordinator.config import LANGUAGE_RE
from coordinator.rules import RuleError

BLANK = "-"
"""The text of a deliberately blank cue in every script format."""

SAFE_TAGS = frozenset({"i", "b", "u"})
"""Inline tags a display may render (without attributes) and a WebVTT export keeps."""

FORMATS = {".csv": "csv", ".tsv": "tsv", ".yaml": "yaml", ".yml": "yaml"}
SUBTITLE_FORMATS = {".srt": "srt", ".vtt": "vtt"}
_UTF8_BOM = b"\xef\xbb\xbf"
_HINT_BLANK = "write - for a deliberate blank screen"
_NO_LANGUAGE = "cannot tell the language from the file name; name it like my-hour.fr.srt"


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


@dataclass(frozen=True)
class Script:
    cues: tuple[Cue, ...]
    languages: tuple[str, ...]
    source: str  # file name(s) for messages

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
    text: str  # "" for a deliberate blank
    start_ms: int
    end_ms: int


# -- reading files ------------------------------------------------------------------------------


def read_text(path: Path) -> str:
    """A script file's text. Raises :class:`ScriptError` if it is missing or not UTF-8."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ScriptError([f"{path}: file not found"]) from None
    except OSError as exc:
        raise ScriptError([f"{path}: cannot read ({exc.strerror})"]) from None
    return decode(data, str(path))


def decode(data: bytes, source: str) -> str:
    """UTF-8 text without its byte-order mark; a bad byte is named with its line and offset."""
    skip = len(_UTF8_BOM) if data.startswith(_UTF8_BOM) else 0
    try:
        return data[skip:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = skip + exc.start
        line = data.count(b"\n", 0, offset) + 1
        utf16 = " (it looks like UTF-16)" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        raise ScriptError(
            [
                f"{source}:{line}: not UTF-8 text{utf16}: byte 0x{data[offset]:02X} at offset "
                f"{offset}; save the file as UTF-8"
            ]
        ) from None


def language_from_name(path: Path) -> str | None:
    """The language of a per-language file named like ``my-hour.fr.srt``, or None."""
    parts = path.name.split(".")
    if len(parts) >= 3 and LANGUAGE_RE.fullmatch(parts[-2]):
        return parts[-2]
    return None


def load_script(source: Path | Mapping[str, Path]) -> Script:
    """Read a script: one CSV, TSV or YAML file, or one SRT/VTT file per language.

    A single SRT/VTT path is accepted too when its name carries the language
    (``my-hour.fr.srt``). Raises :class:`ScriptError` naming every problem.
    """
    if isinstance(source, Mapping):
        return _load_tracks(source)
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix in SUBTITLE_FORMATS:
        language = language_from_name(path)
        if language is None:
            raise ScriptError([f"{path}: {_NO_LANGUAGE}"])
        return _load_tracks({language: path})
    kind = FORMATS.get(suffix)
    if kind is None:
        raise ScriptError([f"{path}: {_unknown_format(suffix)}"])
    text = read_text(path)
    if kind == "yaml":
        return parse_yaml(text, str(path))
    return parse_delimited(text, str(path), "," if kind == "csv" else "\t")


UPLOAD_KINDS = ("csv", "tsv", "yaml", "srt", "vtt")


def parse_upload(kind: str, files: Mapping[str, str], name: str = "upload") -> Script:
    """A script from uploaded text instead of files: ``kind`` csv, tsv or yaml with one text
    (any key), or srt or vtt with one text per language. Raises :class:`ScriptError`."""
    if kind not in UPLOAD_KINDS:
        raise ScriptError([f"{name}: unknown format {kind!r} (use {', '.join(UPLOAD_KINDS)})"])
    if not files:
        raise ScriptError([f"{name}: no script text given"])
    if kind in ("csv", "tsv", "yaml"):
        if len(files) != 1:
            raise ScriptError([f"{name}: a {kind} script is one text holding every language"])
        text = next(iter(files.values()))
        source = f"{name}.{kind}"
        if kind == "yaml":
            return parse_yaml(text, source)
        return parse_delimited(text, source, "," if kind == "csv" else "\t")
    return _align_texts((lang, f"{name}.{lang}.{kind}", kind, text) for lang, text in files.items())


def _unknown_format(suffix: str) -> str:
    name = suffix or "(no extension)"
    return f"unknown script format {name!r} (use .csv, .tsv, .yaml, .srt or .vtt)"


def _load_tracks(tracks: Mapping[str, Path]) -> Script:
    if not tracks:
        raise ScriptError(["no script files given"])
    problems: list[str] = []

    def texts() -> Iterator[tuple[str, str, str, str]]:
        # Read lazily, so problems keep the order of the files.
        for language, path in tracks.items():
            kind = SUBTITLE_FORMATS.get(path.suffix.lower())
            if kind is None:
                problems.append(f"{path}: one file per language must be .srt or .vtt")
                continue
            try:
                yield language, str(path), kind, read_text(path)
            except ScriptError as exc:
                problems.extend(exc.problems)

    return _align_texts(texts(), problems)


def _align_texts(
    texts: Iterable[tuple[str, str, str, str]], problems: list[str] | None = None
) -> Script:
    """One script from SRT/VTT texts ``(language, source, kind, text)``, every problem
    reported together (appended to ``problems``, which the caller may fill meanwhile)."""
    problems = problems if problems is not None else []
    parsed: dict[str, tuple[str, list[SubtitleCue]]] = {}
    for language, source, kind, text in texts:
        if not LANGUAGE_RE.fullmatch(language):
            problems.append(f"{source}: {language!r} is not a language code such as en or fr")
            continue
        try:
            cues = parse_srt(text, source) if kind == "srt" else parse_vtt(text, source)
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


# -- SRT and VTT --------------------------------------------------------------------------------

_SRT_TIME = r"(\d+):([0-5]\d):([0-5]\d)[,.](\d{3})"
_VTT_TIME = r"(?:(\d{2,}):)?([0-5]\d):([0-5]\d)\.(\d{3})"
_SRT_TIMING = re.compile(rf"{_SRT_TIME}[ \t]*-->[ \t]*{_SRT_TIME}(?:[ \t].*)?")
_VTT_TIMING = re.compile(rf"{_VTT_TIME}[ \t]+-->[ \t]+{_VTT_TIME}(?:[ \t].*)?")
_SRT_EXAMPLE = "00:00:01,000 --> 00:00:02,500"
_VTT_EXAMPLE = "00:01.000 --> 00:02.500, hours optional"


class _Problems:
    """The problems found in one file, reported in line order (line 0: the whole file)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.found: list[tuple[int, str]] = []

    def add(self, line: int, message: str) -> None:
        self.found.append((line, message))

    def __bool__(self) -> bool:
        return bool(self.found)

    def fail(self, line: int, message: str) -> NoReturn:
        """Add a problem that stops the reading, and raise with everything found so far."""
        self.add(line, message)
        self.raise_if_any()
        raise AssertionError("raise_if_any raises when there are problems")

    def raise_if_any(self) -> None:
        if self.found:
            ordered = sorted(self.found, key=lambda problem: problem[0])
            raise ScriptError(
                [f"{self.source}{f':{line}' if line else ''}: {text}" for line, text in ordered]
            )


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


def _cue_text(raw: str) -> str | None:
    """Cleaned cue text: "" for a deliberate blank, None when empty (a mistake)."""
    lines = [line.rstrip() for line in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    text = "\n".join(lines).strip()
    if not text:
        return None
    return "" if text == BLANK else text


def _subtitle_cues(
    blocks: list[list[tuple[int, str]]], problems: _Problems, *, vtt: bool
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
        text = _cue_text(html.unescape(body) if vtt else body)
        if text is None:
            problems.add(line, f"empty cue {number} ({_HINT_BLANK})")
        cues.append(SubtitleCue(line, label, text or "", start_ms=span[0], end_ms=span[1]))
    _check_labels([(cue.label, cue.line) for cue in cues], problems)
    problems.raise_if_any()
    return cues


def parse_srt(text: str, source: str) -> list[SubtitleCue]:
    """The cues of a SubRip file: blocks of a cue number, a timing line and text lines."""
    return _subtitle_cues(_blocks(_lines(text)), _Problems(source), vtt=False)


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
    return _subtitle_cues(blocks, _Problems(source), vtt=True)


def _check_labels(labels: Iterable[tuple[str, int]], problems: _Problems) -> None:
    seen: dict[str, int] = {}
    for label, line in labels:
        if label and label in seen:
            problems.add(line, f"cue number {label!r} is used twice (first on line {seen[label]})")
        elif label:
            seen[label] = line


# -- CSV, TSV and YAML --------------------------------------------------------------------------


@dataclass
class _Row:
    """One cue as read from a many-language file, before its texts are checked."""

    line: int
    label: str = ""
    notes: str = ""
    texts: dict[str, str | None] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)  # where each text is, if not `line`
    broken: bool = False  # already reported: keeps its place in the numbering, no more checks


def _build(rows: list[_Row], languages: Sequence[str], problems: _Problems) -> Script:
    cues: list[Cue] = []
    for number, row in enumerate(rows, start=1):
        text: dict[str, str] = {}
        for language in languages:
            value = _cue_text(row.texts.get(language) or "")
            if value is None and not row.broken:
                problems.add(
                    row.lines.get(language, row.line),
                    f"empty cue {number}: no {language!r} text ({_HINT_BLANK})",
                )
            text[language] = value or ""
        cues.append(Cue(number=number, text=text, notes=row.notes, label=row.label))
    _check_labels([(row.label, row.line) for row in rows], problems)
    if not rows and not problems:
        problems.add(0, "no cues")
    problems.raise_if_any()
    return Script(cues=tuple(cues), languages=tuple(languages), source=problems.source)


def parse_delimited(text: str, source: str, delimiter: str = ",") -> Script:
    """A CSV (``delimiter=","``) or TSV (``"\\t"``) script with a header row like ``n,en,fr``."""
    normalized = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    reader = csv.reader(io.StringIO(normalized, newline=""), delimiter=delimiter, strict=True)
    records: list[tuple[int, list[str]]] = []  # (first line, cells)
    start = 1
    try:
        for cells in reader:
            records.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise ScriptError([f"{source}:{start}: {exc} (check the quotes in this row)"]) from None
    if not records or not any(cell.strip() for cell in records[0][1]):
        raise ScriptError([f"{source}:1: expected a header row such as n,en,fr,notes"])

    problems = _Problems(source)
    (header_line, header), body = records[0], records[1:]
    while body and not any(cell.strip() for cell in body[-1][1]):
        body.pop()  # spreadsheets export trailing empty rows
    roles: list[str | None] = []
    for column, cell in enumerate(header, start=1):
        name: str | None = cell.strip()
        if not name:
            if any(column <= len(cells) and cells[column - 1].strip() for _, cells in body):
                problems.add(header_line, f"column {column} holds text but has no name")
        elif name in roles:
            problems.add(header_line, f"column {name!r} appears twice")
            name = None
        elif name not in ("n", "notes") and not LANGUAGE_RE.fullmatch(name):
            problems.add(
                header_line,
                f"unknown column {name!r} (expected n, notes or a lowercase language code "
                "such as en or fr)",
            )
            name = None
        roles.append(name or None)
    languages = [role for role in roles if role and role not in ("n", "notes")]
    if not languages and not problems:
        problems.add(header_line, "no language columns in the header (expected e.g. n,en,fr,notes)")
    problems.raise_if_any()

    rows: list[_Row] = []
    for line, cells in body:
        row = _Row(line=line)
        rows.append(row)
        if not any(cell.strip() for cell in cells):
            problems.add(line, f"empty row (delete it, or {_HINT_BLANK} in each language)")
            row.broken = True
            continue
        if any(cell.strip() for cell in cells[len(roles) :]):
            problems.add(line, "more cells than the header has columns")
        for role, cell in zip(roles, cells, strict=False):
            if role == "n":
                row.label = cell.strip()
            elif role == "notes":
                row.notes = cell.strip()
            elif role is not None:
                row.texts[role] = cell
    return _build(rows, languages, problems)


def parse_yaml(text: str, source: str) -> Script:
    """A script in the project's YAML form (see the module docstring)."""
    try:
        root = yaml.compose(text.removeprefix("\ufeff"), Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ScriptError([_yaml_problem(exc, source)]) from None
    if not isinstance(root, yaml.MappingNode):
        raise ScriptError(
            [f"{source}:1: expected a mapping with 'cues' (and optionally 'languages')"]
        )
    problems = _Problems(source)
    top = _yaml_mapping(root, problems)
    for key, (line, _) in top.items():
        if key not in ("cues", "languages"):
            problems.add(line, f"unknown field {key!r} (expected cues, languages)")
    languages = _yaml_languages(top["languages"][1], problems) if "languages" in top else None
    cues_line, cues = top.get("cues", (1, None))
    if not isinstance(cues, yaml.SequenceNode):
        problems.fail(cues_line, "'cues' must be a list of cues")
    rows = [_yaml_row(item, problems) for item in cues.value]

    if languages is None:
        languages = list(dict.fromkeys(lang for row in rows for lang in row.texts))
        if rows and not languages:
            problems.add(rows[0].line, "the cues have no text in any language")
    for row in rows:
        for lang in row.texts:
            if lang not in languages:
                problems.add(
                    row.lines[lang],
                    f"language {lang!r} is not in languages [{', '.join(languages)}]",
                )
    return _build(rows, languages, problems)


def _yaml_row(item: yaml.Node, problems: _Problems) -> _Row:
    row = _Row(line=_line(item))
    if not isinstance(item, yaml.MappingNode):
        problems.add(row.line, "a cue must be a mapping such as {en: ..., fr: ...}")
        row.broken = True
        return row
    for key, (line, node) in _yaml_mapping(item, problems).items():
        if key == "n":
            if _is_scalar(node, "str", "int"):
                row.label = str(node.value).strip()
            else:
                problems.add(line, "'n' must be a cue number or label")
        elif key == "notes":
            if _is_scalar(node, "str"):
                row.notes = str(node.value).strip()
            elif not _is_scalar(node, "null"):
                problems.add(line, "'notes' must be text; put it in quotes")
        elif LANGUAGE_RE.fullmatch(key):
            row.lines[key] = line
            if _is_scalar(node, "str"):
                row.texts[key] = str(node.value)
            elif _is_scalar(node, "null"):
                row.texts[key] = None
            else:
                problems.add(line, f"{key!r} must be text; put it in quotes")
                row.texts[key] = BLANK  # reported already, not as an empty cue as well
        else:
            problems.add(
                line,
                f"unknown field {key!r} in a cue (expected n, notes or a language code "
                "such as en or fr)",
            )
    return row


def _yaml_problem(exc: yaml.YAMLError, source: str) -> str:
    mark = getattr(exc, "problem_mark", None)
    line = f":{mark.line + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or "invalid YAML"
    hint = ""
    if "sequence entries are not allowed" in str(problem):
        hint = ' (a blank cue is written "-", in quotes)'
    return f"{source}{line}: not valid YAML: {problem}{hint}"


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _is_scalar(node: yaml.Node, *kinds: str) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag in {
        f"tag:yaml.org,2002:{kind}" for kind in kinds
    }


def _yaml_mapping(node: yaml.MappingNode, problems: _Problems) -> dict[str, tuple[int, yaml.Node]]:
    """Keys to (line, value node); duplicate and non-text keys are reported."""
    fields: dict[str, tuple[int, yaml.Node]] = {}
    for key_node, value_node in node.value:
        line = _line(key_node)
        if not isinstance(key_node, yaml.ScalarNode):
            problems.add(line, "a field name must be text")
        elif str(key_node.value) in fields:
            problems.add(line, f"field {key_node.value!r} appears twice")
        else:
            fields[str(key_node.value)] = (line, value_node)
    return fields


def _yaml_languages(node: yaml.Node, problems: _Problems) -> list[str] | None:
    items = node.value if isinstance(node, yaml.SequenceNode) else None
    if (
        not items
        or not all(_is_scalar(item, "str") for item in items)
        or not all(LANGUAGE_RE.fullmatch(str(item.value)) for item in items)
        or len({item.value for item in items}) != len(items)
    ):
        problems.add(
            _line(node), "languages must be a list of distinct language codes, e.g. [en, fr]"
        )
        return None
    return [str(item.value) for item in items]


# -- checking files for the CLI -----------------------------------------------------------------


def check_files(paths: Sequence[Path]) -> tuple[bool, list[str]]:
    """What ``coordinator cues check FILE...`` prints, and whether every script is usable.

    Each CSV, TSV or YAML file is checked on its own; the SRT and VTT files given together are
    one script, each file's language taken from its name (``my-hour.fr.srt``).
    """
    if not paths:
        return False, ["no files given"]
    ok = True
    lines: list[str] = []
    groups: list[Path | dict[str, Path]] = []
    tracks: dict[str, Path] = {}
    for path in paths:
        if path.suffix.lower() not in SUBTITLE_FORMATS:
            groups.append(path)
            continue
        language = language_from_name(path)
        if language is None:
            ok = False
            lines.append(f"{path}: {_NO_LANGUAGE}")
        elif language in tracks:
            ok = False
            lines.append(f"{path}: language {language!r} is already given by {tracks[language]}")
        else:
            tracks[language] = path
    if tracks:
        groups.append(tracks)
    for group in groups:
        try:
            script = load_script(group)
        except ScriptError as exc:
            ok = False
            lines.extend(exc.problems)
            continue
        blanks = f" ({script.blank_count} blank)" if script.blank_count else ""
        lines.append(
            f"{script.source}: {len(script.cues)} cues{blanks}, "
            f"languages {', '.join(script.languages)}"
        )
    return ok, lines


# -- the cue channel ----------------------------------------------------------------------------

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


# -- the cue log --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CueLogEntry:
    """The channel's state from ``at`` (UTC) until the next entry."""

    at: datetime
    index: int
    blank: bool


def _cue_at(script: Script | None, index: int) -> Cue | None:
    if script is None or not 1 <= index <= len(script.cues):
        return None
    return script.cues[index - 1]


def _iso_utc(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError(f"cue log time {at} has no time zone")
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def cue_log_csv(entries: Iterable[CueLogEntry], script: Script | None) -> str:
    """The log as CSV: time_utc (ISO 8601, Z), index, blank (true/false), then the text of the
    cue at the pointer in each of the script's languages (also while blank)."""
    languages = script.languages if script is not None else ()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["time_utc", "index", "blank", *languages])
    for entry in entries:
        cue = _cue_at(script, entry.index)
        texts = [cue.text.get(lang, "") if cue is not None else "" for lang in languages]
        writer.writerow(
            [_iso_utc(entry.at), entry.index, "true" if entry.blank else "false", *texts]
        )
    return out.getvalue()


_SAFE_TAG_RE = re.compile(r"(</?(?:{})>)".format("|".join(sorted(SAFE_TAGS))))


def vtt_escape(text: str) -> str:
    """Cue text for a WebVTT payload: ``<i>``, ``<b>``, ``<u>`` kept, other ``&<>`` escaped,
    empty lines dropped (an empty line would end the cue)."""
    parts = _SAFE_TAG_RE.split(text)
    escaped = "".join(
        part if i % 2 else part.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        for i, part in enumerate(parts)
    )
    return "\n".join(line for line in escaped.split("\n") if line.strip())


def _vtt_time(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


LAST_CUE_MS = 5000
"""How long the last cue of a WebVTT export lasts when no later entry ends it."""


def cue_log_vtt(entries: Sequence[CueLogEntry], script: Script, languages: Sequence[str]) -> str:
    """The performance as WebVTT, timed from the first entry that showed a cue (the first GO).

    Entries are taken in the order given (the order they happened). A shown cue lasts until
    the next entry, the last one :data:`LAST_CUE_MS`; blanks and index 0 show nothing. The text
    is the chosen languages' lines, one under the other. Raises ValueError for a language the
    script does not have.
    """
    unknown = [lang for lang in languages if lang not in script.languages]
    if not languages or unknown:
        raise ValueError(
            f"choose languages among {', '.join(script.languages)}"
            + (f" (not {', '.join(unknown)})" if unknown else "")
        )
    changes: list[CueLogEntry] = []
    for entry in entries:  # a repeated state (goto the same cue) does not split a cue
        if not changes or (entry.index, entry.blank) != (changes[-1].index, changes[-1].blank):
            changes.append(entry)

    def shows(entry: CueLogEntry) -> bool:
        return entry.index > 0 and not entry.blank

    first = next((i for i, entry in enumerate(changes) if shows(entry)), None)
    out = ["WEBVTT", ""]
    if first is None:
        return "\n".join(out)
    origin = changes[first].at
    last_end = 0
    for i in range(first, len(changes)):
        entry = changes[i]
        cue = _cue_at(script, entry.index)
        if not shows(entry) or cue is None:
            continue
        # max(): times stay monotonic even if the server's clock stepped back.
        start = max((entry.at - origin) // timedelta(milliseconds=1), last_end)
        if i + 1 < len(changes):
            end = (changes[i + 1].at - origin) // timedelta(milliseconds=1)
        else:
            end = start + LAST_CUE_MS
        text = "\n".join(vtt_escape(cue.text[lang]) for lang in languages if cue.text[lang])
        if end <= start or not text.strip():
            continue
        out += [f"{_vtt_time(start)} --> {_vtt_time(end)}", text, ""]
        last_end = end
    return "\n".join(out)
