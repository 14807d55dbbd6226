"""The surtitle pages in real headless Chromium against a real server: the operator's console
(/operator/CITY), the projector (/display/CITY) and the audience's phones (/follow/CITY).

Set ``SURTITLE_SCREENSHOTS=DIR`` to have ``test_screenshots_at_desktop_and_phone_sizes`` write
PNGs of the three pages there (docs/surtitles.md).
"""

from __future__ import annotations

import csv
import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from coordinator import scripts
from tests.conftest import Tokens
from tests.support.harness import SHIPPED_CONFIG, ServerProcess, WsClient, http_request

pytestmark = pytest.mark.browser

DEMO = scripts.load_script(SHIPPED_CONFIG.parent / "scripts" / "demo.csv")
COUNT = len(DEMO.cues)
ITALIC_CUE = next(c.number for c in DEMO.cues if c.text["fr"].startswith("<i>"))
BLANK_CUE = next(c.number for c in DEMO.cues if c.text["fr"] == "")
LONGEST_CUE = max(DEMO.cues, key=lambda c: len(c.text["fr"]) + len(c.text["en"])).number
WS_FAILED = re.compile(r"^WebSocket connection to 'ws://127\.0\.0\.1:\d+/ws' failed")

OpenPage = Callable[..., Any]
Open = Callable[..., WsClient]


def plain(text: str) -> str:
    """What a cue looks like as rendered text: tags gone, line breaks kept."""
    return re.sub(r"</?[ibu]>", "", text)


# -- fixtures and helpers ----------------------------------------------------------------------


def wait_for_image(page: Any, selector: str, timeout_s: float = 5.0) -> None:
    """Until the image has loaded (polled: the server's CSP forbids the eval behind
    ``wait_for_function``)."""
    deadline = time.monotonic() + timeout_s
    while page.eval_on_selector(selector, "img => img.naturalWidth") == 0:
        assert time.monotonic() < deadline, f"{selector} did not load"
        page.wait_for_timeout(50)


def forget_connection_errors(page: Any) -> None:
    """The browser logs each refused websocket connection: expected while the server is down."""
    page.console_errors[:] = [e for e in page.console_errors if not WS_FAILED.match(e)]


def sign_in(page: Any, server: ServerProcess, token: str, city: str = "paris") -> None:
    page.goto(f"{server.url}/operator/{city}")
    page.fill("#token", token)
    page.press("#token", "Enter")
    page.wait_for_selector('#connection[data-state="live"]')
    page.wait_for_selector(f'#script-list li[data-index="{COUNT}"]')
    assert "token" not in page.url.lower()


def op_at(page: Any, index: int, timeout: float = 5000) -> None:
    """Wait until the operator's console shows ``index`` as current."""
    page.wait_for_selector(f'#script-list li[data-index="{index}"][aria-current]', timeout=timeout)


def shows(display: Any, index: int, timeout: float = 5000) -> None:
    display.wait_for_selector(
        f'body[data-show="text"] #cue-inner[data-index="{index}"]', timeout=timeout
    )


def state(server: ServerProcess) -> dict[str, Any]:
    paris: dict[str, Any] = server.get_json("/api/state")["cues"]["paris"]
    return paris


def ws_operator(ws_client: Open, server: ServerProcess, token: str) -> WsClient:
    client = ws_client(server.ws_url)
    assert client.hello(token, channels=["cues:paris"])["role"] == "operator"
    client.recv_until(lambda m: m["type"] == "snapshot")
    return client


def goto(client: WsClient, index: int, cmd_id: str) -> None:
    client.send({"type": "cue", "id": cmd_id, "city": "paris", "action": "goto", "index": index})
    reply = client.recv_until(lambda m: m["type"] in ("ack", "error"))
    assert reply["type"] == "ack", reply


def cue_elements(page: Any, selector: str) -> list[str]:
    """The tag names of every element inside ``selector``."""
    names: list[str] = page.eval_on_selector(
        selector, "n => [...n.querySelectorAll('*')].map(e => e.localName)"
    )
    return names


# -- the operator moves, the projector follows -------------------------------------------------


def test_go_on_the_operator_page_shows_the_french_line_then_blank_and_unblank(
    server: ServerProcess, page: Any, open_page: OpenPage, tokens: Tokens
) -> None:
    display = open_page(1280, 720)
    display.goto(server.url + "/display/paris")
    display.wait_for_selector('body[data-show="qr"]')

    sign_in(page, server, tokens.paris_operator)
    assert page.locator("#position").inner_text().startswith("Before the first cue")
    page.keyboard.press("Space")
    shows(display, 1)
    assert display.locator("#cue-inner").inner_text() == DEMO.cues[0].text["fr"]
    assert display.locator("#cue-inner .cue-line").count() == 1  # French only by default
    assert display.locator("#waiting").is_hidden()

    op_at(page, 1)
    assert page.locator("#position").inner_text() == f"Cue 1 of {COUNT}"
    assert page.locator("#screens").get_attribute("data-state") == "text"
    assert page.locator("#screens-text").inner_text() == DEMO.cues[0].text["fr"]
    assert page.locator("#current-notes").inner_text() == DEMO.cues[0].notes
    assert DEMO.cues[1].text["en"].split("\n")[0] in page.locator("#next-text").inner_text()
    page.wait_for_selector("#message.ok")  # the ack may come just after the event
    assert page.locator("#message").inner_text() == "✓ GO → cue 1"

    page.keyboard.press("b")
    display.wait_for_selector('body[data-show="nothing"]')
    assert display.locator("#cue-inner").inner_text() == ""
    page.wait_for_selector('#screens[data-state="blank"]')
    assert page.locator("#blank-badge").is_visible()
    assert page.locator("#blank").get_attribute("aria-pressed") == "true"
    assert state(server)["blank"] is True

    page.keyboard.press("B")
    shows(display, 1)
    assert display.locator("#cue-inner").inner_text() == DEMO.cues[0].text["fr"]
    page.wait_for_selector('#screens[data-state="text"]')
    assert page.locator("#blank-badge").is_hidden()

    page.click("#go")  # the mouse works too
    shows(display, 2)
    assert display.locator("#cue-inner").inner_text() == DEMO.cues[1].text["fr"]
    assert display.locator("#cue-inner br").count() == 2  # the cue's own line breaks


def test_the_display_renders_only_i_b_u_and_never_live_html(
    server_factory: Callable[..., ServerProcess],
    config_path: Path,
    open_page: OpenPage,
    ws_client: Open,
    tokens: Tokens,
) -> None:
    hostile = [
        '<i>Lire</i> <img src=x onerror="window.pwned=1"> & <script>window.pwned=2</script>',
        "<b>gras</b> <u>souligné</u> <I>pas ça</I> <i class=x>ni ça</i> </b> <i><b>imbriqué</i> fin",
        '<a href="http://example.com/">lien</a> <iframe src="/"></iframe> &lt;i&gt;',
        "<i>ouvert\nsur deux lignes",
    ]
    script = config_path.parent / "scripts" / "hostile.csv"
    rows = [["n", "en", "fr"]] + [[str(i + 1), f"line {i + 1}", fr] for i, fr in enumerate(hostile)]
    with script.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows(rows)
    config_path.write_text(
        config_path.read_text(encoding="utf-8").replace("scripts/demo.csv", "scripts/hostile.csv"),
        encoding="utf-8",
    )
    server = server_factory()
    display = open_page()
    display.goto(server.url + "/display/paris")
    follow = open_page(390, 844)
    follow.goto(server.url + "/follow/paris")
    operator = open_page(1280, 800)
    sign_in_count = len(hostile)
    operator.goto(server.url + "/operator/paris")
    operator.fill("#token", tokens.paris_operator)
    operator.press("#token", "Enter")
    operator.wait_for_selector(f'#script-list li[data-index="{sign_in_count}"]')
    op = ws_operator(ws_client, server, tokens.paris_operator)

    expected_text = [
        'Lire <img src=x onerror="window.pwned=1"> & <script>window.pwned=2</script>',
        "gras souligné <I>pas ça</I> <i class=x>ni ça</i> </b> imbriqué fin",
        '<a href="http://example.com/">lien</a> <iframe src="/"></iframe> &lt;i&gt;',
        "ouvert\nsur deux lignes",
    ]
    for number, text in enumerate(expected_text, start=1):
        goto(op, number, f"h-{number}")
        shows(display, number)
        follow.wait_for_selector(f'#cue[data-index="{number}"]')
        op_at(operator, number)
        for page, selector in (
            (display, "#cue-inner"),
            (follow, "#cue"),
            (operator, "#screens-text"),
        ):
            assert page.locator(selector).inner_text() == text, (number, selector)
            tags = set(cue_elements(page, selector))
            assert tags <= {"div", "br", "i", "b", "u"}, (number, selector, tags)
    assert display.evaluate("window.pwned") is None
    assert follow.evaluate("window.pwned") is None
    assert operator.evaluate("window.pwned") is None
    # The formatting that is allowed is rendered: italics, bold, underline, nested.
    goto(op, 1, "h-back-1")
    shows(display, 1)
    assert display.locator("#cue-inner i").inner_text() == "Lire"
    goto(op, 2, "h-back-2")
    shows(display, 2)
    assert display.locator("#cue-inner b").first.inner_text() == "gras"
    assert display.locator("#cue-inner u").inner_text() == "souligné"
    assert display.locator("#cue-inner i > b").inner_text() == "imbriqué"


def test_cue_text_parser_cases(server: ServerProcess, page: Any) -> None:
    page.goto(server.url + "/follow/paris")
    cases = {
        "a <i>b</i> c": "a <i>b</i> c",
        "<script>x</script>": "&lt;script&gt;x&lt;/script&gt;",
        "</i>x": "&lt;/i&gt;x",
        "<i>open": "<i>open</i>",
        "<I>x</I>": "&lt;I&gt;x&lt;/I&gt;",
        "l1\nl2\r\nl3": "l1<br>l2<br>l3",
        "<i>a\nb</i>": "<i>a<br>b</i>",
        "<b><i>x</b>y</i>": "<b><i>x</i></b>y&lt;/i&gt;",
        # Cue text writes a literal < > & as &lt; &gt; &amp; (scripts/markup.py): an escaped
        # tag is text, never an element.
        "&amp; <": "&amp; &lt;",
        "&lt;i&gt;x&lt;/i&gt;": "&lt;i&gt;x&lt;/i&gt;",
        "&lt;i>x": "&lt;i&gt;x",
        "&amp;lt;": "&amp;lt;",
        "<i onclick=x>y</i>": "&lt;i onclick=x&gt;y&lt;/i&gt;",
    }
    got = page.evaluate(
        """async (cases) => {
            const { appendCueText, cuePlainText } = await import("/static/cue-text.js");
            const out = {};
            for (const text of Object.keys(cases)) {
              out[text] = appendCueText(document.createElement("div"), text).innerHTML;
            }
            out.plain = cuePlainText("<i>Lire</i>\\n ensemble");
            return out;
        }""",
        cases,
    )
    assert got.pop("plain") == "Lire ensemble"
    assert got == cases


def test_screen_languages_cases(server: ServerProcess, page: Any) -> None:
    """The one rule of the projector, the phones and the console's "On screens now":
    (the script's languages, the preferences in order) -> the languages shown."""
    cases = [
        (["en", "fr"], [[], ["fr"]], ["fr"]),  # the city's configured language
        (["en", "fr"], [["fr", "en"], ["fr"]], ["fr", "en"]),  # ?lang=fr,en
        (["en", "fr"], [["de", "fr", "en"]], ["fr", "en"]),  # only those the script has
        (["en", "fr"], [["de"], ["en"]], ["en"]),  # a ?lang= the script lacks: the city's
        (["en", "fr"], [["de"], None], ["fr"]),  # none the script has: French
        (["en", "fi"], [[], None], ["en"]),  # no French either: the script's first
        ([], [["de"], ["en"]], ["de"]),  # no script languages known: as asked
        (None, [[], None], ["fr"]),
    ]
    page.goto(server.url + "/follow/paris")
    got = page.evaluate(
        """async (cases) => {
            const { screenLanguages } = await import("/static/cue-text.js");
            return cases.map(([available, preferences]) => screenLanguages(available, preferences));
        }""",
        [[available, preferences] for available, preferences, _ in cases],
    )
    assert got == [expected for _, _, expected in cases]


# -- reconnecting -----------------------------------------------------------------------------


def test_a_display_that_was_away_shows_nothing_then_the_current_cue_and_a_phone_dims(
    server: ServerProcess, open_page: OpenPage, ws_client: Open, tokens: Tokens
) -> None:
    display = open_page(1280, 720)
    display.goto(server.url + "/display/paris")
    display.wait_for_selector('body[data-show="qr"]')
    phone = open_page(390, 844)
    phone.goto(server.url + "/follow/paris")
    phone.wait_for_selector('body[data-show="waiting"]')
    op = ws_operator(ws_client, server, tokens.paris_operator)
    goto(op, 1, "r-1")
    shows(display, 1)
    phone.wait_for_selector('#cue[data-index="1"]')
    assert phone.locator("#banner").is_hidden()

    server.stop()
    display.wait_for_selector('body[data-connection="offline"][data-show="nothing"]')
    assert display.locator("#cue-inner").inner_text() == ""  # no stale line, not even dimmed
    assert display.locator("#waiting").is_hidden()
    assert display.locator("#link").is_visible()  # the discreet dot for the technician
    # The phone keeps the line, dimmed, under a banner that says it may be out of date.
    phone.wait_for_selector("#cue.stale")
    assert "Reconnexion" in phone.locator("#banner").inner_text()
    assert phone.evaluate("getComputedStyle(document.getElementById('cue')).opacity") == "0.35"

    # The display's network is down while the server comes back and the operator moves on.
    display.context.set_offline(True)
    server.start()
    op = ws_operator(ws_client, server, tokens.paris_operator)
    goto(op, 8, "r-8")
    display.wait_for_timeout(600)
    assert display.locator("#cue-inner").inner_text() == ""
    display.context.set_offline(False)
    shows(display, 8, timeout=15000)
    assert display.locator("#cue-inner").inner_text() == DEMO.cues[7].text["fr"]
    assert display.locator("body").get_attribute("data-connection") == "live"
    phone.wait_for_selector('#cue[data-index="8"]:not(.stale)', timeout=15000)
    assert phone.locator("#banner").is_hidden()
    forget_connection_errors(display)
    forget_connection_errors(phone)


def test_the_operator_console_says_when_it_is_not_connected_and_sends_nothing(
    server: ServerProcess, page: Any, tokens: Tokens
) -> None:
    sign_in(page, server, tokens.paris_operator)
    page.keyboard.press("ArrowRight")
    op_at(page, 1)
    server.stop()
    page.wait_for_selector('#screens[data-state="unknown"]')
    assert page.locator("#go").is_disabled()
    page.keyboard.press("Space")  # not queued for later: a late GO would be worse than none
    assert "Not connected" in page.locator("#message").inner_text()
    server.start()
    page.wait_for_selector('#connection[data-state="live"]', timeout=15000)
    page.wait_for_timeout(300)
    assert state(server)["index"] == 1
    op_at(page, 1)
    page.keyboard.press("Space")
    op_at(page, 2)
    forget_connection_errors(page)


# -- languages --------------------------------------------------------------------------------


def test_display_shows_french_by_default_and_two_languages_with_lang(
    server: ServerProcess, open_page: OpenPage, ws_client: Open, tokens: Tokens
) -> None:
    default = open_page()
    default.goto(server.url + "/display/paris")
    both = open_page()
    both.goto(server.url + "/display/paris?lang=fr,en")
    op = ws_operator(ws_client, server, tokens.paris_operator)
    goto(op, 4, "l-4")
    shows(default, 4)
    shows(both, 4)
    cue = DEMO.cues[3]
    assert default.locator(".cue-line").all_inner_texts() == [cue.text["fr"]]
    assert both.locator(".cue-line").all_inner_texts() == [cue.text["fr"], cue.text["en"]]
    assert [both.locator(".cue-line").nth(i).get_attribute("lang") for i in (0, 1)] == ["fr", "en"]
    # A deliberate blank cue shows nothing in either.
    goto(op, BLANK_CUE, "l-blank")
    default.wait_for_selector('body[data-show="nothing"]')
    both.wait_for_selector('body[data-show="nothing"]')


def test_follow_page_shows_the_same_text_and_remembers_the_language_locally(
    server: ServerProcess, open_page: OpenPage, ws_client: Open, tokens: Tokens
) -> None:
    phone = open_page(390, 844, is_mobile=True, has_touch=True)
    sent: list[str] = []
    phone.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(payload)))
    phone.goto(server.url + "/follow/paris")
    phone.wait_for_selector('body[data-show="waiting"]')
    assert "lecture" in phone.locator("#hint").inner_text()
    op = ws_operator(ws_client, server, tokens.paris_operator)
    goto(op, ITALIC_CUE, "f-1")
    phone.wait_for_selector(f'#cue[data-index="{ITALIC_CUE}"]')
    assert phone.locator("#cue").inner_text() == plain(DEMO.cues[ITALIC_CUE - 1].text["fr"])
    assert phone.locator("#cue i").count() == 1
    buttons = phone.locator("#langs button")
    assert buttons.all_inner_texts() == ["English", "Français"]
    assert phone.locator('#langs button[data-lang="fr"]').get_attribute("aria-pressed") == "true"

    phone.click('#langs button[data-lang="en"]')
    assert phone.locator("#cue").inner_text() == plain(DEMO.cues[ITALIC_CUE - 1].text["en"])
    assert phone.evaluate("localStorage.getItem('surtitles-lang')") == "en"
    goto(op, 2, "f-2")
    phone.wait_for_selector('#cue[data-index="2"]')
    assert phone.locator("#cue").inner_text() == DEMO.cues[1].text["en"]

    phone.reload()
    phone.wait_for_selector('#cue[data-index="2"]')
    assert phone.locator("#cue").inner_text() == DEMO.cues[1].text["en"]
    assert phone.locator("html").get_attribute("lang") == "en"
    # The choice never reached the server: hello (channels only) and pings, nothing else.
    kinds = [json.loads(frame)["type"] for frame in sent]
    assert set(kinds) <= {"hello", "ping"}, kinds
    hellos = [json.loads(frame) for frame in sent if '"hello"' in frame]
    assert all(set(h) <= {"type", "channels", "since", "epoch"} for h in hellos), hellos
    assert all(h["channels"] == ["cues:paris"] for h in hellos)

    # Dark and legible: a black page with light text at 24 px or more.
    colours = phone.evaluate(
        """() => {
            const cue = getComputedStyle(document.getElementById("cue"));
            return [getComputedStyle(document.body).backgroundColor, cue.color, cue.fontSize];
        }"""
    )
    assert colours[0] == "rgb(0, 0, 0)"
    assert colours[1] == "rgb(245, 245, 245)"
    assert float(colours[2].removesuffix("px")) >= 24


# -- the keyboard -----------------------------------------------------------------------------


def test_keyboard_only_go_jump_back_and_blank(
    server: ServerProcess, page: Any, open_page: OpenPage, tokens: Tokens
) -> None:
    display = open_page()
    display.goto(server.url + "/display/paris")
    page.goto(server.url + "/operator/paris")
    page.focus("#token")
    page.keyboard.type(tokens.paris_operator)
    page.keyboard.press("Enter")
    op_at(page, 0)
    page.wait_for_selector('#connection[data-state="live"]')

    page.keyboard.press("ArrowRight")
    op_at(page, 1)
    page.keyboard.press("Enter")
    op_at(page, 2)
    page.keyboard.press("Space")
    op_at(page, 3)
    page.keyboard.press("PageDown")  # what a presentation clicker sends
    op_at(page, 4)
    shows(display, 4)

    page.keyboard.press("g")
    assert page.evaluate("document.activeElement.id") == "jump-to"
    page.keyboard.type("12")
    page.keyboard.press("Space")  # typing: no GO
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")  # submits the jump, not a GO
    op_at(page, 12)
    shows(display, 12)
    assert state(server)["index"] == 12
    assert page.evaluate("document.activeElement.id") == "console"

    page.keyboard.press("ArrowLeft")
    op_at(page, 11)
    shows(display, 11)
    page.keyboard.press("b")
    display.wait_for_selector('body[data-show="nothing"]')
    page.keyboard.press("b")
    shows(display, 11)

    # Tab to a cue in the script list and press Enter: that cue, not a GO.
    page.focus('#script-list button[data-index="6"]')
    page.keyboard.press("Enter")
    op_at(page, 6)
    # Space on a focused button is still GO (once), never a click on that button.
    page.keyboard.press("Space")
    op_at(page, 7)
    page.wait_for_timeout(300)
    assert state(server)["index"] == 7

    # Escape leaves the jump field without jumping.
    page.keyboard.press("G")
    page.keyboard.type("3")
    page.keyboard.press("Escape")
    page.keyboard.press("ArrowRight")
    op_at(page, 8)
    assert state(server)["index"] == 8


def test_a_double_press_advances_once_and_the_conflict_is_shown(
    server: ServerProcess, page: Any, tokens: Tokens
) -> None:
    sign_in(page, server, tokens.paris_operator)
    page.keyboard.press("Space")
    op_at(page, 1)
    # Two presses in the same instant: both say from=1, the server applies one.
    page.evaluate(
        """() => {
            for (let i = 0; i < 2; i++) {
              document.dispatchEvent(new KeyboardEvent("keydown", { key: " ", bubbles: true }));
            }
        }"""
    )
    page.wait_for_selector("#message.conflict")
    op_at(page, 2)
    assert state(server)["index"] == 2
    assert "Not moved" in page.locator("#message").inner_text()
    # The console is in step: the next GO goes on from 2.
    page.keyboard.press("Space")
    op_at(page, 3)
    page.wait_for_selector("#message.ok")


def test_another_consoles_move_reaches_this_console_and_it_goes_on_from_there(
    server: ServerProcess, page: Any, ws_client: Open, tokens: Tokens
) -> None:
    sign_in(page, server, tokens.paris_operator)
    other = ws_operator(ws_client, server, tokens.paris_operator)
    goto(other, 5, "s-5")
    op_at(page, 5)  # another console's move reaches this one
    assert page.locator("#position").inner_text() == f"Cue 5 of {COUNT}"
    page.keyboard.press("ArrowLeft")
    op_at(page, 4)
    assert state(server)["index"] == 4


# -- the operator console, more -----------------------------------------------------------------


def test_the_script_list_is_the_whole_script_with_notes(
    server: ServerProcess, page: Any, tokens: Tokens
) -> None:
    asked: list[dict[str, str]] = []
    page.on(
        "request",
        lambda r: asked.append(r.headers) if r.url.endswith("/api/cues/paris/script") else None,
    )
    sign_in(page, server, tokens.paris_operator)
    last = DEMO.cues[-1].text["en"].split("\n")[0]
    page.wait_for_selector(f'#script-list button[data-index="{COUNT}"]:has-text("{last}")')
    assert page.locator("#script-note").is_hidden()
    assert asked[0]["authorization"] == f"Bearer {tokens.paris_operator}"  # never in the URL
    for cue in DEMO.cues:
        row = page.locator(f'#script-list button[data-index="{cue.number}"]')
        if cue.text["en"]:
            assert plain(cue.text["en"]).split("\n")[0] in row.inner_text()
        else:
            assert "blank cue" in row.inner_text()
        if cue.notes:
            assert row.locator(".row-notes").inner_text() == cue.notes
    page.click('#script-list button[data-index="10"]')
    op_at(page, 10)
    assert state(server)["index"] == 10
    assert DEMO.cues[8].text["en"].split("\n")[0] in page.locator("#prev-text").inner_text()


def test_the_script_list_degrades_without_the_script_endpoint(
    server: ServerProcess, page: Any, tokens: Tokens
) -> None:
    """An older server (or a failing request): the list still has every cue to jump to, with
    the text of the cues the console has seen."""
    page.route(
        "**/api/cues/paris/script",
        lambda route: route.fulfill(status=404, content_type="application/json", body="{}"),
    )
    sign_in(page, server, tokens.paris_operator)
    page.wait_for_selector("#script-note:not([hidden])")
    assert page.locator("#script-list li").count() == COUNT + 1  # 0 .. count
    page.keyboard.press("Space")
    op_at(page, 1)
    row2 = page.locator('#script-list button[data-index="2"]').inner_text()
    assert DEMO.cues[1].text["en"].split("\n")[0] in row2  # seen as the next cue
    assert "not loaded" in page.locator('#script-list button[data-index="9"]').inner_text()
    page.click('#script-list button[data-index="9"]')
    op_at(page, 9)
    assert state(server)["index"] == 9
    assert page.locator("#prev-text").inner_text() == "(not known yet)"
    assert "(404)" in page.locator("#script-note").inner_text()
    page.console_errors[:] = [e for e in page.console_errors if "status of 404" not in e]


def test_the_operator_page_refuses_other_tokens(
    server: ServerProcess, page: Any, tokens: Tokens
) -> None:
    for token, expected in (
        ("not-a-token", "not valid"),
        (tokens.berlin_operator, "surtitles of berlin"),
        (tokens.paris, "operator token"),
    ):
        page.goto(server.url + "/operator/paris")
        page.fill("#token", token)
        page.press("#token", "Enter")
        page.wait_for_selector(f'#signin-message:has-text("{expected}")')
        assert page.locator("#signin").is_visible()
        assert page.locator("#console").is_hidden()
        assert page.evaluate("sessionStorage.length") == 0
    # An admin may cue any city.
    sign_in(page, server, tokens.admin)
    page.keyboard.press("Space")
    op_at(page, 1)
    # The token survives a reload of the tab (sessionStorage), not the address bar.
    page.reload()
    page.wait_for_selector('#connection[data-state="live"]')
    op_at(page, 1)


def test_the_operator_list_follows_an_uploaded_script(
    server: ServerProcess, page: Any, tokens: Tokens
) -> None:
    sign_in(page, server, tokens.paris_operator)
    page.keyboard.press("Space")
    op_at(page, 1)
    new_script = "n,en,fr,notes\n1,First line,Première ligne,\n2,Second,Deuxième,GO late\n"
    status, _, raw = http_request(
        "PUT",
        server.url + "/api/cues/paris/script",
        headers={"Authorization": f"Bearer {tokens.admin}", "Content-Type": "text/csv"},
        body=new_script.encode(),
    )
    assert status == 200, raw
    page.wait_for_selector('#script-list button[data-index="2"]:has-text("Second")')
    assert page.locator("#script-list li").count() == 3  # 0, 1, 2
    assert page.locator("#position").inner_text() == "Cue 1 of 2"
    assert page.locator("#screens-text").inner_text() == "Première ligne"
    assert page.locator("#next-notes").inner_text() == "GO late"


def test_the_pages_have_no_inline_code_and_run_under_the_servers_policy(
    server: ServerProcess, page: Any, open_page: OpenPage, tokens: Tokens
) -> None:
    """The server sends a CSP without 'unsafe-inline' (coordinator/security.py); every test
    here runs the pages under it, and a violation would be a console error."""
    opened = {"operator": page, "display": open_page(), "follow": open_page(390, 844)}
    for name, checked in opened.items():
        response = checked.goto(f"{server.url}/{name}/paris")
        policy = response.headers.get("content-security-policy", "")
        assert "script-src 'self'" in policy and "unsafe" not in policy, (name, policy)
        inline = checked.evaluate(
            """() => [...document.querySelectorAll("script:not([src]), style, [style]")].length
                + [...document.querySelectorAll("*")].filter(
                    (e) => [...e.attributes].some((a) => a.name.startsWith("on"))).length"""
        )
        assert inline == 0, name
    sign_in(page, server, tokens.paris_operator)
    page.keyboard.press("Space")
    shows(opened["display"], 1)
    opened["follow"].wait_for_selector('#cue[data-index="1"]')
    assert page.locator("#signin").get_attribute("method") == "post"  # never ?token= in a URL


# -- the projector before the reading, and the fit ------------------------------------------


def test_the_qr_code_is_on_the_display_before_the_first_cue(
    server: ServerProcess, open_page: OpenPage, ws_client: Open, tokens: Tokens
) -> None:
    display = open_page(1280, 720)
    display.goto(server.url + "/display/paris")
    display.wait_for_selector('body[data-show="qr"] #qr')
    qr = display.locator("#qr")
    assert qr.is_visible()
    assert qr.get_attribute("src") == "/cities/paris/follow-qr.svg"
    wait_for_image(display, "#qr")
    box = qr.bounding_box()
    assert box is not None and box["width"] >= 300 and box["y"] + box["height"] <= 720
    text = display.locator("#waiting").inner_text()
    assert "Surtitles on your phone" in text and "Surtitres sur votre téléphone" in text
    assert display.evaluate("getComputedStyle(document.body).cursor") == "none"
    op = ws_operator(ws_client, server, tokens.paris_operator)
    goto(op, 1, "q-1")
    shows(display, 1)
    assert qr.is_hidden()
    goto(op, 0, "q-0")
    display.wait_for_selector('body[data-show="qr"]')


@pytest.mark.parametrize(("width", "height"), [(1280, 720), (800, 600), (1920, 1080)])
@pytest.mark.parametrize("lang", ["", "?lang=fr,en"])
def test_the_longest_cue_fits_the_screen(
    server: ServerProcess,
    open_page: OpenPage,
    ws_client: Open,
    tokens: Tokens,
    width: int,
    height: int,
    lang: str,
) -> None:
    display = open_page(width, height)
    display.goto(f"{server.url}/display/paris{lang}")
    op = ws_operator(ws_client, server, tokens.paris_operator)
    goto(op, LONGEST_CUE, "fit")
    shows(display, LONGEST_CUE)
    measure = """() => {
        const box = document.getElementById("cue");
        const inner = document.getElementById("cue-inner");
        const r = inner.getBoundingClientRect();
        return {sh: box.scrollHeight, ch: box.clientHeight, sw: box.scrollWidth, cw: box.clientWidth,
                top: r.top, bottom: r.bottom, font: parseFloat(getComputedStyle(inner).fontSize)};
    }"""
    got = display.evaluate(measure)
    assert got["sh"] <= got["ch"] and got["sw"] <= got["cw"], got
    assert got["top"] >= 0 and got["bottom"] <= height, got
    assert got["font"] >= height * 0.04, got  # shrunk to fit, not to nothing
    # A window resized on the spot (a projector plugged in) fits again.
    display.set_viewport_size({"width": width // 2, "height": height // 2})
    deadline = time.monotonic() + 5
    while True:  # the page refits shortly after a resize
        got = display.evaluate(measure)
        if (got["sh"] <= got["ch"] and got["sw"] <= got["cw"]) or time.monotonic() > deadline:
            break
        display.wait_for_timeout(50)
    assert got["sh"] <= got["ch"] and got["sw"] <= got["cw"], got
    assert got["font"] <= height * 0.06, got  # it did shrink for the smaller window


def test_an_overlong_cue_still_fits(
    server_factory: Callable[..., ServerProcess],
    config_path: Path,
    open_page: OpenPage,
    ws_client: Open,
    tokens: Tokens,
) -> None:
    words = " ".join(["surtitre"] * 120)
    unbroken = "x" * 300
    script = config_path.parent / "scripts" / "long.yaml"
    script.write_text(
        "cues:\n"
        f"  - {{en: long, fr: {json.dumps(words)}}}\n"
        f"  - {{en: word, fr: {json.dumps(unbroken)}}}\n",
        encoding="utf-8",
    )
    config_path.write_text(
        config_path.read_text(encoding="utf-8").replace("scripts/demo.csv", "scripts/long.yaml"),
        encoding="utf-8",
    )
    server = server_factory()
    display = open_page(1280, 720)
    display.goto(server.url + "/display/paris")
    op = ws_operator(ws_client, server, tokens.paris_operator)
    for number in (1, 2):
        goto(op, number, f"long-{number}")
        shows(display, number)
        got = display.evaluate(
            """() => { const b = document.getElementById("cue");
                return [b.scrollHeight, b.clientHeight, b.scrollWidth, b.clientWidth]; }"""
        )
        assert got[0] <= got[1] and got[2] <= got[3], (number, got)


# -- screenshots ------------------------------------------------------------------------------


def test_screenshots_at_desktop_and_phone_sizes(
    server: ServerProcess, open_page: OpenPage, ws_client: Open, tokens: Tokens
) -> None:
    """Every page at a desktop and a phone size, with nothing wider than the screen. With
    SURTITLE_SCREENSHOTS=DIR, the PNGs are written there to look at."""
    target = os.environ.get("SURTITLE_SCREENSHOTS")
    out = Path(target) if target else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)

    def snap(page: Any, name: str, width: int) -> None:
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= width, (name, scroll_width)
        if out is not None:
            page.screenshot(path=str(out / f"{name}.png"))

    display = open_page(1280, 720)
    display.goto(server.url + "/display/paris")
    display.wait_for_selector('body[data-show="qr"]')
    wait_for_image(display, "#qr")
    snap(display, "display-qr-1280x720", 1280)

    operator = open_page(1280, 800)
    sign_in(operator, server, tokens.paris_operator)
    phone_op = open_page(390, 844, is_mobile=True, has_touch=True)
    sign_in(phone_op, server, tokens.paris_operator)
    follow = open_page(390, 844, is_mobile=True, has_touch=True)
    follow.goto(server.url + "/follow/paris")
    follow.wait_for_selector('body[data-show="waiting"]')
    snap(follow, "follow-waiting-390x844", 390)
    both = open_page(1280, 720)
    both.goto(server.url + "/display/paris?lang=fr,en")

    for number in range(1, ITALIC_CUE + 1):
        operator.keyboard.press("Space")
        op_at(operator, number)  # a press before the console shows the last one is a conflict
    shows(display, ITALIC_CUE)
    snap(display, "display-italic-1280x720", 1280)
    goto(ws_operator(ws_client, server, tokens.paris_operator), LONGEST_CUE, "shot")
    op_at(operator, LONGEST_CUE)
    op_at(phone_op, LONGEST_CUE)
    shows(display, LONGEST_CUE)
    shows(both, LONGEST_CUE)
    follow.wait_for_selector(f'#cue[data-index="{LONGEST_CUE}"]')
    snap(operator, "operator-1280x800", 1280)
    snap(phone_op, "operator-390x844", 390)
    snap(display, "display-longest-1280x720", 1280)
    snap(both, "display-fr-en-1280x720", 1280)
    snap(follow, "follow-390x844", 390)
    follow.set_viewport_size({"width": 1280, "height": 800})
    snap(follow, "follow-1280x800", 1280)
    operator.keyboard.press("b")
    display.wait_for_selector('body[data-show="nothing"]')
    operator.wait_for_selector('#screens[data-state="blank"]')
    snap(operator, "operator-blank-1280x800", 1280)
