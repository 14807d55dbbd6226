"""Hostile test 21 (docs/security.md): the store refuses writes for a while. SQLite's write
lock held by another process, Redis at maxmemory, a secrets file broken for a moment: every
command gets an answer (``unavailable``, 503), nothing is lost, and the server serves others
meanwhile."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import redis

from tests.conftest import Tokens
from tests.hostile.tools import assert_intact, control_viewer
from tests.support.harness import RedisServer, ServerProcess, WsClient
from tests.support.messages import status

Open = Callable[..., WsClient]
Start = Callable[..., ServerProcess]


def _refused_then_accepted(
    server: ServerProcess, coordinator: WsClient, tokens: Tokens, block: Callable[[], object],
    unblock: Callable[[], object], prefix: str,
) -> None:  # fmt: skip
    """While ``block`` holds: a websocket command and an HTTP one get ``unavailable`` (the
    socket stays open), a new viewer still gets its snapshot; after ``unblock`` both pass."""
    block()
    try:
        started = time.monotonic()
        coordinator.send(status(f"{prefix}-ws", "paris", "preparing"))
        reply = coordinator.recv_until(lambda m: m["type"] in ("ack", "error"), timeout_s=10)
        assert reply["type"] == "error" and reply["code"] == "unavailable", reply
        assert time.monotonic() - started < 2
        code, body = server.post_json(
            "/api/cities/paris/status", {"id": f"{prefix}-http", "state": "preparing"}, tokens.paris
        )
        assert code == 503 and body["code"] == "unavailable", (code, body)
        viewer = WsClient(server.ws_url)
        try:
            viewer.hello()
            assert viewer.recv()["type"] == "snapshot"
        finally:
            viewer.close()
    finally:
        unblock()
    coordinator.send(status(f"{prefix}-ws", "paris", "preparing"))
    reply = coordinator.recv_until(lambda m: m["type"] in ("ack", "error"), timeout_s=10)
    assert reply["type"] == "ack", reply


def test_a_locked_sqlite_database_answers_unavailable_and_loses_nothing(
    server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    holder = sqlite3.connect(server.data_dir / "coordinator.sqlite3", isolation_level=None)
    with control_viewer(server) as viewer:
        coordinator = ws_client(server.ws_url)
        coordinator.hello(tokens.paris)
        _refused_then_accepted(
            server, coordinator, tokens,
            lambda: holder.execute("BEGIN IMMEDIATE"),  # another process's write lock
            lambda: holder.execute("ROLLBACK"),
            "lock",
        )  # fmt: skip
        assert_intact(server, viewer, tokens.admin, expected_audit=["lock-ws"])
    holder.close()


def test_redis_at_maxmemory_answers_unavailable_and_loses_nothing(
    server_factory: Start, ws_client: Open, tokens: Tokens, tmp_path: Path
) -> None:
    private = RedisServer(tmp_path / "redis").start()
    admin = redis.Redis.from_url(private.url)
    try:
        server = server_factory("--redis-url", private.url, "--redis-prefix", "t:")
        with control_viewer(server) as viewer:
            coordinator = ws_client(server.ws_url)
            coordinator.hello(tokens.paris)

            def full() -> None:
                used = int(admin.info("memory")["used_memory"])
                admin.config_set("maxmemory-policy", "noeviction")
                admin.config_set("maxmemory", str(max(1, used // 2)))

            _refused_then_accepted(
                server, coordinator, tokens, full, lambda: admin.config_set("maxmemory", "0"), "oom"
            )
            assert_intact(server, viewer, tokens.admin, expected_audit=["oom-ws"])
        assert "Traceback" not in server.log()
    finally:
        admin.close()
        private.kill()


def test_a_secrets_file_edited_or_broken_after_the_start_changes_no_token(
    server: ServerProcess, ws_client: Open, tokens: Tokens, secrets_path: Path
) -> None:
    """The file is imported once, at start; the store is the source of tokens after that, so
    a half-written or emptied file must neither lock anyone out nor bring anything back."""
    coordinator = ws_client(server.ws_url)
    coordinator.hello(tokens.paris)
    secrets_path.write_text("tokens: [ {id: half-written", encoding="utf-8")
    coordinator.send(status("s-1", "paris", "preparing"))
    assert coordinator.recv_until(lambda m: m["type"] in ("ack", "error"))["type"] == "ack"
    secrets_path.write_text("tokens: []\n", encoding="utf-8")
    code, body = server.post_json(
        "/api/cities/berlin/status", {"id": "s-2", "state": "preparing"}, tokens.berlin
    )
    assert code == 200, body
    assert "imported 5 token(s)" in server.log()
    assert "Traceback" not in server.log()
