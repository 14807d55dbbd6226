"""The pages in real headless Chromium."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import Tokens
from tests.support.harness import ServerProcess

pytestmark = pytest.mark.browser

# The cards come in the order of the day: by start while nothing has begun.
CITY_NAMES = ["Chennai", "Helsinki", "Paris", "Berlin", "Toronto", "New York", "Winnipeg"]


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
    states = page.locator("#console button[data-state]").evaluate_all(
        "(bs) => bs.map((b) => b.dataset.state)"
    )
    assert "live" in states
    assert "finished" not in states
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


# Both staff consoles sign in through coordinator/web/session.js, each under the storage key
# its page has always used (a tab signed in before an upgrade stays signed in after a reload).
CONSOLES = [
    pytest.param("/coordinator", "coordinator-token", "#message", id="coordinator"),
    pytest.param("/operator/paris", "surtitle-operator-token", "#signin-message", id="operator"),
]


def saved_token(page: Any, key: str) -> Any:
    return page.evaluate("(key) => sessionStorage.getItem(key)", key)


@pytest.mark.parametrize(("path", "key", "message"), CONSOLES)
def test_a_saved_token_signs_in_on_reload_and_sign_out_forgets_it_on_both_consoles(
    server: ServerProcess, page: Any, tokens: Tokens, path: str, key: str, message: str
) -> None:
    page.goto(server.url + path)
    page.fill("#token", tokens.admin)
    page.press("#token", "Enter")
    expect(page.locator("#console")).to_be_visible()
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    assert saved_token(page, key) == tokens.admin
    assert page.evaluate("sessionStorage.length") == 1
    assert "token" not in page.url

    page.reload()  # the saved token signs in again, without the form
    expect(page.locator("#console")).to_be_visible()
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    expect(page.locator("#signin")).to_be_hidden()

    page.click("#signout")
    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#console")).to_be_hidden()
    expect(page.locator("#connection")).to_have_text("offline")
    assert page.evaluate("sessionStorage.length") == 0

    # A saved token the server does not know: refused in the same words, and forgotten.
    page.evaluate("([key, token]) => sessionStorage.setItem(key, token)", [key, "not-a-token"])
    page.reload()
    expect(page.locator(message)).to_contain_text("This token is not valid.")
    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#console")).to_be_hidden()
    assert saved_token(page, key) is None


def test_each_console_reads_only_its_own_saved_token(
    server: ServerProcess, page: Any, tokens: Tokens
) -> None:
    """One tab, one origin, two consoles: signing in on one does not sign in the other."""
    page.goto(server.url + "/coordinator")
    page.fill("#token", tokens.admin)
    page.press("#token", "Enter")
    expect(page.locator("#console")).to_be_visible()
    page.goto(server.url + "/operator/paris")
    expect(page.locator("#signin")).to_be_visible()
    page.wait_for_timeout(300)  # a sign-in from the saved token would have connected by now
    expect(page.locator("#connection")).to_have_attribute("data-state", "offline")
    assert saved_token(page, "coordinator-token") == tokens.admin


@pytest.mark.parametrize(("path", "key", "message"), CONSOLES)
def test_a_token_revoked_while_signed_in_signs_out_both_consoles_the_same_way(
    server: ServerProcess,
    page: Any,
    tokens: Tokens,
    path: str,
    key: str,
    message: str,
) -> None:
    page.goto(server.url + path)
    page.fill("#token", tokens.admin)
    page.press("#token", "Enter")
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    result = server.token_cli("revoke", tokens.records["admin"].id)
    assert result.returncode == 0, result.stderr
    # The server tells the open console (no action needed), which signs out at once.
    expect(page.locator(message)).to_contain_text("This token no longer works (it was revoked)")
    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#console")).to_be_hidden()
    expect(page.locator("#connection")).to_have_text("offline")
    assert saved_token(page, key) is None
    state = server.get_json("/api/state")  # and nothing moved
    assert {c["id"]: c["state"] for c in state["cities"]}["paris"] == "scheduled"
    assert state["cues"]["paris"]["index"] == 0


@pytest.mark.parametrize("path", ["/coordinator", "/operator/paris", "/admin"])
def test_the_sign_in_waits_for_the_page_script_so_a_token_is_never_sent_by_the_form(
    server: ServerProcess, page: Any, path: str
) -> None:
    """On a slow link the form is on screen before the page's script has run; a token typed
    and sent then went out as a plain form submission (in the address bar of /coordinator, a
    405 page on /operator). The form stays disabled until the script has taken it over."""
    held: list[Any] = []
    script = "**/static/" + {"/coordinator": "coordinator.js", "/admin": "admin.js"}.get(
        path, "operator.js"
    )
    page.route(
        script, lambda route: held.append(route)
    )  # the request waits, unanswered, as on a stalled link
    page.goto(server.url + path, wait_until="commit")
    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#token")).to_be_disabled()
    expect(page.locator("#signin button[type=submit]")).to_be_disabled()
    page.wait_for_timeout(200)
    while not held:
        page.wait_for_timeout(50)
    held[0].continue_()
    expect(page.locator("#token")).to_be_enabled()
    assert page.url == server.url + path
