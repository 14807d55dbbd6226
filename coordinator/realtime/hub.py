"""The fan-out of store events to connected clients, through one routing rule.

Every event is encoded, and framed, once per variant, whatever the number of recipients.
Connections are grouped by what :func:`route` reads of them (:func:`audience_key`) and the
groups indexed by the topics they follow, so an event visits only the groups that may want
it (a status update never walks the surtitle phones) and ``route`` runs once per group, not
per connection. Each recipient gets the frame through :func:`~.connection.broadcast`: written
straight to its socket when it keeps up, else queued (bounded) in its outbox, so one slow phone
never holds up the others. A client that falls too far behind is dropped and reconnects with
``since``, which is cheaper and safer than buffering without bound.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from coordinator import protocol, views
from coordinator.channels import cue_key
from coordinator.config import Config
from coordinator.connections import CountKey, ProcessCounts, count_key
from coordinator.limits import Limits, TokenBucket
from coordinator.realtime.collector import Collector
from coordinator.realtime.connection import (
    CLOSE_SERVICE_RESTART,
    Connection,
    broadcast,
    text_frame,
)
from coordinator.realtime.recent import RecentEvents
from coordinator.rules import Actor, Role
from coordinator.scripts import Script
from coordinator.service import PUBLIC, error_message
from coordinator.state.base import MAX_REPLAY_EVENTS, Snapshot, Store, StoredEvent, StoreError

# What the shared replay cache may hold: a thousand long cue events, with their variants.
RECENT_MAX_BYTES = 16 * 1024 * 1024
# What an open connection of a token revoked meanwhile is told (docs/protocol.md).
REVOKED = error_message(None, "unauthorized", "this token has been revoked")


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


AudienceKey = tuple[tuple[str, ...] | None, Actor]


def audience_key(conn: Connection) -> AudienceKey:
    """What :func:`route` reads of a connection: connections with equal keys get the same
    variant of every event (tests/unit/test_hub.py checks that nothing else counts)."""
    return (conn.topics, conn.actor)


def encode(event: StoredEvent, variant: Variant) -> str:
    if variant is Variant.OPERATOR:
        return protocol.encode(event.operator_message())
    if variant is Variant.AUDIENCE:
        return protocol.encode(event.message())
    return protocol.encode(event.hidden_message())


class Audience:
    """The live connections of one :data:`AudienceKey`."""

    __slots__ = ("key", "members")

    def __init__(self, key: AudienceKey) -> None:
        self.key = key
        self.members: set[Connection] = set()

    def subscriptions(self) -> tuple[str, ...] | None:
        """The index entries of this audience: its topics, minus ``family:CITY`` where it
        follows ``family:*`` (so an event finds each audience once); None: every topic."""
        topics = self.key[0]
        if topics is None:
            return None
        wildcards = {t.split(":", 1)[0] for t in topics if t.endswith(":*")}
        return tuple(t for t in topics if t.endswith(":*") or t.split(":", 1)[0] not in wildcards)


class Audiences:
    """Live connections grouped by audience, indexed by subscription."""

    def __init__(self) -> None:
        self.by_key: dict[AudienceKey, Audience] = {}
        self.everything: list[Audience] = []  # those that named no topics
        self.by_topic: dict[str, list[Audience]] = {}

    def add(self, conn: Connection) -> None:
        key = audience_key(conn)
        audience = self.by_key.get(key)
        if audience is None:
            audience = self.by_key[key] = Audience(key)
            for entry in self._entries(audience):
                entry.append(audience)
        audience.members.add(conn)

    def discard(self, conn: Connection) -> None:
        audience = self.by_key.get(audience_key(conn))
        if audience is None or conn not in audience.members:
            return
        audience.members.discard(conn)
        if not audience.members:
            del self.by_key[audience.key]
            for entry in self._entries(audience):
                entry.remove(audience)
            for topic in audience.subscriptions() or ():
                if not self.by_topic[topic]:
                    del self.by_topic[topic]

    def _entries(self, audience: Audience) -> list[list[Audience]]:
        topics = audience.subscriptions()
        if topics is None:
            return [self.everything]
        return [self.by_topic.setdefault(topic, []) for topic in topics]

    def candidates(self, topic: str) -> Iterator[Audience]:
        """Every audience that may want ``topic`` (a superset of those :func:`route` gives
        something of an event on it), each once."""
        family = topic.split(":", 1)[0]
        yield from self.everything
        yield from self.by_topic.get(topic, ())
        yield from self.by_topic.get(f"{family}:*", ())


class Hub:
    """Connected clients on this process: fan-out, coordinator presence, address counts."""

    def __init__(self, store: Store, limits: Limits) -> None:
        self.store = store
        self.limits = limits
        self.connections: set[Connection] = set()  # every one past hello
        self.catching_up: set[Connection] = set()  # of those, the ones not live yet
        self.audiences = Audiences()  # the live ones
        self.collector = Collector()
        self.coordinators: collections.Counter[str] = collections.Counter()
        # Who is connected (coordinator/connections.py), counted on join and leave (and on a
        # revocation, which makes a staff connection a viewer): never on the fan-out's path.
        self.counted: dict[Connection, CountKey] = {}
        self.counts: collections.Counter[CountKey] = collections.Counter()
        self.counts_version = 0  # rises with every change of ``counts``
        self.open_count = 0
        self.per_address: collections.Counter[str] = collections.Counter()
        self.recent = RecentEvents(MAX_REPLAY_EVENTS, RECENT_MAX_BYTES)
        self.replay_budgets: dict[str, TokenBucket] = {}
        self._version = 0  # events and resets seen: a snapshot taken across one is not kept
        # The snapshot every joining client shares until the next event (or a script change),
        # the scripts it was taken with, and its encodings by actor.
        self._snapshot: Snapshot | None = None
        self._snapshot_scripts: tuple[tuple[str, Script], ...] = ()
        self._snapshot_texts: dict[Actor, str] = {}
        self._reading: asyncio.Future[tuple[Snapshot, bool]] | None = None
        # The schedule's fingerprint, computed once per effective config (an edit replaces it).
        self._version_of: tuple[Config, str] | None = None
        store.subscribe(self.on_event)
        store.on_reset(self.reset_all)
        store.on_availability(self.availability_changed)

    @property
    def schedule_version(self) -> str:
        """The ``schedule_version`` of the store's current (effective) config."""
        config = self.store.config
        if self._version_of is None or self._version_of[0] is not config:
            self._version_of = (config, views.schedule_version(config))
        return self._version_of[1]

    async def on_event(self, event: StoredEvent) -> None:
        self._version += 1
        self._snapshot = None
        for conn in list(self.catching_up):
            conn.pending.append(event)
            if len(conn.pending) > MAX_REPLAY_EVENTS:
                conn.drop_too_slow()  # it reconnects with since, from where it got to
        encoded: dict[Variant, tuple[str, bytes]] = {}
        # No await below: connections join and leave in their own tasks, never mid-loop.
        for audience in list(self.audiences.candidates(event.topic)):
            variant = route(next(iter(audience.members)), event)
            if variant is None:
                continue
            pair = encoded.get(variant)
            if pair is None:  # encoded and framed once per variant, for every recipient
                text = encode(event, variant)
                pair = encoded[variant] = (text, text_frame(text.encode()))
            broadcast(audience.members, *pair)
        self.recent.add(event, {variant: text for variant, (text, _) in encoded.items()})

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

    async def availability_changed(self, available: bool) -> None:
        """Tell every caught-up client whether commands can be taken (``service``); one
        connecting meanwhile is told at the end of its catch-up."""
        text = protocol.encode(protocol.service_message(available))
        for conn in self.connections:
            if conn not in self.catching_up:
                conn.push(text)

    async def reset_all(self) -> None:
        """The history was replaced: close every client (1012) so each reconnects and takes a
        fresh snapshot of the new epoch."""
        self.recent.clear()
        self._version += 1
        self._snapshot = None
        for conn in list(self.connections):
            conn.close_soon(CLOSE_SERVICE_RESTART, "history changed; reconnect")

    async def revoke(self, token_ids: frozenset[str]) -> None:
        """Tokens were revoked: each of their connections is told (``unauthorized``, which
        signs a console out), becomes a public viewer at once (its audience group, so the
        next event reaches it in the audience's variant; its city's coordinator presence,
        released), and gets the public snapshot in place of the staff one it holds."""
        revoked = [c for c in self.connections if c.record and c.record.id in token_ids]
        text = protocol.encode(REVOKED)
        for conn in revoked:
            conn.push(text)
            live = conn not in self.catching_up
            if live:
                self.audiences.discard(conn)
                self._uncount(conn)
            city = conn.actor.city if conn.actor.role is Role.COORDINATOR else None
            conn.sign_out()
            if live:
                self.audiences.add(conn)
                self._count(conn)  # who is connected: a viewer now, no longer staff
                if city:
                    await self._coordinator_left(city)
        if any(conn not in self.catching_up for conn in revoked):
            try:
                snap = await self.snapshot()
            except StoreError:  # they are viewers already; the next event says the rest
                return
            public = self.snapshot_text(snap, PUBLIC)
            for conn in revoked:
                if conn in self.connections and conn not in self.catching_up:
                    conn.push(public)

    # -- joining: catch-up and the shared snapshot ---------------------------------------

    def catch_up(self, conn: Connection) -> None:
        """From now on events for ``conn`` wait in ``conn.pending`` until :meth:`joined`."""
        self.connections.add(conn)
        self.catching_up.add(conn)

    async def snapshot(self) -> Snapshot:
        """The store's snapshot, shared by every hello until the next event (or a script
        change), and read once for all the hellos that ask at the same time: a thousand
        clients reconnecting at once cost the database one read, not a thousand reads queued
        before the next command.

        A read shared with a caller that joined after it began is used only if no event was
        published while it ran; else it is read again (and after a few tries, on its own)."""
        for _ in range(3):
            if self._snapshot is not None and _same(
                self._snapshot_scripts, tuple(self.store.scripts.items())
            ):
                return self._snapshot
            if self._reading is None:
                self._reading = asyncio.ensure_future(self._read_snapshot())
            snap, unchanged = await asyncio.shield(self._reading)
            if unchanged:
                return snap
        return await self.store.snapshot()

    async def _read_snapshot(self) -> tuple[Snapshot, bool]:
        version = self._version
        scripts = tuple(self.store.scripts.items())
        try:
            snap = await self.store.snapshot()
        finally:
            self._reading = None
        unchanged = version == self._version
        if unchanged:
            self._snapshot, self._snapshot_scripts, self._snapshot_texts = snap, scripts, {}
        return snap, unchanged

    def snapshot_text(self, snap: Snapshot, actor: Actor) -> str:
        """The encoded ``snapshot`` message, built once per shared snapshot and actor."""
        shared = snap is self._snapshot
        text = self._snapshot_texts.get(actor) if shared else None
        if text is None:
            text = protocol.encode(self.snapshot_message(snap, actor))
            if shared:
                self._snapshot_texts[actor] = text
        return text

    def snapshot_message(self, snap: Snapshot, actor: Actor) -> dict[str, Any]:
        """The ``snapshot`` message as ``actor`` may see it (operators get their views)."""
        board = snap.board
        views_by_channel: dict[str, dict[str, Any]] = {"live": {}, "rehearsal": {}}
        for city in board.cities():
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
        """A caught-up connection goes live; a city's first coordinator marks it online."""
        conn.pending.clear()
        self.catching_up.discard(conn)
        self.audiences.add(conn)
        self._count(conn)
        if not self.store.available:  # live now: a later change of state reaches it too
            conn.send(protocol.service_message(False))
        self.collector.joined()
        city = conn.actor.city
        if conn.actor.role is Role.COORDINATOR and city:
            self.coordinators[city] += 1
            if self.coordinators[city] == 1:
                # A store that cannot write now costs the presence dot, not the connection.
                with contextlib.suppress(StoreError):
                    await self.store.set_presence(city, True, datetime.now(UTC))

    async def left(self, conn: Connection) -> None:
        """Forget a connection; a city's last coordinator leaving marks it offline."""
        was_live = conn in self.connections and conn not in self.catching_up
        self.connections.discard(conn)
        self.catching_up.discard(conn)
        self.audiences.discard(conn)
        self._uncount(conn)
        self.collector.left(still_open=self.open_count)
        city = conn.actor.city
        if was_live and conn.actor.role is Role.COORDINATOR and city:
            await self._coordinator_left(city)

    async def _coordinator_left(self, city: str) -> None:
        """One coordinator of ``city`` fewer here; the last one marks it offline."""
        self.coordinators[city] -= 1
        if self.coordinators[city] <= 0:
            del self.coordinators[city]
            with contextlib.suppress(Exception):
                await self.store.set_presence(city, False, datetime.now(UTC))

    # -- who is connected ----------------------------------------------------------------

    def _count(self, conn: Connection) -> None:
        key = self.counted[conn] = count_key(conn.actor, conn.topics, self.store.city_ids)
        self.counts[key] += 1
        self.counts_version += 1

    def _uncount(self, conn: Connection) -> None:
        key = self.counted.pop(conn, None)
        if key is None:
            return
        self.counts[key] -= 1
        if self.counts[key] <= 0:
            del self.counts[key]
        self.counts_version += 1

    def process_counts(self) -> ProcessCounts:
        """This process's live connections, by what they count as."""
        return ProcessCounts(dict(self.counts))


def _same(a: tuple[tuple[str, Script], ...], b: tuple[tuple[str, Script], ...]) -> bool:
    """The same scripts, object for object (a new upload is a new object)."""
    return len(a) == len(b) and all(
        x[0] == y[0] and x[1] is y[1] for x, y in zip(a, b, strict=True)
    )
