"""What a running app holds: the config (through the store), the store, the command service, the hub, the caches.

Built once by :func:`coordinator.app.create_app` and kept on ``app.state.context``; every
endpoint reads it through :func:`context`, never through module globals.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime

from starlette.requests import HTTPConnection

from coordinator.auth import TokenBook
from coordinator.caching import CachedBody, VersionedCache
from coordinator.config import Config
from coordinator.realtime import Hub, Sessions
from coordinator.service import CommandService
from coordinator.settings import Settings
from coordinator.state.base import Store, StoredEvent


class SharedCache(VersionedCache):
    """A :class:`VersionedCache` whose bodies are built one at a time: requests arriving
    while a body is built wait for it instead of each building their own."""

    def __init__(self) -> None:
        super().__init__()
        self._building = asyncio.Lock()

    async def get(self, key: Hashable, build: Callable[[], Awaitable[CachedBody]]) -> CachedBody:
        hit = self.peek(key)
        if hit is not None:
            return hit
        async with self._building:
            return await super().get(key, build)


@dataclass
class AppContext:
    settings: Settings
    store: Store
    tokens: TokenBook
    commands: CommandService
    hub: Hub
    sessions: Sessions
    # The config file's time: an edit changes the feed without any status change.
    config_mtime: datetime
    index_template: str
    # Polled bodies, rebuilt only after a change: any event for the state, status events
    # (time, cancellation, note) for the calendar feeds.
    state_cache: VersionedCache = field(default_factory=VersionedCache)
    feed_cache: VersionedCache = field(default_factory=VersionedCache)
    # The cue logs' exports and the drift: rebuilt after a cue event (a new log line).
    exports: SharedCache = field(default_factory=SharedCache)
    # The projector's QR codes by address: drawing one costs 0.2-0.5 s of CPU.
    qr_codes: dict[str, bytes] = field(default_factory=dict)

    @property
    def config(self) -> Config:
        """The effective config: the file's with the schedule edits (the store holds the one
        current value, replaced when an edit arrives from this process or another)."""
        return self.store.config

    async def on_event(self, event: StoredEvent) -> None:
        self.state_cache.invalidate()
        if event.kind in ("status", "schedule"):
            self.feed_cache.invalidate()
        if event.kind == "cue":
            self.exports.invalidate()

    async def on_reset(self) -> None:
        self.state_cache.invalidate()
        self.feed_cache.invalidate()
        self.exports.invalidate()


def context(connection: HTTPConnection) -> AppContext:
    """The app's context, from a request or a websocket."""
    found: AppContext = connection.app.state.context
    return found
