"""One command path: websocket, HTTP and OSC commands share one per-token rate limit."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from tests.conftest import Tokens
from tests.server.test_integrations import index_of, send_osc
from tests.support.harness import ServerProcess, WsClient, free_port, http_request

BURST = 3
PATHS = ("http", "osc", "ws")


def go(path: str, server: ServerProcess, osc_port: int, token: str, n: int) -> str | None:
    """One GO through ``path``; the refusal's code, or None when accepted (OSC: by the log)."""
    if path == "http":
        status, _, raw = http_request(
            "POST", f"{server.url}/api/cues/paris/next",
            headers={"Authorization": f"Bearer {token}"}, body=b"",
        )  # fmt: skip
        return None if status == 200 else str(json.loads(raw)["code"])
    if path == "osc":
        before = server.log().count("osc paris next")
        send_osc(osc_port, "/coordinator/paris/go", token)
        deadline = time.monotonic() + 5
        while server.log().count("osc paris next") == before and time.monotonic() < deadline:
            time.sleep(0.02)
        last = server.log().rsplit("osc paris next", 1)[1].splitlines()[0]
        return None if last.endswith(": ack") else last.rsplit(": ", 1)[1]
    with WsClient(server.ws_url) as client:
        client.hello(token)
        client.send({"type": "cue", "id": f"ws-{n}", "city": "paris", "action": "next"})
        reply = client.recv_until(lambda m: m["type"] in ("ack", "error"))
        return None if reply["type"] == "ack" else str(reply["code"])


@pytest.mark.parametrize("flood", PATHS)
def test_a_flood_through_one_path_is_felt_on_every_other(
    flood: str, server_factory: Callable[..., ServerProcess], tokens: Tokens
) -> None:
    osc_port = free_port()
    server = server_factory(
        "--osc-port", str(osc_port),
        "--limit", "staff_rate_per_s=0.01", "--limit", f"staff_burst={BURST}",
    )  # fmt: skip
    token = tokens.paris_operator
    results = [go(flood, server, osc_port, token, n) for n in range(BURST + 1)]
    assert results == [None] * BURST + ["rate_limited"]
    for other in PATHS:
        assert go(other, server, osc_port, token, 100) == "rate_limited", other
    assert index_of(server) == BURST
