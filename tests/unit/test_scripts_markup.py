"""Subtitle files as surtitlers really make them: merged cues, the formats' own markup, escapes,
the valid timings browsers accept, and text damaged before it reached us."""

from __future__ import annotations

from pathlib import Path

import pytest

from coordinator import scripts
from coordinator.scripts import ScriptError, markup

FORBIDDEN_ON_SCREEN = ("-->", "{\\", "<v", "<c", "<font", "<ruby", "<rt", "<lang", "<0")


def screen_text(text: str) -> str:
    """What a page shows of cue text (tags kept), as coordinator/web/cue-text.js reads it."""
    return markup.unescape(text)


def assert_clean(texts: list[str]) -> None:
    for text in texts:
        assert not any(bad in markup.plain(text) for bad in FORBIDDEN_ON_SCREEN), text


# -- cues without the blank line between them ---------------------------------------------------


def test_srt_cues_without_a_blank_line_are_split() -> None:
    text = "1\n00:00:01,000 --> 00:00:02,000\nHello.\n2\n00:00:05,000 --> 00:00:06,000\nAgain.\n"
    cues = scripts.parse_srt(text, "a.en.srt")
    assert [(c.label, c.text) for c in cues] == [("1", "Hello."), ("2", "Again.")]
    # Without its number too: the timing line still starts a cue.
    cues = scripts.parse_srt(
        "1\n00:00:01,000 --> 00:00:02,000\nHi.\n00:00:05.000 --> 00:00:06.000\nYo.\n", "b.srt"
    )
    assert [c.text for c in cues] == ["Hi.", "Yo."]


def test_vtt_cues_without_a_blank_line_are_split() -> None:
    text = "WEBVTT\n\n00:01.000 --> 00:02.000\nHello.\n00:05.000 --> 00:06.000\nAgain.\n"
    assert [c.text for c in scripts.parse_vtt(text, "a.vtt")] == ["Hello.", "Again."]


def test_a_merged_cue_never_reaches_a_screen_through_check(tmp_path: Path) -> None:
    path = tmp_path / "merged.fr.srt"
    path.write_text(
        "1\n00:00:01,000 --> 00:00:02,000\nBonjour.\n2\n00:00:05,000 --> 00:00:06,000\nEncore.\n"
    )
    ok, lines = scripts.check_files([path])
    assert ok and lines[-1].endswith("2 cues, languages fr")


# -- valid WebVTT timings ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "timing",
    [
        "0:00:01.000 --> 0:00:02.000",  # one-digit hours
        "00:01.000-->00:02.000",  # no spaces around the arrow
        "00:01.000 --> 00:02.000align:start",  # settings glued to the end time
        "00:01.000\f-->\f00:02.000",  # form feed is whitespace
        "00:01.000\t-->\t00:02.000 line:0",
    ],
)
def test_valid_webvtt_timings_are_read(timing: str) -> None:
    (cue,) = scripts.parse_vtt(f"WEBVTT\n\n{timing}\nHello.\n", "t.vtt")
    assert (cue.start_ms, cue.end_ms, cue.text) == (1000, 2000, "Hello.")


def test_cr_and_crlf_line_ends_and_a_nul() -> None:
    text = (
        "WEBVTT\r\rid\r00:01.000 --> 00:02.000\rOne\x00\r\n\r\n00:03.000 --> 00:04.000\r\nTwo\r\n"
    )
    cues = scripts.parse_vtt(text, "cr.vtt")
    assert [(c.label, c.text) for c in cues] == [("id", "One\ufffd"), ("", "Two")]


# -- markup ------------------------------------------------------------------------------------


def test_webvtt_markup_is_stripped_and_each_construct_reported() -> None:
    text = (
        "WEBVTT\n\n"
        "00:01.000 --> 00:02.000\n"
        "<v Roger>Hi <c.yellow>there</c></v>\n"
        "<lang fr>Bonjour</lang> <ruby>漢<rt>kan</rt></ruby> <00:00:01.500>now\n"
        "\n"
        "00:03.000 --> 00:04.000\n"
        "<i.loud>Shout</i> &amp; &lt;i&gt;not italic&lt;/i&gt;\n"
    )
    first, second = scripts.parse_vtt(text, "m.en.vtt")
    assert first.text == "Hi there\nBonjour 漢 now" and first.speaker == "Roger"
    assert second.text == "<i>Shout</i> & &lt;i>not italic&lt;/i>"
    assert markup.plain(second.text) == "Shout & <i>not italic</i>"
    assert first.warnings == (
        "m.en.vtt:4: stripped the voice tag <v Roger>",
        "m.en.vtt:4: stripped the class span tag <c.yellow>",
        "m.en.vtt:5: stripped the language span tag <lang fr>",
        "m.en.vtt:5: stripped the ruby tag <ruby>",
        "m.en.vtt:5: stripped the ruby text tag <rt>",
        "m.en.vtt:5: stripped the timestamp tag <00:00:01.500>",
    )
    assert second.warnings == ("m.en.vtt:8: stripped the class or annotation of <i.loud>",)
    assert_clean([first.text, second.text])


def test_srt_markup_is_stripped_and_italics_kept() -> None:
    text = (
        "1\n00:00:01,000 --> 00:00:02,000\n"
        '{\\an8}<font color="#ffff00">Top</font> <I>line</I>\n'
        "{\\i1}Quoted{\\i0} & a < b\n"
    )
    (cue,) = scripts.parse_srt(text, "s.srt")
    assert cue.text == "Top <i>line</i>\nQuoted & a < b"
    assert cue.warnings == (
        "s.srt:3: stripped the override code {\\an8}",
        's.srt:3: stripped the tag <font color="#ffff00">',
        "s.srt:4: stripped the override code {\\i1}",
        "s.srt:4: stripped the override code {\\i0}",
    )
    assert_clean([cue.text])


def test_a_voice_becomes_a_note_for_the_operator_only() -> None:
    script = scripts.parse_upload(
        "vtt", {"en": "WEBVTT\n\n00:01.000 --> 00:02.000\n<v Mary>No way!</v>\n"}
    )
    (cue,) = script.cues
    assert cue.text == {"en": "No way!"} and cue.notes == "voice: Mary"
    assert script.warnings == ("upload.en.vtt:4: stripped the voice tag <v Mary>",)


def test_an_escaped_tag_in_a_spreadsheet_stays_text() -> None:
    script = scripts.parse_delimited("n,en\n1,<i>Yes</i> &lt;i&gt; <b\n", "x.csv")
    assert script.cues[0].text["en"] == "<i>Yes</i> &amp;lt;i&amp;gt; <b"
    assert screen_text(script.cues[0].text["en"]) == "<i>Yes</i> &lt;i&gt; <b"


def test_literal_and_unescape_are_inverse() -> None:
    for text in ["a < b", "<i>", "&lt;", "&amp;lt;", "Tom & Jerry", "</b>&gt;"]:
        assert markup.plain(markup.literal(text)) == text


# -- damaged text ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "why"),
    [
        ("Bienvenue Ã  tous", "'à' decoded twice"),
        ("Café crÃ©me", "'é' decoded twice"),
        ("Itâ€™s", "'’' decoded twice"),
        ("Â«Â Salut", "'«' decoded twice"),
        ("????? ?????????.", "replaced by '?'"),
    ],
)
def test_damaged_text_is_refused_naming_the_cell(cell: str, why: str) -> None:
    with pytest.raises(ScriptError) as info:
        scripts.parse_delimited(f"n;en;fr\n1;Welcome;{cell}\n", "excel.csv")
    (problem,) = info.value.problems
    assert problem.startswith("excel.csv:2: column 'fr': ") and why in problem


def test_damaged_subtitle_text_is_refused() -> None:
    with pytest.raises(ScriptError, match=r"d\.srt:3: cue 1: .*decoded twice"):
        scripts.parse_srt("1\n00:00:01,000 --> 00:00:02,000\nVoilÃ  !\n", "d.srt")


def test_question_marks_a_surtitler_wrote_are_kept() -> None:
    script = scripts.parse_delimited("n,en,fr\n1,What?,Quoi ?\n2,Really??,Vraiment ??\n", "q.csv")
    assert script.cues[1].text == {"en": "Really??", "fr": "Vraiment ??"}
