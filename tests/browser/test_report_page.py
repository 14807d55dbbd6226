"""The after-event report (``/report``) in headless Chromium: an admin signs in and sees every
city's figures; other tokens are refused; a token kept by /admin signs in at once; the CSV
downloads with the token in a header; FR; printing hides the controls."""

from __future__ import annotations

import csv
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import Tokens
from tests.support.harness import ServerProcess
from tests.support.messages import status

pytestmark = pytest.mark.browser


def set_paris(server: ServerProcess, token: str, cmd_id: str, state: str, **extra: Any) -> None:
    code, body = server.post_json(
        "/api/cities/paris/status", status(cmd_id, "paris", state, **extra), token
    )
    assert code == 200, body


def sign_in(page: Any, server: ServerProcess, token: str, query: str = "") -> None:
    page.goto(server.url + "/report" + query)
    page.fill("#token", token)
    page.press("#token", "Enter")


def cell(page: Any, city: str, field: str) -> Any:
    return page.locator(f'#rows tr[data-city="{city}"] td[data-field="{field}"]')


def test_an_admin_sees_the_report_and_downloads_its_csv(
    server: ServerProcess, page: Any, tokens: Tokens
) -> None:
    set_paris(server, tokens.paris, "d1", "delayed", delay_minutes=15)
    set_paris(server, tokens.paris, "l1", "live")
    for n in range(2):
        code, body = server.post_json("/api/cues/paris/next", {"id": f"n{n}"}, tokens.admin)
        assert code == 200, body
    code, body = server.post_json(
        "/api/cities/berlin/status", status("c1", "berlin", "cancelled"), tokens.berlin
    )
    assert code == 200, body

    sign_in(page, server, tokens.admin)
    expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=20_000)
    expect(page.locator("#rows tr")).to_have_count(7)
    expect(cell(page, "paris", "city")).to_have_text("Paris")
    expect(cell(page, "paris", "scheduled")).to_contain_text("14:00")
    expect(cell(page, "paris", "scheduled")).to_contain_text("12:00 UTC")
    expect(cell(page, "paris", "state")).to_have_text("Live")
    expect(cell(page, "paris", "delays")).to_have_text("1 (last 15 min, largest 15 min)")
    expect(cell(page, "paris", "cues")).to_have_text("2")
    expect(cell(page, "paris", "drift")).to_have_text("reference")
    expect(cell(page, "berlin", "state")).to_have_text("Cancelled")
    expect(page.locator('#rows tr[data-city="berlin"]')).to_have_attribute("data-cancelled", "true")
    expect(cell(page, "berlin", "started")).to_have_text("–")

    # A status change reaches the open report without a reload.
    set_paris(server, tokens.paris, "p1", "paused")
    expect(cell(page, "paris", "state")).to_have_text("Paused", timeout=10_000)

    with page.expect_download() as info:
        page.click("#download")
    download = info.value
    assert download.suggested_filename == "report.csv"
    with open(download.path(), encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["id"] for r in rows][:2] == ["paris", "berlin"]
    assert rows[0]["cues_shown"] == "2" and rows[1]["cancelled"] == "true"

    # On paper: the table, none of the controls.
    page.emulate_media(media="print")
    expect(page.locator("#report")).to_be_visible()
    for selector in ("#refresh", "#download", "#signout", "#lang-switch", "#connection"):
        expect(page.locator(selector)).to_be_hidden()


def test_other_tokens_are_refused_and_french_is_spoken(
    server: ServerProcess, page: Any, tokens: Tokens
) -> None:
    sign_in(page, server, tokens.paris, "?lang=fr")
    expect(page.locator("#message")).to_have_text(
        "Cette page est pour les admins\u00a0: connectez-vous avec un jeton d’administration.",
        timeout=20_000,
    )
    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#console")).to_be_hidden()

    sign_in(page, server, tokens.admin, "?lang=fr")
    expect(page.locator("h1")).to_have_text("Bilan de la lecture")
    expect(cell(page, "paris", "state")).to_have_text("Prévue", timeout=20_000)
    expect(page.locator("#rows tr")).to_have_count(7)


def test_a_token_kept_by_the_admin_page_signs_in_at_once(
    server: ServerProcess, page: Any, tokens: Tokens
) -> None:
    page.goto(server.url + "/report")
    page.evaluate("(token) => sessionStorage.setItem('admin-token', token)", tokens.admin)
    page.reload()
    expect(page.locator("#rows tr")).to_have_count(7, timeout=20_000)
    expect(page.locator("#signin")).to_be_hidden()
    assert "token" not in page.url
