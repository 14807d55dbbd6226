"""Tools for the hardening tests: a websocket client written by hand (to send what no polite
client library would), a control viewer that keeps reading throughout a hostile test, and the
checks that the state and the audit log are intact afterwards.

Everything here talks to 127.0.0.1 only, and every loop is bounded by a deadline.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.support.harness import ServerProcess

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def encode_frame(
    opcode: int, payload: bytes, *, fin: bool = True, rsv1: bool = False, mask: bool = True
) -> bytes:
    """One websocket frame as a client sends it (masked), with whatever bits we like."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    length = len(payload)
    mask_bit = 0x80 if mask else 0
    if length < 126:
        header = bytes([first, mask_bit | length])
    elif length < 65536:
        header = bytes([first, mask_bit | 126]) + struct.pack("!H", length)
    else:
        header = bytes([first, mask_bit | 127]) + struct.pack("!Q", length)
    if not mask:
        return header + payload
    key = os.urandom(4)
    body = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return header + key + body


class RawWs:
    """A websocket client on a bare socket: the handshake by hand, frames by hand."""

    def __init__(
        self,
        port: int,
        *,
        path: str = "/ws",
        headers: dict[str, str] | None = None,
        rcvbuf: int | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            # Before connect, so the window the server sees is small from the start.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout_s)
        self.sock.connect(("127.0.0.1", port))
        self.port = port
        self.path = path
        self.extra_headers = headers or {}
        self.buffer = b""
        self.status = 0
        self.response_headers: dict[str, str] = {}

    def handshake(self) -> int:
        """Send the upgrade request; return the HTTP status of the answer."""
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {self.path} HTTP/1.1",
            f"Host: 127.0.0.1:{self.port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            *(f"{k}: {v}" for k, v in self.extra_headers.items()),
        ]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        deadline = time.monotonic() + 5
        while b"\r\n\r\n" not in self.buffer:
            if time.monotonic() > deadline:
                raise AssertionError("no handshake answer")
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        self.status = int(status_line.split()[1]) if status_line else 0
        for line in header_lines:
            name, _, value = line.partition(":")
            self.response_headers[name.strip().lower()] = value.strip()
        return self.status

    def send_frame(self, opcode: int, payload: bytes, **kwargs: Any) -> None:
        self.sock.sendall(encode_frame(opcode, payload, **kwargs))

    def send_json(self, message: dict[str, Any]) -> None:
        self.send_frame(OP_TEXT, json.dumps(message).encode())

    def _fill(self, need: int, deadline: float) -> bool:
        while len(self.buffer) < need:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(65536)
            if not chunk:
                return False
            self.buffer += chunk
        return True

    def read_frame(self, timeout_s: float = 5.0) -> tuple[int, bytes] | None:
        """The next frame from the server as (opcode, payload); None at end of stream."""
        deadline = time.monotonic() + timeout_s
        if not self._fill(2, deadline):
            return None
        opcode = self.buffer[0] & 0x0F
        length = self.buffer[1] & 0x7F
        offset = 2
        if length == 126:
            if not self._fill(4, deadline):
                return None
            length = struct.unpack("!H", self.buffer[2:4])[0]
            offset = 4
        elif length == 127:
            if not self._fill(10, deadline):
                return None
            length = struct.unpack("!Q", self.buffer[2:10])[0]
            offset = 10
        if not self._fill(offset + length, deadline):
            return None
        payload = self.buffer[offset : offset + length]
        self.buffer = self.buffer[offset + length :]
        return opcode, payload

    def recv_json(self, timeout_s: float = 5.0) -> dict[str, Any]:
        """The next text message (pings are answered, other control frames skipped)."""
        deadline = time.monotonic() + timeout_s
        while True:
            frame = self.read_frame(max(0.01, deadline - time.monotonic()))
            if frame is None:
                raise AssertionError("the server closed the connection")
            opcode, payload = frame
            if opcode == OP_TEXT:
                parsed: dict[str, Any] = json.loads(payload)
                return parsed
            if opcode == OP_CLOSE:
                raise AssertionError(f"closed by the server: {close_code(payload)}")
            if opcode == OP_PING:
                self.send_frame(OP_PONG, payload)

    def wait_close(self, timeout_s: float = 10.0) -> int | None:
        """Read (answering nothing) until a close frame or EOF: the close code, or None for
        a connection that ended without one."""
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"the connection was still open after {timeout_s}s")
            try:
                frame = self.read_frame(remaining)
            except TimeoutError:
                continue
            except ConnectionResetError:
                return None
            if frame is None:
                return None
            if frame[0] == OP_CLOSE:
                return close_code(frame[1])

    def at_eof_within(self, timeout_s: float) -> float | None:
        """Seconds until the server ended the TCP stream (reading and discarding all), or
        None if it was still open after ``timeout_s``."""
        started = time.monotonic()
        deadline = started + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                return None
            except ConnectionResetError:
                return time.monotonic() - started
            if not chunk:
                return time.monotonic() - started

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def close_code(payload: bytes) -> int | None:
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None


# -- the control viewer ------------------------------------------------------------------------


@dataclass
class ControlViewer:
    """A public viewer connected before the hostile part of a test, read on its own thread
    from start to end: it must see every event, in order, and never be disconnected."""

    url: str
    welcome: dict[str, Any] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    arrivals: dict[int, float] = field(default_factory=dict)  # seq -> monotonic arrival time
    closed_with: int | None = None
    closed: bool = False
    _conn: ClientConnection | None = None
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> ControlViewer:
        self._conn = self._stack.enter_context(connect(self.url, open_timeout=10))
        self._conn.send(json.dumps({"type": "hello"}))
        self.welcome = json.loads(self._conn.recv(timeout=5))
        assert self.welcome["type"] == "welcome", self.welcome
        snapshot = json.loads(self._conn.recv(timeout=5))
        assert snapshot["type"] == "snapshot", snapshot
        self._thread = threading.Thread(target=self._read, daemon=True, name="control-viewer")
        self._thread.start()
        return self

    def _read(self) -> None:
        assert self._conn is not None
        while True:
            try:
                data = self._conn.recv()
            except ConnectionClosed as exc:
                self.closed_with = exc.rcvd.code if exc.rcvd is not None else None
                self.closed = True
                return
            except Exception:  # the socket was closed under us by stop()
                self.closed = True
                return
            message = json.loads(data)
            with self._lock:
                self.messages.append(message)
                if message.get("type") == "event":
                    self.arrivals[int(message["seq"])] = time.monotonic()

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [m for m in self.messages if m.get("type") == "event"]

    def wait_for_seq(self, seq: int, timeout_s: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for event in self.events():
                if event["seq"] == seq:
                    return event
            assert not self.closed, f"the control viewer was disconnected ({self.closed_with})"
            time.sleep(0.01)
        raise AssertionError(f"the control viewer did not receive seq {seq} in {timeout_s}s")

    def assert_complete(self, server: ServerProcess, *, replay: bool = True) -> None:
        """Every event a viewer should get, from the welcome on, each once, in order, and still
        connected. What a viewer should get is what the server replays to a public viewer that
        reconnects with ``since`` (events only operators see, such as moves of a frozen cue
        channel, go to nobody else, live or replayed)."""
        assert not self.closed, f"the control viewer was disconnected ({self.closed_with})"
        seqs = [e["seq"] for e in self.events()]
        assert seqs == sorted(set(seqs)), f"repeats or disorder: {seqs}"
        if not seqs:
            return
        if not replay:  # every event of the test is for the audience: no gap at all
            first = self.welcome["seq"] + 1
            assert seqs == list(range(first, first + len(seqs))), f"gaps: {seqs}"
            return
        expected = replayed_seqs(server, self.welcome["seq"], self.welcome["epoch"], seqs[-1])
        if expected is not None:
            missing = sorted(set(expected) - set(seqs))
            extra = sorted(set(seqs) - set(expected))
            assert not missing and not extra, f"missed {missing}, not replayed {extra}"

    def stop(self) -> None:
        self._stack.close()
        if self._thread is not None:
            self._thread.join(5)


@contextlib.contextmanager
def control_viewer(server: ServerProcess) -> Iterator[ControlViewer]:
    viewer = ControlViewer(server.ws_url).start()
    try:
        yield viewer
    finally:
        viewer.stop()


def replayed_seqs(server: ServerProcess, since: int, epoch: str, until: int) -> list[int] | None:
    """The seqs a public viewer reconnecting with ``since`` is replayed, up to ``until``; None
    when the server answers with a snapshot instead (too far back)."""
    with contextlib.ExitStack() as stack:
        conn = stack.enter_context(connect(server.ws_url, open_timeout=10))
        conn.send(json.dumps({"type": "hello", "since": since, "epoch": epoch}))
        welcome = json.loads(conn.recv(timeout=5))
        assert welcome["type"] == "welcome", welcome
        seqs: list[int] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                # The replay may take a moment to start; once it flows, a pause ends it.
                message = json.loads(conn.recv(timeout=0.5 if seqs else 10))
            except TimeoutError:
                break  # the replay is over: nothing more comes until a new event
            except ConnectionClosed:
                return None  # dropped mid-replay: no verdict from here
            if message["type"] == "snapshot":
                return None
            if message["type"] == "event":
                if message["seq"] > until:
                    break
                seqs.append(message["seq"])
                if message["seq"] == until:
                    break
        return seqs


# -- intact state and audit log ----------------------------------------------------------------

_probe_counter = iter(range(1, 1_000_000))


def audit_log(server: ServerProcess, admin_token: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = server.get_json(
        "/api/log", {"Authorization": f"Bearer {admin_token}"}
    )["entries"]
    return entries


def city_of(snapshot: dict[str, Any], city_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in snapshot["cities"] if c["id"] == city_id)
    return found


def legit_change(server: ServerProcess, admin_token: str, city: str = "helsinki") -> int:
    """An admin's ordinary change (the note of a city): returns its seq."""
    n = next(_probe_counter)
    code, ack = server.post_json(
        f"/api/cities/{city}/status",
        {"id": f"probe-{n}-{time.monotonic_ns()}", "state": "preparing", "note": f"probe {n}"},
        admin_token,
    )
    assert code == 200, ack
    return int(ack["seq"])


def assert_intact(
    server: ServerProcess,
    viewer: ControlViewer,
    admin_token: str,
    *,
    expected_audit: list[str],
    before: dict[str, Any] | None = None,
    changed_cities: tuple[str, ...] = (),
    replay: bool = True,
) -> None:
    """The end of every hostile test: the control viewer receives a legitimate change, saw
    every event in order; the audit log holds exactly ``expected_audit`` command ids (then the
    probe's); and cities other than ``changed_cities`` are as they were in ``before``."""
    assert server.proc is not None and server.proc.poll() is None, "the server died"
    seq = legit_change(server, admin_token)
    event = viewer.wait_for_seq(seq)
    assert event["kind"] == "status" and event["city"] == "helsinki"
    viewer.assert_complete(server, replay=replay)
    ids = [e["command_id"] for e in audit_log(server, admin_token)]
    assert ids[-1].startswith("probe-")
    assert [i for i in ids if not i.startswith("probe-")] == expected_audit, ids
    after = server.get_json("/api/state")
    if before is not None:
        untouched = {c["id"] for c in before["cities"]} - {*changed_cities, "helsinki"}
        for city in untouched:
            # Presence (``online``) follows connections; everything else must be as it was.
            was = {k: v for k, v in city_of(before, city).items() if k != "online"}
            now = {k: v for k, v in city_of(after, city).items() if k != "online"}
            assert now == was, city
    text = server.log()
    assert "Traceback" not in text, text[-3000:]
    assert "Exception in ASGI application" not in text


def rss_kib(pid: int) -> int:
    """Resident memory of a process, from /proc."""
    for line in open(f"/proc/{pid}/status", encoding="ascii"):  # noqa: SIM115
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def wait_until(predicate: Callable[[], bool], timeout_s: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"not met within {timeout_s}s: {what}")
