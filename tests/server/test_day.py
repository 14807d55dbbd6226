"""The day's shared facts over the real server: one clock (``welcome`` and ``pong`` carry the
server's time, a pong echoes the ping's ``t``), the moments, and a schedule version that
changes when the config does (docs/protocol.md)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from tests.support.harness import ServerProcess, WsClient

Open = Callable[..., WsClient]
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def server_instant(text: str) -> float:
    assert ISO_MS.match(text), text
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_welcome_and_pong_carry_the_server_time_and_the_pong_echoes_t(
    server: ServerProcess, ws_client: Open
) -> None:
    client = ws_client(server.ws_url)
    before = time.time()
    welcome = client.hello()
    after = time.time()
    assert before - 0.01 <= server_instant(welcome["server_time"]) <= after + 0.01
    client.recv()  # snapshot
    client.send({"type": "ping", "t": 123456.5})
    pong = client.recv_until(lambda m: m["type"] == "pong")
    assert pong["t"] == 123456.5
    assert abs(server_instant(pong["server_time"]) - time.time()) < 1
    client.send({"type": "ping"})  # without t: no echo
    pong = client.recv_until(lambda m: m["type"] == "pong")
    assert "t" not in pong
    assert ISO_MS.match(pong["server_time"])


def test_a_ping_before_hello_is_answered_the_same_way(
    server: ServerProcess, ws_client: Open
) -> None:
    client = ws_client(server.ws_url)
    client.send({"type": "ping", "t": 42})
    pong = client.recv()
    assert pong["type"] == "pong"
    assert pong["t"] == 42
    assert ISO_MS.match(pong["server_time"])


def test_the_schedule_version_changes_with_the_config_and_moments_are_in_the_snapshot(
    server_factory: Callable[..., ServerProcess], config_path: Path, ws_client: Open
) -> None:
    server = server_factory()
    client = ws_client(server.ws_url)
    welcome = client.hello()
    snapshot = client.recv()
    version = welcome["schedule_version"]
    assert snapshot["schedule_version"] == version
    assert server.get_json("/api/cities")["schedule_version"] == version
    assert snapshot["moments"] == []
    client.close()

    server.restart()  # the same config: the same version
    client = ws_client(server.ws_url)
    assert client.hello()["schedule_version"] == version
    client.close()

    text = config_path.read_text(encoding="utf-8")
    text = text.replace('start: "2025-09-20T14:00"', 'start: "2025-09-20T14:30"', 1)
    text = text.replace(
        "  date: 2025-09-20\n",
        "  date: 2025-09-20\n  moments:\n    - {id: last-line, name: {en: The last line},"
        ' at: "2025-09-20T18:00", timezone: UTC}\n',
    )
    config_path.write_text(text, encoding="utf-8")
    server.restart()
    client = ws_client(server.ws_url)
    welcome = client.hello(since=snapshot["seq"], epoch=snapshot["epoch"])
    assert welcome["schedule_version"] != version
    moments = server.get_json("/api/cities")["event"]["moments"]
    assert moments == [
        {"id": "last-line", "name": {"en": "The last line"}, "at_utc": "2025-09-20T18:00:00Z"}
    ]
    assert server.get_json("/api/state")["moments"] == moments
