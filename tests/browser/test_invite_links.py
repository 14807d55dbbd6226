"""Invite links (``/coordinator#token=…``, ``/operator/CITY#token=…``, ``/admin#token=…``) in
headless Chromium: the console signs in with the link's token, keeps it as a typed one (in the
tab's sessionStorage), and removes it from the address bar at once; the token never reaches the
server in a URL, so its log never holds it. A link with a token of the wrong role is refused
as a typed one is."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import Tokens
from tests.support.harness import ServerProcess

pytestmark = pytest.mark.browser

# Each console, the storage key it keeps its token under, and where it says why it refused one.
CONSOLES = [
    pytest.param("/coordinator", "coordinator-token", "#message", id="coordinator"),
    pytest.param("/operator/paris", "surtitle-operator-token", "#signin-message", id="operator"),
    pytest.param("/admin", "admin-token", "#signin-message", id="admin"),
]


def saved_token(page: Any, key: str) -> Any:
    return page.evaluate("(key) => sessionStorage.getItem(key)", key)


def requested_urls(page: Any) -> list[str]:
    """Every URL the page asks for from now on (page, scripts, websocket, API)."""
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    page.on("websocket", lambda ws: urls.append(ws.url))
    return urls


@pytest.mark.parametrize(("path", "key", "message"), CONSOLES)
def test_an_invite_link_signs_in_and_leaves_no_token_in_the_address_or_the_server_log(
    server: ServerProcess, page: Any, tokens: Tokens, path: str, key: str, message: str
) -> None:
    urls = requested_urls(page)
    page.goto(f"{server.url}{path}?lang=en#token={tokens.admin}")
    expect(page.locator("#console")).to_be_visible(timeout=20_000)
    expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=20_000)
    assert page.url == f"{server.url}{path}?lang=en"  # the query kept, the fragment gone
    assert saved_token(page, key) == tokens.admin  # kept as a typed token is
    assert not [url for url in urls if tokens.admin in url]

    page.reload()  # signed in from the tab's storage, as after typing it
    expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=20_000)
    assert "token" not in page.url
    log = server.log()
    assert path in log  # the log does record the page's requests
    assert tokens.admin not in log


def test_an_invite_link_opened_in_a_signed_out_tab_of_the_console_signs_in(
    server: ServerProcess, page: Any, tokens: Tokens
) -> None:
    """A link pasted into a tab already on the console changes only the fragment: no reload,
    yet the console signs in with it and clears it."""
    page.goto(server.url + "/coordinator")
    expect(page.locator("#token")).to_be_enabled()
    page.evaluate("(token) => { location.hash = 'token=' + token; }", tokens.paris)
    expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=20_000)
    expect(page.locator("#city-name")).to_have_text("Paris")
    assert page.url == server.url + "/coordinator"


@pytest.mark.parametrize(
    ("path", "key", "message", "words"),
    [
        pytest.param(
            "/coordinator", "coordinator-token", "#message",
            "This token cannot change a city’s status", id="coordinator",
        ),
        pytest.param(
            "/admin", "admin-token", "#signin-message",
            "This token cannot use the organiser’s page", id="admin",
        ),
    ],
)  # fmt: skip
def test_an_invite_link_with_a_token_of_another_role_is_refused_as_a_typed_one(
    server: ServerProcess, page: Any, tokens: Tokens, path: str, key: str, message: str,
    words: str,
) -> None:  # fmt: skip
    page.goto(f"{server.url}{path}#token={tokens.paris_operator}")
    expect(page.locator(message)).to_contain_text(words, timeout=20_000)
    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#console")).to_be_hidden()
    assert saved_token(page, key) is None
    assert page.url == server.url + path
