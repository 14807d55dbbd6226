"""A TCP proxy on a free loopback port whose network can die: ``stall()`` keeps every
connection open but lets nothing through (a phone in a tunnel, a projector whose switch lost
its uplink), ``resume()`` lets traffic flow again. The pages cannot tell it from a real dead
network: no close, no reset, just silence."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from types import TracebackType

from tests.support.harness import free_port


class StallingProxy:
    """Forwards 127.0.0.1:``port`` to 127.0.0.1:``target_port``; every thread it starts is a
    daemon, and ``close()`` closes every socket it opened."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.stalled = threading.Event()
        self.closing = threading.Event()
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.listener.settimeout(0.2)
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stall(self) -> None:
        self.stalled.set()

    def resume(self) -> None:
        self.stalled.clear()

    def close(self) -> None:
        self.closing.set()
        with self.lock:
            for sock in [self.listener, *self.sockets]:
                with contextlib.suppress(OSError):
                    sock.close()

    def __enter__(self) -> StallingProxy:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _accept(self) -> None:
        while not self.closing.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        """Both directions of one connection; while stalled, what arrives is dropped."""
        peers = {a: b, b: a}
        while not self.closing.is_set():
            try:
                ready, _, _ = select.select(list(peers), [], [], 0.2)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return self._end(a, b)
                    if not self.stalled.is_set():
                        peers[sock].sendall(data)
            except OSError:
                return self._end(a, b)
        return None

    def _end(self, a: socket.socket, b: socket.socket) -> None:
        for sock in (a, b):
            with contextlib.suppress(OSError):
                sock.close()
