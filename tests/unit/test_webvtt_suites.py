"""A sample of the public WebVTT test suites (tests/data/webvtt-suites, see its README):
cue boundaries, identifiers, timings and cue text as the suites expect them, and the text
the screens get checked against the tree the suite's renderer builds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from coordinator import scripts
from coordinator.scripts import ScriptError, markup, webvtt
from tests.support.harness import ROOT

SUITES = ROOT / "tests" / "data" / "webvtt-suites"
WPT = SUITES / "wpt"
VTTJS = SUITES / "vtt.js"

# Where the older vtt.js suite and the standard (as the web-platform-tests hold it) disagree,
# this parser follows the standard.
VTTJS_DIFFERS = {
    # "000:00.000": three hour digits need minutes and seconds after them (wpt
    # timings-too-long.vtt holds the same line as invalid).
    "cue-times/min-top-digits.vtt",
    "cue-times/minimum-spots-over-sixty.vtt",
    # A timing line right under WEBVTT starts a cue (wpt header-timings.html expects it).
    "file-layout/header-no-new-line.vtt",
}
# vtt.js decodes only the six references of the 2013 draft; the standard decodes HTML's named
# character references, which include "&nbsp", "&lt" and "&gt" without their semicolon.
VTTJS_TEXT_DIFFERS = {"cuetext/escape-characters/incorrect.vtt"}


def _cues(found: list[webvtt.VttCue]) -> list[tuple[str, int, int, str]]:
    return [(c.identifier, c.start_ms, c.end_ms, c.text) for c in found]


def _expected(cues: list[dict[str, Any]]) -> list[tuple[str, int, int, str]]:
    return [
        (c["id"], round(c["startTime"] * 1000), round(c["endTime"] * 1000), c["text"]) for c in cues
    ]


def _wpt_cases() -> list[str]:
    return sorted(json.loads((WPT / "expected.json").read_text(encoding="utf-8")))


def _vttjs_cases() -> list[str]:
    manifest = json.loads((VTTJS / "manifest.json").read_text(encoding="utf-8"))
    return sorted(name for name in manifest if name not in VTTJS_DIFFERS)


@pytest.mark.parametrize("name", _wpt_cases())
def test_wpt_cues(name: str) -> None:
    expected = json.loads((WPT / "expected.json").read_text(encoding="utf-8"))[name]
    text = (WPT / name).read_text(encoding="utf-8")
    found = webvtt.cut(text)
    assert _cues(found.cues) == _expected(expected)
    _check_refused_or_same(text, found, name)


@pytest.mark.parametrize("name", _vttjs_cases())
def test_vttjs_cues(name: str) -> None:
    manifest = json.loads((VTTJS / "manifest.json").read_text(encoding="utf-8"))
    text = (VTTJS / name).read_bytes().decode("utf-8")
    expected = json.loads((VTTJS / manifest[name]).read_text(encoding="utf-8"))["cues"]
    found = webvtt.cut(text) if webvtt.is_webvtt(text) else webvtt.VttFile()
    assert _cues(found.cues) == _expected(expected)
    if webvtt.is_webvtt(text):
        _check_refused_or_same(text, found, name)


def _check_refused_or_same(text: str, found: webvtt.VttFile, name: str) -> None:
    """The loader gives the algorithm's cues, or refuses the file naming each dropped block
    (or, with no cue at all, says so)."""

    def shows_nothing(cue: webvtt.VttCue) -> bool:
        return not markup.from_webvtt(cue.text, 1, lambda line, message: None).text.strip()

    if found.dropped or not found.cues or any(shows_nothing(c) for c in found.cues):
        with pytest.raises(ScriptError) as info:
            scripts.parse_vtt(text, name)
        for dropped in found.dropped:
            assert any(p.startswith(f"{name}:{dropped.line}: ") for p in info.value.problems)
        return
    parsed = scripts.parse_vtt(text, name)
    assert [(c.start_ms, c.end_ms) for c in parsed] == [(c.start_ms, c.end_ms) for c in found.cues]


def _rendered(nodes: list[dict[str, Any]]) -> str:
    """The text of the renderer's tree, <i> <b> <u> kept, ruby text dropped."""
    out = []
    for node in nodes:
        name = node.get("localName", "")
        if name == "":
            out.append(node.get("data", ""))
        elif name in ("i", "b", "u"):
            out.append(f"<{name}>{_rendered(node['childNodes'])}</{name}>")
        elif name != "rt":
            out.append(_rendered(node["childNodes"]))
    return "".join(out)


def _proc_cases() -> list[Path]:
    found = []
    for proc in sorted(VTTJS.glob("cuetext/**/*-proc.json")):
        name = str(proc.relative_to(VTTJS)).removesuffix("-proc.json") + ".vtt"
        if json.loads(proc.read_text(encoding="utf-8")) and name not in VTTJS_TEXT_DIFFERS:
            found.append(proc)
    return found


@pytest.mark.parametrize("proc", _proc_cases(), ids=lambda p: p.name)
def test_vttjs_screen_text(proc: Path) -> None:
    trees = json.loads(proc.read_text(encoding="utf-8"))
    vtt = proc.with_name(proc.name.replace("-proc.json", ".vtt"))
    cues = webvtt.cut(vtt.read_text(encoding="utf-8")).cues
    assert len(trees) == len(cues)
    for tree, cue in zip(trees, cues, strict=True):
        expected = _rendered(tree["childNodes"][0]["childNodes"]) if tree["childNodes"] else ""
        shown = markup.from_webvtt(cue.text, 1, lambda line, message: None).text
        assert markup.unescape(shown) == expected


def test_the_sample_size() -> None:
    """The count the docs state (docs/surtitles.md)."""
    assert (len(_wpt_cases()), len(_vttjs_cases()), len(_proc_cases())) == (6, 95, 56)
