"""Live status over the real server: coordinators change their city, everyone sees it, nothing
is lost across reconnects and restarts."""

from __future__ import annotations

import csv
import io
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Tokens
from tests.support.harness import ROOT, ServerProcess, WsClient
from tests.support.messages import status

Open = Callable[..., WsClient]


def is_event(kind: str, city: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m["type"] == "event" and m["kind"] == kind and m["city"] == city


def city_in(snapshot: dict[str, Any], city_id: str) -> dict[str, Any]:
    return next(c for c in snapshot["cities"] if c["id"] == city_id)


def test_viewer_gets_welcome_then_snapshot(backend_server: ServerProcess, ws_client: Open) -> None:
    viewer = ws_client(backend_server.ws_url)
    welcome = viewer.hello()
    assert welcome["type"] == "welcome"
    assert welcome["role"] == "public"
    assert welcome["city"] is None
    assert isinstance(welcome["epoch"], str)
    assert welcome["epoch"]
    snap = viewer.recv()
    assert snap["type"] == "snapshot"
    assert snap["seq"] == welcome["seq"]
    assert snap["epoch"] == welcome["epoch"]
    paris = city_in(snap, "paris")
    assert paris["state"] == "scheduled"
    assert paris["online"] is False
    assert paris["start_utc"] == "2025-09-20T12:00:00Z"
    assert paris["expected_start_utc"] is None
    assert len(snap["cities"]) == 7


def test_public_viewer_receives_a_coordinators_change(
    backend_server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    viewer = ws_client(backend_server.ws_url)
    viewer.hello()
    viewer.recv()  # snapshot
    coordinator = ws_client(backend_server.ws_url)
    welcome = coordinator.hello(tokens.paris)
    assert (welcome["role"], welcome["city"]) == ("coordinator", "paris")
    coordinator.recv()  # snapshot
    coordinator.send(status("c-1", "paris", "live", note="40 people, <b>starting</b> now"))
    ack = coordinator.recv_until(lambda m: m["type"] == "ack")
    assert ack["id"] == "c-1"
    event = viewer.recv_until(is_event("status", "paris"))
    assert event["state"] == "live"
    assert event["note"] == "40 people, <b>starting</b> now"  # stored as text, escaped when shown
    assert event["seq"] == ack["seq"]
    snap = backend_server.get_json("/api/state")
    assert city_in(snap, "paris")["state"] == "live"
    assert snap["seq"] == ack["seq"]


def test_another_city_is_forbidden_and_unchanged(
    backend_server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    coordinator = ws_client(backend_server.ws_url)
    coordinator.hello(tokens.paris)
    coordinator.recv_until(is_event("presence", "paris"))  # settled: online
    before = backend_server.get_json("/api/state")
    for target in ("berlin", "new-york"):
        coordinator.send(status(f"c-{target}", target, "cancelled"))
        error = coordinator.recv_until(lambda m: m["type"] == "error")
        assert error["code"] == "forbidden"
        assert error["id"] == f"c-{target}"
    after = backend_server.get_json("/api/state")
    assert after == before
    # The connection still works for its own city.
    coordinator.send(status("c-own", "paris", "preparing"))
    assert coordinator.recv_until(lambda m: m["type"] in ("ack", "error"))["type"] == "ack"


@pytest.mark.parametrize(
    ("frame", "code", "mentions"),
    [
        ("{not json", "invalid", "not valid JSON"),
        ('{"type": "dance"}', "invalid", "unknown message type"),
        ('{"type": "status", "id": "x1", "city": "paris"}', "invalid", "status.state"),
        ('{"type": "status", "id": "x2", "city": "paris", "state": "asleep"}', "invalid", "state"),
        (
            '{"type": "status", "id": "x3", "city": "paris", "state": "live", "note": 5}',
            "invalid",
            "status.note",
        ),
        ('{"type": "status", "city": "paris", "state": "live"}', "invalid", "status.id"),
        ("[1, 2]", "invalid", "JSON object"),
        ('{"type": "status", "type": "ping"}', "invalid", "duplicate key"),
        (
            '{"type": "status", "id": "x4", "city": "paris", "state": "delayed"}',
            "invalid",
            "delay_minutes",
        ),
        (
            '{"type": "status", "id": "x5", "city": "paris", "state": "finished"}',
            "conflict",
            "scheduled to finished",
        ),
        ('{"type": "status", "id": "x6", "city": "lyon", "state": "live"}', "not_found", "lyon"),
    ],
)
def test_bad_messages_get_errors_and_the_connection_still_works(
    backend_server: ServerProcess,
    ws_client: Open,
    tokens: Tokens,
    frame: str,
    code: str,
    mentions: str,
) -> None:
    coordinator = ws_client(backend_server.ws_url)
    coordinator.hello(tokens.paris)
    coordinator.recv()
    coordinator.send(frame)
    error = coordinator.recv_until(lambda m: m["type"] == "error")
    assert error["code"] == code
    assert mentions in error["message"]
    coordinator.send({"type": "ping"})
    assert coordinator.recv_until(lambda m: m["type"] in ("pong", "error"))["type"] == "pong"
    assert city_in(backend_server.get_json("/api/state"), "paris")["state"] == "scheduled"


def test_public_viewer_cannot_command(backend_server: ServerProcess, ws_client: Open) -> None:
    viewer = ws_client(backend_server.ws_url)
    viewer.hello()
    viewer.recv()
    viewer.send(status("v-1", "paris", "live"))
    assert viewer.recv_until(lambda m: m["type"] == "error")["code"] == "unauthorized"


def test_bad_token_stays_a_public_viewer(backend_server: ServerProcess, ws_client: Open) -> None:
    client = ws_client(backend_server.ws_url)
    client.send({"type": "hello", "token": "not-a-token"})
    error = client.recv()
    assert (error["type"], error["code"]) == ("error", "unauthorized")
    welcome = client.recv()
    assert welcome["type"] == "welcome"
    assert welcome["role"] == "public"
    assert client.recv()["type"] == "snapshot"


def test_duplicate_command_id_takes_effect_once(
    backend_server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    viewer = ws_client(backend_server.ws_url)
    viewer.hello()
    viewer.recv()
    coordinator = ws_client(backend_server.ws_url)
    coordinator.hello(tokens.paris)
    coordinator.recv()
    coordinator.send(status("c-dup", "paris", "delayed", delay_minutes=15))
    first = coordinator.recv_until(lambda m: m["type"] == "ack")
    # A retry after a reconnect: a new connection, the same token and id.
    coordinator.close()
    retry = ws_client(backend_server.ws_url)
    retry.hello(tokens.paris)
    retry.send(status("c-dup", "paris", "delayed", delay_minutes=15))
    second = retry.recv_until(lambda m: m["type"] == "ack")
    assert second["seq"] == first["seq"]
    events = []
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        try:
            message = viewer.recv(0.2)
        except TimeoutError:
            continue
        if message["type"] == "event" and message["kind"] == "status":
            events.append(message)
    assert len(events) == 1
    paris = city_in(backend_server.get_json("/api/state"), "paris")
    assert paris["state"] == "delayed"
    assert paris["expected_start_utc"] == "2025-09-20T12:15:00Z"


def test_delay_replaces_and_going_live_clears_expected_start(
    backend_server: ServerProcess, tokens: Tokens
) -> None:
    path = "/api/cities/paris/status"
    assert (
        backend_server.post_json(
            path, {"id": "h1", "state": "delayed", "delay_minutes": 15}, tokens.paris
        )[0]
        == 200
    )
    assert (
        backend_server.post_json(
            path, {"id": "h2", "state": "delayed", "delay_minutes": 40}, tokens.paris
        )[0]
        == 200
    )
    paris = city_in(backend_server.get_json("/api/state"), "paris")
    assert paris["expected_start_utc"] == "2025-09-20T12:40:00Z"  # replaced, not added
    assert paris["delay_minutes"] == 40
    code, ack = backend_server.post_json(path, {"id": "h3", "state": "live"}, tokens.paris)
    assert code == 200
    assert ack["type"] == "ack"
    paris = city_in(backend_server.get_json("/api/state"), "paris")
    assert paris["state"] == "live"
    assert paris["expected_start_utc"] is None


def test_http_commands_answer_with_the_same_objects(
    backend_server: ServerProcess, tokens: Tokens
) -> None:
    path = "/api/cities/paris/status"
    code, body = backend_server.post_json(path, {"id": "h1", "state": "live"})
    assert (code, body["code"]) == (401, "unauthorized")
    code, body = backend_server.post_json(
        "/api/cities/berlin/status", {"id": "h2", "state": "live"}, tokens.paris
    )
    assert (code, body["code"], body["id"]) == (403, "forbidden", "h2")
    code, body = backend_server.post_json(path, {"id": "h3", "state": "nope"}, tokens.paris)
    assert (code, body["code"]) == (400, "invalid")
    assert "status.state" in body["message"]
    code, body = backend_server.post_json(
        path, {"id": "h4", "state": "live", "city": "berlin"}, tokens.paris
    )
    assert (code, body["code"]) == (400, "invalid")
    code, body = backend_server.post_json(
        path, {"id": "h5", "state": "cancelled", "note": "rain"}, tokens.paris
    )
    assert (code, body["type"], body["id"]) == (200, "ack", "h5")
    code, body = backend_server.post_json(path, {"id": "h6", "state": "live"}, tokens.paris)
    assert (code, body["code"]) == (409, "conflict")
    assert "only an admin" in body["message"]
    # An admin may reopen a cancelled reading.
    code, body = backend_server.post_json(path, {"id": "h7", "state": "scheduled"}, tokens.admin)
    assert code == 200


def test_audit_log_for_admins_with_csv_export(
    backend_server: ServerProcess, tokens: Tokens
) -> None:
    backend_server.post_json(
        "/api/cities/paris/status", {"id": "a1", "state": "preparing", "note": "=1+1"}, tokens.paris
    )
    backend_server.post_json(
        "/api/cities/paris/status", {"id": "a2", "state": "live"}, tokens.paris
    )
    status_code, _, _ = backend_server.get("/api/log", {"Authorization": f"Bearer {tokens.paris}"})
    assert status_code == 403
    log = backend_server.get_json("/api/log", {"Authorization": f"Bearer {tokens.admin}"})[
        "entries"
    ]
    assert [(e["from"], e["to"]) for e in log] == [
        ("scheduled", "preparing"),
        ("preparing", "live"),
    ]
    first = log[0]
    assert first["role"] == "coordinator"
    assert first["actor"] == tokens.records["paris"].id
    assert first["city"] == "paris"
    assert first["note"] == "=1+1"
    assert first["at"].endswith("Z")
    status_code, headers, body = backend_server.get(
        "/api/log.csv", {"Authorization": f"Bearer {tokens.admin}"}
    )
    assert status_code == 200
    assert headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert [r["to"] for r in rows] == ["preparing", "live"]
    assert rows[0]["note"] == "'=1+1"  # a spreadsheet will not run it as a formula


def test_reconnect_with_since_gets_exactly_the_missed_events(
    backend_server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    viewer = ws_client(backend_server.ws_url)
    welcome = viewer.hello()
    viewer.recv()
    backend_server.post_json(
        "/api/cities/paris/status", {"id": "m1", "state": "preparing"}, tokens.paris
    )
    seen = viewer.recv_until(is_event("status", "paris"))
    viewer.close()  # the phone loses signal
    missed = []
    for n, state in enumerate(["live", "paused", "live"], start=2):
        _, ack = backend_server.post_json(
            "/api/cities/paris/status", {"id": f"m{n}", "state": state}, tokens.paris
        )
        missed.append(ack["seq"])
    back = ws_client(backend_server.ws_url)
    again = back.hello(since=seen["seq"], epoch=welcome["epoch"])
    assert again["seq"] == missed[-1]
    replayed = [back.recv() for _ in missed]
    assert [m["seq"] for m in replayed] == missed
    assert [m["state"] for m in replayed] == ["live", "paused", "live"]
    back.expect_silence(0.5)  # no snapshot, no duplicates


def test_other_epoch_or_future_seq_gets_a_snapshot(
    backend_server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    backend_server.post_json(
        "/api/cities/paris/status", {"id": "e1", "state": "preparing"}, tokens.paris
    )
    client = ws_client(backend_server.ws_url)
    client.hello(since=0, epoch="an-older-history")
    assert client.recv()["type"] == "snapshot"
    client2 = ws_client(backend_server.ws_url)
    client2.hello(since=999)
    assert client2.recv()["type"] == "snapshot"


def test_state_and_seq_survive_kill_and_restart(
    backend_server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    backend_server.post_json(
        "/api/cities/paris/status",
        {"id": "k1", "state": "delayed", "delay_minutes": 20, "note": "rain"},
        tokens.paris,
    )
    _, ack = backend_server.post_json(
        "/api/cities/berlin/status", {"id": "k2", "state": "cancelled"}, tokens.berlin
    )
    before = backend_server.get_json("/api/state")
    backend_server.kill()  # SIGKILL: no graceful shutdown
    backend_server.start()
    after = backend_server.get_json("/api/state")
    assert after["epoch"] == before["epoch"]
    assert after["seq"] == before["seq"] == ack["seq"]
    assert city_in(after, "paris") == city_in(before, "paris")
    assert city_in(after, "berlin")["state"] == "cancelled"
    # A retry of an acknowledged command after the restart is still recognised.
    _, again = backend_server.post_json(
        "/api/cities/berlin/status", {"id": "k2", "state": "cancelled"}, tokens.berlin
    )
    assert again["seq"] == ack["seq"]


def test_presence_follows_the_coordinators_connection(
    backend_server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    viewer = ws_client(backend_server.ws_url)
    viewer.hello()
    viewer.recv()
    coordinator = ws_client(backend_server.ws_url)
    coordinator.hello(tokens.paris)
    online = viewer.recv_until(is_event("presence", "paris"))
    assert online["online"] is True
    assert city_in(backend_server.get_json("/api/state"), "paris")["online"] is True
    coordinator.close()
    offline = viewer.recv_until(is_event("presence", "paris"))
    assert offline["online"] is False
    assert offline["seq"] == online["seq"] + 1
    assert city_in(backend_server.get_json("/api/state"), "paris")["online"] is False


def test_a_revoked_token_stops_working_on_a_running_server(
    backend_server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    coordinator = ws_client(backend_server.ws_url)
    coordinator.hello(tokens.paris)
    coordinator.recv()
    result = backend_server.token_cli("revoke", tokens.records["paris"].id)
    assert result.returncode == 0, result.stderr
    # The server tells the open connection by itself (within a second: it follows the store).
    told = coordinator.recv_until(lambda m: m["type"] == "error", timeout_s=3)
    assert told == {
        "type": "error",
        "id": None,
        "code": "unauthorized",
        "message": "this token has been revoked",
    }
    coordinator.send(status("r-1", "paris", "live"))
    assert coordinator.recv_until(lambda m: m["type"] == "error")["code"] == "unauthorized"
    code, _ = backend_server.post_json(
        "/api/cities/paris/status", {"id": "r-2", "state": "live"}, tokens.paris
    )
    assert code == 401


def test_token_cli_prints_the_token_once_and_stores_only_its_hash(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "coordinator", "token", *args, "--data-dir", str(data_dir)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )

    added = run("add", "--role", "coordinator", "--city", "paris", "--label", "Keauna's phone")
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip().splitlines()[-1]
    assert len(token) >= 40
    assert " " not in token
    stored = b"".join(p.read_bytes() for p in data_dir.iterdir() if p.is_file())
    assert token.encode() not in stored
    assert b"sha256:" in stored
    listed = run("list")
    assert "coordinator" in listed.stdout
    assert "paris" in listed.stdout
    assert "Keauna's phone" in listed.stdout
    assert token not in listed.stdout
    assert run("add", "--role", "operator").returncode == 1  # needs --city
    unknown = run("add", "--role", "operator", "--city", "atlantis")
    assert unknown.returncode == 1 and "atlantis" in unknown.stderr


def test_a_damaged_database_stops_the_start_with_a_clear_message(
    server: ServerProcess, tokens: Tokens
) -> None:
    server.post_json("/api/cities/paris/status", {"id": "d1", "state": "live"}, tokens.paris)
    server.stop()
    db = server.data_dir / "coordinator.sqlite3"
    with sqlite3.connect(db) as conn:  # checkpoint so the data sits in the main file
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(db.read_bytes())
    data[0:16] = b"garbage garbage!"
    db.write_bytes(bytes(data))
    with pytest.raises(RuntimeError) as info:
        server.start(timeout_s=10)
    text = str(info.value)
    assert "cannot read the database" in text
    assert "Traceback" not in text


def test_an_empty_or_blank_note_clears_the_note_and_keeps_the_state(
    backend_server: ServerProcess, tokens: Tokens
) -> None:
    """The coordinator's "Clear the note" sends ``note: ""`` (docs/protocol.md)."""
    path = "/api/cities/paris/status"
    note = "Rain: we start 30 min later"
    code, _ = backend_server.post_json(
        path, status("n1", "paris", "delayed", delay_minutes=30, note=note), tokens.paris
    )
    assert code == 200
    assert backend_server.post_json(path, status("n2", "paris", "live"), tokens.paris)[0] == 200
    paris = city_in(backend_server.get_json("/api/state"), "paris")
    assert paris["note"] == note  # absent: kept
    assert (
        backend_server.post_json(path, status("n3", "paris", "live", note=""), tokens.paris)[0]
        == 200
    )
    paris = city_in(backend_server.get_json("/api/state"), "paris")
    assert (paris["state"], paris["note"]) == ("live", "")
    code, _ = backend_server.post_json(path, status("n4", "paris", "live", note="x"), tokens.paris)
    assert code == 200
    code, _ = backend_server.post_json(
        path, status("n5", "paris", "live", note=" \n "), tokens.paris
    )
    assert code == 200
    assert city_in(backend_server.get_json("/api/state"), "paris")["note"] == ""
