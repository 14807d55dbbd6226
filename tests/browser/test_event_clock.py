"""One clock for the whole event, in headless Chromium: pages whose device clocks are minutes
apart show the same countdowns, because they read the server's clock (docs/protocol.md).

The device clocks are moved by an init script that shifts ``Date.now()`` and ``new Date()``
(tests/support/day.py ``shifted_clock_script``), not by Playwright's ``page.clock``, which
would also take over the timers."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.day import config_around_now, shifted_clock_script
from tests.support.harness import ServerProcess

pytestmark = pytest.mark.browser

FIVE_MINUTES_MS = 5 * 60 * 1000
COUNTDOWN = re.compile(r"(\d\d):(\d\d):(\d\d)(?:\.(\d))?")


def seconds(text: str) -> float:
    match = COUNTDOWN.search(text)
    assert match, text
    h, m, s, tenth = match.groups()
    return int(h) * 3600 + int(m) * 60 + int(s) + (int(tenth) / 10 if tenth else 0)


def opened(
    open_page: Callable[..., Any], shift_ms: int, width: int = 390, height: int = 844
) -> Any:
    page = open_page(width=width, height=height, locale="en-GB", timezone_id="Europe/Paris")
    if shift_ms:
        page.add_init_script(shifted_clock_script(shift_ms))
    return page


def read_together(pages: list[Any], selector: str) -> list[tuple[float, float]]:
    """Each page's countdown, in seconds, with the monotonic time it was read."""
    return [(seconds(p.locator(selector).inner_text()), time.monotonic()) for p in pages]


def test_pages_five_minutes_apart_show_the_same_countdowns(
    server_factory: Callable[..., ServerProcess],
    config_path: Path,
    open_page: Callable[..., Any],
) -> None:
    at = (datetime.now(UTC) + timedelta(minutes=12)).strftime("%Y-%m-%dT%H:%M")
    moment = {"id": "last-line", "name": {"en": "The last line", "fr": "La dernière ligne"}}
    config_around_now(
        config_path,
        {"paris": 30},
        extra_event={"moments": [{**moment, "at": at, "timezone": "UTC"}]},
    )
    server = server_factory(config=config_path)
    right = opened(open_page, 0)
    ahead = opened(open_page, FIVE_MINUTES_MS)
    behind_phone = opened(open_page, -3 * 60 * 1000)
    projector = opened(open_page, FIVE_MINUTES_MS, 1280, 720)
    for page in (right, ahead):
        page.goto(server.url + "/")
    behind_phone.goto(server.url + "/follow/paris")
    projector.goto(server.url + "/display/paris")
    moment_countdown = "#moments .moment-countdown"
    for page in (right, ahead, behind_phone, projector):
        expect(page.locator(moment_countdown)).to_have_text(
            re.compile(r"^(in|dans) \d\d:\d\d:\d\d\.\d$")
        )
    # The device clocks really are apart (what the pages would show without the server's).
    device = [p.evaluate("Date.now()") for p in (right, ahead)]
    assert device[1] - device[0] == pytest.approx(FIVE_MINUTES_MS, abs=2000)
    right.wait_for_timeout(1500)  # the clock's first round trips

    readings = read_together([right, ahead, behind_phone, projector], moment_countdown)
    (first, t0) = readings[0]
    assert 10 * 60 < first <= 12 * 60
    for value, read_at in readings[1:]:
        # Read a few ms later, so a little less is left: the same countdown within 0.5 s.
        assert abs((first - (read_at - t0)) - value) < 0.5, readings

    # "Starts in" on the two dashboards: whole seconds, turned on the event clock's second.
    starts = '#cities [data-city="paris"] .countdown'
    expect(right.locator(starts)).to_contain_text("Starts in 00:2")
    same = 0
    for _ in range(5):
        (a, _), (b, _) = read_together([right, ahead], starts)
        assert abs(a - b) <= 1, (a, b)
        same += a == b
        right.wait_for_timeout(230)
    assert same >= 3
