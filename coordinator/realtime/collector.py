"""Keeps long-lived connection objects out of the garbage collector's full passes.

Every open websocket keeps about 150 container objects alive for as long as it is open
(uvicorn's protocol, the websockets state machine, Starlette's WebSocket, the ASGI task and its
coroutine frames, ours). A full collection walks every tracked object: at 10,000 viewers it
took over a second, landing on whatever ran then, often a GO. ``gc.freeze()`` moves every
object tracked so far into a permanent generation that no pass visits, in constant time;
called shortly after connections join, it leaves the passes only young objects.

The price: garbage in the permanent generation is never collected. A closed connection is
such garbage (its objects hold each other in cycles), so once as many connections have
closed since the last freeze as are open now (at least ``min_recycle_closes``), the collector
unfreezes, collects once (one full pass over what is alive, logged with its duration) and
freezes the survivors again. Frozen garbage thus never exceeds the live connections' memory,
and that pass costs at most one per as many closes as there are open connections.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

from coordinator.logs import kv

log = logging.getLogger("coordinator.ws")


class Collector:
    """The freeze policy of one process (the collector is process-wide)."""

    def __init__(
        self,
        *,
        freeze_delay_s: float = 0.5,
        freeze_batch: int = 200,
        min_recycle_closes: int = 1000,
    ) -> None:
        self.freeze_delay_s = freeze_delay_s
        self.freeze_batch = freeze_batch
        self.min_recycle_closes = min_recycle_closes
        self.unfrozen_joins = 0
        self.closes_since_recycle = 0
        self.freezes = 0
        self._timer: asyncio.TimerHandle | None = None
        self._recycling: asyncio.Handle | None = None
        self._active = True

    def joined(self) -> None:
        """A connection is live: freeze soon (at once after a batch of them)."""
        if not self._active:
            return
        self.unfrozen_joins += 1
        if self.unfrozen_joins >= self.freeze_batch:
            self.freeze()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.freeze_delay_s, self.freeze)

    def left(self, still_open: int) -> None:
        """A connection closed; ``still_open`` remain. Its objects may be frozen garbage."""
        if not self._active:
            return
        self.closes_since_recycle += 1
        due = self.closes_since_recycle >= max(self.min_recycle_closes, still_open)
        if due and self._recycling is None:
            # Not inside the caller's callback: the pass runs as a callback of its own.
            self._recycling = asyncio.get_running_loop().call_soon(self.recycle)

    def freeze(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._active:
            gc.freeze()
            self.unfrozen_joins = 0
            self.freezes += 1

    def recycle(self) -> None:
        """Collect the frozen garbage: unfreeze, one full pass, freeze the survivors."""
        self._recycling = None
        self.closes_since_recycle = 0
        started = time.perf_counter()
        gc.unfreeze()
        collected = gc.collect()
        self.freeze()
        elapsed_ms = (time.perf_counter() - started) * 1000
        log.info(kv(event="gc_recycle", collected=collected, ms=round(elapsed_ms, 1)))

    def close(self) -> None:
        """Stop freezing and give everything back to the collector."""
        self._active = False
        for handle in (self._timer, self._recycling):
            if handle is not None:
                handle.cancel()
        self._timer = self._recycling = None
        gc.unfreeze()
