"""Limits that protect the service from hostile or broken clients, declared once.

Each limit has a default, a ``coordinator serve`` flag (``--limit NAME=VALUE``), and a line in
docs/security.md (a test checks that the docs name every one).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields, replace
from typing import Any

# name -> what it bounds (for --help and the docs test)
DESCRIPTIONS: dict[str, str] = {
    "hello_timeout_s": "seconds a new connection has to send hello; then it is closed (1008)",
    "max_frame_bytes": "largest websocket frame; a bigger one closes the connection (1009)",
    "ping_interval_s": "seconds between the server's websocket pings",
    "ping_timeout_s": "seconds to answer a ping before the connection is closed",
    "staff_rate_per_s": "commands per second per staff connection and per token (sustained)",
    "staff_burst": "commands a staff connection or token may send at once",
    "viewer_rate_per_s": "messages per second per anonymous connection (sustained)",
    "viewer_burst": "messages an anonymous connection may send at once",
    "viewer_strikes": "rate-limit violations after which an anonymous connection is closed",
    "max_connections": "viewers this process holds; beyond, new viewers are refused (1013)",
    "max_connections_per_address": "viewers from one client address (a venue's NAT shares one)",
    "max_outbox_frames": "frames queued for a client that is not reading; beyond, it is closed",
    "viewer_replay_events": "events replayed to a reconnecting viewer; further back: a snapshot",
    "header_timeout_s": "seconds a TCP connection has to send a whole request head; then closed",
    "max_tcp_per_address": "open TCP connections from one address; beyond, new ones are closed",
    "max_body_bytes": "the largest request body of an HTTP command; a bigger one gets 413",
    "body_timeout_s": "seconds an HTTP request has to send its whole body; then 408",
}


@dataclass(frozen=True)
class Limits:
    hello_timeout_s: float = 5.0
    max_frame_bytes: int = 16 * 1024
    ping_interval_s: float = 10.0
    ping_timeout_s: float = 10.0
    staff_rate_per_s: float = 5.0
    staff_burst: int = 20
    viewer_rate_per_s: float = 1.0
    viewer_burst: int = 10
    viewer_strikes: int = 3
    max_connections: int = 15_000
    max_connections_per_address: int = 500
    max_outbox_frames: int = 128
    viewer_replay_events: int = 100
    header_timeout_s: float = 10.0
    max_tcp_per_address: int = 1000
    max_body_bytes: int = 16 * 1024
    body_timeout_s: float = 30.0

    def with_overrides(self, pairs: list[str]) -> Limits:
        """Apply ``NAME=VALUE`` strings; raises ValueError naming a bad name or value."""
        known = {f.name: f for f in fields(self)}
        changes: dict[str, Any] = {}
        for pair in pairs:
            name, sep, value = pair.partition("=")
            name = name.strip().replace("-", "_")
            if not sep or name not in known:
                raise ValueError(
                    f"--limit {pair!r}: use NAME=VALUE with NAME one of {', '.join(known)}"
                )
            kind = int if known[name].type in ("int", int) else float
            try:
                number = kind(value)
            except ValueError:
                raise ValueError(f"--limit {name}: {value!r} is not a number") from None
            if number <= 0:
                raise ValueError(f"--limit {name}: must be above 0")
            changes[name] = number
        return replace(self, **changes)

    def as_env(self) -> str:
        return ",".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self))


class TokenBucket:
    """A rate limit: ``rate`` per second sustained, ``burst`` at once."""

    __slots__ = ("burst", "level", "rate", "updated")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.level = float(burst)
        self.updated = time.monotonic()

    def full(self) -> bool:
        """Whether the bucket has refilled completely (forgetting it then loses nothing)."""
        elapsed = time.monotonic() - self.updated
        return self.level + elapsed * self.rate >= self.burst

    def take(self, cost: float = 1) -> bool:
        """Spend ``cost`` tokens; False (nothing spent) when the bucket holds fewer (the
        caller is over the limit)."""
        now = time.monotonic()
        self.level = min(self.burst, self.level + (now - self.updated) * self.rate)
        self.updated = now
        if self.level >= cost:
            self.level -= cost
            return True
        return False
