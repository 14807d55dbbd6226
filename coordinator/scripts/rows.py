"""What the parsers share once a cue's raw text is read: cleaning it (a deliberate blank, an
empty cue), checking labels, and building a :class:`Script` from many-language rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from coordinator.scripts import markup
from coordinator.scripts.damage import damage
from coordinator.scripts.model import BLANK, Cue, Script
from coordinator.scripts.problems import Problems

HINT_BLANK = "write - for a deliberate blank screen"


def cue_text(raw: str) -> str | None:
    """Cleaned cue text: "" for a deliberate blank, None when empty (a mistake)."""
    lines = [line.rstrip() for line in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    text = "\n".join(lines).strip()
    if not text:
        return None
    return "" if text == BLANK else text


def check_labels(labels: Iterable[tuple[str, int]], problems: Problems) -> None:
    seen: dict[str, int] = {}
    for label, line in labels:
        if label and label in seen:
            problems.add(line, f"cue number {label!r} is used twice (first on line {seen[label]})")
        elif label:
            seen[label] = line


@dataclass
class Row:
    """One cue as read from a many-language file, before its texts are checked."""

    line: int
    label: str = ""
    notes: str = ""
    texts: dict[str, str | None] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)  # where each text is, if not `line`
    cells: dict[str, str] = field(default_factory=dict)  # each text's cell, e.g. "cell C7 ('fr')"
    broken: bool = False  # already reported: keeps its place in the numbering, no more checks


def build_script(rows: list[Row], languages: Sequence[str], problems: Problems) -> Script:
    """The script of a many-language file's rows, or :class:`ScriptError` naming every
    empty cue, damaged text and repeated label."""
    cues: list[Cue] = []
    for number, row in enumerate(rows, start=1):
        text: dict[str, str] = {}
        for language in languages:
            value = cue_text(row.texts.get(language) or "")
            if value is None and not row.broken:
                problems.add(
                    row.lines.get(language, row.line),
                    f"empty cue {number}: no {language!r} text ({HINT_BLANK})",
                )
            elif value and (why := damage(value)) is not None:
                where = row.cells.get(language, f"column {language!r}")
                problems.add(row.lines.get(language, row.line), f"{where}: {why}")
            text[language] = markup.as_written(value) if value else ""
        cues.append(Cue(number=number, text=text, notes=row.notes, label=row.label))
    check_labels([(row.label, row.line) for row in rows], problems)
    if not rows and not problems:
        problems.add(0, "no cues")
    problems.raise_if_any()
    return Script(cues=tuple(cues), languages=tuple(languages), source=problems.source)
