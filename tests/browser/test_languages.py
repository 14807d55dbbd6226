"""Every page in its languages, in headless Chromium: the public pages (dashboard, phone,
projector captions) in English, French, German, Finnish and Tamil; the staff consoles in
English and French. Chosen by ?lang=, the browser's languages, or the switch."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import Tokens
from tests.support.harness import ROOT, ServerProcess

pytestmark = pytest.mark.browser

PUBLIC = ["en", "fr", "de", "fi", "ta"]
STAFF = ["en", "fr"]
# Chennai gets a short script in the five languages, so its projector speaks them all.
SCRIPT = (
    "n,en,fr,de,fi,ta\n"
    "1,Welcome.,Bienvenue.,Willkommen.,Tervetuloa.,வணக்கம்.\n"
    "2,-,-,-,-,-\n"
    "3,Thank you.,Merci.,Danke.,Kiitos.,நன்றி.\n"
)


@cache
def words(lang: str) -> dict[str, str]:
    """A dictionary as the unit tests read it (tests/unit/test_dictionaries.py)."""
    from tests.unit.test_dictionaries import dictionary

    return dictionary(lang)


@pytest.fixture
def multilingual(config_path: Path) -> Path:
    (config_path.parent / "scripts" / "five.csv").write_text(SCRIPT, encoding="utf-8")
    text = config_path.read_text(encoding="utf-8")
    marker = "  - id: chennai\n"
    start = text.index(marker)
    end = text.find("\n  - id:", start + 1)
    block = text[start : end if end > 0 else len(text)]
    text = text.replace(
        block,
        block.rstrip("\n") + "\n    surtitles:\n      languages: [ta]\n"
        "      script: scripts/five.csv\n",
    )
    config_path.write_text(text, encoding="utf-8")
    return config_path


@pytest.mark.parametrize("lang", PUBLIC)
def test_the_public_pages_speak_each_language(
    server_factory: Callable[..., ServerProcess],
    multilingual: Path,
    open_page: Callable[..., Any],
    lang: str,
) -> None:
    server = server_factory(config=multilingual)
    w = words(lang)
    dashboard = open_page(width=390, height=844)
    dashboard.goto(f"{server.url}/?lang={lang}")
    expect(dashboard.locator("html")).to_have_attribute("lang", lang)
    expect(dashboard.locator("#connection")).to_have_text(w["conn_live"])
    expect(dashboard.locator('#cities [data-city="paris"] .status')).to_have_text(
        w["state_scheduled"]
    )
    expect(dashboard.locator("#timeline-title")).to_have_text(w["timeline_title"])
    expect(dashboard.locator('#lang-switch button[aria-pressed="true"]')).to_have_attribute(
        "data-lang", lang
    )
    for node in dashboard.locator("[data-i18n]").all():
        assert node.text_content() == w[node.get_attribute("data-i18n")]

    phone = open_page(width=390, height=844)
    phone.goto(f"{server.url}/follow/chennai?lang={lang}")
    expect(phone.locator("#hint")).to_have_text(w["phone_waiting"])
    expect(phone.locator("#size-label")).to_have_text(w["phone_size"])
    # Five languages in the script: one menu rather than rows of buttons.
    expect(phone.locator("#lang-menu")).to_have_value(lang)
    expect(phone.locator("#lang-menu option")).to_have_count(5)

    projector = open_page(width=1280, height=720)
    projector.goto(f"{server.url}/display/chennai?lang={lang}")
    caption = projector.locator("#waiting-text")
    expect(caption.locator(f'span[lang="{lang}"]')).to_have_text(w["screen_surtitles"])
    if lang != "en":  # English follows, for visitors
        expect(caption.locator('span[lang="en"]')).to_have_text(words("en")["screen_surtitles"])


def test_a_tamil_phone_follows_chennai_and_a_blank_waits_quietly(
    server_factory: Callable[..., ServerProcess],
    multilingual: Path,
    open_page: Callable[..., Any],
    tokens: Tokens,
) -> None:
    """The browser's language chooses; a blank cue says "waiting for the next line"."""
    server = server_factory(config=multilingual)
    phone = open_page(width=390, height=844, locale="ta-IN")
    phone.goto(f"{server.url}/follow/chennai")
    expect(phone.locator("#hint")).to_have_text(words("ta")["phone_waiting"])
    for index in (1, 2):
        code, body = server.post_json(
            "/api/cues/chennai/goto", {"id": f"g{index}", "index": index}, tokens.admin
        )
        assert code == 200, body
    expect(phone.locator("body")).to_have_attribute("data-show", "blank")
    expect(phone.locator("#hint")).to_have_text(words("ta")["phone_blank"])


@pytest.mark.parametrize("lang", STAFF)
def test_the_consoles_speak_english_and_french(
    server: ServerProcess, open_page: Callable[..., Any], tokens: Tokens, lang: str
) -> None:
    w = words(lang)
    coordinator = open_page(width=390, height=844, locale="de-DE")  # German: not a staff language
    coordinator.goto(f"{server.url}/coordinator?lang={lang}")
    expect(coordinator.locator("html")).to_have_attribute("lang", lang)
    coordinator.fill("#token", tokens.paris)
    coordinator.press("#token", "Enter")
    expect(coordinator.locator("#connection")).to_have_text(w["staff_conn_live"])
    expect(coordinator.locator('#actions button[data-state="live"]')).to_have_text(w["co_do_live"])
    for node in coordinator.locator("[data-i18n]").all():
        if node.get_attribute("id") != "city-start-label":  # it says started or starts
            assert node.text_content() == w[node.get_attribute("data-i18n")]

    operator = open_page(width=1280, height=800)
    operator.goto(f"{server.url}/operator/paris?lang={lang}")
    operator.fill("#token", tokens.paris_operator)
    operator.press("#token", "Enter")
    expect(operator.locator("#connection")).to_have_text(w["staff_conn_live"])
    expect(operator.locator("#tools-title")).to_have_text(
        w["op_tools_title"].replace("{city}", "Paris")
    )
    expect(operator.locator("#position")).to_have_text(
        w["op_position_start"].replace("{count}", "17")
    )
    for node in operator.locator("#console [data-i18n]").all():
        assert node.text_content() == w[node.get_attribute("data-i18n")]


def test_german_browsers_get_english_consoles_and_the_switch_changes_them(
    server: ServerProcess, open_page: Callable[..., Any], tokens: Tokens
) -> None:
    page = open_page(width=1280, height=800, locale="de-DE")
    page.goto(f"{server.url}/operator/paris")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#lang-switch button")).to_have_count(2)
    page.click('#lang-switch button[data-lang="fr"]')
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.locator('label[for="token"]')).to_have_text(words("fr")["op_token"])
    assert "lang=fr" in page.url
    page.fill("#token", tokens.paris_operator)
    page.press("#token", "Enter")
    expect(page.locator("#go")).to_be_enabled()
    page.keyboard.press("Space")
    expect(page.locator("#message")).to_have_text(
        words("fr")["op_done"].replace("{done}", words("fr")["op_done_next"].replace("{n}", "1"))
    )


def test_dictionaries_load_in_the_browser(server: ServerProcess, page: Any) -> None:
    page.goto(server.url + "/")
    from tests.unit.test_dictionaries import dictionary_file

    files = [*PUBLIC, "staff-en", "staff-fr"]
    for name in files:
        loaded = page.evaluate(f"import('/static/i18n/{name}.js').then((m) => m.default)")
        assert loaded == dictionary_file(name), name
    assert json.loads(json.dumps(words("ta")))  # plain text, no markup
    assert (ROOT / "coordinator" / "web" / "i18n" / "ta.js").exists()


SIZES = {"phone": (390, 844), "projector": (1920, 1080)}


def test_screenshots_of_every_page_in_each_language(
    server_factory: Callable[..., ServerProcess],
    multilingual: Path,
    open_page: Callable[..., Any],
    tokens: Tokens,
    tmp_path: Path,
) -> None:
    """Set LANGUAGE_SCREENSHOTS=DIR to keep them: the public pages in five languages, the
    consoles in two, each at a phone's and a projector's size, on a day with Paris live,
    Berlin delayed, Chennai next and a moment to come."""
    from datetime import UTC, datetime, timedelta

    from tests.support.day import config_around_now

    folder = Path(os.environ.get("LANGUAGE_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    at = (datetime.now(UTC) + timedelta(minutes=25)).strftime("%Y-%m-%dT%H:%M")
    name = {"en": "The last line, read together", "fr": "La dernière ligne, lue ensemble"}
    config_around_now(
        multilingual,
        {"paris": -10, "berlin": -5, "chennai": 40, "helsinki": 100, "toronto": 180},
        extra_event={"moments": [{"id": "last-line", "name": name, "at": at, "timezone": "UTC"}]},
    )
    server = server_factory(config=multilingual)
    for city, state, extra in (
        ("paris", "live", {"note": "80 people on the square"}),
        ("berlin", "delayed", {"delay_minutes": 20, "note": "Rain: we start 20 min later"}),
    ):
        token = tokens.paris if city == "paris" else tokens.berlin
        body = {"id": f"s-{city}", "state": state, **extra}
        assert server.post_json(f"/api/cities/{city}/status", body, token)[0] == 200
    assert (
        server.post_json("/api/cues/paris/goto", {"id": "c1", "index": 2}, tokens.admin)[0] == 200
    )

    def snap(page: Any, name: str) -> None:
        page.wait_for_timeout(400)
        page.screenshot(path=str(folder / f"{name}.png"))
        if name.startswith("dashboard"):
            page.screenshot(path=str(folder / f"{name}-full.png"), full_page=True)

    for size, (width, height) in SIZES.items():
        for lang in PUBLIC:
            page = open_page(width, height)
            page.goto(f"{server.url}/?lang={lang}")
            expect(page.locator("body")).to_have_attribute("data-connection", "live")
            # Chennai has not begun: no drift against Paris (at cue 2) is claimed for it.
            expect(page.locator('[data-city="paris"] .drift')).to_be_visible()
            expect(page.locator('[data-city="chennai"] .drift')).to_be_hidden()
            snap(page, f"dashboard-{lang}-{size}")
            page.goto(f"{server.url}/follow/chennai?lang={lang}")
            expect(page.locator("body")).to_have_attribute("data-show", "waiting")
            snap(page, f"phone-waiting-{lang}-{size}")
            page.goto(f"{server.url}/display/chennai?lang={lang}")
            expect(page.locator("body")).to_have_attribute("data-show", "qr")
            snap(page, f"projector-qr-{lang}-{size}")
        for lang in STAFF:
            page = open_page(width, height)
            page.goto(f"{server.url}/coordinator?lang={lang}")
            page.fill("#token", tokens.paris)
            page.press("#token", "Enter")
            expect(page.locator("#city-state")).to_have_attribute("data-state", "live")
            snap(page, f"coordinator-{lang}-{size}")
            page.click('#final-actions button[data-state="finished"]')
            snap(page, f"coordinator-confirm-{lang}-{size}")
            page.keyboard.press("Escape")
            page.goto(f"{server.url}/operator/paris?lang={lang}")
            page.fill("#token", tokens.paris_operator)
            page.press("#token", "Enter")
            expect(page.locator("#connection")).to_have_attribute("data-state", "live")
            snap(page, f"operator-{lang}-{size}")
    assert (
        server.post_json("/api/cues/chennai/goto", {"id": "c2", "index": 1}, tokens.admin)[0] == 200
    )
    for size, (width, height) in SIZES.items():
        for lang in PUBLIC:
            page = open_page(width, height)
            page.goto(f"{server.url}/display/chennai?lang={lang}")
            expect(page.locator("body")).to_have_attribute("data-show", "text")
            snap(page, f"projector-cue-{lang}-{size}")
            page.goto(f"{server.url}/follow/chennai?lang={lang}")
            expect(page.locator("body")).to_have_attribute("data-show", "text")
            snap(page, f"phone-cue-{lang}-{size}")
