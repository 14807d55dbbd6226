"""Excel workbooks (``.xlsx``) read directly, so a surtitler never has to export CSV: the first
sheet, or the one named after ``#`` (``my-hour.xlsx#Feuil2``). Pure: bytes in, a script out.

The sheet is read as a CSV would be (:func:`spreadsheet.parse_table`): the first row names the
columns, each later row is a cue; problems name the cell (``C7``). Numbers become text as a
spreadsheet shows them (``12``, not ``12.0``); formulas give their last computed value.
"""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, time
from typing import Any

from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from coordinator.scripts.model import Script, ScriptError
from coordinator.scripts.spreadsheet import parse_table

SHEET_SEPARATOR = "#"


def parse_workbook(data: bytes, source: str, sheet: str = "") -> Script:
    """The script in one sheet of an ``.xlsx`` workbook (the first when ``sheet`` is "")."""
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ScriptError(
            [f"{source}: not an .xlsx workbook ({exc}); save it from the spreadsheet as .xlsx"]
        ) from None
    try:
        names = book.sheetnames
        if sheet and sheet not in names:
            raise ScriptError(
                [f"{source}: no sheet {sheet!r} (the sheets are {', '.join(map(repr, names))})"]
            )
        chosen = sheet or names[0]
        rows = [
            (number, [_cell_text(value) for value in values])
            for number, values in enumerate(book[chosen].iter_rows(values_only=True), start=1)
        ]
    finally:
        book.close()
    where = f"{source}{SHEET_SEPARATOR}{chosen}"
    script = parse_table(
        rows, where, cell_name=lambda row, column: f"{get_column_letter(column)}{row}"
    )
    return Script(
        cues=script.cues,
        languages=script.languages,
        source=where,
        warnings=script.warnings,
        details=(f"sheet {chosen!r}",),
    )


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    # Excel keeps a carriage return inside a cell as the escape _x000D_.
    return str(value).replace("_x000D_\n", "\n").replace("_x000D_", "\n")


def split_sheet(name: str) -> tuple[str, str]:
    """``("my-hour.xlsx", "Feuil2")`` from ``my-hour.xlsx#Feuil2``; no sheet: ``""``."""
    path, sep, sheet = name.rpartition(SHEET_SEPARATOR)
    if sep and path.lower().endswith(".xlsx"):
        return path, sheet
    return name, ""
