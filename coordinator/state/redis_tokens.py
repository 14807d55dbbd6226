"""The tokens in Redis, shared by every process: ``tokens`` (id -> the record of
:mod:`~coordinator.state.records`, a hash only), ``tokens_used`` (id -> last use),
``tokens_revoked`` (id -> when: an import never brings a revoked token back) and the counter
``tokens_version``, which every change raises in the same transaction.

Processes notice a change by reading ``tokens_version`` a few times a second
(:class:`~coordinator.auth.TokenBook`) rather than by a pub/sub message: a message published
while a process is disconnected (an outage, a failover) is lost for it, while a counter is
read again as soon as Redis answers, and the token commands need no subscriber to reach.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from redis.exceptions import ResponseError

from coordinator.auth import TokenRecord
from coordinator.schedule import iso_utc
from coordinator.state import records
from coordinator.state.base import StoreUnavailable
from coordinator.state.redis_connect import UNAVAILABLE

if TYPE_CHECKING:
    from coordinator.state.redis import RedisStore


class TokenKeys:
    """The token records of one store."""

    def __init__(self, store: RedisStore) -> None:
        self.store = store

    def _key(self, name: str) -> str:
        return self.store.key(name)

    async def tokens(self) -> list[TokenRecord]:
        pipe = self.store.redis.pipeline(transaction=True)
        pipe.hgetall(self._key("tokens"))
        pipe.hgetall(self._key("tokens_used"))
        raw, used = await self._call(pipe.execute())
        found = [records.decode_token(data, used.get(token_id)) for token_id, data in raw.items()]
        return sorted(found, key=lambda r: (r.created, r.id))

    async def version(self) -> str:
        return str(await self._call(self.store.redis.get(self._key("tokens_version"))) or "0")

    async def add(self, found: list[TokenRecord]) -> list[TokenRecord]:
        """Add the records whose id was never held, and wait until enough replicas hold them
        (an invite handed out for a token a failover then loses would sign nobody in);
        returns those added."""
        redis = self.store.redis
        added = []
        for record in found:
            if await self._call(redis.hexists(self._key("tokens_revoked"), record.id)):
                continue
            pipe = redis.pipeline(transaction=True)
            pipe.hsetnx(self._key("tokens"), record.id, records.encode_token(record))
            pipe.incr(self._key("tokens_version"))
            created, _ = await self._call(pipe.execute())
            if created:
                added.append(record)
        if added:
            last = added[-1].id
            await self._confirm(lambda p: p.hexists(self._key("tokens"), last))
        return added

    async def delete(self, token_id: str, now: datetime) -> bool:
        """Revoke, and wait until enough replicas hold the revocation (a failover must not
        bring a revoked token back)."""
        pipe = self.store.redis.pipeline(transaction=True)
        pipe.hdel(self._key("tokens"), token_id)
        pipe.hdel(self._key("tokens_used"), token_id)
        pipe.hset(self._key("tokens_revoked"), token_id, iso_utc(now))
        pipe.incr(self._key("tokens_version"))
        gone, *_ = await self._call(pipe.execute())
        await self._confirm(lambda p: p.hexists(self._key("tokens_revoked"), token_id))
        return bool(gone)

    async def _confirm(self, check: Callable[[Any], object]) -> None:
        """The replica rule of every change (``--redis-min-replicas``) for what ``check`` reads."""
        from coordinator.state.redis import PROCESS_TTL_S

        store = self.store
        await self._call(store.replicas.confirm(store.redis, store.alive_key, PROCESS_TTL_S, check))

    async def touch(self, used: Mapping[str, str]) -> None:
        known = set(await self._call(self.store.redis.hkeys(self._key("tokens"))))
        kept = {token_id: at for token_id, at in used.items() if token_id in known}
        if kept:
            await self._call(self.store.redis.hset(self._key("tokens_used"), mapping=kept))

    async def _call(self, call: Any) -> Any:
        try:
            return await call
        except UNAVAILABLE as exc:
            raise StoreUnavailable("Redis is unreachable; the tokens were not changed") from exc
        except ResponseError as exc:  # read-only after a failover, full under noeviction
            raise StoreUnavailable(f"Redis cannot take it now ({exc}); nothing changed") from exc


class TokenMethods:
    """The store interface's token methods, for :class:`~coordinator.state.redis.RedisStore`
    (which sets ``token_keys``): each is one call of :class:`TokenKeys`."""

    token_keys: TokenKeys

    async def tokens(self) -> list[TokenRecord]:
        return await self.token_keys.tokens()

    async def tokens_version(self) -> str:
        return await self.token_keys.version()

    async def save_token(self, record: TokenRecord) -> None:
        await self.token_keys.add([record])

    async def import_tokens(self, found: list[TokenRecord]) -> list[TokenRecord]:
        return await self.token_keys.add(found)

    async def delete_token(self, token_id: str, now: datetime) -> bool:
        return await self.token_keys.delete(token_id, now)

    async def touch_tokens(self, used: Mapping[str, str]) -> None:
        await self.token_keys.touch(used)
