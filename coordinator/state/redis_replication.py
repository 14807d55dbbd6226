"""When the Redis store may say "done": the change is on the primary and on enough replicas.

Redis copies writes to its replicas asynchronously: a primary that dies a moment after a write
takes the write with it, and Sentinel promotes a replica that never saw it. So an
acknowledgement waits until the change has reached replicas (``WAIT``, bounded in time), and
the stream reader hands an event to viewers only once it is on as many, so no one is told of a
change that a failover could undo.

``WAIT`` counts what replicas confirmed of *this connection's* writes, so each check is one
pipeline on one connection: the reads that show what is being confirmed, one small write of
our own (the process's heartbeat key, which puts the connection after everything it read), and
``WAIT``. If a failover came between the change and the check, the reads show whether the new
primary has the change.

How many replicas: ``--redis-min-replicas N`` fixes the number (with fewer replicas up,
nothing is acknowledged). By default it is 1 while the primary has a replica online and 0 when
it has none (``INFO replication``, checked every few seconds and after a shortfall), so a
single surviving server keeps the show running, without that protection.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from coordinator.state.base import StoreUnavailable

log = logging.getLogger("coordinator.redis")

WAIT_TIMEOUT_MS = 1000
RECHECK_MIN_S = 0.5


class NotReplicated(StoreUnavailable):
    """Too few replicas confirmed the change in time; a retry with the same id is safe."""


class ReplicaRule:
    """How many replicas must hold a change before it counts, and the check itself."""

    def __init__(self, required: int | None = None) -> None:
        self.required = required  # None: 1 while the primary has a replica online, else 0
        self._online: int | None = None  # None: not known (yet, or since a lost connection)
        self._checked_at = -RECHECK_MIN_S

    @property
    def needed(self) -> int:
        if self.required is not None:
            return self.required
        return 1 if self._online is None else min(1, self._online)

    def forget(self) -> None:
        """The connection was lost (a failover, perhaps): ask the primary again before the
        next check, rather than wait for replicas the new primary may not have."""
        self._online = None

    async def need(self, client: Any) -> int:
        """The replicas needed now. While none is known (by default), the primary is asked
        again at most every half second, so a replica that joins protects changes at once."""
        if self.required is None and not self._online:
            await self.recheck(client, force=self._online is None)
        return self.needed

    async def recheck(self, client: Any, *, force: bool = False) -> None:
        """Count the primary's replicas that are online (at most every half second)."""
        now = time.monotonic()
        if now - self._checked_at < RECHECK_MIN_S and not force:
            return
        self._checked_at = now
        info = await client.info("replication")
        online = sum(
            1
            for name, value in info.items()
            if name.startswith("slave")
            and isinstance(value, dict)
            and value.get("state") == "online"
        )
        if online != self._online:
            log.log(
                logging.INFO if self._online is None else logging.WARNING,
                "the Redis primary has %d replica(s) online; an acknowledgement needs %d",
                online,
                self.required if self.required is not None else min(1, online),
            )
        self._online = online

    async def confirm(
        self, client: Any, barrier_key: str, ttl_s: int, reads: Callable[[Any], object]
    ) -> list[Any]:
        """Run ``reads`` (which queue commands on a pipeline) and, when replicas are needed, the
        barrier after them, on one connection. Returns the reads' results; raises
        :class:`NotReplicated` when too few replicas confirmed within ``WAIT_TIMEOUT_MS``."""
        needed = await self.need(client)
        pipe = client.pipeline(transaction=False)
        reads(pipe)
        if needed:
            pipe.set(barrier_key, 1, ex=ttl_s)
            pipe.wait(needed, WAIT_TIMEOUT_MS)
        results: list[Any] = await pipe.execute()
        if not needed:
            return results
        confirmed = int(results[-1])
        if confirmed < needed:
            await self.recheck(client)
            raise NotReplicated(
                f"the change reached {confirmed} of the {needed} Redis replica(s) needed within "
                f"{WAIT_TIMEOUT_MS} ms; try again with the same id (it applies once)"
            )
        return results[:-2]
