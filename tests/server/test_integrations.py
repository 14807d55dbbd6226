"""GO from other gear (HTTP endpoints and OSC over UDP) and drift between cities, through the
real server."""

from __future__ import annotations

import json
import re
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
    # QLab sends a quoted FROM as a string: it is a FROM, not dropped (a stale one is refused).
    send_osc(port, "/coordinator/paris/go", tokens.paris_operator, "0")
    display.expect_silence(0.5)
    send_osc(port, "/coordinator/paris/go", tokens.paris_operator, "junk")  # refused, not a GO
    send_osc(port, "/coordinator/paris/go", tokens.paris_operator, float("nan"))
    display.expect_silence(0.5)
    assert index_of(server) == 1
    send_osc(port, "/coordinator/paris/go", tokens.paris_operator, "1")
    assert display.recv_until(lambda m: m["type"] == "event")["index"] == 2
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


@pytest.mark.parametrize(
    ("address", "args", "expected"),
    [
        ("go", ("5",), ("next", None, 5)),  # QLab's quoted argument
        ("go", (5.0,), ("next", None, 5)),
        ("go", (" 7 ",), ("next", None, 7)),
        ("goto", ("12",), ("goto", 12, None)),
        ("goto", (3,), ("goto", 3, None)),
    ],
)
def test_osc_numbers_may_be_strings_or_whole_floats(
    address: str, args: tuple[int | float | str, ...], expected: tuple[str, int | None, int | None]
) -> None:
    _, command = osc.to_command(osc.OscMessage(f"/coordinator/paris/{address}", ("t", *args)))
    assert (command.action, command.index, command.expected_from) == expected


@pytest.mark.parametrize(
    ("address", "args", "why"),
    [
        ("go", ("five",), "not a cue number"),
        ("go", (float("nan"),), "not a cue number"),
        ("go", (float("inf"),), "not a cue number"),
        ("goto", (2.5,), "not a cue number"),
        ("goto", (-1,), "not a cue number"),
        ("go", (1, 2), "go takes one cue number after the token, not 2"),
        ("blank", ("now",), "blank takes no argument after the token, not 'now'"),
        ("goto", (), "goto needs a cue number"),
    ],
)
def test_osc_other_arguments_are_refused(
    address: str, args: tuple[int | float | str, ...], why: str
) -> None:
    with pytest.raises(osc.OscError, match=re.escape(why)):
        osc.to_command(osc.OscMessage(f"/coordinator/paris/{address}", ("t", *args)))


def test_osc_refusals_are_logged_at_most_once_a_second_with_a_count() -> None:
    refusals = osc.RefusalLog(interval_s=1.0)
    assert refusals.refused(10.0, "10.0.0.9", "not an OSC message") == (
        "osc refused from 10.0.0.9: not an OSC message"
    )
    assert [refusals.refused(10.0 + i / 100, "10.0.0.9", "junk") for i in range(1, 50)] == [
        None
    ] * 49
    assert refusals.refused(11.2, "10.0.0.9", "junk") == (
        "osc refused from 10.0.0.9: junk (and 49 more refused since the last line)"
    )


T0 = datetime(2025, 9, 20, 12, 0, tzinfo=UTC)


def log_of(*cues_at_minutes: tuple[int, float]) -> list[CueLogEntry]:
    return [
        CueLogEntry(at=T0 + timedelta(minutes=m), index=i, blank=False) for i, m in cues_at_minutes
    ]


def test_drift_from_two_cue_logs() -> None:
    paris = log_of((1, 0), (2, 1), (3, 2), (4, 3))
    helsinki = log_of((1, 0.5), (2, 3))  # started later and slower
    behind = drift(helsinki, 2, paris, 4)
    assert behind is not None and behind.cues_ahead == -2
    assert behind.seconds_behind == 120.0  # cue 2: 3 min vs 1 min
    ahead = drift(paris, 4, helsinki, 2)
    assert ahead is not None and (ahead.cues_ahead, ahead.seconds_behind) == (2, -120.0)
    # A city that has not begun is not "4 cues behind": it has no drift, nor does its reference.
    assert drift(log_of(), 0, paris, 4) is None
    assert drift(paris, 4, log_of(), 0) is None
    jumped = drift(log_of((5, 1)), 5, paris, 4)  # begun, but no cue shown by both
    assert jumped is not None and (jumped.cues_ahead, jumped.seconds_behind) == (1, None)
    # A blank does not count as showing a cue; the first showing counts, not a return to it.
    with_blank = [CueLogEntry(T0, 1, True), *log_of((1, 2), (2, 4)), *log_of((1, 5))]
    from_blank = drift(with_blank, 1, paris, 4)
    assert from_blank is not None and from_blank.seconds_behind == 120.0


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
