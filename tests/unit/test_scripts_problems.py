"""Broken script files: every problem is named by its file and line, all at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from coordinator import scripts
from tests.unit.script_data import BROKEN, DATA, problems_of

# -- broken files: every problem names its file and line ----------------------------------------


def test_mismatched_counts_name_both_files_both_counts_and_where_they_part() -> None:
    en, fr = BROKEN / "counts.en.srt", BROKEN / "counts.fr.srt"
    [problem] = problems_of({"en": en, "fr": fr})
    assert problem.startswith(f"{en}:14: 4 cues here but 3 in {fr}")
    assert "cue 4 here has no counterpart" in problem
    # The files share their timings until the merged cue 2: that is where to look.
    assert f"timings first differ at cue 2 ({en}:5, {fr}:5)" in problem


def test_empty_cue_is_named_with_its_line() -> None:
    path = BROKEN / "empty.fr.srt"
    assert problems_of(path) == [
        f"{path}:5: empty cue 2 (write - for a deliberate blank screen)",
    ]


def test_latin1_bytes_are_named_with_line_and_offset() -> None:
    path = BROKEN / "latin1.csv"
    [problem] = problems_of(path)
    offset = path.read_bytes().index(b"\xe9t\xe9")
    assert problem == (
        f"{path}:4: not UTF-8 text: byte 0xE9 at offset {offset}; save the file as UTF-8"
    )


def test_utf16_is_recognised(tmp_path: Path) -> None:
    path = tmp_path / "notepad.csv"
    path.write_bytes("n,en\n1,Hello\n".encode("utf-16"))
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}:1: not UTF-8 text (it looks like UTF-16)")


def test_bad_srt_timings() -> None:
    path = BROKEN / "timing.en.srt"
    assert problems_of(path) == [
        f"{path}:6: bad timing line '00:00:03,000 -> 00:00:04,000' "
        "(expected 00:00:01,000 --> 00:00:02,500)",
    ]
    # A reversed timing is reported, not refused: the timings are not used.
    (cue,) = scripts.parse_srt("3\n00:00:06,000 --> 00:00:05,000\nEnds before.\n", "r.srt")
    assert cue.warnings == ("r.srt:2: cue 1 ends before it starts (timings are not used)",)


def test_bad_vtt_timings_and_a_dangling_identifier() -> None:
    path = BROKEN / "timing.en.vtt"
    problems = problems_of(path)
    assert problems[0] == (
        f"{path}:7: bad timing line '00:03.000 --> 00:04' "
        "(expected 00:01.000 --> 00:02.500, hours optional)"
    )
    assert problems[1].startswith(
        f"{path}:10: text with no timing line ('dangling-identifier'): is a timing line missing"
    )


def test_vtt_needs_its_header() -> None:
    path = BROKEN / "no-header.en.vtt"
    assert problems_of(path) == [f"{path}:1: not a WebVTT file: the first line must be WEBVTT"]


def test_csv_header_without_languages() -> None:
    path = BROKEN / "header.csv"
    assert problems_of(path) == [
        f"{path}:1: no language columns in the header (expected e.g. n,en,fr,notes)"
    ]


def test_csv_duplicate_and_unknown_columns() -> None:
    path = BROKEN / "columns.csv"
    assert problems_of(path) == [
        f"{path}:1: column 'en' appears twice",
        f"{path}:1: unknown column 'french' (expected n, notes or a lowercase language code "
        "such as en or fr)",
    ]


def test_csv_empty_cells_and_rows_are_all_reported_in_line_order() -> None:
    path = BROKEN / "cells.csv"
    assert problems_of(path) == [
        f"{path}:3: empty cue 2: no 'fr' text (write - for a deliberate blank screen)",
        f"{path}:4: empty row (delete it, or write - for a deliberate blank screen in each language)",
        f"{path}:5: empty row (delete it, or write - for a deliberate blank screen in each language)",
    ]  # the empty rows at the end of the file are ignored: spreadsheets export them


def test_csv_quoting_mistake_names_the_row(tmp_path: Path) -> None:
    path = tmp_path / "quotes.csv"
    path.write_text('n,en\n1,Hello\n2,"Hi," she said\n', encoding="utf-8")
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}:3: ") and "check the quotes" in problem


def test_yaml_not_of_the_documented_shape() -> None:
    path = BROKEN / "shape.yaml"
    assert problems_of(path) == [
        f"{path}:2: unknown field 'title' (expected cues, languages)",
        f"{path}:6: a cue must be a mapping such as {{en: ..., fr: ...}}",
        f"{path}:7: 'en' must be text; put it in quotes",
        f"{path}:9: unknown field 'colour' in a cue (expected n, notes or a language code "
        "such as en or fr)",
        f"{path}:10: empty cue 4: no 'fr' text (write - for a deliberate blank screen)",
        f"{path}:11: language 'de' is not in languages [en, fr]",
    ]


def test_yaml_unquoted_dash_gets_a_hint() -> None:
    path = BROKEN / "dash.yaml"
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}:4: not valid YAML") and '"-", in quotes' in problem


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", ":1: expected a mapping with 'cues'"),
        ("cues: hello\n", ":1: 'cues' must be a list of cues"),
        ("languages: [en, en]\ncues: []\n", ":1: languages must be a list of distinct"),
        ("cues: []\n", ": no cues"),
        ("cues:\n  - {en: a, en: b}\n", ":2: field 'en' appears twice"),
    ],
)
def test_yaml_shapes(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "script.yaml"
    path.write_text(text, encoding="utf-8")
    assert any(p.startswith(f"{path}{message}") for p in problems_of(path))


def test_srt_problems_are_all_collected(tmp_path: Path) -> None:
    path = tmp_path / "many.en.srt"
    path.write_text(
        "1\n00:00:01,000 --> 00:00:02,000\nOne.\n\n"
        "2\n00:00:03,000 --> 00:00:04,000\nTwo, and after a blank line\n\ngoes on.\n\n"
        "3\n00:00:05 --> 00:00:06\nThree.\n\n"
        "3\n00:00:07,000 --> 00:00:08,000\n",
        encoding="utf-8",
    )
    assert problems_of(path) == [
        f"{path}:9: expected a cue number and a timing line, found 'goes on.' "
        "(a blank line inside a cue ends it)",
        f"{path}:12: bad timing line '00:00:05 --> 00:00:06' (expected 00:00:01,000 --> 00:00:02,500)",
        f"{path}:15: empty cue 4 (write - for a deliberate blank screen)",
        f"{path}:15: cue number '3' is used twice (first on line 11)",
    ]


def test_file_level_problems(tmp_path: Path) -> None:
    assert problems_of(tmp_path / "missing.csv") == [f"{tmp_path / 'missing.csv'}: file not found"]
    text = tmp_path / "script.txt"
    text.write_text("Hello\n", encoding="utf-8")
    assert "unknown script format '.txt'" in problems_of(text)[0]
    nameless = tmp_path / "script.srt"
    nameless.write_text("1\n00:00:01,000 --> 00:00:02,000\nHi\n", encoding="utf-8")
    assert "cannot tell the language" in problems_of(nameless)[0]
    assert "must be .srt or .vtt" in problems_of({"en": DATA / "reading.csv"})[0]
    empty = tmp_path / "empty.en.srt"
    empty.write_text("", encoding="utf-8")
    assert problems_of(empty) == [f"{empty}: no cues"]


def test_problems_in_several_language_files_are_all_reported() -> None:
    problems = problems_of(
        {"en": BROKEN / "timing.en.srt", "fr": BROKEN / "empty.fr.srt", "de": DATA / "none.srt"}
    )
    assert [p.split(":")[0] for p in problems] == [
        str(BROKEN / "timing.en.srt"),
        str(BROKEN / "empty.fr.srt"),
        str(DATA / "none.srt"),
    ]
