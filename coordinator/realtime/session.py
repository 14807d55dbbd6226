"""One websocket session, from upgrade to close: origin check, caps, hello, catch-up, then
commands and pings until the client leaves (docs/protocol.md's Flow section)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from coordinator import protocol
from coordinator.logs import kv
from coordinator.protocol import Hello, Ping, ProtocolError
from coordinator.realtime.connection import CLOSE_POLICY, CLOSE_TRY_AGAIN_LATER, Connection
from coordinator.realtime.hub import Hub
from coordinator.rules import Role, State, allowed_next_states
from coordinator.service import CommandError, CommandService, error_message

log = logging.getLogger("coordinator.ws")


class ClosedForAbuse(Exception):
    """A client broke a limit badly enough to be disconnected."""


class Sessions:
    """Runs every websocket session of this process."""

    def __init__(
        self, hub: Hub, commands: CommandService, allowed_origins: tuple[str, ...] = ()
    ) -> None:
        self.hub = hub
        self.commands = commands
        self.limits = hub.limits
        self.allowed_origins = frozenset(o.rstrip("/").lower() for o in allowed_origins)

    def origin_allowed(self, ws: WebSocket) -> bool:
        """Same origin as the page's host, or one of the configured public origins. A client
        without an Origin header is not a browser page (a script, a bot) and may connect."""
        origin = ws.headers.get("origin")
        if origin is None:
            return True
        origin = origin.rstrip("/").lower()
        if origin in self.allowed_origins:
            return True
        scheme, sep, host = origin.partition("://")
        return (
            bool(sep) and scheme in ("http", "https") and host == ws.headers.get("host", "").lower()
        )

    async def run(self, ws: WebSocket) -> None:
        """The websocket endpoint."""
        client = ws.client.host if ws.client else "-"
        if not self.origin_allowed(ws):
            # Refused before accept: the browser sees an HTTP 403 (cross-site hijacking).
            log.info(kv(event="ws_refused", reason="origin", client=client))
            await ws.close(code=CLOSE_POLICY)
            return
        within_caps = self.hub.open(client)
        conn = Connection(ws, self.limits)
        started = time.monotonic()
        close_code = 1000
        try:
            close_code = await self._session(conn, client, within_caps)
        except WebSocketDisconnect as exc:
            close_code = exc.code
        except ClosedForAbuse as exc:
            close_code = CLOSE_POLICY
            log.info(kv(event="ws_abuse", conn=conn.id, client=client, reason=str(exc)))
            with contextlib.suppress(Exception):
                await ws.close(code=CLOSE_POLICY, reason=str(exc))
        finally:
            self.hub.closed(client)
            await self._finish(conn)
            log.info(
                kv(
                    event="ws_close",
                    conn=conn.id,
                    role=conn.actor.role.value,
                    city=conn.actor.city or "-",
                    token_id=conn.record.id if conn.record else "-",
                    code=close_code,
                    seconds=round(time.monotonic() - started, 1),
                )
            )

    async def _session(self, conn: Connection, client: str, within_caps: bool) -> int:
        """Accept, wait for hello, then serve; returns the close code when the server closes."""
        await conn.ws.accept()
        log.info(kv(event="ws_open", conn=conn.id, client=client))
        hello = await self._await_hello(conn)
        if hello is None:
            await conn.ws.close(code=CLOSE_POLICY, reason="no hello in time")
            return CLOSE_POLICY
        if not within_caps and self.commands.authenticate(hello.token) is None:
            # Signed-in clients are always admitted; viewers over a cap are told to come back.
            log.info(kv(event="ws_refused", reason="capacity", conn=conn.id, client=client))
            await conn.ws.close(code=CLOSE_TRY_AGAIN_LATER, reason="server full; try again")
            return CLOSE_TRY_AGAIN_LATER
        await self._start(conn, hello)
        await self._serve(conn)
        return 1000  # not reached: _serve ends by an exception

    def _admit(self, conn: Connection, command_id: str | None) -> bool:
        """The connection's message rate: an anonymous client that keeps flooding is closed."""
        if conn.bucket.take():
            return True
        conn.send(error_message(command_id, "rate_limited", "too many messages; slow down"))
        if conn.record is None:
            conn.strikes += 1
            if conn.strikes >= self.limits.viewer_strikes:
                raise ClosedForAbuse("too many messages")
        return False

    async def _receive(self, conn: Connection, timeout_s: float | None = None) -> str | None:
        """The next text frame; None for a binary frame (answered with an error)."""
        message = await asyncio.wait_for(conn.ws.receive(), timeout_s)
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        text = message.get("text")
        if text is None:
            conn.send(error_message(None, "invalid", "binary frames are not part of the protocol"))
        return text

    async def _await_hello(self, conn: Connection) -> Hello | None:
        deadline = time.monotonic() + self.limits.hello_timeout_s
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                text = await self._receive(conn, remaining)
            except TimeoutError:
                return None
            if not self._admit(conn, None) or text is None:
                continue
            try:
                message = protocol.parse_client_message(text)
            except ProtocolError as exc:
                conn.send(protocol.error_message(exc))
                continue
            if isinstance(message, Hello):
                return message
            if isinstance(message, Ping):
                conn.send(protocol.pong_message(message, datetime.now(UTC)))
                continue
            conn.send(error_message(message.id, "invalid", "send hello first"))
        return None

    async def _start(self, conn: Connection, hello: Hello) -> None:
        """Authenticate, welcome, catch the client up, then switch it to live events."""
        conn.topics = hello.topics
        if hello.token:
            record = self.commands.authenticate(hello.token)
            if record is None:
                # The connection stays open as a public viewer (docs/protocol.md).
                conn.send(
                    error_message(
                        None, "unauthorized", "unknown or revoked token; you are a viewer"
                    )
                )
            else:
                conn.sign_in(record)
        self.hub.connections.add(conn)  # from here on, new events queue up in conn.pending
        snap = await self.hub.store.snapshot()
        conn.send(self._welcome(conn, snap.seq, snap.epoch))
        replay = None
        if hello.since is not None and hello.epoch in (None, snap.epoch):
            replay = await self.hub.store.events_since(hello.since)
        if replay is None:
            conn.send(self.hub.snapshot_message(snap, conn.actor))
            synced = snap.seq
        else:
            synced = hello.since or 0
            for event in replay:
                self.hub.deliver(conn, event)
                synced = event.seq
        for event in conn.pending:
            if event.seq > synced:
                self.hub.deliver(conn, event)
        conn.pending.clear()
        conn.catching_up = False
        await self.hub.joined(conn)

    def _welcome(self, conn: Connection, seq: int, epoch: str) -> dict[str, Any]:
        welcome: dict[str, Any] = {
            "type": "welcome",
            "role": conn.actor.role.value,
            "city": conn.actor.city,
            "seq": seq,
            "epoch": epoch,
            "server_time": protocol.iso_ms(datetime.now(UTC)),
            "schedule_version": self.hub.schedule_version,
        }
        if conn.actor.role in (Role.COORDINATOR, Role.ADMIN):
            # The moves this role may make, so pages offer only valid buttons (rules.py).
            welcome["transitions"] = {
                state.value: sorted(s.value for s in allowed_next_states(state, conn.actor.role))
                for state in State
            }
        return welcome

    async def _serve(self, conn: Connection) -> None:
        while True:
            text = await self._receive(conn)
            if text is None:
                self._admit(conn, None)  # a binary frame counts against the rate too
                continue
            try:
                message = protocol.parse_client_message(text)
            except ProtocolError as exc:
                if self._admit(conn, exc.id):
                    conn.send(protocol.error_message(exc))
                continue
            if not self._admit(conn, getattr(message, "id", None)):
                continue
            if isinstance(message, Ping):
                conn.send(protocol.pong_message(message, datetime.now(UTC)))
            elif isinstance(message, Hello):
                conn.send(
                    error_message(None, "invalid", "hello: already received on this connection")
                )
            else:
                try:
                    ack = await self.commands.execute(message, conn.record)
                except CommandError as exc:
                    conn.send(exc.as_message())
                else:
                    conn.send(ack.message())

    async def _finish(self, conn: Connection) -> None:
        await self.hub.left(conn)
        await conn.outbox.aclose()
        if conn.ws.application_state != WebSocketState.DISCONNECTED:
            with contextlib.suppress(Exception):
                await conn.ws.close()
