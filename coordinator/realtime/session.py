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
from coordinator.state.base import Snapshot, StoredEvent

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
        conn = Connection(ws, self.limits, client)
        started = time.monotonic()
        close_code = 1000
        try:
            refused = await self._open(conn, client, within_caps)
            if refused is not None:
                close_code = refused
            else:
                await self._serve(conn)  # ends by an exception
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

    async def _open(self, conn: Connection, client: str, within_caps: bool) -> int | None:
        """Accept, wait for hello, catch up: None when the client is live, else the code the
        server closed with. (Serving is the caller's: this frame is not held meanwhile.)"""
        await conn.ws.accept()
        conn.accepted()
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
        return None

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

    def _text_of(self, conn: Connection, message: Any) -> str | None:
        """A received message's text; None for a binary frame (answered with an error).
        Raises WebSocketDisconnect when the client left. (Not a coroutine around the
        receive: every idle viewer would hold its frame.)"""
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        text: str | None = message.get("text")
        if text is None:
            conn.send(error_message(None, "invalid", "binary frames are not part of the protocol"))
        return text

    async def _await_hello(self, conn: Connection) -> Hello | None:
        deadline = time.monotonic() + self.limits.hello_timeout_s
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                received = await asyncio.wait_for(conn.ws.receive(), remaining)
                text = self._text_of(conn, received)
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
            record = await self.commands.authenticate_fresh(hello.token)
            if record is None:
                # The connection stays open as a public viewer (docs/protocol.md).
                conn.send(
                    error_message(
                        None, "unauthorized", "unknown or revoked token; you are a viewer"
                    )
                )
            else:
                conn.sign_in(record)
        self.hub.catch_up(conn)  # from here on, new events queue up in conn.pending
        snap = await self.hub.snapshot()
        conn.send(self._welcome(conn, snap.seq, snap.epoch))
        replay = await self._replay_for(conn, hello, snap)
        if replay is None:
            conn.push(self.hub.snapshot_text(snap, conn.actor))
            synced = snap.seq
        else:
            synced = await self._drain(conn, replay, hello.since or 0)
        while conn.pending and not conn.closed:  # what came meanwhile, in seq order
            batch, conn.pending = conn.pending, []
            synced = await self._drain(conn, [e for e in batch if e.seq > synced], synced)
        await self.hub.joined(conn)  # live from here, with no await in between

    async def _replay_for(
        self, conn: Connection, hello: Hello, snap: Snapshot
    ) -> list[StoredEvent] | None:
        """The events the client missed, or None when it needs a snapshot: no ``since``,
        another epoch, a gap the store no longer holds, or, for an anonymous viewer, more
        than ``viewer_replay_events`` back (a snapshot is one frame; a replay costs a frame
        per event), or when its address has spent its replay budget (Hub.may_replay)."""
        if hello.since is None or hello.epoch not in (None, snap.epoch):
            return None
        if conn.record is None:
            missed = snap.seq - hello.since
            if missed > self.limits.viewer_replay_events or not self.hub.may_replay(
                conn.address, max(0, missed)
            ):
                return None
        return await self.hub.events_since(hello.since)

    async def _drain(self, conn: Connection, events: list[StoredEvent], synced: int) -> int:
        """Send ``events`` at the client's pace: whenever half its outbox is queued, wait for
        it to read, so a slow link catches up instead of overflowing the outbox that
        protects live fan-out. Returns the seq it is synced to."""
        for event in events:
            if conn.closed:
                break
            self.hub.deliver(conn, event)
            synced = event.seq
            if conn.outbox.queued >= conn.outbox.limit // 2:
                await conn.outbox.flush()
        return synced

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
            text = self._text_of(conn, await conn.ws.receive())
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
