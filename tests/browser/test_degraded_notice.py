"""The dashboard tells its viewers when the service cannot take changes (the server's
``service`` message, docs/protocol.md), and says nothing more once it can again."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.harness import RedisServer, ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.redis]


def test_the_dashboard_shows_a_degraded_service_then_live_again(
    server_factory: Callable[..., ServerProcess], tmp_path: Path, page: Any
) -> None:
    redis = RedisServer(tmp_path / "redis").start()
    try:
        server = server_factory("--redis-url", redis.url, "--redis-prefix", "b:")
        page.goto(server.url + "/")
        page.wait_for_selector('#connection[data-state="live"]', state="attached")
        redis.kill()
        notice = page.locator('#connection[data-state="degraded"]')
        notice.wait_for(timeout=10_000)
        assert "recovering from a fault" in notice.inner_text()
        assert page.locator("body").get_attribute("data-connection") == "live"
        redis.start()
        page.wait_for_selector('#connection[data-state="live"]', timeout=15_000, state="attached")
        assert "connected" in page.locator("#connection").inner_text()
    finally:
        redis.kill()
    # What the page fetched from the store meanwhile (the drift figures) was refused: expected.
    page.console_errors[:] = [e for e in page.console_errors if "status of 503" not in e]
