"""The fan-out of store events to connected clients, through one routing rule.

Every event is encoded once per variant, whatever the number of recipients, and handed to
each client's :class:`~coordinator.outbox.Outbox`: sent at once when the client keeps up,
queued (bounded) when it does not, so one slow phone never holds up the others. A client
that falls too far behind is dropped and reconnects with ``since``, which is cheaper and
safer than buffering without bound.
"""

from __future__ import annotations

import collections
import contextlib
import enum
from datetime import UTC, datetime
from typing import Any

from coordinator import protocol, views
from coordinator.channels import cue_key
from coordinator.limits import Limits
from coordinator.realtime.connection import CLOSE_SERVICE_RESTART, Connection
from coordinator.rules import Actor, Role
from coordinator.state.base import Snapshot, Store, StoredEvent


class Variant(enum.Enum):
    """Which form of an event a connection receives."""

    OPERATOR = "operator"  # the city's operators and admins: the audience view plus theirs
    AUDIENCE = "audience"  # everyone else
    HIDDEN = "hidden"  # a move the audience may not see, as a stub to keep seq contiguous


def route(conn: Connection, event: StoredEvent) -> Variant | None:
    """The one rule of who gets what: None when the connection gets nothing of the event."""
    if not protocol.wants(conn.topics, event.topic):
        return None
    if event.operator_data is not None and conn.actor.may_cue(event.city):
        return Variant.OPERATOR
    if event.audience:
        return Variant.AUDIENCE
    if conn.topics is None:
        return Variant.HIDDEN
    return None


def encode(event: StoredEvent, variant: Variant) -> str:
    if variant is Variant.OPERATOR:
        return protocol.encode(event.operator_message())
    if variant is Variant.AUDIENCE:
        return protocol.encode(event.message())
    return protocol.encode(event.hidden_message())


class Hub:
    """Connected clients on this process: fan-out, coordinator presence, address counts."""

    def __init__(self, store: Store, limits: Limits) -> None:
        self.store = store
        self.limits = limits
        self.connections: set[Connection] = set()
        self.coordinators: collections.Counter[str] = collections.Counter()
        self.open_count = 0
        self.per_address: collections.Counter[str] = collections.Counter()
        # The config does not change while the process runs: its fingerprint is computed once.
        self.schedule_version = views.schedule_version(store.config)
        store.subscribe(self.on_event)
        store.on_reset(self.reset_all)

    async def on_event(self, event: StoredEvent) -> None:
        encoded: dict[Variant, str] = {}
        for conn in self.connections:
            if conn.catching_up:
                conn.pending.append(event)
                continue
            variant = route(conn, event)
            if variant is None:
                continue
            text = encoded.get(variant)
            if text is None:  # encoded once per variant, for every recipient
                text = encoded[variant] = encode(event, variant)
            conn.push(text)

    def deliver(self, conn: Connection, event: StoredEvent) -> None:
        """One event to one connection (a replay, or what queued while it caught up)."""
        variant = route(conn, event)
        if variant is not None:
            conn.push(encode(event, variant))

    async def reset_all(self) -> None:
        """The history was replaced: close every client (1012) so each reconnects and takes a
        fresh snapshot of the new epoch."""
        for conn in list(self.connections):
            conn.close_soon(CLOSE_SERVICE_RESTART, "history changed; reconnect")

    def snapshot_message(self, snap: Snapshot, actor: Actor) -> dict[str, Any]:
        """The ``snapshot`` message as ``actor`` may see it (operators get their views)."""
        board = snap.board
        views_by_channel: dict[str, dict[str, Any]] = {"live": {}, "rehearsal": {}}
        for city in board.scripts:
            for name, by_city in views_by_channel.items():
                key = cue_key(city, "rehearsal" if name == "rehearsal" else "live")
                operator = actor.may_cue(city)
                by_city[city] = board.operator_view(key) if operator else board.public_view(key)
        message = views.snapshot_message(
            self.store.config,
            epoch=snap.epoch,
            seq=snap.seq,
            statuses=snap.statuses,
            online=snap.online,
            cue_views=views_by_channel["live"],
            version=self.schedule_version,
        )
        message["rehearsal"] = views_by_channel["rehearsal"]
        return message

    # -- admission and presence ----------------------------------------------------------

    def open(self, client: str) -> bool:
        """Count a new socket from ``client``; False when a cap is already reached (the caller
        admits it only if it signs in)."""
        over_cap = (
            self.open_count >= self.limits.max_connections
            or self.per_address[client] >= self.limits.max_connections_per_address
        )
        self.open_count += 1
        self.per_address[client] += 1
        return not over_cap

    def closed(self, client: str) -> None:
        self.open_count -= 1
        self.per_address[client] -= 1
        if self.per_address[client] <= 0:
            del self.per_address[client]

    async def joined(self, conn: Connection) -> None:
        """A caught-up connection; a city's first coordinator marks it online."""
        city = conn.actor.city
        if conn.actor.role is Role.COORDINATOR and city:
            self.coordinators[city] += 1
            if self.coordinators[city] == 1:
                await self.store.set_presence(city, True, datetime.now(UTC))

    async def left(self, conn: Connection) -> None:
        """Forget a connection; a city's last coordinator leaving marks it offline."""
        was_live = conn in self.connections and not conn.catching_up
        self.connections.discard(conn)
        city = conn.actor.city
        if was_live and conn.actor.role is Role.COORDINATOR and city:
            self.coordinators[city] -= 1
            if self.coordinators[city] <= 0:
                del self.coordinators[city]
                with contextlib.suppress(Exception):
                    await self.store.set_presence(city, False, datetime.now(UTC))
