"""One websocket client: who it is, which topics it follows, and its outbox.

The one reach into a server's internals lives here: :func:`transport_of` finds uvicorn's
transport behind an ASGI ``send`` so that a client that stopped reading can be dropped at
once (tests/unit/test_transport_reach.py fails if uvicorn changes under it).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from typing import Any

from starlette.websockets import WebSocket

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

_conn_ids = itertools.count(1)


class Connection:
    """One websocket client. ``topics`` is None until hello, then what it follows (None
    again meaning "every public topic")."""

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
        # True from hello until caught up: events then wait in ``pending`` (seq order kept).
        self.catching_up = True
        self.pending: list[StoredEvent] = []
        self._closer: asyncio.Task[None] | None = None
        self._dropped = False

    @property
    def closed(self) -> bool:
        return self.outbox.closed

    def push(self, text: str) -> None:
        self.outbox.push(text)

    def send(self, message: dict[str, Any]) -> None:
        self.push(protocol.encode(message))

    def sign_in(self, record: TokenRecord) -> None:
        self.record = record
        self.actor = record.actor()
        self.bucket = TokenBucket(self.limits.staff_rate_per_s, self.limits.staff_burst)

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


def abort_transport(ws: WebSocket) -> bool:
    """Drop the client's TCP connection now; False when no transport could be found."""
    transport = transport_of(ws._send)
    if transport is None:
        return False
    transport.abort()
    return True


def transport_of(send: Any) -> Any:
    """The server's transport behind an ASGI ``send``, or None.

    The ``send`` a websocket endpoint holds is the server protocol's own bound method wrapped
    in middleware closures; follow the closures (a few levels) to the object that owns a
    transport with ``abort()``.
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
            return transport
        for cell in getattr(item, "__closure__", None) or ():
            with contextlib.suppress(ValueError):  # an empty cell
                if callable(cell.cell_contents):
                    todo.append(cell.cell_contents)
    return None
