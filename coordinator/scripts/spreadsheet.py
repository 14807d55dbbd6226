"""CSV and TSV scripts, as a spreadsheet exports them: a header row naming the columns
(``n``, ``notes`` and language codes), one row per cue."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import replace

from coordinator.config import LANGUAGE_RE
from coordinator.scripts.model import Script, ScriptError
from coordinator.scripts.problems import Problems
from coordinator.scripts.rows import HINT_BLANK, Row, build_script

SEPARATORS = {",": "','", ";": "';'", "\t": "tab"}


def parse_delimited(text: str, source: str, delimiter: str | None = None) -> Script:
    """A CSV or TSV script with a header row like ``n,en,fr``. The separator (``,`` ``;`` or
    tab) is the one that makes a valid header, unless ``delimiter`` is given; the script's
    details say which was used."""
    normalized = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    separator = delimiter or detect_separator(normalized)
    reader = csv.reader(io.StringIO(normalized, newline=""), delimiter=separator, strict=True)
    records: list[tuple[int, list[str]]] = []  # (first line, cells)
    start = 1
    try:
        for cells in reader:
            records.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise ScriptError(
            [
                f"{source}:{start}: {exc} (check the quotes in this row; read with the separator "
                f"{SEPARATORS.get(separator, repr(separator))})"
            ]
        ) from None
    script = parse_table(records, source, separator_hint=SEPARATORS.get(separator, ""))
    return replace(script, details=(f"separator {SEPARATORS.get(separator, repr(separator))}",))


def detect_separator(text: str) -> str:
    """The separator whose header row names the most known columns (n, notes, languages);
    a comma when none does."""
    header = text.split("\n", 1)[0]
    best, best_score = ",", 0
    for separator in SEPARATORS:
        cells = next(csv.reader([header], delimiter=separator), [])
        score = sum(1 for cell in cells if _role_name(cell.strip()) is not None)
        if score > best_score:
            best, best_score = separator, score
    return best


def _role_name(name: str) -> str | None:
    return name if name in ("n", "notes") or LANGUAGE_RE.fullmatch(name) else None


def parse_table(
    records: list[tuple[int, list[str]]],
    source: str,
    *,
    separator_hint: str = "",
    cell_name: Callable[[int, int], str] | None = None,
) -> Script:
    """A script from a table's rows ``(row number, cells)``, the first row the header. Shared
    by CSV/TSV and workbooks; ``cell_name(row, column)`` names a cell in messages (a
    spreadsheet's "C7"), else the column's name is used."""
    if not records or not any(cell.strip() for cell in records[0][1]):
        raise ScriptError([f"{source}:1: expected a header row such as n,en,fr,notes"])
    problems = Problems(source)
    (header_line, header), body = records[0], records[1:]
    while body and not any(cell.strip() for cell in body[-1][1]):
        body.pop()  # spreadsheets export trailing empty rows
    roles = _roles(header_line, header, body, problems, separator_hint)
    languages = [role for role in roles if role and role not in ("n", "notes")]
    if not languages and not problems:
        problems.add(header_line, "no language columns in the header (expected e.g. n,en,fr,notes)")
    problems.raise_if_any()
    rows = [_row(line, cells, roles, problems, cell_name) for line, cells in body]
    return build_script(rows, languages, problems)


def _roles(
    header_line: int,
    header: list[str],
    body: list[tuple[int, list[str]]],
    problems: Problems,
    separator_hint: str,
) -> list[str | None]:
    roles: list[str | None] = []
    for column, cell in enumerate(header, start=1):
        name: str | None = cell.strip()
        if not name:
            if any(column <= len(cells) and cells[column - 1].strip() for _, cells in body):
                problems.add(header_line, f"column {column} holds text but has no name")
        elif name in roles:
            problems.add(header_line, f"column {name!r} appears twice")
            name = None
        elif _role_name(name) is None:
            misread = separator_hint and any(sep in name for sep in SEPARATORS)
            hint = f"; read with the separator {separator_hint}" if misread else ""
            problems.add(
                header_line,
                f"unknown column {name!r} (expected n, notes or a lowercase language code "
                f"such as en or fr{hint})",
            )
            name = None
        roles.append(name or None)
    return roles


def _row(
    line: int,
    cells: list[str],
    roles: list[str | None],
    problems: Problems,
    cell_name: Callable[[int, int], str] | None,
) -> Row:
    row = Row(line=line)
    if not any(cell.strip() for cell in cells):
        problems.add(line, f"empty row (delete it, or {HINT_BLANK} in each language)")
        row.broken = True
        return row
    if any(cell.strip() for cell in cells[len(roles) :]):
        problems.add(line, "more cells than the header has columns")
    for column, (role, cell) in enumerate(zip(roles, cells, strict=False), start=1):
        if role == "n":
            row.label = cell.strip()
        elif role == "notes":
            row.notes = cell.strip()
        elif role is not None:
            row.texts[role] = cell
            if cell_name is not None:
                row.cells[role] = f"cell {cell_name(line, column)} ({role!r})"
    return row
