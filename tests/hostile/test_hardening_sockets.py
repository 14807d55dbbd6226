"""Hostile test 16 (docs/security.md): idle, half-sent and slowloris TCP connections from one
address, against a server whose open-files limit is the 1,024 a shell or systemd leaves it."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from websockets.sync.client import connect

from tests.conftest import Tokens
from tests.support.harness import ServerProcess

# A second loopback address: the honest client is another address than the attacker's, as it
# would be on the internet (both still reach the server on 127.0.0.1).
HONEST_SOURCE = "127.0.0.2"
# The attacker's: not 127.0.0.1, which the server trusts as a local reverse proxy by default
# (--forwarded-allow-ips) and so caps only in total, since a proxy carries many clients.
ATTACK_SOURCE = "127.0.0.3"


class LimitedServer(ServerProcess):
    """The server started with the open-files limit a shell or a systemd unit gives it."""

    def __init__(self, *args: object, nofile: tuple[int, int], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.nofile = nofile

    def command(self) -> list[str]:
        soft, hard = self.nofile
        return ["prlimit", f"--nofile={soft}:{hard}", "--", *super().command()]


def _start(tmp_path: Path, config: Path, secrets: Path, nofile: tuple[int, int]) -> LimitedServer:
    server = LimitedServer(
        config,
        tmp_path / f"data-{nofile[0]}-{nofile[1]}",
        extra_args=["--secrets", str(secrets), "--limit", "header_timeout_s=3"],
        nofile=nofile,
    )
    server.start()
    return server


def _soft_nofile(pid: int) -> int:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[3])
    raise AssertionError("no open-files line")


def _honest_client(port: int, token: str, timeout_s: float = 2.0) -> float:
    """From another address: the dashboard, its state, a websocket and an acknowledged
    command. Returns the seconds it all took; raises if any of it fails."""
    started = time.monotonic()
    for path in ("/", "/static/dashboard.js", "/api/state"):
        conn = http.client.HTTPConnection(
            "127.0.0.1", port, timeout=timeout_s, source_address=(HONEST_SOURCE, 0)
        )
        conn.request("GET", path)
        assert conn.getresponse().status == 200, path
        conn.close()
    sock = socket.create_connection(
        ("127.0.0.1", port), timeout=timeout_s, source_address=(HONEST_SOURCE, 0)
    )
    with connect(f"ws://127.0.0.1:{port}/ws", sock=sock, open_timeout=timeout_s) as ws:
        ws.send(json.dumps({"type": "hello", "token": token}))
        command_id = f"honest-{time.monotonic_ns()}"
        ws.send(json.dumps({"type": "status", "id": command_id, "city": "paris",
                            "state": "preparing"}))  # fmt: skip
        deadline = started + timeout_s
        while True:
            message = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            if message.get("id") == command_id:
                assert message["type"] == "ack", message
                break
    return time.monotonic() - started


@contextlib.contextmanager
def _attack(port: int, count: int) -> Iterator[list[socket.socket]]:
    """``count`` connections from ATTACK_SOURCE, a third each: silent, a request head cut off
    halfway, and a slowloris trickling one header byte a second. All closed at the end."""
    held: list[socket.socket] = []
    stop = threading.Event()

    def trickle(socks: list[socket.socket]) -> None:
        while not stop.wait(1.0):
            for sock in socks:
                with contextlib.suppress(OSError):
                    sock.send(b"X")

    try:
        for n in range(count):
            sock = socket.socket()
            sock.bind((ATTACK_SOURCE, 0))
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                sock.connect(("127.0.0.1", port))  # the server's backlog takes it
            held.append(sock)
            time.sleep(0.0005 if n % 10 else 0.002)
        time.sleep(0.3)
        for n, sock in enumerate(held):
            with contextlib.suppress(OSError):
                if n % 3 == 1:
                    sock.send(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                elif n % 3 == 2:
                    sock.send(b"GET / HTTP/1.1\r\nX-Lor")
        trickler = threading.Thread(target=trickle, args=(held[2::3],), daemon=True)
        trickler.start()
        yield held
    finally:
        stop.set()
        for sock in held:
            sock.close()


def _still_open(socks: list[socket.socket]) -> int:
    """How many of the attacker's connections the server has not closed."""
    open_count = 0
    for sock in socks:
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            open_count += 1
            continue
        except OSError:
            continue
        if data:  # an answer (400, 408): the server is closing it
            continue
    return open_count


def test_1500_idle_half_sent_and_slowloris_connections_never_lock_out_an_honest_client(
    tmp_path: Path, config_path: Path, secrets_path: Path, tokens: Tokens
) -> None:
    # The soft limit a shell leaves, the hard limit unraisable: the worst case for the server.
    server = _start(tmp_path, config_path, secrets_path, (1024, 1024))
    try:
        baseline = _honest_client(server.port, tokens.paris)
        with _attack(server.port, 1500) as held:
            during = [_honest_client(server.port, tokens.paris) for _ in range(3)]
            # header_timeout_s=3 here: every connection that never finished a head is closed.
            time.sleep(3 + 2)
            left = _still_open(held)
            after = _honest_client(server.port, tokens.paris)
        log_bytes = len(server.log().encode())
        print(
            f"honest client s: baseline {baseline:.3f}, during {max(during):.3f}, after "
            f"{after:.3f}; attacker connections still open after 5 s: {left}; "
            f"log {log_bytes} bytes"
        )
        assert max(during) < 2.0 and after < 2.0
        assert left == 0, f"{left} connections without a request head are still open"
        assert log_bytes < 1024 * 1024
        assert "Traceback" not in server.log()
        assert "event=tcp_refused" in server.log()
    finally:
        server.kill()


def test_the_open_files_limit_is_raised_at_start_and_a_low_one_is_warned_about(
    tmp_path: Path, config_path: Path, secrets_path: Path
) -> None:
    raised = _start(tmp_path, config_path, secrets_path, (1024, 4096))
    try:
        assert raised.proc is not None
        assert _soft_nofile(raised.proc.pid) == 4096
        # 4096 descriptors hold fewer than max_connections (15,000) viewers: say so.
        assert "open-files limit" in raised.log() and "max_connections" in raised.log()
    finally:
        raised.kill()
