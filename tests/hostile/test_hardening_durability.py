"""Hostile tests 10 and 11 (docs/security.md): ``kill -9`` in the middle of a burst of
commands, and damaged database files."""

from __future__ import annotations

import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REDIS_URL, Tokens
from tests.support.harness import ROOT, ServerProcess, WsClient

Start = Callable[..., ServerProcess]
FAST = ("--limit", "staff_rate_per_s=10000", "--limit", "staff_burst=10000")


@pytest.fixture(params=["sqlite", "redis"])
def burst_server(request: pytest.FixtureRequest, server_factory: Start) -> ServerProcess:
    if request.param == "sqlite":
        return server_factory(*FAST)
    prefix = request.getfixturevalue("redis_prefix")
    return server_factory(*FAST, "--redis-url", REDIS_URL, "--redis-prefix", prefix)


class Sender:
    """One staff connection sending its commands without waiting, acks read on a thread."""

    def __init__(self, url: str, token: str, commands: list[dict[str, Any]]) -> None:
        self.client = WsClient(url)
        self.client.hello(token)
        self.token = token
        self.commands = commands
        self.acks: dict[str, int] = {}
        self.errors: dict[str, str] = {}
        self.sent: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.writer = threading.Thread(target=self._write, daemon=True)

    def start(self) -> None:
        self.reader.start()
        self.writer.start()

    def _write(self) -> None:
        for command in self.commands:
            try:
                self.client.send(command)
            except Exception:
                return
            self.sent.append(command["id"])
            time.sleep(0.004)

    def _read(self) -> None:
        while True:
            try:
                message = self.client.recv(30)
            except Exception:
                return
            if message["type"] == "ack":
                self.acks[message["id"]] = message["seq"]
            elif message["type"] == "error" and message["id"]:
                self.errors[message["id"]] = message["code"]

    def join(self) -> None:
        self.writer.join(10)
        self.reader.join(10)
        self.client.close()


def _plan(tokens: Tokens) -> list[tuple[str, list[dict[str, Any]]]]:
    def statuses(prefix: str, city: str) -> list[dict[str, Any]]:
        cycle: list[dict[str, Any]] = [
            {"state": "preparing", "note": "doors open"},
            {"state": "delayed", "delay_minutes": 10, "note": "rain"},
            {"state": "delayed", "delay_minutes": 25},
            {"state": "scheduled", "note": ""},
        ]
        return [
            {"type": "status", "id": f"{prefix}{n}", "city": city, **cycle[n % 4]}
            for n in range(60)
        ]

    cues = [
        {"type": "cue", "id": f"op{n}", "city": "paris", "action": ("next", "prev")[n % 3 == 2]}
        for n in range(60)
    ]
    admin = [
        {"type": "status", "id": f"ad{n}", "city": "helsinki",
         "state": ("preparing", "scheduled")[n % 2], "note": f"admin {n}"}
        for n in range(40)
    ]  # fmt: skip
    return [
        (tokens.paris, statuses("pa", "paris")),
        (tokens.berlin, statuses("be", "berlin")),
        (tokens.paris_operator, cues),
        (tokens.admin, admin),
    ]


def _replay(
    server: ServerProcess, since: int, epoch: str | None, token: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Connect with ``since`` and read the replay up to the welcome's seq (as staff: a viewer
    is replayed at most ``viewer_replay_events``, and the burst makes more)."""
    with WsClient(server.ws_url) as client:
        hello: dict[str, Any] = {"since": since, "token": token}
        if epoch:
            hello["epoch"] = epoch
        welcome = client.hello(**hello)
        events: list[dict[str, Any]] = []
        while (events[-1]["seq"] if events else since) < welcome["seq"]:
            message = client.recv()
            assert message["type"] == "event", message  # a replay, not a snapshot
            events.append(message)
        return welcome, events


def test_kill_9_in_a_burst_keeps_every_ack_and_half_applies_nothing(
    burst_server: ServerProcess, tokens: Tokens
) -> None:
    server = burst_server
    viewer = WsClient(server.ws_url)
    welcome0 = viewer.hello()
    viewer.recv()  # snapshot
    seen: list[dict[str, Any]] = []
    senders = [Sender(server.ws_url, token, commands) for token, commands in _plan(tokens)]
    total = sum(len(s.commands) for s in senders)
    for sender in senders:
        sender.start()
    deadline = time.monotonic() + 30
    while sum(len(s.acks) for s in senders) < total // 2:
        assert time.monotonic() < deadline, "the burst is too slow"
        time.sleep(0.002)
    server.kill()  # SIGKILL, mid-burst
    for sender in senders:
        sender.join()
    while True:
        try:
            message = viewer.recv(1)
        except Exception:
            break
        if message["type"] == "event":
            seen.append(message)
    viewer.close()
    acked = {cid: seq for s in senders for cid, seq in s.acks.items()}
    in_flight = [
        cid for s in senders for cid in s.sent if cid not in s.acks and cid not in s.errors
    ]
    print(f"kill -9: {len(acked)} acked of {total}, {len(in_flight)} sent and unanswered")
    assert in_flight, "the kill came too late to catch commands in flight"

    server.start()
    audit = server.get_json("/api/log", {"Authorization": f"Bearer {tokens.admin}"})["entries"]
    by_id = {e["command_id"]: e for e in audit}
    # 1. Every acknowledged command is there, with the seq it was acknowledged with.
    for cid, seq in acked.items():
        assert cid in by_id, cid
        assert by_id[cid]["seq"] == seq, cid
    # 2. One history: the seqs are contiguous from the start, each audit entry is an event.
    state = server.get_json("/api/state")
    welcome, events = _replay(server, welcome0["seq"], welcome0["epoch"], tokens.admin)
    assert welcome["epoch"] == welcome0["epoch"] == state["epoch"]
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(welcome0["seq"] + 1, state["seq"] + 1))
    by_seq = {e["seq"]: e for e in events}
    for entry in audit:
        event = by_seq[entry["seq"]]
        assert (event["kind"], event["city"]) == (entry["kind"], entry["city"]), entry
    commands = [e for e in events if e["kind"] != "presence"]
    assert len(commands) == len(audit)
    # The control viewer saw a prefix of that same history before the kill.
    assert [e["seq"] for e in seen] == seqs[: len(seen)]
    assert all(by_seq[e["seq"]] == e for e in seen if e["kind"] != "cue")
    # 3. The state is the replay of the log.
    last: dict[tuple[str, str], dict[str, Any]] = {}
    for event in events:
        last[(event["kind"], event["city"])] = event
    for city in state["cities"]:
        status = last.get(("status", city["id"]))
        if status is not None:
            for key in ("state", "note", "delay_minutes", "expected_start_utc"):
                assert city[key] == status[key], (city["id"], key)
    if ("cue", "paris") in last:
        assert state["cues"]["paris"]["index"] == last[("cue", "paris")]["index"]
    # 4. Commands in flight were applied whole or not at all: a retry of each says which, and
    # agrees with the audit log (the idempotency key and the change were one transaction).
    retry_of = {c["id"]: (token, c) for token, cs in _plan(tokens) for c in cs}
    tokens_used = {token for token, _ in _plan(tokens)}
    clients = {token: WsClient(server.ws_url) for token in tokens_used}
    try:
        for client_token, client in clients.items():
            client.hello(client_token)
        for cid in in_flight:
            token, command = retry_of[cid]
            clients[token].send(command)
            reply = clients[token].recv_until(lambda m: m["type"] in ("ack", "error"))
            if cid in by_id:
                assert (reply["type"], reply.get("seq")) == ("ack", by_id[cid]["seq"]), cid
            else:
                assert reply["type"] == "error" or reply["seq"] > state["seq"], (cid, reply)
    finally:
        for client in clients.values():
            client.close()


# -- 11. damaged database files ----------------------------------------------------------------


def _stopped_with_data(server: ServerProcess, tokens: Tokens) -> Path:
    for n, state in enumerate(["preparing", "delayed", "live", "paused", "live"]):
        extra = {"delay_minutes": 15} if state == "delayed" else {}
        code, _ = server.post_json(
            "/api/cities/paris/status",
            {"id": f"d{n}", "state": state, "note": "x" * 200, **extra},
            tokens.paris,
        )
        assert code == 200
    server.stop()
    db = server.data_dir / "coordinator.sqlite3"
    with sqlite3.connect(db) as conn:  # everything into the main file, nothing in the WAL
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    return db


def _refuses_to_start(server: ServerProcess, db: Path) -> str:
    with pytest.raises(RuntimeError) as info:
        server.start(timeout_s=10)
    text = str(info.value)
    assert str(db) in text, text[-2000:]
    assert "Traceback" not in text, text[-3000:]
    assert server.proc is not None and server.proc.returncode == 1
    return text


def test_a_truncated_database_stops_the_start_with_a_clear_message(
    server: ServerProcess, tokens: Tokens
) -> None:
    db = _stopped_with_data(server, tokens)
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2])
    text = _refuses_to_start(server, db)
    assert "cannot read the database" in text
    assert "docs/deploy.md" in text  # where the restore is explained


@pytest.mark.parametrize(
    "damage",
    ["empty", "not sqlite", "foreign sqlite", "garbage header", "garbage in the schema page"],
)
def test_a_database_that_is_not_ours_or_broken_stops_the_start(
    server: ServerProcess, tokens: Tokens, damage: str
) -> None:
    db = _stopped_with_data(server, tokens)
    data = bytearray(db.read_bytes())
    if damage == "empty":
        db.write_bytes(b"")
    elif damage == "not sqlite":
        db.write_text("tokens:\n  - id: t-1\n")
    elif damage == "foreign sqlite":
        db.unlink()
        with sqlite3.connect(db) as conn:
            conn.execute("CREATE TABLE users (name TEXT)")
    elif damage == "garbage header":
        data[0:100] = b"\xa5" * 100
        db.write_bytes(bytes(data))
    else:  # the end of the first page, where sqlite_master's rows are
        data[4096 - 300 : 4096 - 172] = b"\xc3" * 128
        db.write_bytes(bytes(data))
    _refuses_to_start(server, db)


def _note_offsets(data: bytes) -> list[int]:
    """Where the stored 200-character notes sit in the file (events, statuses, audit rows)."""
    offsets, start = [], 0
    while (found := data.find(b"x" * 200, start)) != -1:
        offsets.append(found)
        start = found + 200
    return offsets


@pytest.mark.parametrize("damage", ["bytes overwritten inside a row", "broken JSON in a row"])
def test_a_damaged_row_stops_the_start(server: ServerProcess, tokens: Tokens, damage: str) -> None:
    db = _stopped_with_data(server, tokens)
    if damage == "broken JSON in a row":
        with sqlite3.connect(db) as conn:
            conn.execute(
                """UPDATE city_status SET data = '{"state": "live", ' WHERE city = 'paris'"""
            )
    else:
        data = bytearray(db.read_bytes())
        offsets = _note_offsets(bytes(data))
        assert len(offsets) >= 5
        for offset in offsets:  # the middle of each stored note: a disk or a copy gone wrong
            data[offset + 80 : offset + 120] = b"\xc3" * 40
        db.write_bytes(bytes(data))
        with sqlite3.connect(db) as conn:  # structurally the file is fine
            assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    try:
        _refuses_to_start(server, db)
    except BaseException:
        # It started anyway: what visitors and the admin get from it.
        answers = [
            server.get("/api/state")[0],
            server.get("/api/log", {"Authorization": f"Bearer {tokens.admin}"})[0],
        ]
        print(f"{damage}: the server started; /api/state, /api/log answered {answers}")
        raise


def test_backup_while_running_and_restore_as_documented(
    server_factory: Start, tokens: Tokens, tmp_path: Path
) -> None:
    server = server_factory()
    for n, state in enumerate(["preparing", "live"]):
        server.post_json("/api/cities/paris/status", {"id": f"k{n}", "state": state}, tokens.paris)
    before = server.get_json("/api/state")
    # The documented online backup (docs/deploy.md), while the server runs.
    backup = tmp_path / "backup.sqlite3"
    result = subprocess.run(
        ["sqlite3", str(server.data_dir / "coordinator.sqlite3"), f".backup '{backup}'"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    server.post_json("/api/cities/paris/status", {"id": "k9", "state": "paused"}, tokens.paris)
    server.stop()
    # Restore: replace the file, drop the WAL and shared memory, start.
    db = server.data_dir / "coordinator.sqlite3"
    db.write_bytes(backup.read_bytes())
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    server.start()
    after = server.get_json("/api/state")
    assert after["epoch"] == before["epoch"]
    paris = next(c for c in after["cities"] if c["id"] == "paris")
    assert paris["state"] == "live"  # as at the backup, not the later change
    assert after["seq"] >= before["seq"]
    deploy = (ROOT / "docs" / "deploy.md").read_text()
    assert ".backup" in deploy and "Backup and restore" in deploy
    security = (ROOT / "docs" / "security.md").read_text()
    assert "docs/deploy.md" in security or "deploy.md" in security
