"""CSV and TSV scripts, as a spreadsheet exports them: a header row naming the columns
(``n``, ``notes`` and language codes), one row per cue."""

from __future__ import annotations

import csv
import io

from coordinator.config import LANGUAGE_RE
from coordinator.scripts.model import Script, ScriptError
from coordinator.scripts.problems import Problems
from coordinator.scripts.rows import HINT_BLANK, Row, build_script


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

    problems = Problems(source)
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

    rows: list[Row] = []
    for line, cells in body:
        row = Row(line=line)
        rows.append(row)
        if not any(cell.strip() for cell in cells):
            problems.add(line, f"empty row (delete it, or {HINT_BLANK} in each language)")
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
    return build_script(rows, languages, problems)
