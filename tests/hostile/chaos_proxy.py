"""A small asyncio TCP proxy for the tests that break connections on purpose (loopback only).

Each accepted connection is forwarded to ``127.0.0.1:target_port`` with faults drawn from a
seeded random generator: extra latency on every chunk, a clean cut (FIN both ways) or a reset
(RST) after a random time, or a stall (nothing forwarded) before the cut. The proxy runs its
own event loop on a thread, holds at most ``max_connections`` and stops itself after
``lifetime_s`` at the latest.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
from dataclasses import dataclass, field


@dataclass
class Faults:
    """What the proxy did, for the report."""

    connections: int = 0
    cuts: int = 0
    resets: int = 0
    stalls: int = 0
    delayed_chunks: int = 0

    @property
    def injected(self) -> int:
        return self.cuts + self.resets + self.stalls


@dataclass
class ChaosProxy:
    target_port: int
    seed: int = 1
    min_life_s: float = 0.3
    max_life_s: float = 1.5
    max_delay_s: float = 0.05
    max_connections: int = 200
    lifetime_s: float = 120.0
    calm: bool = False  # forward faithfully (set at the end of a test so clients can settle)
    faults: Faults = field(default_factory=Faults)
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _server: asyncio.Server | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _rng: random.Random = field(default_factory=random.Random)
    _stop: asyncio.Event | None = None

    def start(self) -> ChaosProxy:
        self._rng.seed(self.seed)
        self._thread = threading.Thread(target=self._run, daemon=True, name="chaos-proxy")
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the proxy did not start")
        return self

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(self._main())
        self._loop.close()

    async def _main(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        stop = self._stop = asyncio.Event()
        self._ready.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), self.lifetime_s)
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            if len(self._tasks) > self.max_connections:
                writer.close()
                return
            self.faults.connections += 1
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
            except OSError:
                writer.close()
                return
            await self._forward_with_faults(reader, writer, up_reader, up_writer)
        finally:
            self._tasks.discard(task)

    async def _forward_with_faults(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
    ) -> None:
        life = self._rng.uniform(self.min_life_s, self.max_life_s)
        fate = self._rng.choice(["cut", "reset", "stall"])
        stalled = asyncio.Event()
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer, stalled)),
            asyncio.create_task(self._pump(up_reader, writer, stalled)),
        ]
        try:
            done, _ = await asyncio.wait(pumps, timeout=life, return_when=asyncio.FIRST_COMPLETED)
            if not done and not self.calm:
                if fate == "stall":
                    self.faults.stalls += 1
                    stalled.set()
                    await asyncio.sleep(self._rng.uniform(0.2, 0.6))
                    _close(writer, up_writer)
                elif fate == "reset":
                    self.faults.resets += 1
                    _reset(writer, up_writer)
                else:
                    self.faults.cuts += 1
                    _close(writer, up_writer)
            elif not done:  # calm: just forward until either side ends
                await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
                _close(writer, up_writer)
            else:
                _close(writer, up_writer)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)

    async def _pump(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, stalled: asyncio.Event
    ) -> None:
        while True:
            data = await source.read(65536)
            if not data:
                return
            if stalled.is_set():
                continue  # swallowed: a blackholed link
            if not self.calm and self.max_delay_s:
                self.faults.delayed_chunks += 1
                await asyncio.sleep(self._rng.uniform(0, self.max_delay_s))
            sink.write(data)
            await sink.drain()


def _close(*writers: asyncio.StreamWriter) -> None:
    for writer in writers:
        with contextlib.suppress(Exception):
            writer.close()


def _reset(*writers: asyncio.StreamWriter) -> None:
    for writer in writers:
        sock = writer.get_extra_info("socket")
        with contextlib.suppress(Exception):
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
