"""The one reach into uvicorn's internals: finding the transport behind an ASGI ``send`` to
drop a client that stopped reading. This fails if uvicorn (or Starlette's middleware
wrapping) changes so that the transport can no longer be found."""

from __future__ import annotations

import asyncio
import contextlib

import uvicorn
import websockets
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from coordinator.logs import AccessLog
from coordinator.realtime.connection import abort_transport, transport_of
from coordinator.security import SecurityHeaders
from tests.support.harness import free_port, run_async


async def endpoint(ws: WebSocket) -> None:
    await ws.accept()
    transport = transport_of(ws._send)
    await ws.send_text(type(transport).__name__ if transport is not None else "none")
    await ws.receive_text()
    abort_transport(ws)  # the abort, not a close, must end the connection
    await ws.receive()  # the disconnect that the abort causes


async def scenario() -> tuple[str, int | None]:
    app = Starlette(
        routes=[WebSocketRoute("/ws", endpoint)],
        middleware=[Middleware(AccessLog), Middleware(SecurityHeaders)],
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn.Server has no "started" event
        await asyncio.sleep(0.01)
    try:
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws") as client:
            found = str(await client.recv())
            await client.send("drop me")
            with contextlib.suppress(websockets.ConnectionClosed):
                await asyncio.wait_for(client.recv(), 3)
            code = client.protocol.close_code  # Connection.close_code is from websockets 15
    finally:
        server.should_exit = True
        await task
    return found, code


def test_the_transport_is_found_and_abort_drops_the_client() -> None:
    found, code = run_async(scenario())
    assert found != "none" and "Transport" in found
    assert code == 1006  # closed without a closing handshake: the TCP connection was cut
