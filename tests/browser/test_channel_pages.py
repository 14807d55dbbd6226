"""Follow, freeze, rehearsal and the audience's choices, through the pages: the operator's
console (/operator/CITY), the projector (/display/CITY), the phones (/follow/CITY) and the public
dashboard (/), in real headless Chromium against a real server.

Set ``CHANNEL_SCREENSHOTS=DIR`` to have the tests write PNGs of the states they reach there
(docs/surtitles.md).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from coordinator import scripts
from tests.conftest import Tokens
from tests.support.harness import SHIPPED_CONFIG, ServerProcess, WsClient, http_request

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture then skips (or fails under CI) with the reason
    expect = None  # type: ignore[assignment]

pytestmark = pytest.mark.browser

DEMO = scripts.load_script(SHIPPED_CONFIG.parent / "scripts" / "demo.csv")
COUNT = len(DEMO.cues)
HELSINKI_SCRIPT = "n,en,fi\n1,Hello,Hei\n2,Goodbye,Näkemiin\n"
OpenPage = Callable[..., Any]
Open = Callable[..., WsClient]


# -- fixtures and helpers ----------------------------------------------------------------------


def snap(page: Any, name: str) -> None:
    """Nothing wider than the window; with CHANNEL_SCREENSHOTS=DIR, a PNG there."""
    width = page.viewport_size["width"]
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, (name, scroll_width)
    target = os.environ.get("CHANNEL_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(target) / f"{name}.png"))


def give_helsinki_a_script(server: ServerProcess, tokens: Tokens) -> None:
    status, _, body = http_request(
        "PUT",
        server.url + "/api/cues/helsinki/script",
        headers={"Authorization": f"Bearer {tokens.admin}", "Content-Type": "text/csv"},
        body=HELSINKI_SCRIPT.encode(),
    )
    assert status == 200, body


def sign_in(page: Any, server: ServerProcess, token: str, city: str, count: int) -> None:
    page.goto(f"{server.url}/operator/{city}")
    page.fill("#token", token)
    page.press("#token", "Enter")
    page.wait_for_selector('#connection[data-state="live"]')
    page.wait_for_selector(f'#script-list li[data-index="{count}"]')


def op_at(page: Any, index: int) -> None:
    """Until the console shows ``index`` as its pointer (the current row of the script)."""
    page.wait_for_selector(f'#script-list li[data-index="{index}"][aria-current]')


def shows(display: Any, index: int) -> None:
    display.wait_for_selector(f'body[data-show="text"] #cue-inner[data-index="{index}"]')


def public(server: ServerProcess, city: str, channel: str = "cues") -> dict[str, Any]:
    view: dict[str, Any] = server.get_json("/api/state")[channel][city]
    return view


def ws_staff(ws_client: Open, server: ServerProcess, token: str) -> WsClient:
    client = ws_client(server.ws_url)
    client.hello(token, channels=["cues:*"])
    client.recv_until(lambda m: m["type"] == "snapshot")
    return client


def command(client: WsClient, cmd_id: str, action: str, city: str, **extra: Any) -> None:
    client.send({"type": "cue", "id": cmd_id, "city": city, "action": action, **extra})
    reply = client.recv_until(lambda m: m["type"] in ("ack", "error"))
    assert reply["type"] == "ack", reply


# -- follow, freeze, release, unfollow: the required test ---------------------------------------


def test_follow_freeze_release_and_unfollow_from_the_operator_pages(
    server: ServerProcess, open_page: OpenPage, tokens: Tokens
) -> None:
    give_helsinki_a_script(server, tokens)
    paris_display = open_page(1280, 720)
    paris_display.goto(server.url + "/display/paris")
    helsinki_display = open_page(1280, 720)
    helsinki_display.goto(server.url + "/display/helsinki")
    helsinki_display.wait_for_selector('body[data-show="qr"]')
    paris = open_page(1280, 800)
    sign_in(paris, server, tokens.paris_operator, "paris", COUNT)
    helsinki = open_page(1280, 800)
    sign_in(helsinki, server, tokens.admin, "helsinki", 2)  # an admin sets the follow

    # Helsinki follows Paris from its console.
    expect(helsinki.locator("#follow-target option")).to_have_text(["Paris"])
    expect(helsinki.locator("#follow")).to_have_text("Follow Paris")
    helsinki.click("#follow")
    banner = helsinki.locator("#follow-banner")
    expect(banner).to_be_visible()
    expect(banner.locator("#follow-title")).to_have_text("FOLLOWING PARIS")
    expect(helsinki.locator("#go")).to_be_disabled()
    for control in ("#back", "#blank", "#freeze", "#follow"):
        expect(helsinki.locator(control)).to_be_disabled()
    expect(helsinki.locator("#message")).to_have_text(
        "✓ Following Paris: the screens show its cues"
    )
    expect(helsinki_display.locator("#source")).to_have_text("↻ Paris")
    # The leader's console says who follows it.
    expect(paris.locator("#followers")).to_contain_text("Helsinki follows Paris")

    # Paris's operator presses GO: Helsinki's projector shows Paris's French line.
    paris.keyboard.press("Space")
    shows(paris_display, 1)
    shows(helsinki_display, 1)
    first = DEMO.cues[0].text["fr"]
    expect(helsinki_display.locator("#cue-inner")).to_have_text(first)
    expect(helsinki.locator("#screens-title")).to_have_text("On screens now: Paris, cue 1")
    expect(helsinki.locator("#screens-text")).to_have_text(first)
    expect(helsinki.locator("#position-note")).to_have_text("Your own position, not on screens")
    snap(helsinki, "operator-following-1280x800")
    phone_console = open_page(390, 844, is_mobile=True, has_touch=True)
    sign_in(phone_console, server, tokens.admin, "helsinki", 2)
    expect(phone_console.locator("#follow-banner")).to_be_visible()
    snap(phone_console, "operator-following-390x844")

    # Helsinki's own GO is off: a key press says so and sends nothing.
    helsinki.locator("#console").focus()
    helsinki.keyboard.press("Space")
    expect(helsinki.locator("#message.conflict")).to_contain_text("Take back control first")
    assert public(server, "helsinki")["index"] == 1  # still Paris's cue
    assert server.get_json("/api/state")["cues"]["helsinki"]["follows"] == "paris"

    # Paris freezes (F), moves twice unseen: every screen keeps the frozen line.
    paris.keyboard.press("f")
    expect(paris.locator("#frozen-banner")).to_be_visible()
    expect(paris.locator("#frozen-badge")).to_be_visible()
    expect(paris.locator("#freeze")).to_have_attribute("aria-pressed", "true")
    paris.keyboard.press("Space")
    op_at(paris, 2)
    paris.keyboard.press("Space")
    op_at(paris, 3)
    expect(paris.locator("#screens")).to_have_attribute("data-frozen", "true")
    expect(paris.locator("#screens-title")).to_have_text(
        "On screens now (and Helsinki’s), frozen at cue 1"
    )
    expect(paris.locator("#screens-text")).to_have_text(first)
    expect(paris.locator("#frozen-text")).to_have_text(
        "The screens hold cue 1 while you move unseen. Release shows cue 3."
    )
    expect(paris.locator("#position")).to_have_text(f"Cue 3 of {COUNT}")
    expect(paris.locator("#position-note")).to_have_text("Your position, unseen until Release")
    expect(paris.locator('#script-list li[data-index="1"]')).to_have_attribute("data-shown", "true")
    snap(paris, "operator-frozen-1280x800")
    paris_display.wait_for_timeout(300)  # an event, had one been sent, would be here by now
    for display in (paris_display, helsinki_display):
        expect(display.locator("#cue-inner")).to_have_attribute("data-index", "1")
        expect(display.locator("#cue-inner")).to_have_text(first)
    assert public(server, "paris")["index"] == 1

    # Release: the screens jump to the operator's position, the follower's too.
    paris.click("#release")
    third = DEMO.cues[2].text["fr"]
    shows(paris_display, 3)
    shows(helsinki_display, 3)
    assert paris_display.locator("#cue-inner").inner_text() == third  # line breaks kept
    assert helsinki_display.locator("#cue-inner").inner_text() == third
    expect(paris.locator("#frozen-banner")).to_be_hidden()
    expect(paris.locator("#screens")).to_have_attribute("data-frozen", "false")

    # Helsinki takes back control: its screens show its own position (before cue 1: the QR).
    helsinki.click("#unfollow")
    helsinki_display.wait_for_selector('body[data-show="qr"]')
    expect(helsinki_display.locator("#source")).to_be_hidden()
    expect(helsinki.locator("#follow-banner")).to_be_hidden()
    expect(helsinki.locator("#go")).to_be_enabled()
    expect(paris.locator("#followers")).to_be_hidden()
    paris.keyboard.press("Space")
    shows(paris_display, 4)
    helsinki_display.wait_for_timeout(300)
    expect(helsinki_display.locator("body")).to_have_attribute("data-show", "qr")
    helsinki.keyboard.press("Space")  # and its own GO works again, with its own script
    helsinki_display.wait_for_selector('body[data-show="text"] #cue-inner[data-index="1"]')
    # Helsinki has no configured language: the display shows the script's first one.
    expect(helsinki_display.locator("#cue-inner")).to_have_text("Hello")


def test_a_refused_follow_is_shown_and_nothing_changes(
    server: ServerProcess, open_page: OpenPage, ws_client: Open, tokens: Tokens
) -> None:
    """The console disables what the rules refuse, from what it has heard; when it has not
    heard yet, the server refuses and the console says why in a red box."""
    give_helsinki_a_script(server, tokens)
    paris = open_page(1280, 800)
    deaf = {"on": False}

    def relay(ws: Any) -> None:
        upstream = ws.connect_to_server()

        def to_page(message: str | bytes) -> None:
            data = json.loads(message)
            if deaf["on"] and data.get("type") == "event" and data.get("city") == "helsinki":
                return  # this console misses Helsinki's news
            ws.send(message)

        upstream.on_message(to_page)

    paris.route_web_socket(re.compile(r"/ws$"), relay)
    sign_in(paris, server, tokens.paris_operator, "paris", COUNT)
    expect(paris.locator("#follow")).to_have_text("Follow Helsinki")
    admin = ws_staff(ws_client, server, tokens.admin)

    # Heard: Paris is followed, so it may not follow; the button says why it is off.
    command(admin, "a-1", "follow", "helsinki", target="paris")
    expect(paris.locator("#followers")).to_contain_text("Helsinki follows Paris")
    expect(paris.locator("#follow")).to_be_disabled()
    expect(paris.locator("#follow-help")).to_have_text(
        "Paris cannot follow while others follow it."
    )
    command(admin, "a-2", "unfollow", "helsinki")
    expect(paris.locator("#follow")).to_be_enabled()

    # Not heard: the console sends, the server refuses, the console shows the reason.
    deaf["on"] = True
    command(admin, "a-3", "follow", "helsinki", target="paris")
    paris.click("#follow")
    message = paris.locator("#message.conflict")
    expect(message).to_have_text("⚠ Refused: helsinki itself follows paris")
    assert public(server, "paris")["follows"] is None
    assert public(server, "helsinki")["follows"] == "paris"


# -- rehearsal ------------------------------------------------------------------------------------


def test_rehearsal_mode_reaches_the_rehearsal_display_and_never_the_live_one(
    server: ServerProcess, open_page: OpenPage, tokens: Tokens
) -> None:
    live_display = open_page(1280, 720)
    live_display.goto(server.url + "/display/paris")
    live_display.wait_for_selector('body[data-show="qr"]')
    rehearsal_display = open_page(1280, 720)
    rehearsal_display.goto(server.url + "/display/paris?channel=rehearsal")
    rehearsal_display.wait_for_selector('body[data-show="qr"]')
    expect(rehearsal_display.locator("#watermark")).to_be_visible()
    expect(rehearsal_display.locator(".watermark-tag")).to_have_text("REHEARSAL · RÉPÉTITION")
    expect(live_display.locator("#watermark")).to_be_hidden()
    rehearsal_phone = open_page(390, 844, is_mobile=True, has_touch=True)
    rehearsal_phone.goto(server.url + "/follow/paris?channel=rehearsal")
    expect(rehearsal_phone.locator("#rehearsal")).to_be_visible()

    operator = open_page(1280, 800)
    sign_in(operator, server, tokens.paris_operator, "paris", COUNT)
    expect(operator.locator("#rehearsal-banner")).to_be_hidden()
    operator.click("#mode-rehearsal")
    expect(operator.locator("#mode-rehearsal")).to_have_attribute("aria-pressed", "true")
    expect(operator.locator("#rehearsal-banner")).to_be_visible()
    expect(operator.locator("#rehearsal-banner")).to_contain_text("REHEARSAL")
    expect(operator.locator("#go")).to_have_text("GO · rehearsal")
    expect(operator.locator("#go-mode")).to_be_visible()
    expect(operator.locator("#screens-title")).to_have_text("On rehearsal screens now")
    expect(operator.locator("#follow-tools")).to_be_hidden()  # only live channels follow
    assert operator.url.endswith("/operator/paris?channel=rehearsal")

    for n in (1, 2, 3):
        operator.keyboard.press("Space")
        op_at(operator, n)
    shows(rehearsal_display, 3)
    assert rehearsal_display.locator("#cue-inner").inner_text() == DEMO.cues[2].text["fr"]
    rehearsal_phone.wait_for_selector('#cue[data-index="3"]')
    expect(operator.locator("#message")).to_have_text("✓ Rehearsal: GO → cue 3")
    snap(operator, "operator-rehearsal-1280x800")
    snap(rehearsal_display, "display-rehearsal-1280x720")
    operator.set_viewport_size({"width": 390, "height": 844})
    snap(operator, "operator-rehearsal-390x844")
    operator.set_viewport_size({"width": 1280, "height": 800})
    live_display.wait_for_timeout(300)
    expect(live_display.locator("body")).to_have_attribute("data-show", "qr")
    assert public(server, "paris")["index"] == 0
    assert public(server, "paris", "rehearsal")["index"] == 3

    # Freeze works on the rehearsal channel too, to practise it.
    operator.keyboard.press("F")
    expect(operator.locator("#frozen-banner")).to_be_visible()
    operator.keyboard.press("Space")
    op_at(operator, 4)
    operator.keyboard.press("F")
    shows(rehearsal_display, 4)

    # A reload keeps rehearsal mode: a practising operator never lands on live unawares.
    operator.reload()
    operator.wait_for_selector('#connection[data-state="live"]')
    expect(operator.locator("#rehearsal-banner")).to_be_visible()
    op_at(operator, 4)

    # Back to live: GO reaches the audience, not the rehearsal screens.
    operator.click("#mode-live")
    expect(operator.locator("#rehearsal-banner")).to_be_hidden()
    assert operator.url.endswith("/operator/paris")
    op_at(operator, 0)
    operator.keyboard.press("Space")
    shows(live_display, 1)
    op_at(operator, 1)
    rehearsal_display.wait_for_timeout(300)
    expect(rehearsal_display.locator("#cue-inner")).to_have_attribute("data-index", "4")
    assert public(server, "paris", "rehearsal")["index"] == 4


# -- which languages the screens show: one rule on every page ------------------------------------


def console_languages(console: Any) -> tuple[list[str], list[str]]:
    """The languages the console's "On screens now" names, and those it draws."""
    label = console.locator("#screens-langs").text_content() or ""
    named = label.removeprefix("(").removesuffix(")").split(", ") if label else []
    drawn: list[str] = console.locator("#screens-text .cue-line").evaluate_all(
        "nodes => nodes.map((n) => n.dataset.lang)"
    )
    return named, drawn


def display_languages(display: Any) -> list[str]:
    langs: list[str] = display.locator("#cue-inner .cue-line").evaluate_all(
        "nodes => nodes.map((n) => n.lang)"
    )
    return langs


def test_on_screens_now_names_exactly_the_languages_the_projector_shows(
    server_factory: Callable[..., ServerProcess],
    config_path: Path,
    open_page: OpenPage,
    tokens: Tokens,
) -> None:
    """The console, the projector and the phone each once had their own rule; settings where
    those rules disagreed: Paris configured for a language its script lacks (de) beside one
    it has (en), Helsinki with no configured language and a script in en and fi, and
    Helsinki following Paris (Paris's script, Helsinki's settings)."""
    config_path.write_text(
        config_path.read_text(encoding="utf-8").replace("languages: [fr]", "languages: [de, en]"),
        encoding="utf-8",
    )
    server = server_factory()
    give_helsinki_a_script(server, tokens)
    screens = {}
    for city in ("paris", "helsinki"):
        display = open_page(1280, 720)
        display.goto(f"{server.url}/display/{city}")
        phone = open_page(390, 844, is_mobile=True, has_touch=True)
        phone.goto(f"{server.url}/follow/{city}")
        console = open_page(1280, 800)
        sign_in(console, server, tokens.admin, city, COUNT if city == "paris" else 2)
        console.keyboard.press("Space")
        shows(display, 1)
        phone.wait_for_selector('#cue[data-index="1"]')
        screens[city] = (console, display, phone)

    def same_everywhere(city: str, expected: list[str]) -> None:
        console, display, phone = screens[city]
        assert display_languages(display) == expected, city
        assert console_languages(console) == (expected, expected), city
        # A phone shows one language: the first the projector shows, until its reader picks.
        expect(phone.locator("#cue .cue-line")).to_have_attribute("lang", expected[0])

    same_everywhere("paris", ["en"])
    same_everywhere("helsinki", ["en"])

    helsinki_console, helsinki_display, _ = screens["helsinki"]
    helsinki_console.click("#follow")
    expect(helsinki_console.locator("#follow-banner")).to_be_visible()
    expect(helsinki_display.locator("#source")).to_have_text("↻ Paris")
    shows(helsinki_display, 1)
    expect(helsinki_console.locator("#screens-title")).to_have_text("On screens now: Paris, cue 1")
    same_everywhere("helsinki", ["fr"])  # Paris's script has en, fr; Helsinki asks for nothing


# -- the phones: the audience's own choices --------------------------------------------------------


def test_phone_choices_persist_across_a_reload_and_are_never_sent(
    server: ServerProcess, open_page: OpenPage, ws_client: Open, tokens: Tokens
) -> None:
    phone = open_page(390, 844, is_mobile=True, has_touch=True)
    frames: list[str] = []
    urls: list[str] = []
    phone.on("websocket", lambda ws: ws.on("framesent", lambda payload: frames.append(payload)))
    phone.on("request", lambda r: urls.append(r.url))
    phone.goto(server.url + "/follow/paris")
    op = ws_staff(ws_client, server, tokens.paris_operator)
    command(op, "p-1", "goto", "paris", index=1)
    phone.wait_for_selector('#cue[data-index="1"]')

    def cue_style() -> dict[str, Any]:
        got: dict[str, Any] = phone.locator("#cue").evaluate(
            """n => { const s = getComputedStyle(n);
                return {size: parseFloat(s.fontSize), color: s.color, weight: Number(s.fontWeight)}; }"""
        )
        return got

    normal = cue_style()
    assert normal["color"] == "rgb(245, 245, 245)"
    phone.click("#prefs summary")
    expect(phone.locator(".prefs-panel")).to_be_visible()
    expect(phone.locator("#size-label")).to_have_text("Taille du texte")
    phone.click('button[data-size="large"]')
    phone.click('button[data-theme="contrast"]')
    phone.click('#langs button[data-lang="en"]')
    expect(phone.locator("#size-label")).to_have_text("Text size")  # the page's words follow
    expect(phone.locator("#cue")).to_have_text(DEMO.cues[0].text["en"])
    large = cue_style()
    assert large["size"] > normal["size"] * 1.3, (normal, large)
    assert (large["color"], large["weight"]) == ("rgb(255, 255, 255)", 700)
    expect(phone.locator(".prefs-panel")).to_be_hidden()  # a tap elsewhere closed the settings
    snap(phone, "follow-large-contrast-390x844")
    phone.click("#prefs summary")
    snap(phone, "follow-prefs-open-390x844")

    phone.reload()
    phone.wait_for_selector('#cue[data-index="1"]')
    expect(phone.locator("body")).to_have_attribute("data-size", "large")
    expect(phone.locator("body")).to_have_attribute("data-theme", "contrast")
    expect(phone.locator('button[data-size="large"]')).to_have_attribute("aria-pressed", "true")
    expect(phone.locator('button[data-theme="contrast"]')).to_have_attribute("aria-pressed", "true")
    expect(phone.locator("#cue")).to_have_text(DEMO.cues[0].text["en"])
    assert cue_style() == large

    phone.click("#prefs summary")
    expect(phone.locator(".prefs-panel")).to_be_visible()
    phone.click('button[data-size="small"]')
    phone.click('button[data-theme="dim"]')
    small = cue_style()
    assert small["size"] < normal["size"], (normal, small)
    assert small["color"] == "rgb(160, 160, 160)"  # dim, still 7:1 on black
    stored = phone.evaluate(
        "['surtitles-lang', 'surtitles-size', 'surtitles-theme'].map(k => localStorage.getItem(k))"
    )
    assert stored == ["en", "small", "dim"]

    # Nothing of it reached the server: hello (channels only) and pings on the websocket, and no
    # request that names a choice.
    sent = [json.loads(frame) for frame in frames]
    assert {m["type"] for m in sent} <= {"hello", "ping"}, sent
    # (A ping's t is the phone's clock, for the event clock: no choice of the reader's.)
    assert all(set(m) <= {"type", "channels", "since", "epoch", "t"} for m in sent), sent
    assert all(isinstance(m["t"], int | float) for m in sent if "t" in m), sent
    assert all(m["channels"] == ["cues:paris"] for m in sent if m["type"] == "hello")
    choice = re.compile(r"large|small|dim|contrast|lang=|theme|size", re.IGNORECASE)
    assert not [u for u in urls if choice.search(u)], urls


# -- the dashboard: who follows whom, and the drift ----------------------------------------------


def test_the_dashboard_shows_follows_and_drift_against_the_first_surtitled_city(
    server: ServerProcess, open_page: OpenPage, ws_client: Open, tokens: Tokens
) -> None:
    give_helsinki_a_script(server, tokens)
    admin = ws_staff(ws_client, server, tokens.admin)
    for n in range(3):
        command(admin, f"p-{n}", "next", "paris", **{"from": n})
    command(admin, "h-0", "next", "helsinki", **{"from": 0})

    dashboard = open_page(390, 844, locale="en-US")
    drift_urls: list[str] = []
    dashboard.on("request", lambda r: drift_urls.append(r.url) if "/api/drift" in r.url else None)
    dashboard.goto(server.url + "/")
    helsinki = dashboard.locator('#cities [data-city="helsinki"]')
    paris = dashboard.locator('#cities [data-city="paris"]')
    expect(helsinki.locator(".cues")).to_have_text("Surtitles: cue 1 of 2")
    expect(helsinki.locator(".drift")).to_have_text("2 cues behind Paris · < 1 min")
    expect(paris.locator(".drift")).to_have_text("Reference for the other cities’ drift")
    expect(helsinki.locator(".cue-follows")).to_be_hidden()
    assert all(u.endswith("/api/drift?reference=paris") for u in drift_urls), drift_urls

    # A cue event updates it (one request for a burst of GOs).
    asked = len(drift_urls)
    command(admin, "h-1", "next", "helsinki", **{"from": 1})
    command(admin, "p-3", "next", "paris", **{"from": 3})
    expect(helsinki.locator(".drift")).to_have_text("2 cues behind Paris · < 1 min")
    command(admin, "p-4", "prev", "paris", **{"from": 4})
    command(admin, "p-5", "prev", "paris", **{"from": 3})
    expect(helsinki.locator(".drift")).to_have_text("Level with Paris · < 1 min")
    assert len(drift_urls) - asked <= 4

    # In French, too.
    dashboard.click('#lang-switch button[data-lang="fr"]')
    expect(helsinki.locator(".drift")).to_have_text("Au même point que Paris · <\u00a01\u00a0min")

    # Helsinki follows Paris: the card says so, and shows no drift against what it mirrors.
    command(admin, "f-1", "follow", "helsinki", target="paris")
    expect(helsinki.locator(".cue-follows")).to_have_text("Suit Paris\u00a0: affiche ses surtitres")
    expect(helsinki.locator(".drift")).to_be_hidden()
    expect(helsinki.locator(".cues")).to_have_text("Surtitres\u00a0: titre 2 sur " + str(COUNT))
    dashboard.click('#lang-switch button[data-lang="en"]')
    expect(helsinki.locator(".cue-follows")).to_have_text("Follows Paris: shows its surtitles")
    snap(dashboard, "dashboard-follows-390x844")
    command(admin, "f-2", "unfollow", "helsinki")
    expect(helsinki.locator(".cue-follows")).to_be_hidden()
    expect(helsinki.locator(".drift")).to_be_visible()


@pytest.mark.parametrize(
    ("cues_ahead", "seconds", "expected"),
    [
        (-2, 185.0, "2 cues behind Paris · 3 min"),
        (-1, 30.0, "1 cue behind Paris · < 1 min"),
        (3, -600.0, "3 cues ahead of Paris · 10 min"),
        (1, None, "1 cue ahead of Paris"),
        (0, 240.0, "Level with Paris · 4 min behind"),
        (2, 125.0, "2 cues ahead of Paris · 2 min behind"),
    ],
)
def test_the_dashboard_words_every_kind_of_drift(
    server: ServerProcess,
    open_page: OpenPage,
    tokens: Tokens,
    cues_ahead: int,
    seconds: float | None,
    expected: str,
) -> None:
    """The minutes come from the cue logs, which the tests cannot age: the answer of
    /api/drift is made up here, the wording is the page's."""
    give_helsinki_a_script(server, tokens)
    answer = {
        "reference": "paris",
        "cities": {
            "paris": {"index": 10, "count": COUNT, "cues_ahead": 0, "seconds_behind": 0.0},
            "helsinki": {
                "index": 10 + cues_ahead,
                "count": 2,
                "cues_ahead": cues_ahead,
                "seconds_behind": seconds,
            },
        },
    }
    dashboard = open_page(390, 844, locale="en-US")
    dashboard.route(
        "**/api/drift*",
        lambda route: route.fulfill(content_type="application/json", body=json.dumps(answer)),
    )
    dashboard.goto(server.url + "/")
    expect(dashboard.locator('[data-city="helsinki"] .drift')).to_have_text(expected)
