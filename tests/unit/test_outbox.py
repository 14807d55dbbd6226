"""The per-client outbox, with a send whose readiness the test controls."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest

from coordinator.outbox import Outbox
from tests.support.harness import run_async


class Client:
    """Receives frames; while ``ready`` is clear its sends wait, like a full socket buffer."""

    def __init__(self) -> None:
        self.ready = asyncio.Event()
        self.ready.set()
        self.frames: list[str] = []
        self.fail_with: Exception | None = None

    async def send(self, text: str) -> None:
        await self.ready.wait()
        if self.fail_with is not None:
            raise self.fail_with
        self.frames.append(text)


def run(coro: Coroutine[Any, Any, None]) -> None:
    run_async(coro, timeout_s=30)


def test_a_client_that_keeps_up_is_sent_to_inline_without_a_task() -> None:
    async def scenario() -> None:
        client = Client()
        box = Outbox(client.send, limit=4, on_overflow=lambda: None)
        for n in range(10):
            box.push(str(n))
            assert not box.busy  # done before push returned: no task, no wake-up
        assert client.frames == [str(n) for n in range(10)]

    run(scenario())


def test_a_stalled_client_queues_in_order_and_catches_up() -> None:
    async def scenario() -> None:
        client = Client()
        box = Outbox(client.send, limit=10, on_overflow=lambda: None)
        client.ready.clear()
        for n in range(5):
            box.push(str(n))
        assert box.busy
        assert box.queued == 4
        assert client.frames == []
        client.ready.set()
        await box.flush()
        assert client.frames == ["0", "1", "2", "3", "4"]
        box.push("5")  # back on the fast path
        assert client.frames[-1] == "5"

    run(scenario())


def test_a_client_that_stays_stalled_for_a_while_gets_everything_once_it_reads() -> None:
    async def scenario() -> None:
        client = Client()
        box = Outbox(client.send, limit=10, on_overflow=lambda: None)
        client.ready.clear()
        box.push("0")
        for _ in range(5):  # the finishing task is now waiting on the stalled send
            await asyncio.sleep(0)
        box.push("1")
        client.ready.set()
        await box.flush()
        assert client.frames == ["0", "1"]
        assert not box.closed

    run(scenario())


def test_overflow_closes_and_reports() -> None:
    async def scenario() -> None:
        client = Client()
        overflowed: list[bool] = []
        box = Outbox(client.send, limit=3, on_overflow=lambda: overflowed.append(True))
        client.ready.clear()
        for n in range(5):
            box.push(str(n))
        assert overflowed == [True]
        assert box.closed
        assert box.queued == 0
        box.push("ignored")
        await box.aclose()
        assert client.frames == []

    run(scenario())


@pytest.mark.parametrize("stalled", [False, True])
def test_a_send_error_closes_the_outbox(stalled: bool) -> None:
    async def scenario() -> None:
        client = Client()
        errors: list[BaseException] = []
        box = Outbox(client.send, limit=3, on_overflow=lambda: None, on_error=errors.append)
        client.fail_with = ConnectionResetError("gone")
        if stalled:
            client.ready.clear()
        box.push("x")
        if stalled:
            client.ready.set()
            await box.flush()
        assert box.closed
        assert isinstance(errors[0], ConnectionResetError)

    run(scenario())


def test_idle_says_when_a_frame_sent_by_another_path_would_keep_the_order() -> None:
    async def scenario() -> None:
        client = Client()
        box = Outbox(client.send, limit=10, on_overflow=lambda: None)
        seen = [box.idle]
        client.ready.clear()
        box.push("0")
        seen.append(box.idle)  # a send in flight: a direct write would overtake it
        client.ready.set()
        await box.flush()
        seen.append(box.idle)
        box.close()
        seen.append(box.idle)
        assert seen == [True, False, True, False]

    run(scenario())
