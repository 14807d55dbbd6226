"""Surtitle scripts: the file formats, read into one :class:`Script`. No I/O beyond reading
the script files named to :func:`load_script` and :func:`check_files`.

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

Modules
-------
``model`` (the script), ``problems`` (the FILE:LINE collector), ``rows`` (what the parsers
share), ``subtitles`` (SRT, WebVTT, aligning per-language files), ``spreadsheet`` (CSV/TSV),
``yaml_script`` (YAML), ``files`` (reading files and uploads, ``cues check``).
"""

from coordinator.scripts.files import (
    FORMATS,
    SUBTITLE_FORMATS,
    UPLOAD_FORMATS,
    CheckReport,
    check,
    check_files,
    decode,
    language_from_name,
    load_script,
    parse_upload,
    read_text,
)
from coordinator.scripts.model import BLANK, SAFE_TAGS, Cue, Script, ScriptError, SubtitleCue
from coordinator.scripts.problems import Problems
from coordinator.scripts.spreadsheet import parse_delimited
from coordinator.scripts.srt import parse_srt
from coordinator.scripts.subtitles import align
from coordinator.scripts.vtt import parse_vtt
from coordinator.scripts.yaml_script import parse_yaml

__all__ = [
    "BLANK",
    "FORMATS",
    "SAFE_TAGS",
    "SUBTITLE_FORMATS",
    "UPLOAD_FORMATS",
    "CheckReport",
    "Cue",
    "Problems",
    "Script",
    "ScriptError",
    "SubtitleCue",
    "align",
    "check",
    "check_files",
    "decode",
    "language_from_name",
    "load_script",
    "parse_delimited",
    "parse_srt",
    "parse_upload",
    "parse_vtt",
    "parse_yaml",
    "read_text",
]
