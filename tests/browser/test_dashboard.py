"""The public dashboard (``/``) in real headless Chromium, on a phone (390x844) and a projector
(1920x1080): local times on a frozen clock, live status changes, French and English, the
reconnecting state, the no-JavaScript schedule, weight, keyboard and contrast.

Set ``DASHBOARD_SCREENSHOTS=/some/dir`` to keep the screenshots the tests take (docs/dashboard.md).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from coordinator import config as config_mod
from coordinator import pages, views
from tests.conftest import Tokens
from tests.support.day import trust_the_device_clock
from tests.support.harness import ROOT, ServerProcess, WsClient, http_request

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture then skips (or fails under CI) with the reason
    expect = None  # type: ignore[assignment]

pytestmark = pytest.mark.browser

VIEWPORTS = {"phone": {"width": 390, "height": 844}, "projector": {"width": 1920, "height": 1080}}
CITY_IDS = ["paris", "berlin", "winnipeg", "toronto", "new-york", "chennai", "helsinki"]
CITY_NAMES = ["Paris", "Berlin", "Winnipeg", "Toronto", "New York", "Chennai", "Helsinki"]
DAY_ORDER = ["Chennai", "Helsinki", "Paris", "Berlin", "Toronto", "New York", "Winnipeg"]
WEB = ROOT / "coordinator" / "web"

# Chromium's own log line when a websocket cannot connect (the server is down on purpose).
WS_REFUSED = re.compile(r"^WebSocket connection to 'ws://127\.0\.0\.1:\d+/ws' failed")


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def redated_config(config_path: Path) -> Path:
    """The shipped config moved to Saturday 2026-10-31: Europe is back on winter time (CET,
    EET) while North America is still on summer time (CDT, EDT). Paris runs surtitles."""
    text = config_path.read_text(encoding="utf-8").replace("2025-09-20", "2026-10-31")
    if "script: scripts/demo.csv" not in text:
        text = text.replace(
            "      languages: [fr]\n", "      languages: [fr]\n      script: scripts/demo.csv\n", 1
        )
    config_path.write_text(text, encoding="utf-8")
    return config_path


class Watched:
    """A page whose console errors and non-local requests are collected."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        self.foreign: list[str] = []
        self.allowed: list[re.Pattern[str]] = []
        self.responses: list[Any] = []
        self.sockets: list[dict[str, list[str]]] = []  # frames of each websocket, in order
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", self._request)
        page.on("response", lambda r: self.responses.append(r))
        page.on("websocket", self._websocket)

    def _request(self, request: Any) -> None:
        url: str = request.url
        if not url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")):
            self.foreign.append(url)

    def _websocket(self, socket: Any) -> None:
        frames: dict[str, list[str]] = {"sent": [], "received": []}
        socket.on("framesent", lambda payload: frames["sent"].append(payload))
        socket.on("framereceived", lambda payload: frames["received"].append(payload))
        self.sockets.append(frames)

    def unexpected_errors(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]


@pytest.fixture
def open_page(browser: Any) -> Iterator[Callable[..., Watched]]:
    """New pages with a chosen viewport, language and time zone. Like the ``page`` fixture,
    fails the test on any console error or any request leaving localhost."""
    opened: list[tuple[Any, Watched]] = []

    def open_(
        viewport: str = "phone",
        locale: str = "en-US",
        timezone_id: str = "America/Vancouver",
        javascript: bool = True,
    ) -> Watched:
        size = VIEWPORTS[viewport] if viewport in VIEWPORTS else _size(viewport)
        context = browser.new_context(
            viewport=size, locale=locale, timezone_id=timezone_id, java_script_enabled=javascript
        )
        watched = Watched(context.new_page())
        opened.append((context, watched))
        return watched

    yield open_
    for context, watched in opened:
        context.close()
        assert not watched.foreign, f"requests left localhost: {watched.foreign}"
        assert not watched.unexpected_errors(), f"console errors: {watched.unexpected_errors()}"


def _size(spec: str) -> dict[str, int]:
    width, height = spec.split("x")
    return {"width": int(width), "height": int(height)}


def screenshot(page: Any, name: str, tmp_path: Path) -> Path:
    """Save a full-page PNG to $DASHBOARD_SCREENSHOTS (or the test's tmp dir)."""
    folder = Path(os.environ.get("DASHBOARD_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def card(page: Any, city: str) -> Any:
    return page.locator(f'#cities [data-city="{city}"]')


def text_of(page: Any, selector: str) -> str:
    value: str = page.locator(selector).inner_text()
    return value


def wait_live(page: Any, timeout_ms: float = 10000) -> None:
    page.wait_for_selector('body[data-connection="live"]', timeout=timeout_ms, state="attached")
    expect(page.locator("#cities .countdown")).to_have_count(7)


def assert_no_horizontal_scroll(page: Any) -> None:
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"


# -- local times on a frozen clock ----------------------------------------------------------

# Saturday 2026-10-31 at 10:00 UTC = 03:00 in Vancouver (PDT, -07:00).
FROZEN = "2026-10-31T10:00:00Z"
EXPECTED = {
    # city: (local clock now, start in the city's time, start in Vancouver, countdown)
    "paris": ("11:00:00 CET", "14:00 CET", "06:00 PDT", "Starts in 03:00:00"),
    "berlin": ("11:00:00 CET", "14:00 CET", "06:00 PDT", "Starts in 03:00:00"),
    "winnipeg": ("05:00:00 CDT", "14:00 CDT", "12:00 PDT", "Starts in 09:00:00"),
    "toronto": ("06:00:00 EDT", "14:00 EDT", "11:00 PDT", "Starts in 08:00:00"),
    "new-york": ("06:00:00 EDT", "14:00 EDT", "11:00 PDT", "Starts in 08:00:00"),
    "chennai": ("15:30:00 IST", "14:00 IST", "01:30 PDT", "Its time has passed: no news received"),
    "helsinki": ("12:00:00 EET", "14:00 EET", "05:00 PDT", "Starts in 02:00:00"),
}


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_seven_cards_show_the_right_local_times_on_a_frozen_clock(
    server_factory: Callable[..., ServerProcess],
    redated_config: Path,
    open_page: Callable[..., Watched],
    tmp_path: Path,
    viewport: str,
) -> None:
    server = server_factory(config=redated_config)
    page = open_page(viewport).page
    trust_the_device_clock(page)  # the frozen clock is the event's
    page.clock.set_fixed_time(FROZEN)
    page.goto(server.url + "/")
    wait_live(page)

    # The cards in the order of the day: by start (no reading has begun yet).
    assert page.locator("#cities .city-name").all_inner_texts() == DAY_ORDER
    assert text_of(page, "#viewer-now") == "03:00:00"
    assert text_of(page, "#viewer-zone") == "PDT (America/Vancouver)"
    assert "Saturday, October 31, 2026" in text_of(page, "#event-date")
    for city, (clock, local, viewer, countdown) in EXPECTED.items():
        c = card(page, city)
        assert c.locator(".local-now").inner_text() == clock, city
        assert c.locator(".start-local").inner_text() == local, city
        assert c.locator(".start-viewer").inner_text() == viewer, city
        assert c.locator(".countdown").inner_text() == countdown, city
        assert c.locator('.status[data-state="scheduled"]').inner_text() == "Scheduled"
        calendar = c.locator(".cal-link")
        assert calendar.get_attribute("href") == f"/cities/{city}/calendar.ics"
        assert (
            calendar.get_attribute("aria-label")
            == f"Add to calendar: {CITY_NAMES[CITY_IDS.index(city)]}"
        )
    # Only Paris is confirmed; the others say so, for the time and the venue.
    assert not card(page, "paris").locator("p.tbc").is_visible()
    assert "Square Robert-Schuman" in card(page, "paris").inner_text()
    assert "Métro Dauphine" in card(page, "paris").inner_text()
    for city in CITY_IDS[1:]:
        assert card(page, city).locator("p.tbc").inner_text() == "Time and venue to be confirmed"
    # Surtitles run in Paris only: progress shows there, nowhere else.
    assert card(page, "paris").locator(".cues").inner_text().startswith("Surtitles: ready")
    assert page.locator("#cities .cues:visible").count() == 1

    # The timeline: seven bars in the order the readings follow each other, and "now".
    rows = page.locator("#timeline .tl-row")
    assert rows.count() == 7
    order = [rows.nth(i).get_attribute("data-city") for i in range(7)]
    assert order == ["chennai", "helsinki", "paris", "berlin", "toronto", "new-york", "winnipeg"]
    timeline = page.locator("#timeline")
    assert timeline.get_attribute("data-now") == "in"
    # Axis 07:00-21:00 UTC (an hour around 08:30-20:00): now, 10:00, is 3/14 of the way.
    now_pct = page.evaluate(
        "getComputedStyle(document.getElementById('timeline')).getPropertyValue('--now')"
    )
    assert float(now_pct.strip().rstrip("%")) == pytest.approx(300 / 14, abs=0.01)
    assert "12:00–13:00 UTC" in rows.nth(1).inner_text()  # Helsinki, in the bar's hidden text
    assert "now (10:00 UTC)" in text_of(page, "#timeline-caption")

    # Honest "last updated": the (frozen) time the snapshot arrived, in the viewer's time.
    assert text_of(page, "#last-updated") == "Last update received at 03:00:00 (your time)."
    assert_no_horizontal_scroll(page)
    screenshot(page, f"frozen-{viewport}", tmp_path)

    # Ten minutes into Helsinki's slot with no news: the clocks tick on, and it says so.
    page.clock.set_fixed_time("2026-10-31T12:10:00Z")
    helsinki = card(page, "helsinki")
    expect(helsinki.locator(".local-now")).to_have_text("14:10:00 EET")
    assert helsinki.locator(".countdown").inner_text() == "Not started yet (due 00:10:00 ago)"
    assert text_of(page, "#viewer-now") == "05:10:00"
    assert card(page, "paris").locator(".countdown").inner_text() == "Starts in 00:50:00"


def test_the_shipped_config_in_french_for_a_viewer_in_chennai(
    server: ServerProcess, open_page: Callable[..., Watched], tmp_path: Path
) -> None:
    """2025-09-20 (summer time everywhere), a French browser in India: Winnipeg's reading
    falls on the next day there, so the day is shown."""
    page = open_page("projector", locale="fr-FR", timezone_id="Asia/Kolkata").page
    trust_the_device_clock(page)  # the frozen clock is the event's
    page.clock.set_fixed_time("2025-09-20T11:00:00Z")
    page.goto(server.url + "/")
    wait_live(page)
    assert page.evaluate("document.documentElement.lang") == "fr"
    paris = card(page, "paris")
    assert paris.locator(".local-now").inner_text() == "13:00:00 CEST"
    assert paris.locator(".start-local").inner_text() == "14:00 CEST"
    assert paris.locator(".start-viewer").inner_text() == "17:30 IST"
    assert paris.locator(".countdown").inner_text() == "Début dans 01:00:00"
    assert paris.locator(".status").inner_text() == "Prévue"
    assert text_of(page, "#viewer-zone") == "IST (Asia/Kolkata)"
    assert card(page, "helsinki").locator(".countdown").inner_text() == "Début prévu maintenant"
    winnipeg = card(page, "winnipeg")
    assert winnipeg.locator(".start-local").inner_text() == "14:00 CDT"
    assert winnipeg.locator(".start-viewer").inner_text() == "dim. 21 sept., 00:30 IST"
    assert card(page, "chennai").locator(".start-viewer").inner_text() == "14:00 IST"
    assert "samedi 20 septembre 2025" in text_of(page, "#event-date")
    assert text_of(page, "#title").startswith("Art Protest : « My Hour »")
    screenshot(page, "shipped-fr-projector", tmp_path)


# -- live status ----------------------------------------------------------------------------


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_a_status_change_through_the_protocol_shows_on_the_card_within_a_second(
    server_factory: Callable[..., ServerProcess],
    redated_config: Path,
    open_page: Callable[..., Watched],
    ws_client: Callable[..., WsClient],
    tokens: Tokens,
    tmp_path: Path,
    viewport: str,
) -> None:
    server = server_factory(config=redated_config)
    page = open_page(viewport).page
    trust_the_device_clock(page)  # the frozen clock is the event's
    page.clock.set_fixed_time(FROZEN)
    page.goto(server.url + "/")
    wait_live(page)

    # Paris goes live over the websocket, as the coordinator page does it.
    coordinator = ws_client(server.ws_url)
    assert coordinator.hello(tokens.paris)["role"] == "coordinator"
    started = time.monotonic()
    coordinator.send(
        {"type": "status", "id": "c-1", "city": "paris", "state": "live", "note": "<b>60</b> here"}
    )
    page.wait_for_selector('[data-city="paris"] .status[data-state="live"]', timeout=1000)
    assert time.monotonic() - started < 1.0
    paris = card(page, "paris")
    assert paris.locator(".status").inner_text() == "Live"
    assert paris.locator(".note").inner_text() == "<b>60</b> here"  # text, never HTML
    assert paris.locator(".countdown").inner_text().startswith("Live for ")
    assert (
        page.locator('#timeline .tl-row[data-city="paris"]').get_attribute("data-state") == "live"
    )
    expect(page.locator("#announcer")).to_contain_text("Paris: Live.", timeout=1000)

    # Berlin is delayed through the HTTP API: the new time, the struck old one, the countdown.
    started = time.monotonic()
    status, reply = server.post_json(
        "/api/cities/berlin/status",
        {"id": "b-1", "state": "delayed", "delay_minutes": 15, "note": "rain"},
        tokens.berlin,
    )
    assert (status, reply["type"]) == (200, "ack")
    page.wait_for_selector('[data-city="berlin"] .status[data-state="delayed"]', timeout=1000)
    assert time.monotonic() - started < 1.0
    berlin = card(page, "berlin")
    assert berlin.locator(".delay-info").inner_text() == "Delayed by 15 min: new time 14:15 CET"
    assert berlin.locator(".start-local .new-time").inner_text() == "14:15 CET"
    assert berlin.locator(".start-local del").text_content() == "was 14:00 CET"
    assert berlin.locator(".start-viewer .new-time").inner_text() == "06:15 PDT"
    assert berlin.locator(".countdown").inner_text() == "New start in 03:15:00"

    # The Paris surtitle operator advances a cue: "cue 1 of N" on the card.
    count = server.get_json("/api/state")["cues"]["paris"]["count"]
    operator = ws_client(server.ws_url)
    operator.hello(tokens.paris_operator)
    operator.send({"type": "cue", "id": "o-1", "city": "paris", "action": "next"})
    expect(paris.locator(".cues")).to_have_text(f"Surtitles: cue 1 of {count}", timeout=1000)
    screenshot(page, f"live-{viewport}", tmp_path)


def test_a_schedule_edit_moves_the_open_dashboards_card_without_a_reload(
    server_factory: Callable[..., ServerProcess],
    redated_config: Path,
    open_page: Callable[..., Watched],
    tokens: Tokens,
) -> None:
    """An admin moves Berlin to 15:30 (PATCH /api/cities/berlin): the open page shows the new
    start in the city's time and the viewer's, the countdown and the venue, still the same
    page (no reload), within a second."""
    server = server_factory(config=redated_config)
    page = open_page().page
    trust_the_device_clock(page)
    page.clock.set_fixed_time(FROZEN)
    page.goto(server.url + "/")
    wait_live(page)
    page.evaluate("window.sameDocument = true")
    berlin = card(page, "berlin")
    assert berlin.locator(".start-local").inner_text() == "14:00 CET"

    body = {"start_local": "2026-10-31T15:30", "confirmed": True, "venue": {"name": "Lyrik-Haus"}}
    status, _, reply = http_request(
        "PATCH",
        server.url + "/api/cities/berlin",
        headers={"Authorization": f"Bearer {tokens.admin}", "Content-Type": "application/json"},
        body=json.dumps(body).encode(),
    )
    assert status == 200, reply

    expect(berlin.locator(".start-local")).to_have_text("15:30 CET", timeout=1000)
    assert berlin.locator(".start-viewer").inner_text() == "07:30 PDT"
    assert berlin.locator(".countdown").inner_text() == "Starts in 04:30:00"
    assert berlin.locator(".venue").inner_text() == "Lyrik-Haus"
    assert not berlin.locator("p.tbc").is_visible()
    assert page.evaluate("window.sameDocument") is True
    # The next visitor gets the same from the server-rendered page.
    fresh = open_page().page
    trust_the_device_clock(fresh)
    fresh.clock.set_fixed_time(FROZEN)
    fresh.goto(server.url + "/")
    expect(card(fresh, "berlin").locator(".start-local")).to_have_text("15:30 CET")


# -- French and English ---------------------------------------------------------------------


def test_the_language_follows_the_browser_and_the_switch_changes_every_text(
    server_factory: Callable[..., ServerProcess],
    redated_config: Path,
    open_page: Callable[..., Watched],
    tmp_path: Path,
) -> None:
    server = server_factory(config=redated_config)
    page = open_page("phone", locale="fr-FR", timezone_id="Europe/Paris").page
    trust_the_device_clock(page)  # the frozen clock is the event's
    page.clock.set_fixed_time(FROZEN)
    page.goto(server.url + "/")
    wait_live(page)

    # The dictionaries as the browser loads them (their completeness: tests/unit).
    dictionaries = {
        lang: page.evaluate(f"import('/static/i18n/{lang}.js').then((m) => m.default)")
        for lang in ("en", "fr")
    }
    assert page.locator("#lang-switch button").all_inner_texts() == [
        "English",
        "Français",
        "Deutsch",
        "Suomi",
        "தமிழ்",
    ]

    def assert_texts(lang: str) -> None:
        words = dictionaries[lang]
        assert page.evaluate("document.documentElement.lang") == lang
        for node in page.locator("[data-i18n]").all():
            assert node.text_content() == words[node.get_attribute("data-i18n")]
        assert page.locator("#lang-switch").get_attribute("aria-label") == words["language"]
        pressed = page.locator('#lang-switch button[aria-pressed="true"]')
        assert pressed.get_attribute("data-lang") == lang
        status = card(page, "paris").locator(".status").inner_text()
        assert status == words["state_scheduled"]
        countdown = card(page, "paris").locator(".countdown").inner_text()
        assert countdown == words["starts_in"].replace("{d}", "03:00:00")
        assert text_of(page, "#connection") == words["conn_live"]
        assert page.locator("#timeline .tl-state").first.inner_text() == words["state_scheduled"]

    # A French browser gets French, with French dates.
    assert_texts("fr")
    assert "samedi 31 octobre 2026" in text_of(page, "#event-date")
    assert text_of(page, "#title").startswith("Art Protest : « My Hour »")
    assert page.title().endswith("— en direct")
    screenshot(page, "lang-fr-phone", tmp_path)

    # The switch, with the keyboard.
    page.focus('#lang-switch button[data-lang="en"]')
    page.keyboard.press("Enter")
    assert_texts("en")
    assert "Saturday, October 31, 2026" in text_of(page, "#event-date")
    assert text_of(page, "#title").startswith("Art Protest: “My Hour”")
    assert "lang=en" in page.url
    screenshot(page, "lang-en-phone", tmp_path)

    # The choice is remembered on the next visit (even without ?lang=).
    page.goto(server.url + "/")
    wait_live(page)
    assert_texts("en")
    page.click('#lang-switch button[data-lang="fr"]')
    assert_texts("fr")


# -- reconnecting ---------------------------------------------------------------------------


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_reconnecting_shows_while_the_server_is_down_and_clears_caught_up(
    server_factory: Callable[..., ServerProcess],
    redated_config: Path,
    open_page: Callable[..., Watched],
    tokens: Tokens,
    tmp_path: Path,
    viewport: str,
) -> None:
    server = server_factory(config=redated_config)
    watched = open_page(viewport)
    page = watched.page
    page.goto(server.url + "/")
    wait_live(page)
    server.post_json("/api/cities/paris/status", {"id": "p-1", "state": "live"}, tokens.paris)
    page.wait_for_selector('[data-city="paris"] .status[data-state="live"]', timeout=2000)
    assert text_of(page, "#connection") == "Live updates: connected"

    # While the server is down Chromium logs each refused connection: that one is expected.
    watched.allowed.append(WS_REFUSED)
    server.stop()
    page.wait_for_selector('#connection[data-state="reconnecting"]', timeout=5000)
    assert page.locator("#connection").is_visible()
    assert page.locator("#connection").get_attribute("role") == "status"
    assert text_of(page, "#connection").startswith(
        "Reconnecting… Statuses below are the last known"
    )
    assert page.evaluate("document.body.dataset.connection") == "reconnecting"
    # Nothing is shown as live: Paris says what it last knew, without the live badge.
    assert page.locator('.status[data-state="live"], .tl-row[data-state="live"]').count() == 0
    paris_status = card(page, "paris").locator(".status")
    assert paris_status.inner_text() == "Last known: Live"
    assert paris_status.get_attribute("data-last-state") == "live"
    assert not card(page, "paris").locator(".countdown").inner_text().startswith("Live for")
    assert_no_horizontal_scroll(page)
    screenshot(page, f"reconnecting-{viewport}", tmp_path)

    # Back, with a change the page has not seen: it catches up with since, no snapshot.
    server.start()
    server.post_json(
        "/api/cities/paris/status", {"id": "p-2", "state": "paused", "note": "wind"}, tokens.paris
    )
    page.wait_for_selector('#connection[data-state="live"]', timeout=20000)
    page.wait_for_selector('[data-city="paris"] .status[data-state="paused"]', timeout=2000)
    assert card(page, "paris").locator(".note").inner_text() == "wind"
    assert text_of(page, "#connection") == "Live updates: connected"
    assert page.evaluate("document.body.dataset.connection") == "live"

    first, last = watched.sockets[0], watched.sockets[-1]
    assert first is not last
    hello = json.loads(last["sent"][0])
    assert hello["type"] == "hello" and hello["since"] >= 1 and hello["epoch"]
    received = [json.loads(f)["type"] for f in last["received"]]
    assert "snapshot" not in received, received
    screenshot(page, f"reconnected-{viewport}", tmp_path)


def test_a_page_that_reconnects_to_an_edited_schedule_shows_it(
    server_factory: Callable[..., ServerProcess],
    config_path: Path,
    open_page: Callable[..., Watched],
) -> None:
    """The server restarts with Paris moved to 14:30: the open page, which would only replay
    the events it missed, sees the new schedule version and takes a fresh snapshot."""
    server = server_factory(config=config_path)
    watched = open_page("phone", timezone_id="Europe/Paris")
    page = watched.page
    page.goto(server.url + "/")
    wait_live(page)
    expect(card(page, "paris").locator(".start-local")).to_have_text("14:00 CEST")
    watched.allowed.append(WS_REFUSED)
    server.stop()
    text = config_path.read_text(encoding="utf-8")
    config_path.write_text(text.replace('"2025-09-20T14:00"', '"2025-09-20T14:30"', 1))
    server.start()
    expect(card(page, "paris").locator(".start-local")).to_have_text("14:30 CEST", timeout=20000)
    expect(card(page, "paris").locator(".start-viewer")).to_have_text("14:30 CEST")
    assert "12:30–13:30 UTC" in page.locator('#timeline .tl-row[data-city="paris"]').inner_text()
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")


# -- without JavaScript, for bots, weight ---------------------------------------------------


def test_without_javascript_the_schedule_is_served(
    server: ServerProcess, open_page: Callable[..., Watched], tmp_path: Path
) -> None:
    page = open_page("phone", javascript=False).page
    page.goto(server.url + "/")
    assert page.locator("#cities .city-name").all_inner_texts() == CITY_NAMES
    paris = card(page, "paris")
    assert paris.locator(".start-local").inner_text() == "Sat 20 Sep 2025, 14:00 CEST"
    assert "(12:00 UTC)" in paris.inner_text()
    assert "Square Robert-Schuman" in paris.inner_text()
    assert "to be confirmed" in card(page, "berlin").inner_text()
    assert "Sat 20 Sep 2025, 14:00 IST" in card(page, "chennai").inner_text()
    served_at = text_of(page, "#served-at")
    now = datetime.now(UTC)
    assert served_at.startswith(f"Published schedule, as of {now:%a} {now.day} {now:%b %Y}, ")
    assert "Live statuses need JavaScript" in served_at
    assert page.locator('a[href="/api/state"]').first.is_visible()
    assert page.locator("#timeline-section").is_hidden()
    assert page.locator("#lang-switch").is_hidden()
    assert page.locator("#viewer-clock").is_hidden()
    assert_no_horizontal_scroll(page)
    screenshot(page, "nojs-phone", tmp_path)
    # Bots read the state as JSON.
    state = server.get_json("/api/state")
    assert [c["id"] for c in state["cities"]] == CITY_IDS


@pytest.mark.parametrize("lang", ["en", "fr", "ta"])  # Tamil: the largest dictionary
def test_the_page_weighs_under_100_kb_and_loads_nothing_from_another_site(
    server: ServerProcess, open_page: Callable[..., Watched], lang: str
) -> None:
    watched = open_page("projector")
    watched.page.goto(f"{server.url}/?lang={lang}")
    wait_live(watched.page)
    watched.page.wait_for_load_state("networkidle")
    sizes = {r.url.replace(server.url, ""): len(r.body()) for r in watched.responses}
    # The websocket's first frames (welcome, snapshot, pong) count too.
    sizes["/ws"] = sum(len(f.encode()) for s in watched.sockets for f in s["received"])
    total = sum(sizes.values())
    print(f"page weight: {total} bytes: {sizes}")
    assert set(sizes) >= {
        f"/?lang={lang}",
        f"/static/i18n/{lang}.js",
        "/static/style.css",
        "/static/dashboard.js",
        "/static/client.js",
        "/static/i18n.js",
    }
    assert total < 100_000, sizes
    # No file of another site is even referenced.
    for name in ("index.html", "dashboard.js", "client.js", "i18n.js", "style.css"):
        text = (WEB / name).read_text(encoding="utf-8")
        assert not re.search(r"(src|href)=\"(https?:)?//", text), name
        assert "@import" not in text and "url(http" not in text, name


# -- accessibility --------------------------------------------------------------------------

CONTRAST_JS = """() => {
  const lum = (rgb) => {
    const [r, g, b] = rgb.map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const parse = (c) => { const m = c.match(/[\\d.]+/g).map(Number); return { rgb: m.slice(0, 3), a: m.length > 3 ? m[3] : 1 }; };
  const background = (node) => {
    for (let n = node; n; n = n.parentElement) {
      const c = parse(getComputedStyle(n).backgroundColor);
      if (c.a > 0.5) return c.rgb;
    }
    return [255, 255, 255];
  };
  const failures = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const text = walker.currentNode.textContent.trim();
    const node = walker.currentNode.parentElement;
    if (!text || !node.checkVisibility() || node.closest('.visually-hidden, noscript')) continue;
    const style = getComputedStyle(node);
    const fg = lum(parse(style.color).rgb), bg = lum(background(node));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
    const large = size >= 24 || (bold && size >= 18.66);
    if (ratio < (large ? 3 : 4.5)) failures.push(`${text.slice(0, 40)}: ${ratio.toFixed(2)}`);
  }
  return failures;
}"""

ALL_STATES = [
    # city, the states it goes through (with the admin token)
    ("paris", ["live"]),
    ("berlin", ["preparing"]),
    ("winnipeg", ["live", "paused"]),
    ("toronto", ["delayed"]),
    ("new-york", ["live", "finished"]),
    ("chennai", ["cancelled"]),
]


@pytest.mark.parametrize("viewport", ["320x640", *VIEWPORTS])
def test_every_state_reads_with_aa_contrast_and_fits_the_screen(
    server_factory: Callable[..., ServerProcess],
    redated_config: Path,
    open_page: Callable[..., Watched],
    tokens: Tokens,
    tmp_path: Path,
    viewport: str,
) -> None:
    server = server_factory(config=redated_config)
    for city, states in ALL_STATES:
        for i, state in enumerate(states):
            body: dict[str, Any] = {"id": f"{city}-{i}", "state": state, "note": f"{state} note"}
            if state == "delayed":
                body["delay_minutes"] = 20
            status, reply = server.post_json(f"/api/cities/{city}/status", body, tokens.admin)
            assert status == 200, reply
    watched = open_page(viewport, locale="fr-FR", timezone_id="Europe/Paris")
    page = watched.page
    trust_the_device_clock(page)  # the frozen clock is the event's
    page.clock.set_fixed_time("2026-10-31T13:20:00Z")
    page.goto(server.url + "/")
    wait_live(page)
    states = page.locator("#cities .status").evaluate_all("(n) => n.map((x) => x.dataset.state)")
    # Live first (Paris, paused Winnipeg), then to come by start, then what is over.
    assert states == [
        "live", "paused", "scheduled", "preparing", "delayed", "cancelled", "finished",
    ]  # fmt: skip
    assert page.evaluate(CONTRAST_JS) == []
    assert_no_horizontal_scroll(page)
    screenshot(page, f"states-{viewport}", tmp_path)

    watched.allowed.append(WS_REFUSED)
    server.stop()
    page.wait_for_selector('#connection[data-state="reconnecting"]', timeout=5000)
    assert page.evaluate(CONTRAST_JS) == []
    assert_no_horizontal_scroll(page)
    screenshot(page, f"states-reconnecting-{viewport}", tmp_path)


def test_everything_is_reachable_with_the_keyboard_and_announced(
    server: ServerProcess, open_page: Callable[..., Watched], tokens: Tokens
) -> None:
    page = open_page("phone").page
    page.goto(server.url + "/")
    wait_live(page)
    assert page.locator("#announcer").get_attribute("aria-live") == "polite"
    assert page.locator("h1").count() == 1
    assert page.locator("#cities > li h3.city-name").count() == 7

    interactive = page.evaluate(
        "[...document.querySelectorAll('a[href], button')].filter((n) => n.checkVisibility()"
        " || n.classList.contains('skip')).map((n) => n.id || n.getAttribute('href') || n.textContent)"
    )
    reached: list[str] = []
    for _ in range(len(interactive) + 2):
        page.keyboard.press("Tab")
        reached.append(
            page.evaluate(
                "(() => { const n = document.activeElement;"
                " return n.id || n.getAttribute('href') || n.textContent; })()"
            )
        )
    assert set(interactive) <= set(reached), set(interactive) - set(reached)
    assert reached[0] == "#cities"  # the skip link comes first

    # The subscribe links point to this server's feed.
    assert (
        page.locator("#sub-webcal").get_attribute("href")
        == f"webcal://127.0.0.1:{server.port}/calendar.ics"
    )
    assert page.locator("#sub-url").get_attribute("href") == f"{server.url}/calendar.ics"
    assert page.locator("#sub-url").inner_text() == f"{server.url}/calendar.ics"
    assert "8 to 24 hours" in text_of(page, "#subscribe")

    # Status changes are announced politely.
    server.post_json(
        "/api/cities/paris/status", {"id": "a-1", "state": "live", "note": "go"}, tokens.paris
    )
    expect(page.locator("#announcer")).to_have_text("Paris: Live. go")


def test_the_server_rendered_schedule_escapes_text_and_says_when_it_was_made(
    config_path: Path,
) -> None:
    text = config_path.read_text(encoding="utf-8").replace(
        "venue: Square Robert-Schuman", 'venue: "<b>Square</b> & co"'
    )
    config_path.write_text(text, encoding="utf-8")
    cfg = config_mod.load(config_path)
    html = pages.render_schedule(cfg, datetime(2025, 9, 20, 11, 5, tzinfo=UTC))
    assert html.startswith(
        '<p id="served-at" class="served-at">Published schedule, as of Sat 20 Sep 2025, 11:05 UTC'
    )
    assert '<p class="venue">&lt;b&gt;Square&lt;/b&gt; &amp; co</p>' in html
    assert html.count('<li class="city"') == 7
    # The schedule for the script, as /api/cities gives it, escaped in an attribute.
    match = re.search(r'<ul id="cities" [^>]*data-schedule="([^"]*)">', html)
    assert match is not None
    assert "<b>" not in match.group(1)
    assert json.loads(unescape(match.group(1))) == views.cities_body(cfg)
    assert (
        '<time class="start-local" datetime="2025-09-20T08:30:00Z">Sat 20 Sep 2025, 14:00 IST</time>'
        in html
    )
    assert 'href="/cities/new-york/calendar.ics"' in html
