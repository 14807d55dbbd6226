"""Spreadsheets as surtitlers save them: French Excel's ';' CSV, LibreOffice's quoted cells,
tab-separated text, and .xlsx workbooks read directly."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from openpyxl import Workbook

from coordinator import scripts
from coordinator.scripts import ScriptError

FRENCH = [
    "Bienvenue à toutes et à tous.",
    "« Nous lisons ensemble »,\ndans sept villes.",
    "Merci d’être venus !",
]
ENGLISH = ["Welcome.", "We read together,\nin seven cities.", "Thank you for coming!"]


def french_excel_csv() -> bytes:
    """What French Excel saves as "CSV UTF-8": a BOM, ';', CRLF, quotes where needed."""
    rows = ["n;en;fr;notes"]
    for i, (en, fr) in enumerate(zip(ENGLISH, FRENCH, strict=True), start=1):
        quoted = [f'"{t}"' if "\n" in t or ";" in t else t for t in (en, fr)]
        rows.append(f"{i};{quoted[0]};{quoted[1]};")
    return b"\xef\xbb\xbf" + "\r\n".join(rows).encode("utf-8") + b"\r\n"


def workbook_bytes(sheets: dict[str, list[list[object]]]) -> bytes:
    book = Workbook()
    first = True
    for title, rows in sheets.items():
        sheet = book.active if first else book.create_sheet()
        assert sheet is not None
        sheet.title = title
        first = False
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def script_rows() -> list[list[object]]:
    rows: list[list[object]] = [["n", "en", "fr", "notes"]]
    for i, (en, fr) in enumerate(zip(ENGLISH, FRENCH, strict=True), start=1):
        rows.append([i, en, fr, None])
    return rows


@pytest.mark.parametrize(
    ("text", "separator"),
    [
        ("n,en,fr\n1,Hi,Salut\n", "','"),
        ("n;en;fr\n1;Hi;Salut\n", "';'"),
        ('"n";"en";"fr"\n"1";"Hi";"Salut"\n', "';'"),  # LibreOffice quotes every cell
        ("n\ten\tfr\n1\tHi\tSalut\n", "tab"),
    ],
)
def test_the_separator_is_detected_and_named(text: str, separator: str) -> None:
    script = scripts.parse_delimited(text, "s.csv")
    assert script.cues[0].text == {"en": "Hi", "fr": "Salut"}
    assert script.details == (f"separator {separator}",)


def test_a_french_excel_csv_reads_exactly(tmp_path: Path) -> None:
    path = tmp_path / "lecture.csv"
    path.write_bytes(french_excel_csv())
    script = scripts.load_script(path)
    assert [cue.text["fr"] for cue in script.cues] == FRENCH
    assert [cue.label for cue in script.cues] == ["1", "2", "3"]
    ok, lines = scripts.check_files([path])
    assert ok and lines[-1].endswith("separator ';'")


def test_an_unreadable_header_names_the_separator_it_was_read_with() -> None:
    with pytest.raises(ScriptError) as info:
        scripts.parse_delimited("n|en|fr\n1|Hi|Salut\n", "pipes.csv")
    assert "'n|en|fr'" in info.value.problems[0]


def test_an_xlsx_workbook_reads_exactly(tmp_path: Path) -> None:
    path = tmp_path / "lecture.xlsx"
    path.write_bytes(
        workbook_bytes({"Feuil1": script_rows(), "Autre": [["n", "de"], [1, "Hallo"]]})
    )
    script = scripts.load_script(path)
    assert [cue.text["fr"] for cue in script.cues] == FRENCH
    assert [cue.label for cue in script.cues] == ["1", "2", "3"]  # numbers, not 1.0
    assert script.details == ("sheet 'Feuil1'",) and script.source == f"{path}#Feuil1"
    other = scripts.load_script(Path(f"{path}#Autre"))
    assert other.languages == ("de",) and other.cues[0].text == {"de": "Hallo"}
    with pytest.raises(
        ScriptError, match=r"no sheet 'Missing' \(the sheets are 'Feuil1', 'Autre'\)"
    ):
        scripts.load_script(Path(f"{path}#Missing"))


def test_xlsx_problems_name_the_cell(tmp_path: Path) -> None:
    rows = script_rows()
    rows[2][2] = "Nous lisons ensemble, dans sept villes Ã  la fois."
    rows[3][1] = None
    path = tmp_path / "abimé.xlsx"
    path.write_bytes(workbook_bytes({"Sheet1": rows}))
    with pytest.raises(ScriptError) as info:
        scripts.load_script(path)
    assert info.value.problems[0].startswith(
        f"{path}#Sheet1:3: cell C3 ('fr'): 'Ã ' is 'à' decoded twice"
    )
    assert info.value.problems[1].startswith(f"{path}#Sheet1:4: empty cue 3: no 'en' text")


def test_an_xlsx_upload_is_base64_keyed_by_its_sheet() -> None:
    data = base64.b64encode(workbook_bytes({"S1": script_rows()})).decode("ascii")
    assert scripts.parse_upload("xlsx", {"": data}).cues[0].text["fr"] == FRENCH[0]
    assert scripts.parse_upload("xlsx", {"S1": data}).source == "upload.xlsx#S1"
    with pytest.raises(ScriptError, match=r"not an \.xlsx workbook"):
        scripts.parse_upload("xlsx", {"": base64.b64encode(b"PK not a zip").decode()})
