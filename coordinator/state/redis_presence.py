"""Which cities have a coordinator connected, across every process sharing one Redis.

Each process counts its own coordinator connections per city in one hash field
(``city|process``); a city is online while any live process counts one. A process that dies
stops refreshing its heartbeat key (``alive:PROCESS``), and the others clear its fields. Each
change of a city's shared online state is appended to the event stream once.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from redis.exceptions import WatchError

from coordinator.plans import presence_plan
from coordinator.state.base import StoredEvent

if TYPE_CHECKING:
    from coordinator.state.redis import RedisStore


class PresenceBook:
    """The presence records of one store's process."""

    def __init__(self, store: RedisStore) -> None:
        self.store = store
        self._lock = asyncio.Lock()
        self._local_coordinators: dict[str, int] = {}

    def _key(self, name: str) -> str:
        return self.store.key(name)

    async def record(self, city: str, online: bool, now: datetime) -> StoredEvent | None:
        """This process has (or no longer has) a coordinator of ``city``; the presence event
        when the city's shared state changed. Raises redis-py's connection errors."""
        async with self._lock:
            self._local_coordinators[city] = 1 if online else 0
            field = f"{city}|{self.store.process_id}"
            if online:
                await self.store.redis.hset(self._key("presence"), field, 1)
            else:
                await self.store.redis.hdel(self._key("presence"), field)
            return await self._sync(city, now)

    async def online_map(self) -> dict[str, bool]:
        fields = await self.store.redis.hkeys(self._key("presence"))
        alive = await self._alive_processes()
        online: dict[str, bool] = {}
        for raw in fields:
            city, _, proc = raw.partition("|")
            if proc in alive:
                online[city] = True
        return online

    async def _alive_processes(self) -> set[str]:
        redis = self.store.redis
        keys = [k async for k in redis.scan_iter(match=self._key("alive:*"), count=100)]
        return {k.rsplit(":", 1)[1] for k in keys}

    async def _sync(self, city: str, now: datetime) -> StoredEvent | None:
        """Append a presence event if the city's shared online state differs from the log."""
        online = (await self.online_map()).get(city, False)
        last = await self.store.redis.hget(self._key("presence_logged"), city)
        if last is not None and bool(int(last)) == online:
            return None
        plan = presence_plan(city, online)
        async with self.store.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(self._key("seq"), self._key("presence_logged"))
                    logged = await pipe.hget(self._key("presence_logged"), city)
                    if logged is not None and bool(int(logged)) == online:
                        await pipe.reset()
                        return None
                    seq = int(await pipe.get(self._key("seq")) or 0)
                    pipe.multi()
                    (event,) = self.store._queue_events(pipe, plan, seq, now)
                    pipe.hset(self._key("presence_logged"), city, int(online))
                    await pipe.execute()
                    return event
                except WatchError:
                    continue

    async def reap_dead_processes(self) -> None:
        alive = await self._alive_processes()
        alive.add(self.store.process_id)
        cities = set()
        for raw in await self.store.redis.hkeys(self._key("presence")):
            city, _, proc = raw.partition("|")
            if proc not in alive:
                await self.store.redis.hdel(self._key("presence"), raw)
                cities.add(city)
        for city in cities:
            await self._sync(city, datetime.now(UTC))

    async def leave(self) -> None:
        fields = [f"{city}|{self.store.process_id}" for city in self._local_coordinators]
        if fields:
            await self.store.redis.hdel(self._key("presence"), *fields)
        await self.store.redis.delete(self.store.alive_key)
        for city in self._local_coordinators:
            await self._sync(city, datetime.now(UTC))
