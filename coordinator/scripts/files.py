"""Script files and uploads: reading and decoding, the language from a file name, the format
from the extension, and the report of ``coordinator cues check``. The only I/O of the package:
reading the files named to :func:`load_script` and :func:`check_files`."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coordinator.config import LANGUAGE_RE
from coordinator.scripts.model import Script, ScriptError
from coordinator.scripts.spreadsheet import parse_delimited
from coordinator.scripts.subtitles import align_texts
from coordinator.scripts.workbook import parse_workbook, split_sheet
from coordinator.scripts.yaml_script import parse_yaml

FORMATS = {".csv": "csv", ".tsv": "tsv", ".yaml": "yaml", ".yml": "yaml", ".xlsx": "xlsx"}
SUBTITLE_FORMATS = {".srt": "srt", ".vtt": "vtt"}
_UTF8_BOM = b"\xef\xbb\xbf"
_NO_LANGUAGE = "cannot tell the language from the file name; name it like my-hour.fr.srt"


# -- reading files ------------------------------------------------------------------------------


def read_text(path: Path) -> str:
    """A script file's text. Raises :class:`ScriptError` if it is missing or not UTF-8."""
    return decode(_read_bytes(path), str(path))


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ScriptError([f"{path}: file not found"]) from None
    except OSError as exc:
        raise ScriptError([f"{path}: cannot read ({exc.strerror})"]) from None


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
    if not path.exists():
        workbook, sheet = split_sheet(str(path))
        if sheet:
            return parse_workbook(_read_bytes(Path(workbook)), workbook, sheet)
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        return parse_workbook(_read_bytes(path), str(path))
    if suffix in SUBTITLE_FORMATS:
        language = language_from_name(path)
        if language is None:
            raise ScriptError([f"{path}: {_NO_LANGUAGE}"])
        return _load_tracks({language: path})
    file_format = FORMATS.get(suffix)
    if file_format is None:
        raise ScriptError([f"{path}: {_unknown_format(suffix)}"])
    text = read_text(path)
    if file_format == "yaml":
        return parse_yaml(text, str(path))
    return parse_delimited(text, str(path))


UPLOAD_FORMATS = ("csv", "tsv", "yaml", "xlsx", "srt", "vtt")


def parse_upload(file_format: str, files: Mapping[str, str], name: str = "upload") -> Script:
    """A script from uploaded text instead of files: ``file_format`` csv, tsv or yaml with one
    text (any key); xlsx with one workbook in base64, its key the sheet ("" for the first); or
    srt or vtt with one text per language. Raises :class:`ScriptError`."""
    if file_format not in UPLOAD_FORMATS:
        raise ScriptError(
            [f"{name}: unknown format {file_format!r} (use {', '.join(UPLOAD_FORMATS)})"]
        )
    if not files:
        raise ScriptError([f"{name}: no script text given"])
    if file_format in ("csv", "tsv", "yaml", "xlsx"):
        if len(files) != 1:
            raise ScriptError(
                [f"{name}: a {file_format} script is one text holding every language"]
            )
        key, text = next(iter(files.items()))
        source = f"{name}.{file_format}"
        if file_format == "xlsx":
            return parse_workbook(_base64(text, source), source, key)
        if file_format == "yaml":
            return parse_yaml(text, source)
        return parse_delimited(text, source)
    return align_texts(
        (lang, f"{name}.{lang}.{file_format}", file_format, text) for lang, text in files.items()
    )


def _base64(text: str, source: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ScriptError([f"{source}: the workbook is not valid base64"]) from None


def _unknown_format(suffix: str) -> str:
    name = suffix or "(no extension)"
    return f"unknown script format {name!r} (use .csv, .tsv, .yaml, .xlsx, .srt or .vtt)"


def _load_tracks(tracks: Mapping[str, Path]) -> Script:
    if not tracks:
        raise ScriptError(["no script files given"])
    problems: list[str] = []

    def texts() -> Iterator[tuple[str, str, str, str]]:
        # Read lazily, so problems keep the order of the files.
        for language, path in tracks.items():
            file_format = SUBTITLE_FORMATS.get(path.suffix.lower())
            if file_format is None:
                problems.append(f"{path}: one file per language must be .srt or .vtt")
                continue
            try:
                yield language, str(path), file_format, read_text(path)
            except ScriptError as exc:
                problems.extend(exc.problems)

    return align_texts(texts(), problems)


# -- checking files for the CLI -----------------------------------------------------------------


@dataclass
class CheckReport:
    """What ``coordinator cues check`` found: each usable script, and every problem."""

    scripts: list[Script] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        """The text report: problems, then per script its warnings and a summary line."""
        lines = list(self.problems)
        for script in self.scripts:
            lines.extend(script.warnings)
            blanks = f" ({script.blank_count} blank)" if script.blank_count else ""
            details = "".join(f", {detail}" for detail in script.details)
            warned = f", {len(script.warnings)} warnings" if script.warnings else ""
            lines.append(
                f"{script.source}: {len(script.cues)} cues{blanks}, "
                f"languages {', '.join(script.languages)}{details}{warned}"
            )
        return lines

    def as_json(self) -> dict[str, Any]:
        """The report for ``--json``: every cue as the screens will show it."""
        return {
            "ok": self.ok,
            "problems": self.problems,
            "scripts": [
                {
                    "source": script.source,
                    "languages": list(script.languages),
                    "details": list(script.details),
                    "cues": [
                        {
                            "index": cue.number,
                            "label": cue.label,
                            "text": dict(cue.text),
                            "notes": cue.notes,
                            "warnings": list(cue.warnings),
                        }
                        for cue in script.cues
                    ],
                    "warnings": list(script.warnings),
                }
                for script in self.scripts
            ],
        }


def check_files(paths: Sequence[Path]) -> tuple[bool, list[str]]:
    """What ``coordinator cues check FILE...`` prints, and whether every script is usable."""
    report = check(paths)
    return report.ok, report.lines()


def check(paths: Sequence[Path]) -> CheckReport:
    """Check script files: each CSV, TSV, YAML or xlsx file on its own; the SRT and VTT files
    given together are one script, each file's language taken from its name
    (``my-hour.fr.srt``)."""
    report = CheckReport()
    if not paths:
        report.problems.append("no files given")
        return report
    groups: list[Path | dict[str, Path]] = []
    tracks: dict[str, Path] = {}
    for path in paths:
        if path.suffix.lower() not in SUBTITLE_FORMATS:
            groups.append(path)
            continue
        language = language_from_name(path)
        if language is None:
            report.problems.append(f"{path}: {_NO_LANGUAGE}")
        elif language in tracks:
            report.problems.append(
                f"{path}: language {language!r} is already given by {tracks[language]}"
            )
        else:
            tracks[language] = path
    if tracks:
        groups.append(tracks)
    for group in groups:
        try:
            report.scripts.append(load_script(group))
        except ScriptError as exc:
            report.problems.extend(exc.problems)
    return report
