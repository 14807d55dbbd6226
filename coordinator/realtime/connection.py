"""One websocket client: who it is, which topics it follows, its outbox, and the fast path.

The reaches into uvicorn's internals live here, each in one function with a test that fails
if uvicorn changes under it: :func:`server_protocol_of` finds uvicorn's websocket protocol
behind an ASGI ``send`` (to drop a client that stopped reading at once, and to write to it
directly; tests/unit/test_transport_reach.py), and :func:`broadcast` writes one pre-built
frame to every client whose transport would receive exactly those bytes from uvicorn
(tests/unit/test_direct_frames.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import struct
from collections.abc import Iterable
from typing import Any

from starlette.websockets import WebSocket
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State
from websockets.server import ServerProtocol

from coordinator import protocol
from coordinator.auth import TokenRecord
from coordinator.limits import Limits, TokenBucket
from coordinator.logs import kv
from coordinator.outbox import Outbox
from coordinator.rules import Actor
from coordinator.service import PUBLIC
from coordinator.state.base import StoredEvent

log = logging.getLogger("coordinator.ws")

# 1013 "try again later": the client reconnects (with since), for both of its reasons.
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_POLICY = 1008
CLOSE_SERVICE_RESTART = 1012

# Frames are written straight to a client's transport only while less than this waits in its
# write buffer: asyncio's default high-water mark, where uvicorn's own send() starts waiting.
# Past it, frames go through the outbox, which queues them and drops the client on overflow.
MAX_DIRECT_BUFFER_BYTES = 64 * 1024

_conn_ids = itertools.count(1)


class Connection:
    """One websocket client. ``topics`` is None until hello, then what it follows (None
    again meaning "every public topic")."""

    # Slots: ten thousand of these live as long as their sockets (memory, and fewer objects
    # for the garbage collector to walk).
    __slots__ = (
        "_closer",
        "_dropped",
        "actor",
        "address",
        "bucket",
        "direct",
        "id",
        "limits",
        "outbox",
        "pending",
        "record",
        "strikes",
        "topics",
        "ws",
    )

    def __init__(self, ws: WebSocket, limits: Limits, address: str = "-") -> None:
        self.ws = ws
        self.address = address
        self.id = next(_conn_ids)
        self.limits = limits
        self.bucket = TokenBucket(limits.viewer_rate_per_s, limits.viewer_burst)
        self.strikes = 0
        self.actor: Actor = PUBLIC
        self.record: TokenRecord | None = None
        self.topics: tuple[str, ...] | None = None
        self.outbox = Outbox(
            ws.send_text, limit=limits.max_outbox_frames, on_overflow=self.drop_too_slow
        )
        # Events that arrive while the client catches up wait here (seq order kept).
        self.pending: list[StoredEvent] = []
        # uvicorn's protocol when frames may be written to its transport (see broadcast()).
        self.direct: WebSocketsSansIOProtocol | None = None
        self._closer: asyncio.Task[None] | None = None
        self._dropped = False

    @property
    def closed(self) -> bool:
        return self.outbox.closed

    def accepted(self) -> None:
        """The handshake is done: find out whether this client can take the fast path."""
        self.direct = direct_protocol(self.ws)
        if self.direct is not None:
            forget_handshake(self.direct)

    def push(self, text: str) -> None:
        self.outbox.push(text)

    def send(self, message: dict[str, Any]) -> None:
        self.push(protocol.encode(message))

    def sign_in(self, record: TokenRecord) -> None:
        self.record = record
        self.actor = record.actor()
        self.bucket = TokenBucket(self.limits.staff_rate_per_s, self.limits.staff_burst)

    def sign_out(self) -> None:
        """A public viewer from now on (its token was revoked)."""
        self.record = None
        self.actor = PUBLIC
        self.bucket = TokenBucket(self.limits.viewer_rate_per_s, self.limits.viewer_burst)

    def drop_too_slow(self) -> None:
        """Let go of a client that does not keep up (its outbox, or its catch-up, overflowed)."""
        if self._dropped:
            return
        self._dropped = True
        log.info(kv(event="ws_too_slow", conn=self.id, queued=self.limits.max_outbox_frames))
        # A polite close would wait for the socket buffer to drain, which a peer that stopped
        # reading never lets happen; ASGI has no "drop this connection", so abort the
        # server's transport. The client, if it lives, reconnects with since.
        self.outbox.close()
        if not abort_transport(self.ws):
            self.close_soon(CLOSE_TRY_AGAIN_LATER, "too slow")

    def close_soon(self, code: int, reason: str) -> None:
        """Close the socket without making the caller wait for it."""
        self.outbox.close()
        if self._closer is None:
            self._closer = asyncio.get_running_loop().create_task(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, reason=reason)


def text_frame(payload: bytes) -> bytes:
    """One unfragmented server text frame, as uvicorn's websockets implementation writes it
    for ``websocket.send`` without extensions: FIN and opcode 1, the payload length in 7,
    7+16 or 7+64 bits (RFC 6455 section 5.2), no mask (a server never masks, section 5.1)."""
    length = len(payload)
    if length < 126:
        head = struct.pack("!BB", 0x81, length)
    elif length < 65536:
        head = struct.pack("!BBH", 0x81, 126, length)
    else:
        head = struct.pack("!BBQ", 0x81, 127, length)
    return head + payload


def broadcast(conns: Iterable[Connection], text: str, frame: bytes) -> int:
    """Send ``text`` to every connection in ``conns``, each after everything sent to it
    before; ``frame`` is ``text_frame(text.encode())``. Returns how many took the fast path.

    A text frame without compression is the same bytes for every client, so it is built once
    and written as is to each transport, with no coroutine, message dict or framing per
    recipient. That holds for a connection while: uvicorn's websockets protocol serves it
    with no extension (:func:`direct_protocol`), its state is OPEN, its outbox is open with
    nothing in flight (else these bytes would overtake what is queued), its transport is not
    closing, and its write buffer is under :data:`MAX_DIRECT_BUFFER_BYTES`. Otherwise the
    text goes through the outbox and the ASGI ``send``: a stalled client still fills its
    outbox and is dropped by the overflow rule. Never raises for one connection's sake and
    never waits.
    """
    direct = 0
    for conn in conns:
        proto = conn.direct
        outbox = conn.outbox
        if proto is not None and outbox.idle and proto.conn.state is State.OPEN:
            transport = proto.transport
            if (
                not transport.is_closing()
                and transport.get_write_buffer_size() < MAX_DIRECT_BUFFER_BYTES
            ):
                transport.write(frame)
                direct += 1
                continue
        outbox.push(text)
    return direct


def direct_protocol(ws: WebSocket) -> WebSocketsSansIOProtocol | None:
    """uvicorn's protocol behind an accepted ``ws`` when :func:`broadcast` may write frames
    to its transport: the websockets sans-I/O implementation (what uvicorn's ``ws="auto"``
    picks when websockets is installed) driving a websockets ``ServerProtocol`` with no
    extension negotiated (a compressed frame differs per connection). None otherwise, and
    that client always takes the ASGI path."""
    proto = server_protocol_of(ws._send)
    if type(proto) is not WebSocketsSansIOProtocol or not proto.handshake_complete:
        return None
    ws_protocol = proto.conn
    if type(ws_protocol) is not ServerProtocol or ws_protocol.extensions:
        return None
    return proto


def forget_handshake(proto: WebSocketsSansIOProtocol) -> bool:
    """Let go of the upgrade request and the 101 response (their headers and all, about 3 KB)
    that uvicorn's protocol keeps for the connection's life but reads only until the
    handshake is complete. True when they were there to drop.

    websockets' request parser (a generator that goes on parsing frames) keeps the request as
    a local variable too, so its headers are emptied as well: the app reads the ASGI scope's
    copy of them."""
    if not proto.handshake_complete or not hasattr(proto, "request"):
        return False
    proto.request.headers.clear()
    del proto.request, proto.response
    return True


def abort_transport(ws: WebSocket) -> bool:
    """Drop the client's TCP connection now; False when no transport could be found."""
    transport = transport_of(ws._send)
    if transport is None:
        return False
    transport.abort()
    return True


def transport_of(send: Any) -> Any:
    """The server's transport behind an ASGI ``send``, or None."""
    return getattr(server_protocol_of(send), "transport", None)


def server_protocol_of(send: Any) -> Any:
    """The server protocol object behind an ASGI ``send`` (one that owns a transport with
    ``abort()``), or None.

    The ``send`` a websocket endpoint holds is the server protocol's own bound method wrapped
    in middleware closures; follow the closures (a few levels) to the object that owns a
    transport.
    """
    seen: set[int] = set()
    todo = [send]
    for _ in range(32):
        if not todo:
            return None
        item = todo.pop(0)
        if id(item) in seen:
            continue
        seen.add(id(item))
        owner = getattr(item, "__self__", None)
        transport = getattr(owner, "transport", None)
        if transport is not None and callable(getattr(transport, "abort", None)):
            return owner
        for cell in getattr(item, "__closure__", None) or ():
            with contextlib.suppress(ValueError):  # an empty cell
                if callable(cell.cell_contents):
                    todo.append(cell.cell_contents)
    return None
