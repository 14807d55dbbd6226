"""Behind a reverse proxy that is not on 127.0.0.1: the forwarded client is the one capped and
logged, and links and the Origin check use the forwarded scheme and host; from a peer not in
``--forwarded-allow-ips`` the same headers change nothing.

The proxy is played by connections from 127.0.0.2 (trusted) and 127.0.0.3 (not trusted): on
Linux every 127/8 address is this machine. The forwarded client addresses are documentation
addresses (RFC 5737), written in headers only; nothing connects to them.
"""

from __future__ import annotations

import asyncio
import http.client
import itertools
import json
import resource
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from coordinator import qr
from tests.support.harness import ServerProcess, run_async, skip_or_fail

Start = Callable[..., ServerProcess]

PROXY, STRANGER = "127.0.0.2", "127.0.0.3"
PUBLIC_HOST = "reading.example.org"
PER_ADDRESS = 500  # the default max_connections_per_address


def client_addresses() -> Iterator[str]:
    for net in ("192.0.2", "198.51.100", "203.0.113"):
        for last in range(1, 255):
            yield f"{net}.{last}"


def forwarded(client: str, proto: str = "https") -> dict[str, str]:
    return {"X-Forwarded-For": client, "X-Forwarded-Proto": proto, "X-Forwarded-Host": PUBLIC_HOST}


def get(
    server: ServerProcess, path: str, source: str, headers: dict[str, str]
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(
        "127.0.0.1", server.port, timeout=10, source_address=(source, 0)
    )
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.fixture
def proxied(server_factory: Start, config_path: Any) -> ServerProcess:
    """A server that trusts the proxy at 127.0.0.2, on a config without a public_url (so the
    links come from the request)."""
    text = config_path.read_text(encoding="utf-8")
    assert "public_url" not in text
    return server_factory("--forwarded-allow-ips", PROXY)


def test_links_and_logs_use_the_forwarded_client_scheme_and_host(proxied: ServerProcess) -> None:
    status, body = get(proxied, "/cities/paris/follow-qr.svg", PROXY, forwarded("203.0.113.7"))
    assert status == 200 and body == qr.qr_svg(f"https://{PUBLIC_HOST}/follow/paris")
    status, body = get(proxied, "/calendar.ics", PROXY, forwarded("203.0.113.7"))
    assert status == 200 and f"URL:https://{PUBLIC_HOST}/".encode() in body
    assert "client=203.0.113.7" in proxied.log()
    # The same headers from a peer not listed: the request's own host, scheme and address.
    status, body = get(proxied, "/cities/paris/follow-qr.svg", STRANGER, forwarded("203.0.113.8"))
    assert body == qr.qr_svg(f"http://127.0.0.1:{proxied.port}/follow/paris")
    status, body = get(proxied, "/calendar.ics", STRANGER, forwarded("203.0.113.8"))
    assert f"URL:http://127.0.0.1:{proxied.port}/".encode() in body
    assert "client=203.0.113.8" not in proxied.log()
    assert f"client={STRANGER}" in proxied.log()


async def open_viewer(
    server: ServerProcess, source: str, headers: dict[str, str], origin: str | None = None
) -> tuple[ClientConnection | None, str]:
    """Connect from ``source`` and say hello: (the open connection, "welcome"), or (None,
    what refused it: "1013" for a full server, "403" for a refused upgrade)."""
    try:
        ws = await connect(
            server.ws_url,
            additional_headers=headers,
            origin=origin,  # type: ignore[arg-type]
            local_addr=(source, 0),
            open_timeout=10,
        )
    except InvalidStatus as exc:
        return None, str(exc.response.status_code)
    try:
        await ws.send(json.dumps({"type": "hello"}))
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if message["type"] == "welcome":
                return ws, "welcome"
    except ConnectionClosed as closed:
        return None, str(closed.rcvd.code if closed.rcvd else None)


async def crowd(
    server: ServerProcess, source: str, clients: list[str]
) -> tuple[list[ClientConnection], list[str]]:
    """Viewers one after another (each holds its place), each with its forwarded address."""
    opened, outcomes = [], []
    for client in clients:
        ws, outcome = await open_viewer(server, source, forwarded(client))
        outcomes.append(outcome)
        if ws is not None:
            opened.append(ws)
    return opened, outcomes


async def close_all(connections: list[ClientConnection]) -> None:
    await asyncio.gather(*(ws.close() for ws in connections))


def test_600_forwarded_viewers_are_admitted_and_501_from_one_address_are_capped(
    proxied: ServerProcess,
) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the server inherits nothing
    if hard < 1200:  # 600 sockets here; the server's own limit is its own
        skip_or_fail(f"open files limit {hard} is below the 1,200 this test needs")

    async def scenario() -> dict[str, list[str]]:
        results = {}
        distinct = list(itertools.islice(client_addresses(), 600))
        opened, results["distinct"] = await crowd(proxied, PROXY, distinct)
        await close_all(opened)
        opened, results["one address"] = await crowd(proxied, PROXY, ["198.51.100.77"] * 501)
        await close_all(opened)
        # From an untrusted peer, 501 "different" forwarded addresses are one address.
        opened, results["untrusted"] = await crowd(proxied, STRANGER, distinct[:501])
        await close_all(opened)
        return results

    results = run_async(scenario())
    counts = {name: {o: outs.count(o) for o in set(outs)} for name, outs in results.items()}
    print(json.dumps(counts), file=sys.stderr)
    assert counts["distinct"] == {"welcome": 600}
    assert counts["one address"] == {"welcome": PER_ADDRESS, "1013": 1}
    assert results["one address"][-1] == "1013"
    assert counts["untrusted"] == {"welcome": PER_ADDRESS, "1013": 1}
    assert "client=198.51.100.77" in proxied.log() and "reason=capacity" in proxied.log()


def test_the_origin_check_passes_for_https_pages_behind_the_proxy(proxied: ServerProcess) -> None:
    page = f"https://{PUBLIC_HOST}"

    async def scenario() -> list[str]:
        outcomes = []
        for source, origin in ((PROXY, page), (STRANGER, page), (PROXY, "https://evil.example")):
            ws, outcome = await open_viewer(proxied, source, forwarded("192.0.2.1"), origin)
            outcomes.append(outcome)
            if ws is not None:
                await ws.close()
        return outcomes

    assert run_async(scenario()) == ["welcome", "403", "403"]
