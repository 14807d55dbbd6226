"""check_files: what `coordinator cues check` prints and whether it fails."""

from __future__ import annotations

from pathlib import Path

from coordinator import scripts
from tests.unit.script_data import BROKEN, DATA, per_language

# -- check_files, for `coordinator cues check` --------------------------------------------------


def test_check_one_csv_and_a_set_of_subtitle_files() -> None:
    ok, lines = scripts.check_files([DATA / "reading.csv", *per_language("srt").values()])
    assert ok
    assert lines == [
        f"{DATA / 'reading.csv'}: 6 cues (1 blank), languages en, fr, ru, ta, separator ','",
        " + ".join(str(p) for p in per_language("srt").values())
        + ": 6 cues (1 blank), languages en, fr, ru, ta",
    ]


def test_check_reports_problems_and_fails() -> None:
    ok, lines = scripts.check_files([BROKEN / "header.csv", DATA / "reading.yaml"])
    assert not ok
    assert lines[0].startswith(f"{BROKEN / 'header.csv'}:1: no language columns")
    assert lines[1] == f"{DATA / 'reading.yaml'}: 6 cues (1 blank), languages en, fr, ru, ta"


def test_check_needs_the_language_in_subtitle_file_names(tmp_path: Path) -> None:
    nameless = tmp_path / "my-hour.srt"
    nameless.write_bytes((DATA / "reading.fr.srt").read_bytes())
    ok, lines = scripts.check_files([nameless, DATA / "reading.fr.srt", DATA / "reading.fr.vtt"])
    assert not ok
    assert (
        lines[0]
        == f"{nameless}: cannot tell the language from the file name; name it like my-hour.fr.srt"
    )
    assert (
        lines[1]
        == f"{DATA / 'reading.fr.vtt'}: language 'fr' is already given by {DATA / 'reading.fr.srt'}"
    )
    assert lines[2].endswith(": 6 cues (1 blank), languages fr")
    assert scripts.check_files([]) == (False, ["no files given"])


def test_check_prints_each_stripped_construct_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "voices.en.vtt"
    path.write_text("WEBVTT\n\n00:01.000 --> 00:02.000\n<v Roger>Hi <c.loud>you</c>\n")
    ok, lines = scripts.check_files([path])
    assert ok
    assert lines == [
        f"{path}:4: stripped the voice tag <v Roger>",
        f"{path}:4: stripped the class span tag <c.loud>",
        f"{path}: 1 cues, languages en, 2 warnings",
    ]


def test_check_json_shows_what_the_screens_show(tmp_path: Path) -> None:
    path = tmp_path / "voices.en.vtt"
    path.write_text("WEBVTT\n\n1\n00:01.000 --> 00:02.000\n<v Roger>Hi &amp; <i>bye</i>\n")
    report = scripts.check([path, tmp_path / "missing.csv"])
    data = report.as_json()
    assert data["ok"] is False and data["problems"] == [
        f"{tmp_path / 'missing.csv'}: file not found"
    ]
    (script,) = data["scripts"]
    assert script["cues"] == [
        {
            "index": 1,
            "label": "1",
            "text": {"en": "Hi & <i>bye</i>"},
            "notes": "voice: Roger",
            "warnings": [f"{path}:5: stripped the voice tag <v Roger>"],
        }
    ]
