"""The fan-out of store events to connected clients, through one routing rule.

Every event is encoded once per variant, whatever the number of recipients, and handed to
each client's :class:`~coordinator.outbox.Outbox`: sent at once when the client keeps up,
queued (bounded) when it does not, so one slow phone never holds up the others. A client
that falls too far behind is dropped and reconnects with ``since``, which is cheaper and
safer than buffering without bound.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
from datetime import UTC, datetime
from typing import Any

from coordinator import protocol, views
from coordinator.channels import cue_key
from coordinator.limits import Limits, TokenBucket
from coordinator.realtime.connection import CLOSE_SERVICE_RESTART, Connection
from coordinator.realtime.recent import RecentEvents
from coordinator.rules import Actor, Role
from coordinator.state.base import MAX_REPLAY_EVENTS, Snapshot, Store, StoredEvent, StoreError

# What the shared replay cache may hold: a thousand long cue events, with their variants.
RECENT_MAX_BYTES = 16 * 1024 * 1024


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
        self.recent = RecentEvents(MAX_REPLAY_EVENTS, RECENT_MAX_BYTES)
        self.replay_budgets: dict[str, TokenBucket] = {}
        self._public_snapshot: tuple[tuple[str, int], str] | None = None
        self._snapshot: Snapshot | None = None
        self._reading: asyncio.Future[tuple[Snapshot, bool]] | None = None
        self._version = 0  # events seen: a snapshot taken across one is not kept
        store.subscribe(self.on_event)
        store.on_reset(self.reset_all)

    async def on_event(self, event: StoredEvent) -> None:
        self._version += 1
        self._snapshot = None
        encoded: dict[Variant, str] = {}
        for conn in self.connections:
            if conn.catching_up:
                conn.pending.append(event)
                if len(conn.pending) > MAX_REPLAY_EVENTS:
                    conn.drop_too_slow()  # it reconnects with since, from where it got to
                continue
            variant = route(conn, event)
            if variant is None:
                continue
            text = encoded.get(variant)
            if text is None:  # encoded once per variant, for every recipient
                text = encoded[variant] = encode(event, variant)
            conn.push(text)
        self.recent.add(event, encoded)

    def deliver(self, conn: Connection, event: StoredEvent) -> None:
        """One event to one connection (a replay, or what queued while it caught up), in the
        text every replay of it shares."""
        variant = route(conn, event)
        if variant is None:
            return
        text = self.recent.text(event.seq, variant)
        if text is None:
            text = encode(event, variant)
            self.recent.keep_text(event.seq, variant, text)
        conn.push(text)

    async def events_since(self, seq: int) -> list[StoredEvent] | None:
        """The events after ``seq``, from this process's recent ones when they reach back
        that far, else from the store (None: too far back, the client needs a snapshot)."""
        recent = self.recent.since(seq)
        if recent is not None:
            return recent
        return await self.store.events_since(seq)

    async def reset_all(self) -> None:
        """The history was replaced: close every client (1012) so each reconnects and takes a
        fresh snapshot of the new epoch."""
        self.recent.clear()
        self._public_snapshot = None
        self._version += 1
        self._snapshot = None
        for conn in list(self.connections):
            conn.close_soon(CLOSE_SERVICE_RESTART, "history changed; reconnect")

    async def snapshot(self) -> Snapshot:
        """The store's snapshot, shared by every hello until the next event, and read once
        for all the hellos that ask at the same time: a thousand clients reconnecting at once
        cost the database one read, not a thousand reads queued before the next command.

        A read shared with a caller that joined after it began is used only if no event was
        published while it ran; else it is read again (and after a few tries, on its own)."""
        for _ in range(3):
            if self._snapshot is not None:
                return self._snapshot
            if self._reading is None:
                self._reading = asyncio.ensure_future(self._read_snapshot())
            snap, unchanged = await asyncio.shield(self._reading)
            if unchanged:
                return snap
        return await self.store.snapshot()

    async def _read_snapshot(self) -> tuple[Snapshot, bool]:
        version = self._version
        try:
            snap = await self.store.snapshot()
        finally:
            self._reading = None
        unchanged = version == self._version
        if unchanged:
            self._snapshot = snap
        return snap, unchanged

    def snapshot_text(self, snap: Snapshot, actor: Actor) -> str:
        """The encoded ``snapshot`` message for ``actor``; the public one is encoded once per
        state (every anonymous hello at that seq shares it)."""
        if actor.role is not Role.PUBLIC:
            return protocol.encode(self.snapshot_message(snap, actor))
        key = (snap.epoch, snap.seq)
        if self._public_snapshot is None or self._public_snapshot[0] != key:
            self._public_snapshot = (key, protocol.encode(self.snapshot_message(snap, actor)))
        return self._public_snapshot[1]

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
            budget = self.replay_budgets.get(client)
            if budget is not None and budget.full():  # else reconnecting would refill it
                del self.replay_budgets[client]

    def may_replay(self, client: str, events: int) -> bool:
        """Whether an anonymous viewer from ``client`` may be replayed ``events`` events: an
        address spends ``viewer_replay_events`` a second (ten times that at once), then its
        viewers get snapshots, one frame each, which tell them the same."""
        budget = self.replay_budgets.get(client)
        if budget is None:
            rate = self.limits.viewer_replay_events
            budget = self.replay_budgets[client] = TokenBucket(rate, 10 * rate)
        return budget.take(events)

    async def joined(self, conn: Connection) -> None:
        """A caught-up connection; a city's first coordinator marks it online."""
        city = conn.actor.city
        if conn.actor.role is Role.COORDINATOR and city:
            self.coordinators[city] += 1
            if self.coordinators[city] == 1:
                # A store that cannot write now costs the presence dot, not the connection.
                with contextlib.suppress(StoreError):
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
