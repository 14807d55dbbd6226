"""A TCP proxy that behaves like a slow mobile link (loopback only): what the server sends is
forwarded at ``bytes_per_s``, and the proxy reads from the server only as fast as it forwards,
through a small receive buffer, so the server feels the link's backpressure as it would feel
a phone's. What the client sends goes through at once. Runs on a thread of its own and stops
itself after ``lifetime_s`` at the latest."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from dataclasses import dataclass, field

CHUNK_BYTES = 4096


@dataclass
class SlowLink:
    target_port: int
    bytes_per_s: int = 250_000  # 2 Mbit/s
    recv_buffer_bytes: int = 8192
    lifetime_s: float = 60.0
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _stop: asyncio.Event | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def start(self) -> SlowLink:
        self._thread = threading.Thread(target=self._run, daemon=True, name="slow-link")
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the slow link did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(self._main())
        self._loop.close()

    async def _main(self) -> None:
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        stop = self._stop = asyncio.Event()
        self._ready.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), self.lifetime_s)
        server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        upstream = socket.socket()
        upstream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.recv_buffer_bytes)
        upstream.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(upstream, ("127.0.0.1", self.target_port))
            up_reader, up_writer = await asyncio.open_connection(sock=upstream, limit=CHUNK_BYTES)
            pumps = [
                asyncio.create_task(_pump(reader, up_writer, None)),
                asyncio.create_task(_pump(up_reader, writer, self.bytes_per_s)),
            ]
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
        except OSError:
            pass
        finally:
            writer.close()
            upstream.close()
            self._tasks.discard(task)


async def _pump(
    source: asyncio.StreamReader, sink: asyncio.StreamWriter, bytes_per_s: int | None
) -> None:
    while True:
        data = await source.read(CHUNK_BYTES)
        if not data:
            return
        if bytes_per_s is not None:
            await asyncio.sleep(len(data) / bytes_per_s)
        sink.write(data)
        await sink.drain()
