"""Hostile test 12 (docs/security.md), the parts tests/server/test_redis_scaleout.py does not cover:
the stream reader's connection killed, CLIENT PAUSE, and a Redis that stops answering for a
while (DEBUG SLEEP). Restarts with AOF and with data loss are in test_redis_scaleout.py.

Each process follows the event stream with a blocking XREAD on a connection of its own (no
pub/sub): "the pub/sub client killed" is that connection killed."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Tokens
from tests.hostile.tools import ControlViewer, assert_intact, control_viewer, wait_until
from tests.support.harness import RedisServer, ServerProcess

pytestmark = pytest.mark.redis

Start = Callable[..., ServerProcess]


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.kill()


def redis_cmd(redis: RedisServer, *args: str) -> bytes:
    """One command over a plain socket (RESP), the answer's raw bytes."""
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        parts.append(f"${len(data)}\r\n".encode() + data + b"\r\n")
    with socket.create_connection(("127.0.0.1", redis.port), timeout=10) as sock:
        sock.sendall(b"".join(parts))
        answer = b""
        sock.settimeout(10)
        while not answer.endswith(b"\r\n"):
            answer += sock.recv(65536)
        if answer.startswith(b"$"):  # a bulk string: read it whole
            length = int(answer[1 : answer.index(b"\r\n")])
            while len(answer) < answer.index(b"\r\n") + 2 + length + 2:
                answer += sock.recv(65536)
        return answer


def clients(redis: RedisServer) -> list[dict[str, str]]:
    raw = redis_cmd(redis, "CLIENT", "LIST").decode()
    body = raw.split("\r\n", 1)[1]
    return [
        dict(field.split("=", 1) for field in line.split() if "=" in field)
        for line in body.strip().splitlines()
    ]


def _start(server_factory: Start, redis: RedisServer, tmp_path: Path) -> ServerProcess:
    return server_factory(
        "--redis-url", redis.url, "--redis-prefix", "h:", data_dir=tmp_path / "proc"
    )


def _command(server: ServerProcess, token: str, cmd_id: str, state: str) -> dict[str, Any]:
    """Send a status command until it is acknowledged (a retry with the same id is safe)."""
    deadline = time.monotonic() + 20
    while True:
        code, body = server.post_json(
            "/api/cities/paris/status", {"id": cmd_id, "state": state}, token
        )
        if code == 200:
            return dict(body)
        assert body["code"] == "unavailable", body
        assert time.monotonic() < deadline, "Redis did not come back"
        time.sleep(0.2)


def _changes(
    server: ServerProcess, viewer: ControlViewer, token: str, prefix: str, count: int
) -> list[str]:
    ids = []
    for n in range(count):
        ack = _command(server, token, f"{prefix}{n}", ("preparing", "scheduled")[n % 2])
        viewer.wait_for_seq(ack["seq"])
        ids.append(f"{prefix}{n}")
    return ids


def test_the_stream_readers_connection_killed_loses_nothing(
    server_factory: Start, redis_server: RedisServer, tmp_path: Path, tokens: Tokens
) -> None:
    server = _start(server_factory, redis_server, tmp_path)
    expected: list[str] = []
    with control_viewer(server) as viewer:
        expected += _changes(server, viewer, tokens.paris, "a", 3)
        readers = [c for c in clients(redis_server) if c.get("cmd") == "xread"]
        assert len(readers) == 1, clients(redis_server)
        assert redis_cmd(redis_server, "CLIENT", "KILL", "ID", readers[0]["id"]) == b":1\r\n"
        # Changes made while the reader reconnects reach the viewer, in order, once.
        expected += _changes(server, viewer, tokens.paris, "b", 5)
        wait_until(
            lambda: any(c.get("cmd") == "xread" for c in clients(redis_server)), 10, "reader back"
        )
        # Every connection of every process at once (the command connection too).
        killed = redis_cmd(redis_server, "CLIENT", "KILL", "TYPE", "normal")
        assert int(killed[1:-2]) >= 2
        expected += _changes(server, viewer, tokens.paris, "c", 5)
        # The literal "pub/sub client killed": there is none to kill, nothing changes.
        assert redis_cmd(redis_server, "CLIENT", "KILL", "TYPE", "pubsub") == b":0\r\n"
        expected += _changes(server, viewer, tokens.paris, "d", 2)
        assert_intact(server, viewer, tokens.admin, expected_audit=expected)


def test_client_pause_stalls_commands_then_they_succeed_and_nothing_is_lost(
    server_factory: Start, redis_server: RedisServer, tmp_path: Path, tokens: Tokens
) -> None:
    server = _start(server_factory, redis_server, tmp_path)
    expected: list[str] = []
    with control_viewer(server) as viewer:
        expected += _changes(server, viewer, tokens.paris, "a", 2)
        assert redis_cmd(redis_server, "CLIENT", "PAUSE", "1000", "WRITE") == b"+OK\r\n"
        paused_at = time.monotonic()
        # Viewers and pages are served from the process's own copy meanwhile.
        assert server.get("/healthz")[0] == 200
        assert server.get("/api/state")[0] == 200
        assert time.monotonic() - paused_at < 0.5
        code, ack = server.post_json(
            "/api/cities/paris/status", {"id": "p1", "state": "preparing"}, tokens.paris
        )
        waited = time.monotonic() - paused_at
        assert code == 200, ack  # stalled, then done
        assert waited >= 0.8, waited
        viewer.wait_for_seq(ack["seq"])
        expected.append("p1")
        expected += _changes(server, viewer, tokens.paris, "b", 2)
        # A pause of all commands, reads too.
        assert redis_cmd(redis_server, "CLIENT", "PAUSE", "1000", "ALL") == b"+OK\r\n"
        ack = _command(server, tokens.paris, "p2", "preparing")
        viewer.wait_for_seq(ack["seq"])
        expected.append("p2")
        assert_intact(server, viewer, tokens.admin, expected_audit=expected)


def test_a_long_pause_stalls_commands_and_nothing_appears_by_itself(
    server_factory: Start, redis_server: RedisServer, tmp_path: Path, tokens: Tokens
) -> None:
    server = _start(server_factory, redis_server, tmp_path)
    with control_viewer(server) as viewer:
        assert redis_cmd(redis_server, "CLIENT", "PAUSE", "4000", "WRITE") == b"+OK\r\n"
        paused_at = time.monotonic()
        code, body = server.post_json(
            "/api/cities/paris/status", {"id": "q1", "state": "live"}, tokens.paris
        )
        print("a 4 s pause answered", code, body)
        if code == 200:  # it waited the pause out: fine too
            viewer.wait_for_seq(body["seq"])
            assert_intact(server, viewer, tokens.admin, expected_audit=["q1"])
            return
        assert (code, body["code"]) == (503, "unavailable")
        # "nothing was changed": after the pause, the change must not appear by itself.
        time.sleep(max(0.0, 4.5 - (time.monotonic() - paused_at)))
        time.sleep(1.0)
        state = server.get_json("/api/state")
        paris = next(c for c in state["cities"] if c["id"] == "paris")
        assert paris["state"] == "scheduled", (
            "answered 'unavailable, nothing was changed' but applied"
        )
        assert_intact(server, viewer, tokens.admin, expected_audit=[])


def test_a_redis_that_stops_answering_for_seconds_loses_nothing(
    server_factory: Start, redis_server: RedisServer, tmp_path: Path, tokens: Tokens
) -> None:
    server = _start(server_factory, redis_server, tmp_path)
    expected: list[str] = []
    with control_viewer(server) as viewer:
        expected += _changes(server, viewer, tokens.paris, "a", 2)
        # DEBUG SLEEP blocks Redis itself (needs --enable-debug-command local, as here).
        with socket.create_connection(("127.0.0.1", redis_server.port), timeout=10) as sock:
            sock.sendall(b"*3\r\n$5\r\nDEBUG\r\n$5\r\nSLEEP\r\n$1\r\n3\r\n")
            slept_at = time.monotonic()
            # The process stays responsive for viewers while Redis sleeps.
            assert server.get("/healthz")[0] == 200
            assert server.get("/api/state")[0] == 200
            assert time.monotonic() - slept_at < 1.0
            expected += _changes(server, viewer, tokens.paris, "s", 3)
            sock.settimeout(10)
            assert sock.recv(16) == b"+OK\r\n"
        expected += _changes(server, viewer, tokens.paris, "b", 2)
        assert_intact(server, viewer, tokens.admin, expected_audit=expected)
