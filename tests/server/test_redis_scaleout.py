"""Several server processes on one Redis: one state, one ordered stream, and what happens when a
process or Redis itself fails. Each test runs its own redis-server on a free port."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Tokens
from tests.support.harness import RedisServer, ServerProcess, WsClient

pytestmark = pytest.mark.redis

Open = Callable[..., WsClient]
Start = Callable[..., ServerProcess]


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.kill()


def start_on(server_factory: Start, redis: RedisServer, tmp_path: Path, name: str) -> ServerProcess:
    return server_factory(
        "--redis-url", redis.url, "--redis-prefix", "rt:", data_dir=tmp_path / name
    )


def is_status(city: str, state: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: (
        m["type"] == "event" and m["kind"] == "status" and m["city"] == city and m["state"] == state
    )


def city_state(server: ServerProcess, city: str) -> str:
    snap = server.get_json("/api/state")
    return str(next(c["state"] for c in snap["cities"] if c["id"] == city))


def wait_until(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_a_change_through_one_process_reaches_a_viewer_on_the_other(
    server_factory: Start,
    redis_server: RedisServer,
    tmp_path: Path,
    ws_client: Open,
    tokens: Tokens,
) -> None:
    one = start_on(server_factory, redis_server, tmp_path, "one")
    two = start_on(server_factory, redis_server, tmp_path, "two")
    viewer = ws_client(two.ws_url)
    welcome = viewer.hello()
    viewer.recv()
    code, ack = one.post_json(
        "/api/cities/paris/status", {"id": "x1", "state": "live"}, tokens.paris
    )
    assert code == 200
    event = viewer.recv_until(is_status("paris", "live"))
    assert event["seq"] == ack["seq"] == welcome["seq"] + 1
    assert city_state(two, "paris") == "live"
    # Both processes serve the same history.
    assert one.get_json("/api/state")["epoch"] == two.get_json("/api/state")["epoch"]


def test_events_from_both_processes_arrive_in_one_order_everywhere(
    server_factory: Start,
    redis_server: RedisServer,
    tmp_path: Path,
    ws_client: Open,
    tokens: Tokens,
) -> None:
    one = start_on(server_factory, redis_server, tmp_path, "one")
    two = start_on(server_factory, redis_server, tmp_path, "two")
    viewers = [ws_client(one.ws_url), ws_client(two.ws_url)]
    for v in viewers:
        v.hello(channels=["status:*"])
        v.recv()
    acks = []
    states = ["preparing", "live", "paused", "live", "paused"]
    plan = [
        (server, city, token, state)
        for state in states
        for server, city, token in ((one, "paris", tokens.paris), (two, "berlin", tokens.berlin))
    ]
    for n, (server, city, token, state) in enumerate(plan):
        code, ack = server.post_json(
            f"/api/cities/{city}/status", {"id": f"o{n}", "state": state}, token
        )
        assert code == 200, ack
        acks.append(ack["seq"])
    seen = []
    for v in viewers:
        seqs: list[int] = []
        while len(seqs) < len(acks):
            m = v.recv()
            if m["type"] == "event" and m["kind"] == "status":
                seqs.append(m["seq"])
        seen.append(seqs)
    assert seen[0] == seen[1] == sorted(acks)
    assert seen[0] == list(range(seen[0][0], seen[0][0] + len(acks)))


def test_a_killed_process_rejoins_with_the_same_state(
    server_factory: Start, redis_server: RedisServer, tmp_path: Path, tokens: Tokens
) -> None:
    one = start_on(server_factory, redis_server, tmp_path, "one")
    two = start_on(server_factory, redis_server, tmp_path, "two")
    one.post_json(
        "/api/cities/paris/status",
        {"id": "k1", "state": "delayed", "delay_minutes": 10},
        tokens.paris,
    )
    one.kill()
    two.post_json("/api/cities/berlin/status", {"id": "k2", "state": "cancelled"}, tokens.berlin)
    one.start()
    snap_one, snap_two = one.get_json("/api/state"), two.get_json("/api/state")
    assert snap_one == snap_two
    assert city_state(one, "paris") == "delayed"
    assert city_state(one, "berlin") == "cancelled"


def test_redis_restart_with_aof_loses_nothing_and_processes_recover(
    server_factory: Start,
    redis_server: RedisServer,
    tmp_path: Path,
    ws_client: Open,
    tokens: Tokens,
) -> None:
    one = start_on(server_factory, redis_server, tmp_path, "one")
    viewer = ws_client(one.ws_url)
    viewer.hello()
    viewer.recv()
    acked = []
    for n, state in enumerate(["preparing", "live", "paused"]):
        code, ack = one.post_json(
            "/api/cities/paris/status", {"id": f"a{n}", "state": state}, tokens.paris
        )
        assert code == 200
        acked.append(ack["seq"])
    epoch = one.get_json("/api/state")["epoch"]
    redis_server.restart()  # kill -9, then start again on the same AOF

    # Commands work again once the process has reconnected by itself.
    def command_accepted() -> bool:
        code, _ = one.post_json(
            "/api/cities/paris/status", {"id": "after", "state": "live"}, tokens.paris
        )
        return code == 200

    wait_until(command_accepted)
    # The process's view follows the stream a moment after the ack.
    wait_until(lambda: one.get_json("/api/state")["seq"] == acked[-1] + 1)
    snap = one.get_json("/api/state")
    assert snap["epoch"] == epoch  # same history: nothing was lost
    log = one.get_json("/api/log", {"Authorization": f"Bearer {tokens.admin}"})["entries"]
    assert [e["seq"] for e in log] == [*acked, acked[-1] + 1]
    # The viewer connected throughout saw every change, in order.
    viewer.recv_until(is_status("paris", "live"))


def test_while_redis_is_down_viewers_keep_state_and_commands_are_unavailable(
    server_factory: Start,
    redis_server: RedisServer,
    tmp_path: Path,
    ws_client: Open,
    tokens: Tokens,
) -> None:
    one = start_on(server_factory, redis_server, tmp_path, "one")
    one.post_json(
        "/api/cities/paris/status", {"id": "d1", "state": "live", "note": "going"}, tokens.paris
    )
    wait_until(lambda: city_state(one, "paris") == "live")
    redis_server.kill()
    code, body = one.post_json(
        "/api/cities/paris/status", {"id": "d2", "state": "paused"}, tokens.paris
    )
    assert (code, body["code"]) == (503, "unavailable")
    # A viewer arriving now still gets the last known state.
    viewer = ws_client(one.ws_url)
    viewer.hello()
    snap = viewer.recv()
    assert snap["type"] == "snapshot"
    assert next(c for c in snap["cities"] if c["id"] == "paris")["state"] == "live"
    assert city_state(one, "paris") == "live"
    # Over the websocket too, the command is refused, not half-applied.
    staff = ws_client(one.ws_url)
    staff.hello(tokens.paris)
    staff.send({"type": "status", "id": "d3", "city": "paris", "state": "paused"})
    assert staff.recv_until(lambda m: m["type"] == "error")["code"] == "unavailable"
    redis_server.start()

    def recovered() -> bool:
        code, _ = one.post_json(
            "/api/cities/paris/status", {"id": "d4", "state": "paused"}, tokens.paris
        )
        return code == 200

    wait_until(recovered)
    viewer.recv_until(is_status("paris", "paused"))


def test_redis_coming_back_empty_gets_the_last_state_back_under_a_new_epoch(
    server_factory: Start, tmp_path: Path, ws_client: Open, tokens: Tokens
) -> None:
    volatile = RedisServer(tmp_path / "volatile", appendonly=False).start()
    try:
        one = start_on(server_factory, volatile, tmp_path, "one")
        one.post_json(
            "/api/cities/paris/status",
            {"id": "e1", "state": "delayed", "delay_minutes": 25},
            tokens.paris,
        )
        wait_until(lambda: city_state(one, "paris") == "delayed")
        before = one.get_json("/api/state")
        viewer = ws_client(one.ws_url)
        viewer.hello()
        viewer.recv()
        volatile.restart()  # no persistence: Redis comes back empty
        wait_until(lambda: one.get_json("/api/state")["epoch"] != before["epoch"], timeout_s=15)
        after = one.get_json("/api/state")
        paris = next(c for c in after["cities"] if c["id"] == "paris")
        assert paris["state"] == "delayed"
        assert paris["expected_start_utc"] == "2025-09-20T12:25:00Z"
        assert after["seq"] >= before["seq"]
        # Connected clients are told to resynchronise (close 1012), then see the new epoch.
        assert viewer.wait_closed() == 1012
        again = ws_client(one.ws_url)
        welcome = again.hello(since=before["seq"], epoch=before["epoch"])
        assert welcome["epoch"] == after["epoch"]
        assert again.recv()["type"] == "snapshot"
    finally:
        volatile.kill()


def test_workers_need_redis(server_factory: Start, tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.support.harness import ROOT, SHIPPED_CONFIG

    result = subprocess.run(
        [sys.executable, "-m", "coordinator", "serve", "--workers", "2", "--config", str(SHIPPED_CONFIG)],
        capture_output=True, text=True, cwd=ROOT, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "--workers above 1 needs --redis-url" in result.stderr


def test_two_workers_on_one_host_share_the_state(
    server_factory: Start,
    redis_server: RedisServer,
    tmp_path: Path,
    ws_client: Open,
    tokens: Tokens,
) -> None:
    server = server_factory(
        "--workers", "2", "--redis-url", redis_server.url, "--redis-prefix", "w2:",
        data_dir=tmp_path / "w",
    )  # fmt: skip
    viewers = [ws_client(server.ws_url) for _ in range(6)]  # spread over both workers
    for v in viewers:
        v.hello()
        v.recv()
    code, ack = server.post_json(
        "/api/cities/paris/status", {"id": "w1", "state": "live"}, tokens.paris
    )
    assert code == 200
    for v in viewers:
        assert v.recv_until(is_status("paris", "live"))["seq"] == ack["seq"]


def test_two_simultaneous_gos_on_two_processes_advance_once(
    server_factory: Start,
    redis_server: RedisServer,
    tmp_path: Path,
    ws_client: Open,
    tokens: Tokens,
) -> None:
    one = start_on(server_factory, redis_server, tmp_path, "one")
    two = start_on(server_factory, redis_server, tmp_path, "two")
    operators = [ws_client(one.ws_url), ws_client(two.ws_url)]
    for op in operators:
        op.hello(tokens.paris_operator)
        op.recv_until(lambda m: m["type"] == "snapshot")
    for round_ in range(5):  # both press GO on the same line, five lines in a row
        for n, op in enumerate(operators):
            op.send(
                {
                    "type": "cue",
                    "id": f"go-{round_}-{n}",
                    "city": "paris",
                    "action": "next",
                    "from": round_,
                }
            )
        replies = [op.recv_until(lambda m: m["type"] in ("ack", "error")) for op in operators]
        assert sorted(r["type"] for r in replies) == ["ack", "error"], replies
        assert next(r for r in replies if r["type"] == "error")["code"] == "conflict"
    wait_until(lambda: one.get_json("/api/state")["cues"]["paris"]["index"] == 5)
    assert two.get_json("/api/state")["cues"]["paris"]["index"] == 5


def test_a_script_uploaded_through_one_process_reaches_the_other(
    server_factory: Start,
    redis_server: RedisServer,
    tmp_path: Path,
    ws_client: Open,
    tokens: Tokens,
) -> None:
    from tests.support.harness import http_request

    one = start_on(server_factory, redis_server, tmp_path, "one")
    two = start_on(server_factory, redis_server, tmp_path, "two")
    screen = ws_client(two.ws_url)
    screen.hello(channels=["cues:paris"])
    screen.recv()
    status, _, _ = http_request(
        "PUT",
        one.url + "/api/cues/paris/script",
        headers={"Authorization": f"Bearer {tokens.admin}", "Content-Type": "text/csv"},
        body=b"n,en,fr\n1,One,Un\n2,Two,Deux\n",
    )
    assert status == 200
    reloaded = screen.recv_until(lambda m: m["type"] == "event" and m["kind"] == "cue")
    assert reloaded["count"] == 2
    # A GO through the other process uses the new script.
    op = ws_client(two.ws_url)
    op.hello(tokens.paris_operator)
    op.send({"type": "cue", "id": "g1", "city": "paris", "action": "next"})
    shown = screen.recv_until(lambda m: m["type"] == "event" and m["kind"] == "cue")
    assert (shown["index"], shown["text"]["fr"]) == (1, "Un")
