"""The pages in real headless Chromium."""

from __future__ import annotations

from typing import Any

import pytest

from tests.harness import ServerProcess

pytestmark = pytest.mark.browser

CITY_NAMES = ["Paris", "Berlin", "Winnipeg", "Toronto", "New York", "Chennai", "Helsinki"]


def test_public_page_shows_all_seven_cities(server: ServerProcess, page: Any) -> None:
    page.goto(server.url + "/")
    page.wait_for_function("document.querySelectorAll('#cities .countdown').length === 7")
    names = page.locator("#cities .city-name").all_inner_texts()
    assert names == CITY_NAMES
    paris = page.locator('#cities [data-city="paris"]')
    assert "14:00" in paris.inner_text()
