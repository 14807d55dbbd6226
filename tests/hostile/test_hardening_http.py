"""Hostile tests 18, 20, 22 and 26 (docs/security.md) over plain HTTP: hostile Host headers
and the QR code, oversized request bodies, log injection and tokens in paths, and the
security headers on every answer."""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import socket
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from coordinator import osc
from coordinator.app import create_app
from coordinator.security import HEADERS
from coordinator.settings import Settings
from tests.conftest import Tokens
from tests.hostile.tools import RawWs, assert_intact, audit_log, control_viewer, rss_kib
from tests.support.harness import ServerProcess, WsClient, free_port

Open = Callable[..., WsClient]
Start = Callable[..., ServerProcess]


def _raw_request(port: int, head: str, body_bytes: int = 0, chunked: bool = False) -> bytes:
    """Send a request head, then up to ``body_bytes`` of spaces while the server lets us;
    returns the answer (whatever arrived before the server closed)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    answer = b""
    try:
        sock.sendall(head.encode("latin-1"))
        sock.setblocking(False)
        sent = 0
        chunk = b" " * 65536
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and b"\r\n\r\n" not in answer:
            if sent < body_bytes:
                data = (b"%x\r\n" % len(chunk) + chunk + b"\r\n") if chunked else chunk
                try:
                    sent += sock.send(data)
                except BlockingIOError:
                    pass
                except OSError:  # the server answered and closed: read what it said
                    body_bytes = 0
            else:
                time.sleep(0.01)
            try:
                got = sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                break
            if not got:
                break
            answer += got
        sock.setblocking(True)
        sock.settimeout(2)
        with contextlib.suppress(OSError):
            while got := sock.recv(65536):
                answer += got
    finally:
        sock.close()
    return answer


def _status_and_json(answer: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head.lower():
        size, _, rest = body.partition(b"\r\n")
        body = rest[: int(size, 16)]
    else:
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        body = body[:length]
    return status, json.loads(body)


# -- 20. bodies ---------------------------------------------------------------------------------


def test_oversized_bodies_are_refused_413_before_they_are_read(
    server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    assert server.proc is not None
    with control_viewer(server) as viewer:
        rss_before = rss_kib(server.proc.pid)
        auth = f"Authorization: Bearer {tokens.paris_operator}\r\n"
        cases = {
            # 200 MB announced, spaces streamed: a GO if it were read whole and parsed.
            "announced": (
                f"POST /api/cues/paris/next HTTP/1.1\r\nHost: x\r\n{auth}"
                f"Content-Type: application/json\r\nContent-Length: {200 * 1024 * 1024}\r\n\r\n",
                200 * 1024 * 1024,
                False,
            ),
            "chunked": (
                f"POST /api/cues/paris/next HTTP/1.1\r\nHost: x\r\n{auth}"
                "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
                64 * 1024 * 1024,
                True,
            ),
            "script": (
                f"PUT /api/cues/paris/script HTTP/1.1\r\nHost: x\r\n"
                f"Authorization: Bearer {tokens.admin}\r\nContent-Type: text/csv\r\n"
                "Transfer-Encoding: chunked\r\n\r\n",
                64 * 1024 * 1024,
                True,
            ),
        }
        for name, (head, size, chunked) in cases.items():
            started = time.monotonic()
            status, body = _status_and_json(_raw_request(server.port, head, size, chunked))
            assert status == 413, (name, status, body)
            assert body["type"] == "error" and body["code"] == "too_large", body
            assert time.monotonic() - started < 5, name
        # 100 KB of spaces with a Content-Length: refused, not executed as a GO.
        status, body = _status_and_json(
            _raw_request(
                server.port,
                f"POST /api/cues/paris/next HTTP/1.1\r\nHost: x\r\n{auth}"
                "Content-Length: 102400\r\n\r\n",
                102400,
            )
        )
        assert status == 413, body
        assert rss_kib(server.proc.pid) - rss_before < 50 * 1024
        assert audit_log(server, tokens.admin) == []
        assert_intact(server, viewer, tokens.admin, expected_audit=[])


def test_a_body_that_trickles_in_is_answered_408_at_body_timeout_s(
    server_factory: Start, tokens: Tokens
) -> None:
    """A valid token and a body that never ends (a few bytes, then silence): the handler must
    not wait for it for ever, holding the connection and its request."""
    server = server_factory("--limit", "body_timeout_s=1")
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        sock.sendall(
            f"POST /api/cities/paris/status HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {tokens.paris}\r\nContent-Type: application/json\r\n"
            f'Content-Length: 200\r\n\r\n{{"state":'.encode()
        )
        started = time.monotonic()
        answer = b""
        while chunk := sock.recv(65536):  # until the server closes the connection
            answer += chunk
        waited = time.monotonic() - started
    finally:
        sock.close()
    status, body = _status_and_json(answer)
    assert status == 408, answer
    assert body["type"] == "error" and body["code"] == "timeout", body
    assert "body_timeout_s" in str(body["message"]), body
    assert 0.8 < waited < 5, waited
    paris = next(c for c in server.get_json("/api/state")["cities"] if c["id"] == "paris")
    assert paris["state"] == "scheduled" and paris["updated_at"] is None  # nothing applied


# -- 26. security headers on every answer -------------------------------------------------------


def test_a_500_carries_the_security_headers_too(tmp_path: Path, config_path: Path) -> None:
    # A bug is the one way to a 500: the app in process, with one route that fails.
    settings = Settings(
        config_path=config_path, data_dir=tmp_path / "data", secrets_path=tmp_path / "s.yaml"
    )
    app = create_app(settings)

    async def broken(request: Request) -> Response:
        raise RuntimeError("a bug")

    app.router.routes.insert(0, Route("/broken", broken))
    with TestClient(app, raise_server_exceptions=False) as client:
        for path, status in (("/broken", 500), ("/", 200), ("/nowhere", 404)):
            response = client.get(path)
            assert response.status_code == status, path
            for name, value in HEADERS:
                assert response.headers.get(name.decode()) == value.decode(), (path, name)
        body = client.get("/broken").json()
        assert body["code"] == "internal" and "a bug" not in body["message"]


# -- 22. log injection, tokens in paths and OSC addresses ---------------------------------------

LINE_START = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR) \S+ ")


def test_a_client_cannot_forge_log_lines_and_pasted_tokens_are_not_logged(
    server_factory: Start, tokens: Tokens
) -> None:
    osc_port = free_port()
    server = server_factory("--osc-port", str(osc_port))
    forged = "2026-12-01 00:00:00,000 INFO coordinator event=http method=GET path=/x status=200"
    for path in (
        f"/%0d%0a{forged.replace(' ', '%20')}",
        "/%1b[2J%1b[31mred%e2%80%a8line",
        f"/api/cues/{tokens.paris_operator}/log.csv",  # a token pasted into a path
    ):
        server.get(path)
    raw = RawWs(server.port, path=f"/ws/{tokens.admin}")
    raw.handshake()
    raw.close()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for address, args in (
            (f"/coordinator/{tokens.paris}/go", ()),
            ("/nowhere", (tokens.berlin,)),
        ):
            sock.sendto(osc.encode_message(address, *args), ("127.0.0.1", osc_port))
    # Junk that uvicorn refuses: one line every ten seconds, not one each.
    for _ in range(50):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as junk:
            junk.sendall(b"\x16\x03\x01 not http\r\n\r\n")
            with contextlib.suppress(OSError):
                junk.recv(1024)
    time.sleep(0.5)
    text = server.log()
    for line in text.splitlines():
        assert LINE_START.match(line), f"a line that is not a log record: {line!r}"
    assert forged not in text.replace("\\r\\n", "\n").splitlines()
    for token in (tokens.paris_operator, tokens.admin, tokens.paris, tokens.berlin):
        assert token not in text
    assert "[redacted]" in text
    assert text.count("Invalid HTTP request") <= 2, text.count("Invalid HTTP request")


# -- 18. the QR code and the Host header --------------------------------------------------------


def _get(port: int, path: str, host: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest("GET", path, skip_host=True)
        conn.putheader("Host", host)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_qr_codes_are_drawn_once_and_hostile_hosts_are_refused_or_ignored(
    server_factory: Start, config_path: Path, ws_client: Open, tokens: Tokens
) -> None:
    plain = server_factory(
        "--allowed-host", f"127.0.0.1:{free_port()}", "--allowed-host", "reading.example"
    )
    for path in ("/cities/paris/follow-qr.svg", "/calendar.ics"):
        assert _get(plain.port, path, "reading.example")[0] == 200
        for host in ("evil.example", "x" * 3000, "reading.example\\@evil", ""):
            status, body = _get(plain.port, path, host)
            assert status == 400, (path, host[:20], status)
            assert json.loads(body)["code"] == "invalid"
    # With event.public_url every link and QR code is drawn from it, whatever the Host says.
    text = config_path.read_text(encoding="utf-8")
    config_path.write_text(
        text.replace("event:\n", "event:\n  public_url: https://reading.example\n", 1),
        encoding="utf-8",
    )
    public = server_factory(data_dir=config_path.parent.parent / "data-public")
    first = _get(public.port, "/cities/paris/follow-qr.svg", "a.example")
    assert first[0] == 200
    for host in ("b.example", "x" * 3000):
        assert _get(public.port, "/cities/paris/follow-qr.svg", host) == first
        status, feed = _get(public.port, "/calendar.ics", host)
        assert status == 200 and b"https://reading.example" in feed and b"b.example" not in feed
    # Four clients fetching the QR code in a loop no longer hold up a viewer's pings.
    viewer = ws_client(public.ws_url)
    viewer.hello()
    stop = threading.Event()

    def fetch() -> None:
        while not stop.is_set():
            _get(public.port, "/cities/paris/follow-qr.svg", "c.example")

    fetchers = [threading.Thread(target=fetch) for _ in range(4)]
    for fetcher in fetchers:
        fetcher.start()
    try:
        pings = []
        for _ in range(8):  # within a viewer's burst of messages
            started = time.monotonic()
            viewer.send({"type": "ping"})
            viewer.recv_until(lambda m: m["type"] == "pong")
            pings.append(time.monotonic() - started)
    finally:
        stop.set()
        for fetcher in fetchers:
            fetcher.join(10)
    print(f"ping p50 with four QR fetchers: {statistics.median(pings) * 1000:.1f} ms")
    assert statistics.median(pings) < 0.1
    assert "Traceback" not in plain.log() + public.log()
