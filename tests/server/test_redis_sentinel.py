"""Redis with replicas, Sentinel and TLS: acknowledgements wait for a replica, processes
follow a failover by themselves, viewers are told while the service is degraded, and
``rediss://`` / ``rediss+sentinel://`` trust a CA file. Each test runs its own redis-server
processes on free ports (tests/support/redis_cluster.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Tokens
from tests.support.harness import RedisServer, ServerProcess, WsClient, http_request
from tests.support.redis_cluster import RedisNode, SentinelGroup, Tls

pytestmark = pytest.mark.redis

Open = Callable[..., WsClient]
Start = Callable[..., ServerProcess]


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[RedisNode, RedisNode]]:
    """A Redis primary and one replica of it (no Sentinel), both killed at the end."""
    primary = RedisNode(tmp_path / "primary")
    primary.start()
    replica = RedisNode(tmp_path / "replica", replica_of=primary.port)
    try:
        replica.start()
        yield primary, replica
    finally:
        replica.kill()
        primary.kill()


def serve_on(start: Start, primary: RedisNode, prefix: str, *options: str) -> ServerProcess:
    return start(
        "--redis-url", f"redis://127.0.0.1:{primary.port}/0", "--redis-prefix", prefix, *options
    )  # fmt: skip


@pytest.fixture
def group(tmp_path: Path) -> Iterator[SentinelGroup]:
    started = SentinelGroup(tmp_path / "redis").start()
    yield started
    started.stop()


def post_status(server: ServerProcess, token: str, cmd_id: str, state: str) -> tuple[int, Any]:
    return server.post_json("/api/cities/paris/status", {"id": cmd_id, "state": state}, token)


def until_acked(server: ServerProcess, token: str, cmd_id: str, state: str) -> dict[str, Any]:
    """Retry a command with the same id while it is ``unavailable``, as clients do."""
    deadline = time.monotonic() + 30
    while True:
        code, body = post_status(server, token, cmd_id, state)
        if code == 200:
            return dict(body)
        assert body["code"] == "unavailable", body
        assert time.monotonic() < deadline, f"{cmd_id} was not acknowledged within 30 s"
        time.sleep(0.1)


def is_status_event(message: dict[str, Any]) -> bool:
    return bool(message["type"] == "event" and message["kind"] == "status")


def ready(server: ServerProcess) -> int:
    return http_request("GET", server.url + "/readyz")[0]


def audit_ids(server: ServerProcess, tokens: Tokens) -> list[str]:
    entries = server.get_json("/api/log", {"Authorization": f"Bearer {tokens.admin}"})["entries"]
    return [e["command_id"] for e in entries]


def test_a_sentinel_url_follows_a_failover_and_viewers_are_told_it_is_degraded(
    server_factory: Start, group: SentinelGroup, tmp_path: Path, ws_client: Open, tokens: Tokens
) -> None:
    server = server_factory("--redis-url", group.url, "--redis-prefix", "s:")
    viewer = ws_client(server.ws_url)
    welcome = viewer.hello()
    assert viewer.recv()["type"] == "snapshot"
    first = until_acked(server, tokens.paris, "f1", "preparing")
    assert viewer.recv_until(lambda m: m["type"] == "event")["seq"] == first["seq"]
    assert ready(server) == 200

    group.primary().kill()
    assert viewer.recv_until(lambda m: m["type"] == "service", 5) == {
        "type": "service",
        "state": "degraded",
    }
    assert ready(server) == 503
    # A viewer arriving meanwhile gets the last state, then the same notice.
    late = ws_client(server.ws_url)
    late.hello()
    assert late.recv()["type"] == "snapshot"
    assert late.recv()["state"] == "degraded"

    second = until_acked(server, tokens.paris, "f2", "live")
    got = viewer.collect(
        {
            "ok": lambda m: m == {"type": "service", "state": "ok"},
            "event": lambda m: m["type"] == "event" and m["seq"] == second["seq"],
        },
        timeout_s=15,
    )
    assert got["event"]["state"] == "live"
    assert second["seq"] == first["seq"] + 1 == welcome["seq"] + 2
    assert ready(server) == 200
    assert audit_ids(server, tokens) == ["f1", "f2"]


def test_with_min_replicas_no_ack_without_the_replica_and_the_retry_applies_once(
    server_factory: Start, pair: tuple[RedisNode, RedisNode], tokens: Tokens
) -> None:
    primary, replica = pair
    server = serve_on(server_factory, primary, "m:", "--redis-min-replicas", "1")
    assert until_acked(server, tokens.paris, "m1", "preparing")
    replica.kill()
    started = time.monotonic()
    code, body = post_status(server, tokens.paris, "m2", "live")
    assert (code, body["code"]) == (503, "unavailable"), body
    assert "replica" in body["message"]
    assert time.monotonic() - started < 5
    replica.start()
    ack = until_acked(server, tokens.paris, "m2", "live")
    # Applied on the primary the first time, acknowledged now: once, under its first seq.
    assert audit_ids(server, tokens) == ["m1", "m2"]
    log = server.get_json("/api/log", {"Authorization": f"Bearer {tokens.admin}"})
    assert log["entries"][-1]["seq"] == ack["seq"]


def test_a_new_token_is_answered_only_once_a_replica_holds_it(
    server_factory: Start, pair: tuple[RedisNode, RedisNode], tokens: Tokens
) -> None:
    """An invite handed out for a token that a failover then loses would not sign anyone in:
    a token is created, as it is revoked, under the replica rule of every change."""
    primary, replica = pair
    admin = {"Authorization": f"Bearer {tokens.admin}", "Content-Type": "application/json"}
    body = b'{"role": "coordinator", "city": "paris", "label": "Paris, second"}'
    server = serve_on(server_factory, primary, "t:", "--redis-min-replicas", "1")
    assert until_acked(server, tokens.paris, "t1", "preparing")
    replica.kill()
    code, _, answer = http_request("POST", server.url + "/api/tokens", admin, body)
    assert code == 503 and b'"unavailable"' in answer and b'"token"' not in answer, answer
    replica.start()
    deadline = time.monotonic() + 30
    while (code := http_request("POST", server.url + "/api/tokens", admin, body)[0]) != 201:
        assert code == 503 and time.monotonic() < deadline, code
        time.sleep(0.2)


def test_by_default_an_ack_waits_for_an_online_replica(
    server_factory: Start, pair: tuple[RedisNode, RedisNode], tokens: Tokens
) -> None:
    primary, replica = pair
    server = serve_on(server_factory, primary, "d:")
    assert until_acked(server, tokens.paris, "d1", "preparing")
    # The replica stops answering (its link stays up), so the primary cannot get its
    # confirmation: the command is not acknowledged...
    sleeper = replica.client(timeout_s=10)
    asleep = threading.Thread(target=sleeper.execute_command, args=("DEBUG", "SLEEP", "3"))
    asleep.start()
    time.sleep(0.3)
    code, body = post_status(server, tokens.paris, "d2", "live")
    asleep.join(10)
    sleeper.close()
    assert (code, body["code"]) == (503, "unavailable"), body
    # ...and once it is back, the retry is acknowledged, applied once.
    until_acked(server, tokens.paris, "d2", "live")
    assert audit_ids(server, tokens) == ["d1", "d2"]


def test_a_plain_redis_outage_is_told_to_viewers_and_readyz(
    server_factory: Start, tmp_path: Path, ws_client: Open, tokens: Tokens
) -> None:
    redis = RedisServer(tmp_path / "redis").start()
    try:
        server = server_factory("--redis-url", redis.url, "--redis-prefix", "o:")
        viewer = ws_client(server.ws_url)
        viewer.hello(channels=["cues:paris"])
        assert viewer.recv()["type"] == "snapshot"
        assert ready(server) == 200
        redis.kill()
        assert viewer.recv_until(lambda m: m["type"] == "service", 5)["state"] == "degraded"
        status, _, body = http_request("GET", server.url + "/readyz")
        assert status == 503 and b'"code":"unavailable"' in body.replace(b" ", b"")
        assert server.get("/healthz")[0] == 200  # alive all the same
        redis.start()
        assert viewer.recv_until(lambda m: m["type"] == "service", 10)["state"] == "ok"
        assert ready(server) == 200
    finally:
        redis.kill()


@pytest.mark.parametrize("trust", ["ca", "no-verify"])
def test_rediss_sentinel_follows_a_failover_over_tls(
    server_factory: Start, tmp_path: Path, ws_client: Open, tokens: Tokens, trust: str
) -> None:
    tls = Tls.make(tmp_path / "tls")
    group = SentinelGroup(tmp_path / "redis", tls=tls).start()
    try:
        assert group.url.startswith("rediss+sentinel://")
        with pytest.raises(RuntimeError) as refused:  # the system's CAs do not know ours
            server_factory("--redis-url", group.url, data_dir=tmp_path / "untrusted")
        assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value)
        assert "give its CA with --redis-tls-ca" in str(refused.value)
        env = (
            {"COORDINATOR_REDIS_TLS_CA": str(tls.ca)}
            if trust == "ca"
            else {"COORDINATOR_REDIS_TLS_NO_VERIFY": "1"}
        )
        server = server_factory("--redis-url", group.url, "--redis-prefix", "ts:", env=env)
        viewer = ws_client(server.ws_url)
        viewer.hello()
        viewer.recv()
        first = until_acked(server, tokens.paris, "ts1", "preparing")
        group.primary().kill()
        second = until_acked(server, tokens.paris, "ts2", "live")
        assert second["seq"] == first["seq"] + 1
        seqs = [viewer.recv_until(lambda m: m["type"] == "event", 15)["seq"] for _ in range(2)]
        assert seqs == [first["seq"], second["seq"]]
        assert audit_ids(server, tokens) == ["ts1", "ts2"]
    finally:
        group.stop()


def test_a_manual_failover_is_followed_and_no_client_is_dropped(
    server_factory: Start, group: SentinelGroup, ws_client: Open, tokens: Tokens
) -> None:
    """SENTINEL FAILOVER demotes a live primary: connections to it now get READONLY, which
    must send the process to the new primary, not drop the client."""
    server = server_factory("--redis-url", group.url, "--redis-prefix", "mf:")
    viewer = ws_client(server.ws_url)
    viewer.hello(channels=["status:paris"])
    viewer.recv()
    staff = ws_client(server.ws_url)
    staff.hello(tokens.paris)

    def command(cmd_id: str, state: str) -> dict[str, Any]:
        extra = {"delay_minutes": 5} if state == "delayed" else {}
        deadline = time.monotonic() + 30
        while True:
            staff.send({"type": "status", "id": cmd_id, "city": "paris", "state": state, **extra})
            reply = staff.recv_until(lambda m: m.get("id") == cmd_id, 15)
            if reply["type"] == "ack" or reply["code"] != "unavailable":
                return reply
            assert time.monotonic() < deadline
            time.sleep(0.1)

    states = ["preparing", "delayed", "scheduled", "preparing", "live", "paused", "live"]
    acks = [command("mf0", "preparing")]
    old = group.primary()
    with group.sentinels[0].client() as sentinel:
        assert sentinel.execute_command("SENTINEL", "FAILOVER", "show")
    new = group.wait_failover(old)
    group.wait_settled(new, replicas=1)
    acks += [command(f"mf{n}", state) for n, state in enumerate(states[1:], 1)]
    assert [a["type"] for a in acks] == ["ack"] * len(states), acks
    changes = [viewer.recv_until(is_status_event, 10)["seq"] for _ in states]
    assert changes == [a["seq"] for a in acks] == list(range(acks[0]["seq"], acks[0]["seq"] + 7))
