"""Hostile test 13 (docs/security.md): a TCP proxy between the clients and the server delays,
cuts, stalls and resets connections. Viewers reconnect with ``since``/``epoch`` and must
miss nothing and see nothing twice; a coordinator retries unanswered commands with the same
``id`` and each takes effect once."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from websockets.sync.client import connect

from tests.conftest import Tokens
from tests.hostile.chaos_proxy import ChaosProxy
from tests.hostile.tools import assert_intact, audit_log, control_viewer
from tests.support.harness import ServerProcess

Start = Callable[..., ServerProcess]


class ResilientViewer:
    """A viewer that reconnects at once with ``since`` and ``epoch`` whenever its link dies,
    as the pages do; it records every event it is given."""

    def __init__(self, url: str, deadline: float) -> None:
        self.url = url
        self.deadline = deadline
        self.seqs: list[int] = []
        self.snapshots = 0
        self.start_seq = -1
        self.connects = 0
        self.epoch: str | None = None
        self.last = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            try:
                with connect(self.url, open_timeout=3, close_timeout=1) as ws:
                    self.connects += 1
                    hello: dict[str, Any] = {"type": "hello", "channels": ["status:*", "cues:*"]}
                    if self.epoch is not None and self.start_seq >= 0:  # had a snapshot
                        hello.update(since=self.last, epoch=self.epoch)
                    ws.send(json.dumps(hello))
                    while not self.stop.is_set():
                        message = json.loads(ws.recv(timeout=1.5))
                        self._take(message)
            except Exception:
                time.sleep(0.02)  # reconnect at once (the pages add jitter; not needed here)

    def _take(self, message: dict[str, Any]) -> None:
        if message["type"] == "welcome":
            self.epoch = message["epoch"]
        elif message["type"] == "snapshot":
            self.snapshots += 1
            self.last = message["seq"]
            if self.start_seq < 0:
                self.start_seq = message["seq"]
        elif message["type"] == "event":
            self.seqs.append(message["seq"])
            self.last = message["seq"]


class ResilientCoordinator:
    """Sends status commands one at a time; an unanswered one is re-sent with the same id
    after reconnecting, until it is answered."""

    def __init__(self, url: str, token: str, count: int, deadline: float) -> None:
        self.url = url
        self.token = token
        self.count = count
        self.deadline = deadline
        self.acks: dict[str, int] = {}
        self.errors: dict[str, str] = {}
        self.resends = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        pending = [
            {"type": "status", "id": f"net{n}", "city": "paris",
             "state": ("preparing", "scheduled")[n % 2], "note": f"step {n}"}
            for n in range(self.count)
        ]  # fmt: skip
        tries: dict[str, int] = {}
        while pending and time.monotonic() < self.deadline:
            try:
                with connect(self.url, open_timeout=3, close_timeout=1) as ws:
                    ws.send(json.dumps({"type": "hello", "token": self.token}))
                    while pending:
                        command = pending[0]
                        tries[command["id"]] = tries.get(command["id"], 0) + 1
                        if tries[command["id"]] > 1:
                            self.resends += 1
                        ws.send(json.dumps(command))
                        while True:
                            message = json.loads(ws.recv(timeout=1.5))
                            if message["type"] == "ack" and message["id"] == command["id"]:
                                self.acks[command["id"]] = message["seq"]
                                break
                            if message["type"] == "error" and message["id"] == command["id"]:
                                if message["code"] != "rate_limited":
                                    self.errors[command["id"]] = message["code"]
                                break
                        if command["id"] not in self.acks and command["id"] not in self.errors:
                            time.sleep(0.3)  # rate limited: slow down, same id again
                            continue
                        pending.pop(0)
                        time.sleep(0.03)
            except Exception:
                time.sleep(0.02)


def test_cut_delayed_and_reset_connections_miss_nothing_and_repeat_nothing(
    server_factory: Start, tokens: Tokens
) -> None:
    server = server_factory()
    proxy = ChaosProxy(server.port, seed=13).start()
    url = f"ws://127.0.0.1:{proxy.port}/ws"
    try:
        with control_viewer(server) as control:
            deadline = time.monotonic() + 40
            viewers = [ResilientViewer(url, deadline) for _ in range(4)]
            for viewer in viewers:
                viewer.thread.start()
            time.sleep(0.5)
            coordinator = ResilientCoordinator(url, tokens.paris, 60, deadline)
            coordinator.thread.start()
            coordinator.thread.join(45)
            assert not coordinator.thread.is_alive(), "the coordinator did not finish in time"
            # Let the links settle, then every viewer must catch up to the end.
            proxy.calm = True
            time.sleep(0.5)  # the coordinator's last presence event
            final = server.get_json("/api/state")["seq"]
            settle = time.monotonic() + 15
            while time.monotonic() < settle and any(v.last < final for v in viewers):
                time.sleep(0.1)
            for viewer in viewers:
                viewer.stop.set()
            for viewer in viewers:
                viewer.thread.join(5)
            faults = proxy.faults
            print(
                f"proxy: {faults.connections} connections, {faults.injected} faults "
                f"({faults.cuts} cuts, {faults.resets} resets, {faults.stalls} stalls), "
                f"{faults.delayed_chunks} delayed chunks; coordinator resent {coordinator.resends}; "
                f"viewers reconnected {[v.connects for v in viewers]}"
            )
            assert faults.injected >= 10, "too few faults to mean anything"
            assert not coordinator.errors, coordinator.errors
            assert len(coordinator.acks) == 60
            for viewer in viewers:
                assert viewer.snapshots == 1, "a replay was possible every time"
                assert viewer.seqs[-1] >= final
                expected = list(range(viewer.start_seq + 1, viewer.seqs[-1] + 1))
                assert viewer.seqs == expected, "a gap or a repeat"
                assert viewer.connects > 1
            entries = audit_log(server, tokens.admin)
            ids = [e["command_id"] for e in entries]
            assert ids == [f"net{n}" for n in range(60)]  # each once, in order
            for entry in entries:
                assert coordinator.acks[entry["command_id"]] == entry["seq"]
            assert_intact(
                server, control, tokens.admin, expected_audit=ids, changed_cities=("paris",)
            )
    finally:
        with contextlib.suppress(Exception):
            proxy.stop()
