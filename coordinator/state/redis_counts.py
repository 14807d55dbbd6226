"""Connection counts and the phones' peaks, shared by every process on one Redis.

Each process keeps its last counts in its own key (``counts:PROCESS``) that expires
:data:`COUNTS_TTL_S` after the last refresh, so a process that dies stops counting within a few
seconds, and names itself in one set (``count_processes``) so readers find the keys without a
SCAN of the whole keyspace (every command leaves a ``cmd:`` key for a day); a reader drops the
names whose key has expired. The peaks are one hash (``peaks``, a field per city) raised only by
a script that keeps the larger number: two processes raising it at once cannot lower it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from coordinator.connections import ProcessCounts

if TYPE_CHECKING:
    from coordinator.state.redis import RedisStore

COUNTS_TTL_S = 5
"""How long a process's counts count without a refresh (the app refreshes them every second)."""

# KEYS[1]: the peaks hash; ARGV: city, phones, city, phones, ...
RAISE_PEAKS = """
for i = 1, #ARGV, 2 do
  local n = tonumber(ARGV[i + 1])
  if n > tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0') then
    redis.call('HSET', KEYS[1], ARGV[i], n)
  end
end
return 0
"""


class CountBook:
    """The connection counts of one Redis store's process. Every method raises redis-py's
    connection errors; the store turns them into ``StoreUnavailable``."""

    def __init__(self, store: RedisStore) -> None:
        self.store = store

    def _key_of(self, process_id: str) -> str:
        return self.store.key(f"counts:{process_id}")

    async def publish(self, counts: ProcessCounts) -> None:
        """This process's counts, for :data:`COUNTS_TTL_S` (the store's ``share_counts`` then
        reads every process's, after this write: of two processes publishing at once, the
        later reader sees both)."""
        process_id = self.store.process_id
        async with self.store.redis.pipeline(transaction=True) as pipe:
            pipe.set(self._key_of(process_id), counts.encode(), ex=COUNTS_TTL_S)
            pipe.sadd(self.store.key("count_processes"), process_id)
            await pipe.execute()

    async def leave(self) -> None:
        process_id = self.store.process_id
        await self.store.redis.delete(self._key_of(process_id))
        await self.store.redis.srem(self.store.key("count_processes"), process_id)

    async def all(self) -> list[ProcessCounts]:
        """The counts of every process whose key has not expired."""
        redis = self.store.redis
        names = sorted(await redis.smembers(self.store.key("count_processes")))
        if not names:
            return []
        found, gone = [], []
        for name, raw in zip(
            names, await redis.mget([self._key_of(n) for n in names]), strict=True
        ):
            if raw is None:
                gone.append(name)  # its process stopped refreshing it: it died
                continue
            try:
                found.append(ProcessCounts.decode(raw))
            except (ValueError, KeyError, TypeError):
                continue  # a foreign or damaged record counts no one
        if gone:
            await redis.srem(self.store.key("count_processes"), *gone)
        return found

    async def raise_peaks(self, phones: Mapping[str, int]) -> None:
        args: list[str | int] = []
        for city, n in phones.items():
            args += [city, int(n)]
        if args:
            await self.store.redis.eval(RAISE_PEAKS, 1, self.store.key("peaks"), *args)

    async def peaks(self) -> dict[str, int]:
        raw = await self.store.redis.hgetall(self.store.key("peaks"))
        return {str(city): int(n) for city, n in raw.items()}
