"""The TCP edge: a cap on open connections per client address, below the open-files limit,
and a deadline for every request head.

uvicorn closes idle keep-alive connections, but holds a connection whose request head never
ends, and caps nothing below the process's open-files limit: ~1,100 silent connections from
one address used every descriptor, and then no page, websocket or command could connect.
Here each accepted connection is counted against its address before uvicorn sees it (over
the cap it is closed at once, which frees its descriptor), and must finish each request head
within ``header_timeout_s``. A websocket stays counted until it closes; its ``hello``
deadline is the session's.

The one reach into uvicorn's internals: :class:`GuardedHttp` subclasses the HTTP protocol
class uvicorn would choose itself ("auto": httptools when installed, else h11) and finds its
:class:`TcpGuard` in the lifespan state uvicorn hands every protocol (``app_state``).
tests/unit/test_tcp_guard.py fails if uvicorn changes under it.
"""

from __future__ import annotations

import asyncio
import collections
import errno
import logging
import resource
from collections.abc import Container
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

from coordinator.limits import Limits
from coordinator.logs import Throttled

log = logging.getLogger("coordinator")

GUARD_KEY = "tcp_guard"
# Descriptors kept for everything that is not a client: the database and its WAL, Redis
# connections, the log, the listening sockets, the OSC socket, files being served.
RESERVED_FDS = 64
ACCEPT_OUT_OF_RESOURCES = "socket.accept() out of system resource"


def raise_open_files_limit() -> int:
    """Raise this process's soft open-files limit to its hard limit (a shell or a systemd
    unit often leaves 1,024); returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            return soft
        return target
    return soft


class TcpGuard:
    """Open connections by client address, and the deadline for request heads."""

    def __init__(
        self,
        *,
        per_address: int,
        total: int,
        header_timeout_s: float,
        proxies: Container[str] = (),
    ) -> None:
        self.per_address = per_address
        # Trusted proxies carry many clients on one address: only the total caps them (their
        # clients are capped one by one, by their forwarded address, after hello).
        self.proxies = proxies
        self.total = total
        self.header_timeout_s = header_timeout_s
        self.open: collections.Counter[str] = collections.Counter()
        self.open_total = 0
        self.refusals = Throttled(log)

    @classmethod
    def for_limits(
        cls, limits: Limits, open_files: int | None = None, proxies: Container[str] = ()
    ) -> TcpGuard:
        """The caps that fit this process's open-files limit: every client connection
        together below it, one address at most half of it (and ``max_tcp_per_address``)."""
        if open_files is None:
            open_files = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        budget = max(16, open_files - RESERVED_FDS)
        if budget < limits.max_connections:
            log.warning(
                "the open-files limit (%d) holds about %d client connections, fewer than "
                "max_connections (%d): raise it (systemd: LimitNOFILE=; a shell: ulimit -n), "
                "or lower max_connections (docs/deploy.md)",
                open_files,
                budget,
                limits.max_connections,
            )
        return cls(
            per_address=min(limits.max_tcp_per_address, max(1, budget // 2)),
            total=budget,
            header_timeout_s=limits.header_timeout_s,
            proxies=proxies,
        )

    def admit(self, address: str) -> bool:
        """Count a new connection; False (and nothing counted) when a cap is reached."""
        over_address = self.open[address] >= self.per_address and address not in self.proxies
        if self.open_total >= self.total or over_address:
            reason = "total" if self.open_total >= self.total else "per_address"
            self.refusals.note("tcp_refused", reason=reason, client=address)
            return False
        self.open[address] += 1
        self.open_total += 1
        return True

    def release(self, address: str) -> None:
        self.open_total -= 1
        self.open[address] -= 1
        if self.open[address] <= 0:
            del self.open[address]


class GuardedHttp(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's HTTP protocol, counted by the guard and with a deadline per request head.

    Without a guard in the lifespan state (an app served by other means) it is uvicorn's
    protocol unchanged."""

    _guard: TcpGuard | None = None
    _address = "-"
    _refused = False
    _head_timer: asyncio.TimerHandle | None = None
    _waiting_for: Any = None  # the cycle that was current when the head deadline was armed

    def connection_made(self, transport: asyncio.Transport) -> None:
        guard = self.app_state.get(GUARD_KEY)
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if peer else "-"
        if isinstance(guard, TcpGuard):
            if not guard.admit(address):
                self._refused = True
                transport.abort()  # the descriptor is freed; uvicorn never saw it
                return
            self._guard, self._address = guard, address
        super().connection_made(transport)
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused:
            return
        self._cancel_head_deadline()
        self._release()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._after_input()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self._after_input() and not self.transport.is_closing():
            self._arm_head_deadline()  # keep-alive: the next head has its own deadline

    # -- the head deadline and the hand-over to a websocket ----------------------------------

    def _after_input(self) -> bool:
        """After uvicorn read input: True when the connection is no longer ours to time (it
        became a websocket) or a new request's head arrived."""
        if self.transport.get_protocol() is not self:  # upgraded: the websocket owns it now
            self._cancel_head_deadline()
            self._hand_over(self.transport.get_protocol())
            return True
        if self._head_timer is not None and self.cycle is not self._waiting_for:
            self._cancel_head_deadline()
            return True
        return False

    def _arm_head_deadline(self) -> None:
        if self._guard is None:
            return
        self._cancel_head_deadline()
        self._waiting_for = self.cycle
        self._head_timer = self.loop.call_later(self._guard.header_timeout_s, self._head_late)

    def _cancel_head_deadline(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        self._head_timer = None
        waiting = self.cycle is self._waiting_for and (
            self.cycle is None or self.cycle.response_complete
        )
        if waiting and self.transport.get_protocol() is self and not self.transport.is_closing():
            assert self._guard is not None
            self._guard.refusals.note("tcp_head_timeout", level=logging.INFO, client=self._address)
            self.transport.close()

    def _hand_over(self, protocol: Any) -> None:
        """The websocket protocol now owns the transport: release the count when it ends.

        What it keeps holds the guard and the address, not this protocol: uvicorn drops it
        after the upgrade, and its parser, buffers and request would otherwise live as long as
        the websocket (about 5 KB a viewer, measured)."""
        if self._guard is None or getattr(protocol, "_tcp_counted", False):
            return
        protocol._tcp_counted = True
        protocol.connection_lost = ReleaseWhenLost(self._guard, self._address, protocol)
        self._guard = None  # the websocket's count now

    def _release(self) -> None:
        if self._guard is not None:
            self._guard.release(self._address)
            self._guard = None


class ReleaseWhenLost:
    """A websocket protocol's ``connection_lost``, which also gives its count back (once, like
    ``GuardedHttp._release``)."""

    __slots__ = ("address", "ended", "guard")

    def __init__(self, guard: TcpGuard, address: str, protocol: Any) -> None:
        self.guard: TcpGuard | None = guard
        self.address, self.ended = address, protocol.connection_lost

    def __call__(self, exc: Exception | None) -> None:
        if self.guard is not None:
            self.guard.release(self.address)
            self.guard = None
        self.ended(exc)


def log_accept_errors(loop: asyncio.AbstractEventLoop) -> None:
    """Count failed accepts (out of descriptors) in one line every few seconds instead of
    asyncio's traceback per attempt (it retries a whole backlog at a time: 320,937 tracebacks
    in 45 s were seen). Other loop errors go to the handler that was there."""
    previous = loop.get_exception_handler()
    throttle = Throttled(log)

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") == ACCEPT_OUT_OF_RESOURCES:
            exc = context.get("exception")
            code = getattr(exc, "errno", None)
            throttle.note("accept_failed", error=errno.errorcode.get(code or 0, str(code)))
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
