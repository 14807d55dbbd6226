"""Per-client outboxes: send at once when the client keeps up, queue (bounded) when it doesn't.

Fan-out cost is dominated by one ``send()`` per recipient. A task per client per message
roughly doubles that cost and brings second-long pauses at ten thousand viewers, while a plain
``await send`` loop stalls everyone behind the first client whose socket buffer is full. An
:class:`Outbox` takes the fast path of the plain loop and keeps the safety of queues:

- When nothing is queued for the client, the send coroutine is *started inline*. Under uvicorn
  a send whose transport is writable completes without suspending, so the common case costs no
  task, no wake-up and no context switch.
- If the send does suspend (the client's buffer is full), the half-run coroutine is handed to
  one task that finishes it and drains what queues up meanwhile. Only stalled clients ever get
  a task, and the fan-out loop never waits for them.
- Past ``limit`` queued frames the client counts as stalled: the outbox closes and calls
  ``on_overflow`` (the caller closes the socket; the client reconnects with ``since``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

SendFn = Callable[[str], Coroutine[Any, Any, None]]


class Outbox:
    """Frames for one client, sent in order, never making the sender wait."""

    # One per open websocket: slots, and no queue until a frame has to wait (memory).
    __slots__ = (
        "_on_error",
        "_on_overflow",
        "_queue",
        "_send",
        "_task",
        "closed",
        "idle",
        "limit",
    )

    def __init__(
        self,
        send: SendFn,
        *,
        limit: int,
        on_overflow: Callable[[], None],
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self._send = send
        self.limit = limit
        self._on_overflow = on_overflow
        self._on_error = on_error
        self._queue: collections.deque[str] | None = None
        self._task: asyncio.Task[None] | None = None
        self.closed = False
        # Open with nothing in flight: what is sent next, by any path, goes out in order.
        # An attribute, not a property: the fan-out reads it once per recipient.
        self.idle = True

    @property
    def busy(self) -> bool:
        """Whether a send is in progress (the client is not keeping up right now)."""
        return self._task is not None

    @property
    def queued(self) -> int:
        return len(self._queue) if self._queue is not None else 0

    def push(self, text: str) -> None:
        """Send ``text`` after everything pushed before it."""
        if self.closed:
            return
        if self._task is not None:
            if self._queue is None:
                self._queue = collections.deque()
            if len(self._queue) >= self.limit:
                self.close()
                self._on_overflow()
                return
            self._queue.append(text)
            return
        self._start(text)

    def close(self) -> None:
        """Drop what is queued; later pushes do nothing."""
        self.closed = True
        self.idle = False
        self._queue = None

    def _start(self, text: str) -> None:
        coro = self._send(text)
        try:
            waiting_on = coro.send(None)
        except StopIteration:
            return  # sent without suspending: the common case
        except Exception as exc:
            self._fail(exc)
            return
        self.idle = False
        self._task = asyncio.get_running_loop().create_task(self._finish(coro, waiting_on))

    async def _finish(self, coro: Coroutine[Any, Any, None], waiting_on: Any) -> None:
        try:
            await _resume(coro, waiting_on)
            while self._queue and not self.closed:
                await self._send(self._queue.popleft())
            self._queue = None  # drained: its memory goes back until the next stall
        except Exception as exc:
            self._fail(exc)
        finally:
            self._task = None
            self.idle = not self.closed

    def _fail(self, exc: BaseException) -> None:
        self.close()
        if self._on_error is not None:
            self._on_error(exc)

    async def flush(self) -> None:
        """Wait until everything pushed so far is sent (or the outbox closed)."""
        while self._task is not None:
            await asyncio.shield(self._task)

    async def aclose(self) -> None:
        """Close and wait for (cancel) a send in progress."""
        self.close()
        task = self._task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _resume(coro: Coroutine[Any, Any, None], waiting_on: Any) -> None:
    """Drive a coroutine that was started by hand and suspended on ``waiting_on``, exactly as
    an asyncio task would: wait for what it waits on, then resume it, until it returns."""
    while True:
        try:
            if waiting_on is None:  # a bare yield (asyncio.sleep(0)): just give way once
                await asyncio.sleep(0)
            else:
                # The future was yielded with its "a task waits on me" flag raised; a task
                # lowers it before waiting, and awaiting a pending future with the flag up
                # raises "await wasn't used with future". Do what the task would.
                waiting_on._asyncio_future_blocking = False
                await waiting_on
        except BaseException as exc:
            try:
                waiting_on = coro.throw(exc)
            except StopIteration:
                return
            continue
        try:
            waiting_on = coro.send(None)
        except StopIteration:
            return
