"""Connection counts and the phones' peaks, shared by every process on one Redis.

Each process keeps its last counts in its own key (``counts:PROCESS``) that expires
:data:`COUNTS_TTL_S` after the last refresh, so a process that dies stops counting within a few
seconds and no one has to clean up after it. The peaks are one hash (``peaks``, a field per
city) raised only by a script that keeps the larger number: two processes raising it at once
cannot lower it.
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

    @property
    def _own_key(self) -> str:
        return self.store.key(f"counts:{self.store.process_id}")

    async def publish(self, counts: ProcessCounts) -> None:
        """This process's counts, for :data:`COUNTS_TTL_S` (the store's ``share_counts`` then
        reads every process's, after this write: of two processes publishing at once, the
        later reader sees both)."""
        await self.store.redis.set(self._own_key, counts.encode(), ex=COUNTS_TTL_S)

    async def leave(self) -> None:
        await self.store.redis.delete(self._own_key)

    async def all(self) -> list[ProcessCounts]:
        redis = self.store.redis
        keys = [k async for k in redis.scan_iter(match=self.store.key("counts:*"), count=100)]
        if not keys:
            return []
        found = []
        for raw in await redis.mget(keys):
            if raw is None:
                continue  # expired between the scan and the read
            try:
                found.append(ProcessCounts.decode(raw))
            except (ValueError, KeyError, TypeError):
                continue  # a foreign or damaged record counts no one
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
