"""The coordinator's console (``/coordinator``) in headless Chromium: buttons in the order a
reading goes, no single tap that ends or cancels a reading, the note shown, edited and cleared."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import Tokens
from tests.support.harness import ServerProcess, http_request
from tests.support.messages import status

pytestmark = pytest.mark.browser


def sign_in(page: Any, server: ServerProcess, token: str, query: str = "") -> None:
    page.goto(server.url + "/coordinator" + query)
    page.fill("#token", token)
    page.press("#token", "Enter")
    # Signing in is a page load, a dictionary, a websocket and a few clock round trips: on a
    # loaded CI machine that can take longer than Playwright's default 5 s.
    expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=20_000)
    expect(page.locator("#city-state")).not_to_have_text("–")


def paris(server: ServerProcess) -> dict[str, Any]:
    state = server.get_json("/api/state")
    return next(c for c in state["cities"] if c["id"] == "paris")


def set_paris(server: ServerProcess, token: str, cmd_id: str, state: str, **extra: Any) -> None:
    code, body = server.post_json(
        "/api/cities/paris/status", status(cmd_id, "paris", state, **extra), token
    )
    assert code == 200, body


def test_buttons_follow_the_reading_and_ending_or_cancelling_asks_first(
    server: ServerProcess, page: Any, tokens: Tokens
) -> None:
    sign_in(page, server, tokens.paris)
    # Scheduled: the everyday moves first, in the order a reading goes; the final ones apart.
    order = page.locator("#actions button").evaluate_all("(bs) => bs.map((b) => b.dataset.state)")
    assert order == ["preparing", "live", "delayed"]
    assert page.locator("#final-actions button").evaluate_all(
        "(bs) => bs.map((b) => b.dataset.state)"
    ) == ["cancelled"]
    expect(page.locator('#final-actions button[data-state="cancelled"]')).to_have_text(
        "Cancel the reading…"
    )

    page.click('#actions button[data-state="live"]')
    expect(page.locator("#city-state")).to_have_attribute("data-state", "live")
    order = page.locator("#actions button").evaluate_all("(bs) => bs.map((b) => b.dataset.state)")
    assert order == ["paused"]
    finals = page.locator("#final-actions button")
    assert finals.evaluate_all("(bs) => bs.map((b) => b.dataset.state)") == [
        "finished",
        "cancelled",
    ]

    # One tap on "End the reading" only asks; Escape or "No" keeps it live, nothing is sent.
    page.click('#final-actions button[data-state="finished"]')
    dialog = page.locator("#confirm")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("End the reading in Paris?")
    expect(page.locator("#confirm-no")).to_be_focused()  # Enter on a reflex keeps it going
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    page.click('#final-actions button[data-state="cancelled"]')
    expect(dialog).to_contain_text("Cancel the reading in Paris?")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    page.wait_for_timeout(300)
    assert paris(server)["state"] == "live"

    page.click('#final-actions button[data-state="finished"]')
    page.click("#confirm-yes")
    expect(page.locator("#city-state")).to_have_attribute("data-state", "finished")
    assert paris(server)["state"] == "finished"
    # Final for a coordinator: nothing is offered but the note.
    expect(page.locator("#actions button")).to_have_count(0)
    expect(page.locator("#final-actions button")).to_have_count(0)


def test_the_note_is_shown_editable_and_cleared(
    server: ServerProcess, page: Any, tokens: Tokens
) -> None:
    set_paris(server, tokens.paris, "n1", "delayed", delay_minutes=30, note="Rain: 30 min later")
    sign_in(page, server, tokens.paris)
    expect(page.locator("#note")).to_have_value("Rain: 30 min later")
    expect(page.locator("#city-note")).to_have_text("Rain: 30 min later")

    # Editing the note and going live sends the edited note.
    page.fill("#note", "We started: 80 people")
    page.click('#actions button[data-state="live"]')
    expect(page.locator("#city-state")).to_have_attribute("data-state", "live")
    assert paris(server)["note"] == "We started: 80 people"
    expect(page.locator("#note")).to_have_value("We started: 80 people")

    # The clear button publishes `note: ""` and keeps the state.
    page.click("#note-clear")
    expect(page.locator("#city-note")).to_have_text("")
    expect(page.locator("#note")).to_have_value("")
    assert paris(server)["note"] == ""
    assert paris(server)["state"] == "live"

    # A note emptied by hand (or left as spaces) clears it too when a button is pressed.
    set_paris(server, tokens.paris, "n2", "live", note="Short break soon")
    expect(page.locator("#note")).to_have_value("Short break soon")
    page.fill("#note", "   ")
    page.click('#actions button[data-state="paused"]')
    expect(page.locator("#city-state")).to_have_attribute("data-state", "paused")
    assert paris(server)["note"] == ""

    # "Publish note" changes the note alone.
    page.fill("#note", "Back in 5 minutes")
    page.click("#note-save")
    expect(page.locator("#city-note")).to_have_text("Back in 5 minutes")
    assert paris(server)["state"] == "paused"


@pytest.mark.parametrize("path", ["/operator/paris", "/coordinator"])
def test_a_red_message_about_a_lost_connection_is_cleared_once_back_in_sync(
    server: ServerProcess, page: Any, tokens: Tokens, path: str
) -> None:
    page.goto(server.url + path)
    page.fill("#token", tokens.admin)
    page.press("#token", "Enter")
    # Signing in is a page load, a dictionary, a websocket and a few clock round trips: on a
    # loaded CI machine that can take longer than Playwright's default 5 s.
    expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=20_000)
    server.stop()
    expect(page.locator("#connection")).to_have_attribute("data-state", "reconnecting")
    if path == "/coordinator":
        page.click('#actions button[data-state="preparing"]')  # queued, answered later
        page.evaluate("document.getElementById('message').className = 'message error'")
    else:
        page.keyboard.press("Space")  # GO while offline: refused in red, nothing sent
    expect(page.locator("#message")).to_have_class(re.compile(r"\b(error|conflict)\b"))
    server.start()
    expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=15000)
    if path == "/operator/paris":
        expect(page.locator("#message")).to_have_text("")
    else:  # the queued press is answered: the message says so, not the old error
        expect(page.locator("#message")).not_to_have_class(re.compile(r"\berror\b"))
    page.console_errors.clear()  # the refused connections while the server was down


def test_a_schedule_edit_shows_the_new_start_at_once(
    server: ServerProcess, page: Any, tokens: Tokens
) -> None:
    """An admin moves Paris to 15:30 (PATCH /api/cities/paris): the signed-in console shows
    the new start without a reload."""
    sign_in(page, server, tokens.paris)
    expect(page.locator("#city-start")).to_contain_text("14:00")
    status_code, _, body = http_request(
        "PATCH",
        server.url + "/api/cities/paris",
        headers={"Authorization": f"Bearer {tokens.admin}", "Content-Type": "application/json"},
        body=json.dumps({"start_local": "2025-09-20T15:30"}).encode(),
    )
    assert status_code == 200, body
    expect(page.locator("#city-start")).to_contain_text("15:30", timeout=1000)
