"""The dashboard on the day, in headless Chromium, against a server whose event is moved to
today (tests/support/day.py): one truth after a delay, "now / next" at the top, cards in the
order of the day, the timeline from actual times, the card anchors the calendar links to."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.conftest import Tokens
from tests.support.day import config_around_now
from tests.support.harness import ServerProcess
from tests.support.messages import status

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


def post_status(server: ServerProcess, token: str, city: str, state: str, **extra: Any) -> None:
    cmd_id = f"{city}-{state}-{datetime.now(UTC).timestamp()}"
    code, body = server.post_json(
        f"/api/cities/{city}/status", status(cmd_id, city, state, **extra), token
    )
    assert code == 200, body


def city_state(server: ServerProcess, city: str) -> dict[str, Any]:
    return next(c for c in server.get_json("/api/state")["cities"] if c["id"] == city)


def hhmm(instant: datetime, zone: str) -> str:
    return instant.astimezone(ZoneInfo(zone)).strftime("%H:%M")


def test_once_a_delayed_reading_is_live_every_view_shows_its_actual_start(
    server_factory: Callable[..., ServerProcess],
    config_path: Path,
    tokens: Tokens,
    open_page: Callable[..., Any],
) -> None:
    """Paris was due 20 minutes ago, was delayed by 30, and starts now: the dashboard, the
    coordinator's console, /api/state and the calendar all say it started now."""
    now = config_around_now(config_path, {"paris": -20})
    server = server_factory(config=config_path)
    post_status(server, tokens.paris, "paris", "delayed", delay_minutes=30)
    post_status(server, tokens.paris, "paris", "live")
    paris = city_state(server, "paris")
    started = datetime.fromisoformat(paris["started_at"])
    assert abs((started - datetime.now(UTC)).total_seconds()) < 5
    assert paris["expected_start_utc"] is None

    page = open_page(width=390, height=844, locale="en-GB", timezone_id="Europe/Paris")
    page.goto(server.url + "/")
    expect(page.locator("body")).to_have_attribute("data-connection", "live")
    card = page.locator('#cities [data-city="paris"]')
    countdown = card.locator(".countdown").inner_text()
    assert countdown.startswith("Live for 00:0"), countdown  # not "Live for 00:20:…"
    local = card.locator(".start-local")
    expect(local.locator("strong")).to_have_text(f"{hhmm(started, 'Europe/Paris')} CET")
    expect(local.locator("del")).to_contain_text(
        f"{hhmm(now - timedelta(minutes=20), 'Europe/Paris')} CET"
    )
    expect(card.locator(".delay-info")).to_have_text(
        f"Started at {hhmm(started, 'Europe/Paris')} CET (scheduled "
        f"{hhmm(now - timedelta(minutes=20), 'Europe/Paris')} CET)"
    )
    # The timeline's bar sits at the actual start, with the schedule's slot dashed.
    bar = page.locator('#timeline .tl-row[data-city="paris"] .tl-bar')
    expect(bar).to_contain_text(f"{hhmm(started, 'UTC')}–")
    expect(page.locator('#timeline .tl-row[data-city="paris"] .tl-ghost')).to_have_count(1)

    console = open_page(width=390, height=844, locale="en-GB", timezone_id="Europe/Paris")
    console.goto(server.url + "/coordinator")
    console.fill("#token", tokens.paris)
    console.press("#token", "Enter")
    expect(console.locator("#city-state")).to_have_attribute("data-state", "live")
    expect(console.locator("#city-start-label")).to_have_text("Started at:")
    expect(console.locator("#city-start")).to_contain_text(hhmm(started, "Europe/Paris"))
    assert "starts in" not in console.locator("#console").inner_text().lower()
    assert console.locator("#city-countdown").inner_text().startswith("for 00:0")  # Live for…

    ics = server.get("/cities/paris/calendar.ics")[2].decode()
    assert f"Started at {hhmm(started, 'Europe/Paris')}" in ics.replace("\r\n ", "")

    # Finished: "Ended at" the actual end, on the card and on the timeline.
    post_status(server, tokens.paris, "paris", "finished")
    ended = datetime.fromisoformat(city_state(server, "paris")["ended_at"])
    expect(card.locator(".countdown")).to_have_text(f"Ended at {hhmm(ended, 'Europe/Paris')} CET")
    expect(bar).to_contain_text(f"{hhmm(started, 'UTC')}–{hhmm(ended, 'UTC')} UTC")


def test_calendar_links_land_on_the_citys_card(server: ServerProcess, page: Any) -> None:
    page.goto(server.url + "/#city-paris")
    expect(page.locator("#city-paris")).to_have_attribute("data-city", "paris")
    expect(page.locator("#city-chennai .city-name")).to_have_text("Chennai")


def in_first_screenful(page: Any, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"]


def test_with_paris_live_and_chennai_next_the_first_screenful_says_so(
    server_factory: Callable[..., ServerProcess],
    config_path: Path,
    tokens: Tokens,
    open_page: Callable[..., Any],
) -> None:
    now = config_around_now(
        config_path,
        {"berlin": -200, "paris": -10, "chennai": 40, "helsinki": 100, "toronto": 160},
    )
    server = server_factory(config=config_path)
    post_status(server, tokens.berlin, "berlin", "live")
    post_status(server, tokens.berlin, "berlin", "finished")
    post_status(server, tokens.paris, "paris", "live")

    page = open_page(**PHONE, locale="en-GB", timezone_id="Europe/London")
    page.goto(server.url + "/")
    expect(page.locator("body")).to_have_attribute("data-connection", "live")
    now_line = page.locator("#now-live")
    next_line = page.locator("#now-next")
    expect(now_line).to_have_text("Live now: Paris")
    chennai_start = now + timedelta(minutes=40)
    expect(next_line).to_contain_text(
        f"Next: Chennai, at {chennai_start.astimezone(ZoneInfo('Europe/London')):%H:%M} GMT"
        " your time"
    )
    expect(next_line).to_contain_text(re.compile(r"\(in 00:3[89]:\d\d\)"))  # the minute began
    assert in_first_screenful(page, "#now-live")
    assert in_first_screenful(page, "#now-next")
    # The cards: live first, then what comes, by start; what is over last.
    order = page.locator("#cities > li").evaluate_all("(li) => li.map((x) => x.dataset.city)")
    assert order[:4] == ["paris", "chennai", "helsinki", "toronto"]
    assert order[-1] == "berlin"
    assert in_first_screenful(page, '#cities [data-city="paris"] .city-name')

    # Paris ends: nothing is live, Chennai is next, and the cards follow.
    post_status(server, tokens.paris, "paris", "finished")
    expect(now_line).to_have_text("Nothing is live right now.")
    expect(page.locator("#cities > li").first).to_have_attribute("data-city", "chennai")
    # French says it too.
    page.goto(server.url + "/?lang=fr")
    expect(page.locator("#now-live")).to_have_text("Rien en direct pour l’instant.")
    expect(page.locator("#now-next")).to_contain_text("Ensuite\u00a0: Chennai, à ")
