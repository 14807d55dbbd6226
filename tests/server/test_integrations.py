"""GO from other gear (HTTP endpoints and OSC over UDP) and drift between cities, through the
real server."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from coordinator import osc
from coordinator.cue_log import CueLogEntry
from coordinator.drift import drift
from tests.conftest import Tokens
from tests.support.harness import ServerProcess, WsClient, free_port, http_request

Open = Callable[..., WsClient]
Start = Callable[..., ServerProcess]


def press(
    server: ServerProcess, action: str, token: str | None, body: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    status, _, raw = http_request(
        "POST",
        f"{server.url}/api/cues/paris/{action}",
        headers=headers,
        body=json.dumps(body).encode() if body is not None else b"",
    )
    return status, json.loads(raw)


def index_of(server: ServerProcess) -> int:
    return int(server.get_json("/api/state")["cues"]["paris"]["index"])


def test_http_controls_use_the_same_rules_as_the_websocket(
    backend_server: ServerProcess, tokens: Tokens
) -> None:
    assert press(backend_server, "next", None)[0] == 401
    status, body = press(backend_server, "next", tokens.berlin_operator)
    assert (status, body["code"]) == (403, "forbidden")
    status, body = press(backend_server, "next", tokens.paris)  # a coordinator, not an operator
    assert (status, body["code"]) == (403, "forbidden")
    status, body = press(backend_server, "next", tokens.paris_operator)  # a foot pedal: no body
    assert (status, body["type"]) == (200, "ack")
    # Compare-and-set: a stale press is refused, a fresh one advances once.
    status, body = press(backend_server, "next", tokens.paris_operator, {"from": 0})
    assert (status, body["code"]) == (409, "conflict")
    status, body = press(backend_server, "next", tokens.paris_operator, {"from": 1, "id": "sd-7"})
    assert (status, body["id"]) == (200, "sd-7")
    again = press(backend_server, "next", tokens.paris_operator, {"from": 1, "id": "sd-7"})
    assert again[1]["seq"] == body["seq"]  # a retried press applies once
    assert index_of(backend_server) == 2
    assert press(backend_server, "goto", tokens.paris_operator, {"index": 5})[0] == 200
    assert press(backend_server, "blank", tokens.paris_operator)[0] == 200
    assert press(backend_server, "dance", tokens.paris_operator)[0] == 400
    assert index_of(backend_server) == 5


def send_osc(port: int, address: str, *args: int | float | str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(osc.encode_message(address, *args), ("127.0.0.1", port))


@pytest.fixture
def osc_server(server_factory: Start) -> tuple[ServerProcess, int]:
    port = free_port()
    return server_factory("--osc-port", str(port)), port


def test_osc_controls_advance_with_the_token_and_nothing_without(
    osc_server: tuple[ServerProcess, int], ws_client: Open, tokens: Tokens
) -> None:
    server, port = osc_server
    display = ws_client(server.ws_url)
    display.hello(channels=["cues:paris"])
    display.recv()
    send_osc(port, "/coordinator/paris/go")  # no secret
    send_osc(port, "/coordinator/paris/go", "wrong-token")
    send_osc(port, "/coordinator/paris/go", tokens.berlin_operator)  # another city's operator
    send_osc(port, "/coordinator/lyon/go", tokens.paris_operator)
    display.expect_silence(0.7)
    assert index_of(server) == 0
    send_osc(port, "/coordinator/paris/go", tokens.paris_operator)
    event = display.recv_until(lambda m: m["type"] == "event" and m["kind"] == "cue")
    assert event["index"] == 1
    send_osc(port, "/coordinator/paris/go", tokens.paris_operator, 0)  # stale FROM: refused
    display.expect_silence(0.5)
    send_osc(port, "/coordinator/paris/goto", tokens.paris_operator, 7)
    assert display.recv_until(lambda m: m["type"] == "event")["index"] == 7
    send_osc(port, "/coordinator/paris/blank", tokens.paris_operator)
    assert display.recv_until(lambda m: m["type"] == "event")["blank"] is True
    send_osc(port, "/coordinator/paris/back", tokens.paris_operator)
    replied = display.recv_until(lambda m: m["type"] == "event")
    assert (replied["index"], replied["blank"]) == (6, True)


def test_osc_parsing() -> None:
    (message,) = osc.parse_packet(osc.encode_message("/coordinator/paris/goto", "tok", 12))
    token, command = osc.to_command(message)
    assert (token, command.city, command.action, command.index) == ("tok", "paris", "goto", 12)
    bundle = b"#bundle\0" + b"\0" * 8
    for part in (
        osc.encode_message("/coordinator/paris/go", "t"),
        osc.encode_message("/coordinator/paris/blank", "t"),
    ):
        bundle += len(part).to_bytes(4, "big") + part
    assert [m.address for m in osc.parse_packet(bundle)] == [
        "/coordinator/paris/go",
        "/coordinator/paris/blank",
    ]
    for bad in (b"", b"not osc", b"/x\0\0,q\0\0", b"#bundle\0" + b"\0" * 8 + b"\xff\xff\xff\xff"):
        with pytest.raises(osc.OscError):
            osc.parse_packet(bad)
    with pytest.raises(osc.OscError, match="token"):
        osc.to_command(osc.OscMessage("/coordinator/paris/go", ()))


T0 = datetime(2025, 9, 20, 12, 0, tzinfo=UTC)


def log_of(*cues_at_minutes: tuple[int, float]) -> list[CueLogEntry]:
    return [
        CueLogEntry(at=T0 + timedelta(minutes=m), index=i, blank=False) for i, m in cues_at_minutes
    ]


def test_drift_from_two_cue_logs() -> None:
    paris = log_of((1, 0), (2, 1), (3, 2), (4, 3))
    helsinki = log_of((1, 0.5), (2, 3))  # started later and slower
    behind = drift(helsinki, 2, paris, 4)
    assert behind.cues_ahead == -2
    assert behind.seconds_behind == 120.0  # cue 2: 3 min vs 1 min
    ahead = drift(paris, 4, helsinki, 2)
    assert (ahead.cues_ahead, ahead.seconds_behind) == (2, -120.0)
    assert drift(log_of(), 0, paris, 4).seconds_behind is None
    # A blank does not count as showing a cue; the first showing counts, not a return to it.
    with_blank = [CueLogEntry(T0, 1, True), *log_of((1, 2), (2, 4)), *log_of((1, 5))]
    assert drift(with_blank, 1, paris, 4).seconds_behind == 120.0


def test_drift_endpoint(backend_server: ServerProcess, tokens: Tokens) -> None:
    press(backend_server, "next", tokens.paris_operator)
    data = backend_server.get_json("/api/drift?reference=paris")
    assert data["reference"] == "paris"
    assert data["cities"]["paris"] == {
        "index": 1,
        "cues_ahead": 0,
        "seconds_behind": 0.0,
        "count": data["cities"]["paris"]["count"],
    }
    assert backend_server.get("/api/drift?reference=berlin")[0] == 400
