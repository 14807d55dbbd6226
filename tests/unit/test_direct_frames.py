"""The fan-out's fast path (``connection.broadcast``) and what it relies on in uvicorn and
websockets: the implementation uvicorn picks, the protocol object found behind Starlette's
``send``, its state, and the exact bytes uvicorn writes for a text message. These fail if a
library changes under the fast path; the last ones drive the fallback (the outbox and the
ASGI ``send``) with a client that stops reading."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
from uvicorn.protocols.websockets.auto import AutoWebSocketsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

from coordinator.limits import Limits
from coordinator.logs import AccessLog
from coordinator.realtime.connection import (
    MAX_DIRECT_BUFFER_BYTES,
    Connection,
    broadcast,
    direct_protocol,
    text_frame,
)
from coordinator.security import SecurityHeaders
from tests.support.harness import free_port, run_async

Endpoint = Callable[[WebSocket], Awaitable[None]]


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_the_frame_is_the_one_websockets_builds_for_uvicorn(length: int) -> None:
    payload = ("é" * length).encode()[:length]
    # What uvicorn's websockets implementation does for {"type": "websocket.send", "text": t}.
    server = ServerProtocol(state=State.OPEN)
    server.send_text(payload)
    assert [text_frame(payload)] == server.data_to_send()
    assert text_frame(payload) == Frame(Opcode.TEXT, payload).serialize(mask=False)


def test_uvicorn_serves_websockets_with_the_sans_io_implementation() -> None:
    # The CLI leaves ws="auto"; the fast path knows this implementation only.
    assert AutoWebSocketsProtocol is WebSocketsSansIOProtocol


async def serve(endpoint: Endpoint, **config: Any) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    """``endpoint`` behind our middleware, as the app wraps /ws, on a real uvicorn."""
    app = Starlette(
        routes=[WebSocketRoute("/ws", endpoint)],
        middleware=[Middleware(AccessLog), Middleware(SecurityHeaders)],
    )
    server = uvicorn.Server(
        uvicorn.Config(app, port=free_port(), log_level="warning", lifespan="off", **config)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn.Server has no "started" event
        await asyncio.sleep(0.01)
    return server, task


class RawClient:
    """A websocket client on a plain socket: the upgrade by hand, the server's bytes as sent."""

    def __init__(self, port: int, extensions: str | None = None, rcvbuf: int = 0) -> None:
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(("127.0.0.1", port))
        self.sock.settimeout(10)
        key = base64.b64encode(os.urandom(16)).decode()
        offer = f"Sec-WebSocket-Extensions: {extensions}\r\n" if extensions else ""
        self.sock.sendall(
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n{offer}\r\n".encode()
        )
        self.buf = b""
        head = self.read_until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        self.response_head = head

    def read_until(self, marker: bytes) -> bytes:
        while marker not in self.buf:
            self._more()
        head, _, self.buf = self.buf.partition(marker)
        return head

    def _more(self) -> None:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("closed by the server")
        self.buf += chunk

    def frame(self) -> bytes:
        """The next frame, header included, exactly as it came."""
        while len(self.buf) < 2:
            self._more()
        length, offset = self.buf[1] & 0x7F, 2
        if length == 126:
            length, offset = int.from_bytes(self._peek(4)[2:4], "big"), 4
        elif length == 127:
            length, offset = int.from_bytes(self._peek(10)[2:10], "big"), 10
        data = self._peek(offset + length)
        self.buf = self.buf[offset + length :]
        return data

    def _peek(self, size: int) -> bytes:
        while len(self.buf) < size:
            self._more()
        return self.buf[:size]

    def text(self) -> str:
        frame = self.frame()
        assert frame[0] == 0x81, frame[:2]
        header = {126: 4, 127: 10}.get(frame[1] & 0x7F, 2)
        return frame[header:].decode()

    def close(self) -> None:
        self.sock.close()


def run(coro: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await coro

    return run_async(main(), timeout_s=60)


def test_a_broadcast_frame_is_what_uvicorn_sends_and_stops_when_the_socket_closes() -> None:
    report: dict[str, Any] = {}

    async def endpoint(ws: WebSocket) -> None:
        await ws.accept()
        proto = direct_protocol(ws)
        assert proto is not None
        report["had_handshake"] = hasattr(proto, "request") and hasattr(proto, "response")
        request = proto.request  # websockets' parser keeps it too, for the connection's life
        report["request_headers"] = len(request.headers)
        conn = Connection(ws, Limits())
        conn.accepted()  # finds the protocol, forgets the handshake
        report["direct"] = type(conn.direct).__name__
        report["kept_handshake"] = hasattr(proto, "request") or hasattr(proto, "response")
        report["request_headers_kept"] = len(request.headers)
        report["scope_headers"] = len(ws.headers)  # the ASGI scope's copy stays for the app
        text = json.dumps({"type": "event", "note": "é" * 200})
        conn.push(text)  # the ASGI path: Starlette, uvicorn, websockets' framing
        report["sent_direct"] = broadcast([conn], text, text_frame(text.encode()))
        await ws.receive()  # the client's "next"
        await ws.close(1000)
        report["after_close"] = broadcast([conn], text, text_frame(text.encode()))
        with contextlib.suppress(Exception):
            await ws.receive()

    async def scenario() -> tuple[bytes, bytes]:
        server, task = await serve(endpoint)
        try:
            client = await asyncio.to_thread(RawClient, server.config.port)
            via_asgi = await asyncio.to_thread(client.frame)
            via_broadcast = await asyncio.to_thread(client.frame)
            client.sock.sendall(masked_text(b"next"))
            await asyncio.to_thread(client.frame)  # the close frame
            client.close()
        finally:
            server.should_exit = True
            await task
        return via_asgi, via_broadcast

    via_asgi, via_broadcast = run(scenario())
    assert report["direct"] == "WebSocketsSansIOProtocol"
    assert report["had_handshake"] and not report["kept_handshake"]  # and still works:
    assert report["request_headers"] >= 5 and report["request_headers_kept"] == 0
    assert report["scope_headers"] == report["request_headers"]
    assert report["sent_direct"] == 1
    assert via_broadcast == via_asgi
    assert report["after_close"] == 0  # closing: not OPEN, and the outbox is not used either


def masked_text(payload: bytes) -> bytes:
    """A client text frame (clients must mask, RFC 6455 section 5.3)."""
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes((0x81, 0x80 | len(payload))) + mask + body


def test_a_client_with_compression_takes_the_asgi_path_and_gets_everything() -> None:
    report: dict[str, Any] = {}

    async def endpoint(ws: WebSocket) -> None:
        await ws.accept()
        conn = Connection(ws, Limits())
        conn.accepted()
        report["direct"] = conn.direct
        texts = [json.dumps({"n": n}) for n in range(50)]
        report["sent_direct"] = sum(broadcast([conn], t, text_frame(t.encode())) for t in texts)
        await conn.outbox.flush()
        await ws.receive()

    async def scenario() -> tuple[bytes, list[int]]:
        server, task = await serve(endpoint, ws_per_message_deflate=True)
        try:
            client = await asyncio.to_thread(
                RawClient, server.config.port, "permessage-deflate; client_max_window_bits"
            )
            frames = [await asyncio.to_thread(client.frame) for _ in range(50)]
            client.close()
        finally:
            server.should_exit = True
            await task
        return client.response_head, [frame[0] for frame in frames]

    head, first_bytes = run(scenario())
    assert b"permessage-deflate" in head.lower()
    assert report["direct"] is None
    assert report["sent_direct"] == 0
    assert set(first_bytes) == {0xC1}  # FIN, RSV1 (compressed by uvicorn), text


def test_a_client_that_stops_reading_falls_back_to_the_outbox_and_keeps_the_order() -> None:
    count, size = 300, 4096
    report: dict[str, Any] = {}

    async def endpoint(ws: WebSocket) -> None:
        await ws.accept()
        conn = Connection(ws, Limits(max_outbox_frames=1000))
        conn.accepted()
        assert conn.direct is not None
        conn.direct.transport.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_SNDBUF, 4096
        )
        texts = [json.dumps({"n": n, "pad": "x" * size}) for n in range(count)]
        direct = 0
        for text in texts:
            direct += broadcast([conn], text, text_frame(text.encode()))
            await asyncio.sleep(0)  # let the transport try to flush, as between events
        report["direct"] = direct
        report["queued"] = conn.outbox.queued
        report["buffered"] = conn.direct.transport.get_write_buffer_size()
        await conn.outbox.flush()
        await ws.receive()

    async def scenario() -> list[int]:
        server, task = await serve(endpoint)
        try:
            client = await asyncio.to_thread(RawClient, server.config.port, None, 4096)
            await asyncio.sleep(1.0)  # not reading: the server's buffers fill up
            numbers = [json.loads(await asyncio.to_thread(client.text))["n"] for _ in range(count)]
            client.sock.sendall(masked_text(b"done"))
            client.close()
        finally:
            server.should_exit = True
            await task
        return numbers

    numbers = run(scenario())
    assert numbers == list(range(count))  # every message, in order, across both paths
    assert 0 < report["direct"] < count  # some went straight to the socket, the rest queued
    assert report["queued"] > 0 or report["buffered"] >= MAX_DIRECT_BUFFER_BYTES


def test_a_client_that_never_reads_again_is_dropped_by_the_overflow_rule() -> None:
    report: dict[str, Any] = {}

    async def endpoint(ws: WebSocket) -> None:
        await ws.accept()
        conn = Connection(ws, Limits(max_outbox_frames=8))
        conn.accepted()
        text = json.dumps({"pad": "x" * 8192})
        frame = text_frame(text.encode())
        for _ in range(2000):
            broadcast([conn], text, frame)
            if conn.closed:
                break
            await asyncio.sleep(0)
        report["closed"] = conn.closed
        message = await ws.receive()
        report["then"] = message["type"]

    async def scenario() -> None:
        server, task = await serve(endpoint)
        try:
            client = await asyncio.to_thread(RawClient, server.config.port, None, 4096)
            for _ in range(200):
                if "then" in report:
                    break
                await asyncio.sleep(0.05)
            client.close()
        finally:
            server.should_exit = True
            await task

    run(scenario())
    assert report["closed"] is True  # the outbox overflowed: closed as too slow
    assert report["then"] == "websocket.disconnect"  # and the transport was cut
