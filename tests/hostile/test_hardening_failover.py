"""Hostile test: the Redis primary is killed (``kill -9``) in the middle of a burst of
commands, and Sentinel fails over to the replica (docs/deploy.md, "Surviving the loss of the
Redis primary").

Real parts only: a primary, a replica and three sentinels (redis-server processes, each in
its own process group), two coordinator processes on the Sentinel URL, four staff clients
(GOs and status changes, each command retried with the same id while ``unavailable``, as the
pages do), and a public viewer on each process that stays connected throughout. Judged as
Jepsen judges a register: every acknowledged command is in the final state and the event log
under the seq it was acknowledged with, none is applied twice, and every viewer saw each seq
exactly once, in order, without a reload. The time from the kill to the first acknowledgement
of a command sent after it is printed for each round.

``COORDINATOR_FAILOVER_ROUNDS`` (default 1) sets the number of rounds of each variant: "lost"
(the old primary stays dead; a fresh group each round) and "returns" (the old primary comes
back, stale, and Sentinel makes it a replica; the next round kills the new primary).
"""

from __future__ import annotations

import collections
import contextlib
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from tests.conftest import Tokens
from tests.hostile.tools import ControlViewer, wait_until
from tests.support.harness import ServerProcess, WsClient
from tests.support.redis_cluster import SentinelGroup

pytestmark = pytest.mark.redis

Start = Callable[..., ServerProcess]
ROUNDS = int(os.environ.get("COORDINATOR_FAILOVER_ROUNDS", "1"))
# Commands as fast as the clients send them, and the check's fresh viewer replayed the whole
# burst (an anonymous viewer is replayed at most viewer_replay_events, then gets a snapshot).
FAST = (
    "--limit", "staff_rate_per_s=10000", "--limit", "staff_burst=10000",
    "--limit", "viewer_replay_events=1000",
)  # fmt: skip
COMMANDS_PER_CLIENT = 40
KILL_AFTER_ACKS = 60  # of the 160 commands of a round
COMMAND_DEADLINE_S = 60.0
RESULTS: list[dict[str, Any]] = []


@dataclass
class StaffClient:
    """Sends its commands one after the other; each is retried with the same id while the
    answer is ``unavailable`` or the connection drops, until it is acknowledged."""

    url: str
    token: str
    commands: list[dict[str, Any]]
    acks: dict[str, tuple[int, float, float]] = field(default_factory=dict)  # seq, sent, acked
    first_sent: dict[str, float] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    unavailable: int = 0
    reconnects: int = 0
    _thread: threading.Thread | None = None

    def start(self) -> StaffClient:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def join(self, timeout_s: float) -> None:
        assert self._thread is not None
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), f"a client was still sending after {timeout_s}s"

    def _run(self) -> None:
        client: WsClient | None = None
        try:
            for command in self.commands:
                client = self._until_answered(client, command)
        finally:
            if client is not None:
                client.close()

    def _until_answered(self, client: WsClient | None, command: dict[str, Any]) -> WsClient:
        deadline = time.monotonic() + COMMAND_DEADLINE_S
        while time.monotonic() < deadline:
            try:
                if client is None:
                    client = WsClient(self.url)
                    client.hello(self.token)
                sent_at = time.monotonic()
                self.first_sent.setdefault(command["id"], sent_at)
                client.send(command)
                reply = client.recv_until(
                    lambda m: m["type"] in ("ack", "error") and m.get("id") == command["id"],
                    timeout_s=15,
                )
            except (ConnectionClosed, OSError, AssertionError, TimeoutError):
                if client is not None:
                    client.close()
                client = None
                self.reconnects += 1
                time.sleep(0.1)
                continue
            if reply["type"] == "ack":
                self.acks[command["id"]] = (int(reply["seq"]), sent_at, time.monotonic())
                return client
            if reply["code"] != "unavailable":
                self.refused[command["id"]] = reply["code"]
                return client
            self.unavailable += 1
            time.sleep(0.05)
        raise AssertionError(f"{command['id']} got no acknowledgement in {COMMAND_DEADLINE_S}s")


def plans(tokens: Tokens, tag: str) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """(server "a" or "b", token, commands): GOs on paris, status changes on three cities.
    Every command is valid after the one before it, so each must be acknowledged."""
    cycle: list[dict[str, Any]] = [
        {"state": "preparing", "note": "doors open"},
        {"state": "delayed", "delay_minutes": 10, "note": "rain"},
        {"state": "delayed", "delay_minutes": 25},
        {"state": "scheduled", "note": ""},
    ]

    def statuses(who: str, city: str) -> list[dict[str, Any]]:
        return [
            {"type": "status", "id": f"{tag}-{who}{n}", "city": city, **cycle[n % 4]}
            for n in range(COMMANDS_PER_CLIENT)
        ]

    gos = [
        {"type": "cue", "id": f"{tag}-go{n}", "city": "paris", "action": ("next", "prev")[n % 2]}
        for n in range(COMMANDS_PER_CLIENT)
    ]
    admin = [
        {"type": "status", "id": f"{tag}-ad{n}", "city": "helsinki",
         "state": ("preparing", "scheduled")[n % 2], "note": f"admin {n}"}
        for n in range(COMMANDS_PER_CLIENT)
    ]  # fmt: skip
    return [
        ("a", tokens.paris, statuses("pa", "paris")),
        ("b", tokens.berlin, statuses("be", "berlin")),
        ("b", tokens.paris_operator, gos),
        ("a", tokens.admin, admin),
    ]


@dataclass
class Show:
    """Two coordinator processes on one Sentinel group, with a viewer on each."""

    group: SentinelGroup
    servers: dict[str, ServerProcess]
    viewers: list[ControlViewer]


@contextlib.contextmanager
def show_on(group: SentinelGroup, server_factory: Start, tmp_path: Path) -> Iterator[Show]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    servers = {
        name: server_factory(
            *FAST, "--redis-url", group.url, "--redis-prefix", "f:", data_dir=tmp_path / name
        )
        for name in ("a", "b")
    }
    viewers = [ControlViewer(server.ws_url).start() for server in servers.values()]
    try:
        yield Show(group, servers, viewers)
    finally:
        for viewer in viewers:
            viewer.stop()


def one_round(
    show: Show, tokens: Tokens, tag: str, *, old_returns: bool = False, lagging: bool = False
) -> dict[str, Any]:
    """A burst, the primary killed in its middle, the failover, the rest of the burst; then
    every check. ``lagging``: the replica stops receiving just before the kill, so the
    primary dies with changes no replica has. Returns the round's figures."""
    start_seq = show.servers["a"].get_json("/api/state")["seq"]
    clients = [
        StaffClient(show.servers[where].ws_url, token, commands)
        for where, token, commands in plans(tokens, tag)
    ]
    for client in clients:
        client.start()
    deadline = time.monotonic() + 30
    while sum(len(c.acks) for c in clients) < KILL_AFTER_ACKS:
        assert time.monotonic() < deadline, "the burst is too slow"
        time.sleep(0.002)
    old = show.group.primary()
    if lagging:
        assert show.group.link is not None
        show.group.link.hold()
        time.sleep(0.5)  # commands keep coming: written on the primary, not on the replica
    killed_at = time.monotonic()
    old.kill()
    if show.group.link is not None:
        show.group.link.cut()
    new = show.group.wait_failover(old)
    failover_s = time.monotonic() - killed_at
    if old_returns:
        old.start()  # as it was: a primary with stale data, until Sentinel demotes it
    for client in clients:
        client.join(COMMAND_DEADLINE_S * 2)
    figures = check_round(show, tokens, clients, start_seq, killed_at)
    if old_returns:
        show.group.wait_settled(new, replicas=1, timeout_s=60)
    return {**figures, "failover_s": failover_s}


def check_round(
    show: Show, tokens: Tokens, clients: list[StaffClient], start_seq: int, killed_at: float
) -> dict[str, Any]:
    a = show.servers["a"]
    refused = {cid: code for c in clients for cid, code in c.refused.items()}
    assert not refused, f"commands refused: {refused}"
    acked = {cid: seq for c in clients for cid, (seq, _, _) in c.acks.items()}
    assert len(acked) == sum(len(c.commands) for c in clients)
    audit = a.get_json("/api/log", {"Authorization": f"Bearer {tokens.admin}"})["entries"]
    # None applied twice: each command id once in the whole log.
    twice = [cid for cid, n in collections.Counter(e["command_id"] for e in audit).items() if n > 1]
    assert not twice, f"applied twice: {twice}"
    # None lost: each acknowledged command in the log, under the seq it was acknowledged with.
    by_id = {e["command_id"]: e for e in audit}
    lost = [cid for cid, seq in acked.items() if by_id.get(cid, {}).get("seq") != seq]
    assert not lost, f"acknowledged, then lost or moved: {lost}"
    # Each process's own view follows the stream a moment after the acks.
    last_acked = max(acked.values())
    for server in show.servers.values():
        wait_until(partial(caught_up, server, last_acked), 20, "caught up")
    state = a.get_json("/api/state")
    events = check_viewers(show, start_seq, state["seq"])
    assert replay(show.servers["b"], start_seq, state) == events, "the viewers' and the log's"
    check_state_is_the_log(state, events, audit, start_seq)
    after = [acked_at - killed_at for c in clients for _, sent, acked_at in c.acks.values()
             if sent > killed_at]  # fmt: skip
    return {
        "acknowledged": len(acked),
        "acked_before_kill": sum(1 for c in clients for *_, t in c.acks.values() if t < killed_at),
        "in_flight": sum(
            1
            for c in clients
            for cid, (_, _, acked_at) in c.acks.items()
            if c.first_sent[cid] < killed_at < acked_at
        ),
        "unavailable_answers": sum(c.unavailable for c in clients),
        "reconnects": sum(c.reconnects for c in clients),
        "recovery_s": min(after),
    }


def caught_up(server: ServerProcess, seq: int) -> bool:
    return int(server.get_json("/api/state")["seq"]) >= seq


def replay(server: ServerProcess, since: int, state: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """The events after ``since`` up to the state's seq, as a viewer reconnecting gets them."""
    events: dict[int, dict[str, Any]] = {}
    with WsClient(server.ws_url) as client:
        welcome = client.hello(since=since, epoch=state["epoch"])
        assert welcome["epoch"] == state["epoch"] and welcome["seq"] >= state["seq"]
        while len(events) < state["seq"] - since:
            message = client.recv(10)
            assert message["type"] == "event", message  # a replay, not a snapshot
            events[message["seq"]] = message
    return events


def check_viewers(show: Show, start_seq: int, last_seq: int) -> dict[int, dict[str, Any]]:
    """Each viewer got every seq up to ``last_seq`` once, in order, the same events, without
    being disconnected, and was told the service was degraded, then ok again."""
    seen: list[dict[int, dict[str, Any]]] = []
    for viewer in show.viewers:
        viewer.wait_for_seq(last_seq, timeout_s=20)
        assert not viewer.closed, f"a viewer was disconnected ({viewer.closed_with})"
        seqs = [e["seq"] for e in viewer.events()]
        first = viewer.welcome["seq"] + 1
        assert seqs[: last_seq - first + 1] == list(range(first, last_seq + 1)), "gap or repeat"
        seen.append({e["seq"]: e for e in viewer.events() if start_seq < e["seq"] <= last_seq})
        notices = [m["state"] for m in viewer.messages if m["type"] == "service"]
        assert "degraded" in notices and notices[-1] == "ok", notices
    assert all(view == seen[0] for view in seen), "the viewers saw different events"
    return seen[0]


def check_state_is_the_log(
    state: dict[str, Any],
    events: dict[int, dict[str, Any]],
    audit: list[dict[str, Any]],
    start_seq: int,
) -> None:
    """Each audit entry of the round is its event, and the state is the last events' state."""
    for entry in audit:
        if entry["seq"] > start_seq:
            event = events[entry["seq"]]
            assert (event["kind"], event["city"]) == (entry["kind"], entry["city"]), entry
    last: dict[tuple[str, str], dict[str, Any]] = {}
    for seq in sorted(events):
        last[(events[seq]["kind"], events[seq]["city"])] = events[seq]
    for city in state["cities"]:
        status = last.get(("status", city["id"]))
        if status is not None:
            for key in ("state", "note", "delay_minutes", "expected_start_utc"):
                assert city[key] == status[key], (city["id"], key)
    assert state["cues"]["paris"]["index"] == last[("cue", "paris")]["index"]


def report(variant: str, rounds: list[dict[str, Any]]) -> None:
    recovery = [r["recovery_s"] for r in rounds]
    for n, r in enumerate(rounds, 1):
        print(
            f"failover {variant} round {n}: {r['acknowledged']} acknowledged "
            f"({r['acked_before_kill']} before the kill, {r['in_flight']} in flight at it), "
            f"{r['unavailable_answers']} "
            f"unavailable answers, {r['reconnects']} reconnects, sentinel failover "
            f"{r['failover_s']:.2f} s, kill to first ack {r['recovery_s']:.2f} s; "
            "0 lost, 0 applied twice"
        )
    print(
        f"failover {variant}: {len(rounds)} rounds, kill to first ack median "
        f"{statistics.median(recovery):.2f} s, worst {max(recovery):.2f} s"
    )
    RESULTS.extend({"variant": variant, **r} for r in rounds)


def test_primary_lost_mid_burst_loses_nothing_and_applies_nothing_twice(
    server_factory: Start, tmp_path: Path, tokens: Tokens
) -> None:
    rounds = []
    for n in range(ROUNDS):
        group = SentinelGroup(tmp_path / f"redis{n}").start()
        try:
            with show_on(group, server_factory, tmp_path / f"show{n}") as show:
                rounds.append(one_round(show, tokens, f"l{n}", old_returns=False))
                for server in show.servers.values():
                    server.kill()
        finally:
            group.stop()
    report("lost", rounds)


def test_old_primary_returns_as_a_replica_round_after_round(
    server_factory: Start, tmp_path: Path, tokens: Tokens
) -> None:
    group = SentinelGroup(tmp_path / "redis").start()
    rounds = []
    try:
        with show_on(group, server_factory, tmp_path / "show") as show:
            for n in range(ROUNDS):
                rounds.append(one_round(show, tokens, f"r{n}", old_returns=True))
    finally:
        group.stop()
    report("returns", rounds)


def test_primary_lost_with_changes_no_replica_has_acknowledges_none_of_them(
    server_factory: Start, tmp_path: Path, tokens: Tokens
) -> None:
    rounds = []
    for n in range(ROUNDS):
        # A long failover timeout: Sentinel would otherwise "fix" the replica that reaches its
        # primary through the relay.
        group = SentinelGroup(tmp_path / f"redis{n}", relay=True, failover_timeout_ms=60_000)
        group.start()
        try:
            with show_on(group, server_factory, tmp_path / f"show{n}") as show:
                rounds.append(one_round(show, tokens, f"g{n}", lagging=True))
                for server in show.servers.values():
                    server.kill()
        finally:
            group.stop()
    report("lagging", rounds)
