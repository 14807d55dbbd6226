"""The websocket endpoint and the fan-out of store events to connected clients.

Every event is encoded once, whatever the number of recipients, and handed to each client's
:class:`~coordinator.outbox.Outbox`: sent at once when the client keeps up, queued (bounded)
when it does not, so one slow phone never holds up the others. A client that falls too far
behind is closed and reconnects with ``since``, which is cheaper and safer than buffering
without bound.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import time
from datetime import UTC, datetime
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from coordinator import protocol, views
from coordinator.auth import TokenBook, TokenRecord
from coordinator.channels import cue_key
from coordinator.limits import Limits, TokenBucket
from coordinator.logs import kv
from coordinator.outbox import Outbox
from coordinator.protocol import Command, CueCommand, Hello, Ping, ProtocolError
from coordinator.rules import Actor, Role, RuleError, State, allowed_next_states
from coordinator.state.base import Snapshot, Store, StoredEvent, StoreUnavailable

log = logging.getLogger("coordinator.ws")

PUBLIC = Actor(role=Role.PUBLIC)
CLOSE_TOO_SLOW = 1013  # "try again later": the client reconnects with since
CLOSE_POLICY = 1008
CLOSE_SERVICE_RESTART = 1012

_conn_ids = itertools.count(1)


class ClosedForAbuse(Exception):
    """A client broke a limit badly enough to be disconnected."""


class Connection:
    """One websocket client: who it is, what it follows, and its outbox."""

    def __init__(self, ws: WebSocket, limits: Limits) -> None:
        self.ws = ws
        self.id = next(_conn_ids)
        self.limits = limits
        self.bucket = TokenBucket(limits.viewer_rate_per_s, limits.viewer_burst)
        self.strikes = 0
        self.actor: Actor = PUBLIC
        self.record: TokenRecord | None = None
        self.channels: tuple[str, ...] | None = None
        self.outbox = Outbox(
            ws.send_text, limit=limits.max_outbox_frames, on_overflow=self._too_slow
        )
        self.syncing = True
        self.pending: list[StoredEvent] = []
        self._closer: asyncio.Task[None] | None = None

    @property
    def closed(self) -> bool:
        return self.outbox.closed

    def push(self, text: str) -> None:
        self.outbox.push(text)

    def send(self, message: dict[str, Any]) -> None:
        self.push(protocol.encode(message))

    def _too_slow(self) -> None:
        log.info(kv(event="ws_too_slow", conn=self.id, queued=self.limits.max_outbox_frames))
        # A polite close would wait for the socket buffer to drain, which a peer that stopped
        # reading never lets happen; ASGI has no "drop this connection", so reach uvicorn's
        # transport and abort it. The client, if it lives, reconnects with since.
        transport = _transport_of(self.ws._send)
        if transport is not None:
            self.outbox.close()
            transport.abort()
        else:
            self.close_soon(CLOSE_TOO_SLOW, "too slow")

    def close_soon(self, code: int, reason: str) -> None:
        """Close the socket without making the caller wait for it."""
        self.outbox.close()
        if self._closer is None:
            self._closer = asyncio.get_running_loop().create_task(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, reason=reason)

    def is_staff_of(self, city: str) -> bool:
        return self.actor.may_cue(city)


class Hub:
    """Connected clients, presence, and the command path shared by websocket and HTTP."""

    def __init__(
        self,
        store: Store,
        tokens: TokenBook,
        limits: Limits | None = None,
        allowed_origins: tuple[str, ...] = (),
    ) -> None:
        self.store = store
        self.tokens = tokens
        self.limits = limits or Limits()
        self.allowed_origins = frozenset(o.rstrip("/").lower() for o in allowed_origins)
        self.connections: set[Connection] = set()
        self.coordinators: collections.Counter[str] = collections.Counter()
        self.open_count = 0
        self.per_address: collections.Counter[str] = collections.Counter()
        # Per token, across its connections on this process: a leaked token cannot flood.
        self.token_buckets: dict[str, TokenBucket] = {}
        store.subscribe(self.on_event)
        store.on_reset(self.reset_all)

    # -- fan-out ----------------------------------------------------------------------------

    async def on_event(self, event: StoredEvent) -> None:
        channel = event.topic
        text: str | None = None
        staff_text: str | None = None
        hidden_text: str | None = None
        for conn in self.connections:
            if not protocol.wants(conn.channels, channel):
                continue
            if conn.syncing:
                conn.pending.append(event)
            elif event.operator_data is not None and conn.is_staff_of(event.city):
                if staff_text is None:
                    staff_text = protocol.encode(event.operator_message())
                conn.push(staff_text)
            elif event.audience:
                if text is None:  # encoded once, for every viewer
                    text = protocol.encode(event.message())
                conn.push(text)
            elif conn.channels is None:
                if hidden_text is None:
                    hidden_text = protocol.encode(event.hidden_message())
                conn.push(hidden_text)

    async def reset_all(self) -> None:
        """The history was replaced: close every client (1012) so each reconnects and takes a
        fresh snapshot of the new epoch."""
        for conn in list(self.connections):
            conn.close_soon(CLOSE_SERVICE_RESTART, "history changed; reconnect")

    def snapshot_message(self, snap: Snapshot, actor: Actor) -> dict[str, Any]:
        channels = snap.board
        live: dict[str, Any] = {}
        rehearsal: dict[str, Any] = {}
        for city in channels.cities():
            for name, views_by_city in (("live", live), ("rehearsal", rehearsal)):
                key = cue_key(city, "rehearsal" if name == "rehearsal" else "live")
                staff = actor.may_cue(city)
                views_by_city[city] = (
                    channels.operator_view(key) if staff else channels.public_view(key)
                )
        message = views.snapshot_message(
            self.store.config,
            epoch=snap.epoch,
            seq=snap.seq,
            statuses=snap.statuses,
            online=snap.online,
            cue_views=live,
        )
        message["rehearsal"] = rehearsal
        return message

    # -- commands ---------------------------------------------------------------------------

    def authenticate(self, token: str | None) -> TokenRecord | None:
        if not token:
            return None
        return self.tokens.lookup(token)

    async def execute(self, command: Command, record: TokenRecord | None) -> dict[str, Any]:
        """Run one command for a token holder; returns the ``ack`` or ``error`` message."""
        if record is not None and not self.tokens.is_valid(record):
            return error(command.id, "unauthorized", "this token has been revoked")
        actor = record.actor() if record is not None else PUBLIC
        try:
            outcome = await self.store.apply(command, actor, datetime.now(UTC))
        except RuleError as exc:
            return error(command.id, exc.code, exc.message)
        except StoreUnavailable as exc:
            return error(command.id, "unavailable", str(exc))
        return protocol.ack_message(command.id, outcome.seq)

    # -- the websocket endpoint -------------------------------------------------------------

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

    async def endpoint(self, ws: WebSocket) -> None:
        client = ws.client.host if ws.client else "-"
        if not self.origin_allowed(ws):
            # Refused before accept: the browser sees an HTTP 403 (cross-site hijacking).
            log.info(kv(event="ws_refused", reason="origin", client=client))
            await ws.close(code=CLOSE_POLICY)
            return
        over_cap = (
            self.open_count >= self.limits.max_connections
            or self.per_address[client] >= self.limits.max_connections_per_address
        )
        self.open_count += 1
        self.per_address[client] += 1
        conn = Connection(ws, self.limits)
        started = time.monotonic()
        close_code = 1000
        try:
            await ws.accept()
            log.info(kv(event="ws_open", conn=conn.id, client=client))
            hello = await self._await_hello(conn)
            if hello is None:
                close_code = CLOSE_POLICY
                await ws.close(code=CLOSE_POLICY, reason="no hello in time")
                return
            if over_cap and not self._is_staff_token(hello.token):
                # Staff are always admitted; viewers over a cap are told to come back.
                close_code = CLOSE_TOO_SLOW
                log.info(kv(event="ws_refused", reason="capacity", conn=conn.id, client=client))
                await ws.close(code=CLOSE_TOO_SLOW, reason="server full; try again")
                return
            await self._start(conn, hello)
            await self._serve(conn)
        except WebSocketDisconnect as exc:
            close_code = exc.code
        except ClosedForAbuse as exc:
            close_code = CLOSE_POLICY
            log.info(kv(event="ws_abuse", conn=conn.id, client=client, reason=str(exc)))
            with contextlib.suppress(Exception):
                await ws.close(code=CLOSE_POLICY, reason=str(exc))
        finally:
            self.open_count -= 1
            self.per_address[client] -= 1
            if self.per_address[client] <= 0:
                del self.per_address[client]
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

    def token_allows(self, record: TokenRecord) -> bool:
        """The per-token rate limit, shared by all of a token's connections and its HTTP
        requests on this process: a leaked token cannot flood by any path."""
        bucket = self.token_buckets.get(record.id)
        if bucket is None:
            bucket = TokenBucket(self.limits.staff_rate_per_s, self.limits.staff_burst)
            self.token_buckets[record.id] = bucket
        return bucket.take()

    def _is_staff_token(self, token: str | None) -> bool:
        return token is not None and self.authenticate(token) is not None

    def _admit(self, conn: Connection, command_id: str | None) -> bool:
        """Rate limits: staff get ``rate_limited`` errors; an anonymous client that keeps
        flooding is closed."""
        allowed = conn.bucket.take()
        if allowed and conn.record is not None:
            allowed = self.token_allows(conn.record)
        if allowed:
            return True
        conn.send(error(command_id, "rate_limited", "too many messages; slow down"))
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
            conn.send(error(None, "invalid", "binary frames are not part of the protocol"))
        return text

    async def _await_hello(self, conn: Connection) -> Hello | None:
        deadline = time.monotonic() + self.limits.hello_timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
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
                conn.send({"type": "pong"})
                continue
            conn.send(error(message.id, "invalid", "send hello first"))

    async def _start(self, conn: Connection, hello: Hello) -> None:
        """Authenticate, welcome, catch the client up, then switch it to live events."""
        conn.channels = hello.topics
        if hello.token:
            record = self.authenticate(hello.token)
            if record is None:
                # The connection stays open as a public viewer (docs/protocol.md).
                conn.send(error(None, "unauthorized", "unknown or revoked token; you are a viewer"))
            else:
                conn.record = record
                conn.actor = record.actor()
                conn.bucket = TokenBucket(self.limits.staff_rate_per_s, self.limits.staff_burst)
        self.connections.add(conn)  # from here on, new events queue up in conn.pending
        snap = await self.store.snapshot()
        welcome: dict[str, Any] = {
            "type": "welcome",
            "role": conn.actor.role.value,
            "city": conn.actor.city,
            "seq": snap.seq,
            "epoch": snap.epoch,
        }
        if conn.actor.role in (Role.COORDINATOR, Role.ADMIN):
            # The moves this role may make, so pages offer only valid buttons (rules.py).
            welcome["transitions"] = {
                state.value: sorted(s.value for s in allowed_next_states(state, conn.actor.role))
                for state in State
            }
        conn.send(welcome)
        replay = None
        if hello.since is not None and hello.epoch in (None, snap.epoch):
            replay = await self.store.events_since(hello.since)
        if replay is None:
            conn.send(self.snapshot_message(snap, conn.actor))
            synced = snap.seq
        else:
            synced = hello.since or 0
            for event in replay:
                self._send_event(conn, event)
                synced = event.seq
        for event in conn.pending:
            if event.seq > synced:
                self._send_event(conn, event)
        conn.pending.clear()
        conn.syncing = False
        if conn.actor.role is Role.COORDINATOR and conn.actor.city:
            city = conn.actor.city
            self.coordinators[city] += 1
            if self.coordinators[city] == 1:
                await self.store.set_presence(city, True, datetime.now(UTC))

    def _send_event(self, conn: Connection, event: StoredEvent) -> None:
        if not protocol.wants(conn.channels, event.topic):
            return
        if event.operator_data is not None and conn.is_staff_of(event.city):
            conn.send(event.operator_message())
        elif event.audience:
            conn.send(event.message())
        elif conn.channels is None:
            conn.send(event.hidden_message())

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
                conn.send({"type": "pong"})
            elif isinstance(message, Hello):
                conn.send(error(None, "invalid", "hello: already received on this connection"))
            else:
                reply = await self.execute(message, conn.record)
                if reply["type"] == "ack" and isinstance(message, CueCommand):
                    log.debug(kv(event="cue", conn=conn.id, city=message.city, seq=reply["seq"]))
                conn.send(reply)

    async def _finish(self, conn: Connection) -> None:
        was_live = conn in self.connections and not conn.syncing
        self.connections.discard(conn)
        await conn.outbox.aclose()
        if was_live and conn.actor.role is Role.COORDINATOR and conn.actor.city:
            city = conn.actor.city
            self.coordinators[city] -= 1
            if self.coordinators[city] <= 0:
                del self.coordinators[city]
                with contextlib.suppress(Exception):
                    await self.store.set_presence(city, False, datetime.now(UTC))
        if conn.ws.application_state != WebSocketState.DISCONNECTED:
            with contextlib.suppress(Exception):
                await conn.ws.close()


def _transport_of(send: Any) -> Any:
    """The server's transport behind an ASGI ``send``, or None.

    The ``send`` a websocket endpoint holds is the server protocol's own bound method wrapped
    in middleware closures; follow the closures (a few levels) to the object that owns a
    transport with ``abort()``. Only used to drop a client that stopped reading.
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


def error(command_id: str | None, code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "id": command_id, "code": code, "message": message}
