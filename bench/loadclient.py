#!/usr/bin/env python3
"""A lean websocket load client: many viewers in one process, for bench/fanout.py.

It opens ``--viewers`` websockets to one server over raw non-blocking TCP sockets driven by one
``epoll`` loop, writes the HTTP upgrade by hand and parses RFC 6455 frames by hand, so that the
load generator costs less per message than the server under test. (An asyncio Protocol client
measured 32 µs of CPU per message here without uvloop, more than the server spends per
recipient; this loop costs a few µs.) Per message it keeps the payload and the time the poll
that saw it returned; the JSON is decoded after the run. It answers pings (servers close
viewers that do not) and masks every frame it sends, as a browser does.

Viewers come from many loopback addresses (127.1.X.Y, ``--per-address`` each), as phones do
from many addresses; a server may cap the viewers of one address.

Driven over stdin/stdout by bench/fanout.py, one JSON object per line:

- when every viewer has its ``welcome`` and ``snapshot`` (``--ready-frames`` text frames), it
  prints ``{"event": "ready", ...}``;
- ``stall``: the stalled viewers (``--stalled K``, opened last, with a small receive buffer)
  stop reading, as a phone whose app froze;
- ``stop`` (or end of input, or ``--max-seconds``): stalled viewers read again for
  ``--drain-seconds`` (to see what the server kept for them, and its close frame), then it
  decodes what every viewer received, writes ``--out`` and prints ``{"event": "done", ...}``.

Loopback only; every wait is bounded.
"""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import errno
import hashlib
import json
import os
import select
import socket
import sys
import time
from typing import Any

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
IN, OUT, ERR = select.EPOLLIN, select.EPOLLOUT, select.EPOLLERR | select.EPOLLHUP
CONNECTING, HANDSHAKE, OPEN, CLOSED = range(4)
monotonic = time.monotonic


def mask_frame(opcode: int, payload: bytes) -> bytes:
    """One client frame (FIN set), masked with a fresh key as RFC 6455 requires."""
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    key = os.urandom(4)
    if not n:
        return header + key
    repeated = (key * (n // 4 + 1))[:n]
    masked = int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")
    return header + key + masked.to_bytes(n, "big")


class ProtocolFailure(Exception):
    pass


class Conn:
    """One viewer's socket and what it received."""

    __slots__ = (
        "accept",
        "attempts",
        "buf",
        "close_code",
        "deadline",
        "error",
        "fragments",
        "frames_before_ready",
        "hello",
        "index",
        "lost",
        "out",
        "ready",
        "records",
        "sock",
        "source",
        "stall",
        "state",
    )

    def __init__(self, index: int, source: str, hello: bytes, stall: bool) -> None:
        self.index = index
        self.source = source
        self.hello = hello
        self.stall = stall
        self.attempts = 0
        self.sock: socket.socket | None = None
        self.state = CONNECTING
        self.deadline = 0.0
        self.buf = bytearray()
        self.out = bytearray()
        self.accept = b""
        self.frames_before_ready = 0
        self.ready = False
        self.records: list[tuple[float, bytes]] = []
        self.fragments: list[bytes] | None = None
        self.close_code: int | None = None
        self.lost = False
        self.error: str | None = None


class Client:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.ep = select.epoll()
        self.by_fd: dict[int, Conn] = {}
        self.conns: list[Conn] = []
        self.failures: dict[str, int] = {}
        self.stalled_now = False
        self.draining = False
        self.rbuf = bytearray(262144)
        self.rview = memoryview(self.rbuf)
        self.request_head = (
            f"GET {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        ).encode()

    # -- connecting ---------------------------------------------------------------------------

    def hello_for(self, stall: bool) -> bytes:
        channels = (self.args.stalled_channels if stall else self.args.channels).split(",")
        return json.dumps({"type": "hello", "channels": channels}, separators=(",", ":")).encode()

    def source_of(self, index: int) -> str:
        a = self.args.address_base + index // self.args.per_address
        return f"127.1.{a // 250}.{a % 250 + 1}"

    def start_connect(self, conn: Conn) -> None:
        conn.attempts += 1
        conn.state = CONNECTING
        conn.buf.clear()
        conn.out.clear()
        conn.frames_before_ready = 0
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        if conn.stall:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.args.stalled_rcvbuf)
        try:
            sock.bind((conn.source, 0))
        except OSError as exc:
            sock.close()
            self.retry_or_fail(conn, f"bind {conn.source}: {exc}")
            return
        conn.sock = sock
        conn.deadline = monotonic() + self.args.ready_timeout
        code = sock.connect_ex((self.args.host, self.args.port))
        if code not in (0, errno.EINPROGRESS):
            self.drop(conn)
            self.retry_or_fail(conn, f"connect: {os.strerror(code)}")
            return
        self.by_fd[sock.fileno()] = conn
        self.ep.register(sock.fileno(), OUT | ERR)

    def retry_or_fail(self, conn: Conn, reason: str) -> None:
        if conn.attempts < 3 and not conn.ready:
            self.retry.append((monotonic() + 0.2 * conn.attempts, conn))
            return
        conn.state = CLOSED
        conn.error = reason
        key = reason[:80]
        self.failures[key] = self.failures.get(key, 0) + 1

    def drop(self, conn: Conn) -> None:
        sock = conn.sock
        if sock is None:
            return
        fd = sock.fileno()
        if self.by_fd.pop(fd, None) is not None:
            with contextlib.suppress(OSError):
                self.ep.unregister(fd)
        sock.close()
        conn.sock = None

    def on_connected(self, conn: Conn) -> None:
        assert conn.sock is not None
        code = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            self.drop(conn)
            self.retry_or_fail(conn, f"connect: {os.strerror(code)}")
            return
        key = base64.b64encode(os.urandom(16))
        conn.accept = base64.b64encode(hashlib.sha1(key + GUID).digest())  # noqa: S324 (RFC 6455)
        conn.state = HANDSHAKE
        self.ep.modify(conn.sock.fileno(), IN | ERR)
        self.write(conn, self.request_head + b"Sec-WebSocket-Key: " + key + b"\r\n\r\n")

    def handshake(self, conn: Conn) -> None:
        end = conn.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(conn.buf) > 16384:
                raise ProtocolFailure("no end of HTTP headers")
            return
        head = bytes(conn.buf[:end]).decode("latin-1")
        del conn.buf[: end + 4]
        lines = head.split("\r\n")
        if not lines[0].startswith("HTTP/1.1 101"):
            raise ProtocolFailure(f"upgrade refused: {lines[0]!r}")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("sec-websocket-accept", "").encode() != conn.accept:
            raise ProtocolFailure("bad Sec-WebSocket-Accept")
        if "sec-websocket-extensions" in headers:
            raise ProtocolFailure("the server negotiated an extension we did not offer")
        conn.state = OPEN
        self.write(conn, mask_frame(OP_TEXT, conn.hello))

    # -- I/O ----------------------------------------------------------------------------------

    def write(self, conn: Conn, data: bytes) -> None:
        sock = conn.sock
        if sock is None:
            return
        if conn.out:
            conn.out += data
            return
        try:
            sent = sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self.lose(conn, f"send: {exc}")
            return
        if sent < len(data):
            conn.out += data[sent:]
            mask = OUT | ERR | (0 if self.paused(conn) else IN)
            self.ep.modify(sock.fileno(), mask)

    def flush(self, conn: Conn) -> None:
        assert conn.sock is not None
        try:
            sent = conn.sock.send(conn.out)
        except BlockingIOError:
            return
        except OSError as exc:
            self.lose(conn, f"send: {exc}")
            return
        del conn.out[:sent]
        if not conn.out:
            self.ep.modify(conn.sock.fileno(), ERR | (0 if self.paused(conn) else IN))

    def paused(self, conn: Conn) -> bool:
        return conn.stall and self.stalled_now

    def lose(self, conn: Conn, reason: str | None) -> None:
        was_ready = conn.ready
        self.drop(conn)
        if conn.state in (CONNECTING, HANDSHAKE) or not was_ready:
            self.retry_or_fail(conn, reason or "closed before ready")
            return
        conn.state = CLOSED
        conn.lost = True
        if reason and conn.close_code is None:
            conn.error = reason

    def readable(self, conn: Conn, t: float) -> None:
        sock = conn.sock
        assert sock is not None
        try:
            # Into one reused buffer: recv(large) would allocate (and maybe mmap) every time.
            n = sock.recv_into(self.rbuf)
        except BlockingIOError:
            return
        except OSError as exc:
            self.lose(conn, f"recv: {exc}")
            return
        data = self.rview[:n].tobytes()
        if not data:
            self.lose(conn, None if conn.ready else "EOF")
            return
        if conn.ready and not conn.buf and data[0] == 0x81:
            # The common case: one whole unfragmented text frame in one read.
            n = len(data)
            length = data[1]
            if length < 126:
                if n == length + 2:
                    conn.records.append((t, data[2:]))
                    return
            elif length == 126 and n >= 4 and n == 4 + (data[2] << 8 | data[3]):
                conn.records.append((t, data[4:]))
                return
        conn.buf += data
        try:
            if conn.state == HANDSHAKE:
                self.handshake(conn)
                if conn.state != OPEN:
                    return
            self.frames(conn, t)
        except ProtocolFailure as exc:
            conn.error = str(exc)
            self.lose(conn, str(exc))

    def frames(self, conn: Conn, t: float) -> None:
        buf = conn.buf
        pos = 0
        end = len(buf)
        while end - pos >= 2 and conn.sock is not None:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            if b1 & 0x80:
                raise ProtocolFailure("the server masked a frame")
            length = b1
            header = 2
            if length == 126:
                if end - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                header = 4
            elif length == 127:
                if end - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                header = 10
            if end - pos < header + length:
                break
            payload = bytes(buf[pos + header : pos + header + length])
            pos += header + length
            self.frame(conn, t, b0 & 0x80, b0 & 0x0F, payload)
        del buf[:pos]

    def frame(self, conn: Conn, t: float, fin: int, opcode: int, payload: bytes) -> None:
        if opcode == OP_PING:
            if not self.draining:  # a pong to a closed server socket would reset the rest
                self.write(conn, mask_frame(OP_PONG, payload))
            return
        if opcode == OP_PONG:
            return
        if opcode == OP_CLOSE:
            conn.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self.write(conn, mask_frame(OP_CLOSE, payload[:2]))
            self.lose(conn, None)
            return
        if opcode == OP_BINARY:
            raise ProtocolFailure("binary frame")
        if opcode == OP_TEXT and not fin:
            conn.fragments = [payload]
            return
        if opcode == OP_CONT:
            if conn.fragments is None:
                raise ProtocolFailure("continuation without a first fragment")
            conn.fragments.append(payload)
            if not fin:
                return
            payload = b"".join(conn.fragments)
            conn.fragments = None
        if conn.ready:
            conn.records.append((t, payload))
            return
        conn.frames_before_ready += 1
        if conn.frames_before_ready >= self.args.ready_frames:
            conn.ready = True
            self.waiting -= 1

    # -- the loop -----------------------------------------------------------------------------

    def poll(self, timeout: float) -> None:
        events = self.ep.poll(timeout)
        t = monotonic()
        by_fd = self.by_fd
        for fd, mask in events:
            if fd == self.stdin_fd:
                self.on_stdin()
                continue
            conn = by_fd.get(fd)
            if conn is None:
                continue
            if conn.state == CONNECTING:
                self.on_connected(conn)
                continue
            if mask & OUT and conn.out:
                self.flush(conn)
                if conn.sock is None:
                    continue
            if mask & (IN | ERR):
                self.readable(conn, t)

    def on_stdin(self) -> None:
        try:
            chunk = os.read(self.stdin_fd, 4096)
        except OSError:
            chunk = b""
        if not chunk:
            self.commands.append("stop")
            with contextlib.suppress(OSError):
                self.ep.unregister(self.stdin_fd)
            return
        self.stdin_buf += chunk
        while b"\n" in self.stdin_buf:
            line, _, rest = self.stdin_buf.partition(b"\n")
            self.stdin_buf = bytearray(rest)
            self.commands.append(line.decode().strip())

    def set_stalled(self, stalled: bool) -> None:
        self.stalled_now = stalled
        for conn in self.conns:
            if conn.stall and conn.sock is not None:
                mask = ERR | (OUT if conn.out else 0) | (0 if stalled else IN)
                self.ep.modify(conn.sock.fileno(), mask)

    def run(self) -> None:
        args = self.args
        started = monotonic()
        hard_deadline = started + args.max_seconds
        self.stdin_fd = sys.stdin.fileno()
        self.stdin_buf = bytearray()
        self.commands: collections.deque[str] = collections.deque()
        self.retry: list[tuple[float, Conn]] = []
        total = args.viewers + args.stalled
        self.conns = [
            Conn(i, self.source_of(i), self.hello_for(i >= args.viewers), i >= args.viewers)
            for i in range(total)
        ]
        self.waiting = total
        todo = collections.deque(self.conns)
        # Connect, at most --concurrency handshakes in flight; stalled viewers come last.
        next_check = started + 0.5
        while (self.waiting - self.failed_count()) > 0 and monotonic() < hard_deadline:
            in_flight = len(self.by_fd) - (total - self.waiting)
            while todo and in_flight < args.concurrency:
                self.start_connect(todo.popleft())
                in_flight += 1
            now = monotonic()
            if self.retry:
                due = [c for when, c in self.retry if when <= now]
                self.retry = [(w, c) for w, c in self.retry if w > now]
                for conn in due:
                    self.start_connect(conn)
            self.poll(0.05)
            now = monotonic()
            if now < next_check:
                continue
            next_check = now + 0.5
            for conn in list(self.by_fd.values()):
                if not conn.ready and now > conn.deadline:
                    self.drop(conn)
                    self.retry_or_fail(conn, "timeout before ready")
        ready_s = monotonic() - started
        emit(
            {
                "event": "ready",
                "connected": sum(1 for c in self.conns if c.ready and not c.stall),
                "stalled": sum(1 for c in self.conns if c.ready and c.stall),
                "failed": self.failed_count(),
                "failures": self.failures,
                "seconds": round(ready_s, 2),
                "pid": os.getpid(),
            }
        )
        self.ep.register(self.stdin_fd, IN)
        while monotonic() < hard_deadline:
            self.poll(0.5)
            if not self.commands:
                continue
            command = self.commands.popleft()
            if command == "stall":
                self.set_stalled(True)
            elif command == "stop":
                break
        if args.stalled:
            self.draining = True
            self.set_stalled(False)
            drain_end = monotonic() + args.drain_seconds
            while monotonic() < drain_end:
                self.poll(0.1)
        self.write_results(ready_s)
        for conn in self.conns:
            self.drop(conn)

    def failed_count(self) -> int:
        return sum(self.failures.values())

    def write_results(self, ready_s: float) -> None:
        arrivals: dict[int, list[float]] = {}
        duplicates = 0
        decode_errors = 0
        other: dict[str, int] = {}
        close_codes: dict[str, int] = {}
        stalled: list[dict[str, Any]] = []
        cue_bytes: dict[int, int] = {}
        frames = 0
        for conn in self.conns:
            if not conn.ready:
                continue
            seen: set[int] = set()
            cue_seqs: list[int] = []
            for t, payload in conn.records:
                frames += 1
                try:
                    message = json.loads(payload)
                except ValueError:
                    decode_errors += 1
                    continue
                if message.get("type") == "event" and message.get("kind") == "cue":
                    seq = int(message["seq"])
                    cue_bytes[len(payload)] = cue_bytes.get(len(payload), 0) + 1
                    if conn.stall:
                        cue_seqs.append(seq)
                    elif seq in seen:
                        duplicates += 1
                    else:
                        seen.add(seq)
                        arrivals.setdefault(seq, []).append(t)
                elif not conn.stall:
                    kind = f"{message.get('type')}:{message.get('kind', '')}"
                    other[kind] = other.get(kind, 0) + 1
            if conn.stall:
                stalled.append(
                    {
                        "frames": len(conn.records),
                        "cue_seqs": cue_seqs,
                        "close_code": conn.close_code,
                        "lost": conn.lost,
                        "error": conn.error,
                    }
                )
            elif conn.lost or conn.close_code is not None:
                code = str(conn.close_code) if conn.close_code is not None else "lost"
                close_codes[code] = close_codes.get(code, 0) + 1
        result = {
            "viewers": sum(1 for c in self.conns if c.ready and not c.stall),
            "failed": self.failed_count(),
            "ready_seconds": ready_s,
            "frames": frames,
            "cue_bytes": {str(k): v for k, v in cue_bytes.items()},
            "arrivals": {str(seq): times for seq, times in arrivals.items()},
            "duplicates": duplicates,
            "decode_errors": decode_errors,
            "other_messages": other,
            "closed": close_codes,
            "errors": sum(1 for c in self.conns if c.error and not c.stall),
            "stalled": stalled,
        }
        tmp = self.args.out + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(result, handle)
        os.replace(tmp, self.args.out)
        emit({"event": "done", "frames": frames, "out": self.args.out})


def emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/ws")
    parser.add_argument("--viewers", type=int, required=True, help="viewers that keep reading")
    parser.add_argument("--stalled", type=int, default=0, help="viewers that stop reading")
    parser.add_argument("--channels", default="cues:paris", help="channels in each hello")
    parser.add_argument("--stalled-channels", default="cues:paris,status:*")
    parser.add_argument("--stalled-rcvbuf", type=int, default=4096, help="SO_RCVBUF of stalled")
    parser.add_argument("--ready-frames", type=int, default=2, help="frames before ready")
    parser.add_argument("--concurrency", type=int, default=200, help="handshakes in flight")
    parser.add_argument("--per-address", type=int, default=250, help="viewers per source IP")
    parser.add_argument(
        "--address-base", type=int, default=0, help="first source address (one per process)"
    )
    parser.add_argument("--ready-timeout", type=float, default=30.0, help="per viewer, seconds")
    parser.add_argument("--max-seconds", type=float, default=900.0, help="hard stop")
    parser.add_argument("--drain-seconds", type=float, default=2.0)
    parser.add_argument("--out", required=True, help="where to write the results (JSON)")
    return parser


def main() -> int:
    args = build_parser().parse_args()
    with contextlib.suppress(ValueError, OSError):
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    Client(args).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
