"""The pages in real headless Chromium."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import Tokens
from tests.support.harness import ServerProcess

pytestmark = pytest.mark.browser

CITY_NAMES = ["Paris", "Berlin", "Winnipeg", "Toronto", "New York", "Chennai", "Helsinki"]


def test_public_page_shows_all_seven_cities(server: ServerProcess, page: Any) -> None:
    page.goto(server.url + "/")
    # A locator, not wait_for_function: the pages' CSP forbids eval, which that would need.
    expect(page.locator("#cities .countdown")).to_have_count(7)
    names = page.locator("#cities .city-name").all_inner_texts()
    assert names == CITY_NAMES
    paris = page.locator('#cities [data-city="paris"]')
    assert "14:00" in paris.inner_text()


def test_coordinator_signs_in_marks_paris_live_and_the_public_sees_it(
    server: ServerProcess, page: Any, browser: Any, tokens: Tokens
) -> None:
    public = browser.new_page()
    public.goto(server.url + "/")
    public.wait_for_selector('[data-city="paris"] .status[data-state="scheduled"]')

    page.goto(server.url + "/coordinator")
    page.fill("#token", tokens.paris)
    page.click("#signin button[type=submit]")
    page.wait_for_selector("#console:not([hidden])")
    assert "token" not in page.url  # never in the address bar
    assert page.locator("#city-name").inner_text() == "Paris"
    # Only valid next states are offered: a scheduled reading cannot be finished.
    buttons = page.locator("#actions button").all_inner_texts()
    assert "Live" in buttons
    assert "Finished" not in buttons
    page.fill("#note", "<b>40 people</b>, starting now")
    page.click('#actions button[data-state="live"]')
    page.wait_for_selector("#message.ok")
    page.wait_for_selector('#city-state[data-state="live"]')

    public.wait_for_selector('[data-city="paris"] .status[data-state="live"]', timeout=3000)
    note = public.locator('[data-city="paris"] .note').inner_text()
    assert note == "<b>40 people</b>, starting now"  # shown as text, not HTML
    public.close()


def test_coordinator_page_says_when_a_token_is_wrong(server: ServerProcess, page: Any) -> None:
    page.goto(server.url + "/coordinator")
    page.fill("#token", "wrong-token")
    page.click("#signin button[type=submit]")
    page.wait_for_selector("#message.error")
    assert "not valid" in page.locator("#message").inner_text()
    assert page.locator("#signin").is_visible()
