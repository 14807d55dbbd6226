"""The hub's fan-out: connections grouped by what ``route()`` reads, found by topic, and the
snapshot shared by a burst of joining viewers. Connections here are real Starlette websockets
over an in-memory ASGI channel (what the server sent is kept), on a real SQLite store."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.websockets import WebSocket

from coordinator import config as config_mod
from coordinator.app import load_scripts
from coordinator.auth import TokenRecord
from coordinator.limits import Limits
from coordinator.realtime.connection import Connection
from coordinator.realtime.hub import Hub, audience_key, route
from coordinator.rules import Actor, Role
from coordinator.service import PUBLIC
from coordinator.state.base import StoredEvent
from coordinator.state.sqlite import SqliteStore
from tests.support.harness import SHIPPED_CONFIG, run_async


class Peer:
    """The client side of one websocket, in memory: everything the server sent."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.incoming.put_nowait({"type": "websocket.connect"})
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        return await self.incoming.get()

    async def send(self, message: MutableMapping[str, Any]) -> None:
        self.sent.append(dict(message))

    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(m["text"]) for m in self.sent if m["type"] == "websocket.send"]


async def connect(hub: Hub, topics: tuple[str, ...] | None, actor: Actor = PUBLIC) -> Peer:
    """A connection past hello and catch-up, live in ``hub``."""
    peer = Peer()
    ws = WebSocket({"type": "websocket", "path": "/ws", "headers": []}, peer.receive, peer.send)
    await ws.accept()
    conn = Connection(ws, Limits())
    conn.topics, conn.actor = topics, actor
    hub.catch_up(conn)
    await hub.joined(conn)
    return peer


def with_hub(tmp_path: Path, body: Callable[[Hub], Awaitable[None]]) -> None:
    async def main() -> None:
        cfg = config_mod.load(SHIPPED_CONFIG)
        store = SqliteStore(cfg, tmp_path / "data")
        for city, script in load_scripts(cfg).items():
            store.set_script(city, script)
        await store.open()
        hub = Hub(store, Limits())
        try:
            await body(hub)
        finally:
            hub.collector.close()
            await store.close()

    run_async(main(), timeout_s=120)


_seqs = itertools.count(1)


def event(kind: str, city: str, channel: str = "live", audience: bool = True) -> StoredEvent:
    data: dict[str, Any] = {"channel": channel, "index": 3} if kind == "cue" else {"note": "x"}
    return StoredEvent(
        seq=next(_seqs),
        kind=kind,  # type: ignore[arg-type]
        city=city,
        at=datetime.now(UTC),
        data=data,
        operator_data={"notes": "for operators"} if kind == "cue" else None,
        audience=audience,
    )


TOPIC_CHOICES: list[tuple[str, ...] | None] = [
    None,
    ("cues:paris",),
    ("cues:paris", "cues:*"),
    ("status:*",),
    ("status:paris", "status:*", "cues:berlin"),
    ("rehearsal:paris",),
    ("rehearsal:*", "status:berlin"),
]
ACTORS = [PUBLIC, Actor(Role.OPERATOR, "paris", "op"), Actor(Role.ADMIN, None, "admin")]
EVENTS = [
    event("cue", "paris"),
    event("cue", "paris", "rehearsal"),
    event("cue", "paris", audience=False),
    event("cue", "berlin"),
    event("status", "paris"),
    event("presence", "berlin"),
]


def test_route_reads_nothing_of_a_connection_but_its_audience_key(tmp_path: Path) -> None:
    async def body(hub: Hub) -> None:
        peer_a, peer_b = Peer(), Peer()
        a = Connection(WebSocket({"type": "websocket"}, peer_a.receive, peer_a.send), Limits())
        b = Connection(WebSocket({"type": "websocket"}, peer_b.receive, peer_b.send), Limits())
        for topics, actor in itertools.product(TOPIC_CHOICES, ACTORS):
            a.topics = b.topics = topics
            a.actor, b.actor = actor, replace(actor)  # equal, not the same object
            b.strikes, b.pending = 7, [EVENTS[0]]  # everything else differs
            assert audience_key(a) == audience_key(b)
            assert [route(a, e) for e in EVENTS] == [route(b, e) for e in EVENTS]

    with_hub(tmp_path, body)


def test_every_event_reaches_exactly_whom_route_names_once(tmp_path: Path) -> None:
    async def body(hub: Hub) -> None:
        peers = {}
        for topics, actor in itertools.product(TOPIC_CHOICES, ACTORS):
            peers[(topics, actor)] = [await connect(hub, topics, actor) for _ in range(2)]
        probe = {key: ps[0] for key, ps in peers.items()}
        for e in EVENTS:
            before = {key: len(p.sent) for key, p in probe.items()}
            await hub.on_event(e)
            for (topics, actor), peer in probe.items():
                conn = next(c for c in hub.connections if c.topics == topics and c.actor == actor)
                expected = 0 if route(conn, e) is None else 1
                assert len(peer.sent) - before[(topics, actor)] == expected, (topics, actor, e)
        for group in peers.values():  # members of one audience got the same messages
            assert group[0].messages() == group[1].messages()

    with_hub(tmp_path, body)


def test_a_status_update_never_visits_the_surtitle_phones(tmp_path: Path) -> None:
    async def body(hub: Hub) -> None:
        phones = [await connect(hub, ("cues:paris",)) for _ in range(2000)]
        dashboards = [await connect(hub, None) for _ in range(100)]
        update = event("status", "paris")
        visited = list(hub.audiences.candidates(update.topic))
        assert sum(len(a.members) for a in visited) == 100  # the dashboards, not the phones
        await hub.on_event(update)
        assert all(len(p.sent) == 1 for p in phones)  # the accept, nothing since
        assert all(p.messages()[-1]["kind"] == "status" for p in dashboards)
        await hub.on_event(event("cue", "paris"))
        assert all(p.messages()[-1]["kind"] == "cue" for p in phones)

    with_hub(tmp_path, body)


def test_a_connection_that_leaves_is_out_of_its_audience(tmp_path: Path) -> None:
    async def body(hub: Hub) -> None:
        await connect(hub, ("cues:paris",))
        (conn,) = hub.connections
        await hub.left(conn)
        assert hub.audiences.by_key == {}
        assert hub.audiences.by_topic == {}
        await hub.on_event(event("cue", "paris"))  # nobody to send to, no error

    with_hub(tmp_path, body)


def test_connections_are_counted_as_they_joined_until_they_leave(tmp_path: Path) -> None:
    async def body(hub: Hub) -> None:
        await connect(hub, ("cues:paris",))
        await connect(hub, ("cues:paris",))
        await connect(hub, None, Actor(Role.OPERATOR, "paris", "op"))
        assert hub.process_counts().counts == {("phones", "paris"): 2, ("operators", "paris"): 1}
        version = hub.counts_version
        operator = next(c for c in hub.connections if c.actor.role is Role.OPERATOR)
        operator.actor = PUBLIC  # its token revoked: it still leaves as what it joined as
        await hub.left(operator)
        assert hub.process_counts().counts == {("phones", "paris"): 2}
        assert hub.counts_version > version
        for conn in list(hub.connections):
            await hub.left(conn)
            await hub.left(conn)  # twice: counted down once
        assert hub.process_counts().counts == {}

    with_hub(tmp_path, body)


def test_a_revoked_staff_connection_is_counted_as_a_viewer_from_then_on(tmp_path: Path) -> None:
    async def body(hub: Hub) -> None:
        await connect(hub, None, Actor(Role.OPERATOR, "paris", "t-op"))
        operator = next(iter(hub.connections))
        operator.record = TokenRecord("t-op", Role.OPERATOR, "paris", "sha256:x", "")
        await hub.revoke(frozenset({"t-op"}))
        assert hub.process_counts().counts == {("others", ""): 1}
        await hub.left(operator)
        assert hub.process_counts().counts == {}

    with_hub(tmp_path, body)


def test_the_snapshot_is_shared_until_an_event_or_a_script_change(tmp_path: Path) -> None:
    async def body(hub: Hub) -> None:
        first = await hub.snapshot()
        assert await hub.snapshot() is first
        text = hub.snapshot_text(first, PUBLIC)
        assert hub.snapshot_text(first, PUBLIC) is text  # encoded once per actor
        operator = Actor(Role.OPERATOR, "paris", "op")
        assert hub.snapshot_text(first, operator) != text  # the operator's views differ
        await hub.on_event(event("status", "paris"))
        second = await hub.snapshot()
        assert second is not first
        script = hub.store.scripts["paris"]
        hub.store.set_script("paris", replace(script))  # an upload: a new object
        assert await hub.snapshot() is not second

    with_hub(tmp_path, body)
