"""What the script tests share: the fixture files in tests/data/cues and what they say."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from coordinator import scripts
from coordinator.scripts import Script, ScriptError
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
        scripts.load_script(source)
    assert str(info.value) == "\n".join(info.value.problems)
    problems: list[str] = info.value.problems
    return problems


def reading_script() -> Script:
    """The fixture script every format spells (tests/data/cues/reading.csv)."""
    return scripts.load_script(DATA / "reading.csv")
