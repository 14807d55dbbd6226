"""The cue log and its CSV and WebVTT exports."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest

from coordinator import scripts
from coordinator.cue_log import CueLogEntry, cue_log_csv, cue_log_vtt, vtt_escape
from coordinator.scripts import Script
from tests.unit.script_data import EXPECTED, LANGS, reading_script


@pytest.fixture(scope="module")
def script() -> Script:
    return reading_script()


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
    rows = list(csv.reader(io.StringIO(cue_log_csv(LOG, script), newline="")))
    assert rows[0] == ["time_utc", "index", "blank", "en", "fr", "ru", "ta"]
    assert len(rows) == len(LOG) + 1
    assert rows[1] == ["2025-09-20T11:59:00.000Z", "0", "false", "", "", "", ""]
    assert rows[4][:3] == ["2025-09-20T12:00:02.500Z", "1", "false"]
    assert rows[5][3:] == [EXPECTED[1][lang] for lang in LANGS]  # line breaks kept
    assert rows[8][:4] == ["2025-09-20T12:00:15.000Z", "3", "true", EXPECTED[2]["en"]]


def test_cue_log_csv_converts_to_utc_and_refuses_naive_times(script: Script) -> None:
    paris = datetime.fromisoformat("2025-09-20T14:00:00+02:00")
    assert "2025-09-20T12:00:00.000Z" in cue_log_csv([CueLogEntry(paris, 1, False)], script)
    with pytest.raises(ValueError, match="no time zone"):
        cue_log_csv([CueLogEntry(datetime(2025, 9, 20, 12), 1, False)], script)


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
    vtt = cue_log_vtt(LOG, script, ["en", "fr"])
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
    back = scripts.parse_vtt(vtt, "export.vtt")
    assert [(c.start_ms, c.end_ms) for c in back] == spans
    assert back[0].text == f"{EXPECTED[0]['en']}\n{EXPECTED[0]['fr']}"
    assert back[4].text == f"{EXPECTED[4]['en']}\n{EXPECTED[4]['fr']}"


def test_cue_log_vtt_escapes_all_but_the_safe_tags(script: Script) -> None:
    vtt = cue_log_vtt(LOG, script, ["en"])
    assert "<i>My Hour</i>, by Esther Bol" in vtt
    assert "Questions &amp; answers follow." in vtt
    assert vtt_escape("<b>a</b> < b & c --> d <script>") == (
        "<b>a</b> &lt; b &amp; c --&gt; d &lt;script&gt;"
    )
    assert vtt_escape("one\n\ntwo") == "one\ntwo"  # an empty line would end the cue


def test_cue_log_vtt_languages_and_edge_cases(script: Script) -> None:
    tamil = cue_log_vtt(LOG, script, ["ta"])
    assert EXPECTED[1]["ta"] in tamil and EXPECTED[1]["en"] not in tamil
    assert cue_log_vtt([], script, ["en"]) == "WEBVTT\n"
    assert cue_log_vtt(LOG[:3], script, ["en"]) == "WEBVTT\n"  # never shown
    with pytest.raises(ValueError, match="not de"):
        cue_log_vtt(LOG, script, ["de"])
    # A clock that steps back never makes the export go backwards.
    stepped = [CueLogEntry(at(10), 1, False), CueLogEntry(at(12), 2, False)]
    stepped.append(CueLogEntry(at(11), 3, False))
    assert vtt_timings(cue_log_vtt(stepped, script, ["en"])) == [(0, 2000), (2000, 7000)]


def test_a_backward_clock_step_loses_no_cue_after_it(script: Script) -> None:
    # The server's clock stepped back an hour between cue 2 and cue 3.
    stepped = [
        CueLogEntry(at(0), 1, False),
        CueLogEntry(at(4), 2, False),
        CueLogEntry(at(-3600 + 5), 3, False),
        CueLogEntry(at(-3600 + 9), 5, False),  # (cue 4 is a blank)
    ]
    times = re.findall(r"^(\S+) --> (\S+)$", cue_log_vtt(stepped, script, ["en"]), re.M)
    # The gap across the step counts as none; every later duration is kept.
    assert times == [
        ("00:00:00.000", "00:00:04.000"),
        ("00:00:04.000", "00:00:08.000"),
        ("00:00:08.000", "00:00:13.000"),
    ]


@pytest.mark.parametrize(
    "text",
    ['=HYPERLINK("http://x")', "+1", "- Yes, and then?", "@SUM(A1)", "\tx", "  =1+1", "＝1+1"],
)
def test_cue_log_csv_cells_never_start_a_formula(text: str) -> None:
    one = Script(cues=(scripts.Cue(number=1, text={"en": text}),), languages=("en",), source="x")
    rows = list(csv.reader(io.StringIO(cue_log_csv([CueLogEntry(at(0), 1, False)], one))))
    assert rows[1][3] == "'" + text
