"""Cue scripts (every format, every mistake named by file and line), the cue rules, the views
and the cue log exports."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordinator import cues
from coordinator.cues import (
    CueLogEntry,
    CueState,
    Script,
    ScriptError,
    apply_cue,
    cue_view,
    parse_upload,
)
from coordinator.rules import RuleError
from tests.support.harness import ROOT

DATA = ROOT / "tests" / "data" / "cues"
BROKEN = DATA / "broken"
DEMO = ROOT / "config" / "scripts" / "demo.csv"
LANGS = ("en", "fr", "ru", "ta")
NBSP = "\u00a0"

# What every fixture in tests/data/cues says, whatever its format.
EXPECTED: list[dict[str, str]] = [
    {
        "en": "Welcome.",
        "fr": "Bienvenue à toutes et à tous.",
        "ru": "Добро пожаловать.",
        "ta": "வணக்கம்.",
    },
    {
        "en": "We read together,\nin seven cities.",
        "fr": "Nous lisons ensemble,\ndans sept villes.",
        "ru": "Мы читаем вместе,\nв семи городах.",
        "ta": "நாம் ஒன்றாகப் படிக்கிறோம்,\nஏழு நகரங்களில்.",
    },
    {
        "en": "<i>My Hour</i>, by Esther Bol",
        "fr": "<i>My Hour</i>, d’Esther Bol",
        "ru": "<i>My Hour</i>, Эстер Бол",
        "ta": "<i>My Hour</i>, எஸ்தர் போல்",
    },
    {"en": "", "fr": "", "ru": "", "ta": ""},  # written "-": a deliberate blank
    {
        "en": "Questions & answers follow.",
        "fr": "Questions et réponses à suivre.",
        "ru": "Далее — вопросы и ответы.",
        "ta": "அடுத்து கேள்விகளும் பதில்களும்.",
    },
    {
        "en": "Thank you for coming!\nSee you soon.",
        "fr": f"Merci d’être venus{NBSP}!\nÀ bientôt.",
        "ru": "Спасибо, что пришли!\nДо скорой встречи.",
        "ta": "வந்ததற்கு நன்றி!\nவிரைவில் சந்திப்போம்.",
    },
]
NOTES = [
    "GO when the host steps up to the microphone.",
    "",
    "",
    "Blank while the reader walks on.",
    "",
    "Last cue: hold until the applause ends.",
]


def per_language(ext: str, languages: tuple[str, ...] = LANGS) -> dict[str, Path]:
    return {lang: DATA / f"reading.{lang}.{ext}" for lang in languages}


SOURCES: dict[str, Path | dict[str, Path]] = {
    "csv": DATA / "reading.csv",
    "tsv": DATA / "reading.tsv",
    "yaml": DATA / "reading.yaml",
    "srt": per_language("srt"),
    "vtt": per_language("vtt"),
}


def texts(script: Script) -> list[dict[str, str]]:
    return [dict(cue.text) for cue in script.cues]


def problems_of(source: Path | Mapping[str, Path]) -> list[str]:
    with pytest.raises(ScriptError) as info:
        cues.load_script(source)
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems


# -- every format gives the same script ---------------------------------------------------------


@pytest.mark.parametrize("kind", SOURCES)
def test_every_format_gives_the_same_script(kind: str) -> None:
    script = cues.load_script(SOURCES[kind])
    assert script.languages == LANGS
    assert texts(script) == EXPECTED
    assert [cue.number for cue in script.cues] == [1, 2, 3, 4, 5, 6]
    assert script.blank_count == 1


@pytest.mark.parametrize("kind", ["csv", "tsv", "yaml"])
def test_single_file_formats_keep_labels_and_operator_notes(kind: str) -> None:
    script = cues.load_script(SOURCES[kind])
    assert [cue.label for cue in script.cues] == ["1", "2", "3", "4", "5", "6"]
    assert [cue.notes for cue in script.cues] == NOTES
    assert script.source == str(SOURCES[kind])


def test_subtitle_labels_come_from_srt_numbers_and_vtt_identifiers() -> None:
    srt = cues.load_script(SOURCES["srt"])
    assert [cue.label for cue in srt.cues] == ["1", "2", "3", "4", "5", "6"]
    vtt = cues.load_script(SOURCES["vtt"])
    assert [cue.label for cue in vtt.cues] == ["c1", "", "c3", "", "c5", ""]
    assert all(cue.notes == "" for cue in srt.cues + vtt.cues)
    assert srt.source == " + ".join(str(p) for p in per_language("srt").values())


def test_a_pair_of_files_gives_a_two_language_script() -> None:
    script = cues.load_script(per_language("srt", ("en", "fr")))
    assert script.languages == ("en", "fr")
    assert [cue.text["fr"] for cue in script.cues] == [e["fr"] for e in EXPECTED]
    mixed = cues.load_script({"en": DATA / "reading.en.vtt", "fr": DATA / "reading.fr.srt"})
    assert texts(mixed) == texts(script)


def test_one_subtitle_file_takes_its_language_from_its_name() -> None:
    script = cues.load_script(DATA / "reading.ta.srt")
    assert script.languages == ("ta",)
    assert script.cues[1].text["ta"] == EXPECTED[1]["ta"]


def test_markup_and_line_breaks_are_kept_as_written() -> None:
    for source in SOURCES.values():
        script = cues.load_script(source)
        assert script.cues[2].text["en"] == "<i>My Hour</i>, by Esther Bol"
        assert script.cues[1].text["ru"].split("\n") == ["Мы читаем вместе,", "в семи городах."]


@pytest.mark.parametrize(
    "name", ["reading.csv", "reading.yaml", "reading.fr.srt", "reading.fr.vtt"]
)
def test_byte_order_mark_and_crlf_are_tolerated(tmp_path: Path, name: str) -> None:
    original = (DATA / name).read_bytes()
    copy = tmp_path / name
    copy.write_bytes(b"\xef\xbb\xbf" + original.replace(b"\n", b"\r\n"))
    assert texts(cues.load_script(copy)) == texts(cues.load_script(DATA / name))


def test_a_dash_is_a_deliberate_blank_in_one_language_only(tmp_path: Path) -> None:
    path = tmp_path / "partial.csv"
    path.write_text("n,en,fr\n1,Hello,Bonjour\n2,(music), - \n", encoding="utf-8")
    script = cues.load_script(path)
    assert script.cues[1].text == {"en": "(music)", "fr": ""}
    assert script.blank_count == 0  # still shows something in English
    dialogue = tmp_path / "dialogue.en.srt"
    dialogue.write_text("1\n00:00:01,000 --> 00:00:02,000\n- Hello.\n- Hi.\n", encoding="utf-8")
    assert cues.load_script(dialogue).cues[0].text["en"] == "- Hello.\n- Hi."


def test_vtt_character_references_are_decoded() -> None:
    script = cues.load_script(DATA / "reading.en.vtt")
    assert script.cues[4].text["en"] == "Questions & answers follow."
    assert "&amp;" in (DATA / "reading.en.vtt").read_text(encoding="utf-8")


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
        f"{path}:10: cue 3 ends before it starts",
    ]


def test_bad_vtt_timings_and_a_dangling_identifier() -> None:
    path = BROKEN / "timing.en.vtt"
    problems = problems_of(path)
    assert problems[0] == (
        f"{path}:7: bad timing line '00:03.000 --> 00:04' "
        "(expected 00:01.000 --> 00:02.500, hours optional)"
    )
    assert problems[1].startswith(f"{path}:10: expected a timing line after 'dangling-identifier'")


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
        str(BROKEN / "timing.en.srt"),
        str(BROKEN / "empty.fr.srt"),
        str(DATA / "none.srt"),
    ]


# -- check_files, for `coordinator cues check` --------------------------------------------------


def test_check_one_csv_and_a_set_of_subtitle_files() -> None:
    ok, lines = cues.check_files([DATA / "reading.csv", *per_language("srt").values()])
    assert ok
    assert lines == [
        f"{DATA / 'reading.csv'}: 6 cues (1 blank), languages en, fr, ru, ta",
        " + ".join(str(p) for p in per_language("srt").values())
        + ": 6 cues (1 blank), languages en, fr, ru, ta",
    ]


def test_check_reports_problems_and_fails() -> None:
    ok, lines = cues.check_files([BROKEN / "header.csv", DATA / "reading.yaml"])
    assert not ok
    assert lines[0].startswith(f"{BROKEN / 'header.csv'}:1: no language columns")
    assert lines[1] == f"{DATA / 'reading.yaml'}: 6 cues (1 blank), languages en, fr, ru, ta"


def test_check_needs_the_language_in_subtitle_file_names(tmp_path: Path) -> None:
    nameless = tmp_path / "my-hour.srt"
    nameless.write_bytes((DATA / "reading.fr.srt").read_bytes())
    ok, lines = cues.check_files([nameless, DATA / "reading.fr.srt", DATA / "reading.fr.vtt"])
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
    assert cues.check_files([]) == (False, ["no files given"])


# -- the cue rules ------------------------------------------------------------------------------


def test_next_and_prev_walk_the_script() -> None:
    state = CueState(count=3)
    state = apply_cue(state, "next")
    assert state == CueState(index=1, count=3)
    state = apply_cue(apply_cue(state, "next"), "next")
    assert state.index == 3
    with pytest.raises(RuleError) as info:
        apply_cue(state, "next")
    assert info.value.code == "conflict" and "already at the last cue" in info.value.message
    for expected in (2, 1, 0):
        state = apply_cue(state, "prev")
        assert state.index == expected
    with pytest.raises(RuleError) as info:
        apply_cue(state, "prev")
    assert info.value.code == "conflict"


def test_next_without_a_script_is_refused() -> None:
    with pytest.raises(RuleError) as info:
        apply_cue(CueState(), "next")
    assert info.value.code == "conflict" and "no script" in info.value.message


def test_goto_bounds() -> None:
    state = CueState(index=2, count=5)
    assert apply_cue(state, "goto", index=5).index == 5
    assert apply_cue(state, "goto", index=0).index == 0
    assert apply_cue(state, "goto", index=2) == state
    for bad in (-1, 6):
        with pytest.raises(RuleError) as info:
            apply_cue(state, "goto", index=bad)
        assert info.value.code == "invalid" and "0 to 5" in info.value.message
    with pytest.raises(RuleError) as info:
        apply_cue(state, "goto")
    assert info.value.code == "invalid"
    with pytest.raises(RuleError) as info:
        apply_cue(state, "goto", index=True)
    assert info.value.code == "invalid"
    with pytest.raises(RuleError) as info:
        apply_cue(state, "next", index=3)
    assert info.value.code == "invalid" and "only allowed with goto" in info.value.message


def test_blank_is_idempotent_and_survives_moving() -> None:
    state = apply_cue(CueState(index=1, count=3), "blank")
    assert state.blank
    assert apply_cue(state, "blank") == state
    # Blind navigation: move while blank, the screen stays blank until unblank.
    moved = apply_cue(apply_cue(state, "next"), "next")
    assert moved == CueState(index=3, blank=True, count=3)
    assert apply_cue(moved, "unblank") == CueState(index=3, blank=False, count=3)
    assert apply_cue(CueState(count=3), "unblank") == CueState(count=3)


def test_from_must_match_the_current_index() -> None:
    state = CueState(index=4, count=9)
    assert apply_cue(state, "next", expected_from=4).index == 5
    with pytest.raises(RuleError) as info:
        apply_cue(state, "next", expected_from=3)  # a second GO from a stale console
    assert info.value.code == "conflict" and "at 4, not 3" in info.value.message
    with pytest.raises(RuleError) as info:
        apply_cue(state, "blank", expected_from=5)
    assert info.value.code == "conflict"


def test_unknown_action_is_invalid() -> None:
    with pytest.raises(RuleError) as info:
        apply_cue(CueState(count=1), "jump")  # type: ignore[arg-type]
    assert info.value.code == "invalid"


@given(
    count=st.integers(0, 6),
    commands=st.lists(
        st.tuples(st.sampled_from(cues.CUE_ACTIONS), st.integers(-2, 8)), max_size=30
    ),
)
def test_any_sequence_of_commands_keeps_the_pointer_in_range(
    count: int, commands: list[tuple[cues.CueAction, int]]
) -> None:
    state = CueState(count=count)
    refusals: set[str] = set()
    for action, number in commands:
        try:
            new = apply_cue(
                state,
                action,
                index=number if action == "goto" else None,
                expected_from=state.index,
            )
        except RuleError as exc:
            refusals.add(exc.code)
            continue
        assert 0 <= new.index <= count and new.count == count
        assert abs(new.index - state.index) <= 1 or action == "goto"
        state = new
    assert refusals <= {"conflict", "invalid"}


# -- the views ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def script() -> Script:
    return cues.load_script(DATA / "reading.csv")


def test_view_before_the_first_cue(script: Script) -> None:
    view = cue_view(script, CueState(count=6), with_next=False)
    assert view == {
        "index": 0,
        "count": 6,
        "blank": False,
        "version": script.version,
        "languages": list(LANGS),
        "text": {},
        "follows": None,
    }


def test_script_version_follows_the_content(script: Script) -> None:
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


def test_audience_view_shows_the_current_cue_and_nothing_for_the_operator(script: Script) -> None:
    view = cue_view(script, CueState(index=2, count=6), with_next=False)
    assert view["text"] == EXPECTED[1]
    assert "notes" not in view and "next" not in view and "next_notes" not in view


def test_audience_view_while_blank_carries_no_text(script: Script) -> None:
    view = cue_view(script, CueState(index=2, blank=True, count=6), with_next=False)
    assert view["blank"] is True and view["text"] == {}


def test_operator_view_has_notes_and_the_next_cue(script: Script) -> None:
    view = cue_view(script, CueState(index=3, blank=True, count=6), with_next=True)
    assert view["text"] == EXPECTED[2]  # the operator still sees where the pointer is
    assert view["next"] == EXPECTED[3] and view["next_notes"] == NOTES[3]
    assert view["label"] == "3" and view["next_label"] == "4" and view["notes"] == ""
    start = cue_view(script, CueState(count=6), with_next=True)
    assert start["text"] == {} and start["notes"] == "" and start["next"] == EXPECTED[0]
    assert start["next_notes"] == NOTES[0]
    last = cue_view(script, CueState(index=6, count=6), with_next=True)
    assert last["notes"] == NOTES[5] and last["next"] == {} and last["next_notes"] == ""


def test_view_without_a_script() -> None:
    view = cue_view(None, CueState(), with_next=True)
    assert view["text"] == {} and view["next"] == {} and view["languages"] == []


# -- the cue log --------------------------------------------------------------------------------

T0 = datetime(2025, 9, 20, 12, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


LOG = [
    CueLogEntry(at(-60), 0, False),  # the channel opens: nothing shown
    CueLogEntry(at(-30), 0, True),  # blanked before anything: still nothing
    CueLogEntry(at(0), 1, True),  # moved while blank: still nothing
    CueLogEntry(at(2.5), 1, False),  # the first GO that shows a cue: 00:00:00.000
    CueLogEntry(at(6), 2, False),
    CueLogEntry(at(6.5), 2, False),  # the same state again: no split
    CueLogEntry(at(11.25), 3, False),
    CueLogEntry(at(15), 3, True),  # blank: nothing until unblank
    CueLogEntry(at(20), 3, False),
    CueLogEntry(at(21), 4, False),  # the blank cue: nothing shown
    CueLogEntry(at(23), 5, False),
    CueLogEntry(at(3600 + 23), 6, False),  # an hour later; the last cue lasts 5 s
]


def test_cue_log_csv(script: Script) -> None:
    rows = list(csv.reader(io.StringIO(cues.cue_log_csv(LOG, script), newline="")))
    assert rows[0] == ["time_utc", "index", "blank", "en", "fr", "ru", "ta"]
    assert len(rows) == len(LOG) + 1
    assert rows[1] == ["2025-09-20T11:59:00.000Z", "0", "false", "", "", "", ""]
    assert rows[4][:3] == ["2025-09-20T12:00:02.500Z", "1", "false"]
    assert rows[5][3:] == [EXPECTED[1][lang] for lang in LANGS]  # line breaks kept
    assert rows[8][:4] == ["2025-09-20T12:00:15.000Z", "3", "true", EXPECTED[2]["en"]]


def test_cue_log_csv_converts_to_utc_and_refuses_naive_times(script: Script) -> None:
    paris = datetime.fromisoformat("2025-09-20T14:00:00+02:00")
    assert "2025-09-20T12:00:00.000Z" in cues.cue_log_csv([CueLogEntry(paris, 1, False)], script)
    with pytest.raises(ValueError, match="no time zone"):
        cues.cue_log_csv([CueLogEntry(datetime(2025, 9, 20, 12), 1, False)], script)


VTT_CUE = re.compile(r"^(\d{2}):(\d{2}):(\d{2})\.(\d{3}) --> (\d{2}):(\d{2}):(\d{2})\.(\d{3})$")


def vtt_timings(vtt: str) -> list[tuple[int, int]]:
    """The cue timings in milliseconds, read with a regex of its own."""
    spans = []
    for line in vtt.splitlines():
        match = VTT_CUE.match(line)
        if match:
            h1, m1, s1, ms1, h2, m2, s2, ms2 = map(int, match.groups())
            spans.append(
                (((h1 * 60 + m1) * 60 + s1) * 1000 + ms1, ((h2 * 60 + m2) * 60 + s2) * 1000 + ms2)
            )
    return spans


def test_cue_log_vtt_is_timed_from_the_first_go(script: Script) -> None:
    vtt = cues.cue_log_vtt(LOG, script, ["en", "fr"])
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> ")
    spans = vtt_timings(vtt)
    assert spans == [
        (0, 3500),  # cue 1 until cue 2
        (3500, 8750),  # cue 2, the repeated entry does not split it
        (8750, 12500),  # cue 3 until the blank
        (17500, 18500),  # cue 3 again after unblank, until the blank cue 4
        (20500, 3620500),  # cue 5, an hour
        (3620500, 3625500),  # cue 6, the last: 5 s
    ]
    flat = [t for span in spans for t in span]
    assert flat == sorted(flat)
    # Read back with the project's own parser: the text is what the script says.
    back = cues.parse_vtt(vtt, "export.vtt")
    assert [(c.start_ms, c.end_ms) for c in back] == spans
    assert back[0].text == f"{EXPECTED[0]['en']}\n{EXPECTED[0]['fr']}"
    assert back[4].text == f"{EXPECTED[4]['en']}\n{EXPECTED[4]['fr']}"


def test_cue_log_vtt_escapes_all_but_the_safe_tags(script: Script) -> None:
    vtt = cues.cue_log_vtt(LOG, script, ["en"])
    assert "<i>My Hour</i>, by Esther Bol" in vtt
    assert "Questions &amp; answers follow." in vtt
    assert cues.vtt_escape("<b>a</b> < b & c --> d <script>") == (
        "<b>a</b> &lt; b &amp; c --&gt; d &lt;script&gt;"
    )
    assert cues.vtt_escape("one\n\ntwo") == "one\ntwo"  # an empty line would end the cue


def test_cue_log_vtt_languages_and_edge_cases(script: Script) -> None:
    tamil = cues.cue_log_vtt(LOG, script, ["ta"])
    assert EXPECTED[1]["ta"] in tamil and EXPECTED[1]["en"] not in tamil
    assert cues.cue_log_vtt([], script, ["en"]) == "WEBVTT\n"
    assert cues.cue_log_vtt(LOG[:3], script, ["en"]) == "WEBVTT\n"  # never shown
    with pytest.raises(ValueError, match="not de"):
        cues.cue_log_vtt(LOG, script, ["de"])
    # A clock that steps back never makes the export go backwards.
    stepped = [CueLogEntry(at(10), 1, False), CueLogEntry(at(12), 2, False)]
    stepped.append(CueLogEntry(at(11), 3, False))
    assert vtt_timings(cues.cue_log_vtt(stepped, script, ["en"])) == [(0, 2000), (2000, 7000)]


# -- the demo script ----------------------------------------------------------------------------


def test_demo_script_loads() -> None:
    ok, lines = cues.check_files([DEMO])
    assert ok, lines
    script = cues.load_script(DEMO)
    assert script.languages == ("en", "fr")
    assert 12 <= len(script.cues) <= 20
    assert any("\n" in cue.text["en"] and "\n" in cue.text["fr"] for cue in script.cues)
    assert any("<i>" in cue.text["en"] and "<i>" in cue.text["fr"] for cue in script.cues)
    assert script.cues[0].notes and script.blank_count >= 1
    assert [cue.label for cue in script.cues] == [str(n) for n in range(1, len(script.cues) + 1)]


def test_demo_french_typography() -> None:
    french = [cue.text["fr"] for cue in cues.load_script(DEMO).cues]
    for text in french:
        assert "'" not in text, text  # apostrophes are ’
        assert not re.search(r"[^\u00a0][;:!?]", text), text  # non-breaking space before ;:!?
        assert not re.search(r"\s[,.]", text), text
    assert any("’" in text for text in french)
