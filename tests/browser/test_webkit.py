"""The phone page, the projector and the dashboard in WebKit, the engine of every iPhone's
browser: Debian's WebKitGTK driven by its WebDriver (``WebKitWebDriver``, package
webkit2gtk-driver) through Selenium, in a private Xvfb display this module starts and stops.

Chromium's tests cover the details; these check that each page runs in WebKit at all (its
modules load under the server's CSP, its websocket goes live) and does its main job."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Tokens
from tests.support.day import config_around_now
from tests.support.harness import ServerProcess, skip_or_fail
from tests.support.messages import status

pytestmark = [
    pytest.mark.browser,
    # Selenium's own WebKitGTK driver still passes its address the old way.
    pytest.mark.filterwarnings("ignore:setting remote_server_addr:DeprecationWarning"),
]

DRIVER = Path(os.environ.get("COORDINATOR_WEBKIT_DRIVER", "/usr/bin/WebKitWebDriver"))
MINIBROWSER = Path(
    os.environ.get(
        "COORDINATOR_WEBKIT_BROWSER", "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser"
    )
)


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    """A private X display (Xvfb picks a free number and writes it to a pipe)."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        skip_or_fail("Xvfb is not installed (apt-get install xvfb)")
        return
    read, write = os.pipe()
    proc = subprocess.Popen(
        [xvfb, "-displayfd", str(write), "-screen", "0", "1920x1080x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    try:
        assert number, "Xvfb did not start"
        yield f":{number}"
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture
def webkit(display: str) -> Iterator[Callable[[int, int], Any]]:
    """WebKit browsers (Selenium drivers) of a chosen window size; all quit afterwards."""
    if not DRIVER.exists() or not MINIBROWSER.exists():
        skip_or_fail(f"WebKitWebDriver or MiniBrowser missing ({DRIVER}, {MINIBROWSER})")
    try:
        from selenium import webdriver
        from selenium.webdriver.webkitgtk.options import Options
        from selenium.webdriver.webkitgtk.service import Service
    except ImportError:
        skip_or_fail("selenium is not installed")
    drivers: list[Any] = []

    def open_browser(width: int, height: int) -> Any:
        options = Options()
        options.binary_location = str(MINIBROWSER)
        options.add_argument("--automation")
        service = Service(executable_path=str(DRIVER), env={**os.environ, "DISPLAY": display})
        driver = webdriver.WebKitGTK(options=options, service=service)
        drivers.append(driver)
        driver.set_window_size(width, height)
        return driver

    yield open_browser
    for driver in drivers:
        with contextlib.suppress(Exception):
            driver.quit()


def wait_for(driver: Any, script: str, timeout_s: float = 10.0) -> Any:
    """Poll a JavaScript expression in the page until it is truthy; its value."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = driver.execute_script(f"return ({script});")
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"not true within {timeout_s} s: {script} (last: {last!r})")


def text_of(driver: Any, selector: str) -> str:
    value: str = driver.execute_script(
        "const n = document.querySelector(arguments[0]); return n ? n.textContent : null;",
        selector,
    )
    return value


def post(server: ServerProcess, path: str, body: dict[str, Any], token: str) -> None:
    code, reply = server.post_json(path, body, token)
    assert code == 200, reply


def test_the_phone_page_in_webkit(
    server: ServerProcess, webkit: Callable[[int, int], Any], tokens: Tokens
) -> None:
    phone = webkit(390, 844)
    phone.get(server.url + "/follow/paris")
    wait_for(phone, "document.body.dataset.connection === 'live'")
    wait_for(phone, "document.body.dataset.show === 'waiting'")
    assert "lecture" in text_of(phone, "#hint")  # French: Paris's surtitles
    post(server, "/api/cues/paris/goto", {"id": "w1", "index": 1}, tokens.paris_operator)
    wait_for(phone, "document.querySelector('#cue').dataset.index === '1'")
    assert text_of(phone, "#cue") == "Bienvenue à cette lecture publique."
    post(server, "/api/cues/paris/blank", {"id": "w2"}, tokens.paris_operator)
    wait_for(phone, "document.body.dataset.show === 'blank'")
    assert text_of(phone, "#hint") == "En attente de la prochaine ligne…"
    post(server, "/api/cues/paris/unblank", {"id": "w3"}, tokens.paris_operator)
    phone.execute_script("document.querySelector('#langs button[data-lang=\"en\"]').click()")
    wait_for(
        phone, "document.querySelector('#cue').textContent === 'Welcome to this public reading.'"
    )
    assert phone.execute_script("return document.documentElement.lang") == "en"


def test_the_projector_in_webkit(
    server: ServerProcess, webkit: Callable[[int, int], Any], tokens: Tokens
) -> None:
    projector = webkit(1280, 720)
    projector.get(server.url + "/display/paris")
    wait_for(projector, "document.body.dataset.show === 'qr'")
    wait_for(
        projector,
        "document.querySelector('#qr').complete && document.querySelector('#qr').naturalWidth > 0",
    )
    assert "Surtitres sur votre téléphone" in text_of(projector, "#waiting-text")
    assert "127.0.0.1" in text_of(projector, "#qr-warning")  # opened at a loopback address
    post(server, "/api/cues/paris/goto", {"id": "p1", "index": 1}, tokens.paris_operator)
    wait_for(projector, "document.querySelector('#cue-inner').dataset.index === '1'")
    assert text_of(projector, "#cue-inner") == "Bienvenue à cette lecture publique."
    size = projector.execute_script(
        "return parseFloat(getComputedStyle(document.querySelector('#cue-inner')).fontSize)"
    )
    assert size >= 30, size  # fitted to the screen, not left at a default
    server.stop()
    wait_for(projector, "document.body.dataset.connection === 'offline'", 12)
    assert text_of(projector, "#cue-inner") == ""  # black: never a stale line


def test_the_dashboard_in_webkit(
    server_factory: Callable[..., ServerProcess],
    config_path: Path,
    webkit: Callable[[int, int], Any],
    tokens: Tokens,
) -> None:
    at = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(time.time() + 15 * 60))
    config_around_now(
        config_path,
        {"paris": -10, "chennai": 40},
        extra_event={
            "moments": [{"id": "m", "name": {"en": "Together"}, "at": at, "timezone": "UTC"}]
        },
    )
    server = server_factory(config=config_path)
    post(server, "/api/cities/paris/status", status("d1", "paris", "live"), tokens.paris)
    phone = webkit(390, 844)
    phone.get(server.url + "/?lang=fi")
    wait_for(phone, "document.body.dataset.connection === 'live'")
    assert phone.execute_script("return document.documentElement.lang") == "fi"
    assert text_of(phone, "#now-live") == "Nyt suorana: Paris"
    assert text_of(phone, "#now-next").startswith("Seuraavaksi: Chennai")
    order = phone.execute_script(
        "return [...document.querySelectorAll('#cities > li')].map((li) => li.dataset.city)"
    )
    assert order[:2] == ["paris", "chennai"]
    first = text_of(phone, "#moments .moment-countdown")
    time.sleep(0.5)
    assert text_of(phone, "#moments .moment-countdown") != first  # tenths tick
    post(server, "/api/cities/paris/status", status("d2", "paris", "paused"), tokens.paris)
    wait_for(
        phone, "document.querySelector('[data-city=paris] .status').dataset.state === 'paused'"
    )
    assert text_of(phone, "#now-live") == "Nyt suorana: Paris (tauolla)"
