"""The reach into uvicorn's HTTP protocol (coordinator/tcp_guard.py): the guard must see every
connection, close one whose request head is late, keep a websocket counted until it closes,
and refuse an address over its cap. This fails if uvicorn changes under the subclass."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
import websockets
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from coordinator.tcp_guard import GUARD_KEY, GuardedHttp, TcpGuard
from tests.support.harness import free_port, run_async


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hi")


async def echo(ws: WebSocket) -> None:
    await ws.accept()
    await ws.send_text(await ws.receive_text())
    await ws.receive()


async def eof_within(reader: asyncio.StreamReader, timeout_s: float) -> bool:
    try:
        async with asyncio.timeout(timeout_s):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return False
    return True


def http_protocols_alive() -> int:
    """HTTP protocol objects still reachable: after an upgrade the websocket owns the
    transport, and the HTTP protocol (its parser, buffers and request) must be garbage."""
    gc.collect()
    return sum(isinstance(o, GuardedHttp) for o in gc.get_objects())


async def scenario() -> dict[str, Any]:
    guard = TcpGuard(per_address=3, total=100, header_timeout_s=1.5)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        yield {GUARD_KEY: guard}

    app = Starlette(routes=[Route("/", hello), WebSocketRoute("/ws", echo)], lifespan=lifespan)
    port = free_port()
    config = uvicorn.Config(app, port=port, log_level="warning", http=GuardedHttp)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn.Server has no "started" event
        await asyncio.sleep(0.01)
    found: dict[str, Any] = {}
    try:
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws") as ws:
            await ws.send("x")
            found["echo"] = await ws.recv()
            found["open_with_websocket"] = guard.open_total
            found["http_protocols_alive"] = http_protocols_alive()
        await asyncio.sleep(0.1)
        found["open_after_websocket"] = guard.open_total
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        found["answered"] = (await reader.readuntil(b"hi")).startswith(b"HTTP/1.1 200")
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # the next head, never ended
        found["keep_alive_head_closed"] = await eof_within(reader, 3.0)
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(4)]
        found["fourth_refused"] = await eof_within(held[3][0], 0.3)
        found["third_kept"] = not await eof_within(held[2][0], 0.2)
        found["silent_closed"] = await eof_within(held[0][0], 2.0)
        for _, w in held:
            w.close()
        await asyncio.sleep(0.1)
        found["open_at_end"] = guard.open_total
    finally:
        server.should_exit = True
        await task
    return found


def test_the_guard_counts_times_and_refuses_through_uvicorns_protocol() -> None:
    found = run_async(scenario())
    assert found["echo"] == "x"
    assert found["open_with_websocket"] == 1 and found["open_after_websocket"] == 0
    assert found["http_protocols_alive"] == 0  # about 5 KB a viewer when it was kept
    assert found["answered"] and found["keep_alive_head_closed"]
    assert found["fourth_refused"] and found["third_kept"] and found["silent_closed"]
    assert found["open_at_end"] == 0


def test_a_trusted_proxy_is_capped_only_in_total() -> None:
    """Behind a reverse proxy every client arrives from the proxy's address: the per-address
    cap must not cap the whole audience (they are capped by forwarded address after hello)."""
    guard = TcpGuard(per_address=2, total=5, header_timeout_s=1.0, proxies={"10.0.0.9"})
    assert [guard.admit("10.0.0.9") for _ in range(6)] == [True] * 5 + [False]
    other = TcpGuard(per_address=2, total=5, header_timeout_s=1.0, proxies={"10.0.0.9"})
    assert [other.admit("192.0.2.7") for _ in range(3)] == [True, True, False]
