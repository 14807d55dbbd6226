"""The projector's QR code, page side: a projector (and the operator's console) opened at a
loopback address with no ``event.public_url`` says plainly that no phone can use its code, and
a rehearsal projector's code leads to the rehearsal phone page."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from coordinator import qr
from tests.conftest import Tokens
from tests.support.harness import ServerProcess

pytestmark = pytest.mark.browser


def sign_in(page: Any, server: ServerProcess, token: str) -> None:
    page.goto(server.url + "/operator/paris")
    page.fill("#token", token)
    page.press("#token", "Enter")
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")


def test_at_a_loopback_address_without_public_url_the_projector_and_console_say_so(
    server: ServerProcess, open_page: Callable[..., Any], tokens: Tokens
) -> None:
    display = open_page(1280, 720)
    display.goto(server.url + "/display/paris")
    expect(display.locator("body")).to_have_attribute("data-show", "qr")
    warning = display.locator("#qr-warning")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("127.0.0.1")
    expect(warning).to_contain_text("public_url")
    box = warning.bounding_box()
    assert box is not None and box["y"] + box["height"] <= 720  # on the screen, not below it

    console = open_page(1280, 800)
    sign_in(console, server, tokens.paris_operator)
    expect(console.locator("#qr-warning")).to_be_visible()
    expect(console.locator("#qr-warning")).to_contain_text("127.0.0.1")


def test_with_a_public_url_there_is_no_warning(
    server_factory: Callable[..., ServerProcess],
    config_path: Path,
    open_page: Callable[..., Any],
    tokens: Tokens,
) -> None:
    text = config_path.read_text(encoding="utf-8")
    config_path.write_text(
        text.replace(
            "  date: 2025-09-20\n",
            "  date: 2025-09-20\n  public_url: https://readings.example.org\n",
        ),
        encoding="utf-8",
    )
    server = server_factory(config=config_path)
    display = open_page(1280, 720)
    display.goto(server.url + "/display/paris")
    expect(display.locator("body")).to_have_attribute("data-show", "qr")
    expect(display.locator("#follow-url")).to_have_text("readings.example.org/follow/paris")
    display.wait_for_timeout(300)
    expect(display.locator("#qr-warning")).to_be_hidden()
    console = open_page(1280, 800)
    sign_in(console, server, tokens.paris_operator)
    console.wait_for_timeout(300)
    expect(console.locator("#qr-warning")).to_be_hidden()


def test_a_rehearsal_projector_leads_phones_to_the_rehearsal_page(
    server: ServerProcess, open_page: Callable[..., Any]
) -> None:
    display = open_page(1280, 720)
    display.goto(server.url + "/display/paris?channel=rehearsal")
    expect(display.locator("body")).to_have_attribute("data-show", "qr")
    src = display.locator("#qr").get_attribute("src")
    assert src == "/cities/paris/follow-qr.svg?channel=rehearsal"
    expect(display.locator("#follow-url")).to_have_text(
        f"127.0.0.1:{server.port}/follow/paris?channel=rehearsal"
    )
    status, _, body = server.get(src)
    assert status == 200
    assert body == qr.qr_svg(f"{server.url}/follow/paris?channel=rehearsal")
    assert server.get("/cities/paris/follow-qr.svg")[2] == qr.qr_svg(f"{server.url}/follow/paris")
