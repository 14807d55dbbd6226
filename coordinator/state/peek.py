"""Read a store's calendar state without joining it: ``coordinator calendar`` writes the feed
a running server would serve, from another process, while the server runs.

Opening a store is joining it (the embedded store logs every city offline at open, the Redis
store heartbeats and may write an epoch); this module only reads: the cities' statuses and
the schedule overrides. Raises :class:`~coordinator.state.base.StoreError` naming the store.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coordinator.config import Config
from coordinator.overrides import CityOverride
from coordinator.rules import CityStatus
from coordinator.settings import Settings
from coordinator.state import records
from coordinator.state.base import StoreError


@dataclass(frozen=True)
class CalendarState:
    """What the calendar feed needs of a store. ``found`` is False when there is no store
    yet (no database in the data directory, or nothing under the Redis prefix)."""

    statuses: Mapping[str, CityStatus] = field(default_factory=dict)
    overrides: Mapping[str, CityOverride] = field(default_factory=dict)
    found: bool = True


def read_store(settings: Settings, config: Config) -> CalendarState:
    """The statuses and overrides of the store ``settings`` name (Redis when a URL is set,
    else the data directory's database), for the event of ``config``."""
    if not settings.redis_url:
        return read_sqlite(settings.data_dir)
    import asyncio

    from coordinator.state.redis import default_prefix
    from coordinator.state.redis_connect import tls_options

    tls = tls_options(settings.redis_url, settings.redis_tls_ca, settings.redis_tls_no_verify)
    prefix = settings.redis_prefix if settings.redis_prefix is not None else default_prefix(config)
    return asyncio.run(read_redis(settings.redis_url, prefix, tls))


def read_sqlite(data_dir: Path) -> CalendarState:
    """The embedded store's statuses and overrides, read-only (a running server keeps its
    lock; WAL lets us read beside it)."""
    from coordinator.state.sqlite import database_path, verify

    path = database_path(data_dir)
    if not path.exists():
        return CalendarState(found=False)
    verify(data_dir)
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            statuses = {
                city: records.decode_status(data)
                for city, data in conn.execute("SELECT city, data FROM city_status")
            }
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            rows = conn.execute("SELECT city, data FROM overrides") if "overrides" in tables else []
            overrides = {city: records.decode_override(data) for city, data in rows}
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot read the database ({exc})") from None
    return CalendarState(statuses=statuses, overrides=overrides)


async def read_redis(url: str, prefix: str, tls: Mapping[str, Any]) -> CalendarState:
    """The Redis store's statuses and overrides under ``prefix``, with one read."""
    from coordinator.state.redis_connect import (
        UNAVAILABLE,
        RedisClients,
        explain,
        parse_redis_url,
    )

    try:
        target = parse_redis_url(url)
    except ValueError as exc:
        raise StoreError(f"--redis-url {exc}") from None
    clients = RedisClients(target, tls)
    try:
        redis = clients.client(socket_timeout_s=5.0)
        pipe = redis.pipeline(transaction=True)
        pipe.exists(prefix + "epoch")
        pipe.hgetall(prefix + "status")
        pipe.hgetall(prefix + "overrides")
        epoch, statuses, overrides = await pipe.execute()
    except UNAVAILABLE as exc:
        raise StoreError(f"cannot reach Redis at {target.describe()}: {explain(exc)}") from None
    finally:
        await clients.aclose()
    return CalendarState(
        statuses={k: records.decode_status(v) for k, v in statuses.items()},
        overrides={k: records.decode_override(v) for k, v in overrides.items()},
        found=bool(epoch),
    )
