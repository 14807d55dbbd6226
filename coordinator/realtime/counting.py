"""Publishes this process's connection counts to the store, off the fan-out's path.

The hub counts on join and leave; once a second this task hands the counts to the store when
they changed, and at least every :data:`REFRESH_S` anyway (over Redis, a process's counts expire
unless refreshed, so a process that died stops counting). A store that cannot take them now
is tried again a second later.
"""

from __future__ import annotations

import asyncio
import logging
import time

from coordinator.realtime.hub import Hub
from coordinator.state.base import Store, StoreUnavailable

log = logging.getLogger("coordinator")

INTERVAL_S = 1.0
REFRESH_S = 2.0


async def publish_counts_forever(hub: Hub, store: Store) -> None:
    """Run until cancelled (at the app's stop)."""
    published_version = -1
    published_at = 0.0
    while True:
        version = hub.counts_version
        if version != published_version or time.monotonic() - published_at >= REFRESH_S:
            try:
                await store.share_counts(hub.process_counts())
            except StoreUnavailable:
                pass  # the counts wait for the store; the next round tries again
            except Exception:
                log.exception("publishing the connection counts failed")
            else:
                published_version, published_at = version, time.monotonic()
        await asyncio.sleep(INTERVAL_S)
