"""Hostile tests 4, 5 and 9 (docs/security.md), and the transport limits around them:
connections that never say hello, half-open TCP, connection caps, oversized and fragmented
frames, compression, clients that never answer pings, graceful shutdown, HTTP headers."""

from __future__ import annotations

import functools
import re
import socket
import struct
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Tokens
from tests.hostile.tools import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_TEXT,
    ControlViewer,
    RawWs,
    assert_intact,
    control_viewer,
    legit_change,
    rss_kib,
    wait_until,
)
from tests.support.harness import ServerProcess, WsClient

Open = Callable[..., WsClient]
Start = Callable[..., ServerProcess]


def _latency(server: ServerProcess, viewer: ControlViewer, admin: str, rounds: int = 5) -> float:
    """Worst time from a change being sent to the control viewer having it, in seconds."""
    worst = 0.0
    for _ in range(rounds):
        sent = time.monotonic()
        seq = legit_change(server, admin)
        viewer.wait_for_seq(seq)
        worst = max(worst, viewer.arrivals[seq] - sent)
    return worst


def _server_pid(server: ServerProcess) -> int:
    assert server.proc is not None
    return server.proc.pid


# -- 4. connections that never say hello, half-open TCP ----------------------------------------


def test_500_silent_connections_and_half_open_tcp_leave_the_server_responsive(
    server_factory: Start, ws_client: Open, tokens: Tokens
) -> None:
    # Every test client comes from 127.0.0.1: the per-address cap (500 by default, one venue's
    # NAT) would otherwise count the attacker and the honest viewers as one client.
    server = server_factory("--limit", "max_connections_per_address=5000")
    silent: list[RawWs] = []
    half_open: list[socket.socket] = []
    with control_viewer(server) as viewer:
        baseline = _latency(server, viewer, tokens.admin)
        rss_before = rss_kib(_server_pid(server))
        flood_started = time.monotonic()
        for _ in range(500):
            raw = RawWs(server.port)
            assert raw.handshake() == 101
            silent.append(raw)
        for n in range(300):  # TCP connections that never finish (or never start) a request
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            if n % 2:
                sock.sendall(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: webs")
            half_open.append(sock)
        try:
            # Staff and new viewers are served at once, and the control viewer keeps up.
            staff = ws_client(server.ws_url)
            assert staff.hello(tokens.paris)["role"] == "coordinator"
            newcomer = ws_client(server.ws_url)
            assert newcomer.hello()["role"] == "public"
            assert newcomer.recv()["type"] == "snapshot"
            staff.send({"type": "status", "id": "f-1", "city": "paris", "state": "preparing"})
            assert staff.recv_until(lambda m: m["type"] in ("ack", "error"))["type"] == "ack"
            during = _latency(server, viewer, tokens.admin)
            assert during < max(0.5, baseline * 5), (baseline, during)
            rss_during = rss_kib(_server_pid(server))
            # ~800 idle sockets: far below 50 MiB
            assert rss_during - rss_before < 50 * 1024, (rss_before, rss_during)
            # Each silent websocket is closed with 1008 at the hello deadline (5 s).
            for raw in silent:
                remaining = 5.0 + 5.0 - (time.monotonic() - flood_started)
                assert raw.wait_close(max(0.5, remaining)) == 1008
            assert time.monotonic() - flood_started < 12
            assert _latency(server, viewer, tokens.admin) < max(0.5, baseline * 5)
        finally:
            for raw in silent:
                raw.close()
            for sock in half_open:
                sock.close()
        assert_intact(server, viewer, tokens.admin, expected_audit=["f-1"])


def test_caps_refuse_new_viewers_but_always_admit_staff(
    server_factory: Start, ws_client: Open, tokens: Tokens
) -> None:
    for limit in ("max_connections=4", "max_connections_per_address=4"):
        server = server_factory("--limit", limit)
        with control_viewer(server) as viewer:
            held = [ws_client(server.ws_url) for _ in range(3)]  # with the viewer: 4, the cap
            for client in held:
                assert client.hello()["role"] == "public"
            refused = ws_client(server.ws_url)
            refused.send({"type": "hello"})
            assert refused.wait_closed() == 1013, limit  # "try again later"
            staff = [ws_client(server.ws_url) for _ in range(3)]
            for client, token in zip(
                staff, (tokens.paris, tokens.paris_operator, tokens.admin), strict=True
            ):
                assert client.hello(token)["role"] != "public", limit
            # A wrong token is no way past the cap.
            pretender = ws_client(server.ws_url)
            pretender.send({"type": "hello", "token": "x" * 40})
            assert pretender.wait_closed() == 1013
            for client in [*held, *staff]:
                client.close()
            wait_until(functools.partial(_admits_a_viewer, server), 5, "a place frees up")
            assert_intact(server, viewer, tokens.admin, expected_audit=[])
            assert "reason=capacity" in server.log()
        server.kill()  # the next limit's server takes the same data dir (one server per dir)


def _admits_a_viewer(server: ServerProcess) -> bool:
    with WsClient(server.ws_url) as client:
        client.send({"type": "hello"})
        try:
            return bool(client.recv()["type"] == "welcome" and client.recv()["type"] == "snapshot")
        except Exception:
            return False


# -- 5. frames: oversize, compression, fragments -----------------------------------------------


def _ready(server: ServerProcess, token: str | None = None) -> RawWs:
    raw = RawWs(server.port)
    assert raw.handshake() == 101
    raw.send_json({"type": "hello", **({"token": token} if token else {})})
    assert raw.recv_json()["type"] == "welcome"
    assert raw.recv_json()["type"] == "snapshot"
    return raw


def test_oversized_frames_close_1009_and_a_big_message_gets_invalid(
    server: ServerProcess, tokens: Tokens
) -> None:
    pid = _server_pid(server)
    with control_viewer(server) as viewer:
        rss_before = rss_kib(pid)
        # 5 KiB: over the protocol's 4 KiB, under the 16 KiB frame limit: an error, not a close.
        raw = _ready(server, tokens.paris)
        note = "n" * 5000
        raw.send_json(
            {"type": "status", "id": "big", "city": "paris", "state": "live", "note": note}
        )
        reply = raw.recv_json()
        while reply["type"] == "event":  # the coordinator's own presence
            reply = raw.recv_json()
        assert (reply["type"], reply["code"]) == ("error", "invalid")
        assert "4096" in reply["message"]
        raw.send_json({"type": "ping"})
        assert raw.recv_json()["type"] == "pong"
        # One byte over the frame limit.
        raw.send_frame(OP_TEXT, b" " * (16 * 1024 + 1))
        assert raw.wait_close() == 1009
        raw.close()
        # A frame that announces 64 MiB: closed on the header, nothing read or allocated.
        raw = _ready(server)
        raw.sock.sendall(bytes([0x81, 0x80 | 127]) + struct.pack("!Q", 64 << 20) + b"mask")
        raw.sock.sendall(b"x" * 65536)
        assert raw.wait_close() == 1009
        raw.close()
        # A binary frame over the limit, before hello.
        raw = RawWs(server.port)
        raw.handshake()
        raw.send_frame(OP_BINARY, b"\0" * (1 << 20))
        assert raw.wait_close() == 1009
        raw.close()
        assert rss_kib(pid) - rss_before < 20 * 1024
        assert_intact(server, viewer, tokens.admin, expected_audit=[])


def test_compression_is_never_negotiated_and_a_deflate_bomb_is_refused(
    server: ServerProcess, tokens: Tokens
) -> None:
    pid = _server_pid(server)
    with control_viewer(server) as viewer:
        rss_before = rss_kib(pid)
        raw = RawWs(
            server.port,
            headers={"Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"},
        )
        assert raw.handshake() == 101
        assert "sec-websocket-extensions" not in raw.response_headers
        raw.send_json({"type": "hello"})
        assert raw.recv_json()["type"] == "welcome"
        # 64 MiB of zeros deflate to ~64 KiB; sent as a compressed (RSV1) frame anyway.
        squeezer = zlib.compressobj(9, zlib.DEFLATED, -15)
        bomb = squeezer.compress(b"\0" * (64 << 20)) + squeezer.flush(zlib.Z_SYNC_FLUSH)
        bomb = bomb[:-4]  # permessage-deflate drops the sync flush tail
        assert len(bomb) < 16 * 1024 * 8
        raw.send_frame(OP_TEXT, bomb[: 15 * 1024], rsv1=True)
        assert raw.wait_close() == 1002  # protocol error: no extension was agreed
        raw.close()
        assert rss_kib(pid) - rss_before < 20 * 1024
        assert_intact(server, viewer, tokens.admin, expected_audit=[])


def test_a_fragmented_message_that_never_ends_is_bounded(
    server: ServerProcess, tokens: Tokens
) -> None:
    pid = _server_pid(server)
    with control_viewer(server) as viewer:
        rss_before = rss_kib(pid)
        # Thousands of one-byte continuation frames: closed when they add up past 16 KiB.
        raw = _ready(server, tokens.paris)
        raw.send_frame(OP_TEXT, b"{", fin=False)
        frames = b"".join(
            _masked_cont(b"x") for _ in range(17 * 1024)
        )  # 17 KiB of payload in 17,408 frames
        raw.sock.sendall(frames)
        assert raw.wait_close() == 1009
        raw.close()
        # 1 KiB fragments, never FIN, after hello: the same.
        raw = _ready(server)
        raw.send_frame(OP_TEXT, b"[" * 1024, fin=False)
        for _ in range(20):
            raw.send_frame(OP_CONT, b"[" * 1024, fin=False)
        assert raw.wait_close() == 1009
        raw.close()
        # A few bytes that never end, instead of a hello: closed at the hello deadline.
        raw = RawWs(server.port)
        raw.handshake()
        started = time.monotonic()
        raw.send_frame(OP_TEXT, b'{"type":', fin=False)
        raw.send_frame(OP_CONT, b'"hel', fin=False)
        assert raw.wait_close(10) == 1008
        assert time.monotonic() - started < 5 + 2
        raw.close()
        assert rss_kib(pid) - rss_before < 20 * 1024
        assert_intact(server, viewer, tokens.admin, expected_audit=[])


def _masked_cont(payload: bytes) -> bytes:
    return bytes([OP_CONT, 0x80 | len(payload)]) + b"\0\0\0\0" + payload


def test_broken_frames_close_the_connection_and_nothing_else(
    server: ServerProcess, tokens: Tokens
) -> None:
    with control_viewer(server) as viewer:
        cases: list[tuple[bytes, set[int | None]]] = [
            (b"\x81\x05hello", {1002}),  # unmasked client frame
            (b"\x83\x80\0\0\0\0", {1002}),  # reserved opcode
            (b"\x89\xfe\x00\x80" + b"\0" * 4 + b"p" * 128, {1002}),  # control frame over 125
            (b"\x80\x80\0\0\0\0", {1002}),  # continuation with nothing to continue
            (b"\x09\x80\0\0\0\0", {1002}),  # fragmented ping
        ]
        for frame, codes in cases:
            raw = _ready(server)
            raw.sock.sendall(frame)
            assert raw.wait_close() in codes, frame[:8]
            raw.close()
        assert_intact(server, viewer, tokens.admin, expected_audit=[])


def test_a_text_frame_that_is_not_utf8_closes_1007(server: ServerProcess, tokens: Tokens) -> None:
    with control_viewer(server) as viewer:
        raw = _ready(server)
        raw.sock.sendall(b"\x81\x85\0\0\0\0" + b"\xff\xfe\xfd\xfc\xfb")
        assert raw.wait_close() == 1007
        raw.close()
        seq = legit_change(server, tokens.admin)
        viewer.wait_for_seq(seq)
        viewer.assert_complete(server)


def test_a_hostile_client_cannot_write_tracebacks_into_the_log(server: ServerProcess) -> None:
    raw = _ready(server)
    raw.sock.sendall(b"\x81\x85\0\0\0\0" + b"\xff\xfe\xfd\xfc\xfb")
    assert raw.wait_close() == 1007
    raw.close()
    server.stop()
    assert "Traceback" not in server.log()


# -- 9. a client that never answers pings ------------------------------------------------------


def test_a_client_that_never_answers_pings_is_dropped_in_time(
    server_factory: Start, tokens: Tokens
) -> None:
    interval, timeout = 1.0, 1.0
    server = server_factory(
        "--limit", f"ping_interval_s={interval}", "--limit", f"ping_timeout_s={timeout}"
    )
    with control_viewer(server) as viewer:
        # A coordinator's phone that stops answering (lost in a tunnel, a frozen tab).
        raw = _ready(server, tokens.paris)
        started = time.monotonic()
        online = _wait_presence(viewer, "paris", True)
        # Never read again, never answer: the server must give up on its own.
        ended = raw.at_eof_within(interval + timeout + 2 + 1)
        assert ended is not None, "the server kept the silent connection open"
        assert time.monotonic() - started <= interval + timeout + 2
        offline = _wait_presence(viewer, "paris", False, after=online["seq"])
        assert offline["seq"] > online["seq"]
        raw.close()
        # And what it last said was a ping, then "keepalive ping timeout".
        raw = _ready(server)
        seen: list[int] = []
        deadline = time.monotonic() + interval + timeout + 3
        while time.monotonic() < deadline:
            try:
                frame = raw.read_frame(0.5)
            except TimeoutError:
                continue
            if frame is None:
                break
            seen.append(frame[0])
            if frame[0] == OP_CLOSE:
                assert struct.unpack("!H", frame[1][:2])[0] == 1011
                break
        assert OP_PING in seen and seen[-1] == OP_CLOSE, seen
        raw.close()
        # A client that answers pings stays (the control viewer, for 3 intervals by now).
        assert not viewer.closed
        assert_intact(server, viewer, tokens.admin, expected_audit=[])


def _wait_presence(
    viewer: ControlViewer, city: str, online: bool, after: int = 0, timeout_s: float = 10
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for event in viewer.events():
            if (
                event["kind"] == "presence"
                and event["city"] == city
                and event["online"] is online
                and event["seq"] > after
            ):
                return event
        time.sleep(0.02)
    raise AssertionError(f"no presence {city} online={online}")


# -- graceful shutdown -------------------------------------------------------------------------


def test_sigterm_closes_every_client_with_1012_and_loses_no_acknowledged_command(
    server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    viewers = [ws_client(server.ws_url) for _ in range(5)]
    for viewer in viewers:
        viewer.hello()
    coordinator = ws_client(server.ws_url)
    coordinator.hello(tokens.paris)
    coordinator.recv_until(lambda m: m["type"] == "snapshot")
    states = ["preparing", "scheduled"] * 10
    for n, state in enumerate(states):
        coordinator.send({"type": "status", "id": f"g{n}", "city": "paris", "state": state})
    assert server.proc is not None
    server.proc.terminate()
    acked: list[str] = []
    code = None
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            message = coordinator.recv(1)
        except TimeoutError:
            continue
        except Exception as exc:  # closed
            code = getattr(getattr(exc, "rcvd", None), "code", None)
            break
        if message["type"] == "ack":
            acked.append(message["id"])
    assert code == 1012
    for viewer in viewers:
        assert viewer.wait_closed() == 1012
    # uvicorn finishes its graceful shutdown, then exits by the signal it received.
    assert server.proc.wait(15) in (0, -15)
    # New connections are refused once the server is going.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
    server.start()
    log = server.get_json("/api/log", {"Authorization": f"Bearer {tokens.admin}"})["entries"]
    stored = [e["command_id"] for e in log]
    assert stored[: len(acked)] == acked  # every acknowledged one, in order
    assert set(stored) <= {f"g{n}" for n in range(len(states))}


# -- HTTP --------------------------------------------------------------------------------------

PAGES = ["/", "/coordinator", "/admin", "/operator/paris", "/display/paris", "/follow/paris"]


def test_pages_send_security_headers_and_no_version_banner(server: ServerProcess) -> None:
    paths = [*PAGES, "/healthz", "/api/state", "/api/cities", "/calendar.ics", "/nowhere",
             "/cities/paris/follow-qr.svg"]  # fmt: skip
    for path in paths:
        status, headers, _ = server.get(path)
        assert status in (200, 404), path
        lower = {k.lower(): v for k, v in headers.items()}
        assert "server" not in lower, (path, lower.get("server"))
        for value in lower.values():
            assert not re.search(r"uvicorn|starlette|python/\d", value, re.I), (path, value)
        assert lower.get("x-content-type-options") == "nosniff", path
        assert lower.get("referrer-policy") == "no-referrer", path
        csp = lower.get("content-security-policy", "")
        directives = dict([*d.strip().split(" ", 1), ""][:2] for d in csp.split(";") if d.strip())
        assert directives.get("default-src") == "'self'", (path, csp)
        assert directives.get("script-src") == "'self'", (path, csp)
        assert directives.get("object-src") == "'none'", (path, csp)
        assert directives.get("frame-ancestors") == "'none'", (path, csp)
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, (path, csp)
        for value in directives.values():
            for source in value.split():
                assert source in ("'self'", "'none'", "data:"), (path, source)


def test_pages_have_no_inline_script_the_policy_would_block(server: ServerProcess) -> None:
    for path in PAGES:
        status, _, body = server.get(path)
        assert status == 200, path
        html = body.decode()
        for tag in re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.S | re.I):
            assert not tag.strip(), (path, tag[:80])
        assert "<script>" not in html.lower(), path
        assert not re.search(r"<[^>]+\son[a-z]+\s*=", html, re.I), path
        assert not re.search(r"""(?:href|src|action)\s*=\s*["']?\s*javascript:""", html, re.I), path
        for src in re.findall(r"""(?:src|href)=["']([^"']+)""", html):
            assert not re.match(r"(?:https?:)?//", src), (path, src)


def test_cli_limits_refuse_nonsense(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.support.harness import ROOT, SHIPPED_CONFIG

    for bad in ("nope=1", "max_frame_bytes=-5", "ping_timeout_s=abc", "hello_timeout_s"):
        result = subprocess.run(
            [sys.executable, "-m", "coordinator", "serve", "--config", str(SHIPPED_CONFIG),
             "--data-dir", str(tmp_path), "--port", "1", "--limit", bad],
            capture_output=True, text=True, cwd=ROOT, timeout=30, check=False,
        )  # fmt: skip
        assert result.returncode == 1, bad
        assert "--limit" in result.stderr and "Traceback" not in result.stderr
