"""The cue log of a channel and its exports. No I/O.

:func:`cue_log_csv` and :func:`cue_log_vtt` turn a channel's log into files: a WebVTT export is
the timing of the actual performance. In it, ``<i>``, ``<b>`` and ``<u>`` (WebVTT's own tags,
no attributes) are kept and every other ``&``, ``<`` and ``>`` is escaped.
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from coordinator.scripts import markup
from coordinator.scripts.model import SAFE_TAGS, Cue, Script


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
    """Cue text (see :mod:`coordinator.scripts.markup`) for a WebVTT payload: ``<i>``,
    ``<b>``, ``<u>`` kept, every other ``&<>`` escaped, empty lines dropped (an empty line
    would end the cue)."""
    parts = _SAFE_TAG_RE.split(text)
    escaped = "".join(
        part if i % 2 else html.escape(markup.unescape_run(part), quote=False)
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
