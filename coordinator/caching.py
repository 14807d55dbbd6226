"""Bytes built once per state change and served to every poller, with ETags.

A calendar app polls the feed, a bot polls ``/api/state``: thousands of identical requests
between two changes. Each cache holds the encoded body and its validators, keyed by whatever
the body depends on, and is dropped when the store reports a change that matters to it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime


@dataclass(frozen=True)
class CachedBody:
    body: bytes
    etag: str
    last_modified: datetime | None = None

    @property
    def last_modified_http(self) -> str | None:
        if self.last_modified is None:
            return None
        return format_datetime(self.last_modified.replace(microsecond=0), usegmt=True)


def strong_etag(body: bytes) -> str:
    return f'"{hashlib.sha256(body).hexdigest()[:32]}"'


class VersionedCache:
    """Bodies by key, valid until :meth:`invalidate` (called on each relevant store event)."""

    def __init__(self, max_entries: int = 64) -> None:
        self.version = 0
        self.max_entries = max_entries
        self._entries: dict[Hashable, tuple[int, CachedBody]] = {}

    def invalidate(self) -> None:
        self.version += 1

    def peek(self, key: Hashable) -> CachedBody | None:
        """The cached body for ``key`` if it is current, else None."""
        hit = self._entries.get(key)
        return hit[1] if hit is not None and hit[0] == self.version else None

    async def get(self, key: Hashable, build: Callable[[], Awaitable[CachedBody]]) -> CachedBody:
        """The cached body for ``key``, building it if the state changed since."""
        hit = self.peek(key)
        if hit is not None:
            return hit
        version = self.version
        body = await build()
        if len(self._entries) >= self.max_entries:
            self._entries.clear()  # keys are few (feeds x hosts); a reset is simplest
        self._entries[key] = (version, body)
        return body
