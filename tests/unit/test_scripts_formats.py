"""Every script format gives the same script: labels, notes, markup, blanks, uploads, and the shipped demo."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from coordinator import scripts
from coordinator.scripts import ScriptError, parse_upload
from tests.unit.script_data import (
    DATA,
    DEMO,
    EXPECTED,
    LANGS,
    NOTES,
    SOURCES,
    per_language,
    reading_script,
    texts,
)

# -- every format gives the same script ---------------------------------------------------------


@pytest.mark.parametrize("kind", SOURCES)
def test_every_format_gives_the_same_script(kind: str) -> None:
    script = scripts.load_script(SOURCES[kind])
    assert script.languages == LANGS
    assert texts(script) == EXPECTED
    assert [cue.number for cue in script.cues] == [1, 2, 3, 4, 5, 6]
    assert script.blank_count == 1


@pytest.mark.parametrize("kind", ["csv", "tsv", "yaml"])
def test_single_file_formats_keep_labels_and_operator_notes(kind: str) -> None:
    script = scripts.load_script(SOURCES[kind])
    assert [cue.label for cue in script.cues] == ["1", "2", "3", "4", "5", "6"]
    assert [cue.notes for cue in script.cues] == NOTES
    assert script.source == str(SOURCES[kind])


def test_subtitle_labels_come_from_srt_numbers_and_vtt_identifiers() -> None:
    srt = scripts.load_script(SOURCES["srt"])
    assert [cue.label for cue in srt.cues] == ["1", "2", "3", "4", "5", "6"]
    vtt = scripts.load_script(SOURCES["vtt"])
    assert [cue.label for cue in vtt.cues] == ["c1", "", "c3", "", "c5", ""]
    assert all(cue.notes == "" for cue in srt.cues + vtt.cues)
    assert srt.source == " + ".join(str(p) for p in per_language("srt").values())


def test_a_pair_of_files_gives_a_two_language_script() -> None:
    script = scripts.load_script(per_language("srt", ("en", "fr")))
    assert script.languages == ("en", "fr")
    assert [cue.text["fr"] for cue in script.cues] == [e["fr"] for e in EXPECTED]
    mixed = scripts.load_script({"en": DATA / "reading.en.vtt", "fr": DATA / "reading.fr.srt"})
    assert texts(mixed) == texts(script)


def test_one_subtitle_file_takes_its_language_from_its_name() -> None:
    script = scripts.load_script(DATA / "reading.ta.srt")
    assert script.languages == ("ta",)
    assert script.cues[1].text["ta"] == EXPECTED[1]["ta"]


def test_markup_and_line_breaks_are_kept_as_written() -> None:
    for source in SOURCES.values():
        script = scripts.load_script(source)
        assert script.cues[2].text["en"] == "<i>My Hour</i>, by Esther Bol"
        assert script.cues[1].text["ru"].split("\n") == ["Мы читаем вместе,", "в семи городах."]


@pytest.mark.parametrize(
    "name", ["reading.csv", "reading.yaml", "reading.fr.srt", "reading.fr.vtt"]
)
def test_byte_order_mark_and_crlf_are_tolerated(tmp_path: Path, name: str) -> None:
    original = (DATA / name).read_bytes()
    copy = tmp_path / name
    copy.write_bytes(b"\xef\xbb\xbf" + original.replace(b"\n", b"\r\n"))
    assert texts(scripts.load_script(copy)) == texts(scripts.load_script(DATA / name))


def test_a_dash_is_a_deliberate_blank_in_one_language_only(tmp_path: Path) -> None:
    path = tmp_path / "partial.csv"
    path.write_text("n,en,fr\n1,Hello,Bonjour\n2,(music), - \n", encoding="utf-8")
    script = scripts.load_script(path)
    assert script.cues[1].text == {"en": "(music)", "fr": ""}
    assert script.blank_count == 0  # still shows something in English
    dialogue = tmp_path / "dialogue.en.srt"
    dialogue.write_text("1\n00:00:01,000 --> 00:00:02,000\n- Hello.\n- Hi.\n", encoding="utf-8")
    assert scripts.load_script(dialogue).cues[0].text["en"] == "- Hello.\n- Hi."


def test_vtt_character_references_are_decoded() -> None:
    script = scripts.load_script(DATA / "reading.en.vtt")
    assert script.cues[4].text["en"] == "Questions & answers follow."
    assert "&amp;" in (DATA / "reading.en.vtt").read_text(encoding="utf-8")


def test_script_version_follows_the_content() -> None:
    script = reading_script()
    same = parse_upload("csv", {"": (DATA / "reading.csv").read_text(encoding="utf-8")})
    assert same.version == script.version
    edited = parse_upload(
        "csv",
        {"": (DATA / "reading.csv").read_text(encoding="utf-8").replace("Bienvenue", "Salut")},
    )
    assert edited.version != script.version


def test_upload_of_a_subtitle_pair_and_its_errors() -> None:
    files = {
        lang: (DATA / f"reading.{lang}.srt").read_text(encoding="utf-8") for lang in ("en", "fr")
    }
    pair = parse_upload("srt", files)
    assert pair.languages == ("en", "fr")
    with pytest.raises(ScriptError, match="unknown format"):
        parse_upload("docx", files)
    with pytest.raises(ScriptError, match=r"upload\.fr\.srt"):
        parse_upload("srt", {"en": files["en"], "fr": "1\nnot a timing\nBonjour\n"})


# -- the demo script ----------------------------------------------------------------------------


def test_demo_script_loads() -> None:
    ok, lines = scripts.check_files([DEMO])
    assert ok, lines
    script = scripts.load_script(DEMO)
    assert script.languages == ("en", "fr")
    assert 12 <= len(script.cues) <= 20
    assert any("\n" in cue.text["en"] and "\n" in cue.text["fr"] for cue in script.cues)
    assert any("<i>" in cue.text["en"] and "<i>" in cue.text["fr"] for cue in script.cues)
    assert script.cues[0].notes and script.blank_count >= 1
    assert [cue.label for cue in script.cues] == [str(n) for n in range(1, len(script.cues) + 1)]


def test_demo_french_typography() -> None:
    french = [cue.text["fr"] for cue in scripts.load_script(DEMO).cues]
    for text in french:
        assert "'" not in text, text  # apostrophes are ’
        assert not re.search(r"[^\u00a0][;:!?]", text), text  # non-breaking space before ;:!?
        assert not re.search(r"\s[,.]", text), text
    assert any("’" in text for text in french)
